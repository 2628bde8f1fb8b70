// Starting a workflow from `cgm run` and `cgm batch`: on the light queue (where the workflows live),
// said on stderr, so that stdout keeps only the command's JSON result.
import type { Client, WorkflowHandleWithFirstExecutionRunId, WorkflowStartOptions } from '@temporalio/client';
import type { Workflow } from '@temporalio/common';
import type { Config } from '../core/config/index.js';

export async function startOnLightQueue<W extends Workflow>(
  client: Client,
  config: Config,
  workflowType: string,
  workflowId: string,
  args: Parameters<W>,
): Promise<WorkflowHandleWithFirstExecutionRunId<W>> {
  const taskQueue = config.temporal.taskQueues.light;
  // The cast: TypeScript cannot resolve the options' conditional `args` type for a generic W.
  const options = { taskQueue, workflowId, args } as unknown as WorkflowStartOptions<W>;
  const handle = await client.workflow.start<W>(workflowType, options);
  process.stderr.write(`cgm: started ${workflowId} on ${taskQueue}\n`);
  return handle;
}

/** `--detach`: the workflow id as the command's JSON result. */
export function printDetached(workflowId: string): number {
  process.stdout.write(`${JSON.stringify({ workflowId })}\n`);
  return 0;
}
