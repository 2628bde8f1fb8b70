// What a client may read of a failed run or batch: the failures we raise ourselves say what went wrong in
// our own words (their types are in core/constants.ts); anything else (an SDK's, a library's, an
// internal bug's message, which may name hosts, buckets or paths) becomes a generic sentence, and the
// original goes to the server log only.
import {
  BATCH_FAILURE,
  GPU_FAILURE,
  LIGHT_FAILURE,
  RUN_FAILURE,
  VLM_FAILURE,
  WEBHOOK_FAILURE,
} from '../core/constants.js';

/** Temporal's own outcomes a client should see as they are. */
const TEMPORAL_TYPES = ['CancelledFailure', 'TerminatedFailure', 'TimeoutFailure'];

export const PUBLIC_FAILURE_TYPES: ReadonlySet<string> = new Set([
  ...[VLM_FAILURE, WEBHOOK_FAILURE, LIGHT_FAILURE, BATCH_FAILURE, GPU_FAILURE, RUN_FAILURE].flatMap((f) =>
    Object.values(f),
  ),
  ...TEMPORAL_TYPES,
]);

export const INTERNAL_FAILURE_MESSAGE =
  'the run failed inside the service; its manifest (if written) and the server log have the details';

export interface PublicError {
  message: string;
  type: string | null;
}

/** The error a client gets; `internal` is true when the original must only be logged. */
function publicError(failure: { message: string; type: string | null }): PublicError & {
  internal: boolean;
} {
  if (failure.type !== null && PUBLIC_FAILURE_TYPES.has(failure.type)) {
    return { message: failure.message, type: failure.type, internal: false };
  }
  return { message: INTERNAL_FAILURE_MESSAGE, type: 'InternalError', internal: true };
}

/**
 * The error a client is shown for a failed run or batch; an internal failure is logged in full
 * (`subject` names it in the log, e.g. `{ runId }`) and shown in general words.
 */
export function clientError(
  failure: { message: string; type: string | null },
  subject: Record<string, string>,
  log?: (record: { msg: string } & Record<string, unknown>) => void,
): PublicError {
  const { internal, ...shown } = publicError(failure);
  if (internal)
    log?.({
      msg: 'failure shown in general words',
      level: 'error',
      ...subject,
      type: failure.type,
      error: failure.message,
    });
  return shown;
}
