// The evaluation report: the paper's Table 1 (VLM-Eff ↑ and LPIPS ↓ per data set and on average, one
// row per method, ablations included), with bootstrap confidence intervals, VLM-Eff by node type,
// verdict and failure counts, and time and NFE per counterfactual. Pure: records in, a Report value
// out; renderers to Markdown, CSV and JSON.
//
// Rules (stated in every rendering):
// - A data set's VLM-Eff (LPIPS) is the mean over its evaluated counterfactuals of the per-counterfactual
//   VLM-Eff (LPIPS). Failed counterfactuals are counted separately and enter no mean.
// - "Average" is the mean of the per-data-set means (the paper's rule: its Average column equals the
//   mean of its CelebA-HQ and MS-COCO columns), over the data sets present in the report; null when a
//   method lacks one of them.
// - 95% CIs: percentile bootstrap, B resamples (default 1000), clustered by image: a resample draws the
//   data set's images with replacement and takes all their counterfactuals (of that method) together.
//   Percentiles interpolate linearly between order statistics (numpy's default, "type 7").
//   Each cell has its own mulberry32 stream (sampling.ts), seeded by the string
//   `${seed}|${method}|${dataset}`, so adding a method or data set never moves another cell's interval;
//   a resample is n draws below(n) over the cell's images sorted by id (string order). The average
//   column's stream is `${seed}|${method}|average`; each resample draws every data set in turn (Table 1
//   order), n_d draws each, and averages the data-set means.
// - By node type: yes / total over all checklist items of that type (pooled over counterfactuals).
import { DATASET_LABELS, DATASET_ORDER, type DatasetName } from './datasets/types.js';
import {
  type GroundTruthSection,
  GT_DIFF_METRICS,
  GT_LABELS,
  type GtEstimate,
  type GtMetric,
  groundTruthSection,
} from './ground-truth-report.js';
import { quantile } from './quantile.js';
import {
  CHECK_NODE_TYPES,
  type CheckNodeType,
  counterfactualKey,
  type EvalRecord,
  type EvaluatedRecord,
} from './results.js';
import { mulberry32, type Seed } from './sampling.js';

export { quantile } from './quantile.js';

export const DEFAULT_BOOTSTRAP_SAMPLES = 1000;
export const DEFAULT_REPORT_SEED = 'fm-cgm-report';
export const CI_LEVEL = 0.95;

export interface ReportOptions {
  bootstrapSamples?: number;
  seed?: Seed;
  /** The batch's baseline settings as baselineSettingsOf states them; unknown when absent. */
  baselineSettings?: string;
}

/** How the report names the settings behind its rows: CSG's base term and the baselines' preset. */
export interface RowSettings {
  /** CSG rows: Eq. 12 as written unless tagged +unconditional-base (LEDITS++'s form). */
  csgBase: string;
  /** The DDPM/DDIM rows' preset and values, or null when unknown (a report of a results file). */
  baselines: string | null;
}

/** A point estimate with its 95% interval; all null when there is nothing to average. */
export interface Estimate {
  mean: number | null;
  lo: number | null;
  hi: number | null;
}

export interface Table1Cell {
  images: number;
  evaluated: number;
  failed: number;
  vlmEff: Estimate;
  lpips: Estimate;
}

export interface Table1Row {
  method: string;
  cells: Partial<Record<DatasetName, Table1Cell>>;
  average: { vlmEff: Estimate; lpips: Estimate };
}

export interface NodeTypeRate {
  yes: number;
  total: number;
  rate: number | null;
}

export interface NodeTypeRow {
  method: string;
  dataset: DatasetName | 'all';
  rates: Record<CheckNodeType, NodeTypeRate>;
}

export interface VerdictRow {
  method: string;
  dataset: DatasetName;
  images: number;
  success: number;
  partial: number;
  failure: number;
  failed: number;
  total: number;
}

export interface CostRow {
  method: string;
  dataset: DatasetName;
  /** Evaluated counterfactuals the means are over. */
  n: number;
  meanSeconds: number | null;
  meanNfe: number | null;
}

export interface FailureRow {
  method: string;
  dataset: DatasetName;
  imageId: string;
  interventionId: string;
  stage: string;
  reason: string;
}

export interface Report {
  schemaVersion: 1;
  records: number;
  batchIds: string[];
  datasets: DatasetName[];
  methods: string[];
  /** Distinct LPIPS resolutions "W×H" among evaluated records. */
  lpipsResolutions: string[];
  rowSettings: RowSettings;
  bootstrap: { samples: number; seed: string; level: number; method: 'percentile'; cluster: 'image' };
  rules: Record<'vlmEff' | 'average' | 'ci' | 'nodeType' | 'failures', string>;
  table1: Table1Row[];
  nodeTypes: NodeTypeRow[];
  verdicts: VerdictRow[];
  cost: CostRow[];
  failures: FailureRow[];
  /** Street-world records only: scores against the world's ground truth (ground-truth-report.ts). */
  groundTruth?: GroundTruthSection;
  warnings: string[];
}

export const REPORT_RULES: Report['rules'] = {
  vlmEff:
    'VLM-Eff of a counterfactual = fraction of its intervened + descendant checklist items judged "yes"; a data set\'s VLM-Eff (and LPIPS) = mean over its evaluated counterfactuals',
  average: "Average = mean of the per-data-set means (as in the paper's Table 1)",
  ci: '95% percentile bootstrap over images (all counterfactuals of an image resampled together), seeded mulberry32 stream per cell',
  nodeType: 'by node type: yes / total over all checklist items of that type',
  failures: 'failed counterfactuals are counted separately and enter no mean',
};

const BASE_ORDER = ['ddim', 'ddpm', 'csg'];

/** Paper order (DDIM, DDPM, CSG), each base followed by its ablations in alphabetical order. */
export function compareMethods(a: string, b: string): number {
  const [ba] = a.split('+');
  const [bb] = b.split('+');
  const d = BASE_ORDER.indexOf(ba) - BASE_ORDER.indexOf(bb);
  if (d !== 0) return d;
  return a < b ? -1 : a > b ? 1 : 0;
}

export function buildReport(records: readonly EvalRecord[], options: ReportOptions = {}): Report {
  const samples = options.bootstrapSamples ?? DEFAULT_BOOTSTRAP_SAMPLES;
  if (!Number.isInteger(samples) || samples < 1) {
    throw new RangeError(`bootstrapSamples: expected a positive integer (got ${samples})`);
  }
  const seed = String(options.seed ?? DEFAULT_REPORT_SEED);
  const seen = new Set<string>();
  for (const r of records) {
    const key = counterfactualKey(r);
    if (seen.has(key)) throw new Error(`counterfactual ${key} appears twice in the records`);
    seen.add(key);
  }

  const datasets = DATASET_ORDER.filter((d) => records.some((r) => r.dataset === d));
  const methods = [...new Set(records.map((r) => r.method))].sort(compareMethods);
  const evaluated = records.filter((r): r is EvaluatedRecord => r.status === 'evaluated');
  const of = (method: string, dataset: DatasetName) =>
    records.filter((r) => r.method === method && r.dataset === dataset);
  const evaluatedOf = (method: string, dataset: DatasetName) =>
    evaluated.filter((r) => r.method === method && r.dataset === dataset);
  const warnings: string[] = [];

  const table1: Table1Row[] = methods.map((method) => {
    const cells: Partial<Record<DatasetName, Table1Cell>> = {};
    const clustersByDataset: Cluster[][] = [];
    for (const dataset of datasets) {
      const all = of(method, dataset);
      if (all.length === 0) {
        warnings.push(`method ${method} has no records for ${dataset}; its average is left empty`);
        continue;
      }
      const clusters = clustersOf(evaluatedOf(method, dataset));
      clustersByDataset.push(clusters);
      const ci = bootstrap([clusters], samples, `${seed}|${method}|${dataset}`);
      cells[dataset] = {
        images: clusters.length,
        evaluated: clusters.reduce((s, c) => s + c.n, 0),
        failed: all.length - clusters.reduce((s, c) => s + c.n, 0),
        vlmEff: ci.vlmEff,
        lpips: ci.lpips,
      };
    }
    const complete =
      datasets.length > 0 && datasets.every((d) => cells[d] !== undefined && cells[d].evaluated > 0);
    const average = complete
      ? bootstrap(clustersByDataset, samples, `${seed}|${method}|average`)
      : { vlmEff: empty(), lpips: empty() };
    return { method, cells, average };
  });

  const nodeTypes: NodeTypeRow[] = [];
  for (const method of methods) {
    for (const dataset of [...datasets, 'all' as const]) {
      const rs = evaluated.filter((r) => r.method === method && (dataset === 'all' || r.dataset === dataset));
      if (rs.length === 0) continue;
      const rates = Object.fromEntries(
        CHECK_NODE_TYPES.map((type) => {
          const items = rs.flatMap((r) => r.checks.filter((c) => c.nodeType === type));
          const yes = items.filter((c) => c.present === 'yes').length;
          return [type, { yes, total: items.length, rate: items.length === 0 ? null : yes / items.length }];
        }),
      ) as Record<CheckNodeType, NodeTypeRate>;
      nodeTypes.push({ method, dataset, rates });
    }
  }

  const verdicts: VerdictRow[] = [];
  const cost: CostRow[] = [];
  for (const method of methods) {
    for (const dataset of datasets) {
      const all = of(method, dataset);
      if (all.length === 0) continue;
      const ev = evaluatedOf(method, dataset);
      const count = (v: string) => ev.filter((r) => r.verdict === v).length;
      verdicts.push({
        method,
        dataset,
        images: new Set(all.map((r) => r.imageId)).size,
        success: count('success'),
        partial: count('partial'),
        failure: count('failure'),
        failed: all.length - ev.length,
        total: all.length,
      });
      cost.push({
        method,
        dataset,
        n: ev.length,
        meanSeconds: meanOf(ev.map((r) => r.seconds)),
        meanNfe: meanOf(ev.map((r) => r.nfe)),
      });
    }
  }

  const failures: FailureRow[] = records
    .filter((r) => r.status === 'failed')
    .map((r) => ({
      method: r.method,
      dataset: r.dataset,
      imageId: r.imageId,
      interventionId: r.interventionId,
      stage: r.stage,
      reason: r.reason,
    }))
    .sort((a, b) => compareMethods(a.method, b.method) || cmp(counterfactualKey(a), counterfactualKey(b)));

  const lpipsResolutions = [
    ...new Set(
      evaluated.flatMap((r) =>
        r.lpipsResolution ? [`${r.lpipsResolution.width}×${r.lpipsResolution.height}`] : [],
      ),
    ),
  ].sort();
  if (lpipsResolutions.length > 1) {
    warnings.push(
      `LPIPS was measured at ${lpipsResolutions.length} resolutions (${lpipsResolutions.join(', ')}); values are not comparable across them`,
    );
  }
  for (const method of methods) {
    const without = evaluated.filter((r) => r.method === method && r.lpips === null).length;
    if (without > 0)
      warnings.push(
        `${without} evaluated counterfactual(s) of ${method} have no LPIPS (their GPU worker had no LPIPS graph: ` +
          'start it with `cgm worker gpu --lpips DIR`); its LPIPS cells average the others, or stay empty',
      );
  }
  for (const dataset of datasets) {
    const sets = methods
      .map((m) => [m, [...new Set(evaluatedOf(m, dataset).map((r) => r.imageId))].sort().join('\n')] as const)
      .filter(([, s]) => s !== '');
    if (new Set(sets.map(([, s]) => s)).size > 1) {
      warnings.push(`${dataset}: the methods were evaluated on different image sets; rows are not paired`);
    }
  }

  const groundTruth = groundTruthSection(evaluated, methods, samples, seed);
  return {
    schemaVersion: 1,
    records: records.length,
    batchIds: [...new Set(records.map((r) => r.batchId))].sort(),
    datasets,
    methods,
    lpipsResolutions,
    rowSettings: {
      csgBase:
        "'csg' rows: ε on the interventional prompt plus masked descendant terms (the paper's Eq. 12 as written); " +
        "'+unconditional-base' rows: ε_u plus masked terms for the intervened concept and its descendants (LEDITS++'s form)",
      baselines: options.baselineSettings ?? null,
    },
    bootstrap: { samples, seed, level: CI_LEVEL, method: 'percentile', cluster: 'image' },
    rules: REPORT_RULES,
    table1,
    nodeTypes,
    verdicts,
    cost,
    failures,
    ...(groundTruth ? { groundTruth } : {}),
    warnings,
  };
}

interface Cluster {
  n: number;
  vlmEffSum: number;
  /** Counterfactuals of the image with an LPIPS value (a GPU worker without LPIPS records none). */
  lpipsN: number;
  lpipsSum: number;
}

/** One cluster per image (sorted by image id), holding the sums over its counterfactuals. */
function clustersOf(records: readonly EvaluatedRecord[]): Cluster[] {
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
function bootstrap(
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

const empty = (): Estimate => ({ mean: null, lo: null, hi: null });
const meanOf = (xs: readonly number[]) =>
  xs.length === 0 ? null : xs.reduce((a, b) => a + b, 0) / xs.length;
const cmp = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

// ---------------------------------------------------------------------------------------------------
// Renderers

/** The paper's Table 1 (FM-CGM §6), quoted for reference; not reproduced by this code. */
export const PAPER_TABLE1 = [
  {
    method: 'ddim',
    celebaHq: { vlmEff: 0.792, lpips: 0.4836 },
    coco: { vlmEff: 0.741, lpips: 0.4759 },
    average: { vlmEff: 0.767, lpips: 0.4798 },
  },
  {
    method: 'ddpm',
    celebaHq: { vlmEff: 0.756, lpips: 0.2244 },
    coco: { vlmEff: 0.655, lpips: 0.2035 },
    average: { vlmEff: 0.705, lpips: 0.2139 },
  },
  {
    method: 'csg',
    celebaHq: { vlmEff: 0.854, lpips: 0.198 },
    coco: { vlmEff: 0.762, lpips: 0.175 },
    average: { vlmEff: 0.808, lpips: 0.1865 },
  },
] as const;

const BASE_LABELS: Record<string, string> = { ddim: 'DDIM Inversion', ddpm: 'DDPM Inversion', csg: 'CSG' };

/** 'csg+protect+reverse' → 'CSG +protect +reverse'. */
export function methodLabel(method: string): string {
  const [base, ...tags] = method.split('+');
  return [BASE_LABELS[base] ?? base, ...tags.map((t) => `+${t}`)].join(' ');
}

const fixed = (x: number | null, digits: number) => (x === null ? '—' : x.toFixed(digits));
const withCi = (e: Estimate | undefined, digits: number) =>
  !e || e.mean === null ? '—' : `${fixed(e.mean, digits)} [${fixed(e.lo, digits)}, ${fixed(e.hi, digits)}]`;

export function renderMarkdown(report: Report): string {
  const out: string[] = [];
  const evaluated = report.verdicts.reduce((s, v) => s + v.total - v.failed, 0);
  out.push('# Evaluation report', '');
  out.push(
    `${report.records} counterfactuals (${evaluated} evaluated, ${report.records - evaluated} failed) ` +
      `from batch${report.batchIds.length === 1 ? '' : 'es'} ${report.batchIds.map((b) => `\`${b}\``).join(', ') || '—'}.`,
    '',
  );
  out.push(
    `- LPIPS: VGG backbone, inputs in [-1, 1], at ${report.lpipsResolutions.join(', ') || '—'} (original vs counterfactual).`,
    `- CSG base term: ${report.rowSettings.csgBase} (docs/algorithm.md "Two readings of Eq. 12").`,
    `- Baselines (DDPM, DDIM): ${report.rowSettings.baselines ?? 'settings not recorded with these records'} (docs/algorithm.md §4).`,
    `- ${report.rules.vlmEff}.`,
    `- ${report.rules.average}.`,
    `- Intervals: ${Math.round(report.bootstrap.level * 100)}% percentile bootstrap, B = ${report.bootstrap.samples}, seed \`${report.bootstrap.seed}\`, resampling images (all counterfactuals of an image together).`,
    `- ${report.rules.failures[0].toUpperCase()}${report.rules.failures.slice(1)}.`,
    '',
  );
  if (report.groundTruth)
    out.push(
      "> LPIPS needs a VGG backbone with ImageNet weights. Where none can be downloaded (CI, this repository's own runs), the export tool's LPIPS graph has a seeded random backbone and its numbers are not a perceptual distance: read the distances to the true counterfactual in the ground-truth section instead.",
      '',
    );
  for (const w of report.warnings) out.push(`> Warning: ${w}`, '');

  out.push('## Table 1', '');
  const head = ['Method'];
  for (const d of report.datasets)
    head.push(`${DATASET_LABELS[d]} VLM-Eff ↑`, `${DATASET_LABELS[d]} LPIPS ↓`);
  head.push('Average VLM-Eff ↑', 'Average LPIPS ↓');
  out.push(row(head), row(head.map(() => '---')));
  for (const r of report.table1) {
    const cells = [methodLabel(r.method)];
    for (const d of report.datasets) cells.push(withCi(r.cells[d]?.vlmEff, 3), withCi(r.cells[d]?.lpips, 4));
    cells.push(withCi(r.average.vlmEff, 3), withCi(r.average.lpips, 4));
    out.push(row(cells));
  }
  out.push('', 'Mean [95% CI]. VLM-Eff to 3 decimals and LPIPS to 4, as in the paper.', '');

  out.push("### The paper's Table 1 (reported by FM-CGM, for reference; not computed here)", '');
  out.push(
    row([
      'Method (paper)',
      'CelebA-HQ VLM-Eff ↑',
      'CelebA-HQ LPIPS ↓',
      'MS-COCO VLM-Eff ↑',
      'MS-COCO LPIPS ↓',
      'Average VLM-Eff ↑',
      'Average LPIPS ↓',
    ]),
    row(Array(7).fill('---')),
  );
  for (const p of PAPER_TABLE1) {
    out.push(
      row([
        `${methodLabel(p.method)} (paper)`,
        p.celebaHq.vlmEff.toFixed(3),
        p.celebaHq.lpips.toFixed(4),
        p.coco.vlmEff.toFixed(3),
        p.coco.lpips.toFixed(4),
        p.average.vlmEff.toFixed(3),
        p.average.lpips.toFixed(4),
      ]),
    );
  }
  out.push('');

  out.push(
    '## VLM-Eff by node type',
    '',
    `${report.rules.nodeType[0].toUpperCase()}${report.rules.nodeType.slice(1)} (yes/total in brackets). Must-stay items are non-descendants that should not change; they are not part of VLM-Eff.`,
    '',
  );
  out.push(
    row(['Method', 'Data set', 'Intervened', 'Descendant', 'Non-descendant (must stay)']),
    row(Array(5).fill('---')),
  );
  for (const n of report.nodeTypes) {
    const rate = (t: CheckNodeType) =>
      n.rates[t].total === 0 ? '—' : `${fixed(n.rates[t].rate, 3)} (${n.rates[t].yes}/${n.rates[t].total})`;
    out.push(
      row([
        methodLabel(n.method),
        n.dataset === 'all' ? 'all' : DATASET_LABELS[n.dataset],
        rate('intervened'),
        rate('descendant'),
        rate('non_descendant_must_stay'),
      ]),
    );
  }
  out.push('');

  out.push('## Verdicts, failures and cost per counterfactual', '');
  out.push(
    row([
      'Method',
      'Data set',
      'Images',
      'Success',
      'Partial',
      'Failure',
      'Failed (pipeline)',
      'Total',
      'Mean seconds',
      'Mean NFE',
    ]),
    row(Array(10).fill('---')),
  );
  report.verdicts.forEach((v, i) => {
    const c = report.cost[i];
    out.push(
      row([
        methodLabel(v.method),
        DATASET_LABELS[v.dataset],
        String(v.images),
        String(v.success),
        String(v.partial),
        String(v.failure),
        String(v.failed),
        String(v.total),
        fixed(c.meanSeconds, 2),
        fixed(c.meanNfe, 1),
      ]),
    );
  });
  out.push('');

  if (report.groundTruth) out.push(...renderGroundTruth(report.groundTruth, report.bootstrap.samples));

  if (report.failures.length > 0) {
    out.push('## Failed counterfactuals', '');
    out.push(
      row(['Method', 'Data set', 'Image', 'Intervention', 'Stage', 'Reason']),
      row(Array(6).fill('---')),
    );
    for (const f of report.failures) {
      out.push(
        row([
          methodLabel(f.method),
          DATASET_LABELS[f.dataset],
          f.imageId,
          f.interventionId,
          f.stage,
          f.reason,
        ]),
      );
    }
    out.push('');
  }
  return out.join('\n');
}

function renderGroundTruth(gt: GroundTruthSection, samples: number): string[] {
  const out: string[] = [];
  const digits = (m: string) => (m.startsWith('psnr') ? 1 : 3);
  const cell = (e: GtEstimate, m: string) =>
    e.mean === null
      ? '—'
      : `${fixed(e.mean, digits(m))} [${fixed(e.lo, digits(m))}, ${fixed(e.hi, digits(m))}]`;
  out.push(
    '## Ground truth (street world)',
    '',
    "Scored by the world's oracle against the SCM's counterfactual with the scene's own noise U, and against the true counterfactual image (the same U rendered under the do()). " +
      "Intervened: the target reads as set. Descendants: share of the target's descendants reading as the SCM says (changed or not); changed descendants: those the SCM changes. " +
      "Non-descendants kept: share of the other attributes reading as in the original. Mask in region: share of a CSG concept mask's weight inside its attribute's region, beside the share a uniform mask would have (chance). " +
      `Mean [95% CI], percentile bootstrap over images, B = ${samples}; n = counterfactuals with the metric.`,
    '',
  );
  const effect: GtMetric[] = ['intervened', 'descendants', 'changedDescendants', 'preservation'];
  const distance: GtMetric[] = ['psnrToTrue', 'ssimToTrue', 'psnrToOriginal', 'ssimToOriginal'];
  const masks: GtMetric[] = [
    'maskIntervened',
    'maskIntervenedChance',
    'maskDescendants',
    'maskDescendantsChance',
  ];
  for (const [title, metrics] of [
    ['Effectiveness and preservation', effect],
    ['Distance to the true counterfactual and to the original', distance],
    ['CSG masks', masks],
  ] as const) {
    const rows = gt.rows.filter((r) => metrics.some((m) => r.metrics[m].mean !== null));
    if (rows.length === 0) continue;
    out.push(`### ${title}`, '');
    out.push(
      row(['Method', 'n', ...metrics.map((m) => GT_LABELS[m])]),
      row(Array(metrics.length + 2).fill('---')),
    );
    for (const r of rows)
      out.push(
        row([
          methodLabel(r.method),
          String(r.metrics[metrics[0]].n),
          ...metrics.map((m) => cell(r.metrics[m], m)),
        ]),
      );
    out.push('');
  }
  if (gt.diffs.length > 0) {
    out.push(
      '### CSG minus each other method (paired by image)',
      '',
      'Positive is better for CSG on every column. An interval that excludes 0 is a difference the sample supports.',
      '',
    );
    out.push(
      row(['Versus', ...GT_DIFF_METRICS.map((m) => GT_LABELS[m])]),
      row(Array(GT_DIFF_METRICS.length + 1).fill('---')),
    );
    for (const d of gt.diffs)
      out.push(row([methodLabel(d.versus), ...GT_DIFF_METRICS.map((m) => cell(d.metrics[m], m))]));
    out.push('');
  }
  return out;
}

const row = (cells: readonly string[]) =>
  `| ${cells.map((c) => c.replace(/\|/g, '\\|').replace(/\n/g, ' ')).join(' | ')} |`;

/** One CSV file per table, keyed by file name; numbers at full precision, empty for none. */
export function renderCsv(report: Report): Record<string, string> {
  const t1Head = ['method'];
  for (const d of report.datasets) {
    for (const m of ['vlm_eff', 'lpips']) t1Head.push(`${d}_${m}`, `${d}_${m}_lo`, `${d}_${m}_hi`);
    t1Head.push(`${d}_images`, `${d}_evaluated`, `${d}_failed`);
  }
  for (const m of ['vlm_eff', 'lpips']) t1Head.push(`average_${m}`, `average_${m}_lo`, `average_${m}_hi`);
  const est = (e: Estimate | undefined) => (e ? [e.mean, e.lo, e.hi] : [null, null, null]);
  const table1 = report.table1.map((r) => {
    const cells: (string | number | null)[] = [r.method];
    for (const d of report.datasets) {
      const c = r.cells[d];
      cells.push(
        ...est(c?.vlmEff),
        ...est(c?.lpips),
        c?.images ?? null,
        c?.evaluated ?? null,
        c?.failed ?? null,
      );
    }
    cells.push(...est(r.average.vlmEff), ...est(r.average.lpips));
    return cells;
  });
  const nodeTypes = report.nodeTypes.flatMap((n) =>
    CHECK_NODE_TYPES.map((t) => [n.method, n.dataset, t, n.rates[t].yes, n.rates[t].total, n.rates[t].rate]),
  );
  return {
    'table1.csv': csv(t1Head, table1),
    'node-types.csv': csv(['method', 'dataset', 'node_type', 'yes', 'total', 'rate'], nodeTypes),
    'verdicts.csv': csv(
      ['method', 'dataset', 'images', 'success', 'partial', 'failure', 'failed', 'total'],
      report.verdicts.map((v) => [
        v.method,
        v.dataset,
        v.images,
        v.success,
        v.partial,
        v.failure,
        v.failed,
        v.total,
      ]),
    ),
    'cost.csv': csv(
      ['method', 'dataset', 'n', 'mean_seconds', 'mean_nfe'],
      report.cost.map((c) => [c.method, c.dataset, c.n, c.meanSeconds, c.meanNfe]),
    ),
    'failures.csv': csv(
      ['method', 'dataset', 'image_id', 'intervention_id', 'stage', 'reason'],
      report.failures.map((f) => [f.method, f.dataset, f.imageId, f.interventionId, f.stage, f.reason]),
    ),
  };
}

function csv(head: readonly string[], rows: readonly (readonly (string | number | null)[])[]): string {
  const cell = (v: string | number | null) => {
    if (v === null) return '';
    // A text cell a spreadsheet would run as a formula (= + - @, or a leading tab or CR) gets a quote first.
    const s = typeof v === 'string' && /^[=+\-@\t\r]/.test(v) ? `'${v}` : String(v);
    return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
  };
  return [head, ...rows].map((r) => r.map(cell).join(',')).join('\n') + '\n';
}

export function renderJson(report: Report): string {
  return `${JSON.stringify(report, null, 2)}\n`;
}
