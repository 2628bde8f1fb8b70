// LEDITS++ masks (docs/algorithm.md §2.5–2.7): token span, M1 from the mean cross-attention map
// (token sum → 3×3 Gaussian with reflect padding → torch-linear quantile → ≥τ → nearest upsampling) and
// M2 from Σ_channels |g_c|. Masks are 0/1 bytes over one latent plane (h·w), shared by all channels.

export const CLIP_TOKENS = 77;

/** 'intersect' = M1⊙M2 (paper); 'attention' = M1 only; 'noise' = M2 only (neither flag set). */
export type MaskMode = 'intersect' | 'attention' | 'noise';

/**
 * Quirk Q5 / §2.5: 'words' sums the concept's BPE tokens (n_c = min(#tokens, 75), the intended
 * semantics, slow tokenizer); 'padded75' sums positions 1..75 (Rust-backed tokenizer, length = 77).
 */
export type SpanMode = 'words' | 'padded75';

/** Token positions [start, end) summed for M1. */
export interface AttentionSpan {
  readonly start: number;
  readonly end: number;
}

export function tokenSpan(wordTokenCount: number, mode: SpanMode): AttentionSpan {
  if (mode === 'padded75') return { start: 1, end: CLIP_TOKENS - 1 };
  if (!(Number.isInteger(wordTokenCount) && wordTokenCount >= 1)) {
    throw new RangeError(`a concept prompt needs at least one token, got ${wordTokenCount}`);
  }
  return { start: 1, end: 1 + Math.min(wordTokenCount, CLIP_TOKENS - 2) };
}

/** A_c[q] = Σ_{j∈span} xattn[q, j] over a (Q,77) row-major map; float32 accumulation like torch.sum. */
export function sumTokenSpan(xattn: Float32Array, span: AttentionSpan): Float32Array {
  if (xattn.length % CLIP_TOKENS !== 0)
    throw new RangeError(`attention map length ${xattn.length} is not Q·77`);
  const queries = xattn.length / CLIP_TOKENS;
  const out = new Float32Array(queries);
  for (let q = 0; q < queries; q++) {
    const row = q * CLIP_TOKENS;
    let acc = 0;
    for (let j = span.start; j < span.end; j++) acc = Math.fround(acc + xattn[row + j]);
    out[q] = acc;
  }
  return out;
}

/**
 * diffusers' GaussianSmoothing(kernel 3, σ 0.5): 1-D factor ∝ exp(−((x−1)/(2σ))²) (note the
 * non-standard 2σ), outer product, normalised to sum 1. Emulates float32 op by op.
 */
export function gaussianKernel3x3(sigma = 0.5): Float32Array {
  const f = Math.fround;
  const norm = 1 / (sigma * Math.sqrt(2 * Math.PI));
  const factor = new Float32Array(3);
  for (let x = 0; x < 3; x++) {
    const z = f((x - 1) / (2 * sigma));
    factor[x] = f(norm * f(Math.exp(-f(z * z))));
  }
  const kernel = new Float32Array(9);
  let sum = 0;
  for (let y = 0; y < 3; y++) {
    for (let x = 0; x < 3; x++) {
      kernel[y * 3 + x] = f(factor[y] * factor[x]);
      sum = f(sum + kernel[y * 3 + x]);
    }
  }
  for (let i = 0; i < 9; i++) kernel[i] = kernel[i] / sum;
  return kernel;
}

const KERNEL = gaussianKernel3x3();

/** Reflect padding index: −1 → 1 and n → n−2 (edge not repeated). */
function reflect(i: number, n: number): number {
  return i < 0 ? -i : i >= n ? 2 * n - 2 - i : i;
}

/** Reflect-pad by 1 (index −1 → 1) and convolve (valid) with a 3×3 kernel; needs h, w ≥ 2. */
export function smoothReflect3x3(
  map: Float32Array,
  height: number,
  width: number,
  kernel = KERNEL,
): Float32Array {
  if (map.length !== height * width) throw new RangeError(`map of ${map.length} is not ${height}×${width}`);
  if (height < 2 || width < 2)
    throw new RangeError(`reflect padding needs at least 2×2, got ${height}×${width}`);
  const out = new Float32Array(map.length);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      let acc = 0;
      for (let dy = -1; dy <= 1; dy++) {
        const row = reflect(y + dy, height) * width;
        for (let dx = -1; dx <= 1; dx++)
          acc += kernel[(dy + 1) * 3 + dx + 1] * map[row + reflect(x + dx, width)];
      }
      out[y * width + x] = acc;
    }
  }
  return out;
}

/**
 * torch.quantile(values, q) with the default linear interpolation, in float32 like torch:
 * rank = q·(n−1), τ = lerp(v[⌊rank⌋], v[⌊rank⌋+1], rank−⌊rank⌋) using torch's two-sided lerp.
 */
export function quantileLinear(values: Float32Array, q: number): number {
  if (values.length === 0) throw new RangeError('quantile of an empty array');
  if (!(q >= 0 && q <= 1)) throw new RangeError(`quantile q must be in [0, 1], got ${q}`);
  const f = Math.fround;
  const sorted = values.slice().sort();
  const n = sorted.length;
  if (Number.isNaN(sorted[n - 1])) return Number.NaN;
  const rank = f(f(q) * (n - 1));
  const below = Math.floor(rank);
  const above = Math.min(below + 1, n - 1);
  const weight = f(rank - below);
  const lo = sorted[below];
  const hi = sorted[above];
  const diff = f(hi - lo);
  return weight < 0.5 ? f(lo + f(weight * diff)) : f(hi - f(diff * f(1 - weight)));
}

export function atLeast(values: Float32Array, threshold: number): Uint8Array {
  const out = new Uint8Array(values.length);
  for (let i = 0; i < values.length; i++) out[i] = values[i] >= threshold ? 1 : 0;
  return out;
}

/** Nearest-neighbour resize of a 0/1 grid: src = ⌊dst·in/out⌋ (torch 'nearest'). */
export function upsampleNearest(
  mask: Uint8Array,
  from: { height: number; width: number },
  to: { height: number; width: number },
): Uint8Array {
  if (mask.length !== from.height * from.width) throw new RangeError('mask size does not match its grid');
  const out = new Uint8Array(to.height * to.width);
  for (let y = 0; y < to.height; y++) {
    const sy = Math.floor((y * from.height) / to.height);
    for (let x = 0; x < to.width; x++) {
      out[y * to.width + x] = mask[sy * from.width + Math.floor((x * from.width) / to.width)];
    }
  }
  return out;
}

/** M1 (§2.6) at latent size from one concept's (Q,77) mean attention map. */
export function attentionMask(
  xattn: Float32Array,
  span: AttentionSpan,
  threshold: number,
  grid: { height: number; width: number },
  latent: { height: number; width: number },
): Uint8Array {
  const summed = sumTokenSpan(xattn, span);
  if (summed.length !== grid.height * grid.width) {
    throw new RangeError(`attention map has ${summed.length} queries, grid is ${grid.height}×${grid.width}`);
  }
  const smoothed = smoothReflect3x3(summed, grid.height, grid.width);
  const cells = atLeast(smoothed, quantileLinear(smoothed, threshold));
  return upsampleNearest(cells, grid, latent);
}

/** S = Σ_channels |g| over a (C, plane) block, float32 accumulation (§2.7 step 1). */
export function channelAbsSum(g: Float32Array, channels: number, plane: number): Float32Array {
  if (g.length !== channels * plane)
    throw new RangeError(`guidance of ${g.length} is not ${channels}·${plane}`);
  const out = new Float32Array(plane);
  for (let c = 0; c < channels; c++) {
    const base = c * plane;
    for (let p = 0; p < plane; p++) out[p] += Math.abs(g[base + p]);
  }
  return out;
}

/** M2 (§2.7): 1[S ≥ quantile(S, q)]. */
export function noiseMask(g: Float32Array, channels: number, plane: number, threshold: number): Uint8Array {
  const summed = channelAbsSum(g, channels, plane);
  return atLeast(summed, quantileLinear(summed, threshold));
}
