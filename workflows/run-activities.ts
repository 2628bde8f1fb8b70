// How the per-image workflow reaches its activities: the light, webhook and VLM proxies, the GPU entry
// queue and a pinned GPU host, with their timeouts and retries beside them (conventions), and how a
// failure is read (host lost? VLM attempts carried? the innermost message). Workflow code: no I/O.
import {
  ActivityCancellationType,
  ActivityFailure,
  ApplicationFailure,
  isCancellation,
  proxyActivities,
  TimeoutFailure,
} from '@temporalio/workflow';
import type { LightActivities } from '../activities/light/index.js';
import type { VlmActivities } from '../activities/vlm/index.js';
import type { WebhookActivities } from '../activities/webhooks/notify.js';
import {
  GPU_NON_RETRYABLE_TYPES,
  LIGHT_NON_RETRYABLE_TYPES,
  VLM_NON_RETRYABLE_TYPES,
  WEBHOOK_RETRY,
} from '../core/constants.js';
import type { VlmAttempt } from '../core/schemas/run-manifest.js';
import type { HostPolicy } from '../core/schemas/workflow-io.js';
import type { GpuActivities } from '../gpu-worker/activities/index.js';

/** Ceiling of one GPU edit call per plan it carries; heartbeats catch a dead host much sooner. */
export const EDIT_MINUTES_PER_PLAN = 20;
const GPU_NON_RETRYABLE: string[] = [...GPU_NON_RETRYABLE_TYPES];

// Light queue = the workflow's own queue. Timeouts and retries sit next to the proxies (conventions);
// the webhook's retry policy is shared with the batch workflow (core/constants.ts).
export const light = proxyActivities<LightActivities>({
  startToCloseTimeout: '1m',
  retry: {
    initialInterval: '1s',
    backoffCoefficient: 2,
    maximumInterval: '30s',
    maximumAttempts: 10,
    nonRetryableErrorTypes: [...LIGHT_NON_RETRYABLE_TYPES],
  },
});
export const webhook = proxyActivities<WebhookActivities>({
  startToCloseTimeout: '30s',
  retry: WEBHOOK_RETRY,
});
// One VLM attempt includes the activity's own validated re-asks; transport faults retry here.
export const vlm = proxyActivities<VlmActivities>({
  startToCloseTimeout: '10m',
  retry: {
    initialInterval: '2s',
    backoffCoefficient: 2,
    maximumInterval: '1m',
    maximumAttempts: 4,
    nonRetryableErrorTypes: [...VLM_NON_RETRYABLE_TYPES],
  },
});

export function gpuEntry(hosts: HostPolicy) {
  // Waits for any GPU worker to appear; the answer is cheap.
  return proxyActivities<Pick<GpuActivities, 'getHostQueue'>>({
    taskQueue: hosts.gpuTaskQueue,
    scheduleToCloseTimeout: '10m',
    startToCloseTimeout: '10s',
    retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '30s' },
  });
}

export function gpuHost(queue: string, hosts: HostPolicy, startToClose: string) {
  return proxyActivities<Pick<GpuActivities, 'invert' | 'edit'>>({
    taskQueue: queue,
    // A dead host never picks the task up: fail fast (not retried by the server) and move on.
    scheduleToStartTimeout: `${hosts.hostScheduleToStartSeconds}s`,
    startToCloseTimeout: startToClose,
    heartbeatTimeout: `${hosts.heartbeatSeconds}s`,
    // Free the GPU before the workflow writes the manifest of a cancelled run.
    cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
    retry: {
      initialInterval: '5s',
      backoffCoefficient: 2,
      maximumInterval: '2m',
      maximumAttempts: 3,
      nonRetryableErrorTypes: GPU_NON_RETRYABLE,
    },
  });
}

/** A failure that another host might not have: timeouts and exhausted retryable errors. */
export function isHostLoss(err: unknown): boolean {
  if (!(err instanceof ActivityFailure) || isCancellation(err)) return false;
  const cause = err.cause;
  if (cause instanceof TimeoutFailure) return true;
  if (cause instanceof ApplicationFailure)
    return !cause.nonRetryable && !GPU_NON_RETRYABLE.includes(cause.type ?? '');
  return false;
}

/** VLM attempt records carried by a failed VLM activity (activities/vlm/failures.ts details[0]). */
export function attemptsOf(err: unknown): VlmAttempt[] {
  const cause = err instanceof ActivityFailure ? err.cause : err;
  if (!(cause instanceof ApplicationFailure)) return [];
  const d = cause.details?.[0] as { attempts?: VlmAttempt[] } | undefined;
  return Array.isArray(d?.attempts) ? d.attempts : [];
}

export function messageOf(err: unknown): string {
  let e: unknown = err;
  while (e instanceof ActivityFailure && e.cause) e = e.cause;
  return e instanceof Error ? e.message : String(e);
}
