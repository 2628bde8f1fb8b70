// The batch's sample of a data set manifest (activities/batch/sample-manifest.ts): seeded per data set
// with the evaluation sampler, the same on every call, in Table 1's data set order; local images and
// variants that would share report rows are refused with messages naming the line or the variants.
import { ApplicationFailure } from '@temporalio/common';
import { describe, expect, it } from 'vitest';
import { checkVariants, parseS3Manifest, sampleManifest } from '../../activities/batch/sample-manifest.js';
import { type BatchManifestLine, serialiseBatchManifest } from '../../core/eval/batch-manifest.js';
import { sampleWithoutReplacement } from '../../core/eval/sampling.js';

const ref = (n: number) => ({
  bucket: 'b',
  key: `inputs/${n}`,
  sha256: n.toString(16).padStart(64, '0'),
  bytes: 10,
  contentType: 'image/png',
});

function line(dataset: 'coco' | 'celeba-hq', id: string, drawIndex: number): BatchManifestLine {
  return {
    dataset,
    id,
    image: { kind: 's3', ref: ref(Number(id)) },
    caption: `caption ${id}`,
    captionRule: dataset === 'coco' ? 'coco:lowest-annotation-id' : 'mm-celeba-hq:first-non-empty-line',
    drawIndex,
  };
}

const coco = Array.from({ length: 12 }, (_, k) => line('coco', String(100 + k), k));
const celeba = Array.from({ length: 9 }, (_, k) => line('celeba-hq', String(k), k));
const lines = [...coco, ...celeba];

describe('sampleManifest', () => {
  it('draws perDataset images per data set with the evaluation sampler, CelebA-HQ first, draw order kept', () => {
    const got = sampleManifest(lines, { perDataset: 4, seed: 'fm-cgm-batch' });
    const want = [
      ...sampleWithoutReplacement(celeba, 4, 'fm-cgm-batch', (l) => `${l.dataset}/${l.id}`),
      ...sampleWithoutReplacement(coco, 4, 'fm-cgm-batch', (l) => `${l.dataset}/${l.id}`),
    ];
    expect(got.map((l) => `${l.dataset}/${l.id}`)).toEqual(want.map((l) => `${l.dataset}/${l.id}`));
    expect(got.map((l) => l.drawIndex)).toEqual([0, 1, 2, 3, 0, 1, 2, 3]);
  });

  it('is the same for the same seed whatever the line order, and differs for another seed', () => {
    const a = sampleManifest(lines, { perDataset: 5, seed: 7 });
    const b = sampleManifest([...lines].reverse(), { perDataset: 5, seed: 7 });
    const c = sampleManifest(lines, { perDataset: 5, seed: 8 });
    expect(b).toEqual(a);
    expect(c.map((l) => l.id)).not.toEqual(a.map((l) => l.id));
  });

  it('takes every line in its drawIndex order when no size is given', () => {
    const shuffled = [coco[3], celeba[2], coco[0], celeba[0]].map((l, k) => ({ ...l, drawIndex: 10 - k }));
    expect(sampleManifest(shuffled, { seed: 1 }).map((l) => l.id)).toEqual(['0', '2', '100', '103']);
  });
});

describe('parseS3Manifest', () => {
  it('parses S3 lines and refuses a local image, naming the line and what to do', () => {
    expect(parseS3Manifest(serialiseBatchManifest(lines), 'm.jsonl')).toHaveLength(lines.length);
    const local = { ...coco[0], id: '999', image: { kind: 'local' as const, path: 'val2017/999.jpg' } };
    const text = `\n${serialiseBatchManifest([coco[1], local])}`;
    const err = (() => {
      try {
        parseS3Manifest(text, 'm.jsonl');
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(ApplicationFailure);
    expect((err as ApplicationFailure).nonRetryable).toBe(true);
    expect((err as ApplicationFailure).type).toBe('BatchInvalidInput');
    expect((err as Error).message).toMatch(
      /^m\.jsonl:3: image: expected kind 's3'.*'val2017\/999\.jpg' for coco id 999; upload/,
    );
  });

  it('turns a malformed line into a non-retryable failure naming the field', () => {
    const text = `${serialiseBatchManifest([coco[0]])}{"dataset":"imagenet"}\n`;
    expect(() => parseS3Manifest(text, 'm.jsonl')).toThrow(/m\.jsonl:2: dataset:/);
  });
});

describe('checkVariants', () => {
  const run = { methods: ['csg' as const, 'ddim' as const], planning: {} };
  it('accepts variants that give distinct report rows', () => {
    expect(() =>
      checkVariants(run, [
        { name: 'paper', planning: {} },
        { name: 'reverse', planning: { reverseOldValues: true } },
      ]),
    ).not.toThrow();
  });
  it('refuses two variants that would share a report row', () => {
    expect(() =>
      checkVariants(run, [
        { name: 'paper', planning: {} },
        { name: 'again', planning: { reverseOldValues: false } },
      ]),
    ).toThrow(/variants: 'paper' and 'again' both give report row 'csg'/);
  });
  it('tells a step sweep apart by its steps tag, and checks only the methods a variant runs', () => {
    expect(() =>
      checkVariants(run, [
        { name: 'paper', planning: {} },
        { name: 'csg50', planning: {}, methods: ['csg'], steps: 50 },
        { name: 'csg25', planning: {}, methods: ['csg'], steps: 25 },
      ]),
    ).not.toThrow();
    expect(() =>
      checkVariants(run, [
        { name: 'a', planning: {}, steps: 50 },
        { name: 'b', planning: {}, methods: ['ddim'], steps: 50 },
      ]),
    ).toThrow(/'a' and 'b' both give report row 'ddim\+steps50'/);
    expect(() =>
      checkVariants(run, [
        { name: 'paper', planning: {} },
        { name: 'wide', planning: { threshold: 0.5, scale: 16 }, methods: ['csg'] },
      ]),
    ).not.toThrow();
  });
});
