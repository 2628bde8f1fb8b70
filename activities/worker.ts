// The light worker (docs/architecture.md §2): the workflows plus the VLM, manifest, webhook and batch
// activities, all on the light queue.
import { fileURLToPath } from 'node:url';
import { Client } from '@temporalio/client';
import { type NativeConnection, Worker, type WorkerOptions } from '@temporalio/worker';
import type { ArtifactStore } from '../core/artifacts/store.js';
import { moduleUrl } from '../core/runtime/module-url.js';
import { createBatchActivities } from './batch/index.js';
import { createLightActivities } from './light/index.js';
import { createVlmActivities, type VlmActivitiesDeps } from './vlm/index.js';
import { createWebhookActivities, type WebhookActivityOptions } from './webhooks/index.js';

export const WORKFLOWS_PATH = fileURLToPath(moduleUrl('../workflows/index.ts', import.meta.url));

export interface LightWorkerOptions {
  connection: NativeConnection;
  namespace: string;
  taskQueue: string;
  store: ArtifactStore;
  vlm: Omit<VlmActivitiesDeps, 'store'>;
  /** Signing secret and URL policy of the signed completion webhooks (strict policy by default). */
  webhooks?: WebhookActivityOptions;
  /** A prebuilt bundle (bundleWorkflowCode) to skip bundling, e.g. once per test file. */
  workflowBundle?: WorkerOptions['workflowBundle'];
  shutdownGraceTime?: string;
}

export async function createLightWorker(options: LightWorkerOptions): Promise<Worker> {
  const activities = {
    ...createLightActivities({ store: options.store }),
    ...createWebhookActivities(options.webhooks),
    ...createVlmActivities({ ...options.vlm, store: options.store }),
    // Batches read their child runs' status and manifests through a client on the worker's connection.
    ...createBatchActivities({
      store: options.store,
      client: new Client({ connection: options.connection, namespace: options.namespace }),
    }),
  };
  return Worker.create({
    connection: options.connection,
    namespace: options.namespace,
    taskQueue: options.taskQueue,
    ...(options.workflowBundle
      ? { workflowBundle: options.workflowBundle }
      : { workflowsPath: WORKFLOWS_PATH }),
    activities,
    shutdownGraceTime: options.shutdownGraceTime ?? '10s',
  });
}
