// GPU activities (docs/architecture.md §2–3): getHostQueue on the shared entry queue; invert (abduction) and
// edit (action + prediction) on this host's own queue. Idempotent by construction: the inversion is
// stored under a hash of image + settings + model, outputs under their content hashes, so a retry, a
// restarted host or a different host finds earlier work instead of redoing or duplicating it.
import { createHash } from 'node:crypto';
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { activityLog } from '../../activities/activity-log.js';
import { ArtifactIntegrityError, ArtifactNotFoundError } from '../../core/artifacts/errors.js';
import type { ArtifactStore } from '../../core/artifacts/store.js';
import { GPU_FAILURE } from '../../core/constants.js';
import type { ArtifactRef } from '../../core/schemas/artifact.js';
import {
  type EditedOutput,
  type EditInput,
  EditInputSchema,
  type EditOutput,
  type GpuHeartbeat,
  type InversionIndex,
  InversionIndexSchema,
  type InvertInput,
  InvertInputSchema,
  type InvertOutput,
} from '../../core/schemas/workflow-io.js';
import type { PipelineProgress } from '../engine/pipeline.js';
import { type EngineSettings, engineSettings, inversionKeySettings } from '../engine/settings.js';
import type { GpuEngine } from './engine.js';

export type { GpuEngine } from './engine.js';

export interface GpuActivitiesDeps {
  engine: GpuEngine;
  store: Pick<ArtifactStore, 'get' | 'put' | 'putAt' | 'stat' | 'putJson' | 'getJson'>;
  /** This host's own task queue (returned by getHostQueue). */
  hostQueue: string;
}

/** Key of the inversion index: a function of everything the inversion depends on. */
export function inversionId(
  model: string,
  image: ArtifactRef,
  sourcePrompt: string,
  methods: readonly string[],
  settings: EngineSettings,
): string {
  return createHash('sha256')
    .update(
      JSON.stringify({
        v: 1,
        model,
        image: image.sha256,
        sourcePrompt,
        methods: [...new Set(methods)].sort(),
        settings: inversionKeySettings(settings),
      }),
    )
    .digest('hex');
}

export const inversionIndexKey = (id: string) => `inversions/index/${id.slice(0, 2)}/${id}.json`;

/** The running activity's context; undefined outside an activity (direct calls in tools and tests). */
function activityContext(): Context | undefined {
  try {
    return Context.current();
  } catch {
    return undefined;
  }
}

function heartbeat(details: GpuHeartbeat): void {
  activityContext()?.heartbeat(details);
}

function cancellationSignal(): AbortSignal | undefined {
  try {
    return Context.current().cancellationSignal;
  } catch {
    return undefined;
  }
}

const invalid = (message: string) => ApplicationFailure.nonRetryable(message, GPU_FAILURE.invalidInput);

function parse<T>(
  schema: { safeParse(v: unknown): { success: boolean; data?: T; error?: unknown } },
  v: unknown,
  what: string,
): T {
  const r = schema.safeParse(v);
  if (!r.success) throw invalid(`${what} is malformed: ${String((r.error as Error)?.message ?? r.error)}`);
  return r.data as T;
}

function settingsOf(engine: Record<string, unknown>): EngineSettings {
  try {
    return engineSettings(engine);
  } catch (err) {
    throw invalid(`engine settings are invalid: ${(err as Error).message}`);
  }
}

/** Bad input never heals on retry; everything else (S3 outage, OOM, a crash) may. */
function mapEngineError(err: unknown): never {
  const name = (err as Error)?.name;
  // RangeError: the engine's own argument checks, e.g. numZeroNoiseSteps above the step count left
  // after `skip`; deterministic, so no other host or retry can succeed.
  if (
    name === 'ImageInputError' ||
    name === 'UnsupportedPlanError' ||
    name === 'InversionStateError' ||
    name === 'RangeError'
  )
    throw invalid(`${name}: ${(err as Error).message}`);
  throw err;
}

async function readInput(
  store: GpuActivitiesDeps['store'],
  ref: ArtifactRef,
  what: string,
): Promise<Uint8Array> {
  try {
    return await store.get(ref);
  } catch (err) {
    if (err instanceof ArtifactNotFoundError || err instanceof ArtifactIntegrityError)
      throw invalid(`${what}: ${err.message}`);
    throw err;
  }
}

export function createGpuActivities(deps: GpuActivitiesDeps) {
  const { engine, store, hostQueue } = deps;
  /** inversionId → the engine thread's key, for inversions this host holds in memory. */
  const inMemory = new Map<string, string>();

  const onProgress = (phase: 'invert' | 'edit', extra: Partial<GpuHeartbeat> = {}) => {
    // Taken here, inside the activity: the engine thread's progress messages arrive outside the
    // activity's async context, where Context.current() throws and every step heartbeat was lost
    // (a long invert or edit then looked like a dead host).
    const context = activityContext();
    return (event: unknown) => {
      const e = event as PipelineProgress;
      context?.heartbeat({ phase, stage: e.stage, step: e.step, total: e.total, ...extra });
    };
  };

  /** The engine key of `index`, importing the state from S3 when this host does not hold it. */
  async function ensureLoaded(
    index: InversionIndex,
    force = false,
  ): Promise<{ key: string; reloaded: boolean }> {
    const known = inMemory.get(index.inversionId);
    if (known && !force) return { key: known, reloaded: false };
    heartbeat({ phase: 'load', step: 0, total: 1 });
    const bytes = await readInput(store, index.state, 'inversion state');
    const key = await engine.importInversion(bytes).catch(mapEngineError);
    inMemory.set(index.inversionId, key);
    heartbeat({ phase: 'load', step: 1, total: 1 });
    return { key, reloaded: true };
  }

  return {
    /** Cheap, on the shared entry queue: which host queue to pin the run to. */
    async getHostQueue(): Promise<string> {
      return hostQueue;
    },

    /** Abduction, once per image + settings + model; stored in S3 so any host can continue from it. */
    async invert(raw: InvertInput): Promise<InvertOutput> {
      const t0 = performance.now();
      const input = parse(InvertInputSchema, raw, 'invert input');
      const settings = settingsOf(input.engine);
      const id = inversionId(
        engine.model.manifestHash,
        input.image,
        input.sourcePrompt,
        input.methods,
        settings,
      );
      const indexKey = inversionIndexKey(id);
      const done = (index: InversionIndex, source: InvertOutput['source']): InvertOutput => {
        const seconds = (performance.now() - t0) / 1000;
        activityLog()?.info('inversion ready', { inversionId: id, source, seconds, host: hostQueue });
        return { ...index, source, host: hostQueue, seconds };
      };

      const stored = await store.stat(indexKey);
      if (stored) {
        const index = await store.getJson(InversionIndexSchema, stored);
        return done(index, inMemory.has(id) ? 'memory' : 's3');
      }

      const image = await readInput(store, input.image, 'input image');
      const result = await engine
        .invert(
          { image, sourcePrompt: input.sourcePrompt, methods: input.methods, settings },
          { signal: cancellationSignal(), onProgress: onProgress('invert') },
        )
        .catch(mapEngineError);
      inMemory.set(id, result.key);
      heartbeat({ phase: 'upload', step: 0, total: 2 });
      const stateBytes = await engine.exportInversion(result.key);
      const state = await store.put(stateBytes, {
        contentType: 'application/x-cgm-inversion',
        prefix: 'inversions/state',
      });
      const preprocessed = await store.put(result.inputPng, { contentType: 'image/png', prefix: 'images' });
      heartbeat({ phase: 'upload', step: 1, total: 2 });
      const index: InversionIndex = {
        inversionId: id,
        model: engine.model,
        state: state.ref,
        preprocessed: preprocessed.ref,
        imageHeight: result.imageHeight,
        imageWidth: result.imageWidth,
        sourceSize: result.source,
        stages: result.stages.map((s) => ({ ...s, nfe: { ...s.nfe } })),
      };
      // The index last: whoever finds it finds everything it points at already stored.
      const json = new TextEncoder().encode(JSON.stringify(InversionIndexSchema.parse(index)));
      await store.putAt(indexKey, json, { contentType: 'application/json' });
      return done(index, result.cached ? 'memory' : 'computed');
    },

    /**
     * Action + prediction for the given plans: the workflow sends the plans of one method together
     * (several interventions share one UNet call per step). Each output carries the exact NFE of the
     * engine stage that made it (nfeCall) and its share of it (nfe), so a call's outputs sum to its
     * total; seconds likewise split the call's wall time over its outputs.
     */
    async edit(raw: EditInput): Promise<EditOutput> {
      const t0 = performance.now();
      const input = parse(EditInputSchema, raw, 'edit input');
      if (input.inversion.model.manifestHash !== engine.model.manifestHash) {
        throw ApplicationFailure.nonRetryable(
          `inversion ${input.inversion.inversionId} was made with model ${input.inversion.model.name} ` +
            `(${input.inversion.model.manifestHash.slice(0, 12)}), this host serves ${engine.model.name} ` +
            `(${engine.model.manifestHash.slice(0, 12)}); run GPU workers with one model bundle`,
          GPU_FAILURE.modelMismatch,
        );
      }
      const settings = settingsOf(input.engine);
      // Named in the heartbeat only when the whole call is about one intervention or one method.
      const only = <T>(values: T[]) => (new Set(values).size === 1 ? values[0] : undefined);
      const progress = onProgress('edit', {
        interventionId: only(input.plans.map((p) => p.interventionId)),
        method: only(input.plans.map((p) => p.method)),
      });
      let { key, reloaded } = await ensureLoaded(input.inversion);
      const run = (k: string) =>
        engine.edit(
          { key: k, plans: input.plans, settings },
          { signal: cancellationSignal(), onProgress: progress },
        );
      let result: Awaited<ReturnType<GpuEngine['edit']>>;
      try {
        result = await run(key);
      } catch (err) {
        // The engine thread evicted it (bounded cache) or restarted: reload from S3 once.
        if ((err as Error)?.name !== 'EngineJobError' || !/no inversion/.test((err as Error).message))
          mapEngineError(err);
        ({ key } = await ensureLoaded(input.inversion, true));
        reloaded = true;
        result = await run(key).catch(mapEngineError);
      }
      const seconds = (performance.now() - t0) / 1000;
      heartbeat({ phase: 'upload', step: 0, total: result.outcomes.length });
      const outputs: EditedOutput[] = [];
      for (const o of result.outcomes) {
        const nfeCall = {
          unetCalls: o.nfe.edit.unetCalls,
          sampleEvaluations: o.nfe.edit.sampleEvaluations,
          sharedWith: o.nfe.sharedWith,
        };
        const image = await store.put(o.png, { contentType: 'image/png', prefix: 'outputs' });
        const masks: ArtifactRef[] = [];
        for (const m of o.masks)
          masks.push((await store.put(m.png, { contentType: 'image/png', prefix: 'masks' })).ref);
        outputs.push({
          interventionId: o.interventionId,
          method: o.method,
          image: image.ref,
          masks,
          maskConcepts: o.masks.map((m) => ({
            conceptId: m.conceptId,
            prompt: m.prompt,
            activeSteps: m.activeSteps,
          })),
          // The stage total is the work of all sharedWith outputs: copying it into each would count it
          // sharedWith times.
          nfe: nfeCall.sampleEvaluations / nfeCall.sharedWith,
          nfeCall,
          seconds: seconds / result.outcomes.length,
        });
        heartbeat({ phase: 'upload', step: outputs.length, total: result.outcomes.length });
      }
      if (engine.lpips && outputs.length > 0) {
        // Minimality (paper Table 1): LPIPS against the input as the model saw it.
        const reference = await readInput(store, input.inversion.preprocessed, 'preprocessed input');
        const size = { width: input.inversion.imageWidth, height: input.inversion.imageHeight };
        const distances = await engine.lpips(
          reference,
          result.outcomes.map((o) => o.png),
          size,
        );
        outputs.forEach((o, i) => {
          o.lpips = distances[i];
        });
      }
      const total = (performance.now() - t0) / 1000;
      activityLog()?.info('edits ready', {
        outputs: outputs.length,
        reloaded,
        seconds: total,
        host: hostQueue,
      });
      return { outputs, reloadedInversion: reloaded, host: hostQueue, seconds: total };
    },
  };
}

export type GpuActivities = ReturnType<typeof createGpuActivities>;
