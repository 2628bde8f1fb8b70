// The report's renderings: Markdown (Table 1 beside the paper's, the rules, ground truth), CSV files
// and JSON. Pure: a Report in, text out.
import { DATASET_LABELS } from './datasets/types.js';
import {
  type GroundTruthSection,
  GT_DIFF_METRICS,
  GT_LABELS,
  type GtEstimate,
  type GtMetric,
} from './ground-truth-report.js';
import type { Report } from './report.js';
import type { Estimate } from './report-bootstrap.js';
import { CHECK_NODE_TYPES, type CheckNodeType } from './results.js';

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
