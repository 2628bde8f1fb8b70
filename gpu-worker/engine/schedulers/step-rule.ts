// The pluggable step rule shared by edit-friendly inversion and every sampling loop (§4.2: "reuse the
// LEDITS++ inversion code with a pluggable step rule"). A rule turns (x_k, ε_k, memory) into the mean
// and noise std of step k; sampling adds std·z_k, z fitting solves for z_k.
import { assertSameShape, axpy, type Tensor } from '../tensor.js';
import { ddimMean, ddimNoiseLevel, ddimSchedule } from './ddim.js';
import { dpmNoiseLevel, dpmSdeMean, dpmSdeSchedule } from './dpm-solver-sde.js';

export type StepRuleKind = 'dpm-sde-2m' | 'ddim-eta1' | 'ddim-eta0';

/** Solver memory between steps: DPM keeps the previous x0 prediction; DDIM keeps nothing. */
export interface SolverMemory {
  readonly previousX0: Tensor | null;
}

export const EMPTY_MEMORY: SolverMemory = { previousX0: null };

export interface Transition {
  readonly mean: Tensor;
  /** Noise std ς; 0 means the step is deterministic and z is ignored (stored as 0). */
  readonly std: number;
  readonly memory: SolverMemory;
}

export interface StepRule {
  readonly kind: StepRuleKind;
  /** Run timesteps, descending, length N. */
  readonly timesteps: Int32Array;
  /** y = alpha·x0 + sigma·n at timesteps[k] (the scheduler's add_noise). */
  noiseLevel(k: number): { alpha: number; sigma: number };
  transition(k: number, x: Tensor, eps: Tensor, memory: SolverMemory): Transition;
}

export function dpmSde2mRule(numSteps: number, skip: number, alphasCumprod?: Float32Array): StepRule {
  const schedule = dpmSdeSchedule(numSteps, skip, alphasCumprod);
  return {
    kind: 'dpm-sde-2m',
    timesteps: schedule.timesteps,
    noiseLevel: (k) => dpmNoiseLevel(schedule, k),
    transition(k, x, eps, memory) {
      const { mean, std, x0 } = dpmSdeMean(schedule, k, x, eps, memory.previousX0);
      return { mean, std, memory: { previousX0: x0 } };
    },
  };
}

export function ddimRule(numSteps: number, skip: number, eta: 0 | 1, alphasCumprod?: Float32Array): StepRule {
  const schedule = ddimSchedule(numSteps, skip, alphasCumprod);
  return {
    kind: eta === 1 ? 'ddim-eta1' : 'ddim-eta0',
    timesteps: schedule.timesteps,
    noiseLevel: (k) => ddimNoiseLevel(schedule, schedule.timesteps[k]),
    transition(k, x, eps) {
      const { mean, std } = ddimMean(schedule, schedule.timesteps[k], x, eps, eta);
      return { mean, std, memory: EMPTY_MEMORY };
    },
  };
}

/** `alphasCumprod`: the model's noise schedule (EngineModels.alphasCumprod); absent, SDXL's. */
export function makeStepRule(
  kind: StepRuleKind,
  numSteps: number,
  skip: number,
  alphasCumprod?: Float32Array,
): StepRule {
  if (kind === 'dpm-sde-2m') return dpmSde2mRule(numSteps, skip, alphasCumprod);
  return ddimRule(numSteps, skip, kind === 'ddim-eta1' ? 1 : 0, alphasCumprod);
}

/** x_{k+1} = μ + ς·z (the sampler's step with injected variance noise). */
export function applyTransition(transition: Transition, z: Tensor | null): Tensor {
  if (transition.std === 0 || z === null) return transition.mean;
  return axpy(transition.std, z, transition.mean);
}

/** z = (y − μ)/ς, or all zeros when ς = 0 (§1.6). */
export function fitNoise(transition: Transition, target: Tensor): Tensor {
  const { mean, std } = transition;
  assertSameShape(mean, target, 'fitNoise');
  const out = new Float32Array(mean.data.length);
  if (std !== 0) {
    const y = target.data;
    const m = mean.data;
    for (let i = 0; i < out.length; i++) out[i] = (y[i] - m[i]) / std;
  }
  return { data: out, shape: [...mean.shape] };
}
