// The engine thread's job handlers (run by engine-thread.ts through serveJobs): load a bundle, invert
// an image (abduction, cached in the thread by a content hash), edit (action + prediction for every
// plan of that image), LPIPS of outputs against their input, and move inversion states in and out as
// bytes. Payloads and results are plain
// structured-clone data; images travel as PNG bytes.
import { createHash } from 'node:crypto';
import { type EditMethod, type EditPlan, EditPlanSchema } from '../../core/schemas/edit-plan.js';
import { decodeImage, encodeMaskPng, encodePng, inputSizePolicy } from './image.js';
import { deserializeAbduction, serializeAbduction } from './inversion-state.js';
import { Lpips } from './lpips.js';
import { type LoadedModels, openModels, readModelBundle } from './model-bundle.js';
import type { Device } from './onnx-graph.js';
import {
  abduct,
  type ImageAbduction,
  type PipelineControls,
  predictCounterfactuals,
  type StageStats,
} from './pipeline.js';
import {
  type EngineSettings,
  type EngineSettingsInput,
  engineSettings,
  inversionKeySettings,
} from './settings.js';
import type { JobContext, JobHandlers } from './thread-protocol.js';
import { TraceWriter } from './trace-writer.js';

export interface LoadPayload {
  modelDir: string;
  device: Device;
  allowCpuFallback?: boolean;
  /** LPIPS graph folder (cgm-lpips.json); without it the 'lpips' job refuses. */
  lpipsDir?: string;
  threads?: number;
}
export interface LpipsPayload {
  reference: Uint8Array;
  images: Uint8Array[];
  size: { width: number; height: number };
}

export interface LoadResult {
  name: string;
  manifestHash: string;
  device: Device;
  height: number;
  width: number;
  warnings: string[];
}

export interface InvertPayload {
  /** Encoded image file bytes (PNG, JPEG, …). */
  image: Uint8Array;
  sourcePrompt: string;
  methods: EditMethod[];
  settings?: EngineSettingsInput;
  /** Write per-step tensors under this folder (trace-writer.ts). */
  traceDir?: string;
}
export interface InvertResult {
  key: string;
  cached: boolean;
  /** The generation size: the input resized, without cropping, for the model (image.ts). */
  imageHeight: number;
  imageWidth: number;
  /** The input's own size (after EXIF orientation). */
  source: { width: number; height: number };
  stages: readonly StageStats[];
  /** The preprocessed input at the generation size (for LPIPS and side-by-side views). */
  inputPng: Uint8Array;
}

export interface EditPayload {
  key: string;
  plans: EditPlan[];
  settings?: EngineSettingsInput;
  traceDir?: string;
}
export interface EditOutcomeMessage {
  interventionId: string;
  method: EditMethod;
  png: Uint8Array;
  nfe: {
    inversion: { unetCalls: number; sampleEvaluations: number };
    edit: { unetCalls: number; sampleEvaluations: number };
    sharedWith: number;
  };
  masks: { prompt: string; conceptId: string; role: string; activeSteps: number; png: Uint8Array }[];
}
export interface EditResultMessage {
  outcomes: EditOutcomeMessage[];
  stages: readonly StageStats[];
}

interface CachedInversion {
  abduction: ImageAbduction;
  settings: EngineSettings;
  inputPng: Uint8Array;
}

export class EngineJobError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'EngineJobError';
  }
}

/** Handlers with their state (models, inversion cache); one set per engine thread. */
export function createEngineJobs(options: { maxCachedInversions?: number } = {}): JobHandlers {
  let models: LoadedModels | null = null;
  let lpips: Lpips | null = null;
  const cache = new Map<string, CachedInversion>();
  const traces = new Map<string, TraceWriter>();
  const maxCached = options.maxCachedInversions ?? 8;

  const loaded = (): LoadedModels => {
    if (!models) throw new EngineJobError("no model loaded: run the 'load' job first");
    return models;
  };
  const controls = (ctx: JobContext, traceDir?: string): PipelineControls => {
    let trace: TraceWriter | undefined;
    if (traceDir) {
      trace = traces.get(traceDir) ?? new TraceWriter(traceDir);
      traces.set(traceDir, trace);
    }
    const signal = abortSignalOf(ctx);
    return { signal, trace, onProgress: (e) => ctx.progress(e) };
  };
  const remember = (key: string, entry: CachedInversion) => {
    cache.delete(key);
    cache.set(key, entry);
    while (cache.size > maxCached) cache.delete(cache.keys().next().value as string);
  };

  return {
    async load(payload): Promise<LoadResult> {
      const p = payload as LoadPayload;
      const warnings: string[] = [];
      await models?.release();
      await lpips?.release();
      models = null;
      lpips = null;
      cache.clear();
      const bundle = await readModelBundle(p.modelDir);
      const ortOptions = {
        device: p.device,
        allowCpuFallback: p.allowCpuFallback,
        warn: (m: string) => warnings.push(m),
      };
      models = await openModels(bundle, { ...ortOptions, threads: p.threads });
      if (p.lpipsDir) lpips = await Lpips.open(p.lpipsDir, ortOptions);
      return {
        name: bundle.name,
        manifestHash: bundle.manifestHash,
        device: models.device,
        height: bundle.height,
        width: bundle.width,
        warnings,
      };
    },

    async invert(payload, ctx): Promise<InvertResult> {
      const p = payload as InvertPayload;
      const m = loaded();
      const settings = engineSettings(p.settings ?? {});
      const b = m.bundle;
      const image = await decodeImage(p.image, inputSizePolicy(b));
      const methods = [...new Set(p.methods)].sort();
      const key = createHash('sha256')
        .update(
          JSON.stringify({
            model: b.manifestHash,
            source: p.sourcePrompt,
            methods,
            settings: inversionKeySettings(settings),
          }),
        )
        .update(new Uint8Array(image.data.buffer, image.data.byteOffset, image.data.byteLength))
        .digest('hex');
      const hit = cache.get(key);
      if (hit && !p.traceDir) {
        remember(key, hit);
        return {
          key,
          cached: true,
          ...sizeOf(hit.abduction),
          source: image.source,
          stages: hit.abduction.stages,
          inputPng: hit.inputPng,
        };
      }
      const c = controls(ctx, p.traceDir);
      const abduction = await abduct(m, { image, sourcePrompt: p.sourcePrompt, methods, settings }, c);
      if (c.trace instanceof TraceWriter)
        c.trace.close({ model: m.bundle.manifestHash, sourcePrompt: p.sourcePrompt, settings });
      const inputPng = new Uint8Array(await encodePng(image));
      remember(key, { abduction, settings, inputPng });
      return {
        key,
        cached: false,
        ...sizeOf(abduction),
        source: image.source,
        stages: abduction.stages,
        inputPng,
      };
    },

    async edit(payload, ctx): Promise<EditResultMessage> {
      const p = payload as EditPayload;
      const m = loaded();
      const entry = cache.get(p.key);
      if (!entry)
        throw new EngineJobError(
          `no inversion with key ${p.key} in this engine thread: invert or import it first`,
        );
      const plans = p.plans.map((plan) => EditPlanSchema.parse(plan));
      const settings = p.settings ? engineSettings(p.settings) : entry.settings;
      const c = controls(ctx, p.traceDir);
      const result = await predictCounterfactuals(m, entry.abduction, plans, settings, c);
      if (c.trace instanceof TraceWriter) {
        c.trace.close({ model: m.bundle.manifestHash, settings, plans });
        traces.delete(p.traceDir as string);
      }
      const outcomes: EditOutcomeMessage[] = [];
      for (const o of result.outcomes) {
        outcomes.push({
          interventionId: o.interventionId,
          method: o.method,
          png: new Uint8Array(await encodePng(o.image)),
          nfe: o.nfe,
          masks: await Promise.all(
            o.masks.map(async (mask) => ({
              prompt: mask.prompt,
              conceptId: mask.conceptId,
              role: mask.role,
              activeSteps: mask.activeSteps,
              png: new Uint8Array(
                await encodeMaskPng(mask.frequency, mask.width, mask.height, m.latentDownscale),
              ),
            })),
          ),
        });
      }
      return { outcomes, stages: result.stages };
    },

    async exportInversion(payload): Promise<Uint8Array> {
      const { key } = payload as { key: string };
      const entry = cache.get(key);
      if (!entry) throw new EngineJobError(`no inversion with key ${key} in this engine thread`);
      const s = entry.settings;
      const state = serializeAbduction(key, entry.abduction, {
        csg: { numSteps: s.inversion.numSteps, skip: s.inversion.skip },
        ddpm: { numSteps: s.baselines.numSteps, skip: s.baselines.skip },
        ddim: { numSteps: s.baselines.numSteps, skip: s.baselines.skip },
      });
      const settingsJson = Buffer.from(
        JSON.stringify({ settings: s, inputPng: Buffer.from(entry.inputPng).toString('base64') }),
      );
      // envelope: u32 settings length, settings JSON, state bytes
      const out = new Uint8Array(4 + settingsJson.length + state.length);
      new DataView(out.buffer).setUint32(0, settingsJson.length, true);
      out.set(settingsJson, 4);
      out.set(state, 4 + settingsJson.length);
      return out;
    },

    async importInversion(payload): Promise<{ key: string }> {
      const { bytes } = payload as { bytes: Uint8Array };
      const length = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(0, true);
      const meta = JSON.parse(Buffer.from(bytes.subarray(4, 4 + length)).toString('utf8')) as {
        settings: EngineSettingsInput;
        inputPng: string;
      };
      const { key, abduction } = deserializeAbduction(bytes.subarray(4 + length), loaded().alphasCumprod);
      remember(key, {
        abduction,
        settings: engineSettings(meta.settings),
        inputPng: new Uint8Array(Buffer.from(meta.inputPng, 'base64')),
      });
      return { key };
    },

    /** LPIPS-VGG of each PNG against the reference PNG, all decoded at `size` (the generation size). */
    async lpips(payload): Promise<number[]> {
      const p = payload as LpipsPayload;
      if (!lpips) throw new EngineJobError("no LPIPS graph loaded: pass lpipsDir to the 'load' job");
      const policy = { area: p.size.width * p.size.height, multiple: 1, exact: p.size };
      const reference = await decodeImage(p.reference, policy);
      const out: number[] = [];
      for (const image of p.images)
        out.push(await lpips.distance(reference, await decodeImage(image, policy)));
      return out;
    },

    async release(): Promise<void> {
      await models?.release();
      await lpips?.release();
      lpips = null;
      models = null;
      cache.clear();
    },
  };
}

const sizeOf = (a: ImageAbduction) => ({ imageHeight: a.imageHeight, imageWidth: a.imageWidth });

/** The job's shared cancel flag as an AbortSignal the pipeline loops check between steps. */
function abortSignalOf(ctx: JobContext): AbortSignal {
  const controller = new AbortController();
  return new Proxy(controller.signal, {
    get(target, prop) {
      if (ctx.aborted && !target.aborted) {
        const err = new Error('engine job cancelled');
        err.name = 'AbortError';
        controller.abort(err);
      }
      const value = Reflect.get(target, prop, target);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}
