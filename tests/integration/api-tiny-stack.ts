// In-process workers on the tiny model for tests and benchmarks that drive real counterfactual runs:
// a light worker (the real bundled workflows, manifest/VLM/webhook activities) and a GPU worker (engine
// thread on the tiny SDXL-architecture bundle), each on its own fresh task queues. close() stops
// everything started here; the Temporal server and S3 are the caller's.
import {
  bundleWorkflowCode,
  DefaultLogger,
  NativeConnection,
  Runtime,
  type Worker,
} from '@temporalio/worker';
import { createLightWorker, WORKFLOWS_PATH } from '../../activities/worker.js';
import { type ArtifactStore, createArtifactStore, createS3Client } from '../../core/artifacts/index.js';
import type { S3Settings } from '../../core/artifacts/s3-client.js';
import type { WebhookUrlPolicy } from '../../core/webhooks/url-policy.js';
import { type GpuEngine, startEngine } from '../../gpu-worker/activities/engine.js';
import { createGpuWorkers, type GpuWorkers } from '../../gpu-worker/worker.js';
import { ensureTinyFixtures } from '../support/fixtures.js';

export interface TinyStackOptions {
  temporal: { address: string; namespace: string };
  s3: S3Settings & { bucket: string };
  /** OpenAI-compatible VLM (the fake server in tests); unset: an address nothing answers on. */
  vlmBaseURL?: string;
  webhooks?: { secret?: string; policy?: WebhookUrlPolicy };
  /** Prefix of the task queue names (a timestamp and random suffix are added). */
  name?: string;
}

export interface TinyStack {
  readonly lightQueue: string;
  readonly gpuQueue: string;
  readonly hostQueue: string;
  /** The artifact store the workers write to (same bucket as the API's uploads). */
  readonly store: ArtifactStore;
  readonly workflowBundle: Awaited<ReturnType<typeof bundleWorkflowCode>>;
  /** The GPU worker's engine, for tests that compare with a direct engine call. */
  readonly engine: GpuEngine;
  close(): Promise<void>;
}

export const uniqueName = (name: string) =>
  `${name}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 6)}`;

export async function startTinyStack(options: TinyStackOptions): Promise<TinyStack> {
  try {
    Runtime.install({ logger: new DefaultLogger('WARN') });
  } catch {
    // installed earlier in this process
  }
  const name = options.name ?? 'tiny';
  const lightQueue = uniqueName(`${name}-light`);
  const gpuQueue = uniqueName(`${name}-gpu`);
  const s3Client = createS3Client(options.s3);
  const store = createArtifactStore({ client: s3Client, bucket: options.s3.bucket, prefix: 'tiny-stack' });
  const native = await NativeConnection.connect({ address: options.temporal.address });
  let engine: GpuEngine | null = null;
  let light: Worker | null = null;
  let gpu: GpuWorkers | null = null;
  const running: Promise<void>[] = [];
  const close = async () => {
    light?.shutdown();
    gpu?.shutdown();
    await Promise.allSettled(running);
    await engine?.close();
    await native.close();
    s3Client.destroy();
  };
  try {
    const [fixtures, workflowBundle] = await Promise.all([
      ensureTinyFixtures(),
      bundleWorkflowCode({ workflowsPath: WORKFLOWS_PATH, logger: new DefaultLogger('WARN') }),
    ]);
    engine = await startEngine({ modelDir: fixtures.bundleDir, lpipsDir: fixtures.lpipsDir, device: 'cpu' });
    light = await createLightWorker({
      connection: native,
      namespace: options.temporal.namespace,
      taskQueue: lightQueue,
      store,
      vlm: {
        settings: {
          baseURL: options.vlmBaseURL ?? 'http://127.0.0.1:9/v1',
          model: 'Qwen/Qwen3-VL-30B-A3B-Instruct',
        },
      },
      webhooks: options.webhooks,
      workflowBundle,
      shutdownGraceTime: '2s',
    });
    gpu = await createGpuWorkers({
      connection: native,
      namespace: options.temporal.namespace,
      entryQueue: gpuQueue,
      engine,
      store,
      shutdownGraceTime: '2s',
    });
    running.push(light.run(), gpu.run());
    return { lightQueue, gpuQueue, hostQueue: gpu.hostQueue, store, workflowBundle, engine, close };
  } catch (err) {
    await close();
    throw err;
  }
}
