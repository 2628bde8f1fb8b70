// The report's ground-truth section (street-world records only, which no real data set can give): per
// method the oracle's effectiveness against the SCM, preservation of the non-descendants, distance to
// the true counterfactual image and to the original, and the CSG masks' share inside their regions;
// then CSG minus each other method, paired by image. Pure: records in, tables out.
//
// Rules: a metric's value for a method is the mean over its evaluated counterfactuals that have the
// metric (descendant scores exist only for interventions with descendants, distances to the true image
// only when the run's do() is one of the data set's). 95% CIs are percentile bootstraps clustered by
// image as in Table 1 (report.ts), one mulberry32 stream per (method, metric). A paired difference
// resamples the images both methods have the metric for, and takes the difference of the two means.

import { quantile } from './quantile.js';
import type { EvaluatedRecord, GroundTruth } from './results.js';
import { mulberry32 } from './sampling.js';

export interface GtEstimate {
  n: number;
  mean: number | null;
  lo: number | null;
  hi: number | null;
}

export const GT_METRICS = [
  'intervened',
  'descendants',
  'changedDescendants',
  'preservation',
  'psnrToTrue',
  'ssimToTrue',
  'psnrToOriginal',
  'ssimToOriginal',
  'maskIntervened',
  'maskIntervenedChance',
  'maskDescendants',
  'maskDescendantsChance',
] as const;
export type GtMetric = (typeof GT_METRICS)[number];

/** Metrics compared between CSG and the other methods. */
export const GT_DIFF_METRICS = [
  'intervened',
  'descendants',
  'preservation',
  'psnrToTrue',
  'ssimToTrue',
] as const;

export const GT_LABELS: Record<GtMetric, string> = {
  intervened: 'Intervened ↑',
  descendants: 'Descendants ↑',
  changedDescendants: 'Changed descendants ↑',
  preservation: 'Non-descendants kept ↑',
  psnrToTrue: 'PSNR to true (dB) ↑',
  ssimToTrue: 'SSIM to true ↑',
  psnrToOriginal: 'PSNR to original (dB)',
  ssimToOriginal: 'SSIM to original',
  maskIntervened: 'Mask in region, intervened ↑',
  maskIntervenedChance: 'chance',
  maskDescendants: 'Mask in region, descendants ↑',
  maskDescendantsChance: 'chance',
};

export function gtValue(gt: GroundTruth, metric: GtMetric): number | null {
  switch (metric) {
    case 'maskIntervened':
      return gt.masks?.intervened ?? null;
    case 'maskIntervenedChance':
      return gt.masks?.intervenedChance ?? null;
    case 'maskDescendants':
      return gt.masks?.descendants ?? null;
    case 'maskDescendantsChance':
      return gt.masks?.descendantsChance ?? null;
    default:
      return gt[metric];
  }
}

export interface GroundTruthRow {
  method: string;
  /** Evaluated counterfactuals with ground truth. */
  counterfactuals: number;
  images: number;
  metrics: Record<GtMetric, GtEstimate>;
}

export interface GroundTruthDiff {
  method: string;
  versus: string;
  metrics: Record<(typeof GT_DIFF_METRICS)[number], GtEstimate>;
}

export interface GroundTruthSection {
  rows: GroundTruthRow[];
  diffs: GroundTruthDiff[];
}

type Clusters = Map<string, { sum: number; n: number }>;

function clusters(records: readonly EvaluatedRecord[], metric: GtMetric): Clusters {
  const by: Clusters = new Map();
  for (const r of records) {
    const v = r.groundTruth ? gtValue(r.groundTruth, metric) : null;
    if (v === null) continue;
    const c = by.get(r.imageId) ?? { sum: 0, n: 0 };
    c.sum += v;
    c.n += 1;
    by.set(r.imageId, c);
  }
  return by;
}

/** Percentile bootstrap over images of `stat(picked image ids)`. */
function bootstrapImages(
  ids: readonly string[],
  stat: (picked: readonly string[]) => number,
  samples: number,
  seed: string,
  n: number,
): GtEstimate {
  if (ids.length === 0) return { n: 0, mean: null, lo: null, hi: null };
  const rng = mulberry32(seed);
  const values: number[] = [];
  for (let b = 0; b < samples; b++) values.push(stat(ids.map(() => ids[rng.below(ids.length)])));
  return { n, mean: stat(ids), lo: quantile(values, 0.025), hi: quantile(values, 0.975) };
}

const sortedIds = (c: Clusters) => [...c.keys()].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));

function meanOf(c: Clusters, picked: readonly string[]): number {
  let sum = 0;
  let n = 0;
  for (const id of picked) {
    const x = c.get(id)!;
    sum += x.sum;
    n += x.n;
  }
  return sum / n;
}

export function groundTruthSection(
  records: readonly EvaluatedRecord[],
  methods: readonly string[],
  samples: number,
  seed: string,
): GroundTruthSection | null {
  const withGt = records.filter((r) => r.groundTruth);
  if (withGt.length === 0) return null;
  const rows: GroundTruthRow[] = [];
  const byMethod = new Map<string, EvaluatedRecord[]>();
  for (const method of methods) {
    const rs = withGt.filter((r) => r.method === method);
    if (rs.length === 0) continue;
    byMethod.set(method, rs);
    const metrics = Object.fromEntries(
      GT_METRICS.map((m) => {
        const c = clusters(rs, m);
        const n = [...c.values()].reduce((s, x) => s + x.n, 0);
        return [
          m,
          bootstrapImages(sortedIds(c), (p) => meanOf(c, p), samples, `${seed}|gt|${method}|${m}`, n),
        ];
      }),
    ) as Record<GtMetric, GtEstimate>;
    rows.push({
      method,
      counterfactuals: rs.length,
      images: new Set(rs.map((r) => r.imageId)).size,
      metrics,
    });
  }
  const diffs: GroundTruthDiff[] = [];
  const csg = byMethod.get('csg');
  if (csg) {
    for (const [versus, rs] of byMethod) {
      if (versus === 'csg') continue;
      const metrics = Object.fromEntries(
        GT_DIFF_METRICS.map((m) => {
          const a = clusters(csg, m);
          const b = clusters(rs, m);
          const ids = sortedIds(a).filter((id) => b.has(id));
          const n = ids.reduce((s, id) => s + a.get(id)!.n, 0);
          return [
            m,
            bootstrapImages(
              ids,
              (p) => meanOf(a, p) - meanOf(b, p),
              samples,
              `${seed}|gtdiff|${versus}|${m}`,
              n,
            ),
          ];
        }),
      ) as GroundTruthDiff['metrics'];
      diffs.push({ method: 'csg', versus, metrics });
    }
  }
  return { rows, diffs };
}
