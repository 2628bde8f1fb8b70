// The running activity's logger: its lines carry namespace, taskQueue, workflowId, runId, workflowType,
// activityId, activityType and attempt (the SDK's), and go to the worker's log (core/log). Null outside
// an activity: `cgm extract` and `cgm edit` call the same code directly.
import { Context } from '@temporalio/activity';

export function activityLog(): Context['log'] | null {
  try {
    return Context.current().log;
  } catch {
    return null;
  }
}
