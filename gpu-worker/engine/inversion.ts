// Abduction (docs/algorithm.md §1.5–1.7, §4.1): edit-friendly DDPM inversion with a pluggable
// step rule, and deterministic DDIM inversion. Both call the predictor only in the denoising direction
// (edit-friendly) or only upward (DDIM); the noise source is injectable for torch parity.
import { classifierFreeGuidance } from './guidance.js';
import type { NoiseSource } from './noise.js';
import { ddimInverseStep, ddimSchedule } from './schedulers/ddim.js';
import {
  applyTransition,
  EMPTY_MEMORY,
  fitNoise,
  type SolverMemory,
  type StepRule,
} from './schedulers/step-rule.js';
import { batchEntry, linear2, type Tensor, tensor } from './tensor.js';
import {
  batchInput,
  countingPredictor,
  type LoopControls,
  type NfeCount,
  type NoisePredictor,
  type PromptConditioning,
} from './unet-port.js';

/** Source-prompt CFG during inversion (§1.4): ε = ε_u + w·(ε_src − ε_u), batch 2. */
export interface SourceGuidance {
  readonly conditioning: PromptConditioning;
  /** Must exceed 1 (diffusers' do_classifier_free_guidance); omit the source for ε_u only. */
  readonly scale: number;
}

/** The inputs every guided inversion shares. */
export interface InversionConditioning {
  readonly predictor: NoisePredictor;
  readonly uncond: PromptConditioning;
  readonly source?: SourceGuidance;
  /** SDXL time ids (§3.2), the same for every batch entry. */
  readonly timeIds: Float32Array;
}

export interface EditFriendlyInversionOptions extends InversionConditioning, LoopControls {
  /** (1,4,h,w) VAE latent (mean × scaling factor). */
  readonly x0: Tensor;
  readonly rule: StepRule;
  readonly noise: NoiseSource;
  /** SDXL default 3 (quirk Q4): zs[N−m..N−1] = 0 after fitting. */
  readonly numZeroNoiseSteps: number;
  /** Keep the corrected latents x_0..x_N (tests, traces); off in production (N×latent floats). */
  readonly keepTrajectory?: boolean;
}

export interface EditFriendlyInversion {
  readonly rule: StepRule;
  /** x_T' = the independent forward sample at t_first (§1.5); never corrected. */
  readonly initLatents: Tensor;
  /** zs[k] is the variance noise of the step taken at timesteps[k] (denoising order, §1.7). */
  readonly zs: readonly Tensor[];
  readonly timesteps: Int32Array;
  /** Corrected latents: trajectory[k] = the input of step k, trajectory[N] = the last output. */
  readonly trajectory?: readonly Tensor[];
  readonly nfe: NfeCount;
}

function validateSource(source: SourceGuidance | undefined): void {
  if (source && !(source.scale > 1)) {
    throw new RangeError(
      `source guidance scale must be > 1 (got ${source.scale}); omit the source prompt for unconditional inversion`,
    );
  }
}

/** ε for inversion: ε_u alone, or source CFG in one batch-2 call (§1.4). */
export async function guidedInversionNoise(
  conditioning: InversionConditioning,
  predictor: NoisePredictor,
  latents: Tensor,
  timestep: number,
): Promise<Tensor> {
  const { uncond, source, timeIds } = conditioning;
  if (!source) {
    const out = await predictor.predict(
      batchInput([{ latents, conditioning: uncond }], timestep, timeIds, false),
    );
    return out.noise;
  }
  const entries = [
    { latents, conditioning: uncond },
    { latents, conditioning: source.conditioning },
  ];
  const out = await predictor.predict(batchInput(entries, timestep, timeIds, false));
  return classifierFreeGuidance(batchEntry(out.noise, 0), batchEntry(out.noise, 1), source.scale);
}

/** Edit-friendly inversion (§1.5–1.7) with the rule's step (DPM-SDE-2M or DDIM η=1). */
export async function editFriendlyInversion(
  options: EditFriendlyInversionOptions,
): Promise<EditFriendlyInversion> {
  const { x0, rule, noise, numZeroNoiseSteps, keepTrajectory, onProgress, signal } = options;
  validateSource(options.source);
  if (rule.kind === 'ddim-eta0') {
    throw new RangeError(
      "edit-friendly inversion needs a stochastic step rule ('dpm-sde-2m' or 'ddim-eta1')",
    );
  }
  const n = rule.timesteps.length;
  if (!(Number.isInteger(numZeroNoiseSteps) && numZeroNoiseSteps >= 0 && numZeroNoiseSteps <= n)) {
    throw new RangeError(`numZeroNoiseSteps must be an integer in [0, ${n}], got ${numZeroNoiseSteps}`);
  }
  if (x0.shape.length !== 4 || x0.shape[0] !== 1)
    throw new RangeError(`x0 must be (1,C,h,w), got [${x0.shape}]`);
  const { predictor, nfe } = countingPredictor(options.predictor);

  // §1.5: independent forward samples, drawn from the lowest to the highest timestep (diffusers order).
  const samples: Tensor[] = new Array(n);
  for (let k = n - 1; k >= 0; k--) {
    const { alpha, sigma } = rule.noiseLevel(k);
    const draw = noise.next(x0.shape, { purpose: 'xt', timestep: rule.timesteps[k] });
    samples[k] = linear2(alpha, x0, sigma, draw);
  }

  // §1.6: z fitting in the denoising direction, storing the corrected latent back.
  const zs: Tensor[] = new Array(n);
  const trajectory: Tensor[] = [];
  let x = samples[0];
  let memory: SolverMemory = EMPTY_MEMORY;
  for (let k = 0; k < n; k++) {
    signal?.throwIfAborted();
    if (keepTrajectory) trajectory.push(x);
    const eps = await guidedInversionNoise(options, predictor, x, rule.timesteps[k]);
    const step = rule.transition(k, x, eps, memory);
    const target = k + 1 < n ? samples[k + 1] : x0;
    zs[k] = fitNoise(step, target);
    x = applyTransition(step, zs[k]);
    memory = step.memory;
    onProgress?.({ phase: 'invert', step: k + 1, total: n, timestep: rule.timesteps[k], nfe: { ...nfe } });
  }
  if (keepTrajectory) trajectory.push(x);

  // §1.7 / Q4: zero-noise tail.
  for (let k = n - numZeroNoiseSteps; k < n; k++) zs[k] = tensor(x0.shape);

  return {
    rule,
    initLatents: samples[0],
    zs,
    timesteps: rule.timesteps,
    trajectory: keepTrajectory ? trajectory : undefined,
    nfe,
  };
}

export interface DdimInversionOptions extends InversionConditioning, LoopControls {
  readonly x0: Tensor;
  readonly numSteps: number;
  readonly skip: number;
  /** The model's ᾱ (EngineModels.alphasCumprod); absent, SDXL's. */
  readonly alphasCumprod?: Float32Array;
}

export interface DdimInversion {
  /** x at t_first of the N-step DDIM run. */
  readonly latents: Tensor;
  readonly timesteps: Int32Array;
  readonly nfe: NfeCount;
}

/** Deterministic DDIM inversion (§4.1): ascending t, model queried at the target t. */
export async function ddimInversion(options: DdimInversionOptions): Promise<DdimInversion> {
  const { x0, numSteps, skip, onProgress, signal } = options;
  validateSource(options.source);
  const schedule = ddimSchedule(numSteps, skip, options.alphasCumprod);
  const { predictor, nfe } = countingPredictor(options.predictor);
  const n = schedule.timesteps.length;
  let x = x0;
  for (let k = n - 1; k >= 0; k--) {
    signal?.throwIfAborted();
    const t = schedule.timesteps[k];
    const eps = await guidedInversionNoise(options, predictor, x, t);
    x = ddimInverseStep(schedule, t, x, eps);
    onProgress?.({ phase: 'invert', step: n - k, total: n, timestep: t, nfe: { ...nfe } });
  }
  return { latents: x, timesteps: schedule.timesteps, nfe };
}
