// JSON Lines with zod validation and errors that name the line, the field and the value.

import type { z } from 'zod';
import { formatZodPath } from '../schemas/zod-path.js';

export class JsonlError extends Error {
  constructor(
    readonly source: string,
    readonly line: number,
    readonly field: string | null,
    message: string,
  ) {
    super(`${source}:${line}:${field ? ` ${field}:` : ''} ${message}`);
    this.name = 'JsonlError';
  }
}

/** One JSON value a line, '\n' after each. */
export function toJsonl(values: readonly unknown[]): string {
  return values.map((v) => `${JSON.stringify(v)}\n`).join('');
}

/** Blank lines are skipped; anything else must parse and match the schema. */
export function parseJsonl<T>(text: string, schema: z.ZodType<T>, source = '(input)'): T[] {
  return parseJsonlLines(text, schema, source).map((l) => l.value);
}

/** parseJsonl with each value's 1-based line number, for later checks that span lines. */
export function parseJsonlLines<T>(
  text: string,
  schema: z.ZodType<T>,
  source = '(input)',
): { line: number; value: T }[] {
  const out: { line: number; value: T }[] = [];
  text.split('\n').forEach((raw, i) => {
    const line = raw.replace(/\r$/, '');
    if (line.trim() === '') return;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch (err) {
      throw new JsonlError(source, i + 1, null, `not valid JSON (${(err as Error).message})`);
    }
    const parsed = schema.safeParse(value);
    if (!parsed.success) {
      const [first, ...rest] = parsed.error.issues;
      const field = first.path.length === 0 ? '(top level)' : formatZodPath(first.path);
      const got = valueAt(value, first.path);
      const more = rest.length > 0 ? `; and ${rest.length} more problem${rest.length > 1 ? 's' : ''}` : '';
      throw new JsonlError(source, i + 1, field, `${first.message} (got ${shown(got)})${more}`);
    }
    out.push({ line: i + 1, value: parsed.data });
  });
  return out;
}

function valueAt(value: unknown, path: readonly PropertyKey[]): unknown {
  let v = value;
  for (const p of path) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<PropertyKey, unknown>)[p];
  }
  return v;
}

function shown(value: unknown): string {
  if (value === undefined) return 'nothing: field missing';
  const text = JSON.stringify(value);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}
