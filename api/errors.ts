// The one error shape of the API, {error: {code, message, field}}, and every code it can carry.
// Codes are stable (clients branch on them); messages say what to do and may change.

// From @hono/zod-openapi so that .openapi() exists whatever the import order.
import { z } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { formatZodPath } from '../core/schemas/zod-path.js';

/** code → HTTP status. The OpenAPI document and api/README.md list the same table. */
export const ERROR_CODES = {
  /** The body (or the multipart `request` field) is not JSON. */
  malformed_json: 400,
  /** A multipart body that cannot be parsed. */
  malformed_body: 400,
  /** A field has the wrong type or value, or fields contradict each other. */
  validation_error: 400,
  /** A field the schema does not know (requests are strict). */
  unknown_field: 400,
  /** Idempotency-Key header empty, too long or not printable ASCII. */
  invalid_idempotency_key: 400,
  /** No API key, or one that is not configured. */
  unauthorized: 401,
  /** A trigger delivery whose signature (or presented secret) is not the trigger's. */
  invalid_signature: 401,
  /** A trigger delivery whose signed timestamp is more than 5 minutes from the server's clock. */
  stale_timestamp: 401,
  not_found: 404,
  /** POST /v1/hooks/{id} for a trigger that does not exist (or was deleted). */
  unknown_trigger: 404,
  /** A delivery to a paused trigger: nothing is started until it is resumed. */
  trigger_paused: 409,
  /** The Idempotency-Key was used before with a different body. */
  idempotency_conflict: 409,
  /** DELETE of a run that has already finished. */
  run_not_cancellable: 409,
  /** GET of a batch report while the batch runs, or after it ended without one (failed, cancelled). */
  report_not_ready: 409,
  /** GET of a run manifest before the run has written it (it is written when the run ends). */
  manifest_not_ready: 409,
  /** Body larger than the configured limit. */
  payload_too_large: 413,
  /** Content-Type other than application/json or multipart/form-data. */
  unsupported_media_type: 415,
  /** Bytes that are not a decodable PNG, JPEG or WebP, or that contradict the declared type. */
  invalid_image: 422,
  /** Image width or height outside the configured limits. */
  image_dimensions: 422,
  /** `image.sha256` names nothing this API key uploaded. */
  unknown_artifact: 422,
  /** The stored bytes of an upload no longer hash to it; they are removed, so a retry or re-upload heals it. */
  artifact_corrupt: 422,
  /** An uploaded batch image list (`imagesFile`) that is not JSONL of BatchImage lines; names the line. */
  invalid_batch_file: 422,
  /** The user's causal graph has structural problems (duplicate ids, dangling edges, cycles). */
  invalid_graph: 422,
  /** A user intervention contradicts the graph (unknown ids, non-descendant changes). */
  invalid_intervention: 422,
  /** A do() names a concept that is neither an id nor a name of the graph. */
  unknown_concept: 422,
  /** Webhook URL refused by the allow-list policy (scheme, private address, unresolvable host). */
  webhook_url_forbidden: 422,
  /** A trigger delivery that names no image where the trigger looks for one. */
  image_missing: 422,
  /** A trigger delivery naming an image outside the trigger's allowed buckets, prefixes or hosts. */
  image_not_allowed: 422,
  /** An image URL refused by the webhook URL policy (loopback, private or reserved address, unresolvable host). */
  image_url_forbidden: 422,
  /** An image a delivery names could not be read (URL not 200, no such S3 object, access denied). */
  image_fetch_failed: 422,
  rate_limited: 429,
  internal: 500,
  /** Temporal or S3 cannot be reached; retry later. */
  unavailable: 503,
  /** The server has no webhook signing secret (CGM_WEBHOOK_SECRET): it sends no webhooks at all. */
  webhooks_not_configured: 503,
  lpips_unavailable: 503,
} as const;
export type ErrorCode = keyof typeof ERROR_CODES;
type ErrorStatus = (typeof ERROR_CODES)[ErrorCode];

export const ErrorBodySchema = z.object({
  error: z.object({
    code: z.enum(Object.keys(ERROR_CODES) as [ErrorCode, ...ErrorCode[]]),
    message: z.string(),
    /** JSON path of the offending field (`do[0].concept`), `image`, a header name, or null. */
    field: z.string().nullable(),
  }),
});
export type ErrorBody = z.infer<typeof ErrorBodySchema>;

export class ApiError extends Error {
  readonly status: ErrorStatus;
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly field: string | null = null,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
    this.name = 'ApiError';
    this.status = ERROR_CODES[code];
  }

  body(): ErrorBody {
    return { error: { code: this.code, message: this.message, field: this.field } };
  }
}

export function errorResponse(c: Context, err: ApiError): Response {
  for (const [k, v] of Object.entries(err.headers)) c.header(k, v);
  return c.json(err.body(), err.status);
}

/** `prefix.a.b[0].c` from a zod path (core/schemas/zod-path.ts). */
export function fieldPath(path: readonly PropertyKey[], prefix = ''): string {
  return formatZodPath(prefix ? [prefix, ...path] : path);
}

/** The first zod issue as an ApiError: unknown keys → unknown_field, anything else → validation_error. */
export function fromZodError(error: z.ZodError, prefix = ''): ApiError {
  const issue = error.issues[0];
  if (!issue) return new ApiError('validation_error', 'the request is invalid', prefix || null);
  if (issue.code === 'unrecognized_keys') {
    const key = issue.keys[0] ?? '';
    const field = fieldPath([...issue.path, key], prefix);
    return new ApiError(
      'unknown_field',
      `unknown field '${field}'; remove it (see /openapi.json for the accepted fields)`,
      field,
    );
  }
  const field = fieldPath(issue.path, prefix) || null;
  const more = error.issues.length > 1 ? ` (and ${error.issues.length - 1} more problem(s))` : '';
  return new ApiError('validation_error', `${field ?? 'body'}: ${issue.message}${more}`, field);
}
