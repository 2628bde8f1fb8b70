// Messages between the engine host (main thread) and the engine thread. Cancellation travels through
// a SharedArrayBuffer flag, not a message: the engine thread is blocked inside ONNX Runtime most of
// the time and reads messages only when its event loop turns, but it can read the flag between steps.
export type JobId = number;

export interface JobMessage {
  type: 'job';
  id: JobId;
  kind: string;
  payload: unknown;
  /** Int32Array view over a SharedArrayBuffer; index 0 becomes 1 when the job is cancelled. */
  abortFlag: Int32Array;
}

export type ThreadMessage =
  | { type: 'ready' }
  | { type: 'progress'; id: JobId; event: unknown }
  | { type: 'result'; id: JobId; result: unknown }
  | { type: 'error'; id: JobId; name: string; message: string; stack?: string; aborted: boolean };

export interface JobContext {
  /** Reports progress to the host (cheap; forwarded as an event). */
  progress(event: unknown): void;
  /** True once the host cancelled this job. */
  readonly aborted: boolean;
  /** Throws an AbortError when cancelled: call between steps. */
  throwIfAborted(): void;
}

export type JobHandler = (payload: unknown, ctx: JobContext) => Promise<unknown>;
export type JobHandlers = Record<string, JobHandler>;

export class EngineAbortError extends Error {
  constructor(message = 'engine job cancelled') {
    super(message);
    this.name = 'AbortError';
  }
}
