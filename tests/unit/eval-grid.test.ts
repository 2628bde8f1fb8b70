// The report's picture (core/eval/grid.ts): cells land where the layout says, missing cells are grey,
// and the examples are picked reproducibly among complete counterfactuals.
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { GRID_MISSING, gridCellOrigin, pickGridExamples, renderImageGrid } from '../../core/eval/grid.js';
import type { EvalRecord } from '../../core/eval/results.js';

const solid = (r: number, g: number, b: number, w = 40, h = 40) =>
  sharp({ create: { width: w, height: h, channels: 3, background: { r, g, b } } })
    .png()
    .toBuffer();

describe('renderImageGrid', () => {
  it('places each image in its cell and greys out a missing one', async () => {
    const red = await solid(255, 0, 0);
    const green = await solid(0, 255, 0, 80, 20); // wide: fitted inside the square cell
    const blue = await solid(0, 0, 255);
    const options = {
      columns: ['original', 'CSG', 'DDPM', 'DDIM'],
      rows: [
        { label: 'coco 139\ni1', images: [red, green, blue, null] },
        { label: 'celeba-hq 3 & <i2>', images: [blue, red, null, green] },
      ],
      cellSize: 32,
    };
    const png = await renderImageGrid(options);
    const { data, info } = await sharp(png).raw().toBuffer({ resolveWithObject: true });
    expect([info.width, info.height]).toEqual([180 + 4 + 4 * 36, 28 + 4 + 2 * 36]);
    const at = (row: number, col: number) => {
      const { left, top } = gridCellOrigin(options, row, col);
      const i = ((top + 16) * info.width + left + 16) * info.channels;
      return [data[i], data[i + 1], data[i + 2]];
    };
    expect(at(0, 0)).toEqual([255, 0, 0]);
    expect(at(0, 1)).toEqual([0, 255, 0]);
    expect(at(0, 2)).toEqual([0, 0, 255]);
    expect(at(0, 3)).toEqual([GRID_MISSING.r, GRID_MISSING.g, GRID_MISSING.b]);
    expect(at(1, 0)).toEqual([0, 0, 255]);
    expect(at(1, 3)).toEqual([0, 255, 0]);
    await expect(renderImageGrid({ ...options, rows: [{ label: 'x', images: [red] }] })).rejects.toThrow(
      /1 images for 4 columns/,
    );
  });
});

describe('pickGridExamples', () => {
  const rec = (
    dataset: 'coco' | 'celeba-hq',
    imageId: string,
    interventionId: string,
    method: string,
    ok = true,
  ) => ({ dataset, imageId, interventionId, method, status: ok ? 'evaluated' : 'failed' }) as EvalRecord;
  const records: EvalRecord[] = [];
  for (const d of ['coco', 'celeba-hq'] as const) {
    for (const img of ['1', '2', '3', '4']) {
      for (const iv of ['i2', 'i1']) {
        for (const m of ['csg', 'ddpm', 'ddim'])
          records.push(rec(d, img, iv, m, !(img === '4' && m === 'ddim')));
      }
    }
  }

  it('takes seeded images with every method evaluated, all their interventions, CelebA-HQ first', () => {
    const picked = pickGridExamples(records, { imagesPerDataset: 2, seed: 's' });
    expect(picked).toHaveLength(8);
    expect(picked.slice(0, 4).every((p) => p.dataset === 'celeba-hq')).toBe(true);
    expect(picked.some((p) => p.imageId === '4')).toBe(false);
    expect(picked.slice(0, 2).map((p) => p.interventionId)).toEqual(['i1', 'i2']);
    expect(pickGridExamples(records, { imagesPerDataset: 2, seed: 's' })).toEqual(picked);
    expect(pickGridExamples(records, { imagesPerDataset: 10 })).toHaveLength(12);
  });
});
