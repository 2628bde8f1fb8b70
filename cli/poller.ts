// The one polling loop of the CLI: ask for something (a workflow's progress) at an interval until the
// awaited work settles or the caller aborts. A failed or hung ask never stops or stalls the loop: a
// workflow answers no query while it starts, and a query to a busy server may not answer at all.

export interface PollOptions<T> {
  /** The work whose end ends the loop (its outcome is not read here). */
  until: Promise<unknown>;
  /** One ask; a rejection or null means "nothing to show this time". */
  poll: () => Promise<T | null>;
  onValue: (value: T) => void;
  intervalMs: number;
  /** How long one ask may take before the loop goes on without it (default: ten intervals). */
  pollTimeoutMs?: number;
  signal?: AbortSignal;
  /** At most this many asks (default: no limit). */
  maxPolls?: number;
}

export type PollEnd = 'settled' | 'aborted' | 'exhausted';

export async function pollUntil<T>(options: PollOptions<T>): Promise<PollEnd> {
  const { until, poll, onValue, intervalMs, signal } = options;
  const pollTimeoutMs = options.pollTimeoutMs ?? 10 * intervalMs;
  const maxPolls = options.maxPolls ?? Number.POSITIVE_INFINITY;
  let settled = false;
  const ended = until.then(
    () => {
      settled = true;
    },
    () => {
      settled = true;
    },
  );
  const aborted = new Promise<void>((resolve) => {
    if (signal?.aborted) resolve();
    signal?.addEventListener('abort', () => resolve(), { once: true });
  });
  const stop = Promise.race([ended, aborted]);
  for (let polls = 0; ; polls++) {
    if (settled) return 'settled';
    if (signal?.aborted) return 'aborted';
    if (polls >= maxPolls) return 'exhausted';
    const value = await Promise.race([
      poll().catch(() => null),
      stop.then(() => null),
      sleep(pollTimeoutMs).then(() => null),
    ]);
    if (value !== null && !settled && !signal?.aborted) onValue(value);
    await Promise.race([stop, sleep(intervalMs)]);
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => {
    // unref: a pending pause must not keep the process alive once the work is over
    setTimeout(resolve, ms).unref?.();
  });
}
