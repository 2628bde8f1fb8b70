// Per-key token bucket: `burst` tokens, refilled at `perMinute` per minute; one request costs one.
// In memory, per process: run one API process per key set or put a shared limiter in front.
import type { Context, MiddlewareHandler } from 'hono';
import { ApiError } from '../errors.js';
import type { AuthEnv } from './auth.js';

export interface RateLimitOptions {
  perMinute: number;
  burst: number;
  now?: () => number;
}

export interface TokenBucketLimiter {
  readonly burst: number;
  /** 0 when `cost` tokens (default 1, at most the burst) were taken, else the ms until they are there. */
  take(key: string, cost?: number): number;
  /** The ms until `key` has a token (0: it has one now), without taking it. */
  wait(key: string): number;
}

export function createTokenBuckets({
  perMinute,
  burst,
  now = Date.now,
}: RateLimitOptions): TokenBucketLimiter {
  const perMs = perMinute / 60_000;
  const buckets = new Map<string, { tokens: number; at: number }>();
  const refilled = (key: string) => {
    const t = now();
    const b = buckets.get(key) ?? { tokens: burst, at: t };
    b.tokens = Math.min(burst, b.tokens + (t - b.at) * perMs);
    b.at = t;
    buckets.set(key, b);
    return b;
  };
  return {
    burst,
    wait(key) {
      const b = refilled(key);
      return b.tokens >= 1 ? 0 : Math.ceil((1 - b.tokens) / perMs);
    },
    take(key, cost = 1) {
      const n = Math.min(Math.max(cost, 0), burst);
      const b = refilled(key);
      if (b.tokens >= n) {
        b.tokens -= n;
        return 0;
      }
      return Math.ceil((n - b.tokens) / perMs);
    },
  };
}

export function rateLimit(limiter: TokenBucketLimiter): MiddlewareHandler<AuthEnv> {
  return async (c, next) => {
    const keyId = c.get('keyId');
    c.set('charge', (wanted, why) => {
      // At most what a full bucket holds besides the request's own token: a costly request is slowed,
      // never refused for good.
      const tokens = Math.min(wanted, limiter.burst - 1);
      const waitMs = limiter.take(keyId, tokens);
      if (waitMs > 0) {
        const seconds = Math.max(1, Math.ceil(waitMs / 1000));
        throw new ApiError(
          'rate_limited',
          `rate limit exceeded for this API key: ${why} costs ${tokens} requests' worth; retry in ${seconds} s`,
          null,
          { 'Retry-After': String(seconds) },
        );
      }
    });
    const waitMs = limiter.take(keyId);
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

/** Failed authentications allowed per client address: a burst of 20, then 10 a minute. */
export const FAILED_AUTH_LIMIT = { perMinute: 10, burst: 20 };

/**
 * Limits failed authentications per client address, before the key is checked: once an address has
 * spent its failures, it gets 429 until a token is back (valid keys from it too, for that long), so keys
 * cannot be guessed at request rate. The address is the TCP peer's; behind a proxy, limit there.
 */
export function failedAuthLimit(limiter: TokenBucketLimiter): MiddlewareHandler {
  return async (c, next) => {
    const address = clientAddress(c);
    const waitMs = limiter.wait(address);
    if (waitMs > 0) {
      const seconds = Math.max(1, Math.ceil(waitMs / 1000));
      throw new ApiError('rate_limited', `too many failed authentications; retry in ${seconds} s`, null, {
        'Retry-After': String(seconds),
      });
    }
    await next();
    // Hono turns the authentication error into the 401 response before control returns here.
    if (c.res.status === 401) limiter.take(address);
  };
}

/** The TCP peer's address (@hono/node-server), or 'unknown' (app.request() in tests). */
function clientAddress(c: Context): string {
  const env = c.env as { incoming?: { socket?: { remoteAddress?: string } } } | undefined;
  return env?.incoming?.socket?.remoteAddress ?? 'unknown';
}

/** Requests to the unauthenticated documents per client address: a burst of 30, then 60 a minute. */
export const DOCS_LIMIT = { perMinute: 60, burst: 30 };

/** A per-client-address limit for routes without a key (/openapi.json, /docs). */
export function addressLimit(limiter: TokenBucketLimiter): MiddlewareHandler {
  return async (c, next) => {
    const waitMs = limiter.take(clientAddress(c));
    if (waitMs > 0) {
      const seconds = Math.max(1, Math.ceil(waitMs / 1000));
      throw new ApiError('rate_limited', `too many requests from this address; retry in ${seconds} s`, null, {
        'Retry-After': String(seconds),
      });
    }
    await next();
  };
}
