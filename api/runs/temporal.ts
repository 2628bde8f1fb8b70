// RunStarter over a Temporal Client. Workflows are started by type name (the API never imports
// workflow code), with the run id as workflow id and REJECT_DUPLICATE, so an id is used once, ever:
// a second start of the same id (an idempotent replay, or a race of two equal requests) finds the
// existing run instead of starting one. The request fingerprint and owner travel as a memo.
import {
  type Client,
  WorkflowExecutionAlreadyStartedError,
  type WorkflowExecutionStatusName,
  WorkflowFailedError,
  WorkflowNotFoundError,
} from '@temporalio/client';
import { PROGRESS_QUERY } from '../../core/constants.js';
import type { CounterfactualInput } from '../../core/schemas/workflow-io.js';
import type { RunStatusValue } from '../schemas.js';
import type { RunInfo, RunMemo, RunOutcome, RunStarter } from './types.js';

export interface TemporalRunStarterOptions {
  client: Client;
  taskQueue: string;
  /** Workflow type name, default 'counterfactualWorkflow' (workflows/counterfactual.ts). */
  workflowType?: string;
  /** Query name of the workflow's progress, default PROGRESS_QUERY (core/constants.ts). */
  progressQuery?: string;
  /** How long GET waits for a progress answer (no worker → no answer). */
  queryTimeoutMs?: number;
}

const MEMO_KEY = 'cgmApi';

const STATUS: Record<WorkflowExecutionStatusName, RunStatusValue> = {
  UNSPECIFIED: 'running',
  RUNNING: 'running',
  CONTINUED_AS_NEW: 'running',
  PAUSED: 'running',
  UNKNOWN: 'running',
  COMPLETED: 'succeeded',
  FAILED: 'failed',
  CANCELLED: 'cancelled',
  TERMINATED: 'terminated',
  TIMED_OUT: 'timed_out',
};

function memoOf(memo: Record<string, unknown> | undefined): RunMemo | null {
  const m = memo?.[MEMO_KEY] as Partial<RunMemo> | undefined;
  return m && typeof m.fingerprint === 'string' && typeof m.owner === 'string'
    ? { fingerprint: m.fingerprint, owner: m.owner }
    : null;
}

/** A starter for one workflow type; batches: workflowType 'batchWorkflow', progressQuery BATCH_PROGRESS_QUERY. */
export function createTemporalRunStarter<Input = CounterfactualInput>(
  options: TemporalRunStarterOptions,
): RunStarter<Input> {
  const { client, taskQueue } = options;
  const workflowType = options.workflowType ?? 'counterfactualWorkflow';
  const progressQuery = options.progressQuery ?? PROGRESS_QUERY;
  const queryTimeoutMs = options.queryTimeoutMs ?? 2_000;

  return {
    async start(id: string, input: Input, memo: RunMemo) {
      try {
        await client.workflow.start(workflowType, {
          taskQueue,
          workflowId: id,
          args: [input],
          memo: { [MEMO_KEY]: memo },
          workflowIdReusePolicy: 'REJECT_DUPLICATE',
          workflowIdConflictPolicy: 'FAIL',
        });
        return 'started';
      } catch (err) {
        if (err instanceof WorkflowExecutionAlreadyStartedError) return 'exists';
        throw err;
      }
    },

    async describe(id) {
      try {
        const d = await client.workflow.getHandle(id).describe();
        return {
          id,
          status: STATUS[d.status.name] ?? 'running',
          createdAt: d.startTime.toISOString(),
          closedAt: d.closeTime?.toISOString() ?? null,
          memo: memoOf(d.memo),
        } satisfies RunInfo;
      } catch (err) {
        if (err instanceof WorkflowNotFoundError) return null;
        throw err;
      }
    },

    async progress(id) {
      try {
        return await client.withDeadline(Date.now() + queryTimeoutMs, () =>
          client.workflow.getHandle(id).query(progressQuery),
        );
      } catch {
        return null; // no worker, no such query yet, or too slow: progress is best effort
      }
    },

    async outcome(id): Promise<RunOutcome> {
      const handle = client.workflow.getHandle(id);
      const d = await handle.describe();
      if (STATUS[d.status.name] === 'running') return { kind: 'pending' };
      try {
        return { kind: 'result', value: await handle.result() };
      } catch (err) {
        // The innermost typed failure says what happened (an activity's ApplicationFailure inside
        // Temporal's ActivityFailure wrapper), not the wrapper's "Activity task failed".
        let failure = (err instanceof WorkflowFailedError && err.cause ? err.cause : err) as Error & {
          type?: string | null;
          cause?: unknown;
        };
        while (!failure.type && failure.cause instanceof Error) failure = failure.cause as typeof failure;
        return { kind: 'error', message: failure.message, type: failure.type ?? failure.name ?? null };
      }
    },

    async cancel(id) {
      await client.workflow.getHandle(id).cancel();
    },
  };
}
