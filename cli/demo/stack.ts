// What both demos do with the local stack once it is up: configure worker processes as production does
// (CGM_* variables only, queues of their own), and read a finished run's manifest back from S3.

import type { ChildProcess } from 'node:child_process';
import { createArtifactStore, createS3Client } from '../../core/artifacts/index.js';
import type { ArtifactStore } from '../../core/artifacts/store.js';
import { type ArtifactRef, ArtifactRefSchema } from '../../core/schemas/artifact.js';
import { type RunManifest, RunManifestSchema } from '../../core/schemas/run-manifest.js';
import { servicesDown, type UpResult } from '../../infra/local/services.js';
import { stackEnv } from '../local-stack.js';
import { stopProcesses } from './processes.js';

type StackState = UpResult['state'];

/** Environment of `cgm worker light|gpu` and `cgm run` against the demo's stack and model bundle. */
export function demoWorkerEnv(
  state: StackState,
  modelDir: string,
  extra: NodeJS.ProcessEnv = {},
): NodeJS.ProcessEnv {
  const suffix = Date.now().toString(36);
  return {
    ...process.env,
    ...stackEnv(state),
    CGM_TASK_QUEUE_LIGHT: `demo-light-${suffix}`,
    CGM_TASK_QUEUE_GPU: `demo-gpu-${suffix}`,
    CGM_MODEL_DIR: modelDir,
    CGM_ENGINE_DEVICE: 'cpu',
    ...extra,
  };
}

export interface FinishedRun {
  workflowId?: string;
  manifestRef: ArtifactRef;
  manifest: RunManifest;
  store: ArtifactStore;
}

/** The manifest named by the last line `cgm run` printed, read (checksum-verified) from the stack's S3. */
export async function readFinishedRun(state: StackState, runStdout: string): Promise<FinishedRun> {
  const s3 = state.endpoints.s3;
  const last = JSON.parse(runStdout.trim().split('\n').at(-1) ?? '{}') as {
    workflowId?: string;
    manifest?: unknown;
  };
  const manifestRef = ArtifactRefSchema.parse(last.manifest);
  const store = createArtifactStore({
    client: createS3Client({
      endpoint: s3.endpoint,
      region: s3.region,
      accessKeyId: s3.accessKeyId,
      secretAccessKey: s3.secretAccessKey,
    }),
    bucket: s3.bucket,
  });
  const manifest = await store.getJson(RunManifestSchema, manifestRef);
  return { workflowId: last.workflowId, manifestRef, manifest, store };
}

/** Stops the demo's child processes, then the stack unless it is to be kept. */
export async function stopDemo(
  children: ChildProcess[],
  stateDir: string,
  keepServices: boolean,
  log: (line: string) => void,
): Promise<void> {
  await stopProcesses(children);
  if (keepServices) return;
  const down = await servicesDown(stateDir);
  log(`stack stopped (${down.stopped.map((s) => `${s.name}: ${s.outcome}`).join(', ')})`);
}
