// The per-image workflow (docs/architecture.md §3): describe? → extract → propose (or the user's graph and
// do()s) → plan (pure, here) → pin a GPU host → invert once → edit every intervention × method (the
// plans of one method batched into one GPU call, workflows/edit-calls.ts) → evaluate → manifest in S3
// → webhook. Deterministic: no I/O, only activities; zod stays out (types only). Each stage is one
// function below, in the order it runs; the run's record is workflows/run-record.ts, its activities
// workflows/run-activities.ts.
import {
  ApplicationFailure,
  CancellationScope,
  defineQuery,
  isCancellation,
  patched,
  setHandler,
  workflowInfo,
} from '@temporalio/workflow';
import {
  ALL_EDIT_METHODS,
  DEFAULT_EDIT_BATCH_PLANS,
  DEFAULT_HOST_POLICY,
  MAX_EDIT_BATCH_PLANS,
  PROGRESS_QUERY,
  RUN_FAILURE,
} from '../core/constants.js';
import { checkIntervention } from '../core/graph/check-intervention.js';
import { planEdits } from '../core/graph/plan-edits.js';
import { repairGraph } from '../core/graph/repair.js';
import { validateGraph } from '../core/graph/validate.js';
import type { ArtifactRef } from '../core/schemas/artifact.js';
import type { EditMethod, EditPlan } from '../core/schemas/edit-plan.js';
import type { ConceptGraph, Intervention } from '../core/schemas/paper.js';
import type { GraphRecord, RunOutput } from '../core/schemas/run-manifest.js';
import type {
  CounterfactualInput,
  EditedOutput,
  HostPolicy,
  InversionIndex,
  InvertOutput,
  RunProgress,
} from '../core/schemas/workflow-io.js';
import { editCalls } from './edit-calls.js';
import {
  attemptsOf,
  EDIT_MINUTES_PER_PLAN,
  gpuEntry,
  gpuHost,
  isHostLoss,
  light,
  messageOf,
  vlm,
  webhook,
} from './run-activities.js';
import { nowIso, RunRecord } from './run-record.js';
import { withoutLocation } from './webhook-payload.js';

export const progressQuery = defineQuery<RunProgress>(PROGRESS_QUERY);

export interface CounterfactualResult {
  runId: string;
  status: 'succeeded';
  manifest: ArtifactRef;
  outputs: number;
}

/** Workflow versioning: histories recorded before it send one plan per edit call. */
const BATCHED_EDITS_PATCH = 'batched-edits';

export async function counterfactualWorkflow(input: CounterfactualInput): Promise<CounterfactualResult> {
  const info = workflowInfo();
  const methods: EditMethod[] = input.methods?.length ? input.methods : [...ALL_EDIT_METHODS];
  const hosts: HostPolicy = { ...DEFAULT_HOST_POLICY, ...(input.hosts ?? {}) };
  const judge = input.evaluate?.judge ?? true;
  const run = new RunRecord(input.runId ?? info.workflowId, info.workflowId, input, {
    methods,
    hosts,
    judge,
  });
  setHandler(progressQuery, () => run.progress());

  let failure: unknown = null;
  try {
    if (input.do?.length && input.interventions?.length)
      throw ApplicationFailure.nonRetryable(
        'give either interventions or do requests, not both (CounterfactualInputCheckedSchema)',
        RUN_FAILURE.invalidInput,
      );
    const basePrompt = await describe(run, input);
    const graph = await extract(run, input, basePrompt);
    const interventions = await propose(run, input, graph, basePrompt);
    const plans = plan(run, input, graph, interventions, basePrompt, methods);
    await invertAndEdit(run, input, plans, basePrompt, methods, hosts);
    await evaluate(run, graph, interventions, judge);
    run.manifest.status = 'succeeded';
  } catch (err) {
    failure = err;
    const cancelled = isCancellation(err);
    run.manifest.status = cancelled ? 'cancelled' : 'failed';
    const note = cancelled ? 'cancelled' : messageOf(err);
    run.endStages(cancelled, note);
    run.message = note;
  }

  // The manifest and the webhook also after a cancellation or failure.
  const ref = await CancellationScope.nonCancellable(() => recordAndNotify(run, input, info.workflowId));
  const status = run.manifest.status;
  run.phase = status === 'succeeded' ? 'done' : status === 'cancelled' ? 'cancelled' : 'failed';
  if (failure) throw failure;
  return { runId: run.runId, status: 'succeeded', manifest: ref, outputs: run.manifest.outputs.length };
}

/** describe: Y, the caption when given, else the VLM's scene description. */
async function describe(run: RunRecord, input: CounterfactualInput): Promise<string> {
  if (input.caption) {
    run.manifest.basePrompt = { text: input.caption, source: 'user' };
    run.skip('describe', 'caption given');
    return input.caption;
  }
  const r = await run.vlmStage('describe', () => vlm.describeScene({ image: input.image }));
  run.manifest.basePrompt = { text: r.text, source: 'vlm' };
  return r.text;
}

/** extract: the causal graph, the user's (validated and repaired) or the VLM's. */
async function extract(
  run: RunRecord,
  input: CounterfactualInput,
  basePrompt: string,
): Promise<ConceptGraph> {
  if (input.graph) {
    run.manifest.graph = userGraphRecord(input.graph);
    run.skip('extract', 'graph given by the user');
  } else {
    const r = await run.vlmStage('extract', () =>
      vlm.extractConcepts({ image: input.image, caption: basePrompt }),
    );
    run.manifest.graph = r.graph;
  }
  return run.manifest.graph.graph;
}

/** propose: the user's interventions, the user's do()s propagated by the VLM, or the VLM's proposals. */
async function propose(
  run: RunRecord,
  input: CounterfactualInput,
  graph: ConceptGraph,
  basePrompt: string,
): Promise<Intervention[]> {
  const m = run.manifest;
  if (input.interventions?.length) {
    m.interventions = input.interventions.map((intervention) => ({
      source: 'user',
      intervention,
      check: checkIntervention(graph, intervention),
    }));
    run.skip('propose', 'interventions given by the user');
    return input.interventions;
  }
  if (input.do?.length) return propagateUserDos(run, input, input.do, graph, basePrompt);
  const r = await run.vlmStage('propose', () =>
    vlm.proposeInterventions({ image: input.image, graph, basePrompt, count: input.proposeCount }),
  );
  m.interventions = r.interventions;
  return r.interventions.map((x) => x.intervention);
}

/**
 * The propose stage for the user's do()s: one propagateIntervention call each, in order. The do()
 * is the user's, so each record keeps source 'user'; the propagation is the VLM's, so its attempts
 * (prompt 'propagate', tagged with the intervention id) sit in vlmAttempts. Do number n becomes
 * intervention `do_n`: the VLM numbers every answer intervention_1, and plans need distinct ids.
 */
async function propagateUserDos(
  run: RunRecord,
  input: CounterfactualInput,
  dos: NonNullable<CounterfactualInput['do']>,
  graph: ConceptGraph,
  basePrompt: string,
): Promise<Intervention[]> {
  const m = run.manifest;
  run.setStage('propose', 'running');
  const notes: string[] = [];
  for (const [i, d] of dos.entries()) {
    const id = `do_${i + 1}`;
    try {
      const r = await vlm.propagateIntervention({
        image: input.image,
        graph,
        basePrompt,
        concept: d.concept,
        value: d.value,
      });
      m.vlmAttempts.push(...r.attempts.map((a) => ({ ...a, interventionId: id })));
      m.interventions.push({
        source: 'user',
        intervention: { ...r.intervention.intervention, id },
        check: { ...r.intervention.check, intervention_id: id },
      });
      notes.push(...r.notes.map((n) => `${id}: ${n}`));
    } catch (err) {
      m.vlmAttempts.push(...attemptsOf(err).map((a) => ({ ...a, interventionId: id })));
      throw err;
    }
  }
  run.setStage(
    'propose',
    'succeeded',
    [`${dos.length} do() request(s) given by the user, propagated by the VLM`, ...notes].join('; '),
  );
  return m.interventions.map((x) => x.intervention);
}

/** plan (pure): every intervention × method as an edit plan, and how many plans share one GPU call. */
function plan(
  run: RunRecord,
  input: CounterfactualInput,
  graph: ConceptGraph,
  interventions: Intervention[],
  basePrompt: string,
  methods: EditMethod[],
): { plans: EditPlan[]; maxPlans: number } {
  run.setStage('plan', 'running');
  // How the edits are grouped into GPU calls. Batched edits (plans of one method per call) only in
  // runs that did not start before them.
  const batched = patched(BATCHED_EDITS_PATCH);
  const maxPlans = batched ? (input.editBatch?.maxPlans ?? DEFAULT_EDIT_BATCH_PLANS) : 1;
  // The schema says so too; this catches inputs started without it (a thrown RangeError would only
  // fail the workflow task, retried forever).
  if (!Number.isInteger(maxPlans) || maxPlans < 1 || maxPlans > MAX_EDIT_BATCH_PLANS)
    throw ApplicationFailure.nonRetryable(
      `editBatch.maxPlans: expected a whole number of plans per GPU call in [1, ${MAX_EDIT_BATCH_PLANS}], got ${JSON.stringify(maxPlans)}`,
      RUN_FAILURE.invalidInput,
    );
  run.manifest.settings.editBatch = { maxPlans };
  const planning = input.planning ?? {};
  const plans: EditPlan[] = interventions.flatMap((intervention) =>
    planEdits(graph, intervention, { ...planning, sourcePrompt: basePrompt, methods }),
  );
  run.manifest.plans = plans;
  run.setStage(
    'plan',
    'succeeded',
    `${plans.length} plan(s): ${interventions.length} intervention(s) × ${methods.length} method(s)`,
  );
  return { plans, maxPlans };
}

/**
 * Abduction, action and prediction on one pinned GPU host: invert once, then edit every plan not yet
 * done. A lost host (timeout, exhausted retryable errors) moves the run to another, which reloads the
 * inversion from S3 and makes only what no earlier host finished; at most hosts.maxHosts hosts.
 */
async function invertAndEdit(
  run: RunRecord,
  input: CounterfactualInput,
  { plans, maxPlans }: { plans: EditPlan[]; maxPlans: number },
  basePrompt: string,
  methods: EditMethod[],
  hosts: HostPolicy,
): Promise<void> {
  const m = run.manifest;
  const engine = input.engine ?? {};
  const entry = gpuEntry(hosts);
  let inversion: InversionIndex | null = null;
  const done = new Set<string>();
  const keyOf = (p: Pick<EditPlan, 'interventionId' | 'method'>) => `${p.interventionId}\u0000${p.method}`;
  for (;;) {
    if (run.hostQueue === null) {
      if ((m.hosts ?? []).length >= hosts.maxHosts) {
        throw ApplicationFailure.nonRetryable(
          `no GPU host finished the work after ${hosts.maxHosts} host(s): ${run.message ?? 'see the stage messages'}; ` +
            'check the GPU workers and raise hosts.maxHosts if hosts are expected to come and go',
          RUN_FAILURE.hostsExhausted,
        );
      }
      run.hostQueue = await entry.getHostQueue();
      m.hosts?.push(run.hostQueue);
    }
    const host = gpuHost(run.hostQueue, hosts, '30m');
    const queue = run.hostQueue;
    const hostEdit = (plansInCall: number) =>
      gpuHost(queue, hosts, `${EDIT_MINUTES_PER_PLAN * plansInCall}m`);
    try {
      if (!inversion) {
        run.setStage('invert', 'running');
        const out: InvertOutput = await host.invert({
          runId: run.runId,
          image: input.image,
          sourcePrompt: basePrompt,
          methods,
          engine,
        });
        inversion = {
          inversionId: out.inversionId,
          model: out.model,
          state: out.state,
          preprocessed: out.preprocessed,
          imageHeight: out.imageHeight,
          imageWidth: out.imageWidth,
          stages: out.stages,
        };
        m.input.preprocessed = out.preprocessed;
        m.input.generationSize = { width: out.imageWidth, height: out.imageHeight };
        if (out.sourceSize) m.input.size = out.sourceSize;
        m.versions.model = out.model.name;
        m.versions.modelManifestSha256 = out.model.manifestHash;
        m.inversions = methods.map((method) => {
          const s = out.stages.find((x) => x.stage === `invert-${method}`);
          return { method, ref: out.state, nfe: s?.nfe.sampleEvaluations ?? 0, seconds: s?.seconds ?? 0 };
        });
        run.setStage('invert', 'succeeded', `${out.source} on ${out.host}`);
      }
      if (m.stages.edit?.status !== 'running') run.setStage('edit', 'running');
      // Only what no earlier host finished; a call's outputs are recorded together, once each.
      const calls = editCalls(
        plans.filter((p) => !done.has(keyOf(p))),
        maxPlans,
      );
      for (const call of calls) {
        const r = await hostEdit(call.length).edit({ runId: run.runId, inversion, plans: call, engine });
        for (const o of r.outputs) {
          if (done.has(keyOf(o))) continue;
          done.add(keyOf(o));
          m.outputs.push(runOutputOf(o));
        }
        if (r.reloadedInversion) run.message = `host ${r.host} reloaded the inversion from S3`;
      }
      run.setStage('edit', 'succeeded', run.message);
      return;
    } catch (err) {
      if (!isHostLoss(err)) throw err;
      run.message = `GPU host ${run.hostQueue} lost (${messageOf(err)}); moving to another host`;
      run.hostQueue = null;
    }
  }
}

/** evaluate: the VLM judge per output; LPIPS came with each edit from the GPU host. */
async function evaluate(
  run: RunRecord,
  graph: ConceptGraph,
  interventions: Intervention[],
  judge: boolean,
): Promise<void> {
  const m = run.manifest;
  const lpipsNote = m.outputs.every((o) => o.lpips !== undefined)
    ? 'LPIPS computed on the GPU host with each edit'
    : 'LPIPS missing: the GPU host has no LPIPS graph';
  if (!judge) {
    run.skip('evaluate', `judge turned off; ${lpipsNote}`);
    return;
  }
  run.setStage('evaluate', 'running');
  let failures = 0;
  for (const output of m.outputs) {
    const intervention = interventions.find((i) => i.id === output.interventionId);
    if (!intervention) continue;
    try {
      const r = await vlm.judgeCounterfactual({
        image: output.image,
        intervention,
        graph,
        method: output.method,
      });
      output.judge = r.judge;
      m.vlmAttempts.push(...r.attempts);
    } catch (err) {
      if (isCancellation(err)) throw err;
      // One unjudgeable image does not discard the others: record and go on.
      m.vlmAttempts.push(...attemptsOf(err));
      failures++;
    }
    run.judged++;
  }
  run.setStage(
    'evaluate',
    failures === 0 ? 'succeeded' : 'failed',
    failures === 0 ? lpipsNote : `${failures} judge call(s) failed; see vlmAttempts; ${lpipsNote}`,
  );
}

/** manifest + webhook: the manifest in S3, then the signed webhook naming it (failures only noted). */
async function recordAndNotify(
  run: RunRecord,
  input: CounterfactualInput,
  workflowId: string,
): Promise<ArtifactRef> {
  const m = run.manifest;
  run.setStage('manifest', 'succeeded');
  if (input.webhook) run.setStage('notify', 'pending', 'sent after the manifest is written');
  else run.skip('notify', 'no webhook given');
  m.updatedAt = nowIso();
  const written = await light.writeManifest(m);
  run.manifestRef = written;
  if (input.webhook) {
    run.phase = 'notify';
    try {
      await webhook.notifyWebhook({
        url: input.webhook.url,
        ...(input.webhook.tenant ? { tenant: input.webhook.tenant } : {}),
        id: `${workflowId}:${m.status}`,
        event: `run.${m.status}`,
        data: {
          runId: run.runId,
          workflowId,
          status: m.status,
          manifest: withoutLocation(written),
        },
      });
    } catch (err) {
      run.message = `webhook failed: ${messageOf(err)}`;
    }
  }
  return written;
}

function runOutputOf(o: EditedOutput): RunOutput {
  return {
    interventionId: o.interventionId,
    method: o.method,
    image: o.image,
    masks: o.masks,
    nfe: o.nfe,
    // Absent from edit results recorded before batched edits (replayed histories).
    ...(o.nfeCall === undefined ? {} : { nfeCall: o.nfeCall }),
    seconds: o.seconds,
    ...(o.lpips === undefined ? {} : { lpips: o.lpips }),
  };
}

function userGraphRecord(original: ConceptGraph): GraphRecord {
  const { issues } = validateGraph(original);
  const { graph, repairs } = repairGraph(original);
  return { source: 'user', original, issues, repairs, graph };
}
