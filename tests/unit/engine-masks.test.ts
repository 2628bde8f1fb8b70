import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  atLeast,
  attentionMask,
  CLIP_TOKENS,
  gaussianKernel3x3,
  noiseMask,
  quantileLinear,
  smoothReflect3x3,
  sumTokenSpan,
  tokenSpan,
  upsampleNearest,
} from '../../gpu-worker/engine/masks.js';

function count(mask: Uint8Array): number {
  let n = 0;
  for (const v of mask) n += v;
  return n;
}

/** A permutation of 0..n−1 (distinct values) from a seed. */
function distinctValues(n: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = i;
  let s = seed >>> 0 || 1;
  for (let i = n - 1; i > 0; i--) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    const j = s % (i + 1);
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out;
}

describe('quantile (§2.6 step 4, §6 item 9)', () => {
  it('matches torch linear interpolation on hand-computed vectors', () => {
    expect(quantileLinear(new Float32Array([4, 1, 3, 2]), 0.5)).toBe(2.5); // rank 1.5
    expect(quantileLinear(new Float32Array([40, 0, 20, 10, 30]), 0.7)).toBeCloseTo(28, 5); // rank 2.8
    expect(quantileLinear(new Float32Array([5, -1, 3]), 0)).toBe(-1);
    expect(quantileLinear(new Float32Array([5, -1, 3]), 1)).toBe(5);
    expect(quantileLinear(new Float32Array([2]), 0.7)).toBe(2);
    // rank = 0.7·9 = 6.3 → 6 + 0.3·(7 − 6) on 0..9 (weight < 0.5 branch of torch.lerp)
    expect(quantileLinear(distinctValues(10, 3), 0.7)).toBeCloseTo(6.3, 5);
    // rank = 0.75·4 = 3 exactly → v[3]
    expect(quantileLinear(new Float32Array([0, 1, 2, 3, 4]), 0.75)).toBe(3);
  });

  it('property: equals a double-precision linear-interpolation reference', () => {
    fc.assert(
      fc.property(
        fc.array(fc.float({ min: -1e3, max: 1e3, noNaN: true }), { minLength: 1, maxLength: 200 }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        (values, q) => {
          const v = Float32Array.from(values);
          const sorted = [...v].sort((a, b) => a - b);
          const rank = q * (sorted.length - 1);
          const lo = Math.floor(rank);
          const hi = Math.min(lo + 1, sorted.length - 1);
          const expected = sorted[lo] + (rank - lo) * (sorted[hi] - sorted[lo]);
          const got = quantileLinear(v, q);
          const spread = sorted[sorted.length - 1] - sorted[0];
          expect(Math.abs(got - expected)).toBeLessThanOrEqual(1e-5 * (Math.abs(expected) + spread) + 1e-30);
          expect(got).toBeGreaterThanOrEqual(sorted[0]);
          expect(got).toBeLessThanOrEqual(sorted[sorted.length - 1]);
        },
      ),
    );
  });

  it('property (item 8): distinct values keep n − ⌈rank⌉ elements at ≥ τ', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 2, max: 300 }),
        fc.constantFrom(0, 0.1, 0.5, 0.7, 0.9, 1),
        fc.nat(),
        (n, q, seed) => {
          const v = distinctValues(n, seed);
          const rank = Math.fround(Math.fround(q) * (n - 1)); // torch computes the rank in float32
          expect(count(atLeast(v, quantileLinear(v, q)))).toBe(n - Math.ceil(rank));
        },
      ),
    );
  });
});

describe('Gaussian smoothing (§2.6 steps 2–3, §6 item 9)', () => {
  it('has the documented weights and sums to 1', () => {
    const k = gaussianKernel3x3();
    expect(k[0]).toBeCloseTo(0.044919, 6);
    expect(k[1]).toBeCloseTo(0.122103, 6);
    expect(k[4]).toBeCloseTo(0.331911, 6);
    expect([k[0], k[2], k[6], k[8]].every((v) => v === k[0])).toBe(true);
    expect(k.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 6);
  });

  it('property: a constant map stays constant (reflect padding)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 2, max: 12 }),
        fc.integer({ min: 2, max: 12 }),
        fc.float({ min: -100, max: 100, noNaN: true }),
        (h, w, c) => {
          const out = smoothReflect3x3(new Float32Array(h * w).fill(c), h, w);
          for (const v of out) expect(Math.abs(v - c)).toBeLessThanOrEqual(1e-6 * Math.abs(c) + 1e-30);
        },
      ),
    );
  });

  it('reflects without repeating the edge (index −1 → 1)', () => {
    // one-hot at (row 0, col 1): output (0,0) sees it at dx=+1 and, reflected, at dx=−1 (col −1 → 1);
    // replicate padding would see it once
    const map = new Float32Array(9);
    map[1] = 1;
    const out = smoothReflect3x3(map, 3, 3);
    const k = gaussianKernel3x3();
    expect(out[0]).toBeCloseTo(2 * k[3], 6);
  });
});

describe('mask sizes (§2.6–2.7, §6 item 8)', () => {
  it('token spans: words = BPE count (≤ 75), padded75 = 75', () => {
    expect(tokenSpan(3, 'words')).toEqual({ start: 1, end: 4 });
    expect(tokenSpan(90, 'words')).toEqual({ start: 1, end: 76 });
    const padded = tokenSpan(3, 'padded75');
    expect(padded.end - padded.start).toBe(75);
  });

  it('sums the selected token columns of each query row', () => {
    const xattn = new Float32Array(2 * CLIP_TOKENS);
    for (let j = 0; j < CLIP_TOKENS; j++) {
      xattn[j] = j;
      xattn[CLIP_TOKENS + j] = 1;
    }
    expect([...sumTokenSpan(xattn, { start: 1, end: 4 })]).toEqual([6, 3]);
  });

  it('32×32 grid: 307 of 1024 cells → 4912 latent pixels, constant on 4×4 blocks', () => {
    const cells = distinctValues(1024, 5);
    const xattn = new Float32Array(1024 * CLIP_TOKENS);
    for (let q = 0; q < 1024; q++) xattn[q * CLIP_TOKENS + 1] = cells[q] / 1024;
    // smoothing mixes neighbours; count distinct smoothed values to know the expected size
    const smoothed = smoothReflect3x3(sumTokenSpan(xattn, { start: 1, end: 2 }), 32, 32);
    expect(new Set(smoothed).size).toBe(1024);
    const mask = attentionMask(
      xattn,
      { start: 1, end: 2 },
      0.7,
      { height: 32, width: 32 },
      { height: 128, width: 128 },
    );
    expect(count(mask)).toBe(307 * 16);
    for (let y = 0; y < 128; y++) {
      for (let x = 0; x < 128; x++) expect(mask[y * 128 + x]).toBe(mask[(y & ~3) * 128 + (x & ~3)]);
    }
  });

  it('M2 over 128×128: 4915 of 16384; 16×16: 77 of 256; q=0 all ones; q=1 the maximum only', () => {
    const g = new Float32Array(4 * 16384);
    const s = distinctValues(16384, 9);
    for (let c = 0; c < 4; c++)
      for (let p = 0; p < 16384; p++) g[c * 16384 + p] = (c % 2 ? -1 : 1) * (s[p] + c * 0.25);
    expect(count(noiseMask(g, 4, 16384, 0.7))).toBe(4915);
    const small = new Float32Array(4 * 256);
    const d = distinctValues(256, 2);
    small.set(d, 512);
    expect(count(noiseMask(small, 4, 256, 0.7))).toBe(77);
    expect(count(noiseMask(small, 4, 256, 0))).toBe(256);
    expect(count(noiseMask(small, 4, 256, 1))).toBe(1);
    expect(count(noiseMask(new Float32Array(4 * 256), 4, 256, 0.7))).toBe(256); // all-equal → all ones
  });

  it('4×4 attention grid: 5 of 16 cells → 80 of 256 pixels', () => {
    const xattn = new Float32Array(16 * CLIP_TOKENS);
    const cells = distinctValues(16, 4);
    for (let q = 0; q < 16; q++) xattn[q * CLIP_TOKENS + 2] = cells[q] * cells[q];
    const smoothed = smoothReflect3x3(sumTokenSpan(xattn, { start: 1, end: 3 }), 4, 4);
    expect(new Set(smoothed).size).toBe(16);
    expect(
      count(
        attentionMask(xattn, { start: 1, end: 3 }, 0.7, { height: 4, width: 4 }, { height: 16, width: 16 }),
      ),
    ).toBe(80);
  });

  it('property: M1 is constant on 4×4 blocks and keeps at least n − ⌈rank⌉ cells (ties only add)', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(4, 8),
        fc.constantFrom(0, 0.3, 0.7, 1),
        fc.array(fc.float({ min: 0, max: 1, noNaN: true }), { minLength: 64 * 77, maxLength: 64 * 77 }),
        (side, q, values) => {
          const cells = side * side;
          const xattn = Float32Array.from(values.slice(0, cells * CLIP_TOKENS));
          const grid = { height: side, width: side };
          const latent = { height: 4 * side, width: 4 * side };
          const mask = attentionMask(xattn, tokenSpan(3, 'words'), q, grid, latent);
          const w = latent.width;
          for (let y = 0; y < latent.height; y++) {
            for (let x = 0; x < w; x++) expect(mask[y * w + x]).toBe(mask[(y & ~3) * w + (x & ~3)]);
          }
          const kept = count(mask) / 16;
          expect(Number.isInteger(kept)).toBe(true);
          expect(kept).toBeGreaterThanOrEqual(cells - Math.ceil(Math.fround(Math.fround(q) * (cells - 1))));
        },
      ),
      { numRuns: 30 },
    );
  });

  it('nearest upsampling maps each cell to a block', () => {
    const up = upsampleNearest(
      new Uint8Array([1, 0, 0, 1]),
      { height: 2, width: 2 },
      { height: 4, width: 4 },
    );
    expect([...up]).toEqual([1, 1, 0, 0, 1, 1, 0, 0, 0, 0, 1, 1, 0, 0, 1, 1]);
  });
});
