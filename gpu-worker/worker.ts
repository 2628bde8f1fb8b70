// The GPU worker process (docs/architecture.md §2): one engine thread, two or three Temporal Workers. The
// entry Worker polls the shared GPU queue and only answers getHostQueue; with an LPIPS graph a second one
// answers it on the LPIPS entry queue (core/gpu-capabilities.ts), so runs that need LPIPS find this host;
// the host Worker polls this process's own queue and runs invert/edit one at a time (one GPU, one slot),
// so a run pinned here keeps its inversion in this engine's memory.
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { type NativeConnection, Worker } from '@temporalio/worker';
import type { ArtifactStore } from '../core/artifacts/store.js';
import { lpipsEntryQueue } from '../core/gpu-capabilities.js';
import type { GpuEngine } from './activities/engine.js';
import { createGpuActivities } from './activities/index.js';

export interface GpuWorkersOptions {
  connection: NativeConnection;
  namespace: string;
  /** The shared entry queue (config CGM_TASK_QUEUE_GPU). */
  entryQueue: string;
  engine: GpuEngine;
  store: ArtifactStore;
  /** Default: `<entryQueue>-host-<hostname>-<random>`, unique per process start. */
  hostQueue?: string;
  /** How long an in-flight GPU activity may finish after shutdown begins (it is cancelled after). */
  shutdownGraceTime?: string;
}

export interface GpuWorkers {
  readonly hostQueue: string;
  readonly entry: Worker;
  /** The entry Worker on the LPIPS entry queue; null without an LPIPS graph. */
  readonly lpipsEntry: Worker | null;
  readonly host: Worker;
  /** Runs both until shutdown() (or a fatal error in either, which stops the other). */
  run(): Promise<void>;
  shutdown(): void;
}

export function defaultHostQueue(entryQueue: string): string {
  const host = hostname()
    .replace(/[^A-Za-z0-9.-]/g, '-')
    .slice(0, 40);
  return `${entryQueue}-host-${host}-${randomUUID().slice(0, 8)}`;
}

export async function createGpuWorkers(options: GpuWorkersOptions): Promise<GpuWorkers> {
  const hostQueue = options.hostQueue ?? defaultHostQueue(options.entryQueue);
  const activities = createGpuActivities({ engine: options.engine, store: options.store, hostQueue });
  const common = {
    connection: options.connection,
    namespace: options.namespace,
    shutdownGraceTime: options.shutdownGraceTime ?? '30s',
    // Heartbeats carry step progress; flush them often enough for a progress bar and for cancellation.
    defaultHeartbeatThrottleInterval: '2s',
    maxHeartbeatThrottleInterval: '10s',
  };
  const entryOn = (taskQueue: string) =>
    Worker.create({
      ...common,
      taskQueue,
      activities: { getHostQueue: activities.getHostQueue },
      maxConcurrentActivityTaskExecutions: 4, // answering "which queue" uses no GPU
    });
  const entry = await entryOn(options.entryQueue);
  const lpipsEntry = options.engine.lpips ? await entryOn(lpipsEntryQueue(options.entryQueue)) : null;
  const host = await Worker.create({
    ...common,
    taskQueue: hostQueue,
    activities: { invert: activities.invert, edit: activities.edit },
    maxConcurrentActivityTaskExecutions: 1, // the one GPU slot of this process
  });
  const workers = lpipsEntry ? [entry, lpipsEntry, host] : [entry, host];
  const shutdown = () => {
    for (const w of workers) {
      if (w.getState() === 'RUNNING') w.shutdown();
    }
  };
  return {
    hostQueue,
    entry,
    lpipsEntry,
    host,
    shutdown,
    async run() {
      const runs = workers.map((w) => w.run());
      try {
        await Promise.all(
          runs.map((r) =>
            r.catch((err: unknown) => {
              shutdown(); // one Worker failing stops the other: half a GPU worker is no worker
              throw err;
            }),
          ),
        );
      } finally {
        await Promise.allSettled(runs);
      }
    },
  };
}
