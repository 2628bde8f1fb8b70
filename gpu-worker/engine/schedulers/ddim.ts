// DDIM (η = 0 and η = 1), its noise fitting and the DDIM inverse step (docs/algorithm.md §1.6
// DDIM variant, §2.8, §4.1). Config: leading spacing, steps_offset 1, set_alpha_to_one False (so ᾱ[0]
// stands in below t = 0), clip_sample False, epsilon prediction. Scalars are computed in double from
// float32 ᾱ; elementwise updates are rounded once to float32.
import { assertSameShape, linear2, type Tensor } from '../tensor.js';
import { sdxlAlphasCumprod } from './noise-schedule.js';
import { ddimLeadingGrid, ddimStepRatio, runTimesteps, totalGridSteps } from './timesteps.js';

export interface DdimSchedule {
  /** The N timesteps run, descending (e.g. 793 … 1). */
  readonly timesteps: Int32Array;
  /** 1000 // T. */
  readonly stepRatio: number;
  readonly alphasCumprod: Float32Array;
}

export function ddimSchedule(
  numSteps: number,
  skip: number,
  alphasCumprod: Float32Array = sdxlAlphasCumprod(),
): DdimSchedule {
  const total = totalGridSteps(numSteps, skip);
  const grid = ddimLeadingGrid(total, alphasCumprod.length);
  return {
    timesteps: runTimesteps(grid, numSteps).timesteps,
    stepRatio: ddimStepRatio(total, alphasCumprod.length),
    alphasCumprod,
  };
}

/** ᾱ at t, with ᾱ[0] for t < 0 (final/initial_alpha_cumprod with set_alpha_to_one=False). */
export function ddimAlphaBar(schedule: DdimSchedule, t: number): number {
  return t >= 0 ? schedule.alphasCumprod[t] : schedule.alphasCumprod[0];
}

export function ddimNoiseLevel(schedule: DdimSchedule, t: number): { alpha: number; sigma: number } {
  const a = ddimAlphaBar(schedule, t);
  return { alpha: Math.sqrt(a), sigma: Math.sqrt(1 - a) };
}

/** One DDIM step from t to t − r: mean √ᾱ'·D + √(1−ᾱ'−std²)·ε and std = η·√var (§1.6). */
export function ddimMean(
  schedule: DdimSchedule,
  t: number,
  x: Tensor,
  eps: Tensor,
  eta: number,
): { mean: Tensor; std: number; x0: Tensor } {
  assertSameShape(x, eps, 'ddimMean');
  const a = ddimAlphaBar(schedule, t);
  const aPrev = ddimAlphaBar(schedule, t - schedule.stepRatio);
  const variance = ((1 - aPrev) / (1 - a)) * (1 - a / aPrev);
  const std = eta * Math.sqrt(variance);
  const x0 = linear2(1 / Math.sqrt(a), x, -Math.sqrt(1 - a) / Math.sqrt(a), eps);
  const mean = linear2(Math.sqrt(aPrev), x0, Math.sqrt(1 - aPrev - std * std), eps);
  return { mean, std, x0 };
}

/**
 * DDIM inverse step (§4.1, DDIMInverseScheduler): x sits at t − r (ᾱ[0] below 0); ε was evaluated at
 * the target timestep t (the known approximation). Returns x_t.
 */
export function ddimInverseStep(schedule: DdimSchedule, t: number, x: Tensor, eps: Tensor): Tensor {
  assertSameShape(x, eps, 'ddimInverseStep');
  const aFrom = ddimAlphaBar(schedule, t - schedule.stepRatio);
  const aTo = ddimAlphaBar(schedule, t);
  // x_t = √ᾱ_t·D + √(1−ᾱ_t)·ε with D = (x − √(1−ᾱ_from)ε)/√ᾱ_from, folded into one pass.
  const ratio = Math.sqrt(aTo) / Math.sqrt(aFrom);
  return linear2(ratio, x, Math.sqrt(1 - aTo) - ratio * Math.sqrt(1 - aFrom), eps);
}
