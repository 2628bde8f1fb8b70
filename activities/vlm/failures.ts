// How VLM failures reach Temporal: bad input and answers the model cannot get right end as
// non-retryable ApplicationFailures; transient transport faults stay retryable (429 honours
// Retry-After through nextRetryDelay). Attempt records ride along in `details` so the workflow can
// still put them into the run manifest when the activity fails.
import { ApplicationFailure } from '@temporalio/common';
import { APIConnectionError, APIConnectionTimeoutError, APIError, APIUserAbortError } from 'openai';
import { VLM_FAILURE, VLM_NON_RETRYABLE_TYPES, type VlmFailureType } from '../../core/constants.js';
import type { VlmAttempt } from '../../core/schemas/run-manifest.js';

// The failure types and the non-retryable ones live in core/constants.ts, which workflow code imports too.
export { VLM_FAILURE, VLM_NON_RETRYABLE_TYPES, type VlmFailureType } from '../../core/constants.js';

/** What `details[0]` of every VLM failure holds. */
export interface VlmFailureDetails {
  attempts: VlmAttempt[];
  status?: number;
  retryAfterMs?: number;
}

export function vlmFailure(
  type: VlmFailureType,
  message: string,
  details: VlmFailureDetails,
  opts: { nextRetryDelayMs?: number; cause?: Error } = {},
): ApplicationFailure {
  return ApplicationFailure.create({
    type,
    message,
    nonRetryable: VLM_NON_RETRYABLE_TYPES.includes(type),
    details: [details],
    nextRetryDelay: opts.nextRetryDelayMs,
    cause: opts.cause,
  });
}

export function invalidInput(message: string, attempts: VlmAttempt[] = []): ApplicationFailure {
  return vlmFailure(VLM_FAILURE.invalidInput, message, { attempts });
}

/** The type of a failure thrown by this module, or undefined for anything else. */
export function vlmFailureType(err: unknown): VlmFailureType | undefined {
  if (!(err instanceof ApplicationFailure) || !err.type) return undefined;
  return (Object.values(VLM_FAILURE) as string[]).includes(err.type)
    ? (err.type as VlmFailureType)
    : undefined;
}

export function vlmFailureDetails(err: ApplicationFailure): VlmFailureDetails | undefined {
  const d = err.details?.[0];
  return d && typeof d === 'object' && Array.isArray((d as VlmFailureDetails).attempts)
    ? (d as VlmFailureDetails)
    : undefined;
}

/**
 * Retry-After as milliseconds: delta-seconds or an HTTP date (RFC 9110 §10.2.3); vLLM/OpenAI's
 * `retry-after-ms` wins when present. Undefined when absent or unparsable.
 */
export function parseRetryAfter(headers: Headers | undefined, now = Date.now()): number | undefined {
  if (!headers) return undefined;
  const ms = headers.get('retry-after-ms');
  if (ms !== null && /^\d+(\.\d+)?$/.test(ms.trim())) return Math.round(Number(ms));
  const value = headers.get('retry-after')?.trim();
  if (!value) return undefined;
  if (/^\d+(\.\d+)?$/.test(value)) return Math.round(Number(value) * 1000);
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

/** Short, secret-free text of a transport error, for the attempt record. */
export function describeTransportError(err: unknown): string {
  if (err instanceof APIConnectionTimeoutError) return 'timeout: no answer from the VLM server in time';
  if (err instanceof APIConnectionError) return `connection error: ${err.message}`;
  if (err instanceof APIError) return `HTTP ${err.status ?? '?'}: ${err.message}`;
  return err instanceof Error ? err.message : String(err);
}

/**
 * Maps an error of the `openai` client to a typed failure. Cancellation (APIUserAbortError) is
 * returned unchanged: Temporal reports it as the activity's cancellation, not as a fault.
 */
export function classifyTransportError(
  err: unknown,
  ctx: { baseURL: string; model: string; timeoutMs: number; attempts: VlmAttempt[] },
): Error {
  const { attempts } = ctx;
  const where = `VLM server ${withoutCredentials(ctx.baseURL)} (model '${ctx.model}')`;
  const cause = err instanceof Error ? err : undefined;
  if (err instanceof APIUserAbortError) return err;
  if (err instanceof APIConnectionTimeoutError) {
    return vlmFailure(
      VLM_FAILURE.timeout,
      `${where} did not answer within ${ctx.timeoutMs} ms`,
      { attempts },
      { cause },
    );
  }
  if (err instanceof APIConnectionError) {
    return vlmFailure(
      VLM_FAILURE.connection,
      `cannot reach ${where}: ${err.message}; check CGM_VLM_BASE_URL and that the server is up`,
      { attempts },
      { cause },
    );
  }
  if (err instanceof APIError && typeof err.status === 'number') {
    const status = err.status;
    if (status === 429) {
      const retryAfterMs = parseRetryAfter(err.headers);
      const wait = retryAfterMs === undefined ? '' : `; retrying after ${retryAfterMs} ms (Retry-After)`;
      return vlmFailure(
        VLM_FAILURE.rateLimited,
        `${where} is rate limiting (HTTP 429)${wait}`,
        { attempts, status, retryAfterMs },
        { nextRetryDelayMs: retryAfterMs, cause },
      );
    }
    if (status === 408) {
      return vlmFailure(
        VLM_FAILURE.timeout,
        `${where} timed out the request (HTTP 408)`,
        { attempts, status },
        { cause },
      );
    }
    if (status >= 500) {
      return vlmFailure(
        VLM_FAILURE.serverError,
        `${where} failed with HTTP ${status}: ${err.message}`,
        { attempts, status },
        { cause },
      );
    }
    const hint =
      status === 401 || status === 403
        ? 'check CGM_VLM_API_KEY'
        : status === 404
          ? 'check CGM_VLM_BASE_URL (it should end in /v1) and CGM_VLM_MODEL (GET /v1/models lists the served names)'
          : 'the server refused the request; if it does not support response_format json_schema, use structuredOutput none (cgm: --structured-output none)';
    return vlmFailure(
      VLM_FAILURE.requestRejected,
      `${where} rejected the request with HTTP ${status}: ${err.message}; ${hint}`,
      { attempts, status },
      { cause },
    );
  }
  return err instanceof Error ? err : new Error(String(err));
}

/** user:password@ in a base URL must not reach logs or failure messages. */
function withoutCredentials(url: string): string {
  try {
    const u = new URL(url);
    u.username = '';
    u.password = '';
    return u.toString().replace(/\/$/, '');
  } catch {
    return url;
  }
}
