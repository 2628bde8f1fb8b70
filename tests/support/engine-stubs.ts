// Deterministic stand-ins for the SDXL UNet used by the engine unit tests: every batch entry's output
// depends only on that entry's (x, t, cond), so batching never changes results.
import { seededGaussianNoise } from '../../gpu-worker/engine/noise.js';
import { type Tensor, tensor } from '../../gpu-worker/engine/tensor.js';
import type { NoisePredictor, PromptConditioning } from '../../gpu-worker/engine/unet-port.js';

export const STUB = { tokens: 77, embed: 8, pooled: 4, channels: 4, height: 16, width: 16 } as const;
export const STUB_GRID = { height: 4, width: 4 } as const;
export const STUB_LATENT = { height: STUB.height, width: STUB.width } as const;
export const TIME_IDS = new Float32Array([32, 32, 0, 0, 32, 32]);

export function stubConditioning(seed: number): PromptConditioning {
  const noise = seededGaussianNoise(seed);
  const draw = { purpose: 'test', timestep: 0 };
  return {
    embeds: noise.next([1, STUB.tokens, STUB.embed], draw),
    pooled: noise.next([1, STUB.pooled], draw),
  };
}

export function stubLatent(seed: number): Tensor {
  return seededGaussianNoise(seed).next([1, STUB.channels, STUB.height, STUB.width], {
    purpose: 'x0',
    timestep: 0,
  });
}

function sum(data: Float32Array, from: number, to: number): number {
  let s = 0;
  for (let i = from; i < to; i++) s += data[i];
  return s;
}

/** ε = 0.3·x + 0.5·sin(0.01t + 0.37i + c(cond)) (xDependent) or 0.5·sin(0.01t + 0.37i) (t only). */
export function stubPredictor(mode: 'x-dependent' | 't-only' = 'x-dependent'): NoisePredictor {
  return {
    async predict({ latents, timestep, cond, pooled }) {
      const batch = latents.shape[0];
      const inner = latents.data.length / batch;
      const condInner = cond.data.length / batch;
      const pooledInner = pooled.data.length / batch;
      const queries = STUB_GRID.height * STUB_GRID.width;
      const noise = tensor(latents.shape);
      const xattn = tensor([batch, queries, STUB.tokens]);
      const logits = new Float64Array(STUB.tokens);
      for (let b = 0; b < batch; b++) {
        const c =
          0.1 * sum(cond.data, b * condInner, (b + 1) * condInner) +
          0.05 * sum(pooled.data, b * pooledInner, (b + 1) * pooledInner);
        const meanX = sum(latents.data, b * inner, (b + 1) * inner) / inner;
        for (let i = 0; i < inner; i++) {
          const x = latents.data[b * inner + i];
          noise.data[b * inner + i] =
            mode === 't-only'
              ? 0.5 * Math.sin(0.01 * timestep + 0.37 * i)
              : 0.3 * x + 0.5 * Math.sin(0.01 * timestep + 0.37 * i + c);
        }
        for (let q = 0; q < queries; q++) {
          let max = -Infinity;
          for (let j = 0; j < STUB.tokens; j++) {
            logits[j] = 3 * Math.sin(0.7 * q * (1 + c) + 0.3 * j + meanX + 0.001 * timestep);
            max = Math.max(max, logits[j]);
          }
          let z = 0;
          for (let j = 0; j < STUB.tokens; j++) z += Math.exp(logits[j] - max);
          const row = (b * queries + q) * STUB.tokens;
          for (let j = 0; j < STUB.tokens; j++) xattn.data[row + j] = Math.exp(logits[j] - max) / z;
        }
      }
      return { noise, xattn };
    },
  };
}
