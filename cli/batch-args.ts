// `cgm batch`'s own argument parsers: --seed (an integer below 2^32 or a string) and --variant
// (`name:choice=value,...`, an ablation row of the report).
import type { Seed } from '../core/eval/sampling.js';
import { type BatchVariant, BatchVariantSchema } from '../core/schemas/batch-io.js';
import { EditChoicesSchema } from '../core/schemas/edit-plan.js';
import { CliError } from './cli-error.js';
import { describeIssues } from './input-files.js';

export function parseSeed(text: string): Seed {
  if (/^\d+$/.test(text)) {
    const n = Number(text);
    if (n > 0xffffffff) throw new CliError(`--seed: an integer seed must be below 2^32 (got ${text})`, 2);
    return n;
  }
  if (text.trim() === '') throw new CliError('--seed: expected an integer or a non-empty string', 2);
  return text;
}

const CHOICES = EditChoicesSchema.shape;

/**
 * `name:choice=value,...`, e.g. `reverse:reverseOldValues=true`, `names:promptStyle=name_value` or
 * `csg25:methods=csg,steps=25` (methods slash-separated: `methods=csg/ddpm`).
 */
export function parseVariant(text: string): BatchVariant {
  const colon = text.indexOf(':');
  const name = colon < 0 ? text : text.slice(0, colon);
  const planning: Record<string, unknown> = {};
  const run: { methods?: string[]; steps?: number; sourceGuidance?: number; spanMode?: string } = {};
  const pairs =
    colon < 0
      ? []
      : text
          .slice(colon + 1)
          .split(',')
          .filter((p) => p.trim() !== '');
  const numeric = ['scale', 'threshold', 'warmup'];
  const choices = [...Object.keys(CHOICES), ...numeric, 'steps', 'sourceGuidance', 'spanMode', 'methods'];
  for (const pair of pairs) {
    const [key, value, ...rest] = pair.split('=').map((s) => s.trim());
    if (!choices.includes(key) || value === undefined || rest.length > 0) {
      throw new CliError(
        `--variant ${text}: expected choice=value with choice one of ${choices.join(', ')} (got '${pair}')`,
        2,
      );
    }
    if (key === 'steps') run.steps = /^\d+$/.test(value) ? Number(value) : Number.NaN;
    else if (key === 'methods') run.methods = value.split('/').map((m) => m.trim());
    else if (key === 'spanMode') run.spanMode = value;
    else if (key === 'sourceGuidance') run.sourceGuidance = value.trim() === '' ? Number.NaN : Number(value);
    else if (numeric.includes(key)) planning[key] = value.trim() === '' ? Number.NaN : Number(value);
    else planning[key] = value === 'true' ? true : value === 'false' ? false : value;
  }
  const parsed = BatchVariantSchema.safeParse({ name, planning, ...run }, { reportInput: true });
  if (!parsed.success) throw new CliError(`--variant ${text}: ${describeIssues(parsed.error)}`, 2);
  return parsed.data;
}
