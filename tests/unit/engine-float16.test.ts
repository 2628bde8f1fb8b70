import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { float16BitsToFloat32, float32ToFloat16Bits } from '../../gpu-worker/engine/tensor.js';

const bits = (v: number) => float32ToFloat16Bits(new Float32Array([v]))[0];

describe('fp16 conversion', () => {
  it('encodes known values', () => {
    expect(bits(1)).toBe(0x3c00);
    expect(bits(-2)).toBe(0xc000);
    expect(bits(65504)).toBe(0x7bff);
    expect(bits(65520)).toBe(0x7c00); // rounds up to infinity
    expect(bits(2 ** -24)).toBe(0x0001); // smallest subnormal
    expect(bits(2 ** -26)).toBe(0x0000); // below half the smallest subnormal
    expect(bits(Number.POSITIVE_INFINITY)).toBe(0x7c00);
    expect(bits(Number.NaN) & 0x7c00).toBe(0x7c00);
    expect(bits(Number.NaN) & 0x3ff).not.toBe(0);
    // ties to even: 1 + 2^-11 lies halfway between 1 and 1 + 2^-10 → 1
    expect(bits(1 + 2 ** -11)).toBe(0x3c00);
    expect(bits(1 + 3 * 2 ** -11)).toBe(0x3c02);
  });
  it('decodes every finite half exactly and round-trips it', () => {
    const all = new Uint16Array(0x10000);
    for (let i = 0; i < all.length; i++) all[i] = i;
    const floats = float16BitsToFloat32(all);
    const back = float32ToFloat16Bits(floats);
    for (let i = 0; i < all.length; i++) {
      const isNanBits = (i & 0x7c00) === 0x7c00 && (i & 0x3ff) !== 0;
      if (!isNanBits) expect(back[i]).toBe(i);
    }
    expect(floats[0x3555]).toBeCloseTo(0.33325195, 7);
  });
  it('rounds to the nearest representable half (relative error ≤ 2^-11 in the normal range)', () => {
    fc.assert(
      fc.property(fc.float({ min: Math.fround(6.2e-5), max: 65000, noNaN: true }), (v) => {
        const r = float16BitsToFloat32(float32ToFloat16Bits(new Float32Array([v])))[0];
        expect(Math.abs(r - v) / Math.abs(v)).toBeLessThanOrEqual(2 ** -11);
      }),
    );
  });
});
