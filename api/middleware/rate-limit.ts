// Per-key token bucket: `burst` tokens, refilled at `perMinute` per minute; one request costs one.
// In memory, per process: run one API process per key set or put a shared limiter in front.
import type { MiddlewareHandler } from 'hono';
import { ApiError } from '../errors.js';
import type { AuthEnv } from './auth.js';

export interface RateLimitOptions {
  perMinute: number;
  burst: number;
  now?: () => number;
}

export interface TokenBucketLimiter {
  /** 0 when a token was taken, else the ms until one is available. */
  take(key: string): number;
}

export function createTokenBuckets({
  perMinute,
  burst,
  now = Date.now,
}: RateLimitOptions): TokenBucketLimiter {
  const perMs = perMinute / 60_000;
  const buckets = new Map<string, { tokens: number; at: number }>();
  return {
    take(key) {
      const t = now();
      const b = buckets.get(key) ?? { tokens: burst, at: t };
      b.tokens = Math.min(burst, b.tokens + (t - b.at) * perMs);
      b.at = t;
      buckets.set(key, b);
      if (b.tokens >= 1) {
        b.tokens -= 1;
        return 0;
      }
      return Math.ceil((1 - b.tokens) / perMs);
    },
  };
}

export function rateLimit(limiter: TokenBucketLimiter): MiddlewareHandler<AuthEnv> {
  return async (c, next) => {
    const waitMs = limiter.take(c.get('keyId'));
    if (waitMs > 0) {
      const seconds = Math.max(1, Math.ceil(waitMs / 1000));
      throw new ApiError(
        'rate_limited',
        `rate limit exceeded for this API key; retry in ${seconds} s`,
        null,
        {
          'Retry-After': String(seconds),
        },
      );
    }
    await next();
  };
}
