// Canonical JSON (keys sorted at every level) and the ids derived from it.
import { createHash } from 'node:crypto';

export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

export const sha256 = (text: string): string => createHash('sha256').update(text, 'utf8').digest('hex');

/**
 * The run id of an Idempotency-Key: scoped to the caller's key id, so two clients choosing the same
 * key never share a run. Same key id + same Idempotency-Key → same workflow id, always. The prefix
 * names the kind: `cf` for counterfactual runs, `batch` for batches.
 */
export function runIdForIdempotencyKey(keyId: string, idempotencyKey: string, prefix = 'cf'): string {
  return `${prefix}-${sha256(`${keyId}\n${idempotencyKey}`).slice(0, 40)}`;
}
