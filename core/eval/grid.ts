// The report's picture: one row per (image, intervention), columns original | CSG | DDPM | DDIM (or any
// columns given), each image fitted into a square cell, titles on top and a label at the left of each
// row. pickGridExamples chooses which counterfactuals to show (seeded); the caller resolves them to
// image files or bytes (local paths now, S3 artifacts in the batch activity).
import sharp, { type OverlayOptions } from 'sharp';
import type { DatasetName } from './datasets/types.js';
import { DATASET_ORDER } from './datasets/types.js';
import type { EvalRecord } from './results.js';
import { type Seed, sampleWithoutReplacement } from './sampling.js';

/** The paper's comparison order for the picture (brief: original, CSG, DDPM, DDIM). */
export const GRID_METHODS = ['csg', 'ddpm', 'ddim'] as const;

export interface GridRow {
  /** Shown left of the row; '\n' separates lines. */
  label: string;
  /** One per column: a file path, encoded image bytes, or null for a grey "missing" cell. */
  images: readonly (string | Uint8Array | null)[];
}

export interface GridOptions {
  columns: readonly string[];
  rows: readonly GridRow[];
  /** Side of a square cell in pixels (default 256). */
  cellSize?: number;
  gap?: number;
  labelWidth?: number;
  headerHeight?: number;
}

export const GRID_BACKGROUND = { r: 255, g: 255, b: 255 };
export const GRID_MISSING = { r: 221, g: 221, b: 221 };

/** Top-left corner of cell (row, column), for callers and tests that read pixels back. */
export function gridCellOrigin(o: GridOptions, row: number, column: number): { left: number; top: number } {
  const { cellSize, gap, labelWidth, headerHeight } = layout(o);
  return {
    left: labelWidth + gap + column * (cellSize + gap),
    top: headerHeight + gap + row * (cellSize + gap),
  };
}

/** A PNG of the grid. */
export async function renderImageGrid(o: GridOptions): Promise<Buffer> {
  const { cellSize, gap, labelWidth, headerHeight } = layout(o);
  o.rows.forEach((r, i) => {
    if (r.images.length !== o.columns.length) {
      throw new Error(
        `grid row ${i} ('${r.label}') has ${r.images.length} images for ${o.columns.length} columns`,
      );
    }
  });
  const width = labelWidth + gap + o.columns.length * (cellSize + gap);
  const height = headerHeight + gap + o.rows.length * (cellSize + gap);
  const layers: OverlayOptions[] = [];

  o.columns.forEach((title, c) => {
    const { left } = gridCellOrigin(o, 0, c);
    layers.push({ input: textSvg([title], cellSize, headerHeight, 'middle'), left, top: 0 });
  });
  for (const [r, row] of o.rows.entries()) {
    const { top } = gridCellOrigin(o, r, 0);
    layers.push({ input: textSvg(row.label.split('\n'), labelWidth, cellSize, 'start'), left: 0, top });
    for (const [c, image] of row.images.entries()) {
      const { left } = gridCellOrigin(o, r, c);
      const input =
        image === null
          ? await sharp({
              create: { width: cellSize, height: cellSize, channels: 3, background: GRID_MISSING },
            })
              .png()
              .toBuffer()
          : await sharp(image)
              .rotate()
              .resize(cellSize, cellSize, { fit: 'contain', background: GRID_BACKGROUND })
              .flatten({ background: GRID_BACKGROUND })
              .png()
              .toBuffer();
      layers.push({ input, left, top });
    }
  }
  return sharp({ create: { width, height, channels: 3, background: GRID_BACKGROUND } })
    .composite(layers)
    .png()
    .toBuffer();
}

function layout(o: GridOptions) {
  return {
    cellSize: o.cellSize ?? 256,
    gap: o.gap ?? 4,
    labelWidth: o.labelWidth ?? 180,
    headerHeight: o.headerHeight ?? 28,
  };
}

function textSvg(
  lines: readonly string[],
  width: number,
  height: number,
  anchor: 'start' | 'middle',
): Buffer {
  const size = 14;
  const x = anchor === 'middle' ? width / 2 : 4;
  const y0 = anchor === 'middle' ? height / 2 + size / 3 : size + 4;
  const tspans = lines
    .map((l, i) => `<tspan x="${x}" y="${y0 + i * (size + 4)}">${escapeXml(l)}</tspan>`)
    .join('');
  return Buffer.from(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}">` +
      `<text font-family="sans-serif" font-size="${size}" fill="#222" text-anchor="${anchor}">${tspans}</text></svg>`,
  );
}

const escapeXml = (s: string) =>
  s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

export interface GridExample {
  dataset: DatasetName;
  imageId: string;
  interventionId: string;
}

/**
 * Up to `imagesPerDataset` images per data set (seeded draw among the images with at least one
 * intervention evaluated by every one of `methods`; stream `${seed}|grid|${dataset}`), and for each,
 * every such intervention in id order: one grid row each.
 */
export function pickGridExamples(
  records: readonly EvalRecord[],
  options: { imagesPerDataset?: number; seed?: Seed; methods?: readonly string[] } = {},
): GridExample[] {
  const methods = options.methods ?? GRID_METHODS;
  const k = options.imagesPerDataset ?? 2;
  const seed = String(options.seed ?? 'fm-cgm-grid');
  const done = new Map<string, Set<string>>();
  for (const r of records) {
    if (r.status !== 'evaluated') continue;
    const key = JSON.stringify([r.dataset, r.imageId, r.interventionId]);
    const set = done.get(key) ?? new Set<string>();
    set.add(r.method);
    done.set(key, set);
  }
  const complete = [...done.entries()]
    .filter(([, set]) => methods.every((m) => set.has(m)))
    .map(([key]) => {
      const [dataset, imageId, interventionId] = JSON.parse(key) as [DatasetName, string, string];
      return { dataset, imageId, interventionId };
    });
  const out: GridExample[] = [];
  for (const dataset of DATASET_ORDER) {
    const here = complete.filter((e) => e.dataset === dataset);
    const images = [...new Set(here.map((e) => e.imageId))];
    for (const imageId of sampleWithoutReplacement(images, k, `${seed}|grid|${dataset}`, (id) => id)) {
      const ivs = here
        .filter((e) => e.imageId === imageId)
        .sort((a, b) => (a.interventionId < b.interventionId ? -1 : 1));
      out.push(...ivs);
    }
  }
  return out;
}
