// The report's ground-truth section (street-world records): per-method means with image-clustered
// bootstrap intervals, CSG minus each other method paired by image, the Markdown tables; and the mask
// share inside a region that the batch's ground-truth step computes.
import { describe, expect, it } from 'vitest';
import { maskShare } from '../../activities/batch/ground-truth.js';
import { groundTruthSection } from '../../core/eval/ground-truth-report.js';
import { buildReport } from '../../core/eval/report.js';
import { renderMarkdown } from '../../core/eval/report-render.js';
import {
  EvalMethodSchema,
  EvalRecordSchema,
  type EvaluatedRecord,
  type GroundTruth,
  methodName,
  variantTags,
} from '../../core/eval/results.js';
import { oneCheckRecord } from '../support/eval-records.js';

function gt(over: Partial<GroundTruth>): GroundTruth {
  return {
    sceneId: 's',
    truthInterventionId: 'i1',
    do: { season: 'winter' },
    intervened: 1,
    descendants: null,
    changedDescendants: null,
    preservation: 1,
    psnrToTrue: 20,
    ssimToTrue: 0.8,
    psnrToOriginal: 18,
    ssimToOriginal: 0.7,
    masks: null,
    oracle: {},
    ...over,
  };
}

function record(
  method: string,
  imageId: string,
  interventionId: string,
  g: Partial<GroundTruth>,
): EvaluatedRecord {
  const r = {
    ...oneCheckRecord({ method, dataset: 'world', imageId, yes: true, lpips: 0.1, resolution: 128 }),
  };
  return EvalRecordSchema.parse({ ...r, interventionId, groundTruth: gt(g) }) as EvaluatedRecord;
}

describe('groundTruthSection', () => {
  const records = [
    record('csg', 'a', 'i1', { intervened: 1, psnrToTrue: 22, descendants: 0.5 }),
    record('csg', 'a', 'i2', { intervened: 0, psnrToTrue: 20 }),
    record('csg', 'b', 'i1', { intervened: 1, psnrToTrue: 24, descendants: 1 }),
    record('ddpm', 'a', 'i1', { intervened: 1, psnrToTrue: 18, descendants: 0 }),
    record('ddpm', 'a', 'i2', { intervened: 1, psnrToTrue: 18 }),
    record('ddpm', 'b', 'i1', { intervened: 0, psnrToTrue: 16, descendants: 1 }),
  ];

  it('averages each metric over the counterfactuals that have it, with intervals around the mean', () => {
    const s = groundTruthSection(records, ['ddpm', 'csg'], 200, 'seed')!;
    const csg = s.rows.find((r) => r.method === 'csg')!;
    expect(csg.counterfactuals).toBe(3);
    expect(csg.images).toBe(2);
    expect(csg.metrics.intervened.mean).toBeCloseTo(2 / 3);
    expect(csg.metrics.psnrToTrue.mean).toBeCloseTo(22);
    // descendants exist for two of the three counterfactuals only
    expect(csg.metrics.descendants).toMatchObject({ n: 2, mean: 0.75 });
    expect(csg.metrics.maskIntervened).toEqual({ n: 0, mean: null, lo: null, hi: null });
    for (const m of Object.values(csg.metrics))
      if (m.mean !== null) expect(m.lo! <= m.mean && m.mean <= m.hi!).toBe(true);
  });

  it('pairs CSG with each other method by image', () => {
    const s = groundTruthSection(records, ['ddpm', 'csg'], 200, 'seed')!;
    expect(s.diffs.map((d) => d.versus)).toEqual(['ddpm']);
    const d = s.diffs[0].metrics;
    // CSG 22 vs DDPM 17.33 dB over the same two images
    expect(d.psnrToTrue.mean).toBeCloseTo(22 - 52 / 3);
    expect(d.psnrToTrue.lo!).toBeGreaterThan(0);
    expect(d.intervened.mean).toBeCloseTo(2 / 3 - 2 / 3);
  });

  it('is absent without ground truth, and rendered in the report when present', () => {
    const plain = oneCheckRecord({
      method: 'csg',
      dataset: 'coco',
      imageId: 'x',
      yes: true,
      lpips: 0.1,
      resolution: 128,
    });
    expect(groundTruthSection([plain as EvaluatedRecord], ['csg'], 10, 's')).toBeNull();
    expect(buildReport([plain]).groundTruth).toBeUndefined();
    const report = buildReport(records, { bootstrapSamples: 50 });
    const md = renderMarkdown(report);
    expect(md).toContain('## Ground truth (street world)');
    expect(md).toMatch(/\| CSG \| 3 \| 0\.667 \[/);
    expect(md).toContain('### CSG minus each other method (paired by image)');
    expect(md).toMatch(/seeded random backbone/);
  });
});

describe('methodName of a batch variant', () => {
  it('tags the rows with what the variant sets itself, in alphabetical order', () => {
    expect(methodName('csg', {}, variantTags({ steps: 50 }))).toBe('csg+steps50');
    expect(
      methodName('csg', { reverseOldValues: true }, variantTags({ planning: { threshold: 0.5, scale: 16 } })),
    ).toBe('csg+reverse+scale16+threshold0-5');
    expect(methodName('ddim', {}, variantTags(undefined))).toBe('ddim');
    expect(methodName('csg', {}, variantTags({ sourceGuidance: 1, planning: {} }))).toBe('csg+srcguidance1');
    expect(EvalMethodSchema.safeParse('csg+threshold0-5').success).toBe(true);
  });
});

describe('maskShare', () => {
  const mask = (size: number, on: (x: number, y: number) => number) => {
    const data = new Uint8Array(size * size * 3);
    for (let y = 0; y < size; y++)
      for (let x = 0; x < size; x++) data.fill(on(x, y), 3 * (y * size + x), 3 * (y * size + x) + 3);
    return { width: size, height: size, data };
  };
  it('is the share of the weight inside the rectangle, beside the rectangle’s area share', () => {
    const left = mask(16, (x) => (x < 8 ? 255 : 0));
    expect(maskShare(left, [0, 0, 64, 128], 128)).toEqual({ share: 1, chance: 0.5 });
    expect(maskShare(left, [64, 0, 128, 128], 128)).toEqual({ share: 0, chance: 0.5 });
    const uniform = mask(128, () => 10);
    const r = maskShare(uniform, [0, 0, 32, 128], 128);
    expect(r.share).toBeCloseTo(0.25);
    expect(r.chance).toBeCloseTo(0.25);
    expect(
      maskShare(
        mask(16, () => 0),
        [0, 0, 8, 8],
        128,
      ).share,
    ).toBe(0);
  });
});
