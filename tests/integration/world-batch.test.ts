// A street-world batch end to end: `cgm world dataset` writes two scenes with their true
// counterfactuals → `cgm batch --dataset world=DIR` (the real command) uploads them with their ground
// truth → batchWorkflow runs every scene once per variant through counterfactualWorkflow on the VLM path
// against the world VLM (an HTTP server answering from the oracle and the SCM) and a GPU worker on the
// trained world model → the records carry VLM-Eff, LPIPS and the ground truth. Few steps: the records'
// bookkeeping is under test, not the counterfactuals' quality (bench/world-experiment.ts measures that).
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  bundleWorkflowCode,
  DefaultLogger,
  NativeConnection,
  Runtime,
  type Worker,
} from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createLightWorker, WORKFLOWS_PATH } from '../../activities/worker.js';
import { ensureWorldBundle } from '../../cli/world-model.js';
import { type ArtifactStore, createArtifactStore, createS3Client } from '../../core/artifacts/index.js';
import { parseJsonl } from '../../core/eval/jsonl.js';
import { type EvaluatedRecord, parseEvalRecords } from '../../core/eval/results.js';
import { BatchOutcomeSchema } from '../../core/schemas/batch-io.js';
import { RunManifestSchema } from '../../core/schemas/run-manifest.js';
import { loadWorldDataset } from '../../core/world/dataset.js';
import { loadWorldScm } from '../../core/world/scm.js';
import { type RunningWorldVlm, startWorldVlmServer } from '../../core/world/vlm-server.js';
import { type GpuEngine, startEngine } from '../../gpu-worker/activities/engine.js';
import { createGpuWorkers, type GpuWorkers } from '../../gpu-worker/worker.js';
import { ensureTinyFixtures, FIXTURES_TIMEOUT_MS } from '../support/fixtures.js';
import { REPO_ROOT, spawnCgm } from '../support/process-cgm.js';

const services = inject('cgmServices');
const scm = loadWorldScm();
const suffix = `${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 6)}`;
const lightQueue = `world-batch-light-${suffix}`;
const gpuQueue = `world-batch-gpu-${suffix}`;
const SCENES = 2;
// 12 steps: CSG's 10 warm-up steps leave it 2 edit steps; the variant runs CSG alone at 11.
const STEPS = '12';

let tmp = '';
let worldDir = '';
let native: NativeConnection;
let store: ArtifactStore;
let engine: GpuEngine;
let vlm: RunningWorldVlm;
let lightWorker: Worker;
let gpu: GpuWorkers;
const running: Promise<void>[] = [];

function cgmWorldDataset(out: string): Promise<void> {
  return new Promise((resolve, reject) =>
    execFile(
      process.execPath,
      ['bin/cgm.mjs', 'world', 'dataset', '--n', String(SCENES), '--seed', '5', '--out', out],
      { cwd: REPO_ROOT },
      (err, _out, stderr) => (err ? reject(new Error(`cgm world dataset: ${stderr}`)) : resolve()),
    ),
  );
}

beforeAll(async () => {
  try {
    Runtime.install({ logger: new DefaultLogger('WARN') });
  } catch {
    // installed by another file in this process
  }
  tmp = await mkdtemp(join(tmpdir(), 'cgm-world-batch-'));
  worldDir = join(tmp, 'world');
  const [modelDir, fixtures, workflowBundle] = await Promise.all([
    ensureWorldBundle(),
    ensureTinyFixtures(),
    bundleWorkflowCode({ workflowsPath: WORKFLOWS_PATH, logger: new DefaultLogger('WARN') }),
    cgmWorldDataset(worldDir),
  ]);
  native = await NativeConnection.connect({ address: services.temporal.address });
  store = createArtifactStore({ client: createS3Client(services.s3), bucket: services.s3.bucket });
  engine = await startEngine({ modelDir, lpipsDir: fixtures.lpipsDir, device: 'cpu' });
  vlm = await startWorldVlmServer({ dataset: worldDir });
  lightWorker = await createLightWorker({
    connection: native,
    namespace: services.temporal.namespace,
    taskQueue: lightQueue,
    store,
    vlm: { settings: { baseURL: vlm.baseURL, model: 'cgm-world-vlm' } },
    webhooks: { secret: undefined, policy: { allowPrivate: true, allowHttp: true, allowedHosts: [] } },
    workflowBundle,
  });
  gpu = await createGpuWorkers({
    connection: native,
    namespace: services.temporal.namespace,
    entryQueue: gpuQueue,
    engine,
    store,
    shutdownGraceTime: '2s',
  });
  running.push(lightWorker.run(), gpu.run());
}, FIXTURES_TIMEOUT_MS);

afterAll(async () => {
  lightWorker?.shutdown();
  gpu?.shutdown();
  await Promise.allSettled(running);
  await engine?.close();
  await vlm?.close();
  await native?.close();
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

describe('a street-world batch through the workflow with the world VLM', () => {
  it('scores every (scene, intervention, method) exactly once against its ground truth', async () => {
    const { s3, temporal } = services;
    const out = join(tmp, 'out');
    const batch = spawnCgm(
      'cgm batch',
      [
        'batch',
        '--dataset',
        `world=${worldDir}`,
        '--per-dataset',
        String(SCENES),
        '--steps',
        STEPS,
        '--variant',
        'paper',
        '--variant',
        'csg11:methods=csg,steps=11',
        '--id',
        `world-batch-${suffix}`,
        '--out',
        out,
      ],
      {
        ...process.env,
        CGM_TEMPORAL_ADDRESS: temporal.address,
        CGM_TEMPORAL_NAMESPACE: temporal.namespace,
        CGM_TASK_QUEUE_LIGHT: lightQueue,
        CGM_TASK_QUEUE_GPU: gpuQueue,
        CGM_S3_ENDPOINT: s3.endpoint,
        CGM_S3_REGION: s3.region,
        CGM_S3_BUCKET: s3.bucket,
        CGM_S3_ACCESS_KEY_ID: s3.accessKeyId,
        CGM_S3_SECRET_ACCESS_KEY: s3.secretAccessKey,
      },
    );
    const exit = await batch.exited;
    expect(exit.code, batch.stderr()).toBe(0);

    const dataset = loadWorldDataset(worldDir, scm);
    const records = parseEvalRecords(await readFile(join(out, 'results.jsonl'), 'utf8'));
    // Every scene × its three interventions × (CSG, DDPM, DDIM at 12 steps; CSG at 11), once each.
    const keys = records.map((r) => `${r.imageId}|${r.interventionId}|${r.method}`);
    expect(new Set(keys).size).toBe(keys.length);
    const expected = dataset.scenes.flatMap((s) =>
      ['intervention_1', 'intervention_2', 'intervention_3'].flatMap((iv) =>
        ['csg', 'ddpm', 'ddim', 'csg+steps11'].map((m) => `${s.id}|${iv}|${m}`),
      ),
    );
    expect([...keys].sort()).toEqual([...expected].sort());
    expect(records.every((r) => r.status === 'evaluated' && r.dataset === 'world')).toBe(true);

    const outcomes = parseJsonl(await readFile(join(out, 'outcomes.jsonl'), 'utf8'), BatchOutcomeSchema, 'o');
    for (const r of records as EvaluatedRecord[]) {
      const scene = dataset.scenes.find((s) => s.id === r.imageId)!;
      const g = r.groundTruth!;
      expect(g, `${r.imageId} ${r.interventionId} ${r.method}`).toBeDefined();
      // The world VLM proposed the data set's own do()s: the true image is there to compare with.
      const truth = scene.interventions.find((iv) => iv.id === g.truthInterventionId)!;
      expect(truth.do).toEqual(g.do);
      expect(g.trueImage?.kind).toBe('s3');
      expect([0, 1]).toContain(g.intervened);
      for (const v of [g.descendants, g.changedDescendants, g.preservation, g.ssimToTrue, g.ssimToOriginal])
        if (v !== null) expect(v >= -1 && v <= 1).toBe(true);
      expect(g.psnrToTrue!).toBeGreaterThan(5);
      expect(g.psnrToTrue!).toBeLessThanOrEqual(100);
      expect(g.psnrToOriginal).toBeGreaterThan(5);
      expect(Object.keys(g.oracle).sort()).toEqual(scm.attributes.map((a) => a.id).sort());
      // Masks are scored for CSG only.
      if (r.method.startsWith('csg')) expect(g.masks === null || typeof g.masks === 'object').toBe(true);
      else expect(g.masks).toBeNull();

      // VLM-Eff is what the judge answered: its yes over the intervened + descendant items of the run.
      const outcome = outcomes.find(
        (o) => o.imageId === r.imageId && o.variant === (r.method === 'csg+steps11' ? 'csg11' : 'paper'),
      )!;
      const manifest = await store.getJson(RunManifestSchema, outcome.manifest!);
      const output = manifest.outputs.find(
        (o) => o.interventionId === r.interventionId && o.method === r.method.split('+')[0],
      )!;
      const answers = output.judge!.verdict.concept_checks;
      const scored = r.checks.filter((c) => c.nodeType !== 'non_descendant_must_stay');
      expect(scored.every((c) => c.answered)).toBe(true);
      const yes = scored.filter(
        (c) => answers.find((a) => a.concept_name === c.concept_name)?.present === 'yes',
      ).length;
      expect(r.vlmEff).toBeCloseTo(yes / scored.length, 12);
      // The world VLM's judge reads with the same oracle as the ground truth: their intervened agree.
      expect(r.checks[0].present === 'yes' ? 1 : 0).toBe(g.intervened);
    }

    const report = await readFile(join(out, 'report.md'), 'utf8');
    expect(report).toContain('## Ground truth (street world)');
    expect(report).toContain('| CSG +steps11 |');
    expect(report).toMatch(/seeded random backbone/);
  }, 900_000);
});
