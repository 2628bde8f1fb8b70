// batchWorkflow on the real stack: Temporal dev server, SeaweedFS, an in-process light worker (bundled
// workflows, batch activities, a VLM test server that answers by schema) and a GPU worker on the tiny
// model. Children take the VLM path (caption from the manifest; graph and interventions from the VLM).
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client, Connection, WorkflowFailedError } from '@temporalio/client';
import { CancelledFailure } from '@temporalio/common';
import { bundleWorkflowCode, DefaultLogger, NativeConnection, Runtime, Worker } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createLightWorker, WORKFLOWS_PATH } from '../../activities/worker.js';
import { CliError } from '../../cli/cli-error.js';
import { requireLpipsWorker } from '../../cli/lpips-worker-check.js';
import { type ArtifactStore, createArtifactStore, createS3Client } from '../../core/artifacts/index.js';
import { type BatchManifestLine, serialiseBatchManifest } from '../../core/eval/batch-manifest.js';
import { loadCelebaHq } from '../../core/eval/datasets/celeba.js';
import { loadCoco } from '../../core/eval/datasets/coco.js';
import { parseJsonl } from '../../core/eval/jsonl.js';
import type { Report } from '../../core/eval/report.js';
import { parseEvalRecords } from '../../core/eval/results.js';
import { sampleWithoutReplacement } from '../../core/eval/sampling.js';
import { lpipsEntryQueue } from '../../core/gpu-capabilities.js';
import type { ArtifactRef } from '../../core/schemas/artifact.js';
import {
  type BatchInputRaw,
  BatchInputSchema,
  type BatchOutcome,
  BatchOutcomeSchema,
  type BatchProgress,
  type BatchResult,
} from '../../core/schemas/batch-io.js';
import { RunManifestSchema } from '../../core/schemas/run-manifest.js';
import { type GpuEngine, startEngine } from '../../gpu-worker/activities/engine.js';
import { createGpuWorkers, type GpuWorkers } from '../../gpu-worker/worker.js';
import type { batchWorkflow } from '../../workflows/batch.js';
import { syntheticPng, writeCelebaDataset, writeCocoDataset } from '../support/batch-datasets.js';
import { type BatchVlmServer, startBatchVlmServer } from '../support/batch-vlm-server.js';
import { ensureTinyFixtures, FIXTURES_TIMEOUT_MS } from '../support/fixtures.js';

const services = inject('cgmServices');
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const WEBHOOK_SECRET = 'whsec_Zm0tY2dtIGludGVncmF0aW9uIHRlc3Qgd2ViaG9vayBzZWNyZXQhIQ==';
const unique = (name: string) =>
  `${name}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 6)}`;
// Few steps keep the tiny model cheap; one proposed intervention per image.
const ENGINE = { inversion: { numSteps: 4 }, baselines: { numSteps: 4 } };

let connection: Connection;
let native: NativeConnection;
let client: Client;
let store: ArtifactStore;
let engine: GpuEngine;
let vlm: BatchVlmServer;
let lightWorker: Worker;
let gpu: GpuWorkers;
let hooks: Server;
let tmp: string;
let workflowBundle: Awaited<ReturnType<typeof bundleWorkflowCode>>;
const running: Promise<void>[] = [];
const received: { type: string; data: Record<string, unknown> }[] = [];
const lightQueue = unique('batch-light');
const gpuQueue = unique('batch-gpu');

beforeAll(async () => {
  try {
    Runtime.install({ logger: new DefaultLogger('WARN') });
  } catch {
    // installed by another file in this process
  }
  connection = await Connection.connect({ address: services.temporal.address });
  native = await NativeConnection.connect({ address: services.temporal.address });
  client = new Client({ connection, namespace: services.temporal.namespace });
  store = createArtifactStore({ client: createS3Client(services.s3), bucket: services.s3.bucket });
  tmp = await mkdtemp(join(tmpdir(), 'cgm-batch-'));
  let fixtures: Awaited<ReturnType<typeof ensureTinyFixtures>>;
  [fixtures, workflowBundle] = await Promise.all([
    ensureTinyFixtures(),
    bundleWorkflowCode({ workflowsPath: WORKFLOWS_PATH, logger: new DefaultLogger('WARN') }),
  ]);
  engine = await startEngine({ modelDir: fixtures.bundleDir, lpipsDir: fixtures.lpipsDir, device: 'cpu' });
  vlm = await startBatchVlmServer();
  lightWorker = await createLightWorker({
    connection: native,
    namespace: services.temporal.namespace,
    taskQueue: lightQueue,
    store,
    vlm: { settings: { baseURL: vlm.baseURL, model: 'Qwen/Qwen3-VL-30B-A3B-Instruct' } },
    webhooks: { secret: WEBHOOK_SECRET, policy: { allowPrivate: true, allowHttp: true, allowedHosts: [] } },
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
  hooks = createServer((req, res) => {
    let body = '';
    req.on('data', (d) => {
      body += d;
    });
    req.on('end', () => {
      received.push(JSON.parse(body));
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((r) => hooks.listen(0, '127.0.0.1', r));
}, FIXTURES_TIMEOUT_MS);

afterAll(async () => {
  lightWorker?.shutdown();
  gpu?.shutdown();
  await Promise.allSettled(running);
  await engine?.close();
  await vlm?.close();
  await new Promise((r) => hooks?.close(r));
  await native?.close();
  await connection?.close();
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

const text = async (ref: ArtifactRef) => new TextDecoder().decode(await store.get(ref));

/** A manifest of `n` COCO-named images in S3; the images at `broken` are not images at all. */
async function s3Manifest(
  n: number,
  broken: number[] = [],
): Promise<{ ref: ArtifactRef; lines: BatchManifestLine[] }> {
  const lines: BatchManifestLine[] = [];
  for (let k = 0; k < n; k++) {
    const bytes = broken.includes(k) ? Buffer.from('this is not an image') : await syntheticPng(k);
    const { ref } = await store.put(bytes, { contentType: 'image/png', prefix: 'batch-test-inputs' });
    lines.push({
      dataset: 'coco',
      id: String(5000 + k),
      image: { kind: 's3', ref },
      caption: `a street scene number ${k}`,
      captionRule: 'coco:lowest-annotation-id',
      drawIndex: k,
    });
  }
  const { ref } = await store.put(new TextEncoder().encode(serialiseBatchManifest(lines)), {
    contentType: 'application/x-ndjson',
    prefix: 'batch-test-manifests',
  });
  return { ref, lines };
}

function batchInput(manifest: ArtifactRef, over: Partial<BatchInputRaw> = {}) {
  return BatchInputSchema.parse({
    manifest,
    run: {
      methods: ['csg'],
      engine: ENGINE,
      planning: { warmup: 1 },
      evaluate: { judge: false },
      hosts: { gpuTaskQueue: gpuQueue },
      proposeCount: 1,
    },
    ...over,
  });
}

/** Polls the progress query until the batch ends, keeping every answer. */
function watch(handle: { query<T>(name: string): Promise<T> }, result: Promise<unknown>) {
  const seen: BatchProgress[] = [];
  let over = false;
  void result.then(
    () => {
      over = true;
    },
    () => {
      over = true;
    },
  );
  const done = (async () => {
    while (!over) {
      const p = await handle.query<BatchProgress>('batchProgress').catch(() => null);
      if (p) seen.push(p);
      await new Promise((r) => setTimeout(r, 100));
    }
  })();
  return { seen, done };
}

const outcomesOf = async (ref: ArtifactRef) => parseJsonl(await text(ref), BatchOutcomeSchema, ref.key);

describe('batchWorkflow', () => {
  it('runs 20 images (window 3, pages of 7) with one broken image: 19 succeeded + 1 failed, each exactly once', async () => {
    const { ref, lines } = await s3Manifest(20, [13]);
    const workflowId = unique('batch-a');
    const handle = await client.workflow.start<typeof batchWorkflow>('batchWorkflow', {
      taskQueue: lightQueue,
      workflowId,
      args: [
        batchInput(ref, {
          window: 3,
          pageSize: 7,
          webhook: { url: `http://127.0.0.1:${(hooks.address() as AddressInfo).port}/hook` },
        }),
      ],
      workflowExecutionTimeout: '15m',
    });
    const result = handle.result();
    const { seen, done } = watch(handle, result);
    const out: BatchResult = await result;
    await done;

    expect(out).toMatchObject({ batchId: workflowId, total: 20, succeeded: 19, failed: 1 });
    const outcomes = await outcomesOf(out.outcomes);
    // Every image exactly once, in draw order, under its derived child id.
    expect(outcomes.map((o) => o.imageId)).toEqual(lines.map((l) => l.id));
    expect(new Set(outcomes.map((o) => o.runId)).size).toBe(20);
    for (const o of outcomes) expect(o.runId).toBe(`${workflowId}/paper/coco/${o.imageId}`);
    const failed = outcomes.filter((o) => o.status !== 'succeeded');
    expect(failed.map((o) => [o.imageId, o.status, o.error?.type])).toEqual([
      ['5013', 'failed', 'VlmInvalidInput'],
    ]);
    // The broken child got as far as writing its manifest, which says where it stopped.
    const brokenManifest = await store.getJson(RunManifestSchema, failed[0].manifest!);
    expect(brokenManifest.status).toBe('failed');
    expect(brokenManifest.stages.extract?.status).toBe('failed');
    for (const o of outcomes.filter((x) => x.status === 'succeeded')) expect(o.manifest).not.toBeNull();

    // The window held, the pages continued as new, the counters agree with the outcomes.
    const maxRunning = Math.max(...seen.map((p) => p.running.length));
    expect(maxRunning).toBeLessThanOrEqual(3);
    expect(maxRunning).toBeGreaterThanOrEqual(2);
    expect(new Set(seen.map((p) => p.page))).toEqual(new Set([0, 1, 2]));
    const last = await handle.query<BatchProgress>('batchProgress');
    expect(last).toMatchObject({ phase: 'done', page: 2, total: 20, succeeded: 19, failed: 1, running: [] });
    expect(last.result).toEqual(out);
    const firstRun = (await client.workflow.getHandle(workflowId, handle.firstExecutionRunId).describe())
      .status.name;
    expect(firstRun).toBe('CONTINUED_AS_NEW');
    // Deterministic: the first and the last run replay from their histories.
    for (const runId of [handle.firstExecutionRunId, undefined]) {
      const history = await client.workflow.getHandle(workflowId, runId).fetchHistory();
      // the batch id defaults to the workflow id: replay under the real one
      await Worker.runReplayHistory({ workflowBundle }, history, workflowId);
    }

    // One run per child id in Temporal: nothing was started twice.
    for (const o of outcomes) {
      const runs: string[] = [];
      for await (const w of client.workflow.list({ query: `WorkflowId = '${o.runId}'` })) runs.push(w.runId);
      expect(runs, o.runId).toHaveLength(1);
    }

    // Judge off: records say why there is no VLM-Eff; the broken image fails at extraction per method.
    const records = parseEvalRecords(await text(out.results));
    expect(records).toHaveLength(20);
    const broken = records.find((r) => r.imageId === '5013');
    expect(broken).toMatchObject({ status: 'failed', stage: 'extract', interventionId: '*', method: 'csg' });
    for (const r of records.filter((x) => x.imageId !== '5013')) {
      expect(r.status === 'failed' && r.reason).toMatch(/judge was turned off/);
    }

    // The webhook came once, with the report's references by content: no bucket or key anywhere.
    const hooksForBatch = received.filter((h) => h.data.batchId === workflowId);
    expect(hooksForBatch).toHaveLength(1);
    expect(hooksForBatch[0]).toMatchObject({
      type: 'batch.succeeded',
      data: { status: 'succeeded', result: { reportJson: { sha256: out.reportJson.sha256 } } },
    });
    expect(JSON.stringify(hooksForBatch[0])).not.toMatch(/"bucket"|"key"/);
  }, 900_000);

  it('refuses a manifest with a local image path, naming the line', async () => {
    const { lines } = await s3Manifest(2);
    const local = [
      ...lines,
      { ...lines[0], id: '7777', image: { kind: 'local' as const, path: 'val2017/x.png' } },
    ];
    const { ref } = await store.put(new TextEncoder().encode(`\n${serialiseBatchManifest(local)}`), {
      contentType: 'application/x-ndjson',
    });
    const handle = await client.workflow.start<typeof batchWorkflow>('batchWorkflow', {
      taskQueue: lightQueue,
      workflowId: unique('batch-local'),
      args: [batchInput(ref)],
      workflowExecutionTimeout: '2m',
    });
    const err = await handle.result().then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(WorkflowFailedError);
    const cause = (err as WorkflowFailedError).cause; // the activity's failure, its cause the reason
    expect((cause?.cause as Error | undefined)?.message).toMatch(
      /:4: image: expected kind 's3'.*'val2017\/x\.png' for coco id 7777/,
    );
  }, 120_000);

  it('cancellation cancels the children and still writes the report of what finished', async () => {
    const { ref } = await s3Manifest(6);
    const handle = await client.workflow.start<typeof batchWorkflow>('batchWorkflow', {
      taskQueue: lightQueue,
      workflowId: unique('batch-cancel'),
      args: [batchInput(ref, { window: 2 })],
      workflowExecutionTimeout: '10m',
    });
    const t0 = Date.now();
    for (;;) {
      const p = await handle.query<BatchProgress>('batchProgress').catch(() => null);
      if (p && p.succeeded >= 1) break;
      if (Date.now() - t0 > 300_000) throw new Error(`no child finished in 300 s: ${JSON.stringify(p)}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    await handle.cancel();
    const err = await handle.result().then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(WorkflowFailedError);
    expect((err as WorkflowFailedError).cause).toBeInstanceOf(CancelledFailure);
    const p = await handle.query<BatchProgress>('batchProgress');
    expect(p.phase).toBe('cancelled');
    expect(p.result).toBeTruthy();
    const outcomes: BatchOutcome[] = await outcomesOf(p.result!.outcomes);
    expect(outcomes.length).toBeLessThan(6);
    expect(outcomes.filter((o) => o.status === 'succeeded').length).toBeGreaterThanOrEqual(1);
    const cancelled = outcomes.filter((o) => o.status === 'cancelled');
    expect(cancelled.length).toBeGreaterThanOrEqual(1);
    // Cancelled children ended (none left running) and wrote manifests saying so.
    for (const o of outcomes) {
      const status = (await client.workflow.getHandle(o.runId).describe()).status.name;
      expect(status).toBe(o.status === 'succeeded' ? 'COMPLETED' : 'CANCELLED');
    }
    for (const o of cancelled) {
      expect((await store.getJson(RunManifestSchema, o.manifest!)).status).toBe('cancelled');
    }
    expect(p.result).toMatchObject({ total: 6, succeeded: outcomes.length - cancelled.length });
  }, 600_000);
});

describe('cgm batch over both synthetic data sets', () => {
  const LAUNCHER = `${ROOT}.cache/tmp/cgm-batch-command-${process.pid}.mjs`;

  function exited(child: ChildProcess): Promise<number | null> {
    return child.exitCode !== null
      ? Promise.resolve(child.exitCode)
      : new Promise((r) => child.once('exit', (code) => r(code)));
  }

  it('samples, uploads, runs with the VLM judge and writes a report whose Table 1 the per-image manifests reproduce', async () => {
    const coco = join(tmp, 'coco');
    const celeba = join(tmp, 'celeba');
    await writeCocoDataset(coco, [397133, 37777, 252219]);
    await writeCelebaDataset(celeba, [0, 1, 2]);
    const out = join(tmp, 'out');
    await mkdir(join(ROOT, '.cache/tmp'), { recursive: true });
    await writeFile(
      LAUNCHER,
      "import { register } from 'tsx/esm/api';\nregister();\n" +
        'const [file, ...args] = process.argv.slice(2);\n' +
        'process.exitCode = await (await import(file)).run(args);\n',
    );
    const { s3, temporal } = services;
    const id = unique('batch-cli');
    const child = spawn(
      process.execPath,
      [
        LAUNCHER,
        `${ROOT}cli/commands/batch.ts`,
        '--dataset',
        `coco=${coco}`,
        '--dataset',
        `celeba-hq=${celeba}`,
        '--per-dataset',
        '2',
        '--seed',
        '7',
        '--window',
        '2',
        '--page-size',
        '3',
        '--methods',
        'csg,ddim',
        '--steps',
        '4',
        '--id',
        id,
        '--out',
        out,
      ],
      {
        cwd: ROOT,
        env: {
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
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (d) => {
      stdout += d;
    });
    child.stderr?.on('data', (d) => {
      stderr += d;
    });
    const killer = setTimeout(() => child.kill('SIGKILL'), 600_000);
    const code = await exited(child).finally(() => clearTimeout(killer));
    await rm(LAUNCHER, { force: true });
    expect(code, stderr).toBe(0);
    expect(stderr).toMatch(/page 1 \[/); // progress followed the batch into its second page
    const printed = JSON.parse(stdout.trim().split('\n').at(-1) ?? '{}') as BatchResult & {
      files: Record<string, string>;
    };
    expect(printed).toMatchObject({ batchId: id, total: 4, succeeded: 4, failed: 0 });

    // The sample is the seeded draw of each data set, recomputed from the loaders here.
    const expected = [
      ...sampleWithoutReplacement(
        (await loadCelebaHq({ root: celeba })).items,
        2,
        7,
        (i) => `${i.dataset}/${i.id}`,
      ),
      ...sampleWithoutReplacement(
        (await loadCoco({ root: coco, split: 'val' })).items,
        2,
        7,
        (i) => `${i.dataset}/${i.id}`,
      ),
    ];
    const outcomes = parseJsonl(await readFile(printed.files['outcomes.jsonl'], 'utf8'), BatchOutcomeSchema);
    expect(outcomes.map((o) => `${o.dataset}/${o.imageId}`)).toEqual(
      expected.map((i) => `${i.dataset}/${i.id}`),
    );

    // Table 1 recomputed from the per-image manifests: VLM-Eff = the judge's checklist score, LPIPS as
    // the GPU host measured it, means per method and data set.
    const cells = new Map<string, { eff: number[]; lpips: number[] }>();
    for (const o of outcomes) {
      const m = await store.getJson(RunManifestSchema, o.manifest!);
      expect(m.outputs).toHaveLength(2);
      for (const output of m.outputs) {
        const key = `${output.method}|${o.dataset}`;
        const cell = cells.get(key) ?? { eff: [], lpips: [] };
        cell.eff.push(output.judge!.checklistScore);
        cell.lpips.push(output.lpips!);
        cells.set(key, cell);
      }
    }
    const report = JSON.parse(await readFile(printed.files['report.json'], 'utf8')) as Report;
    const mean = (xs: number[]) => xs.reduce((s, x) => s + x, 0) / xs.length;
    expect(report.methods).toEqual(['ddim', 'csg']);
    expect(report.datasets).toEqual(['celeba-hq', 'coco']);
    expect(report.lpipsResolutions).toEqual(['128×128']);
    for (const row of report.table1) {
      for (const dataset of ['celeba-hq', 'coco'] as const) {
        const cell = cells.get(`${row.method}|${dataset}`)!;
        expect(row.cells[dataset]?.evaluated).toBe(2);
        expect(row.cells[dataset]?.vlmEff.mean).toBeCloseTo(mean(cell.eff), 12);
        expect(row.cells[dataset]?.lpips.mean).toBeCloseTo(mean(cell.lpips), 12);
      }
      const avg = (k: 'eff' | 'lpips') =>
        (mean(cells.get(`${row.method}|celeba-hq`)![k]) + mean(cells.get(`${row.method}|coco`)![k])) / 2;
      expect(row.average.vlmEff.mean).toBeCloseTo(avg('eff'), 12);
      expect(row.average.lpips.mean).toBeCloseTo(avg('lpips'), 12);
    }
    // The judge's answers were not all "yes": the numbers are not trivially 1.
    expect([...cells.values()].flatMap((c) => c.eff).some((e) => e < 1)).toBe(true);
    const md = await readFile(printed.files['report.md'], 'utf8');
    expect(md).toMatch(/CelebA-HQ/);
    expect(md).toMatch(/MS-COCO/);

    // `cgm report` works on the downloaded results.
    const { run } = await import('../../cli/commands/report.js');
    expect(await run([printed.files['results.jsonl'], '--out', join(out, 'again'), '--format', 'json'])).toBe(
      0,
    );
    const again = JSON.parse(await readFile(join(out, 'again', 'report.json'), 'utf8')) as Report;
    expect(again.table1).toEqual(report.table1);

    // `cgm report --batch ID` reads the same records from S3 through the batch workflow's result.
    const env = {
      CGM_TEMPORAL_ADDRESS: temporal.address,
      CGM_TEMPORAL_NAMESPACE: temporal.namespace,
      CGM_S3_ENDPOINT: s3.endpoint,
      CGM_S3_REGION: s3.region,
      CGM_S3_BUCKET: s3.bucket,
      CGM_S3_ACCESS_KEY_ID: s3.accessKeyId,
      CGM_S3_SECRET_ACCESS_KEY: s3.secretAccessKey,
    };
    const saved = Object.fromEntries(Object.keys(env).map((k) => [k, process.env[k]]));
    Object.assign(process.env, env);
    try {
      expect(await run(['--batch', id, '--out', join(out, 'from-s3'), '--format', 'json'])).toBe(0);
    } finally {
      for (const [k, v] of Object.entries(saved)) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
    }
    const fromS3 = JSON.parse(await readFile(join(out, 'from-s3', 'report.json'), 'utf8')) as Report;
    expect(fromS3.table1).toEqual(report.table1);
    expect(vlm.counts.judge_verdict).toBeGreaterThanOrEqual(8);
  }, 900_000);
});

describe('cgm batch and the GPU workers that compute LPIPS', () => {
  it('refuses to start, before it stores anything, when the only GPU worker has no LPIPS graph', async () => {
    // The shared worker loaded LPIPS: it also polls the LPIPS entry queue, which the batch CLI checks.
    expect(gpu.lpipsEntry?.options.taskQueue).toBe(lpipsEntryQueue(gpuQueue));
    expect(await requireLpipsWorker(connection.workflowService, services.temporal.namespace, gpuQueue)).toBe(
      lpipsEntryQueue(gpuQueue),
    );

    const bareQueue = unique('batch-gpu-no-lpips');
    const bare = await createGpuWorkers({
      connection: native,
      namespace: services.temporal.namespace,
      entryQueue: bareQueue,
      engine: { ...engine, lpips: undefined },
      store,
      shutdownGraceTime: '2s',
    });
    const bareRun = bare.run();
    const coco = join(tmp, 'coco-no-lpips');
    await writeCocoDataset(coco, [397133, 37777]);
    const env = {
      CGM_TEMPORAL_ADDRESS: services.temporal.address,
      CGM_TEMPORAL_NAMESPACE: services.temporal.namespace,
      CGM_TASK_QUEUE_LIGHT: lightQueue,
      CGM_TASK_QUEUE_GPU: bareQueue,
      // Nothing listens here: an upload would fail, and not with the message below.
      CGM_S3_ENDPOINT: 'http://127.0.0.1:9',
      CGM_S3_ACCESS_KEY_ID: 'k',
      CGM_S3_SECRET_ACCESS_KEY: 's',
    };
    const saved = Object.fromEntries(Object.keys(env).map((k) => [k, process.env[k]]));
    Object.assign(process.env, env);
    const stderr: string[] = [];
    const write = process.stderr.write.bind(process.stderr);
    process.stderr.write = ((chunk: string) => stderr.push(String(chunk)) > 0) as typeof process.stderr.write;
    try {
      expect(bare.lpipsEntry).toBeNull();
      const { run } = await import('../../cli/commands/batch.js');
      const err = await run(['--dataset', `coco=${coco}`, '--per-dataset', '1']).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(CliError);
      expect((err as CliError).exitCode).toBe(69);
      expect((err as CliError).message).toMatch(
        new RegExp(`^no GPU worker with LPIPS polls ${bareQueue}-lpips .*nothing was stored.*--no-lpips`),
      );
      expect(stderr.join('')).not.toContain('uploading');
    } finally {
      process.stderr.write = write;
      for (const [k, v] of Object.entries(saved)) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
      bare.shutdown();
      await bareRun;
    }
  }, 300_000);
});
