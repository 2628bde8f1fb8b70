// The percentile bootstrap of the report (rules in report.ts): per image clusters of sums, resampled with
// one mulberry32 stream per cell, so a cell's interval never depends on another cell.
import { quantile } from './quantile.js';
import type { EvaluatedRecord } from './results.js';
import { mulberry32 } from './sampling.js';

export const CI_LEVEL = 0.95;

/** A mean with its 95% interval; all null when there is nothing to average. */
export interface Estimate {
  mean: number | null;
  lo: number | null;
  hi: number | null;
}

export interface Cluster {
  n: number;
  vlmEffSum: number;
  /** Counterfactuals of the image with an LPIPS value (a GPU worker without LPIPS records none). */
  lpipsN: number;
  lpipsSum: number;
}

/** One cluster per image (sorted by image id), holding the sums over its counterfactuals. */
export function clustersOf(records: readonly EvaluatedRecord[]): Cluster[] {
  const byImage = new Map<string, Cluster>();
  for (const r of records) {
    const c = byImage.get(r.imageId) ?? { n: 0, vlmEffSum: 0, lpipsN: 0, lpipsSum: 0 };
    c.n += 1;
    c.vlmEffSum += r.vlmEff;
    if (r.lpips !== null) {
      c.lpipsN += 1;
      c.lpipsSum += r.lpips;
    }
    byImage.set(r.imageId, c);
  }
  return [...byImage.entries()].sort(([a], [b]) => cmp(a, b)).map(([, c]) => c);
}

/**
 * Point estimate and percentile interval of the mean over groups of the per-group mean over
 * counterfactuals (one group: a data set's mean; several: the Average column).
 */
export function bootstrap(
  groups: readonly Cluster[][],
  samples: number,
  streamSeed: string,
): { vlmEff: Estimate; lpips: Estimate } {
  if (groups.length === 0 || groups.some((g) => g.length === 0)) return { vlmEff: empty(), lpips: empty() };
  const point = meanOfGroups(
    groups.map((g) => g.map((_, i) => i)),
    groups,
  );
  const rng = mulberry32(streamSeed);
  const v: number[] = [];
  const l: number[] = [];
  for (let b = 0; b < samples; b++) {
    const picks = groups.map((g) => g.map(() => rng.below(g.length)));
    const stat = meanOfGroups(picks, groups);
    v.push(stat.vlmEff);
    // A resample without any LPIPS value in some group has no LPIPS mean; it is left out.
    if (!Number.isNaN(stat.lpips)) l.push(stat.lpips);
  }
  const alpha = (1 - CI_LEVEL) / 2;
  return {
    vlmEff: { mean: point.vlmEff, lo: quantile(v, alpha), hi: quantile(v, 1 - alpha) },
    lpips:
      Number.isNaN(point.lpips) || l.length === 0
        ? empty()
        : { mean: point.lpips, lo: quantile(l, alpha), hi: quantile(l, 1 - alpha) },
  };
}

function meanOfGroups(picks: number[][], groups: readonly Cluster[][]): { vlmEff: number; lpips: number } {
  let v = 0;
  let l = 0;
  picks.forEach((idx, g) => {
    let n = 0;
    let sv = 0;
    let nl = 0;
    let sl = 0;
    for (const i of idx) {
      const c = groups[g][i];
      n += c.n;
      sv += c.vlmEffSum;
      nl += c.lpipsN;
      sl += c.lpipsSum;
    }
    v += sv / n;
    l += nl === 0 ? Number.NaN : sl / nl;
  });
  return { vlmEff: v / picks.length, lpips: l / picks.length };
}

export const empty = (): Estimate => ({ mean: null, lo: null, hi: null });
export const meanOf = (xs: readonly number[]) =>
  xs.length === 0 ? null : xs.reduce((a, b) => a + b, 0) / xs.length;
export const cmp = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
