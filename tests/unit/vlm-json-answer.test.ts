// The fallback parser, Retry-After parsing, description cleaning and zod error text: pure functions.
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { cleanDescription } from '../../activities/vlm/describe-scene.js';
import { parseRetryAfter } from '../../activities/vlm/failures.js';
import { parseJsonAnswer } from '../../activities/vlm/json-answer.js';
import { formatZodIssues } from '../../activities/vlm/validated-call.js';

describe('parseJsonAnswer', () => {
  it('parses bare JSON', () => {
    expect(parseJsonAnswer(' {"a": 1} ')).toEqual({ ok: true, value: { a: 1 }, via: 'bare' });
  });

  it('takes JSON out of a ```json fence surrounded by prose', () => {
    const text =
      'Here is the analysis:\n\n```json\n{"concepts": [], "note": "a } inside a string"}\n```\nDone.';
    expect(parseJsonAnswer(text)).toEqual({
      ok: true,
      value: { concepts: [], note: 'a } inside a string' },
      via: 'fence',
    });
  });

  it('finds an object embedded in prose without a fence, skipping braces in strings and earlier junk', () => {
    const text =
      'The set {not json} is followed by {"verdict": "success", "reasoning": "all {ok}"} as requested.';
    expect(parseJsonAnswer(text)).toEqual({
      ok: true,
      value: { verdict: 'success', reasoning: 'all {ok}' },
      via: 'embedded',
    });
  });

  it('drops a Qwen3 <think> block before parsing', () => {
    expect(parseJsonAnswer('<think>maybe {"x": 2}</think>\n{"x": 1}')).toEqual({
      ok: true,
      value: { x: 1 },
      via: 'bare',
    });
  });

  it('reports invalid JSON with the parser message and the start of the answer', () => {
    const r = parseJsonAnswer('{"concepts": [1, 2,],}');
    expect(r.ok).toBe(false);
    if (!r.ok)
      expect(r.error).toMatch(
        /^the answer is not valid JSON \(.+\); it starts with "\{"concepts": \[1, 2,\],\}"$/,
      );
  });

  it('reports an empty answer', () => {
    expect(parseJsonAnswer('  ')).toEqual({
      ok: false,
      error: 'the answer is empty; expected a JSON object',
    });
  });
});

describe('parseRetryAfter', () => {
  const now = Date.parse('2026-11-28T15:00:00Z');
  it('reads delta-seconds, an HTTP date and retry-after-ms', () => {
    expect(parseRetryAfter(new Headers({ 'retry-after': '7' }), now)).toBe(7000);
    expect(parseRetryAfter(new Headers({ 'retry-after': 'Sat, 28 Nov 2026 15:00:30 GMT' }), now)).toBe(
      30_000,
    );
    expect(parseRetryAfter(new Headers({ 'retry-after': '7', 'retry-after-ms': '1500' }), now)).toBe(1500);
  });
  it('is undefined when absent or unparsable', () => {
    expect(parseRetryAfter(new Headers(), now)).toBeUndefined();
    expect(parseRetryAfter(new Headers({ 'retry-after': 'soon' }), now)).toBeUndefined();
    expect(parseRetryAfter(undefined, now)).toBeUndefined();
  });
});

describe('cleanDescription', () => {
  it('unwraps quotes, prefixes and markdown and joins lines', () => {
    expect(cleanDescription('**Caption:** "A rainy street\nat night."')).toBe('A rainy street at night.');
    expect(cleanDescription('<think>hmm</think> ')).toBe('');
  });
});

describe('formatZodIssues', () => {
  it('names the path, the message and the offending value', () => {
    const schema = z.object({ items: z.array(z.object({ v: z.string().min(1, 'v must be non-empty') })) });
    const data = { items: [{ v: 'ok' }, { v: '' }] };
    const r = schema.safeParse(data);
    expect(r.success).toBe(false);
    if (!r.success) expect(formatZodIssues(r.error, data)).toBe('items[1].v: v must be non-empty (got "")');
  });
  it('says "missing" for an absent field', () => {
    const schema = z.object({ a: z.string() });
    const r = schema.safeParse({});
    if (!r.success) expect(formatZodIssues(r.error, {})).toMatch(/^a: .+ \(got missing\)$/);
    else expect.unreachable();
  });
});
