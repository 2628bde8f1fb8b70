// SDXL noise-schedule constants (docs/algorithm.md §1.2), stored in float32 like diffusers.
//
// Float path: β = torch.linspace(√β0, √β1, 1000, float32)², emulated with Math.fround after every
// float32 op (torch's CPU linspace fills the first half as start+step·i and the second half as
// end−step·(n−1−i)). ᾱ = torch.cumprod(1−β): torch's CPU kernel accumulates in double
// (acc_type<float> = double) and rounds each output to float32; we do the same.

export interface NoiseScheduleConfig {
  trainSteps: number;
  betaStart: number;
  betaEnd: number;
}

/** SDXL base scheduler config (scaled_linear). */
export const SDXL_NOISE_SCHEDULE: NoiseScheduleConfig = {
  trainSteps: 1000,
  betaStart: 0.00085,
  betaEnd: 0.012,
};

const f = Math.fround;

export function scaledLinearBetas(config: NoiseScheduleConfig): Float32Array {
  const n = config.trainSteps;
  const start = f(Math.sqrt(config.betaStart));
  const end = f(Math.sqrt(config.betaEnd));
  const step = f(f(end - start) / (n - 1));
  const half = Math.floor(n / 2);
  const betas = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const root = i < half ? f(start + f(step * i)) : f(end - f(step * (n - 1 - i)));
    betas[i] = f(root * root);
  }
  return betas;
}

export function alphasCumprod(betas: Float32Array): Float32Array {
  const out = new Float32Array(betas.length);
  let acc = 1;
  for (let i = 0; i < betas.length; i++) {
    acc *= f(1 - betas[i]);
    out[i] = acc;
  }
  return out;
}

const cache = new Map<string, Float32Array>();

/** ᾱ of a scaled-linear schedule (cached per config; callers must not mutate). */
export function scaledLinearAlphasCumprod(config: NoiseScheduleConfig): Float32Array {
  const key = `${config.trainSteps}|${config.betaStart}|${config.betaEnd}`;
  let hit = cache.get(key);
  if (!hit) {
    hit = alphasCumprod(scaledLinearBetas(config));
    cache.set(key, hit);
  }
  return hit;
}

/** ᾱ for SDXL (cached; callers must not mutate). */
export function sdxlAlphasCumprod(): Float32Array {
  return scaledLinearAlphasCumprod(SDXL_NOISE_SCHEDULE);
}
