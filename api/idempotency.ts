// The Idempotency-Key rules shared by every starting route (runs and batches): the header's syntax,
// and the verdict on a key that already names a run (same owner and fingerprint → replay, else 409).
import { ApiError } from './errors.js';
import type { RunInfo } from './runs/types.js';

/** The header's value, or undefined when absent; anything but 1-255 printable ASCII is refused. */
export function parseIdempotencyKey(header: string | undefined): string | undefined {
  if (header === undefined) return undefined;
  if (!/^[\x21-\x7e]{1,255}$/.test(header))
    throw new ApiError(
      'invalid_idempotency_key',
      'Idempotency-Key must be 1-255 printable ASCII characters without spaces',
      'idempotency-key',
    );
  return header;
}

/** True for a replay of the same request by the same key; throws idempotency_conflict otherwise. */
export function isReplay(existing: RunInfo, keyId: string, fingerprint: string): true {
  if (existing.memo?.owner === keyId && existing.memo.fingerprint === fingerprint) return true;
  throw new ApiError(
    'idempotency_conflict',
    'this Idempotency-Key was already used with a different request body; use a new key for a new request',
    'idempotency-key',
  );
}
