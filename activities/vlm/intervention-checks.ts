// Graph checks of Fig. 3 answers shared by proposeInterventions and propagateIntervention.
// Hard problems (no usable target, clashing ids) are always sent back to the model. Soft ones (changes
// outside De(target), unknown concept ids among the changes or final states) are sent back too, but on
// the last allowed attempt they are accepted and recorded: docs/algorithm.md §8.3 plans edits only for
// descendants and records the rest as graph violations, so a run does not die for an extra change.
import { checkIntervention } from '../../core/graph/check-intervention.js';
import { validateGraph } from '../../core/graph/validate.js';
import type { ConceptGraph, InterventionSet } from '../../core/schemas/paper.js';
import type { InterventionRecord } from '../../core/schemas/run-manifest.js';
import { invalidInput } from './failures.js';
import type { CheckResult } from './validated-call.js';

const HARD_CODES = new Set(['unknown_target']);

export interface InterventionCheckOptions {
  /** On the last attempt, accept soft violations (recorded) instead of failing. Default true. */
  acceptSoftViolations?: boolean;
  /** Extra hard checks per intervention, e.g. the user's do() target. */
  extra?: (set: InterventionSet) => string[];
}

export function checkInterventionSet(
  graph: ConceptGraph,
  set: InterventionSet,
  final: boolean,
  opts: InterventionCheckOptions = {},
): CheckResult<InterventionRecord[]> {
  const records: InterventionRecord[] = set.interventions.map((intervention) => ({
    source: 'vlm',
    intervention,
    check: checkIntervention(graph, intervention),
  }));
  const hard: string[] = [...(opts.extra?.(set) ?? [])];
  const seen = new Set<string>();
  for (const intervention of set.interventions) {
    if (seen.has(intervention.id))
      hard.push(`intervention id '${intervention.id}' is used more than once; ids must be unique`);
    seen.add(intervention.id);
  }
  const soft: string[] = [];
  for (const r of records) {
    for (const v of r.check.violations) (HARD_CODES.has(v.code) ? hard : soft).push(v.message);
  }
  const known = graph.concepts.map((c) => c.id).join(', ');
  if (hard.length > 0 || (soft.length > 0 && !(final && (opts.acceptSoftViolations ?? true)))) {
    const onlyDe =
      soft.length > 0 ? ' Only descendants of the target (along the relationships) may change.' : '';
    return { ok: false, error: `${[...hard, ...soft].join('; ')}. Known concept ids: ${known}.${onlyDe}` };
  }
  return { ok: true, value: records, notes: soft.map((s) => `accepted with graph violation: ${s}`) };
}

/** The graph a caller passes must already be a usable DAG (the extract step guarantees it). */
export function requireValidGraph(graph: ConceptGraph, field = 'graph'): void {
  const { valid, issues } = validateGraph(graph);
  if (!valid) {
    throw invalidInput(
      `${field}: not a valid causal DAG: ${issues.map((i) => i.message).join('; ')}; repair it first (cgm graph validate --repair)`,
    );
  }
}

export function requireText(value: string | undefined, field: string, why: string): string {
  const t = value?.trim() ?? '';
  if (t === '')
    throw invalidInput(
      `${field}: expected a non-empty string (${why}), got ${JSON.stringify(value ?? null)}`,
    );
  return t;
}
