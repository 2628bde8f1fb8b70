// Run manifest → evaluation records (core/eval/from-manifest.ts): evaluated records carry the judge's
// checklist scored by hand-checked numbers, cost is amortised (the edit call's share plus an equal
// share of the method's inversion, so a run's records add up to its GPU work), and every way a counterfactual
// can be missing becomes a failed record with the stage and an actionable reason.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { judgeChecklist } from '../../activities/vlm/judge.js';
import {
  expectedChecks,
  IMAGE_LEVEL_INTERVENTION,
  imageLevelFailures,
  type RunRecordContext,
  recordsFromManifest,
} from '../../core/eval/from-manifest.js';
import { buildReport } from '../../core/eval/report.js';
import { type EvalRecord, parseEvalRecords, serialiseEvalRecords } from '../../core/eval/results.js';
import { checkIntervention } from '../../core/graph/check-intervention.js';
import { planEdits } from '../../core/graph/plan-edits.js';
import type { ArtifactRef } from '../../core/schemas/artifact.js';
import type { EditMethod } from '../../core/schemas/edit-plan.js';
import { ConceptGraphSchema, type Intervention, InterventionSetSchema } from '../../core/schemas/paper.js';
import { type RunManifest, RunManifestSchema, type RunOutput } from '../../core/schemas/run-manifest.js';

const EXAMPLE = fileURLToPath(new URL('../../examples/rainy-street/', import.meta.url));
const graph = ConceptGraphSchema.parse(JSON.parse(readFileSync(`${EXAMPLE}graph.json`, 'utf8')));
const interventions = InterventionSetSchema.parse(
  JSON.parse(readFileSync(`${EXAMPLE}interventions.json`, 'utf8')),
).interventions;
const [weather, road] = interventions; // do(c1 = sunny): De = c2..c5; do(c3 = snowy): De = c4
const T = '2026-01-01T00:00:00.000Z';

const ref = (n: number): ArtifactRef => ({
  bucket: 'b',
  key: `outputs/${n}`,
  sha256: n.toString(16).padStart(64, '0'),
  bytes: 100 + n,
  contentType: 'image/png',
});

const ctx: RunRecordContext = {
  batchId: 'batch-1',
  dataset: 'coco',
  imageId: '397133',
  methods: ['csg', 'ddim'],
  planning: {},
  originalImage: { kind: 's3', ref: ref(0) },
};

/** The judge's answer: `present[i]` for the i-th checklist item the judge was shown. */
function judged(iv: Intervention, present: ('yes' | 'no')[], drop: string[] = []) {
  const items = judgeChecklist(iv, graph).filter((c) => !drop.includes(c.concept_name));
  const yes = present.filter((p) => p === 'yes').length;
  return {
    verdict: {
      intervention_id: iv.id,
      concept_checks: items.map((c, i) => ({
        concept_name: c.concept_name.toUpperCase(), // matching ignores case
        expected_value: c.expected_value,
        present: present[i],
      })),
      verdict: yes === present.length ? ('success' as const) : ('partial' as const),
      reasoning: `${yes} of ${present.length} visible`,
    },
    checklistScore: yes / present.length,
  };
}

function output(iv: Intervention, method: EditMethod, extra: Partial<RunOutput> = {}): RunOutput {
  return {
    interventionId: iv.id,
    method,
    image: ref(iv.id.length + method.length),
    masks: [],
    nfe: method === 'csg' ? 40 : 30,
    seconds: 2,
    lpips: method === 'csg' ? 0.25 : 0.5,
    ...extra,
  };
}

function manifest(over: Partial<RunManifest> = {}): RunManifest {
  const chosen = [weather, road];
  const methods: EditMethod[] = ['csg', 'ddim'];
  return RunManifestSchema.parse({
    schemaVersion: 1,
    runId: 'batch-1/paper/coco/397133',
    createdAt: T,
    updatedAt: T,
    input: { image: ref(0), caption: 'a rainy street', preprocessed: ref(1) },
    status: 'succeeded',
    basePrompt: { text: 'a rainy street', source: 'dataset' },
    graph: { source: 'vlm', original: graph, issues: [], repairs: [], graph },
    interventions: chosen.map((intervention) => ({
      source: 'vlm',
      intervention,
      check: checkIntervention(graph, intervention),
    })),
    plans: chosen.flatMap((iv) => planEdits(graph, iv, { sourcePrompt: 'a rainy street', methods })),
    inversions: [
      { method: 'csg', ref: ref(2), nfe: 12, seconds: 1 },
      { method: 'ddim', ref: ref(2), nfe: 10, seconds: 0.5 },
    ],
    outputs: [
      output(weather, 'csg', { judge: judged(weather, ['yes', 'yes', 'no', 'yes', 'no']) }),
      output(weather, 'ddim', { judge: judged(weather, ['no', 'no', 'no', 'no', 'no']) }),
      output(road, 'csg', { judge: judged(road, ['yes', 'yes']) }),
      output(road, 'ddim', { judge: judged(road, ['yes', 'no']) }),
    ],
    vlmAttempts: [],
    stages: {
      plan: { status: 'succeeded' },
      invert: { status: 'succeeded' },
      edit: { status: 'succeeded' },
      evaluate: { status: 'succeeded' },
      manifest: { status: 'succeeded' },
    },
    settings: {},
    versions: {},
    ...over,
  });
}

const RES = { width: 64, height: 64 };
const byKey = (records: EvalRecord[]) =>
  Object.fromEntries(records.map((r) => [`${r.interventionId}/${r.method}`, r]));

describe('expectedChecks', () => {
  it('is the checklist the judge is shown: target, then changed descendants, with the same names and values', () => {
    for (const iv of interventions) {
      const ours = expectedChecks(iv, graph);
      const judges = judgeChecklist(iv, graph);
      expect(ours.map((c) => [c.conceptId, c.concept_name, c.expected_value])).toEqual(
        judges.map((c) => [c.concept_id, c.concept_name, c.expected_value]),
      );
      expect(ours.map((c) => c.nodeType)).toEqual(
        judges.map((c) => (c.role === 'target' ? 'intervened' : 'descendant')),
      );
    }
    expect(expectedChecks(weather, graph).map((c) => c.conceptId)).toEqual(['c1', 'c2', 'c3', 'c4', 'c5']);
  });

  it('leaves out a proposed change to a non-descendant', () => {
    const iv: Intervention = {
      ...road,
      propagated_changes: [
        ...road.propagated_changes,
        { concept_id: 'c6', concept_name: 'building style', original_value: 'x', new_value: 'y', reason: '' },
      ],
    };
    expect(expectedChecks(iv, graph).map((c) => c.conceptId)).toEqual(['c3', 'c4']);
  });
});

describe('recordsFromManifest', () => {
  it('gives one evaluated record per intervention × method with VLM-Eff, LPIPS, NFE and time', () => {
    const records = recordsFromManifest(manifest(), ctx, RES);
    expect(records).toHaveLength(4);
    const r = byKey(records);
    const eff = (k: string) => (r[k].status === 'evaluated' ? r[k].vlmEff : Number.NaN);
    expect(eff('intervention_1/csg')).toBeCloseTo(3 / 5, 12);
    expect(eff('intervention_1/ddim')).toBe(0);
    expect(eff('intervention_2/csg')).toBe(1);
    expect(eff('intervention_2/ddim')).toBe(0.5);
    const csg = r['intervention_1/csg'];
    expect(csg).toMatchObject({
      status: 'evaluated',
      batchId: 'batch-1',
      runId: 'batch-1/paper/coco/397133',
      dataset: 'coco',
      imageId: '397133',
      verdict: 'partial',
      reasoning: '3 of 5 visible',
      mustStayRate: null,
      lpips: 0.25,
      lpipsResolution: RES,
      nfe: 40 + 12 / 2, // the edit plus half its method's inversion (2 CSG outputs share it)
      seconds: 2 + 1 / 2,
      image: { kind: 's3', ref: output(weather, 'csg').image },
      originalImage: ctx.originalImage,
    });
    expect(r['intervention_1/ddim']).toMatchObject({ nfe: 30 + 10 / 2, seconds: 2 + 0.5 / 2, lpips: 0.5 });
    // The score agrees with the judge's own checklist score stored in the manifest.
    for (const o of manifest().outputs) {
      const rec = r[`${o.interventionId}/${o.method}`];
      expect(rec.status === 'evaluated' && rec.vlmEff).toBeCloseTo(o.judge!.checklistScore, 12);
    }
    // Valid records: they serialise, parse back and feed the report.
    const parsed = parseEvalRecords(serialiseEvalRecords(records));
    expect(parsed).toEqual(records);
    const report = buildReport(parsed, { bootstrapSamples: 10 });
    const csgRow = report.table1.find((row) => row.method === 'csg');
    expect(csgRow?.cells.coco?.vlmEff.mean).toBeCloseTo((3 / 5 + 1) / 2, 12);
  });

  it('adds up to the run’s GPU work when three interventions shared one CSG edit call', () => {
    const iv3: Intervention = { ...road, id: 'intervention_3' };
    const call = { unetCalls: 12, sampleEvaluations: 100, sharedWith: 3 };
    const m = manifest({
      interventions: [weather, road, iv3].map((intervention) => ({
        source: 'vlm' as const,
        intervention,
        check: checkIntervention(graph, intervention),
      })),
      plans: [weather, road, iv3].flatMap((iv) =>
        planEdits(graph, iv, { sourcePrompt: 'a rainy street', methods: ['csg'] }),
      ),
      outputs: [weather, road, iv3].map((iv) =>
        output(iv, 'csg', {
          nfe: 100 / 3,
          nfeCall: call,
          seconds: 3,
          judge: judged(
            iv,
            judgeChecklist(iv, graph).map(() => 'yes'),
          ),
        }),
      ),
    });
    const records = recordsFromManifest(m, { ...ctx, methods: ['csg'] }, RES);
    expect(records).toHaveLength(3);
    // The call's 100 evaluations and the 12 of the inversion, each counted once over the three records.
    expect(records.reduce((n, r) => n + (r.nfe ?? 0), 0)).toBeCloseTo(100 + 12, 9);
    expect(records.reduce((n, r) => n + (r.seconds ?? 0), 0)).toBeCloseTo(3 * 3 + 1, 9);
    for (const r of records) expect(r.nfe).toBeCloseTo((100 + 12) / 3, 9);
    expect(parseEvalRecords(serialiseEvalRecords(records))).toEqual(records);
  });

  it('charges the whole inversion to the only output its method made', () => {
    const m = manifest();
    m.outputs = m.outputs.filter((o) => !(o.method === 'csg' && o.interventionId === road.id));
    const r = byKey(recordsFromManifest(m, ctx, RES));
    expect(r['intervention_1/csg']).toMatchObject({ nfe: 40 + 12, seconds: 2 + 1 });
    expect(r['intervention_1/ddim']).toMatchObject({ nfe: 30 + 10 / 2 });
    expect(r['intervention_2/csg']).toMatchObject({ status: 'failed' });
    expect(r['intervention_2/csg'].nfe).toBeUndefined();
  });

  it('names the rows with the variant’s ablation tags', () => {
    const records = recordsFromManifest(manifest(), { ...ctx, planning: { reverseOldValues: true } }, RES);
    expect([...new Set(records.map((r) => r.method))].sort()).toEqual(['csg+reverse', 'ddim+reverse']);
  });

  it('counts an item the judge left out as "no" (answered: false)', () => {
    const m = manifest();
    m.outputs[2] = output(road, 'csg', { judge: judged(road, ['yes'], ['puddles']) });
    const rec = byKey(recordsFromManifest(m, ctx, RES))['intervention_2/csg'];
    expect(rec.status).toBe('evaluated');
    if (rec.status !== 'evaluated') return;
    expect(rec.vlmEff).toBe(0.5);
    expect(rec.checks.map((c) => [c.conceptId, c.present, c.answered])).toEqual([
      ['c3', 'yes', true],
      ['c4', 'no', false],
    ]);
  });

  it('fails the plans a cancelled run never rendered, at the stage it stopped', () => {
    const m = manifest({
      status: 'cancelled',
      stages: { ...manifest().stages, edit: { status: 'cancelled', message: 'cancelled' } },
    });
    m.outputs = m.outputs.slice(0, 1);
    const r = byKey(recordsFromManifest(m, ctx, RES));
    expect(r['intervention_1/csg'].status).toBe('evaluated');
    for (const k of ['intervention_1/ddim', 'intervention_2/csg', 'intervention_2/ddim']) {
      expect(r[k]).toMatchObject({ status: 'failed', stage: 'edit' });
      expect(r[k].status === 'failed' && r[k].reason).toMatch(
        /cancelled before this counterfactual was made/,
      );
    }
  });

  it('fails an output without judge, saying what is missing and what to do', () => {
    const m = manifest({ stages: { ...manifest().stages, evaluate: { status: 'skipped' } } });
    m.outputs = m.outputs.map((o) => ({ ...o, judge: undefined }));
    const first = byKey(recordsFromManifest(m, ctx, RES))['intervention_1/csg'];
    expect(first).toMatchObject({ status: 'failed', stage: 'evaluate', nfe: 46, seconds: 2.5 });
    expect(first.status === 'failed' && first.reason).toMatch(/judge was turned off/);
  });

  it('keeps the VLM-Eff of an output without LPIPS (a GPU worker without LPIPS), with LPIPS null', () => {
    const m = manifest();
    m.outputs = m.outputs.map((o, i) => ({ ...o, lpips: i === 0 ? undefined : o.lpips }));
    const r = byKey(recordsFromManifest(m, ctx, RES));
    const first = r['intervention_1/csg'];
    expect(first).toMatchObject({ status: 'evaluated', lpips: null, lpipsResolution: null });
    expect(first.status === 'evaluated' && first.vlmEff).toBeGreaterThan(0);
    expect(r['intervention_1/ddim']).toMatchObject({ status: 'evaluated', lpipsResolution: RES });
    // The report averages the others and says how many lack LPIPS.
    const report = buildReport(Object.values(r));
    expect(report.warnings.join('\n')).toMatch(/1 evaluated counterfactual\(s\) of csg have no LPIPS/);
    const csg = report.table1.find((row) => row.method === 'csg')!;
    expect(csg.cells.coco?.vlmEff.mean).not.toBeNull();
  });

  it('quotes the last judge error of that output when the judge call failed', () => {
    const m = manifest({
      stages: { ...manifest().stages, evaluate: { status: 'failed', message: '1 judge call(s) failed' } },
      vlmAttempts: [1, 2].map((attempt) => ({
        prompt: 'judge',
        model: 'm',
        attempt,
        interventionId: 'intervention_2',
        method: 'ddim' as const,
        usage: null,
        error: `HTTP 500 attempt ${attempt}`,
      })),
    });
    m.outputs[3] = { ...m.outputs[3], judge: undefined };
    const rec = byKey(recordsFromManifest(m, ctx, RES))['intervention_2/ddim'];
    expect(rec).toMatchObject({ status: 'failed', stage: 'evaluate' });
    expect(rec.status === 'failed' && rec.reason).toMatch(/VLM judge failed \(HTTP 500 attempt 2\)/);
  });

  it('fails every output when the LPIPS resolution is unknown', () => {
    const records = recordsFromManifest(manifest(), ctx, null);
    expect(records.every((r) => r.status === 'failed' && /LPIPS resolution unknown/.test(r.reason))).toBe(
      true,
    );
  });

  it('gives one image-level failure per method when the run failed before planning', () => {
    const m = manifest({
      status: 'failed',
      interventions: [],
      plans: [],
      outputs: [],
      inversions: [],
      stages: {
        describe: { status: 'skipped' },
        extract: { status: 'failed', message: 'image: cannot decode the image (9 bytes)' },
        propose: { status: 'skipped' },
      },
    });
    const records = recordsFromManifest(m, ctx, null);
    expect(records).toHaveLength(2);
    for (const r of records) {
      expect(r).toMatchObject({
        status: 'failed',
        stage: 'extract',
        interventionId: IMAGE_LEVEL_INTERVENTION,
      });
      expect(r.status === 'failed' && r.reason).toMatch(/stage extract\): image: cannot decode/);
    }
    expect(records.map((r) => r.method)).toEqual(['csg', 'ddim']);
    // The report counts the image as failed in each method row.
    const report = buildReport(records, { bootstrapSamples: 10 });
    expect(report.table1.map((row) => [row.method, row.cells.coco?.failed, row.cells.coco?.images])).toEqual([
      ['ddim', 1, 0],
      ['csg', 1, 0],
    ]);
  });
});

describe('imageLevelFailures', () => {
  it('is one valid failed record per distinct method, for a run without a manifest', () => {
    const records = imageLevelFailures(
      { ...ctx, methods: ['csg', 'ddpm', 'csg'], planning: { promptStyle: 'name_value' } },
      { runId: 'r', stage: 'workflow', reason: 'the child workflow timed out' },
    );
    expect(records.map((r) => r.method)).toEqual(['csg+name-value', 'ddpm+name-value']);
    expect(parseEvalRecords(serialiseEvalRecords(records))).toEqual(records);
  });
});
