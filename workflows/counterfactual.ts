// The per-image workflow (docs/architecture.md §3): describe? → extract → propose (or the user's graph and
// do()s) → plan (pure, here) → pin a GPU host → invert once → edit every intervention × method (the
// plans of one method batched into one GPU call, workflows/edit-calls.ts) → evaluate → manifest in S3
// → webhook. Deterministic: no I/O, only activities; zod stays out (types only).
import {
  ActivityCancellationType,
  ActivityFailure,
  ApplicationFailure,
  CancellationScope,
  defineQuery,
  isCancellation,
  patched,
  proxyActivities,
  setHandler,
  TimeoutFailure,
  workflowInfo,
} from '@temporalio/workflow';
import type { LightActivities } from '../activities/light/index.js';
import type { VlmActivities } from '../activities/vlm/index.js';
import type { WebhookActivities } from '../activities/webhooks/notify.js';
import {
  ALL_EDIT_METHODS,
  DEFAULT_EDIT_BATCH_PLANS,
  DEFAULT_HOST_POLICY,
  GPU_NON_RETRYABLE_TYPES,
  LIGHT_NON_RETRYABLE_TYPES,
  MAX_EDIT_BATCH_PLANS,
  PROGRESS_QUERY,
  RUN_FAILURE,
  RUN_STAGES,
  VLM_NON_RETRYABLE_TYPES,
  WEBHOOK_RETRY,
} from '../core/constants.js';
import { checkIntervention } from '../core/graph/check-intervention.js';
import { planEdits } from '../core/graph/plan-edits.js';
import { repairGraph } from '../core/graph/repair.js';
import { validateGraph } from '../core/graph/validate.js';
import type { ArtifactRef } from '../core/schemas/artifact.js';
import type { EditMethod, EditPlan } from '../core/schemas/edit-plan.js';
import type { ConceptGraph, Intervention } from '../core/schemas/paper.js';
import type {
  GraphRecord,
  RunManifest,
  RunOutput,
  RunStage,
  StageStatus,
  VlmAttempt,
} from '../core/schemas/run-manifest.js';
import type {
  CounterfactualInput,
  EditedOutput,
  HostPolicy,
  InversionIndex,
  InvertOutput,
  RunPhase,
  RunProgress,
} from '../core/schemas/workflow-io.js';
import type { GpuActivities } from '../gpu-worker/activities/index.js';
import { editCalls } from './edit-calls.js';
import { withoutLocation } from './webhook-payload.js';

export const progressQuery = defineQuery<RunProgress>(PROGRESS_QUERY);

export interface CounterfactualResult {
  runId: string;
  status: 'succeeded';
  manifest: ArtifactRef;
  outputs: number;
}

/** Ceiling of one GPU edit call per plan it carries; heartbeats catch a dead host much sooner. */
const EDIT_MINUTES_PER_PLAN = 20;
/** Workflow versioning: histories recorded before it send one plan per edit call. */
const BATCHED_EDITS_PATCH = 'batched-edits';
const GPU_NON_RETRYABLE: string[] = [...GPU_NON_RETRYABLE_TYPES];

// Light queue = the workflow's own queue. Timeouts and retries sit next to the proxies (conventions);
// the webhook's retry policy is shared with the batch workflow (core/constants.ts).
const light = proxyActivities<LightActivities>({
  startToCloseTimeout: '1m',
  retry: {
    initialInterval: '1s',
    backoffCoefficient: 2,
    maximumInterval: '30s',
    maximumAttempts: 10,
    nonRetryableErrorTypes: [...LIGHT_NON_RETRYABLE_TYPES],
  },
});
const webhook = proxyActivities<WebhookActivities>({ startToCloseTimeout: '30s', retry: WEBHOOK_RETRY });
// One VLM attempt includes the activity's own validated re-asks; transport faults retry here.
const vlm = proxyActivities<VlmActivities>({
  startToCloseTimeout: '10m',
  retry: {
    initialInterval: '2s',
    backoffCoefficient: 2,
    maximumInterval: '1m',
    maximumAttempts: 4,
    nonRetryableErrorTypes: [...VLM_NON_RETRYABLE_TYPES],
  },
});

function gpuEntry(hosts: HostPolicy) {
  // Waits for any GPU worker to appear; the answer is cheap.
  return proxyActivities<Pick<GpuActivities, 'getHostQueue'>>({
    taskQueue: hosts.gpuTaskQueue,
    scheduleToCloseTimeout: '10m',
    startToCloseTimeout: '10s',
    retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '30s' },
  });
}

function gpuHost(queue: string, hosts: HostPolicy, startToClose: string) {
  return proxyActivities<Pick<GpuActivities, 'invert' | 'edit'>>({
    taskQueue: queue,
    // A dead host never picks the task up: fail fast (not retried by the server) and move on.
    scheduleToStartTimeout: `${hosts.hostScheduleToStartSeconds}s`,
    startToCloseTimeout: startToClose,
    heartbeatTimeout: `${hosts.heartbeatSeconds}s`,
    // Free the GPU before the workflow writes the manifest of a cancelled run.
    cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
    retry: {
      initialInterval: '5s',
      backoffCoefficient: 2,
      maximumInterval: '2m',
      maximumAttempts: 3,
      nonRetryableErrorTypes: GPU_NON_RETRYABLE,
    },
  });
}

/** A failure that another host might not have: timeouts and exhausted retryable errors. */
function isHostLoss(err: unknown): boolean {
  if (!(err instanceof ActivityFailure) || isCancellation(err)) return false;
  const cause = err.cause;
  if (cause instanceof TimeoutFailure) return true;
  if (cause instanceof ApplicationFailure)
    return !cause.nonRetryable && !GPU_NON_RETRYABLE.includes(cause.type ?? '');
  return false;
}

/** VLM attempt records carried by a failed VLM activity (activities/vlm/failures.ts details[0]). */
function attemptsOf(err: unknown): VlmAttempt[] {
  const cause = err instanceof ActivityFailure ? err.cause : err;
  if (!(cause instanceof ApplicationFailure)) return [];
  const d = cause.details?.[0] as { attempts?: VlmAttempt[] } | undefined;
  return Array.isArray(d?.attempts) ? d.attempts : [];
}

function messageOf(err: unknown): string {
  let e: unknown = err;
  while (e instanceof ActivityFailure && e.cause) e = e.cause;
  return e instanceof Error ? e.message : String(e);
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

export async function counterfactualWorkflow(input: CounterfactualInput): Promise<CounterfactualResult> {
  const info = workflowInfo();
  const runId = input.runId ?? info.workflowId;
  const methods: EditMethod[] = input.methods?.length ? input.methods : [...ALL_EDIT_METHODS];
  const hosts: HostPolicy = { ...DEFAULT_HOST_POLICY, ...(input.hosts ?? {}) };
  const engine = input.engine ?? {};
  const judgeOn = input.evaluate?.judge ?? true;
  const nowIso = () => new Date().toISOString(); // workflow time: replay-safe

  const manifest: RunManifest = {
    schemaVersion: 1,
    runId,
    workflowId: info.workflowId,
    createdAt: nowIso(),
    updatedAt: nowIso(),
    input: { image: input.image, caption: input.caption ?? null },
    basePrompt: null,
    graph: null,
    interventions: [],
    plans: [],
    inversions: [],
    outputs: [],
    vlmAttempts: [],
    stages: {},
    settings: {
      methods,
      planning: input.planning ?? {},
      engine,
      hosts,
      evaluate: { judge: judgeOn },
      proposeCount: input.proposeCount ?? null,
    },
    versions: { workflow: 'counterfactual/1' },
    hosts: [],
  };

  let phase: RunPhase = 'starting';
  let hostQueue: string | null = null;
  let manifestRef: ArtifactRef | null = null;
  let judged = 0;
  let message: string | undefined;
  setHandler(
    progressQuery,
    (): RunProgress => ({
      runId,
      phase,
      stages: manifest.stages,
      outputs: { done: manifest.outputs.length, total: manifest.plans.length },
      judged: { done: judged, total: judgeOn ? manifest.plans.length : 0 },
      hostQueue,
      hosts: manifest.hosts ?? [],
      manifest: manifestRef,
      message,
    }),
  );

  const setStage = (stage: RunStage, status: StageStatus['status'], note?: string) => {
    const prev = manifest.stages[stage];
    const at = nowIso();
    manifest.stages[stage] = {
      status,
      startedAt: status === 'running' ? at : (prev?.startedAt ?? (status === 'skipped' ? undefined : at)),
      finishedAt: status === 'running' || status === 'pending' ? undefined : at,
      message: note,
    };
    if (status === 'running') phase = stage;
  };
  const skip = (stage: RunStage, why: string) => setStage(stage, 'skipped', why);
  async function vlmStage<T extends { attempts: VlmAttempt[] }>(
    stage: RunStage,
    call: () => Promise<T>,
  ): Promise<T> {
    setStage(stage, 'running');
    try {
      const r = await call();
      manifest.vlmAttempts.push(...r.attempts);
      setStage(stage, 'succeeded');
      return r;
    } catch (err) {
      manifest.vlmAttempts.push(...attemptsOf(err));
      throw err;
    }
  }

  /**
   * The propose stage for the user's do()s: one propagateIntervention call each, in order. The do()
   * is the user's, so each record keeps source 'user'; the propagation is the VLM's, so its attempts
   * (prompt 'propagate', tagged with the intervention id) sit in vlmAttempts. Do number n becomes
   * intervention `do_n`: the VLM numbers every answer intervention_1, and plans need distinct ids.
   */
  async function propagateUserDos(
    dos: NonNullable<CounterfactualInput['do']>,
    graph: ConceptGraph,
    basePrompt: string,
  ): Promise<Intervention[]> {
    setStage('propose', 'running');
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
        manifest.vlmAttempts.push(...r.attempts.map((a) => ({ ...a, interventionId: id })));
        manifest.interventions.push({
          source: 'user',
          intervention: { ...r.intervention.intervention, id },
          check: { ...r.intervention.check, intervention_id: id },
        });
        notes.push(...r.notes.map((n) => `${id}: ${n}`));
      } catch (err) {
        manifest.vlmAttempts.push(...attemptsOf(err).map((a) => ({ ...a, interventionId: id })));
        throw err;
      }
    }
    setStage(
      'propose',
      'succeeded',
      [`${dos.length} do() request(s) given by the user, propagated by the VLM`, ...notes].join('; '),
    );
    return manifest.interventions.map((x) => x.intervention);
  }

  let failure: unknown = null;
  try {
    if (input.do?.length && input.interventions?.length)
      throw ApplicationFailure.nonRetryable(
        'give either interventions or do requests, not both (CounterfactualInputCheckedSchema)',
        RUN_FAILURE.invalidInput,
      );
    // ---- describe: Y ---------------------------------------------------------------------------
    let basePrompt: string;
    if (input.caption) {
      basePrompt = input.caption;
      manifest.basePrompt = { text: basePrompt, source: 'user' };
      skip('describe', 'caption given');
    } else {
      const r = await vlmStage('describe', () => vlm.describeScene({ image: input.image }));
      basePrompt = r.text;
      manifest.basePrompt = { text: basePrompt, source: 'vlm' };
    }

    // ---- extract: the causal graph --------------------------------------------------------------
    let graph: ConceptGraph;
    if (input.graph) {
      manifest.graph = userGraphRecord(input.graph);
      skip('extract', 'graph given by the user');
    } else {
      const r = await vlmStage('extract', () =>
        vlm.extractConcepts({ image: input.image, caption: basePrompt }),
      );
      manifest.graph = r.graph;
    }
    graph = manifest.graph.graph;

    // ---- propose: the interventions ----------------------------------------------------------------
    let interventions: Intervention[];
    if (input.interventions?.length) {
      interventions = input.interventions;
      manifest.interventions = interventions.map((intervention) => ({
        source: 'user',
        intervention,
        check: checkIntervention(graph, intervention),
      }));
      skip('propose', 'interventions given by the user');
    } else if (input.do?.length) {
      interventions = await propagateUserDos(input.do, graph, basePrompt);
    } else {
      const r = await vlmStage('propose', () =>
        vlm.proposeInterventions({ image: input.image, graph, basePrompt, count: input.proposeCount }),
      );
      manifest.interventions = r.interventions;
      interventions = r.interventions.map((x) => x.intervention);
    }

    // ---- plan (pure) ----------------------------------------------------------------------------------
    setStage('plan', 'running');
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
    manifest.settings.editBatch = { maxPlans };
    const planning = input.planning ?? {};
    const plans: EditPlan[] = interventions.flatMap((intervention) =>
      planEdits(graph, intervention, { ...planning, sourcePrompt: basePrompt, methods }),
    );
    manifest.plans = plans;
    setStage(
      'plan',
      'succeeded',
      `${plans.length} plan(s): ${interventions.length} intervention(s) × ${methods.length} method(s)`,
    );

    // ---- invert once, edit every intervention × method, pinned to one GPU host ---------------------
    const entry = gpuEntry(hosts);
    let inversion: InversionIndex | null = null;
    const done = new Set<string>();
    const keyOf = (p: Pick<EditPlan, 'interventionId' | 'method'>) => `${p.interventionId}\u0000${p.method}`;
    for (;;) {
      if (hostQueue === null) {
        if ((manifest.hosts ?? []).length >= hosts.maxHosts) {
          throw ApplicationFailure.nonRetryable(
            `no GPU host finished the work after ${hosts.maxHosts} host(s): ${message ?? 'see the stage messages'}; ` +
              'check the GPU workers and raise hosts.maxHosts if hosts are expected to come and go',
            RUN_FAILURE.hostsExhausted,
          );
        }
        hostQueue = await entry.getHostQueue();
        manifest.hosts?.push(hostQueue);
      }
      const host = gpuHost(hostQueue, hosts, '30m');
      const queue = hostQueue;
      const hostEdit = (plansInCall: number) =>
        gpuHost(queue, hosts, `${EDIT_MINUTES_PER_PLAN * plansInCall}m`);
      try {
        if (!inversion) {
          setStage('invert', 'running');
          const out: InvertOutput = await host.invert({
            runId,
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
          manifest.input.preprocessed = out.preprocessed;
          manifest.input.generationSize = { width: out.imageWidth, height: out.imageHeight };
          if (out.sourceSize) manifest.input.size = out.sourceSize;
          manifest.versions.model = out.model.name;
          manifest.versions.modelManifestSha256 = out.model.manifestHash;
          manifest.inversions = methods.map((method) => {
            const s = out.stages.find((x) => x.stage === `invert-${method}`);
            return { method, ref: out.state, nfe: s?.nfe.sampleEvaluations ?? 0, seconds: s?.seconds ?? 0 };
          });
          setStage('invert', 'succeeded', `${out.source} on ${out.host}`);
        }
        if (manifest.stages.edit?.status !== 'running') setStage('edit', 'running');
        // Only what no earlier host finished; a call's outputs are recorded together, once each.
        const calls = editCalls(
          plans.filter((p) => !done.has(keyOf(p))),
          maxPlans,
        );
        for (const call of calls) {
          const r = await hostEdit(call.length).edit({ runId, inversion, plans: call, engine });
          for (const o of r.outputs) {
            if (done.has(keyOf(o))) continue;
            done.add(keyOf(o));
            manifest.outputs.push(runOutputOf(o));
          }
          if (r.reloadedInversion) message = `host ${r.host} reloaded the inversion from S3`;
        }
        setStage('edit', 'succeeded', message);
        break;
      } catch (err) {
        if (!isHostLoss(err)) throw err;
        message = `GPU host ${hostQueue} lost (${messageOf(err)}); moving to another host`;
        hostQueue = null;
      }
    }

    // ---- evaluate: the VLM judge; LPIPS came with each edit from the GPU host -------------------------
    const lpipsNote = manifest.outputs.every((o) => o.lpips !== undefined)
      ? 'LPIPS computed on the GPU host with each edit'
      : 'LPIPS missing: the GPU host has no LPIPS graph';
    if (!judgeOn) {
      skip('evaluate', `judge turned off; ${lpipsNote}`);
    } else {
      setStage('evaluate', 'running');
      let failures = 0;
      for (const output of manifest.outputs) {
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
          manifest.vlmAttempts.push(...r.attempts);
        } catch (err) {
          if (isCancellation(err)) throw err;
          // One unjudgeable image does not discard the others: record and go on.
          manifest.vlmAttempts.push(...attemptsOf(err));
          failures++;
        }
        judged++;
      }
      setStage(
        'evaluate',
        failures === 0 ? 'succeeded' : 'failed',
        failures === 0 ? lpipsNote : `${failures} judge call(s) failed; see vlmAttempts; ${lpipsNote}`,
      );
    }
    manifest.status = 'succeeded';
  } catch (err) {
    failure = err;
    const cancelled = isCancellation(err);
    manifest.status = cancelled ? 'cancelled' : 'failed';
    const note = cancelled ? 'cancelled' : messageOf(err);
    for (const stage of RUN_STAGES.slice(0, RUN_STAGES.indexOf('manifest'))) {
      const s = manifest.stages[stage];
      if (s?.status === 'running') setStage(stage, cancelled ? 'cancelled' : 'failed', note);
      else if (!s)
        setStage(
          stage,
          cancelled ? 'cancelled' : 'skipped',
          cancelled ? 'not reached: cancelled' : 'not reached: an earlier stage failed',
        );
    }
    message = note;
  }

  // ---- manifest + webhook: also after a cancellation or failure --------------------------------------
  const ref = await CancellationScope.nonCancellable(async () => {
    setStage('manifest', 'succeeded');
    if (input.webhook) setStage('notify', 'pending', 'sent after the manifest is written');
    else skip('notify', 'no webhook given');
    manifest.updatedAt = nowIso();
    const written = await light.writeManifest(manifest);
    manifestRef = written;
    if (input.webhook) {
      phase = 'notify';
      try {
        await webhook.notifyWebhook({
          url: input.webhook.url,
          ...(input.webhook.tenant ? { tenant: input.webhook.tenant } : {}),
          id: `${info.workflowId}:${manifest.status}`,
          event: `run.${manifest.status}`,
          data: {
            runId,
            workflowId: info.workflowId,
            status: manifest.status,
            manifest: withoutLocation(written),
          },
        });
      } catch (err) {
        message = `webhook failed: ${messageOf(err)}`;
      }
    }
    return written;
  });
  phase = manifest.status === 'succeeded' ? 'done' : manifest.status === 'cancelled' ? 'cancelled' : 'failed';
  if (failure) throw failure;
  return { runId, status: 'succeeded', manifest: ref, outputs: manifest.outputs.length };
}
