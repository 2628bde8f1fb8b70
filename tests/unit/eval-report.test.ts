// The evaluation report (core/eval/report.ts) against numbers recomputed here, plainly and
// independently, from synthetic per-counterfactual records: means, the paper's average rule, the
// clustered percentile bootstrap (with its own BigInt mulberry32), node-type rates, counts and cost.
import { describe, expect, it } from 'vitest';
import { baselineSettingsOf } from '../../core/config/paper-defaults.js';
import { quantile } from '../../core/eval/quantile.js';
import { buildReport, type Estimate } from '../../core/eval/report.js';
import { renderCsv, renderJson, renderMarkdown } from '../../core/eval/report-render.js';
import {
  checksFromJudge,
  type EvalCheck,
  type EvalRecord,
  EvalRecordSchema,
  methodName,
  parseEvalRecords,
  serialiseEvalRecords,
  variantTags,
} from '../../core/eval/results.js';
import { oneCheckRecord } from '../support/eval-records.js';

// ---- synthetic records ----------------------------------------------------------------------------

/** A small LCG so the data are varied but fixed (independent of the module's PRNG). */
function lcg(seed: number) {
  let s = seed;
  return () => {
    s = (s * 1103515245 + 12345) % 2147483648;
    return s / 2147483648;
  };
}

const DATASETS = ['celeba-hq', 'coco'] as const;
const METHODS = ['csg', 'ddpm', 'ddim', 'csg+reverse'];
const IMAGES = { 'celeba-hq': ['0', '15', '27', '3', '9'], coco: ['139', '285', '632', '724', '776', '785'] };

function makeRecords(): EvalRecord[] {
  const rnd = lcg(7);
  const out: EvalRecord[] = [];
  for (const method of METHODS) {
    for (const dataset of DATASETS) {
      for (const imageId of IMAGES[dataset]) {
        for (const iv of ['i1', 'i2', 'i3']) {
          const common = {
            schemaVersion: 1 as const,
            batchId: 'b1',
            dataset,
            imageId,
            interventionId: iv,
            method,
          };
          if (rnd() < 0.08) {
            out.push({ ...common, status: 'failed', stage: 'edit', reason: 'engine out of memory' });
            continue;
          }
          const checks: EvalCheck[] = [];
          const add = (nodeType: EvalCheck['nodeType'], i: number, pYes: number) =>
            checks.push({
              conceptId: `c${checks.length + 1}`,
              concept_name: `${nodeType} ${i}`,
              expected_value: 'v',
              nodeType,
              present: rnd() < pYes ? 'yes' : 'no',
              answered: true,
            });
          add('intervened', 0, 0.85);
          const nDesc = Math.floor(rnd() * 4);
          for (let i = 0; i < nDesc; i++) add('descendant', i, 0.6);
          const nStay = Math.floor(rnd() * 3);
          for (let i = 0; i < nStay; i++) add('non_descendant_must_stay', i, 0.7);
          const changed = checks.filter((c) => c.nodeType !== 'non_descendant_must_stay');
          const stay = checks.filter((c) => c.nodeType === 'non_descendant_must_stay');
          const yes = (cs: EvalCheck[]) => cs.filter((c) => c.present === 'yes').length;
          const vlmEff = yes(changed) / changed.length;
          out.push({
            ...common,
            status: 'evaluated',
            verdict: vlmEff === 1 ? 'success' : vlmEff >= 0.5 ? 'partial' : 'failure',
            reasoning: 'synthetic',
            checks,
            vlmEff,
            mustStayRate: stay.length === 0 ? null : yes(stay) / stay.length,
            lpips: Math.round(rnd() * 5000) / 10000,
            lpipsResolution: { width: 512, height: 512 },
            nfe: method.startsWith('csg') ? 200 : 150 + Math.floor(rnd() * 3),
            seconds: Math.round(rnd() * 1000) / 100,
          });
        }
      }
    }
  }
  return out;
}

// ---- the independent computation ------------------------------------------------------------------

/** mulberry32 + FNV-1a in BigInt arithmetic, transcribed from the Python in core/eval/sampling.ts. */
function referenceStream(seed: string) {
  const M = 0xffffffffn;
  let h = 0x811c9dc5n;
  for (const b of Buffer.from(seed, 'utf8')) h = ((h ^ BigInt(b)) * 0x01000193n) & M;
  let a = h;
  const next = () => {
    a = (a + 0x6d2b79f5n) & M;
    let t = ((a ^ (a >> 15n)) * (a | 1n)) & M;
    t = ((t + (((t ^ (t >> 7n)) * (t | 61n)) & M)) & M) ^ t;
    return (t ^ (t >> 14n)) & M;
  };
  return { below: (m: number) => Number((next() * BigInt(m)) >> 32n) };
}

function percentile(values: number[], p: number): number {
  const s = [...values].sort((x, y) => x - y);
  const h = (s.length - 1) * p;
  const i = Math.floor(h);
  const j = Math.min(i + 1, s.length - 1);
  return s[i] + (h - i) * (s[j] - s[i]);
}

type Metric = 'vlmEff' | 'lpips';
/** VLM-Eff straight from the checks, not from the stored field. */
const effOf = (r: EvalRecord & { status: 'evaluated' }) => {
  const items = r.checks.filter((c) => c.nodeType === 'intervened' || c.nodeType === 'descendant');
  return items.filter((c) => c.present === 'yes').length / items.length;
};
const metricOf = (r: EvalRecord & { status: 'evaluated' }, m: Metric) =>
  m === 'vlmEff' ? effOf(r) : (r.lpips ?? Number.NaN);

function imagesOf(records: EvalRecord[], method: string, dataset: string, m: Metric): number[][] {
  const byImage: Record<string, number[]> = {};
  for (const r of records) {
    if (r.method !== method || r.dataset !== dataset || r.status !== 'evaluated') continue;
    if (byImage[r.imageId] === undefined) byImage[r.imageId] = [];
    byImage[r.imageId].push(metricOf(r, m));
  }
  return Object.keys(byImage)
    .sort()
    .map((k) => byImage[k]);
}

const flatMean = (groups: number[][]) => {
  const all = groups.flat();
  return all.reduce((s, x) => s + x, 0) / all.length;
};

function expectedCell(
  records: EvalRecord[],
  method: string,
  dataset: string,
  m: Metric,
  B: number,
  seed: string,
) {
  const images = imagesOf(records, method, dataset, m);
  const rng = referenceStream(`${seed}|${method}|${dataset}`);
  const stats: number[] = [];
  for (let b = 0; b < B; b++) {
    const pick: number[][] = [];
    for (let i = 0; i < images.length; i++) pick.push(images[rng.below(images.length)]);
    stats.push(flatMean(pick));
  }
  return { mean: flatMean(images), lo: percentile(stats, 0.025), hi: percentile(stats, 0.975) };
}

function expectedAverage(records: EvalRecord[], method: string, m: Metric, B: number, seed: string) {
  const per = DATASETS.map((d) => imagesOf(records, method, d, m));
  const rng = referenceStream(`${seed}|${method}|average`);
  const stats: number[] = [];
  for (let b = 0; b < B; b++) {
    let sum = 0;
    for (const images of per) {
      const pick: number[][] = [];
      for (let i = 0; i < images.length; i++) pick.push(images[rng.below(images.length)]);
      sum += flatMean(pick);
    }
    stats.push(sum / per.length);
  }
  const mean = (flatMean(per[0]) + flatMean(per[1])) / 2;
  return { mean, lo: percentile(stats, 0.025), hi: percentile(stats, 0.975) };
}

const close = (actual: number | null, expected: number) => expect(actual).toBeCloseTo(expected, 12);

// ---- tests ----------------------------------------------------------------------------------------

describe('buildReport', () => {
  const records = makeRecords();
  const B = 300;
  const seed = 'test-seed';
  const report = buildReport(records, { bootstrapSamples: B, seed });

  it('has the synthetic data the tests rely on (failures, several descendants, must-stay items)', () => {
    expect(records.filter((r) => r.status === 'failed').length).toBeGreaterThan(2);
    for (const r of records) expect(EvalRecordSchema.safeParse(r).success).toBe(true);
  });

  it("lays out Table 1: the paper's method order, ablations after their base, both data sets", () => {
    expect(report.methods).toEqual(['ddim', 'ddpm', 'csg', 'csg+reverse']);
    expect(report.datasets).toEqual(['celeba-hq', 'coco']);
    expect(report.table1.map((r) => r.method)).toEqual(report.methods);
    expect(report.bootstrap).toEqual({
      samples: B,
      seed,
      level: 0.95,
      method: 'percentile',
      cluster: 'image',
    });
    expect(report.lpipsResolutions).toEqual(['512×512']);
  });

  it('recomputes every Table 1 mean and 95% interval independently', () => {
    for (const row of report.table1) {
      for (const d of DATASETS) {
        const cell = row.cells[d]!;
        for (const m of ['vlmEff', 'lpips'] as const) {
          const e = expectedCell(records, row.method, d, m, B, seed);
          close(cell[m].mean, e.mean);
          close(cell[m].lo, e.lo);
          close(cell[m].hi, e.hi);
          expect(cell[m].lo!).toBeLessThanOrEqual(cell[m].mean! + 1e-12);
          expect(cell[m].hi!).toBeGreaterThanOrEqual(cell[m].mean! - 1e-12);
        }
        const all = records.filter((r) => r.method === row.method && r.dataset === d);
        const ok = all.filter((r) => r.status === 'evaluated');
        expect(cell.evaluated).toBe(ok.length);
        expect(cell.failed).toBe(all.length - ok.length);
        expect(cell.images).toBe(new Set(ok.map((r) => r.imageId)).size);
      }
      for (const m of ['vlmEff', 'lpips'] as const) {
        const e = expectedAverage(records, row.method, m, B, seed);
        close(row.average[m].mean, e.mean);
        close(row.average[m].lo, e.lo);
        close(row.average[m].hi, e.hi);
      }
    }
  });

  it('pools node-type rates over checklist items, per data set and overall', () => {
    for (const n of report.nodeTypes) {
      for (const type of ['intervened', 'descendant', 'non_descendant_must_stay'] as const) {
        let yes = 0;
        let total = 0;
        for (const r of records) {
          if (r.status !== 'evaluated' || r.method !== n.method) continue;
          if (n.dataset !== 'all' && r.dataset !== n.dataset) continue;
          for (const c of r.checks) {
            if (c.nodeType !== type) continue;
            total += 1;
            if (c.present === 'yes') yes += 1;
          }
        }
        expect(n.rates[type]).toEqual({ yes, total, rate: total === 0 ? null : yes / total });
      }
    }
    expect(report.nodeTypes).toHaveLength(METHODS.length * 3);
  });

  it('counts verdicts and failures, and averages seconds and NFE over evaluated counterfactuals', () => {
    expect(report.verdicts).toHaveLength(8);
    for (const [i, v] of report.verdicts.entries()) {
      const all = records.filter((r) => r.method === v.method && r.dataset === v.dataset);
      const ok = all.flatMap((r) => (r.status === 'evaluated' ? [r] : []));
      expect(v.success).toBe(ok.filter((r) => r.verdict === 'success').length);
      expect(v.partial).toBe(ok.filter((r) => r.verdict === 'partial').length);
      expect(v.failure).toBe(ok.filter((r) => r.verdict === 'failure').length);
      expect(v.failed).toBe(all.length - ok.length);
      expect(v.total).toBe(all.length);
      const c = report.cost[i];
      expect([c.method, c.dataset, c.n]).toEqual([v.method, v.dataset, ok.length]);
      close(c.meanSeconds, ok.reduce((s, r) => s + r.seconds, 0) / ok.length);
      close(c.meanNfe, ok.reduce((s, r) => s + r.nfe, 0) / ok.length);
    }
    expect(report.failures).toHaveLength(records.filter((r) => r.status === 'failed').length);
    expect(report.warnings).toEqual([]);
    const extra = {
      ...records.find((r) => r.status === 'evaluated' && r.dataset === 'coco')!,
      imageId: '999',
    };
    expect(buildReport([...records, extra], { bootstrapSamples: 10 }).warnings).toEqual([
      'coco: the methods were evaluated on different image sets; rows are not paired',
    ]);
  });

  it('is reproducible, and one method’s intervals do not move when another method is added', () => {
    expect(buildReport(records, { bootstrapSamples: B, seed })).toEqual(report);
    const onlyCsg = buildReport(
      records.filter((r) => r.method === 'csg'),
      { bootstrapSamples: B, seed },
    );
    expect(onlyCsg.table1[0]).toEqual(report.table1.find((r) => r.method === 'csg'));
    expect(buildReport(records, { seed }).bootstrap.samples).toBe(1000);
  });

  it("uses the paper's average rule: the mean of the data-set means, not of all counterfactuals", () => {
    const mk = (dataset: 'coco' | 'celeba-hq', imageId: string, yes: boolean, lpips: number): EvalRecord =>
      oneCheckRecord({ method: 'csg', dataset, imageId, yes, lpips, resolution: 512 });
    // CelebA-HQ: one image, VLM-Eff 1; MS-COCO: three images, VLM-Eff 0. Pooled would give 0.25.
    const r = buildReport(
      [
        mk('celeba-hq', '1', true, 0.1),
        mk('coco', '1', false, 0.3),
        mk('coco', '2', false, 0.3),
        mk('coco', '3', false, 0.3),
      ],
      {
        bootstrapSamples: 50,
      },
    );
    close(r.table1[0].average.vlmEff.mean, 0.5);
    close(r.table1[0].average.lpips.mean, 0.2);
    // A method without one of the data sets gets no average.
    const partial = buildReport(
      [mk('celeba-hq', '1', true, 0.1), { ...mk('coco', '1', false, 0.3), method: 'ddpm' }],
      {
        bootstrapSamples: 10,
      },
    );
    expect(partial.table1.map((t) => [t.method, t.average.vlmEff.mean])).toEqual([
      ['ddpm', null],
      ['csg', null],
    ]);
    expect(partial.warnings.join('\n')).toMatch(/method csg has no records for coco/);
  });

  it('rejects a counterfactual listed twice', () => {
    expect(() => buildReport([records[0], records[0]])).toThrow(/appears twice/);
  });
});

describe('renderers', () => {
  const records = makeRecords();
  const report = buildReport(records, { bootstrapSamples: 100, seed: 's' });

  it('Markdown shows every Table 1 cell with its interval, the rules, and the paper as a labelled reference', () => {
    const md = renderMarkdown(report);
    for (const row of report.table1) {
      const cells: [Estimate, number][] = [
        ...DATASETS.flatMap((d): [Estimate, number][] => [
          [row.cells[d]!.vlmEff, 3],
          [row.cells[d]!.lpips, 4],
        ]),
        [row.average.vlmEff, 3],
        [row.average.lpips, 4],
      ];
      const line = md
        .split('\n')
        .find((l) =>
          l.startsWith(
            `| ${row.method === 'csg+reverse' ? 'CSG +reverse' : row.method === 'csg' ? 'CSG' : row.method.toUpperCase()}`,
          ),
        )!;
      for (const [e, digits] of cells) {
        expect(line).toContain(
          `${e.mean!.toFixed(digits)} [${e.lo!.toFixed(digits)}, ${e.hi!.toFixed(digits)}]`,
        );
      }
    }
    expect(md).toContain("The paper's Table 1 (reported by FM-CGM, for reference; not computed here)");
    expect(md).toContain('| DDIM Inversion (paper) | 0.792 | 0.4836 | 0.741 | 0.4759 | 0.767 | 0.4798 |');
    expect(md).toContain('| DDPM Inversion (paper) | 0.756 | 0.2244 | 0.655 | 0.2035 | 0.705 | 0.2139 |');
    expect(md).toContain('| CSG (paper) | 0.854 | 0.1980 | 0.762 | 0.1750 | 0.808 | 0.1865 |');
    expect(md).toMatch(/at 512×512/);
    expect(md).toMatch(/B = 100, seed `s`/);
    expect(md).toMatch(/## Failed counterfactuals/);
  });

  it('CSV text cells that a spreadsheet would run as formulas start with a quote', () => {
    const failed = (imageId: string, reason: string): EvalRecord => ({
      schemaVersion: 1,
      batchId: 'b',
      dataset: 'coco',
      imageId,
      interventionId: 'i1',
      method: 'csg',
      status: 'failed',
      stage: 'edit',
      reason,
    });
    const csv = renderCsv(
      buildReport([failed('=HYPERLINK("http://x")', '+1'), failed('@SUM(A1)', '-2'), failed('7', 'fine')], {
        bootstrapSamples: 10,
      }),
    )['failures.csv'];
    expect(csv).toContain(`'=HYPERLINK(""http://x"")`);
    expect(csv).toContain(",'+1");
    expect(csv).toContain("'@SUM(A1)");
    expect(csv).toContain(",'-2");
    expect(csv).toContain(',7,i1,edit,fine');
  });

  it('CSV carries the same numbers at full precision', () => {
    const files = renderCsv(report);
    expect(Object.keys(files).sort()).toEqual([
      'cost.csv',
      'failures.csv',
      'node-types.csv',
      'table1.csv',
      'verdicts.csv',
    ]);
    const [head, ...rows] = files['table1.csv']
      .trim()
      .split('\n')
      .map((l) => l.split(','));
    expect(rows.map((r) => r[0])).toEqual(report.methods);
    for (const [i, row] of report.table1.entries()) {
      const get = (col: string) => Number(rows[i][head.indexOf(col)]);
      expect(get('coco_vlm_eff')).toBe(row.cells.coco!.vlmEff.mean);
      expect(get('celeba-hq_lpips_hi')).toBe(row.cells['celeba-hq']!.lpips.hi);
      expect(get('average_vlm_eff_lo')).toBe(row.average.vlmEff.lo);
      expect(get('coco_failed')).toBe(row.cells.coco!.failed);
    }
    expect(files['node-types.csv'].trim().split('\n')).toHaveLength(1 + report.nodeTypes.length * 3);
  });

  it('JSON is the report itself', () => {
    expect(JSON.parse(renderJson(report))).toEqual(JSON.parse(JSON.stringify(report)));
  });
});

describe('evaluation records', () => {
  const records = makeRecords();

  it('round-trip through JSONL', () => {
    expect(parseEvalRecords(serialiseEvalRecords(records))).toEqual(records);
  });

  it('reject a VLM-Eff that disagrees with the checks, a bad method name and duplicates, naming the line', () => {
    const ok = records.find((r) => r.status === 'evaluated')!;
    const text = (...rs: unknown[]) => rs.map((r) => JSON.stringify(r)).join('\n');
    expect(() =>
      parseEvalRecords(text(ok, { ...ok, interventionId: 'x', vlmEff: 0.123 }), 'r.jsonl'),
    ).toThrow(/^r\.jsonl:2: vlmEff: does not match the checks/);
    expect(() => parseEvalRecords(text({ ...ok, method: 'sdedit' }), 'r.jsonl')).toThrow(
      /^r\.jsonl:1: method: expected 'csg'/,
    );
    expect(() => parseEvalRecords(text(ok, ok), 'r.jsonl')).toThrow(
      /^r\.jsonl:2: counterfactual .* already on line 1/,
    );
    expect(() => parseEvalRecords(text({ ...ok, checks: [] }), 'r.jsonl')).toThrow(
      /checks: needs at least one intervened/,
    );
  });

  it("state CSG's base term and the baselines' preset with its values in the header", () => {
    const report = buildReport([], {
      baselineSettings: baselineSettingsOf({ baselines: { preset: 'ef-ddpm' } }),
    });
    const md = renderMarkdown(report);
    expect(md).toContain("- CSG base term: 'csg' rows: ε on the interventional prompt");
    expect(md).toContain(
      '- Baselines (DDPM, DDIM): preset `ef-ddpm` (numSteps 64, skip 0.5625, cfgSource 3.5, cfgTarget 15, numZeroNoiseSteps 1)',
    );
    expect(baselineSettingsOf({ baselines: { numSteps: 20 } })).toBe(
      'preset `paper` (numSteps 20, skip 0.15, cfgSource 3.5, cfgTarget 15, numZeroNoiseSteps 1; set over the preset: numSteps)',
    );
    expect(renderMarkdown(buildReport([]))).toContain('Baselines (DDPM, DDIM): settings not recorded');
  });

  it('name ablations by their non-paper choices', () => {
    expect(methodName('csg')).toBe('csg');
    expect(methodName('csg', { promptStyle: 'new_value', reverseOldValues: false })).toBe('csg');
    expect(methodName('csg', { reverseOldValues: true, protectNonDescendants: true })).toBe(
      'csg+protect+reverse',
    );
    expect(methodName('ddpm', { promptStyle: 'name_value' })).toBe('ddpm+name-value');
    // The CSG base term and the token span tag CSG rows only (the baselines have neither).
    // The default base is Eq. 12 as written; LEDITS++'s unconditional form is the ablation.
    expect(methodName('csg', { csgBase: 'interventional' })).toBe('csg');
    expect(methodName('csg', { csgBase: 'unconditional' })).toBe('csg+unconditional-base');
    expect(methodName('ddpm', { csgBase: 'unconditional' }, { span: 'words' })).toBe('ddpm');
    expect(methodName('csg', {}, variantTags({ spanMode: 'padded75', sourceGuidance: 1 }))).toBe(
      'csg+span-padded75+srcguidance1',
    );
  });

  it('pair the checklist with the judge answer; omitted items count as "no"', () => {
    const { checks, unmatchedAnswers } = checksFromJudge(
      [
        { conceptId: 'c1', concept_name: 'Weather', expected_value: 'sunny', nodeType: 'intervened' },
        { conceptId: 'c2', concept_name: 'road', expected_value: 'dry road', nodeType: 'descendant' },
        {
          conceptId: 'c3',
          concept_name: 'car',
          expected_value: 'red car',
          nodeType: 'non_descendant_must_stay',
        },
      ],
      {
        intervention_id: 'i1',
        concept_checks: [
          { concept_name: ' weather ', expected_value: 'sunny', present: 'yes' },
          { concept_name: 'sky', expected_value: 'blue', present: 'yes' },
          { concept_name: 'Car', expected_value: 'red car', present: 'yes' },
        ],
        verdict: 'partial',
        reasoning: '',
      },
    );
    expect(checks.map((c) => [c.conceptId, c.present, c.answered])).toEqual([
      ['c1', 'yes', true],
      ['c2', 'no', false],
      ['c3', 'yes', true],
    ]);
    expect(unmatchedAnswers).toBe(1);
  });

  it('quantile interpolates linearly (numpy default)', () => {
    expect(quantile([1, 2, 3, 4], 0.5)).toBe(2.5);
    expect(quantile([10, 0, 5], 0.025)).toBeCloseTo(0.25, 12);
    expect(quantile([7], 0.975)).toBe(7);
  });
});
