// The per-image workflow end to end on the real stack: Temporal dev server, SeaweedFS, a real light
// worker (bundled workflows) and a real GPU worker (engine thread on the tiny model). User-graph path:
// the caption, graph and interventions are given, so no VLM stage runs.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { Client, Connection, WorkflowFailedError } from '@temporalio/client';
import { CancelledFailure } from '@temporalio/common';
import { temporal } from '@temporalio/proto';
import { bundleWorkflowCode, DefaultLogger, NativeConnection, Runtime, Worker } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { judgeChecklist } from '../../activities/vlm/judge.js';
import { sign as signWebhook } from '../../activities/webhooks/signing.js';
import { createLightWorker, WORKFLOWS_PATH } from '../../activities/worker.js';
import { type ArtifactStore, createArtifactStore, createS3Client } from '../../core/artifacts/index.js';
import { ConceptGraphSchema, InterventionSetSchema } from '../../core/schemas/paper.js';
import { type RunManifest, RunManifestSchema } from '../../core/schemas/run-manifest.js';
import {
  type CounterfactualInput,
  type CounterfactualInputRaw,
  CounterfactualInputSchema,
  InversionIndexSchema,
  type RunProgress,
} from '../../core/schemas/workflow-io.js';
import { type GpuEngine, startEngine } from '../../gpu-worker/activities/engine.js';
import { inversionId, inversionIndexKey } from '../../gpu-worker/activities/index.js';
import { engineSettings } from '../../gpu-worker/engine/settings.js';
import { EngineAbortError } from '../../gpu-worker/engine/thread-protocol.js';
import { createGpuWorkers, type GpuWorkers } from '../../gpu-worker/worker.js';
import type { counterfactualWorkflow } from '../../workflows/counterfactual.js';
import { chatCompletion, recorded, recordedContent, startFakeVlmServer } from '../support/fake-vlm-server.js';
import { ensureTinyFixtures } from '../support/fixtures.js';

const services = inject('cgmServices');
const EXAMPLE = fileURLToPath(new URL('../../examples/rainy-street/', import.meta.url));
const HISTORIES = fileURLToPath(new URL('../fixtures/histories/', import.meta.url));
const WEBHOOK_SECRET = 'whsec_Zm0tY2dtIGludGVncmF0aW9uIHRlc3Qgd2ViaG9vayBzZWNyZXQhIQ==';
// historyToJSON/historyFromJSON of @temporalio/common 1.24 use its own protobufjs 8 against
// @temporalio/proto's protobufjs 7 types and throw "type must be a Type"; protobufjs 7's own JSON
// form (enums and longs as strings, bytes base64) round-trips the same History.
const History = temporal.api.history.v1.History;
const JSON_OPTIONS = { longs: String, enums: String, bytes: String, defaults: false } as const;
const unique = (name: string) =>
  `${name}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 6)}`;

let connection: Connection;
let native: NativeConnection;
let client: Client;
let store: ArtifactStore;
let engine: GpuEngine;
let workflowBundle: Awaited<ReturnType<typeof bundleWorkflowCode>>;
const lightQueue = unique('wf-light');
const gpuQueue = unique('wf-gpu');
let lightWorker: Worker;
let gpu: GpuWorkers;
const running: Promise<void>[] = [];
let hooks: Server;
const received: { headers: Record<string, string | string[] | undefined>; body: string }[] = [];

// Few steps keep the tiny model quick; everything else is the paper's defaults.
const ENGINE = { inversion: { numSteps: 12 }, baselines: { numSteps: 12 } };
const graph = ConceptGraphSchema.parse(JSON.parse(readFileSync(`${EXAMPLE}graph.json`, 'utf8')));
const interventions = InterventionSetSchema.parse(
  JSON.parse(readFileSync(`${EXAMPLE}interventions.json`, 'utf8')),
).interventions;
const caption = readFileSync(`${EXAMPLE}caption.txt`, 'utf8').trim();

beforeAll(async () => {
  try {
    Runtime.install({ logger: new DefaultLogger('WARN') });
  } catch {
    // installed by another file in this process
  }
  connection = await Connection.connect({ address: services.temporal.address });
  native = await NativeConnection.connect({ address: services.temporal.address });
  client = new Client({ connection, namespace: services.temporal.namespace });
  store = createArtifactStore({
    client: createS3Client(services.s3),
    bucket: services.s3.bucket,
    prefix: 'wf-test',
  });
  const [fixtures, bundle] = await Promise.all([
    ensureTinyFixtures(),
    bundleWorkflowCode({ workflowsPath: WORKFLOWS_PATH, logger: new DefaultLogger('WARN') }),
  ]);
  workflowBundle = bundle;
  engine = await startEngine({ modelDir: fixtures.bundleDir, lpipsDir: fixtures.lpipsDir, device: 'cpu' });
  lightWorker = await createLightWorker({
    connection: native,
    namespace: services.temporal.namespace,
    taskQueue: lightQueue,
    store,
    vlm: { settings: { baseURL: 'http://127.0.0.1:9/v1', model: 'unused-in-the-user-graph-path' } },
    // the receiver is a loopback http server: the development policy
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
      received.push({ headers: req.headers, body });
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((r) => hooks.listen(0, '127.0.0.1', r));
});

afterAll(async () => {
  lightWorker?.shutdown();
  gpu?.shutdown();
  await Promise.allSettled(running);
  await engine?.close();
  await new Promise((r) => hooks?.close(r));
  await native?.close();
  await connection?.close();
});

async function uploadImage() {
  return (
    await store.put(readFileSync(`${EXAMPLE}image.png`), { contentType: 'image/png', prefix: 'inputs' })
  ).ref;
}

function input(
  raw: Omit<CounterfactualInputRaw, 'image'> & { image: CounterfactualInput['image'] },
): CounterfactualInput {
  return CounterfactualInputSchema.parse(raw);
}

async function until<T>(probe: () => Promise<T>, ok: (v: T) => boolean, timeoutMs = 120_000): Promise<T> {
  const t0 = Date.now();
  for (;;) {
    const v = await probe();
    if (ok(v)) return v;
    if (Date.now() - t0 > timeoutMs)
      throw new Error(`condition not met in ${timeoutMs} ms: ${JSON.stringify(v)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function expectStored(ref: { bucket: string; key: string; sha256: string; bytes: number }) {
  // store.get re-hashes the bytes and throws on any mismatch with the ref.
  const bytes = await store.get({ ...ref, contentType: 'application/octet-stream' });
  expect(bytes.byteLength).toBe(ref.bytes);
}

describe('counterfactualWorkflow (user graph, tiny model)', () => {
  it('runs one image end to end: every intervention × method, masks, NFE, manifest, webhook', async () => {
    const image = await uploadImage();
    const methods = ['csg', 'ddpm', 'ddim'] as const;
    const chosen = interventions.slice(0, 2);
    const handle = await client.workflow.start<typeof counterfactualWorkflow>('counterfactualWorkflow', {
      taskQueue: lightQueue,
      workflowId: unique('cf-e2e'),
      args: [
        input({
          image,
          caption,
          graph,
          interventions: chosen,
          methods: [...methods],
          engine: ENGINE,
          planning: { warmup: 2 },
          evaluate: { judge: false },
          hosts: { gpuTaskQueue: gpuQueue },
          webhook: { url: `http://127.0.0.1:${(hooks.address() as AddressInfo).port}/hook` },
        }),
      ],
      workflowExecutionTimeout: '10m',
    });
    const seen = new Set<string>();
    const poll = (async () => {
      for (;;) {
        const p = await handle.query<RunProgress>('progress').catch(() => null);
        if (p) seen.add(`${p.phase}:${p.outputs.done}/${p.outputs.total}`);
        if (p && ['done', 'failed', 'cancelled'].includes(p.phase)) return p;
        await new Promise((r) => setTimeout(r, 50));
      }
    })();
    const result = await handle.result();
    const last = await poll;

    expect(result.status).toBe('succeeded');
    expect(result.outputs).toBe(chosen.length * methods.length);
    expect(last.manifest).toEqual(result.manifest);
    expect([...seen].some((s) => s.startsWith('edit:'))).toBe(true);

    const manifest: RunManifest = await store.getJson(RunManifestSchema, result.manifest);
    expect(manifest.status).toBe('succeeded');
    expect(manifest.basePrompt).toEqual({ text: caption, source: 'user' });
    expect(manifest.graph?.source).toBe('user');
    expect(manifest.interventions.map((i) => i.intervention.id)).toEqual(chosen.map((i) => i.id));
    expect(manifest.plans).toHaveLength(chosen.length * methods.length);
    expect(manifest.stages.describe?.status).toBe('skipped');
    expect(manifest.stages.extract?.status).toBe('skipped');
    expect(manifest.stages.propose?.status).toBe('skipped');
    for (const s of ['plan', 'invert', 'edit', 'manifest'] as const)
      expect(manifest.stages[s]?.status).toBe('succeeded');
    expect(manifest.vlmAttempts).toEqual([]);
    expect(manifest.stages.evaluate).toMatchObject({
      status: 'skipped',
      message: 'judge turned off; LPIPS computed on the GPU host with each edit',
    });
    expect(manifest.hosts).toEqual([gpu.hostQueue]);

    const pairs = manifest.outputs.map((o) => `${o.interventionId}/${o.method}`).sort();
    expect(pairs).toEqual(chosen.flatMap((i) => methods.map((m) => `${i.id}/${m}`)).sort());
    for (const o of manifest.outputs) {
      expect(o.nfe).toBeGreaterThan(0);
      expect(o.lpips).toBeGreaterThan(0); // every counterfactual differs from its input
      expect(o.seconds).toBeGreaterThan(0);
      expect(o.image.contentType).toBe('image/png');
      await expectStored(o.image);
      if (o.method === 'csg') {
        const plan = manifest.plans.find((p) => p.method === 'csg' && p.interventionId === o.interventionId);
        expect(plan?.method === 'csg' && o.masks.length).toBe(
          plan?.method === 'csg' ? plan.concepts.length : -1,
        );
      } else {
        expect(o.masks).toEqual([]);
      }
      for (const m of o.masks) await expectStored(m);
    }
    // The counterfactuals differ from each other (the engine really edited).
    expect(new Set(manifest.outputs.map((o) => o.image.sha256)).size).toBe(manifest.outputs.length);
    expect(manifest.inversions.map((i) => i.method)).toEqual([...methods]);
    for (const inv of manifest.inversions) {
      expect(inv.nfe).toBeGreaterThan(0);
      await expectStored(inv.ref);
    }
    await expectStored(manifest.input.preprocessed!);
    // The inversion is findable by its inputs (image + settings + model) for any host.
    expect(manifest.inversions[0].ref.key).toMatch(/^inversions\/state\//);
    const invId = inversionId(
      engine.model.manifestHash,
      image,
      caption,
      [...methods],
      engineSettings(ENGINE),
    );
    const index = await store.stat(inversionIndexKey(invId));
    expect(index).not.toBeNull();
    expect((await store.getJson(InversionIndexSchema, index!)).state).toEqual(manifest.inversions[0].ref);

    expect(received).toHaveLength(1);
    const hook = received[0];
    const id = String(hook.headers['webhook-id']);
    const ts = Number(hook.headers['webhook-timestamp']);
    expect(id).toBe(`${handle.workflowId}:succeeded`);
    expect(hook.headers['webhook-signature']).toBe(signWebhook(WEBHOOK_SECRET, id, ts, hook.body));
    // The manifest by content (hash, size, type), never its bucket and key.
    const { bucket: _bucket, key: _key, ...byContent } = result.manifest;
    expect(JSON.parse(hook.body).data.manifest).toEqual(byContent);

    // Record the history; the replay test below and tests/fixtures/histories keep it honest.
    const history = await handle.fetchHistory();
    await Worker.runReplayHistory({ workflowBundle }, history, handle.workflowId);
    const file = `${HISTORIES}counterfactual-user-graph.json`;
    if (!existsSync(file) || process.env.CGM_RECORD_HISTORIES === '1') {
      mkdirSync(HISTORIES, { recursive: true });
      writeFileSync(
        file,
        `${JSON.stringify(History.toObject(History.fromObject(history), JSON_OPTIONS), null, 1)}\n`,
      );
    }
  });

  it('replays every recorded history in tests/fixtures/histories deterministically', async () => {
    const { readdirSync } = await import('node:fs');
    const files = readdirSync(HISTORIES).filter((f) => f.endsWith('.json'));
    expect(files.length).toBeGreaterThan(0);
    for (const f of files) {
      const history = History.fromObject(JSON.parse(readFileSync(`${HISTORIES}${f}`, 'utf8')));
      await Worker.runReplayHistory({ workflowBundle }, history, f.replace(/\.json$/, ''));
    }
  });

  it('cancellation stops GPU work between steps and leaves a manifest of what finished', async () => {
    const image = await uploadImage();
    const handle = await client.workflow.start<typeof counterfactualWorkflow>('counterfactualWorkflow', {
      taskQueue: lightQueue,
      workflowId: unique('cf-cancel'),
      args: [
        input({
          image,
          caption,
          graph,
          interventions,
          engine: { inversion: { numSteps: 40 }, baselines: { numSteps: 40 } },
          planning: { warmup: 2 },
          evaluate: { judge: false },
          hosts: { gpuTaskQueue: gpuQueue },
        }),
      ],
      workflowExecutionTimeout: '10m',
    });
    await until(
      () => handle.query<RunProgress>('progress'),
      (p) => p.outputs.done >= 1,
    );
    await handle.cancel();
    const err = await handle.result().then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(WorkflowFailedError);
    expect((err as WorkflowFailedError).cause).toBeInstanceOf(CancelledFailure);

    const p = await handle.query<RunProgress>('progress');
    expect(p.phase).toBe('cancelled');
    expect(p.manifest).not.toBeNull();
    const manifest = await store.getJson(RunManifestSchema, p.manifest!);
    expect(manifest.status).toBe('cancelled');
    expect(manifest.stages.edit?.status).toBe('cancelled');
    expect(manifest.outputs.length).toBeGreaterThanOrEqual(1);
    expect(manifest.outputs.length).toBeLessThan(manifest.plans.length);
    for (const o of manifest.outputs) await expectStored(o.image);
    // The in-flight edit was cancelled inside the engine, not left running: the host is free again.
    const desc = await handle.describe();
    expect(desc.raw.pendingActivities ?? []).toHaveLength(0);
  });

  it('moves to another host when its host is lost and reloads the inversion from S3', async () => {
    const entryQueue = unique('wf-gpu-loss');
    // Host A inverts for real, then hangs in its first edit (as a wedged GPU would) until shut down.
    let editsStarted = 0;
    const hanging: GpuEngine = {
      ...engine,
      model: engine.model,
      invert: (p, o) => engine.invert(p, o),
      edit: (_p, o) => {
        editsStarted++;
        return new Promise((_, reject) =>
          o.signal?.addEventListener('abort', () => reject(new EngineAbortError('host A going down')), {
            once: true,
          }),
        );
      },
    };
    const hostA = await createGpuWorkers({
      connection: native,
      namespace: services.temporal.namespace,
      entryQueue,
      engine: hanging,
      store,
      shutdownGraceTime: '1s',
    });
    const runA = hostA.run();
    let hostB: GpuWorkers | undefined;
    let runB: Promise<void> | undefined;
    try {
      const image = await uploadImage();
      const handle = await client.workflow.start<typeof counterfactualWorkflow>('counterfactualWorkflow', {
        taskQueue: lightQueue,
        workflowId: unique('cf-hostloss'),
        args: [
          input({
            image,
            caption,
            graph,
            interventions: interventions.slice(0, 1),
            methods: ['csg', 'ddim'],
            engine: ENGINE,
            planning: { warmup: 2 },
            evaluate: { judge: false },
            hosts: {
              gpuTaskQueue: entryQueue,
              hostScheduleToStartSeconds: 3,
              heartbeatSeconds: 20,
              maxHosts: 3,
            },
          }),
        ],
        workflowExecutionTimeout: '5m',
      });
      await until(
        () => handle.query<RunProgress>('progress'),
        (p) => p.phase === 'edit' && editsStarted > 0,
      );
      // Host A dies; host B (its own activity state: nothing in memory) joins. One Temporal runtime
      // refuses two Workers on one queue, so B starts after A is gone (separate processes in production).
      hostA.shutdown();
      await runA;
      hostB = await createGpuWorkers({
        connection: native,
        namespace: services.temporal.namespace,
        entryQueue,
        engine,
        store,
        shutdownGraceTime: '1s',
      });
      runB = hostB.run();
      const result = await handle.result();
      const manifest = await store.getJson(RunManifestSchema, result.manifest);
      expect(manifest.hosts).toEqual([hostA.hostQueue, hostB.hostQueue]);
      expect(manifest.outputs.map((o) => o.method).sort()).toEqual(['csg', 'ddim']);
      expect(manifest.stages.invert?.message).toContain(hostA.hostQueue);
      expect(manifest.stages.edit?.message).toContain(
        `host ${hostB.hostQueue} reloaded the inversion from S3`,
      );
      for (const o of manifest.outputs) await expectStored(o.image);
      // The inversion index (image + settings + model) is in S3 for any later host.
      const stateRef = manifest.inversions[0].ref;
      await expectStored(stateRef);
    } finally {
      hostA.shutdown();
      hostB?.shutdown();
      await Promise.allSettled([runA, runB]);
    }
  });

  it('VLM path: describes, extracts (with a re-ask), proposes, edits and judges; every attempt in the manifest', async () => {
    const vlmServer = await startFakeVlmServer();
    const vlmQueue = unique('wf-light-vlm');
    const vlmWorker = await createLightWorker({
      connection: native,
      namespace: services.temporal.namespace,
      taskQueue: vlmQueue,
      store,
      vlm: { settings: { baseURL: vlmServer.baseURL, model: 'Qwen/Qwen3-VL-30B-A3B-Instruct' } },
      workflowBundle,
    });
    const runVlm = vlmWorker.run();
    try {
      const vlmGraph = ConceptGraphSchema.parse(JSON.parse(recordedContent('portrait-extract')));
      const proposed = InterventionSetSchema.parse(
        JSON.parse(recordedContent('portrait-propose')),
      ).interventions;
      // The judge answers every checklist item of its intervention with "yes".
      const judgeReplies = proposed.map((iv) => ({
        body: chatCompletion(
          JSON.stringify({
            intervention_id: iv.id,
            concept_checks: judgeChecklist(iv, vlmGraph).map((c) => ({
              concept_name: c.concept_name,
              expected_value: c.expected_value,
              present: 'yes',
            })),
            verdict: 'success',
            reasoning: 'every checklist item is visible',
          }),
        ),
      }));
      vlmServer.enqueue(
        recorded('street-describe'),
        recorded('portrait-extract-invalid'),
        recorded('portrait-extract'),
        recorded('portrait-propose'),
        ...judgeReplies,
      );
      const image = await uploadImage();
      const handle = await client.workflow.start<typeof counterfactualWorkflow>('counterfactualWorkflow', {
        taskQueue: vlmQueue,
        workflowId: unique('cf-vlm'),
        args: [
          input({
            image,
            methods: ['csg'],
            proposeCount: 3,
            engine: ENGINE,
            planning: { warmup: 2 },
            hosts: { gpuTaskQueue: gpuQueue },
          }),
        ],
        workflowExecutionTimeout: '10m',
      });
      const result = await handle.result();
      const manifest = await store.getJson(RunManifestSchema, result.manifest);
      expect(manifest.status).toBe('succeeded');
      expect(manifest.basePrompt?.source).toBe('vlm');
      expect(manifest.graph?.source).toBe('vlm');
      expect(manifest.interventions.map((i) => i.intervention.id)).toEqual(proposed.map((i) => i.id));
      for (const s of ['describe', 'extract', 'propose', 'plan', 'invert', 'edit', 'evaluate'] as const)
        expect(manifest.stages[s]?.status).toBe('succeeded');
      expect(manifest.outputs).toHaveLength(proposed.length);
      for (const o of manifest.outputs) {
        expect(o.judge?.verdict.verdict).toBe('success');
        expect(o.judge?.checklistScore).toBe(1);
        expect(o.lpips).toBeGreaterThan(0);
        await expectStored(o.image);
      }
      // describe 1 + extract 2 (the first answer was not JSON: re-asked) + propose 1 + judge 3
      expect(manifest.vlmAttempts.map((a) => `${a.prompt}#${a.attempt}${a.error ? '!' : ''}`)).toEqual([
        'describe#1',
        'extract#1!',
        'extract#2',
        'manipulate#1',
        'judge#1',
        'judge#1',
        'judge#1',
      ]);
      expect(vlmServer.pending()).toBe(0);
      const replay = await handle.fetchHistory();
      await Worker.runReplayHistory({ workflowBundle }, replay, handle.workflowId);
      const file = `${HISTORIES}counterfactual-vlm.json`;
      if (!existsSync(file) || process.env.CGM_RECORD_HISTORIES === '1')
        writeFileSync(
          file,
          `${JSON.stringify(History.toObject(History.fromObject(replay), JSON_OPTIONS), null, 1)}\n`,
        );
    } finally {
      vlmWorker.shutdown();
      await runVlm;
      await vlmServer.close();
    }
  });
});
