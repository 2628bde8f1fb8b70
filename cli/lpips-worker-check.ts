// Before `cgm batch` stores anything: is there a GPU worker that computes LPIPS? Table 1 needs LPIPS
// beside VLM-Eff, and a batch started without such a worker would spend its GPU hours on outputs whose
// LPIPS is missing. GPU workers with an LPIPS graph poll the LPIPS entry queue (core/gpu-capabilities.ts);
// Temporal lists a queue's recent pollers.
import { lpipsEntryQueue, lpipsWorkersPolling, type TaskQueueDescriber } from '../core/gpu-capabilities.js';
import { CliError } from './cli-error.js';
import { EXIT } from './error-boundary.js';

/**
 * The LPIPS entry queue of `entryQueue`, once a worker polls it; otherwise a CliError (exit 69) saying
 * how to start one, or how to run the batch without LPIPS.
 */
export async function requireLpipsWorker(
  service: TaskQueueDescriber,
  namespace: string,
  entryQueue: string,
): Promise<string> {
  const queue = lpipsEntryQueue(entryQueue);
  if (await lpipsWorkersPolling(service, namespace, entryQueue)) return queue;
  throw new CliError(
    `no GPU worker with LPIPS polls ${queue} (namespace ${namespace}); nothing was stored. Start one with ` +
      '`cgm worker gpu --lpips DIR` (or `cgm dev --lpips DIR`), or pass --no-lpips to record VLM-Eff ' +
      'without LPIPS (the report then warns and leaves LPIPS cells empty)',
    EXIT.unavailable,
  );
}
