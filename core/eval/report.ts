// The evaluation report: the paper's Table 1 (VLM-Eff ↑ and LPIPS ↓ per data set and on average, one
// row per method, ablations included), with bootstrap confidence intervals, VLM-Eff by node type,
// verdict and failure counts, and time and NFE per counterfactual. Pure: records in, a Report value
// out (the bootstrap in report-bootstrap.ts; Markdown, CSV and JSON in report-render.ts).
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
import { DATASET_ORDER, type DatasetName } from './datasets/types.js';
import { type GroundTruthSection, groundTruthSection } from './ground-truth-report.js';
import {
  bootstrap,
  CI_LEVEL,
  type Cluster,
  clustersOf,
  cmp,
  type Estimate,
  empty,
  meanOf,
} from './report-bootstrap.js';
import {
  CHECK_NODE_TYPES,
  type CheckNodeType,
  counterfactualKey,
  type EvalRecord,
  type EvaluatedRecord,
} from './results.js';
import type { Seed } from './sampling.js';

export { CI_LEVEL, type Estimate } from './report-bootstrap.js';

export const DEFAULT_BOOTSTRAP_SAMPLES = 1000;
export const DEFAULT_REPORT_SEED = 'fm-cgm-report';

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
