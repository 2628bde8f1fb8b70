// What a GPU worker can do beyond the engine is announced by the task queues it polls: next to the shared
// entry queue, a worker that loaded an LPIPS graph also answers getHostQueue on `<entry>-lpips`. A run
// that must have LPIPS asks that queue for its host (so it is pinned to a host that computes it), and a
// client can see before it starts anything whether any worker polls it. Dependency-free: the CLI, the
// API and the GPU worker import it alike.

/** The entry queue served only by GPU workers with an LPIPS graph. */
export function lpipsEntryQueue(entryQueue: string): string {
  return `${entryQueue}-lpips`;
}

/** temporal.api.enums.v1.TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY: getHostQueue is an activity. */
const ACTIVITY_TASK_QUEUE = 2;

/** The part of Temporal's WorkflowService this needs (a Connection's or a Client's workflowService). */
export interface TaskQueueDescriber {
  describeTaskQueue(request: {
    namespace: string;
    taskQueue: { name: string };
    taskQueueType: number;
  }): Promise<{ pollers?: unknown[] | null }>;
}

/** Whether any GPU worker with an LPIPS graph polls now (Temporal lists a queue's recent pollers). */
export async function lpipsWorkersPolling(
  service: TaskQueueDescriber,
  namespace: string,
  entryQueue: string,
): Promise<boolean> {
  const { pollers } = await service.describeTaskQueue({
    namespace,
    taskQueue: { name: lpipsEntryQueue(entryQueue) },
    taskQueueType: ACTIVITY_TASK_QUEUE,
  });
  return (pollers ?? []).length > 0;
}
