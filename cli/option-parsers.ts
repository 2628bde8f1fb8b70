// Options shared by the commands, their table entries and the parsers of their values: each parser
// names the flag, the value it got and what it expected, as a usage error (exit 2), so `--steps 2.5`
// reads the same in run, batch, edit and demo.
import { type EditMethod, EditMethodSchema } from '../core/schemas/edit-plan.js';
import { CliError } from './cli-error.js';

const usage = (flag: string, expected: string, got: string) =>
  new CliError(`${flag}: expected ${expected} (got '${got}')`, 2);

/** A whole number ≥ 1 written in digits (no sign, exponent or fraction). */
export function positiveInt(flag: string, text: string): number {
  const n = Number(text);
  if (!/^\d+$/.test(text.trim()) || n < 1 || !Number.isSafeInteger(n))
    throw usage(flag, 'a positive integer', text);
  return n;
}

/** A whole number ≥ 0 written in digits. */
export function nonNegativeInt(flag: string, text: string): number {
  const n = Number(text);
  if (!/^\d+$/.test(text.trim()) || !Number.isSafeInteger(n))
    throw usage(flag, 'a non-negative integer', text);
  return n;
}

/** The table entries of the options several commands take (cli/command-definition.ts). */
export const SHARED_OPTIONS = {
  methods: { type: 'string', value: 'M,...', help: 'csg, ddpm and/or ddim (default all three)' },
  steps: {
    type: 'string',
    value: 'N',
    help: "inversion and sampling steps of every method (default: the engine's, the paper's 100)",
  },
  'edit-batch': {
    type: 'string',
    value: 'N',
    help: 'edits of one method per GPU call, 1..16 (default 4; GPU memory grows with it)',
  },
  detach: { type: 'boolean', help: 'print the workflow id and return without following' },
} as const;

/** `--steps N`: inversion and sampling steps, a positive integer. */
export const parseSteps = (text: string): number => positiveInt('--steps', text);

/** The engine settings' step counts set to `steps` (inversion and baselines), over what `engine` has. */
export function withSteps(engine: Record<string, unknown>, steps: number): Record<string, unknown> {
  return {
    ...engine,
    inversion: { ...(engine.inversion as object | undefined), numSteps: steps },
    baselines: { ...(engine.baselines as object | undefined), numSteps: steps },
  };
}

const METHODS = EditMethodSchema.options.join(', ');

/** `--methods csg,ddpm,ddim`: at least one known method, duplicates dropped, order kept. */
export function parseMethods(text: string): EditMethod[] {
  const out: EditMethod[] = [];
  for (const part of text.split(',').map((s) => s.trim())) {
    if (part === '') continue;
    const parsed = EditMethodSchema.safeParse(part);
    if (!parsed.success)
      throw new CliError(
        `--methods: unknown method '${part}' in '${text}' (expected a comma-separated list of ${METHODS})`,
        2,
      );
    if (!out.includes(parsed.data)) out.push(parsed.data);
  }
  if (out.length === 0) throw usage('--methods', `at least one of ${METHODS}`, text);
  return out;
}

/** `--do CONCEPT=VALUE` (run, propose): both sides non-empty, trimmed. */
export function parseDoRequest(text: string): { concept: string; value: string } {
  const eq = text.indexOf('=');
  const concept = text.slice(0, eq).trim();
  const value = text.slice(eq + 1).trim();
  if (eq < 0 || !concept || !value)
    throw new CliError(`--do: expected CONCEPT=VALUE (e.g. weather=sunny weather), got '${text}'`, 2);
  return { concept, value };
}

/** A TCP port; 0 (any free port) only where `allowAny`. */
export function parsePort(flag: string, text: string, { allowAny = false } = {}): number {
  const n = Number(text);
  const low = allowAny ? 0 : 1;
  if (!/^\d+$/.test(text.trim()) || n < low || n > 65_535)
    throw usage(flag, `a port ${low}-65535${allowAny ? ' (0: any free port)' : ''}`, text);
  return n;
}

/** `--device`: the ONNX Runtime provider. */
export function parseDevice(flag: string, text: string): 'cpu' | 'cuda' {
  if (text !== 'cpu' && text !== 'cuda') throw usage(flag, 'cpu or cuda', text);
  return text;
}

/** A value out of a fixed list. */
export function oneOf<const T extends string>(flag: string, text: string, allowed: readonly T[]): T {
  if (!(allowed as readonly string[]).includes(text)) throw usage(flag, `one of ${allowed.join(', ')}`, text);
  return text as T;
}
