// Abduction, action and prediction for one image (docs/architecture.md §4, docs/algorithm.md §1–2, §4,
// §5.2). Abduction inverts the image once per method family (CSG: edit-friendly DPM-SDE-2M; DDPM
// baseline: edit-friendly DDIM η=1; DDIM baseline: deterministic DDIM) and is shared by every
// intervention. Action + prediction run the edits of all interventions of the image together: one
// UNet call per step for all CSG requests (warmup-trimmed), one per step for each baseline family.
import type { BaselineEditPlan, CsgEditPlan, EditMethod, EditPlan } from '../../core/schemas/edit-plan.js';
import { type ConceptMaskSummary, CsgStepRecorder } from './csg-step-recorder.js';
import { classifierFreeGuidance } from './guidance.js';
import type { ImageTensor } from './image.js';
import {
  type DdimInversion,
  ddimInversion,
  type EditFriendlyInversion,
  editFriendlyInversion,
  type SourceGuidance,
} from './inversion.js';
import { tokenSpan } from './masks.js';
import type { EngineModels } from './model-bundle.js';
import { type NoiseSource, seededGaussianNoise } from './noise.js';
import { type EditRequest, editLatents } from './sampling.js';
import {
  applyTransition,
  ddimRule,
  EMPTY_MEMORY,
  makeStepRule,
  type SolverMemory,
  type StepRule,
} from './schedulers/step-rule.js';
import type { EngineSettings } from './settings.js';
import { batchEntry, type Tensor } from './tensor.js';
import { sdxlTimeIds } from './text-conditioning.js';
import { TRACE_FAMILY, type TraceSink, traceId } from './trace-sink.js';
import {
  batchInput,
  countingPredictor,
  type LoopControls,
  type NfeCount,
  type NoisePredictor,
  type PromptConditioning,
  type StepProgress,
  unconditional,
} from './unet-port.js';

export type Stage =
  | 'encode'
  | 'invert-csg'
  | 'invert-ddpm'
  | 'invert-ddim'
  | 'text'
  | 'edit-csg'
  | 'sample-ddpm'
  | 'sample-ddim'
  | 'decode';

/** NFE and wall time of one stage; `shared` = how many results the stage served. */
export interface StageStats {
  readonly stage: Stage;
  readonly nfe: NfeCount;
  readonly seconds: number;
  readonly shared: number;
}

export interface PipelineProgress extends StepProgress {
  readonly stage: Stage;
}

export interface PipelineControls {
  readonly signal?: AbortSignal;
  readonly onProgress?: (event: PipelineProgress) => void;
  readonly trace?: TraceSink;
}

/** Noise per inversion family: injectable for parity with recorded torch draws (§6 item 16). */
export type NoiseFactory = (method: 'csg' | 'ddpm') => NoiseSource;

export interface AbductionInput {
  readonly image: ImageTensor;
  /** Y: the caption or the VLM scene description (docs/algorithm.md §8.1); '' inverts unconditionally. */
  readonly sourcePrompt: string;
  readonly methods: readonly EditMethod[];
  readonly settings: EngineSettings;
  readonly noise?: NoiseFactory;
}

/** Per-image state kept between abduction and the edits (serialisable: inversion-state.ts). */
export interface ImageAbduction {
  readonly imageHeight: number;
  readonly imageWidth: number;
  readonly x0: Tensor;
  /** CSG's time ids (inversion and edit); the baselines build their own per stage (sdxlTimeIds). */
  readonly timeIds: Float32Array;
  readonly csg?: EditFriendlyInversion;
  readonly ddpm?: EditFriendlyInversion;
  readonly ddim?: DdimInversion;
  readonly stages: readonly StageStats[];
}

const seconds = (from: number) => (performance.now() - from) / 1000;
const zeroNfe = (): NfeCount => ({ unetCalls: 0, sampleEvaluations: 0 });

function loopControls(controls: PipelineControls, stage: Stage): Pick<LoopControls, 'signal' | 'onProgress'> {
  return {
    signal: controls.signal,
    onProgress: controls.onProgress ? (e) => controls.onProgress?.({ ...e, stage }) : undefined,
  };
}

/** Records the forward noises in denoising order (index of their timestep in the run). */
function tracedNoise(
  inner: NoiseSource,
  trace: TraceSink | undefined,
  family: string,
  rule: StepRule,
): NoiseSource {
  if (!trace) return inner;
  const n = rule.timesteps.length;
  return {
    next(shape, draw) {
      const value = inner.next(shape, draw);
      const k = rule.timesteps.indexOf(draw.timestep);
      if (k >= 0) trace.step(`${family}/forward_noises`, k, n, value, 'n_k for y at timesteps[k]');
      return value;
    },
  };
}

function uncondFor(models: EngineModels): PromptConditioning {
  const d = models.textDims;
  return unconditional(d.tokens, d.embed, d.pooled);
}

/** Abduction: VAE encode once, then one inversion per method family requested. */
export async function abduct(
  models: EngineModels,
  input: AbductionInput,
  controls: PipelineControls = {},
): Promise<ImageAbduction> {
  const { image, sourcePrompt, methods, settings } = input;
  const { trace } = controls;
  const [, , imageHeight, imageWidth] = image.shape;
  const stages: StageStats[] = [];
  const noise = input.noise ?? ((method) => seededGaussianNoise(settings.seed + (method === 'csg' ? 0 : 1)));

  let t0 = performance.now();
  const x0 = await models.vae.encode(image);
  stages.push({ stage: 'encode', nfe: zeroNfe(), seconds: seconds(t0), shared: 1 });
  controls.signal?.throwIfAborted();

  const timeIds = sdxlTimeIds(imageHeight, imageWidth, settings.mode, 'csg');
  const uncond = uncondFor(models);
  const wanted = new Set(methods);
  const sourceFor = async (scale: number): Promise<SourceGuidance | undefined> => {
    if (sourcePrompt === '' || !(scale > 1)) return undefined;
    const { conditionings } = await models.text.encode([sourcePrompt]);
    return { conditioning: conditionings[0], scale };
  };

  let csg: EditFriendlyInversion | undefined;
  if (wanted.has('csg')) {
    t0 = performance.now();
    const inv = settings.inversion;
    const rule = makeStepRule('dpm-sde-2m', inv.numSteps, inv.skip, models.alphasCumprod);
    csg = await editFriendlyInversion({
      x0,
      rule,
      predictor: models.predictor,
      uncond,
      source: await sourceFor(inv.sourceGuidanceScale),
      timeIds,
      noise: tracedNoise(noise('csg'), trace, 'ledits', rule),
      numZeroNoiseSteps: inv.numZeroNoiseSteps,
      ...loopControls(controls, 'invert-csg'),
    });
    traceInversion(trace, 'ledits', x0, csg);
    stages.push({ stage: 'invert-csg', nfe: csg.nfe, seconds: seconds(t0), shared: 1 });
  }
  const base = settings.baselines;
  let ddpm: EditFriendlyInversion | undefined;
  if (wanted.has('ddpm')) {
    t0 = performance.now();
    const rule = makeStepRule('ddim-eta1', base.numSteps, base.skip, models.alphasCumprod);
    ddpm = await editFriendlyInversion({
      x0,
      rule,
      predictor: models.predictor,
      uncond,
      source: await sourceFor(base.cfgSource),
      timeIds: sdxlTimeIds(imageHeight, imageWidth, settings.mode, 'invert-ddpm'),
      noise: tracedNoise(noise('ddpm'), trace, 'efddpm', rule),
      numZeroNoiseSteps: base.numZeroNoiseSteps,
      ...loopControls(controls, 'invert-ddpm'),
    });
    traceInversion(trace, 'efddpm', x0, ddpm);
    stages.push({ stage: 'invert-ddpm', nfe: ddpm.nfe, seconds: seconds(t0), shared: 1 });
  }
  let ddim: DdimInversion | undefined;
  if (wanted.has('ddim')) {
    t0 = performance.now();
    ddim = await ddimInversion({
      x0,
      numSteps: base.numSteps,
      skip: base.skip,
      alphasCumprod: models.alphasCumprod,
      predictor: models.predictor,
      uncond,
      source: await sourceFor(base.cfgSource),
      timeIds: sdxlTimeIds(imageHeight, imageWidth, settings.mode, 'ddim'),
      ...loopControls(controls, 'invert-ddim'),
    });
    if (trace) {
      trace.tensor('ddim/x0', x0);
      trace.ints('ddim/timesteps', ddim.timesteps);
      trace.tensor('ddim/init_latents', ddim.latents, 'x at timesteps[0] from the inversion');
    }
    stages.push({ stage: 'invert-ddim', nfe: ddim.nfe, seconds: seconds(t0), shared: 1 });
  }
  return { imageHeight, imageWidth, x0, timeIds, csg, ddpm, ddim, stages };
}

function traceInversion(
  trace: TraceSink | undefined,
  family: string,
  x0: Tensor,
  inv: EditFriendlyInversion,
): void {
  if (!trace) return;
  const n = inv.zs.length;
  trace.tensor(`${family}/x0`, x0, 'scaled VAE latent mean');
  trace.ints(`${family}/timesteps`, inv.timesteps);
  trace.tensor(`${family}/init_latents`, inv.initLatents, "x_T'");
  inv.zs.forEach((z, k) => {
    trace.step(`${family}/zs`, k, n, z, 'zs[k] for the step at timesteps[k]');
  });
}

export interface EditOutcome {
  readonly interventionId: string;
  readonly method: EditMethod;
  readonly latents: Tensor;
  readonly image: ImageTensor;
  /** UNet evaluations of the stages that produced this result, and how many results shared them. */
  readonly nfe: { inversion: NfeCount; edit: NfeCount; sharedWith: number };
  readonly masks: readonly ConceptMaskSummary[];
}

export interface PredictionResult {
  readonly outcomes: readonly EditOutcome[];
  readonly stages: readonly StageStats[];
}

export class UnsupportedPlanError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UnsupportedPlanError';
  }
}

/** Action + prediction: every plan of one image (all interventions × methods) on its abduction. */
export async function predictCounterfactuals(
  models: EngineModels,
  abduction: ImageAbduction,
  plans: readonly EditPlan[],
  settings: EngineSettings,
  controls: PipelineControls = {},
): Promise<PredictionResult> {
  const stages: StageStats[] = [];
  const latents: { plan: EditPlan; latents: Tensor; masks: ConceptMaskSummary[] }[] = [];
  const csgPlans = plans.filter((p): p is CsgEditPlan => p.method === 'csg');
  const ddpmPlans = plans.filter((p): p is BaselineEditPlan => p.method === 'ddpm');
  const ddimPlans = plans.filter((p): p is BaselineEditPlan => p.method === 'ddim');
  const need = (what: string, inv: unknown) => {
    if (!inv) throw new UnsupportedPlanError(`no ${what} inversion for this image: include it in abduction`);
  };

  if (csgPlans.length > 0) {
    need('CSG', abduction.csg);
    const out = await runCsg(models, abduction, csgPlans, settings, controls, stages);
    latents.push(...out);
  }
  for (const [method, group] of [
    ['ddpm', ddpmPlans],
    ['ddim', ddimPlans],
  ] as const) {
    if (group.length === 0) continue;
    need(method.toUpperCase(), method === 'ddpm' ? abduction.ddpm : abduction.ddim);
    let t0 = performance.now();
    const { conditionings } = await models.text.encode(group.map((p) => p.targetPrompt));
    stages.push({ stage: 'text', nfe: zeroNfe(), seconds: seconds(t0), shared: group.length });
    t0 = performance.now();
    const base = settings.baselines;
    const stage = method === 'ddpm' ? 'sample-ddpm' : 'sample-ddim';
    const run =
      method === 'ddpm'
        ? {
            rule: abduction.ddpm!.rule,
            start: abduction.ddpm!.initLatents,
            zs: abduction.ddpm!.zs,
          }
        : {
            rule: ddimRule(base.numSteps, base.skip, 0, models.alphasCumprod),
            start: abduction.ddim!.latents,
          };
    const sampled = await sampleCfgBatch({
      predictor: models.predictor,
      ...run,
      uncond: uncondFor(models),
      targets: conditionings,
      scale: base.cfgTarget,
      timeIds: sdxlTimeIds(
        abduction.imageHeight,
        abduction.imageWidth,
        settings.mode,
        method === 'ddpm' ? 'sample-ddpm' : 'ddim',
      ),
      trace: controls.trace,
      tracePrefix: TRACE_FAMILY[method],
      requestIds: group.map((p) => p.interventionId),
      ...loopControls(controls, stage),
    });
    stages.push({ stage, nfe: sampled.nfe, seconds: seconds(t0), shared: group.length });
    group.forEach((plan, r) => {
      latents.push({ plan, latents: sampled.latents[r], masks: [] });
    });
  }

  const outcomes: EditOutcome[] = [];
  const t0 = performance.now();
  for (const { plan, latents: x, masks } of latents) {
    controls.signal?.throwIfAborted();
    controls.trace?.tensor(`${TRACE_FAMILY[plan.method]}/${traceId(plan.interventionId)}/final_latents`, x);
    const image = await models.vae.decode(x);
    const inversionStage = { csg: 'invert-csg', ddpm: 'invert-ddpm', ddim: 'invert-ddim' }[plan.method];
    const editStage = { csg: 'edit-csg', ddpm: 'sample-ddpm', ddim: 'sample-ddim' }[plan.method];
    const inv = abduction.stages.find((s) => s.stage === inversionStage);
    const edit = stages.find((s) => s.stage === editStage);
    outcomes.push({
      interventionId: plan.interventionId,
      method: plan.method,
      latents: x,
      image,
      nfe: {
        inversion: inv?.nfe ?? zeroNfe(),
        edit: edit?.nfe ?? zeroNfe(),
        sharedWith: edit?.shared ?? 1,
      },
      masks,
    });
  }
  stages.push({ stage: 'decode', nfe: zeroNfe(), seconds: seconds(t0), shared: outcomes.length });
  return { outcomes, stages };
}

/**
 * Beyond the paper: non-descendant protection (plan.choices.protectNonDescendants, docs/algorithm.md
 * §8.4), the paper's stated intent (c) made explicit. Recorded in `cgm edit` summaries.
 */
export const PROTECT_NON_DESCENDANTS_RULE =
  'beyond the paper: each protected non-descendant concept of a CSG plan (plan.protectedConcepts) is ' +
  'one extra batch entry (its prompt, conditioned like an edit concept, on the same latent) whose only ' +
  'use is its cross-attention map; its M1 is built like an edit concept M1 (its own token span, 3x3 ' +
  'Gaussian, quantile at the threshold of the edit concept being masked, >= tau, nearest upsampling). ' +
  'Every active edit concept c of that intervention applies M_c * (1 - union_p M1_p) instead of M_c ' +
  '(M_c = M1*M2, M1 or M2 by maskMode), so no edit term enters a protected cell. The entries are sent ' +
  'only at steps where some edit concept of the plan is active: +|protected| sample evaluations per ' +
  'such step. Trace: ledits/<intervention>/mask_protected_nondescendants [concept, protected, 4, h, w].';

async function runCsg(
  models: EngineModels,
  abduction: ImageAbduction,
  plans: readonly CsgEditPlan[],
  settings: EngineSettings,
  controls: PipelineControls,
  stages: StageStats[],
): Promise<{ plan: EditPlan; latents: Tensor; masks: ConceptMaskSummary[] }[]> {
  const inversion = abduction.csg!;
  let t0 = performance.now();
  // Edit prompts first, then protected prompts (beyond the paper; see PROTECT_NON_DESCENDANTS_RULE):
  // without protection the list, and so every conditioning, is what it always was.
  const prompts = [
    ...new Set([
      ...plans.flatMap((p) => p.concepts.map((c) => c.prompt)),
      ...plans.flatMap((p) => p.protectedConcepts.map((c) => c.prompt)),
      ...plans.flatMap((p) => (p.interventionalPrompt ? [p.interventionalPrompt] : [])),
    ]),
  ];
  const encoded = await models.text.encode(prompts);
  const byPrompt = new Map(prompts.map((p, i) => [p, i]));
  stages.push({ stage: 'text', nfe: zeroNfe(), seconds: seconds(t0), shared: plans.length });

  const requests: EditRequest[] = plans.map((plan) => ({
    concepts: plan.concepts.map((c) => {
      const i = byPrompt.get(c.prompt)!;
      return {
        conditioning: encoded.conditionings[i],
        guidance: {
          scale: c.scale,
          threshold: c.threshold,
          warmup: c.warmup,
          cooldown: null,
          reverse: c.reverse,
          span: tokenSpan(encoded.wordTokens[i], settings.edit.spanMode),
        },
      };
    }),
    ...(plan.protectedConcepts.length > 0
      ? {
          protected: plan.protectedConcepts.map((p) => {
            const i = byPrompt.get(p.prompt)!;
            return {
              conditioning: encoded.conditionings[i],
              span: tokenSpan(encoded.wordTokens[i], settings.edit.spanMode),
            };
          }),
        }
      : {}),
    ...(plan.interventionalPrompt
      ? { base: encoded.conditionings[byPrompt.get(plan.interventionalPrompt)!] }
      : {}),
  }));
  const [, , h, w] = inversion.initLatents.shape;
  const grid = { height: h / models.attentionDownscale, width: w / models.attentionDownscale };
  const recorder = new CsgStepRecorder(plans, { height: h, width: w }, inversion.zs.length, controls.trace);

  t0 = performance.now();
  const result = await editLatents({
    predictor: models.predictor,
    inversion,
    uncond: uncondFor(models),
    timeIds: abduction.timeIds,
    requests,
    maskMode: settings.edit.maskMode,
    attentionGrid: grid,
    batching: settings.edit.batching,
    ...loopControls(controls, 'edit-csg'),
    onTrace: (step) => recorder.record(step),
  });
  recorder.finish(result.latents);
  stages.push({ stage: 'edit-csg', nfe: result.nfe, seconds: seconds(t0), shared: plans.length });
  return plans.map((plan, r) => ({ plan, latents: result.latents[r], masks: recorder.maskSummaries(r) }));
}

export interface CfgBatchOptions extends LoopControls {
  readonly predictor: NoisePredictor;
  readonly rule: StepRule;
  readonly start: Tensor;
  readonly zs?: readonly Tensor[];
  readonly uncond: PromptConditioning;
  readonly targets: readonly PromptConditioning[];
  readonly scale: number;
  readonly timeIds: Float32Array;
  readonly trace?: TraceSink;
  readonly tracePrefix?: string;
  readonly requestIds?: readonly string[];
}

/**
 * CFG sampling for several target prompts from one start latent, batch [uncond, target]×R in one UNet
 * call per step (2N·R evaluations, N calls). Per request identical to sampleWithCfg in sampling.ts.
 */
export async function sampleCfgBatch(
  options: CfgBatchOptions,
): Promise<{ latents: Tensor[]; nfe: NfeCount }> {
  const { rule, start, zs, uncond, targets, scale, timeIds, signal, onProgress, trace } = options;
  const { predictor, nfe } = countingPredictor(options.predictor);
  const n = rule.timesteps.length;
  if (zs && zs.length !== n) throw new RangeError(`${zs.length} zs for ${n} steps`);
  const xs: Tensor[] = targets.map(() => start);
  const memories: SolverMemory[] = targets.map(() => EMPTY_MEMORY);
  for (let i = 0; i < n; i++) {
    signal?.throwIfAborted();
    const t = rule.timesteps[i];
    const entries = targets.flatMap((target, r) => [
      { latents: xs[r], conditioning: uncond },
      { latents: xs[r], conditioning: target },
    ]);
    const out = await predictor.predict(batchInput(entries, t, timeIds, false));
    for (let r = 0; r < targets.length; r++) {
      const epsUncond = batchEntry(out.noise, 2 * r);
      const epsTarget = batchEntry(out.noise, 2 * r + 1);
      const eps = classifierFreeGuidance(epsUncond, epsTarget, scale);
      const prefix = `${options.tracePrefix ?? 'cfg'}/${traceId(options.requestIds?.[r] ?? String(r))}`;
      if (trace) {
        trace.step(`${prefix}/eps_uncond`, i, n, epsUncond, 'ε_u per sampling step');
        trace.step(`${prefix}/eps_target`, i, n, epsTarget, 'ε_target per sampling step');
      }
      const step = rule.transition(i, xs[r], eps, memories[r]);
      if (step.std !== 0 && !zs) throw new Error(`step rule ${rule.kind} is stochastic and needs zs`);
      xs[r] = applyTransition(step, zs ? zs[i] : null);
      memories[r] = step.memory;
      trace?.step(`${prefix}/latents`, i, n, xs[r], 'latent after each sampling step');
    }
    onProgress?.({ phase: 'sample', step: i + 1, total: n, timestep: t, nfe: { ...nfe } });
  }
  return { latents: xs, nfe };
}

/** §5.2 NFE of the paper-naive schedule: one pipeline call (inversion + edit) per intervention and method. */
export function naiveNfe(
  settings: EngineSettings,
  plans: readonly EditPlan[],
  sourceGuided: boolean,
): number {
  const g = sourceGuided ? 1 : 0;
  let total = 0;
  for (const plan of plans) {
    if (plan.method === 'csg') {
      const n = settings.inversion.numSteps;
      const base = plan.interventionalPrompt ? 1 : 0;
      total += n * (1 + g) + n * (1 + plan.concepts.length + base);
    } else {
      const n = settings.baselines.numSteps;
      total += n * (1 + g) + 2 * n;
    }
  }
  return total;
}
