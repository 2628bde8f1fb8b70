// Ground-truth scoring of a world counterfactual: PSNR/SSIM on known images, and the effectiveness /
// preservation shares on hand-worked readings.
import { describe, expect, it } from 'vitest';
import { groundTruthScores, psnr, type RgbImage, ssim } from '../../core/world/ground-truth.js';
import type { OracleReading } from '../../core/world/oracle.js';
import { counterfactual, loadWorldScm, type WorldAttributes } from '../../core/world/scm.js';

const scm = loadWorldScm();

function image(w: number, h: number, f: (x: number, y: number, c: number) => number): RgbImage {
  const data = new Uint8Array(w * h * 3);
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++) for (let c = 0; c < 3; c++) data[(y * w + x) * 3 + c] = f(x, y, c);
  return { width: w, height: h, data };
}

const reading = (attrs: WorldAttributes): OracleReading =>
  Object.fromEntries(
    Object.entries(attrs).map(([k, v]) => [k, { value: v, probability: 1, probabilities: { [v]: 1 } }]),
  );

describe('psnr and ssim', () => {
  const a = image(32, 32, (x, y, c) => (x * 7 + y * 3 + c * 40) % 256);
  it('are perfect for identical images', () => {
    expect(psnr(a, a)).toBe(Number.POSITIVE_INFINITY);
    expect(ssim(a, a)).toBeCloseTo(1, 10);
  });
  it('give the closed form for a constant offset', () => {
    const b = image(
      32,
      32,
      (x, y, c) => ((x * 7 + y * 3 + c * 40) % 256) + ((x * 7 + y * 3 + c * 40) % 256 < 250 ? 5 : -5),
    );
    expect(psnr(a, b)).toBeCloseTo(10 * Math.log10((255 * 255) / 25), 6);
    expect(ssim(a, b)).toBeLessThan(1);
    expect(ssim(a, b)).toBeGreaterThan(0.9);
  });
  it('rank a structurally different image lower than a slightly shifted one', () => {
    const noise = image(32, 32, (x, y, c) => (x * 92821 + y * 68917 + c * 7) % 251);
    const bright = image(32, 32, (x, y, c) => Math.min(255, ((x * 7 + y * 3 + c * 40) % 256) + 3));
    expect(ssim(a, noise)).toBeLessThan(ssim(a, bright));
  });
  it('refuse images of different sizes', () => {
    expect(() =>
      psnr(
        a,
        image(16, 32, () => 0),
      ),
    ).toThrow(/differ in size/);
  });
});

describe('groundTruthScores', () => {
  const noise = Object.fromEntries(scm.attributes.map((a) => [a.id, 0.5]));
  const original = counterfactual(scm, noise, {}); // autumn, day, rainy …
  const img = image(16, 16, () => 128);
  const base = { scm, original, generated: img, trueImage: img, originalImage: img };

  it('scores a perfect counterfactual 1 everywhere', () => {
    const doMap = { season: 'winter' };
    const truth = counterfactual(scm, noise, doMap);
    const s = groundTruthScores({ ...base, do: doMap, truth, reading: reading(truth) });
    expect(s).toMatchObject({ intervened: 1, descendants: 1, preservation: 1 });
  });

  it('catches a method that changes only the target, and one that changes everything', () => {
    const doMap = { season: 'winter' };
    const truth = counterfactual(scm, noise, doMap);
    const onlyTarget = groundTruthScores({
      ...base,
      do: doMap,
      truth,
      reading: reading({ ...original, season: 'winter' }),
    });
    expect(onlyTarget.intervened).toBe(1);
    const desc = ['weather', 'foliage', 'sky', 'road', 'umbrella'];
    const right = desc.filter((id) => truth[id] === original[id]).length;
    expect(onlyTarget.descendants).toBeCloseTo(right / desc.length, 10);
    const changed = desc.filter((id) => truth[id] !== original[id]);
    expect(onlyTarget.changedDescendants).toBe(0);
    expect(changed.length).toBeGreaterThan(0);
    expect(onlyTarget.preservation).toBe(1);

    const everything = groundTruthScores({
      ...base,
      do: doMap,
      truth,
      reading: reading({
        ...truth,
        sky: truth.sky === 'dark' ? 'starry' : 'dark',
        time_of_day: 'night',
        lamp: 'on',
        car_color: original.car_color === 'red' ? 'blue' : 'red',
      }),
    });
    expect(everything.descendants).toBeLessThan(1); // the sky reads as night, not as the SCM says
    expect(everything.preservation).toBe(0); // time of day, lamp and car all changed
  });

  it('has no descendant score for a leaf intervention', () => {
    const doMap = { car_color: 'white' };
    const truth = counterfactual(scm, noise, doMap);
    const s = groundTruthScores({ ...base, do: doMap, truth, reading: reading(original) });
    expect(s.descendants).toBeNull();
    expect(s.intervened).toBe(original.car_color === 'white' ? 1 : 0);
    expect(s.preservation).toBe(1);
  });
});
