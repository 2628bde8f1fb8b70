// Batched edits in the per-image workflow (issue #4 item 7, issue #6): the workflow sends the plans of
// one method to the GPU host together, so the engine runs the CSG edits of several interventions in one
// UNet call per step. On the real stack (Temporal dev server, SeaweedFS, light worker with the bundled
// workflows, GPU worker on the tiny model): 3 interventions × (CSG + DDIM) with maxPlans 4 and with
// maxPlans 1, comparing the GPU calls in the histories and the NFE in the manifests.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Client, Connection, WorkflowFailedError } from '@temporalio/client';
import { ApplicationFailure, defaultPayloadConverter } from '@temporalio/common';
import { temporal } from '@temporalio/proto';
import { Worker } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { type EditMethod, EditPlanSchema } from '../../core/schemas/edit-plan.js';
import { ConceptGraphSchema, InterventionSetSchema } from '../../core/schemas/paper.js';
import { type RunManifest, RunManifestSchema } from '../../core/schemas/run-manifest.js';
import {
  type CounterfactualInput,
  CounterfactualInputSchema,
  type EditInput,
  type RunProgress,
} from '../../core/schemas/workflow-io.js';
import { engineSettings } from '../../gpu-worker/engine/settings.js';
import type { counterfactualWorkflow } from '../../workflows/counterfactual.js';
import { startTinyStack, type TinyStack, uniqueName } from './api-tiny-stack.js';

const services = inject('cgmServices');
const EXAMPLE = fileURLToPath(new URL('../../examples/rainy-street/', import.meta.url));
const HISTORIES = fileURLToPath(new URL('../fixtures/histories/', import.meta.url));
// protobufjs 7's own JSON form, as in workflow-counterfactual.test.ts (which replays every fixture).
const History = temporal.api.history.v1.History;
const JSON_OPTIONS = { longs: String, enums: String, bytes: String, defaults: false } as const;

// Few steps keep the tiny model quick; warmup 2 of them, so batching has warmup steps to share.
const ENGINE = { inversion: { numSteps: 12 }, baselines: { numSteps: 12 } };
const METHODS: EditMethod[] = ['csg', 'ddim'];
const graph = ConceptGraphSchema.parse(JSON.parse(readFileSync(`${EXAMPLE}graph.json`, 'utf8')));
const interventions = InterventionSetSchema.parse(
  JSON.parse(readFileSync(`${EXAMPLE}interventions.json`, 'utf8')),
).interventions;
const caption = readFileSync(`${EXAMPLE}caption.txt`, 'utf8').trim();

let stack: TinyStack;
let connection: Connection;
let client: Client;

beforeAll(async () => {
  stack = await startTinyStack({ temporal: services.temporal, s3: services.s3, name: 'eb' });
  connection = await Connection.connect({ address: services.temporal.address });
  client = new Client({ connection, namespace: services.temporal.namespace });
});

afterAll(async () => {
  await stack?.close();
  await connection?.close();
});

/** The bundled example with a freshly stored image, CSG + DDIM on the test's GPU queue. */
async function exampleInput(): Promise<CounterfactualInput> {
  const image = (
    await stack.store.put(readFileSync(`${EXAMPLE}image.png`), { contentType: 'image/png', prefix: 'inputs' })
  ).ref;
  return CounterfactualInputSchema.parse({
    image,
    caption,
    graph,
    interventions,
    methods: METHODS,
    engine: ENGINE,
    planning: { warmup: 2 },
    evaluate: { judge: false },
    hosts: { gpuTaskQueue: stack.gpuQueue },
  });
}

interface Run {
  manifest: RunManifest;
  /** The plans of every scheduled GPU `edit` call, as the workflow sent them, in order. */
  editCalls: EditInput['plans'][];
  history: temporal.api.history.v1.IHistory;
  workflowId: string;
}

async function run(maxPlans: number): Promise<Run> {
  const handle = await client.workflow.start<typeof counterfactualWorkflow>('counterfactualWorkflow', {
    taskQueue: stack.lightQueue,
    workflowId: uniqueName(`cf-batch-${maxPlans}`),
    args: [{ ...(await exampleInput()), editBatch: { maxPlans } }],
    workflowExecutionTimeout: '5m',
  });
  const result = await handle.result();
  const history = await handle.fetchHistory();
  const editCalls = (history.events ?? [])
    .map((e) => e.activityTaskScheduledEventAttributes)
    .filter((a) => a?.activityType?.name === 'edit')
    .map((a) => defaultPayloadConverter.fromPayload<EditInput>(a!.input!.payloads![0]).plans);
  return {
    manifest: await stack.store.getJson(RunManifestSchema, result.manifest),
    editCalls,
    history,
    workflowId: handle.workflowId,
  };
}

const outputsOf = (m: RunManifest, method: EditMethod) => m.outputs.filter((o) => o.method === method);
const nfeSum = (m: RunManifest, method: EditMethod) => outputsOf(m, method).reduce((n, o) => n + o.nfe, 0);

describe('counterfactualWorkflow batches the edits of one method into one GPU call', () => {
  it('3 interventions × (CSG + DDIM): one edit call per method, NFE shared exactly, fewer CSG evaluations than one plan per call', async () => {
    const batched = await run(4);
    const single = await run(1);
    const pairs = interventions.flatMap((iv) => METHODS.map((m) => `${iv.id}/${m}`)).sort();

    // GPU calls: one per method with maxPlans ≥ 3; one per plan with maxPlans = 1.
    expect(batched.editCalls.map((plans) => plans.map((p) => `${p.interventionId}/${p.method}`))).toEqual(
      METHODS.map((m) => interventions.map((iv) => `${iv.id}/${m}`)),
    );
    expect(single.editCalls.map((plans) => plans.length)).toEqual(pairs.map(() => 1));
    // The versioned path is taken (a patch marker) and the setting is recorded.
    const markers = (h: Run['history']) =>
      (h.events ?? []).filter((e) => e.markerRecordedEventAttributes?.markerName === 'core_patch');
    expect(markers(batched.history)).toHaveLength(1);
    expect(batched.manifest.settings.editBatch).toEqual({ maxPlans: 4 });
    expect(single.manifest.settings.editBatch).toEqual({ maxPlans: 1 });

    for (const { manifest } of [batched, single]) {
      expect(manifest.status).toBe('succeeded');
      // Every output once; every image stored once under its own content hash.
      expect(manifest.outputs.map((o) => `${o.interventionId}/${o.method}`).sort()).toEqual(pairs);
      expect(new Set(manifest.outputs.map((o) => o.image.sha256)).size).toBe(pairs.length);
      for (const o of manifest.outputs) {
        expect(o.nfeCall).toBeDefined();
        expect(o.nfe).toBeCloseTo(o.nfeCall!.sampleEvaluations / o.nfeCall!.sharedWith, 9);
        expect(o.seconds).toBeGreaterThan(0);
      }
    }

    // Batched: each method's outputs shared one call, and their shares add up to exactly its total.
    for (const method of METHODS) {
      const outs = outputsOf(batched.manifest, method);
      const calls = new Set(outs.map((o) => JSON.stringify(o.nfeCall)));
      expect(calls.size).toBe(1);
      const call = outs[0].nfeCall!;
      expect(call.sharedWith).toBe(interventions.length);
      expect(call.unetCalls).toBeGreaterThan(0);
      expect(nfeSum(batched.manifest, method)).toBeCloseTo(call.sampleEvaluations, 9);
    }
    for (const o of single.manifest.outputs) expect(o.nfeCall?.sharedWith).toBe(1);

    // The activity's count is the engine's: the same CSG plans edited directly on the same inversion.
    const state = await stack.store.get(batched.manifest.inversions.find((i) => i.method === 'csg')!.ref);
    const key = await stack.engine.importInversion(state);
    const direct = await stack.engine.edit(
      {
        key,
        plans: batched.editCalls[0].map((p) => EditPlanSchema.parse(p)),
        settings: engineSettings(ENGINE),
      },
      {},
    );
    const stage = direct.stages.find((s) => s.stage === 'edit-csg')!;
    expect(stage.shared).toBe(interventions.length);
    expect(nfeSum(batched.manifest, 'csg')).toBeCloseTo(stage.nfe.sampleEvaluations, 9);

    // The saving: the warmup steps of the three CSG edits share one evaluation per step.
    const csgBatched = nfeSum(batched.manifest, 'csg');
    const csgSingle = nfeSum(single.manifest, 'csg');
    expect(csgBatched).toBeLessThan(csgSingle);
    expect(nfeSum(batched.manifest, 'ddim')).toBeLessThanOrEqual(nfeSum(single.manifest, 'ddim'));
    console.log(
      `[edit-batching] CSG sample evaluations for ${interventions.length} interventions: ` +
        `batched ${csgBatched} (1 call), one plan per call ${csgSingle} (${interventions.length} calls); ` +
        `DDIM ${nfeSum(batched.manifest, 'ddim')} vs ${nfeSum(single.manifest, 'ddim')}`,
    );

    // The batched history replays, and is kept as a fixture for the replay test.
    await Worker.runReplayHistory(
      { workflowBundle: stack.workflowBundle },
      batched.history,
      batched.workflowId,
    );
    const file = `${HISTORIES}counterfactual-batched-edits.json`;
    if (!existsSync(file) || process.env.CGM_RECORD_HISTORIES === '1') {
      mkdirSync(HISTORIES, { recursive: true });
      writeFileSync(
        file,
        `${JSON.stringify(History.toObject(History.fromObject(batched.history), JSON_OPTIONS), null, 1)}\n`,
      );
    }
  });

  it('fails a run whose maxPlans bypassed the schema before any GPU work, naming the field and value', async () => {
    const valid = await exampleInput();
    const handle = await client.workflow.start<typeof counterfactualWorkflow>('counterfactualWorkflow', {
      taskQueue: stack.lightQueue,
      workflowId: uniqueName('cf-batch-bad'),
      args: [{ ...valid, editBatch: { maxPlans: 0 } }],
      workflowExecutionTimeout: '2m',
    });
    const err = await handle.result().then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(WorkflowFailedError);
    const cause = (err as WorkflowFailedError).cause;
    expect(cause).toBeInstanceOf(ApplicationFailure);
    expect((cause as ApplicationFailure).type).toBe('InvalidRunInput');
    expect((cause as ApplicationFailure).message).toBe(
      'editBatch.maxPlans: expected a whole number of plans per GPU call in [1, 16], got 0',
    );
    const history = await handle.fetchHistory();
    const gpuCalls = (history.events ?? []).filter((e) =>
      ['getHostQueue', 'invert', 'edit'].includes(
        e.activityTaskScheduledEventAttributes?.activityType?.name ?? '',
      ),
    );
    expect(gpuCalls).toHaveLength(0);
    const progress = await handle.query<RunProgress>('progress');
    const manifest = await stack.store.getJson(RunManifestSchema, progress.manifest!);
    expect(manifest.status).toBe('failed');
    expect(manifest.outputs).toEqual([]);
    expect(manifest.stages.plan).toMatchObject({
      status: 'failed',
      message: expect.stringContaining('editBatch.maxPlans'),
    });
    expect(manifest.plans).toEqual([]);
    expect(manifest.stages.edit?.status).toBe('skipped');
  });
});
