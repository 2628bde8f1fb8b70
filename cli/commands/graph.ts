// `cgm graph validate FILE [--repair]`: checks a concept graph (paper Fig. 2 JSON) and prints a JSON
// report on stdout.
// Exit codes: 0 when the input graph is valid, or, with --repair, when the repaired graph is valid;
// 1 when the graph is (still) invalid; 2 when the input cannot be read as a concept graph (missing
// file, not JSON, schema mismatch), with a one-line message on stderr naming the field and value.
import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import type { z } from 'zod';
import { repairGraph } from '../../core/graph/repair.js';
import { validateGraph } from '../../core/graph/validate.js';
import { type ConceptGraph, ConceptGraphSchema } from '../../core/schemas/paper.js';
import { CliError } from '../cli-error.js';

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

async function readGraph(file: string): Promise<ConceptGraph> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new CliError(`${file}: cannot read (${code === 'ENOENT' ? 'no such file' : (code ?? 'error')})`, 2);
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (err) {
    throw new CliError(`${file}: not valid JSON (${(err as Error).message})`, 2);
  }
  const parsed = ConceptGraphSchema.safeParse(data, { reportInput: true });
  if (!parsed.success) throw new CliError(`${file}: not a concept graph: ${describeIssues(parsed.error)}`, 2);
  return parsed.data;
}

/** "concepts[2].current_value: <message> (got "")", the first issue, and how many more there are. */
export function describeIssues(error: z.ZodError): string {
  const [first, ...rest] = error.issues;
  const got = !('input' in first)
    ? ''
    : first.input === undefined
      ? ' (field missing)'
      : ` (got ${clip(JSON.stringify(first.input))})`;
  const more = rest.length > 0 ? `; and ${rest.length} more problem${rest.length > 1 ? 's' : ''}` : '';
  return `${formatPath(first.path)}: ${first.message}${got}${more}`;
}

/** Keeps the one-line message short when the offending value is a whole object. */
const clip = (text: string) => (text.length > 60 ? `${text.slice(0, 57)}...` : text);

export function formatPath(path: readonly PropertyKey[]): string {
  if (path.length === 0) return '(top level)';
  return path
    .map((p, i) => (typeof p === 'number' ? `[${p}]` : `${i === 0 ? '' : '.'}${String(p)}`))
    .join('');
}
