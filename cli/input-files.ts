// Reading the files a command is given, with one-line errors (exit 2) that name the file and the problem.
import { readFile } from 'node:fs/promises';
import type { z } from 'zod';
import { formatZodPath } from '../core/schemas/zod-path.js';
import { CliError } from './cli-error.js';

/** `what` names the file's role in the message, e.g. "the image". */
export async function readBytes(file: string, what?: string): Promise<Uint8Array> {
  try {
    return new Uint8Array(await readFile(file));
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const reason = code === 'ENOENT' ? 'no such file' : (code ?? 'error');
    throw new CliError(`${file}: cannot read${what ? ` ${what}` : ''} (${reason})`, 2);
  }
}

/** Parses JSON and validates it; a schema failure names each field path, value and expectation. */
export async function readJsonFile<S extends z.ZodType>(
  file: string,
  schema: S,
  what: string,
): Promise<z.output<S>> {
  return (await readJsonWithRaw(file, schema, what)).parsed;
}

/** Like readJsonFile, also returning the JSON as written (before schema defaults were applied). */
export async function readJsonWithRaw<S extends z.ZodType>(
  file: string,
  schema: S,
  what: string,
): Promise<{ parsed: z.output<S>; raw: unknown }> {
  const bytes = await readBytes(file);
  let raw: unknown;
  try {
    raw = JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch (err) {
    throw new CliError(`${file}: not valid JSON (${(err as Error).message})`, 2);
  }
  const result = schema.safeParse(raw, { reportInput: true });
  if (!result.success) throw new CliError(`${file}: not a ${what}: ${describeIssues(result.error)}`, 2);
  return { parsed: result.data, raw };
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
  return formatZodPath(path) || '(top level)';
}
