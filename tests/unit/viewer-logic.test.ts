// The viewer's pure browser modules (plain JS, no DOM), imported as the browser imports them: graph
// marks and the ELK input, the start form's request fields, safe redirects and the report tables.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { checkIntervention, repairGraph, validateGraph } from '../../core/graph/index.js';
import { ConceptGraphSchema, InterventionSetSchema } from '../../core/schemas/paper.js';

// A computed specifier keeps tsc from resolving the JS (no declarations); the modules' own JSDoc types
// are checked by `npx tsc -p api/viewer/tsconfig.json`. Values are navigated freely in assertions.
const load = (name: string) => import(new URL(`../../api/viewer/static/${name}`, import.meta.url).href);
const graphModel = await load('graph-model.js');
const requestFields = await load('request-fields.js');
const navigation = await load('navigation.js');
const reportView = await load('report-view.js');
const format = await load('format.js');
const runResults = await load('run-results.js');

const EXAMPLE = new URL('../../examples/rainy-street/', import.meta.url);
const graph = ConceptGraphSchema.parse(JSON.parse(readFileSync(new URL('graph.json', EXAMPLE), 'utf8')));
const interventions = InterventionSetSchema.parse(
  JSON.parse(readFileSync(new URL('interventions.json', EXAMPLE), 'utf8')),
).interventions;
const record = { source: 'user', original: graph, issues: [], repairs: [], graph };

describe('graph-model', () => {
  it('descendantsOf agrees with the graph checks of core/graph for every concept', () => {
    for (const iv of interventions) {
      const check = checkIntervention(graph, iv);
      expect(graphModel.descendantsOf(graph, iv.target_concept_id)).toEqual(check.descendants);
    }
    expect(graphModel.descendantsOf(graph, 'c1')).toEqual(['c2', 'c3', 'c4', 'c5']);
    expect(graphModel.descendantsOf(graph, 'c6')).toEqual([]);
  });

  it('elkInput has one child per concept and one edge per relationship, plus edges a repair removed', () => {
    const input = graphModel.elkInput(record);
    expect(input.children.map((c: { id: string }) => c.id)).toEqual(graph.concepts.map((c) => c.id));
    expect(input.edges).toHaveLength(graph.relationships.length);
    expect(input.layoutOptions['elk.algorithm']).toBe('layered');

    const cyclic = ConceptGraphSchema.parse(
      JSON.parse(readFileSync(new URL('../fixtures/graphs/cyclic.json', import.meta.url), 'utf8')),
    );
    const repaired = repairGraph(cyclic);
    expect(repaired.repairs.length).toBeGreaterThan(0);
    const cut = {
      graph: repaired.graph,
      issues: validateGraph(cyclic).issues,
      repairs: repaired.repairs,
    };
    const withRemoved = graphModel.elkInput(cut);
    const removed = withRemoved.edges.filter((e: { id: string }) => e.id.startsWith('removed:'));
    expect(removed).toHaveLength(repaired.repairs.filter((r) => r.kind.startsWith('removed_')).length);
    expect(withRemoved.edges).toHaveLength(repaired.graph.relationships.length + removed.length);
    // the graph's own issues mark their concepts even before an intervention is chosen
    const marks = graphModel.graphMarks(cut, null);
    expect(marks.violations.size).toBeGreaterThan(0);
  });

  it('graphMarks: target, descendants from the manifest check, changed values, violations', () => {
    const [sunny] = interventions;
    const marks = graphModel.graphMarks(record, {
      intervention: sunny,
      check: { ...checkIntervention(graph, sunny), descendants: ['c2', 'c3'] },
    });
    expect(marks.target).toBe('c1');
    // the manifest's own check wins over recomputing
    expect([...marks.descendants]).toEqual(['c2', 'c3']);
    expect(marks.changed.get('c1')).toBe('sunny weather');
    expect([...marks.changed.keys()].sort()).toEqual(['c1', 'c2', 'c3', 'c4', 'c5']);
    expect(marks.violations.size).toBe(0);

    const bad = {
      ...sunny,
      propagated_changes: [...sunny.propagated_changes, { ...sunny.propagated_changes[0], concept_id: 'c6' }],
    };
    const badMarks = graphModel.graphMarks(record, {
      intervention: bad,
      check: checkIntervention(graph, bad),
    });
    expect([...badMarks.violations]).toContain('c6');
    // without a check (older manifests) the descendants are recomputed
    expect([...graphModel.graphMarks(record, { intervention: sunny }).descendants]).toEqual([
      'c2',
      'c3',
      'c4',
      'c5',
    ]);
  });
});

describe('request-fields', () => {
  const base = {
    caption: '',
    graphText: null,
    interventionsText: null,
    doText: '',
    methods: ['csg'],
    steps: '',
    seed: '',
  };

  it('builds the request JSON of POST /v1/counterfactuals from the form', () => {
    const fields = requestFields.buildRequestFields({
      ...base,
      caption: '  a rainy street  ',
      graphText: JSON.stringify(graph),
      interventionsText: readFileSync(new URL('interventions.json', EXAMPLE), 'utf8'),
      methods: ['csg', 'ddim'],
      steps: '4',
      warmup: '1',
      seed: '7',
    });
    expect(fields).toEqual({
      caption: 'a rainy street',
      graph,
      interventions,
      methods: ['csg', 'ddim'],
      settings: { inversionSteps: 4, editWarmupSteps: 1, seed: 7 },
    });
    expect(requestFields.buildRequestFields(base)).toEqual({ methods: ['csg'] });
  });

  it('parses do(concept = value) lines', () => {
    expect(requestFields.parseDoLines('do(weather = sunny)\n\n  do( road surface=snowy road )  ')).toEqual([
      { concept: 'weather', value: 'sunny' },
      { concept: 'road surface', value: 'snowy road' },
    ]);
  });

  it('names the field, the value and what was expected when the form is wrong', () => {
    const fails = (form: object, field: string, text: RegExp) => {
      let caught: unknown;
      try {
        requestFields.buildRequestFields({ ...base, ...form });
      } catch (err) {
        caught = err;
      }
      expect(caught).toBeInstanceOf(requestFields.FieldError);
      expect((caught as { field: string }).field).toBe(field);
      expect((caught as Error).message).toMatch(text);
    };
    fails({ doText: 'weather = sunny' }, 'do', /line 1 is 'weather = sunny'; expected do\(concept = value\)/);
    fails({ graphText: '{nope' }, 'graph', /not JSON/);
    fails({ graphText: '{}', interventionsText: '{"interventions": []}' }, 'interventions', /at least one/);
    fails({ interventionsText: JSON.stringify({ interventions }) }, 'interventions', /upload the graph/);
    fails(
      { graphText: '{}', interventionsText: JSON.stringify(interventions), doText: 'do(a = b)' },
      'do',
      /not both/,
    );
    fails({ methods: [] }, 'methods', /at least one/);
    fails({ steps: '2.5' }, 'steps', /'2.5' is not an integer from 1 to 1000/);
    fails({ seed: '-1' }, 'seed', /'-1' is not an integer from 0/);
  });
});

describe('navigation', () => {
  it('sends the key page back to viewer pages of this origin only', () => {
    expect(navigation.safeNext('/viewer/runs/cf-1234abcd')).toBe('/viewer/runs/cf-1234abcd');
    expect(navigation.safeNext('/viewer/start?x=1')).toBe('/viewer/start?x=1');
    for (const evil of [
      'https://evil.example/',
      '//evil.example/viewer/',
      '/viewer//evil.example',
      '/v1/batches',
      'javascript:alert(1)',
      '/viewer/key?next=/viewer/start',
      null,
    ])
      expect(navigation.safeNext(evil)).toBe('/viewer/start');
  });

  it('reads run and batch ids from the path', () => {
    expect(navigation.idFromPath('/viewer/runs/cf-abc12345', 'runs')).toBe('cf-abc12345');
    expect(navigation.idFromPath('/viewer/batches/b-1/', 'batches')).toBe('b-1');
    expect(navigation.idFromPath('/viewer/runs/', 'runs')).toBeNull();
    expect(navigation.idFromPath('/viewer/runs/a/b', 'runs')).toBeNull();
  });
});

describe('report-view and format', () => {
  const est = (mean: number | null, lo: number | null, hi: number | null) => ({ mean, lo, hi });
  const report = {
    datasets: ['celeba', 'coco'],
    table1: [
      {
        method: 'csg+protect',
        cells: {
          celeba: {
            images: 3,
            evaluated: 3,
            failed: 1,
            vlmEff: est(0.5, 0.25, 0.75),
            lpips: est(0.1234, 0.1, 0.15),
          },
        },
        average: { vlmEff: est(0.5, null, null), lpips: est(null, null, null) },
      },
    ],
    nodeTypes: [
      {
        method: 'ddim',
        dataset: 'all',
        rates: {
          intervened: { yes: 2, total: 3, rate: 2 / 3 },
          descendant: { yes: 0, total: 0, rate: null },
          non_descendant_must_stay: { yes: 1, total: 1, rate: 1 },
        },
      },
    ],
  };

  it('Table 1 cells carry the mean and the 95% interval, dashes where there is no data', () => {
    const { head, rows } = reportView.table1Cells(report);
    expect(head).toEqual([
      'method',
      'celeba VLM-Eff ↑',
      'celeba LPIPS ↓',
      'celeba evaluated (failed)',
      'coco VLM-Eff ↑',
      'coco LPIPS ↓',
      'coco evaluated (failed)',
      'average VLM-Eff ↑',
      'average LPIPS ↓',
    ]);
    expect(rows).toEqual([
      ['CSG +protect', '0.500 [0.250, 0.750]', '0.123 [0.100, 0.150]', '3 (1)', '—', '—', '—', '0.500', '—'],
    ]);
  });

  it('a street-world report gets a ground-truth table; others none', () => {
    expect(reportView.groundTruthCells(report)).toBeNull();
    const e = (mean: number | null, lo: number | null = null, hi: number | null = null) => ({
      n: 3,
      mean,
      lo,
      hi,
    });
    const metrics = {
      intervened: e(0.5, 0.25, 0.75),
      descendants: e(null),
      preservation: e(1, 1, 1),
      psnrToTrue: e(21.234, 20, 22.5),
      ssimToTrue: e(0.8, 0.7, 0.9),
      maskIntervened: e(0.4, 0.3, 0.5),
      maskIntervenedChance: e(0.15, 0.15, 0.15),
      maskDescendants: e(null),
      maskDescendantsChance: e(null),
    };
    const cells = reportView.groundTruthCells({
      ...report,
      groundTruth: { rows: [{ method: 'csg', counterfactuals: 3, images: 1, metrics }], diffs: [] },
    });
    expect(cells?.head[0]).toBe('method');
    expect(cells?.rows).toEqual([
      [
        'CSG',
        '3',
        '0.500 [0.250, 0.750]',
        '—',
        '1.000 [1.000, 1.000]',
        '21.2 [20.0, 22.5]',
        '0.800 [0.700, 0.900]',
        '0.400 [0.300, 0.500] (0.150)',
        '—',
      ],
    ]);
  });

  it('node-type rows give yes/total and the rate', () => {
    const { head, rows } = reportView.nodeTypeCells(report);
    expect(head).toEqual(['method', 'data set', 'intervened', 'descendant', 'non descendant must stay']);
    expect(rows).toEqual([['DDIM inversion', 'all', '2/3 (0.667)', '—', '1/1 (1.000)']]);
    expect(format.fraction({ done: 3, total: 9 })).toBeCloseTo(1 / 3);
    expect(format.fraction({ done: 0, total: 0 })).toBe(0);
    expect(format.fmtNumber(Number.NaN)).toBe('—');
  });

  it('an NFE shared by a batched edit call shows two decimals, a whole one as is', () => {
    expect(format.fmtNfe(80 / 3)).toBe('26.67');
    expect(format.fmtNfe(40)).toBe('40');
    expect(format.fmtNfe(27.5)).toBe('27.5');
    expect(format.fmtNfe(undefined)).toBe('—');
  });
});

describe('run-results', () => {
  it("names the CSG image's base term: Eq. 12's interventional prompt, or LEDITS++'s ε_u", () => {
    const plan = { method: 'csg', interventionId: 'i1', concepts: [] };
    expect(runResults.csgBaseText({ ...plan, interventionalPrompt: 'a rainy street at night' })).toBe(
      'base: ε on “a rainy street at night” (Eq. 12 as written), masked terms added',
    );
    expect(runResults.csgBaseText(plan)).toBe('base: ε_u (LEDITS++’s form), masked terms added');
    expect(runResults.csgBaseText(undefined)).toBe('');
  });
});
