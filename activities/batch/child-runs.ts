// What became of a child run that the batch workflow cannot see itself: the run manifest of a failed or
// cancelled child (its error carries no reference; the child's progress query does, also once closed),
// and the whole outcome of a child an earlier attempt of the batch already started (its id is taken).
import { type Client, WorkflowFailedError } from '@temporalio/client';
import { ApplicationFailure, CancelledFailure, TerminatedFailure } from '@temporalio/common';
import { BATCH_FAILURE, PROGRESS_QUERY } from '../../core/constants.js';
import { ArtifactRefSchema } from '../../core/schemas/artifact.js';
import type { BatchOutcome } from '../../core/schemas/batch-io.js';
import type { RunProgress } from '../../core/schemas/workflow-io.js';

export type ClosedRun = Pick<BatchOutcome, 'status' | 'manifest' | 'error'>;

/** The manifest a closed run reported in its progress query; null when it never wrote one. */
export async function manifestOfRun(client: Client, workflowId: string): Promise<BatchOutcome['manifest']> {
  try {
    const progress = await client.workflow.getHandle(workflowId).query<RunProgress>(PROGRESS_QUERY);
    const parsed = ArtifactRefSchema.nullable().safeParse(progress?.manifest ?? null);
    return parsed.success ? parsed.data : null;
  } catch {
    // Terminated before its first workflow task, or a history the worker cannot replay: no manifest.
    return null;
  }
}

/** The outcome of a run started earlier under this id; retried (not failed) while it still runs. */
export async function outcomeOfRun(client: Client, workflowId: string): Promise<ClosedRun> {
  const handle = client.workflow.getHandle(workflowId);
  const { status } = await handle.describe();
  if (status.name === 'RUNNING') {
    throw ApplicationFailure.retryable(
      `child run ${workflowId} of an earlier attempt is still running; waiting for it to end`,
      BATCH_FAILURE.childStillRunning,
    );
  }
  try {
    const result = (await handle.result()) as { manifest?: unknown };
    const manifest = ArtifactRefSchema.safeParse(result?.manifest);
    return { status: 'succeeded', manifest: manifest.success ? manifest.data : null, error: null };
  } catch (err) {
    if (!(err instanceof WorkflowFailedError)) throw err;
    const cause = err.cause;
    const cancelled = cause instanceof CancelledFailure;
    return {
      status: cancelled ? 'cancelled' : 'failed',
      manifest: await manifestOfRun(client, workflowId),
      error: {
        message: cause?.message ?? err.message,
        type:
          cause instanceof ApplicationFailure
            ? (cause.type ?? null)
            : cause instanceof TerminatedFailure
              ? 'Terminated'
              : (cause?.name ?? null),
      },
    };
  }
}
