// The batch workflow (docs/architecture.md §3): a data set manifest in S3 → seeded sample → one child
// counterfactualWorkflow per (image, variant) through a sliding window → continue-as-new every
// `pageSize` children → every child's manifest turned into evaluation records and the Table 1 report in
// S3 → one webhook. A failed or cancelled child is an outcome, never the batch's failure.
//
// Exactly once per (image, variant): children run in a fixed order (the sample's order, variants inside
// each image) and a page starts at the first child no earlier page ran; the window is drained before
// continue-as-new, so no child is in flight across runs; child ids are derived from the batch, and a
// taken id (a retried or reset batch) is looked up instead of being started again.
// Deterministic: no I/O, only activities and child workflows; zod stays out (types only).

// The workflow SDK raises it but does not re-export it; @temporalio/common is workflow-safe.
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import {
  ActivityFailure,
  ApplicationFailure,
  CancellationScope,
  CancelledFailure,
  ChildWorkflowFailure,
  continueAsNew,
  defineQuery,
  executeChild,
  isCancellation,
  log,
  proxyActivities,
  setHandler,
  workflowInfo,
} from '@temporalio/workflow';
import type { BatchActivities, SampledImage } from '../activities/batch/index.js';
import type { WebhookActivities } from '../activities/webhooks/notify.js';
import {
  BATCH_NON_RETRYABLE_TYPES,
  BATCH_PROGRESS_QUERY,
  DEFAULT_BATCH_PAGE_SIZE,
  DEFAULT_BATCH_WINDOW,
  WEBHOOK_RETRY,
} from '../core/constants.js';
import type { ArtifactRef } from '../core/schemas/artifact.js';
import type {
  BatchInput,
  BatchOutcome,
  BatchProgress,
  BatchResult,
  BatchVariant,
} from '../core/schemas/batch-io.js';
import type { CounterfactualInput } from '../core/schemas/workflow-io.js';
import { counterfactualWorkflow } from './counterfactual.js';
import { withoutLocation } from './webhook-payload.js';

export const batchProgressQuery = defineQuery<BatchProgress>(BATCH_PROGRESS_QUERY);

/** What one workflow run hands the next at continue-as-new: references and counters, not outcomes. */
export interface BatchCarry {
  /** 0-based page (continue-as-new count). */
  page: number;
  /** Children (in batch order) finished by earlier pages; this page starts here. */
  next: number;
  /** Children in the whole batch, once sampled. */
  total: number;
  succeeded: number;
  failed: number;
  /** One JSONL of BatchOutcome per finished page, in page order. */
  outcomePages: ArtifactRef[];
}

const DEFAULT_VARIANTS: BatchVariant[] = [{ name: 'paper', planning: {} }];

// Sampling re-reads the manifest (possibly large); the report reads every child's manifest.
const batch = proxyActivities<BatchActivities>({
  startToCloseTimeout: '10m',
  heartbeatTimeout: '2m',
  retry: {
    initialInterval: '1s',
    backoffCoefficient: 2,
    maximumInterval: '30s',
    maximumAttempts: 10,
    nonRetryableErrorTypes: [...BATCH_NON_RETRYABLE_TYPES],
  },
});
// A child of an earlier attempt may still be running: keep asking (retryable), for up to a day.
const earlierRuns = proxyActivities<Pick<BatchActivities, 'childRunOutcome'>>({
  startToCloseTimeout: '1m',
  scheduleToCloseTimeout: '24h',
  retry: { initialInterval: '10s', backoffCoefficient: 2, maximumInterval: '5m' },
});
const webhook = proxyActivities<WebhookActivities>({ startToCloseTimeout: '30s', retry: WEBHOOK_RETRY });

/**
 * The batch's engine settings with a variant's own: its step count for the inversion and the
 * baselines, its source guidance for CSG's inversion, its token span for CSG's masks.
 */
function withVariant(engine: CounterfactualInput['engine'], variant: BatchVariant) {
  const { steps, sourceGuidance, spanMode } = variant;
  if (steps === undefined && sourceGuidance === undefined && spanMode === undefined) return engine;
  const section = (key: string) => {
    const v = engine[key];
    return v !== null && typeof v === 'object' && !Array.isArray(v) ? v : {};
  };
  return {
    ...engine,
    inversion: {
      ...section('inversion'),
      ...(steps === undefined ? {} : { numSteps: steps }),
      ...(sourceGuidance === undefined ? {} : { sourceGuidanceScale: sourceGuidance }),
    },
    baselines: { ...section('baselines'), ...(steps === undefined ? {} : { numSteps: steps }) },
    ...(spanMode === undefined ? {} : { edit: { ...section('edit'), spanMode } }),
  };
}

interface Unit {
  /** Position in the batch order (images in sample order, variants inside each image). */
  index: number;
  image: SampledImage;
  variant: BatchVariant;
  workflowId: string;
}

/** The failure under the child and activity wrappers: what actually went wrong. */
function rootOf(err: unknown): unknown {
  let e: unknown = err;
  while ((e instanceof ChildWorkflowFailure || e instanceof ActivityFailure) && e.cause) e = e.cause;
  return e;
}

function messageOf(err: unknown): string {
  const e = rootOf(err);
  return e instanceof Error ? e.message : String(e);
}

function typeOf(err: unknown): string | null {
  const e = rootOf(err);
  if (e instanceof ApplicationFailure) return e.type ?? null;
  return e instanceof Error ? e.name : null;
}

export async function batchWorkflow(input: BatchInput, carry?: BatchCarry): Promise<BatchResult> {
  const info = workflowInfo();
  const batchId = input.batchId ?? info.workflowId;
  const variants = input.variants?.length ? input.variants : DEFAULT_VARIANTS;
  const window = input.window ?? DEFAULT_BATCH_WINDOW;
  const pageSize = input.pageSize ?? DEFAULT_BATCH_PAGE_SIZE;
  const run = input.run;
  const state: BatchCarry = carry ?? {
    page: 0,
    next: 0,
    total: 0,
    succeeded: 0,
    failed: 0,
    outcomePages: [],
  };

  let phase: BatchProgress['phase'] = 'sampling';
  let message: string | undefined;
  let report: BatchResult | null = null;
  const running = new Map<string, Unit>();
  setHandler(
    batchProgressQuery,
    (): BatchProgress => ({
      batchId,
      phase,
      total: state.total,
      succeeded: state.succeeded,
      failed: state.failed,
      running: [...running.keys()],
      page: state.page,
      message,
      result: report,
    }),
  );

  let cancelled = false;
  CancellationScope.current().cancelRequested.catch(() => {
    cancelled = true;
  });
  const outcomes: { index: number; outcome: BatchOutcome }[] = [];

  try {
    // ---- this page's share of the sample -----------------------------------------------------------
    const firstImage = Math.floor(state.next / variants.length);
    const lastImage = Math.ceil((state.next + pageSize) / variants.length); // exclusive
    const sampled = await batch.sampleBatchPage({
      manifest: input.manifest,
      sample: input.sample ?? { seed: 'fm-cgm-batch' },
      run: { methods: run.methods, planning: run.planning },
      variants,
      offset: firstImage,
      limit: lastImage - firstImage,
    });
    state.total = sampled.images * variants.length;
    const end = Math.min(state.total, state.next + pageSize);
    const units: Unit[] = [];
    for (let index = state.next; index < end; index++) {
      const image = sampled.lines[Math.floor(index / variants.length) - firstImage];
      const variant = variants[index % variants.length];
      const workflowId = `${batchId}/${variant.name}/${image.dataset}/${image.id}`;
      units.push({ index, image, variant, workflowId });
    }

    // ---- children through a sliding window ---------------------------------------------------------
    phase = 'running';
    message = `page ${state.page}: children ${state.next + 1}-${end} of ${state.total}`;
    const inFlight = new Map<string, Promise<void>>();
    for (const unit of units) {
      while (inFlight.size >= window) await Promise.race(inFlight.values());
      if (cancelled) break;
      running.set(unit.workflowId, unit);
      const done = runChild(unit).then((outcome) => {
        outcomes.push({ index: unit.index, outcome });
        if (outcome.status === 'succeeded') state.succeeded++;
        else state.failed++;
        running.delete(unit.workflowId);
        inFlight.delete(unit.workflowId);
      });
      inFlight.set(unit.workflowId, done);
    }
    await Promise.all(inFlight.values());
  } catch (err) {
    // Only the sampling call can throw here (children become outcomes); a cancellation still reports.
    if (!isCancellation(err)) {
      phase = 'failed';
      message = messageOf(err);
      await CancellationScope.nonCancellable(() => notify('failed', { error: message ?? 'failed' }));
      throw err;
    }
    cancelled = true;
  }

  // ---- this page's outcomes to S3, then the next page or the report ---------------------------------
  const result = await CancellationScope.nonCancellable(async () => {
    if (outcomes.length > 0) {
      outcomes.sort((a, b) => a.index - b.index);
      state.outcomePages.push(
        await batch.writeOutcomePage({ batchId, outcomes: outcomes.map((o) => o.outcome) }),
      );
      state.next += outcomes.length;
    }
    if (!cancelled && state.next < state.total) return null;
    phase = 'reporting';
    message = `${state.succeeded} succeeded, ${state.failed} failed of ${state.total}`;
    const written = await batch.reportBatch({
      batchId,
      total: state.total,
      outcomePages: state.outcomePages,
      run: { methods: run.methods, planning: run.planning, engine: run.engine },
      variants,
      manifest: input.manifest,
    });
    report = written;
    await notify(cancelled ? 'cancelled' : 'succeeded', { result: written });
    return written;
  });
  if (!result) return continueAsNew<typeof batchWorkflow>(input, { ...state, page: state.page + 1 });
  if (cancelled) {
    // The report of what finished is written (progress query `result`); the batch still ends cancelled.
    phase = 'cancelled';
    throw new CancelledFailure(`batch ${batchId} cancelled after ${state.next} of ${state.total} children`);
  }
  phase = 'done';
  return result;

  /** The batch webhook, once, at the end; its failure is noted, not the batch's. */
  async function notify(status: 'succeeded' | 'cancelled' | 'failed', data: Record<string, unknown>) {
    if (!input.webhook) return;
    const before = phase;
    phase = 'notify';
    try {
      await webhook.notifyWebhook({
        url: input.webhook.url,
        ...(input.webhook.tenant ? { tenant: input.webhook.tenant } : {}),
        id: `${info.workflowId}:${status}`,
        event: `batch.${status}`,
        data: withoutLocation({ batchId, workflowId: info.workflowId, status, total: state.total, ...data }),
      });
    } catch (err) {
      message = `webhook failed: ${messageOf(err)}`;
    }
    phase = before;
  }

  /** One child run, always ending as an outcome (a failure or cancellation is recorded, not thrown). */
  async function runChild(unit: Unit): Promise<BatchOutcome> {
    const head = {
      dataset: unit.image.dataset,
      imageId: unit.image.id,
      drawIndex: unit.image.drawIndex,
      variant: unit.variant.name,
      runId: unit.workflowId,
    };
    if (unit.image.image.kind !== 's3') {
      // sampleBatchPage refuses local images; this keeps the type honest.
      return { ...head, status: 'failed', manifest: null, error: { message: 'image not in S3', type: null } };
    }
    const childInput: CounterfactualInput = {
      runId: unit.workflowId,
      image: unit.image.image.ref,
      caption: unit.image.caption,
      methods: unit.variant.methods ?? run.methods,
      planning: { ...run.planning, ...unit.variant.planning },
      engine: withVariant(run.engine, unit.variant),
      evaluate: run.evaluate,
      hosts: run.hosts,
      ...(run.proposeCount === undefined ? {} : { proposeCount: run.proposeCount }),
      ...(run.editBatch === undefined ? {} : { editBatch: run.editBatch }),
    };
    try {
      log.info('child run started', { child: unit.workflowId });
      const result = await executeChild(counterfactualWorkflow, {
        workflowId: unit.workflowId,
        args: [childInput],
        // A retried or reset batch must not run an image twice: a taken id is looked up below.
        workflowIdReusePolicy: 'REJECT_DUPLICATE',
      });
      log.info('child run succeeded', { child: unit.workflowId });
      return { ...head, status: 'succeeded', manifest: result.manifest, error: null };
    } catch (err) {
      return CancellationScope.nonCancellable(async () => {
        if (err instanceof WorkflowExecutionAlreadyStartedError) {
          return { ...head, ...(await earlierRuns.childRunOutcome({ workflowId: unit.workflowId })) };
        }
        const manifest = await batch.childRunManifest({ workflowId: unit.workflowId });
        return {
          ...head,
          status: isCancellation(err) ? 'cancelled' : 'failed',
          manifest,
          error: { message: messageOf(err), type: typeOf(err) },
        };
      });
    }
  }
}
