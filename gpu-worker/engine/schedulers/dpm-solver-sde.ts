// DPM-Solver++ 2M SDE (algorithm_type "sde-dpmsolver++", solver_order 2, midpoint, lower_order_final,
// final_sigmas_type "zero"): docs/algorithm.md §1.2, §1.6, §2.8.
//
// Float path: s_j = √((1−ᾱ)/ᾱ) is computed op by op in float32 (torch) and kept as Float32Array.
// Scalar coefficients (α, σ, λ, h, e^{−h}) are emulated in float32 with Math.fround, as torch computes
// them on 0-d float32 tensors. Elementwise updates are a·x + b·y evaluated in double and stored in
// float32 (one rounding instead of torch's several; within the 1e-4 parity budget).
import { assertSameShape, linear2, linear3, type Tensor } from '../tensor.js';
import { sdxlAlphasCumprod } from './noise-schedule.js';
import { dpmLeadingGrid, runTimesteps, totalGridSteps } from './timesteps.js';

const f = Math.fround;

export interface DpmSdeSchedule {
  /** The N timesteps run, descending (e.g. 801 … 9). */
  readonly timesteps: Int32Array;
  /** j0 = T − N: run step k uses grid index j = j0 + k. */
  readonly offset: number;
  /** s_j = √((1−ᾱ)/ᾱ) over the whole T-step grid, plus a final 0 (length T+1). */
  readonly sigmas: Float32Array;
}

export function dpmSdeSchedule(
  numInversionSteps: number,
  skip: number,
  alphasCumprod: Float32Array = sdxlAlphasCumprod(),
): DpmSdeSchedule {
  const total = totalGridSteps(numInversionSteps, skip);
  const grid = dpmLeadingGrid(total, alphasCumprod.length);
  const sigmas = new Float32Array(total + 1);
  for (let j = 0; j < total; j++) {
    const a = alphasCumprod[grid[j]];
    sigmas[j] = f(Math.sqrt(f(f(1 - a) / a)));
  }
  sigmas[total] = 0;
  const { timesteps, offset } = runTimesteps(grid, numInversionSteps);
  return { timesteps, offset, sigmas };
}

/** α = 1/√(1+s²) (= √ᾱ) and σ = s·α (= √(1−ᾱ)), in float32 like `_sigma_to_alpha_sigma_t`. */
export function alphaSigmaFromS(s: number): { alpha: number; sigma: number } {
  const alpha = f(1 / f(Math.sqrt(f(f(s * s) + 1))));
  return { alpha, sigma: f(s * alpha) };
}

/** Noise level of run step k for the forward sample y = α·x0 + σ·n (§1.5, DPM `add_noise`). */
export function dpmNoiseLevel(schedule: DpmSdeSchedule, k: number): { alpha: number; sigma: number } {
  return alphaSigmaFromS(schedule.sigmas[schedule.offset + k]);
}

function lambdaOf(s: number): number {
  const { alpha, sigma } = alphaSigmaFromS(s);
  return f(f(Math.log(alpha)) - f(Math.log(sigma)));
}

/**
 * The mean of step k is xCoef·x + d0Coef·D_k + d1Coef·D_{k−1}; the variance noise is std·z.
 * First order at k = 0 and at the last step (lower_order_final; s_{j+1} = 0 gives mean = D_k, std = 0).
 * Quirk Q2: diffusers' inversion uses the 2nd-order formula at the last step (NaN in an unused slot);
 * the z values and reused state are identical with 1st order, so both modes use 1st order here.
 */
export interface DpmSdeCoefficients {
  order: 1 | 2;
  xCoef: number;
  d0Coef: number;
  d1Coef: number;
  std: number;
}

export function dpmSdeCoefficients(schedule: DpmSdeSchedule, k: number): DpmSdeCoefficients {
  const n = schedule.timesteps.length;
  if (!(Number.isInteger(k) && k >= 0 && k < n)) throw new RangeError(`DPM step ${k} out of [0, ${n})`);
  const j = schedule.offset + k;
  const sNext = schedule.sigmas[j + 1];
  if (sNext === 0) return { order: 1, xCoef: 0, d0Coef: 1, d1Coef: 0, std: 0 };
  const cur = alphaSigmaFromS(schedule.sigmas[j]);
  const next = alphaSigmaFromS(sNext);
  const lambdaCur = lambdaOf(schedule.sigmas[j]);
  const h = f(lambdaOf(sNext) - lambdaCur);
  const expNegH = f(Math.exp(-h));
  const oneMinusExp2 = f(1 - f(Math.exp(f(-2 * h))));
  const xCoef = f(f(next.sigma / cur.sigma) * expNegH);
  const dCoef = f(next.alpha * oneMinusExp2);
  const std = f(next.sigma * f(Math.sqrt(oneMinusExp2)));
  if (k === 0) return { order: 1, xCoef, d0Coef: dCoef, d1Coef: 0, std };
  const hPrev = f(lambdaCur - lambdaOf(schedule.sigmas[j - 1]));
  const rho = f(hPrev / h);
  // D1 = (D_k − D_{k−1})/ρ; mean = xCoef·x + dCoef·(D_k + ½·D1)
  const half = (0.5 * dCoef) / rho;
  return { order: 2, xCoef, d0Coef: dCoef + half, d1Coef: -half, std };
}

/** x0 prediction D = (x − σ·ε)/α at run step k (epsilon prediction). */
export function dpmPredictX0(schedule: DpmSdeSchedule, k: number, x: Tensor, eps: Tensor): Tensor {
  const { alpha, sigma } = dpmNoiseLevel(schedule, k);
  return linear2(1 / alpha, x, -sigma / alpha, eps);
}

/** Mean and noise std of step k, plus D_k to carry to step k+1 (the solver's only memory). */
export function dpmSdeMean(
  schedule: DpmSdeSchedule,
  k: number,
  x: Tensor,
  eps: Tensor,
  previousX0: Tensor | null,
): { mean: Tensor; std: number; x0: Tensor } {
  assertSameShape(x, eps, 'dpmSdeMean');
  const c = dpmSdeCoefficients(schedule, k);
  const x0 = dpmPredictX0(schedule, k, x, eps);
  if (c.order === 1) return { mean: linear2(c.xCoef, x, c.d0Coef, x0), std: c.std, x0 };
  if (!previousX0) throw new Error(`DPM step ${k} is second order and needs the previous x0 prediction`);
  return { mean: linear3(c.xCoef, x, c.d0Coef, x0, c.d1Coef, previousX0), std: c.std, x0 };
}
