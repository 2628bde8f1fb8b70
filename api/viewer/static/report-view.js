// @ts-check
// The batch report (core/eval/report.ts Report) as table cells: Table 1 with 95% intervals and the
// per-node-type breakdown. Pure, so the unit tests import it as is.
import { fmtEstimate, fmtRate, methodLabel } from './format.js';

export const NODE_TYPES = ['intervened', 'descendant', 'non_descendant_must_stay'];

/**
 * @typedef {{ mean: number | null, lo: number | null, hi: number | null }} Estimate
 * @typedef {{ images: number, evaluated: number, failed: number, vlmEff: Estimate, lpips: Estimate }} Cell
 * @typedef {{ method: string, cells: Record<string, Cell | undefined>, average: { vlmEff: Estimate, lpips: Estimate } }} Table1Row
 * @typedef {{ yes: number, total: number, rate: number | null }} Rate
 * @typedef {{ method: string, dataset: string, rates: Record<string, Rate> }} NodeTypeRow
 * @typedef {{ datasets: string[], table1: Table1Row[], nodeTypes: NodeTypeRow[], warnings?: string[], records?: number }} Report
 */

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
