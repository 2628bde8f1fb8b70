// A workflow that logs and calls one activity that logs: tests/integration/worker-log.test.ts checks
// what the worker's log lines say about them.
import { log, proxyActivities } from '@temporalio/workflow';

const { greet } = proxyActivities<{ greet(name: string): Promise<string> }>({ startToCloseTimeout: '30s' });

export async function loggedWorkflow(name: string): Promise<string> {
  log.info('greeting', { name });
  return greet(name);
}
