// Injectable noise sources (docs/algorithm.md §1.5, §6 item 16): every random draw of the engine
// goes through a NoiseSource so torch traces can be replayed draw for draw.
import { ShapeError, sameShape, type Tensor, tensor } from './tensor.js';

export interface NoiseDraw {
  /** What the draw is for, e.g. "xt" for the edit-friendly forward sample. */
  readonly purpose: string;
  readonly timestep: number;
}

export interface NoiseSource {
  /** A standard-normal tensor of the given shape. */
  next(shape: readonly number[], draw: NoiseDraw): Tensor;
}

/** xoshiro128** seeded by splitmix32; Box–Muller pairs. Deterministic per seed, not torch-compatible. */
export function seededGaussianNoise(seed: number): NoiseSource {
  let s = seed >>> 0;
  const splitmix = () => {
    s = (s + 0x9e3779b9) >>> 0;
    let z = s;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return (z ^ (z >>> 16)) >>> 0;
  };
  let a = splitmix();
  let b = splitmix();
  let c = splitmix();
  let d = splitmix();
  const nextU32 = () => {
    const result = Math.imul(rotl(Math.imul(b, 5) >>> 0, 7), 9) >>> 0;
    const t = (b << 9) >>> 0;
    c ^= a;
    d ^= b;
    b ^= c;
    a ^= d;
    c ^= t;
    d = rotl(d, 11);
    return result;
  };
  // uniform in (0, 1]: never 0, so log() is finite
  const uniform = () => (nextU32() + 1) / 4294967296;
  return {
    next(shape) {
      const out = tensor(shape);
      const data = out.data;
      for (let i = 0; i < data.length; i += 2) {
        const r = Math.sqrt(-2 * Math.log(uniform()));
        const theta = 2 * Math.PI * uniform();
        data[i] = r * Math.cos(theta);
        if (i + 1 < data.length) data[i + 1] = r * Math.sin(theta);
      }
      return out;
    },
  };
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}

/** Replays recorded arrays in draw order (e.g. torch noises dumped by a diffusers trace). */
export function recordedNoise(draws: readonly Tensor[]): NoiseSource {
  let index = 0;
  return {
    next(shape, draw) {
      if (index >= draws.length) {
        throw new RangeError(
          `recorded noise exhausted after ${draws.length} draws (wanted ${draw.purpose}@${draw.timestep})`,
        );
      }
      const recorded = draws[index++];
      if (!sameShape(recorded.shape, shape)) {
        throw new ShapeError(`recorded draw ${index - 1} has shape [${recorded.shape}], wanted [${shape}]`);
      }
      return recorded;
    },
  };
}
