// One VLM question with validation: parse the answer, check it against the zod schema and then
// against the graph, and on failure ask again with the error stated, a bounded number of times.
// Every HTTP call becomes a VlmAttempt (run manifest), successful or not.

import type { ChatCompletionMessageParam } from 'openai/resources/chat/completions';
import type { z } from 'zod';
import type { PromptName } from '../../core/prompts/common.js';
import { toJsonSchema } from '../../core/schemas/json-schema.js';
import type { VlmAttempt } from '../../core/schemas/run-manifest.js';
import { formatZodPath } from '../../core/schemas/zod-path.js';
import { activityLog } from '../activity-log.js';
import type { ChatAnswer, VlmTransport } from './client.js';
import { classifyTransportError, describeTransportError, VLM_FAILURE, vlmFailure } from './failures.js';
import { parseJsonAnswer } from './json-answer.js';

/** What a check of a parsed answer says: use it (with notes to record), or ask again. */
export type CheckResult<T> = { ok: true; value: T; notes?: string[] } | { ok: false; error: string };

export interface ValidatedCallOptions<S extends z.ZodType, T> {
  transport: VlmTransport;
  prompt: PromptName;
  /** The prompt text; the image goes in the same user message. */
  text: string;
  imageUrl?: string;
  /** Absent: the answer is free text (scene description), checked by `check` alone. */
  schema?: { name: string; zod: S };
  /**
   * Graph checks etc. after the schema; `final` is true on the last allowed attempt, so a check can
   * accept soft problems there instead of failing the call.
   */
  check: (answer: z.output<S>, final: boolean) => CheckResult<T>;
  /** Recorded with each attempt (judge: which counterfactual). */
  tag?: Pick<VlmAttempt, 'interventionId' | 'method'>;
  signal?: AbortSignal;
  /** Injected clock for the attempt records. */
  now?: () => number;
}

export interface ValidatedResult<T> {
  value: T;
  attempts: VlmAttempt[];
  /** Things accepted but worth recording, e.g. "JSON found inside a ```json fence". */
  notes: string[];
}

export async function validatedCall<S extends z.ZodType, T>(
  opts: ValidatedCallOptions<S, T>,
): Promise<ValidatedResult<T>> {
  const { transport, prompt } = opts;
  const { settings } = transport;
  const now = opts.now ?? Date.now;
  const call = settings.calls[prompt];
  const schema = opts.schema ? { name: opts.schema.name, schema: toJsonSchema(opts.schema.zod) } : undefined;
  const content: ChatCompletionMessageParam['content'] = opts.imageUrl
    ? [
        { type: 'image_url', image_url: { url: opts.imageUrl } },
        { type: 'text', text: opts.text },
      ]
    : opts.text;
  const messages: ChatCompletionMessageParam[] = [{ role: 'user', content } as ChatCompletionMessageParam];
  const attempts: VlmAttempt[] = [];
  const maxCalls = 1 + settings.maxValidationRetries;

  for (let n = 1; n <= maxCalls; n++) {
    const started = now();
    const record = (answer: ChatAnswer | undefined, error: string | null) => {
      const seconds = Math.max(0, (now() - started) / 1000);
      attempts.push({
        prompt,
        model: answer?.model ?? settings.model,
        attempt: n,
        ...opts.tag,
        startedAt: new Date(started).toISOString(),
        seconds,
        usage: answer?.usage ?? null,
        error,
      });
      activityLog()?.[error === null ? 'info' : 'warn'](`vlm ${prompt} answer ${n}/${maxCalls}`, {
        prompt,
        seconds,
        ...(error === null ? {} : { error }),
      });
    };

    let answer: ChatAnswer;
    try {
      answer = await transport.chat({ messages, call, schema, signal: opts.signal });
    } catch (err) {
      record(undefined, describeTransportError(err));
      throw classifyTransportError(err, { ...settings, attempts });
    }

    const outcome = evaluate(answer, opts, n === maxCalls, call.maxTokens);
    record(answer, outcome.ok ? null : outcome.error);
    if (outcome.ok) return { value: outcome.value, attempts, notes: outcome.notes };
    if (n === maxCalls) {
      throw vlmFailure(
        VLM_FAILURE.invalidAnswer,
        `the VLM (model '${settings.model}') gave no valid '${prompt}' answer in ${maxCalls} attempt(s); last problem: ${outcome.error}`,
        { attempts },
      );
    }
    // The model sees its own answer and what was wrong with it, then tries again.
    messages.push({ role: 'assistant', content: answer.content });
    messages.push({ role: 'user', content: reaskText(outcome.error, opts.schema !== undefined) });
  }
  throw new Error('unreachable: validatedCall loop ended without a result');
}

/** The correction message sent after an invalid answer. Exported for tests. */
export function reaskText(error: string, json: boolean): string {
  return json
    ? `Your previous answer could not be used: ${error}\nAnswer again following the same instructions. Return ONLY the corrected JSON object.`
    : `Your previous answer could not be used: ${error}\nAnswer again following the same instructions.`;
}

function evaluate<S extends z.ZodType, T>(
  answer: ChatAnswer,
  opts: ValidatedCallOptions<S, T>,
  final: boolean,
  maxTokens: number,
): { ok: true; value: T; notes: string[] } | { ok: false; error: string } {
  const cut =
    answer.finishReason === 'length'
      ? ` (the answer was cut off at max_tokens=${maxTokens}; finish_reason=length)`
      : '';
  const notes: string[] = [];
  let data: unknown = answer.content;
  if (opts.schema) {
    const parsed = parseJsonAnswer(answer.content);
    if (!parsed.ok) return { ok: false, error: parsed.error + cut };
    if (parsed.via !== 'bare')
      notes.push(`JSON recovered from ${parsed.via === 'fence' ? 'a code fence' : 'surrounding prose'}`);
    const result = opts.schema.zod.safeParse(parsed.value);
    if (!result.success)
      return {
        ok: false,
        error: `the JSON does not match the ${opts.schema.name} schema: ${formatZodIssues(result.error, parsed.value)}${cut}`,
      };
    data = result.data;
  }
  const checked = opts.check(data as z.output<S>, final);
  if (!checked.ok) return { ok: false, error: checked.error + cut };
  return { ok: true, value: checked.value, notes: [...notes, ...(checked.notes ?? [])] };
}

/** "concepts[2].current_value: must be a non-empty string (got \"\")", at most 5 issues. */
export function formatZodIssues(error: z.ZodError, data: unknown): string {
  const parts = error.issues.slice(0, 5).map((issue) => {
    const path = formatZodPath(issue.path);
    const got = valueAt(data, issue.path);
    const shown = got === undefined ? 'missing' : JSON.stringify(got)?.slice(0, 60);
    return `${path || '(root)'}: ${issue.message} (got ${shown})`;
  });
  const more = error.issues.length > 5 ? `; and ${error.issues.length - 5} more` : '';
  return parts.join('; ') + more;
}

function valueAt(data: unknown, path: readonly PropertyKey[]): unknown {
  let at: unknown = data;
  for (const key of path) {
    if (at === null || typeof at !== 'object') return undefined;
    at = (at as Record<PropertyKey, unknown>)[key];
  }
  return at;
}
