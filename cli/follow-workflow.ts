// Following a started workflow from `cgm run` and `cgm batch`: its progress polled onto the progress
// line until it ends, and Ctrl-C turned into a cancellation of the workflow (which still writes what
// finished) rather than the end of the CLI.
import { pollUntil } from './poller.js';
import { createProgress, type ProgressFrame } from './progress.js';

export interface FollowedWorkflow<R> {
  result(): Promise<R>;
  cancel(): Promise<unknown>;
}

export interface FollowOptions<P> {
  /** The workflow's progress now (a query), or null. */
  poll: () => Promise<P | null>;
  /** The progress line for it. */
  frame: (progress: P) => ProgressFrame;
  intervalMs: number;
  /** Printed on the first Ctrl-C, e.g. 'the report of what finished is still written'. */
  onCancel: string;
}

/** The workflow's result (or its failure), once it ends; the progress line is closed by then. */
export async function followWorkflow<R, P>(
  handle: FollowedWorkflow<R>,
  options: FollowOptions<P>,
): Promise<R> {
  let cancelling = false;
  const onSigint = () => {
    if (cancelling) return;
    cancelling = true;
    process.stderr.write(`\ncgm: cancelling (${options.onCancel})\n`);
    void handle.cancel();
  };
  process.on('SIGINT', onSigint);
  const progress = createProgress();
  const result = handle.result();
  try {
    await pollUntil({
      until: result,
      poll: options.poll,
      onValue: (p) => progress.update(options.frame(p)),
      intervalMs: options.intervalMs,
    });
    return await result;
  } finally {
    progress.done();
    process.off('SIGINT', onSigint);
  }
}
