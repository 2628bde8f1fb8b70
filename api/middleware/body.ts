// Body limits by content type, and JSON parsing that answers malformed_json itself (before any
// validator), so every client sees the same error shape.
import type { MiddlewareHandler } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { ApiError } from '../errors.js';

export function isJson(contentType: string | undefined): boolean {
  return /^application\/([a-z0-9.+-]+\+)?json\s*(;|$)/i.test(contentType ?? '');
}
export function isMultipart(contentType: string | undefined): boolean {
  return /^multipart\/form-data\s*(;|$)/i.test(contentType ?? '');
}

export interface BodyLimits {
  json: number;
  /** Multipart bodies: the image limit plus room for the other fields. */
  multipart: number;
}

/** Enforces the limit of the request's content type; refuses other content types when `accept` says so. */
export function limitBody(limits: BodyLimits, accept: ('json' | 'multipart')[]): MiddlewareHandler {
  const tooLarge = (max: number) => () => {
    throw new ApiError('payload_too_large', `request body exceeds ${max} bytes`, null);
  };
  const json = bodyLimit({ maxSize: limits.json, onError: tooLarge(limits.json) });
  const multipart = bodyLimit({ maxSize: limits.multipart, onError: tooLarge(limits.multipart) });
  return async (c, next) => {
    const ct = c.req.header('content-type');
    if (accept.includes('json') && isJson(ct)) return json(c, next);
    if (accept.includes('multipart') && isMultipart(ct)) return multipart(c, next);
    const names = accept.map((a) => (a === 'json' ? 'application/json' : 'multipart/form-data')).join(' or ');
    throw new ApiError(
      'unsupported_media_type',
      `Content-Type '${ct ?? '(none)'}' is not accepted here; send ${names}`,
      'content-type',
    );
  };
}

/** Parses a JSON body once (Hono caches it for the validator); bad JSON → 400 malformed_json. */
export const parseJsonBody: MiddlewareHandler = async (c, next) => {
  if (isJson(c.req.header('content-type'))) {
    try {
      await c.req.json();
    } catch (err) {
      throw new ApiError('malformed_json', `the body is not valid JSON: ${(err as Error).message}`, null);
    }
  }
  await next();
};
