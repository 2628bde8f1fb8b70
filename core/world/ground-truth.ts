// Ground truth for a counterfactual of the street world, which no real data set has: the true
// counterfactual image (the same exogenous noise rendered under the intervention) and the SCM's
// propagated attributes. Scores one generated counterfactual against them:
//   effectiveness  — the intervened attribute and each changed descendant read as the SCM says;
//   preservation   — the non-descendants of the target read unchanged;
//   distance       — PSNR and SSIM to the true counterfactual image, and to the original (minimality).
import sharp from 'sharp';
import type { OracleReading } from './oracle.js';
import { descendants, type WorldAttributes, type WorldDo, type WorldScm } from './scm.js';

export interface RgbImage {
  readonly width: number;
  readonly height: number;
  /** Interleaved 8-bit RGB. */
  readonly data: Uint8Array;
}

export async function decodeRgb(bytes: Uint8Array): Promise<RgbImage> {
  const { data, info } = await sharp(bytes).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  return { width: info.width, height: info.height, data: new Uint8Array(data) };
}

function sameSize(a: RgbImage, b: RgbImage): void {
  if (a.width !== b.width || a.height !== b.height)
    throw new RangeError(`images differ in size: ${a.width}×${a.height} vs ${b.width}×${b.height}`);
}

/** PSNR in dB over all RGB samples (peak 255); Infinity for identical images. */
export function psnr(a: RgbImage, b: RgbImage): number {
  sameSize(a, b);
  let se = 0;
  for (let i = 0; i < a.data.length; i++) {
    const d = a.data[i] - b.data[i];
    se += d * d;
  }
  const mse = se / a.data.length;
  return mse === 0 ? Number.POSITIVE_INFINITY : 10 * Math.log10((255 * 255) / mse);
}

/** Luma (BT.601), the plane SSIM is computed on. */
function luma(img: RgbImage): Float64Array {
  const out = new Float64Array(img.width * img.height);
  for (let p = 0; p < out.length; p++)
    out[p] = 0.299 * img.data[3 * p] + 0.587 * img.data[3 * p + 1] + 0.114 * img.data[3 * p + 2];
  return out;
}

/**
 * SSIM (Wang et al. 2004) on luma: 11×11 Gaussian window, σ = 1.5, K1 = 0.01, K2 = 0.03, L = 255,
 * averaged over every window that fits inside the image ('valid' borders).
 */
export function ssim(a: RgbImage, b: RgbImage): number {
  sameSize(a, b);
  const { width: w, height: h } = a;
  const x = luma(a);
  const y = luma(b);
  const r = 5;
  const g: number[] = [];
  for (let i = -r; i <= r; i++) g.push(Math.exp(-(i * i) / (2 * 1.5 * 1.5)));
  const gs = g.reduce((s, v) => s + v, 0);
  const k = g.map((v) => v / gs);
  const c1 = (0.01 * 255) ** 2;
  const c2 = (0.03 * 255) ** 2;
  let total = 0;
  let count = 0;
  for (let cy = r; cy < h - r; cy++)
    for (let cx = r; cx < w - r; cx++) {
      let mx = 0;
      let my = 0;
      let sxx = 0;
      let syy = 0;
      let sxy = 0;
      for (let dy = -r; dy <= r; dy++)
        for (let dx = -r; dx <= r; dx++) {
          const wt = k[dy + r] * k[dx + r];
          const p = (cy + dy) * w + cx + dx;
          mx += wt * x[p];
          my += wt * y[p];
          sxx += wt * x[p] * x[p];
          syy += wt * y[p] * y[p];
          sxy += wt * x[p] * y[p];
        }
      const vx = sxx - mx * mx;
      const vy = syy - my * my;
      const cov = sxy - mx * my;
      total += ((2 * mx * my + c1) * (2 * cov + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2));
      count++;
    }
  return count === 0 ? Number.NaN : total / count;
}

export interface GroundTruthScores {
  /** The intervened attribute reads as set (1 or 0). */
  readonly intervened: number;
  /** Share of the target's descendants that read as the SCM's counterfactual says (changed or not); null without descendants. */
  readonly descendants: number | null;
  /** Share of the descendants the SCM changes that read as their new value; null when none change. */
  readonly changedDescendants: number | null;
  /** Share of the non-descendants (target excluded) that read as in the original. */
  readonly preservation: number;
  readonly psnrToTrue: number;
  readonly ssimToTrue: number;
  readonly psnrToOriginal: number;
  readonly ssimToOriginal: number;
}

export interface GroundTruthInput {
  readonly scm: WorldScm;
  readonly original: WorldAttributes;
  readonly do: WorldDo;
  /** The SCM's counterfactual attributes (same noise). */
  readonly truth: WorldAttributes;
  /** The oracle's reading of the generated counterfactual. */
  readonly reading: OracleReading;
  readonly generated: RgbImage;
  readonly trueImage: RgbImage;
  readonly originalImage: RgbImage;
}

const share = (ids: readonly string[], ok: (id: string) => boolean): number | null =>
  ids.length === 0 ? null : ids.filter(ok).length / ids.length;

export function groundTruthScores(i: GroundTruthInput): GroundTruthScores {
  const targets = Object.keys(i.do);
  const below = new Set(targets.flatMap((t) => descendants(i.scm, t)));
  const desc = [...below].filter((id) => !targets.includes(id));
  const changed = desc.filter((id) => i.truth[id] !== i.original[id]);
  const others = i.scm.attributes.map((a) => a.id).filter((id) => !below.has(id) && !targets.includes(id));
  const reads = (id: string, value: string) => i.reading[id]?.value === value;
  return {
    intervened: targets.every((t) => reads(t, i.do[t])) ? 1 : 0,
    descendants: share(desc, (id) => reads(id, i.truth[id])),
    changedDescendants: share(changed, (id) => reads(id, i.truth[id])),
    preservation: share(others, (id) => reads(id, i.original[id])) ?? 1,
    psnrToTrue: psnr(i.generated, i.trueImage),
    ssimToTrue: ssim(i.generated, i.trueImage),
    psnrToOriginal: psnr(i.generated, i.originalImage),
    ssimToOriginal: ssim(i.generated, i.originalImage),
  };
}
