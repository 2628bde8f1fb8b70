// `cgm graph validate FILE [--repair]`: checks a concept graph (paper Fig. 2 JSON) and prints a JSON
// report on stdout.
// Exit codes: 0 when the input graph is valid, or, with --repair, when the repaired graph is valid;
// 1 when the graph is (still) invalid; 2 when the input cannot be read as a concept graph (missing
// file, not JSON, schema mismatch), with a one-line message on stderr naming the field and value.
import { parseArgs } from 'node:util';
import { repairGraph } from '../../core/graph/repair.js';
import { validateGraph } from '../../core/graph/validate.js';
import { type ConceptGraph, ConceptGraphSchema } from '../../core/schemas/paper.js';
import { CliError } from '../cli-error.js';
import { readJsonFile } from '../input-files.js';

const USAGE = 'usage: cgm graph validate FILE [--repair]';

export async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parseOrThrow(argv);
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const [sub, file, ...extra] = positionals;
  if (sub !== 'validate' || !file || extra.length > 0) throw new CliError(USAGE, 2);

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

function parseOrThrow(argv: string[]) {
  try {
    return parseArgs({
      args: argv,
      allowPositionals: true,
      options: { repair: { type: 'boolean', default: false }, help: { type: 'boolean', short: 'h' } },
    });
  } catch (err) {
    throw new CliError(`${(err as Error).message}\n${USAGE}`, 2);
  }
}

const readGraph = (file: string): Promise<ConceptGraph> =>
  readJsonFile(file, ConceptGraphSchema, 'concept graph');
