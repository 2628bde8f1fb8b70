// @ts-check
// The batch report (core/eval/report.ts Report) as table cells: Table 1 with 95% intervals, the
// per-node-type breakdown and, for street-world batches, the ground truth (core/eval/ground-truth-report.ts).
// Pure, so the unit tests import it as is.
import { fmtEstimate, fmtRate, methodLabel } from './format.js';

export const NODE_TYPES = ['intervened', 'descendant', 'non_descendant_must_stay'];

/**
 * @typedef {{ mean: number | null, lo: number | null, hi: number | null }} Estimate
 * @typedef {{ images: number, evaluated: number, failed: number, vlmEff: Estimate, lpips: Estimate }} Cell
 * @typedef {{ method: string, cells: Record<string, Cell | undefined>, average: { vlmEff: Estimate, lpips: Estimate } }} Table1Row
 * @typedef {{ yes: number, total: number, rate: number | null }} Rate
 * @typedef {{ method: string, dataset: string, rates: Record<string, Rate> }} NodeTypeRow
 * @typedef {{ n: number, mean: number | null, lo: number | null, hi: number | null }} GtEstimate
 * @typedef {{ method: string, counterfactuals: number, images: number, metrics: Record<string, GtEstimate> }} GroundTruthRow
 * @typedef {{ method: string, versus: string, metrics: Record<string, GtEstimate> }} GroundTruthDiff
 * @typedef {{ rows: GroundTruthRow[], diffs: GroundTruthDiff[] }} GroundTruthSection
 * @typedef {{ datasets: string[], table1: Table1Row[], nodeTypes: NodeTypeRow[], warnings?: string[], records?: number, groundTruth?: GroundTruthSection }} Report
 */

/** The ground-truth metrics the batch page shows, with their column heads. */
export const GROUND_TRUTH_COLUMNS = [
  ['intervened', 'intervened ↑'],
  ['descendants', 'descendants ↑'],
  ['preservation', 'non-descendants kept ↑'],
  ['psnrToTrue', 'PSNR to true (dB) ↑'],
  ['ssimToTrue', 'SSIM to true ↑'],
  ['maskIntervened', 'mask in region, intervened (chance)'],
  ['maskDescendants', 'mask in region, descendants (chance)'],
];

/** @param {Report} report @returns {{ head: string[], rows: string[][] }} */
export function table1Cells(report) {
  const head = [
    'method',
    ...report.datasets.flatMap((d) => [`${d} VLM-Eff ↑`, `${d} LPIPS ↓`, `${d} evaluated (failed)`]),
    'average VLM-Eff ↑',
    'average LPIPS ↓',
  ];
  const rows = report.table1.map((row) => [
    methodLabel(row.method),
    ...report.datasets.flatMap((d) => {
      const cell = row.cells[d];
      return cell
        ? [fmtEstimate(cell.vlmEff), fmtEstimate(cell.lpips), `${cell.evaluated} (${cell.failed})`]
        : ['—', '—', '—'];
    }),
    fmtEstimate(row.average.vlmEff),
    fmtEstimate(row.average.lpips),
  ]);
  return { head, rows };
}

/** @param {Report} report @returns {{ head: string[], rows: string[][] }} */
export function nodeTypeCells(report) {
  return {
    head: ['method', 'data set', ...NODE_TYPES.map((t) => t.replaceAll('_', ' '))],
    rows: report.nodeTypes.map((r) => [
      methodLabel(r.method),
      r.dataset,
      ...NODE_TYPES.map((t) => fmtRate(r.rates[t])),
    ]),
  };
}

/**
 * Street-world batches: per method the scores against the world's ground truth, mean [95% interval];
 * a mask share is followed by the share a uniform mask would have. Null without ground truth.
 * @param {Report} report @returns {{ head: string[], rows: string[][] } | null}
 */
export function groundTruthCells(report) {
  const gt = report.groundTruth;
  if (!gt || gt.rows.length === 0) return null;
  return {
    head: ['method', 'n', ...GROUND_TRUTH_COLUMNS.map(([, label]) => label)],
    rows: gt.rows.map((r) => [
      methodLabel(r.method),
      String(r.counterfactuals),
      ...GROUND_TRUTH_COLUMNS.map(([key]) => {
        const digits = key.startsWith('psnr') ? 1 : 3;
        const text = fmtEstimate(r.metrics[key], digits);
        const chance = r.metrics[`${key}Chance`];
        return chance && chance.mean !== null
          ? `${text} (${fmtEstimate({ ...chance, lo: null, hi: null })})`
          : text;
      }),
    ]),
  };
}
