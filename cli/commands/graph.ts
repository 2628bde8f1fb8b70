// `cgm graph validate FILE [--repair]`: checks a concept graph (paper Fig. 2 JSON) and prints a JSON
// report on stdout.
// Exit codes: 0 when the input graph is valid, or, with --repair, when the repaired graph is valid;
// 1 when the graph is (still) invalid; 2 when the input cannot be read as a concept graph (missing
// file, not JSON, schema mismatch), with a one-line message on stderr naming the field and value.
import { repairGraph } from '../../core/graph/repair.js';
import { validateGraph } from '../../core/graph/validate.js';
import { type ConceptGraph, ConceptGraphSchema } from '../../core/schemas/paper.js';
import { defineCommand } from '../command-definition.js';
import { readJsonFile } from '../input-files.js';

export const GRAPH = defineCommand({
  name: 'graph',
  synopsis: ['cgm graph validate FILE [--repair]'],
  about: 'Checks a concept graph (paper Fig. 2 JSON) and prints a JSON report on stdout.',
  options: {
    repair: { type: 'boolean', help: 'also repair the graph and report the repaired one (exit 0 if valid)' },
  },
});

export async function run(argv: string[]): Promise<number> {
  const args = GRAPH.parse(argv);
  if (!args) return 0;
  const { values, positionals } = args;
  const [sub, file, ...extra] = positionals;
  if (sub !== 'validate' || !file || extra.length > 0)
    throw GRAPH.usageError("expected 'validate FILE' (usage: cgm graph validate FILE [--repair])");

  const graph = await readGraph(file);
  const input = validateGraph(graph);
  const report: Record<string, unknown> = { file, valid: input.valid, issues: input.issues };
  let ok = input.valid;
  if (values.repair) {
    const repaired = repairGraph(graph);
    const after = validateGraph(repaired.graph);
    report.repair = {
      valid: after.valid,
      issues: after.issues,
      repairs: repaired.repairs,
      graph: repaired.graph,
    };
    ok = after.valid;
  }
  process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
  return ok ? 0 : 1;
}

const readGraph = (file: string): Promise<ConceptGraph> =>
  readJsonFile(file, ConceptGraphSchema, 'concept graph');
