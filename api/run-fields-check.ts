// Checks of a run's fields beyond their schema: fields that exclude or need each other, the graph a
// DAG, interventions and do()s that name its concepts. Shared by POST /v1/counterfactuals and the run
// template of a trigger, which is checked when the trigger is made.
import { checkIntervention, validateGraph } from '../core/graph/index.js';
import { ApiError } from './errors.js';
import type { CounterfactualFields } from './schemas.js';

/** Cross-field and graph checks of a syntactically valid request. */
export function checkRunFields(f: CounterfactualFields): void {
  if (f.interventions && f.do)
    throw new ApiError('validation_error', 'give either interventions or do, not both', 'do');
  if (f.interventions && !f.graph)
    throw new ApiError(
      'validation_error',
      'interventions need the graph they refer to; add graph',
      'interventions',
    );
  if (!f.graph) return;
  const v = validateGraph(f.graph);
  if (!v.valid)
    throw new ApiError(
      'invalid_graph',
      `the graph is not a valid DAG: ${v.issues.map((i) => i.message).join('; ')}`,
      'graph',
    );
  for (const [i, iv] of (f.interventions ?? []).entries()) {
    const check = checkIntervention(f.graph, iv);
    if (!check.ok)
      throw new ApiError(
        'invalid_intervention',
        check.violations.map((x) => x.message).join('; '),
        `interventions[${i}]`,
      );
  }
  for (const [i, d] of (f.do ?? []).entries()) {
    const wanted = d.concept.toLowerCase();
    const target =
      f.graph.concepts.find((c) => c.id === d.concept) ??
      f.graph.concepts.find((c) => c.name.trim().toLowerCase() === wanted);
    if (!target) {
      const known = f.graph.concepts.map((c) => `${c.id} (${c.name})`).join(', ');
      throw new ApiError(
        'unknown_concept',
        `do: '${d.concept}' is neither an id nor a name of a concept of the graph; known: ${known}`,
        `do[${i}].concept`,
      );
    }
    if (target.current_value.trim().toLowerCase() === d.value.toLowerCase())
      throw new ApiError(
        'validation_error',
        `do(${target.name} = ${d.value}) changes nothing: '${d.value}' is already the current value`,
        `do[${i}].value`,
      );
  }
}
