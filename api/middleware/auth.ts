// API keys: configured keys are hashed once at start-up (sha256) and only hashes are kept; a request's
// key is hashed and compared against every stored hash in constant time. The key id (a hash prefix)
// names the caller in rate limits, run ownership and logs; the key itself is never logged.
import { createHash, timingSafeEqual } from 'node:crypto';
import type { MiddlewareHandler } from 'hono';
import { ApiError } from '../errors.js';

export function hashApiKey(key: string): string {
  return createHash('sha256').update(key, 'utf8').digest('hex');
}

/** Short, non-secret name of a key: the first 12 hex digits of its hash. */
export const keyIdOf = (hash: string): string => hash.slice(0, 12);

export interface Keyring {
  /** The key id when `presented` is configured, else null. Time does not depend on which hash matches. */
  match(presented: string): string | null;
  readonly size: number;
}

export function createKeyring(hashes: readonly string[]): Keyring {
  const stored = hashes.map((h) => Buffer.from(h, 'hex'));
  return {
    size: stored.length,
    match(presented) {
      const digest = createHash('sha256').update(presented, 'utf8').digest();
      let found = -1;
      for (const [i, s] of stored.entries()) {
        // No early exit: every stored hash is compared.
        if (timingSafeEqual(digest, s) && found < 0) found = i;
      }
      return found < 0 ? null : keyIdOf(stored[found]!.toString('hex'));
    },
  };
}

export type AuthEnv = {
  Variables: {
    keyId: string;
    /** Takes `tokens` more from the key's rate limit for a costly request; 429 when they are not there. */
    charge?: (tokens: number, why: string) => void;
  };
};

function presentedKey(authorization: string | undefined, xApiKey: string | undefined): string | undefined {
  if (xApiKey) return xApiKey.trim();
  const m = authorization?.match(/^Bearer\s+(\S+)\s*$/i);
  return m?.[1];
}

export function apiKeyAuth(keyring: Keyring): MiddlewareHandler<AuthEnv> {
  return async (c, next) => {
    const key = presentedKey(c.req.header('authorization'), c.req.header('x-api-key'));
    const challenge = { 'WWW-Authenticate': 'Bearer realm="cgm"' };
    if (!key)
      throw new ApiError(
        'unauthorized',
        'missing API key: send `Authorization: Bearer <key>` (or `X-API-Key: <key>`)',
        'authorization',
        challenge,
      );
    const keyId = keyring.match(key);
    if (!keyId) throw new ApiError('unauthorized', 'the API key is not valid', 'authorization', challenge);
    c.set('keyId', keyId);
    await next();
  };
}
