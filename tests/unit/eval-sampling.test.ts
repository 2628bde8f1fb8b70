// Seeded sampling (core/eval/sampling.ts): reference values computed with the Python snippet in the
// module's header comment, and fast-check properties.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fnv1a32, MAX_POPULATION, mulberry32, sampleWithoutReplacement } from '../../core/eval/sampling.js';

const ids = (n: number) => Array.from({ length: n }, (_, i) => String(i));
const self = (x: string) => x;

describe('mulberry32 and FNV-1a', () => {
  it('matches the Python reference implementation', () => {
    const a = mulberry32(0);
    expect([a.nextUint32(), a.nextUint32(), a.nextUint32()]).toEqual([1144304738, 1416247, 958946056]);
    expect(fnv1a32('')).toBe(0x811c9dc5);
    expect(fnv1a32('a')).toBe(3826002220);
    expect(fnv1a32('fm-cgm-eval')).toBe(1450673141);
    const s = mulberry32('fm-cgm-eval');
    expect([s.nextUint32(), s.nextUint32(), s.nextUint32()]).toEqual([1141749508, 2872544121, 1548068914]);
  });

  it('samples as the Python reference does', () => {
    expect(sampleWithoutReplacement(ids(100), 5, 'fm-cgm-eval', self)).toEqual(['32', '7', '42', '26', '85']);
    expect(sampleWithoutReplacement(ids(30000), 5, 42, self)).toEqual([
      '26227',
      '22100',
      '6014',
      '28081',
      '1472',
    ]);
  });

  it('rejects seeds and bounds it cannot honour exactly', () => {
    expect(() => mulberry32(-1)).toThrow(/seed/);
    expect(() => mulberry32(1.5)).toThrow(/seed/);
    expect(() => mulberry32(2 ** 32)).toThrow(/seed/);
    expect(() => mulberry32(1).below(0)).toThrow(RangeError);
    expect(() => mulberry32(1).below(MAX_POPULATION + 1)).toThrow(RangeError);
    expect(() => sampleWithoutReplacement(['a', 'b', 'a'], 2, 1, self)).toThrow(/duplicate key 'a'/);
    expect(() => sampleWithoutReplacement(['a'], -1, 1, self)).toThrow(RangeError);
  });

  it('below(m) stays in [0, m)', () => {
    fc.assert(
      fc.property(fc.nat(), fc.integer({ min: 1, max: MAX_POPULATION }), (seed, m) => {
        const rng = mulberry32(seed >>> 0);
        for (let i = 0; i < 20; i++) {
          const x = rng.below(m);
          if (!Number.isInteger(x) || x < 0 || x >= m) return false;
        }
        return true;
      }),
    );
  });
});

describe('sampleWithoutReplacement', () => {
  const population = fc.uniqueArray(fc.string({ maxLength: 6 }), { maxLength: 60 });
  const seed = fc.oneof(fc.string(), fc.integer({ min: 0, max: 0xffffffff }));

  it('has no duplicates, size min(k, n), and only members of the population', () => {
    fc.assert(
      fc.property(population, fc.nat({ max: 80 }), seed, (items, k, s) => {
        const out = sampleWithoutReplacement(items, k, s, self);
        expect(out.length).toBe(Math.min(k, items.length));
        expect(new Set(out).size).toBe(out.length);
        for (const x of out) expect(items).toContain(x);
      }),
    );
  });

  it('is deterministic and independent of the input order', () => {
    fc.assert(
      fc.property(population, fc.nat({ max: 80 }), seed, fc.nat(), (items, k, s, rot) => {
        const shuffled = items.map((_, i) => items[(i + rot) % items.length]).reverse();
        expect(sampleWithoutReplacement(shuffled, k, s, self)).toEqual(
          sampleWithoutReplacement(items, k, s, self),
        );
      }),
    );
  });

  it('is prefix-stable: the sample of k is the start of the sample of k + 1', () => {
    fc.assert(
      fc.property(population, fc.nat({ max: 60 }), seed, (items, k, s) => {
        const small = sampleWithoutReplacement(items, k, s, self);
        const large = sampleWithoutReplacement(items, k + 1, s, self);
        expect(large.slice(0, small.length)).toEqual(small);
      }),
    );
  });

  it('k = n returns a permutation; different seeds usually differ', () => {
    const all = sampleWithoutReplacement(ids(75), 75, 'x', self);
    expect([...all].sort()).toEqual([...ids(75)].sort());
    expect(sampleWithoutReplacement(ids(1000), 75, 'a', self)).not.toEqual(
      sampleWithoutReplacement(ids(1000), 75, 'b', self),
    );
  });

  it('draws every position about equally often (first pick over 10 items, 20,000 seeds)', () => {
    const counts = new Map<string, number>();
    for (let s = 0; s < 20000; s++) {
      const [first] = sampleWithoutReplacement(ids(10), 1, s, self);
      counts.set(first, (counts.get(first) ?? 0) + 1);
    }
    for (const id of ids(10)) expect(Math.abs((counts.get(id) ?? 0) - 2000)).toBeLessThan(200);
  });
});
