import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { checkIntervention, planEdits } from '../../core/graph/index.js';
import { EditPlanSchema } from '../../core/schemas/edit-plan.js';
import { ConceptGraphSchema, type Intervention } from '../../core/schemas/paper.js';

// c6 season → c1 weather → {c2 road, c4 umbrellas, c3 clothing}; c6 → c3, c7 foliage; c5 car isolated
const graph = ConceptGraphSchema.parse(
  JSON.parse(readFileSync(new URL('../fixtures/graphs/valid.json', import.meta.url), 'utf8')),
);

const rainy: Intervention = {
  id: 'intervention_1',
  target_concept_id: 'c1',
  target_concept_name: 'weather',
  intervention_description: 'Make it rain',
  original_value: 'sunny',
  new_value: 'rainy weather',
  propagated_changes: [
    {
      concept_id: 'c2',
      concept_name: 'road surface',
      original_value: 'dry road',
      new_value: 'wet road',
      reason: 'rain',
    },
    {
      concept_id: 'c4',
      concept_name: 'umbrellas',
      original_value: 'no umbrellas',
      new_value: 'open umbrellas',
      reason: 'rain',
    },
  ],
  final_concept_states: { c1: 'rainy weather', c2: 'wet road', c4: 'open umbrellas' },
  generation_prompt: 'A rainy street with wet road, people holding open umbrellas and a parked red car.',
};

const withChanges = (extra: Partial<Intervention>): Intervention => ({ ...rainy, ...extra });

describe('checkIntervention', () => {
  it('accepts changes of descendants and notes the unchanged ones', () => {
    const check = checkIntervention(graph, rainy);
    expect(check.ok).toBe(true);
    expect(check.violations).toEqual([]);
    expect(check.descendants).toEqual(['c2', 'c3', 'c4']);
    expect(check.unchanged_descendants).toEqual(['c3']);
    expect(check.notes.map((n) => [n.code, n.ids])).toEqual([['unchanged_descendant', ['c3']]]);
  });

  it('flags changes outside the descendants, unknown ids and unknown final-state keys', () => {
    const check = checkIntervention(
      graph,
      withChanges({
        propagated_changes: [
          ...rainy.propagated_changes,
          {
            concept_id: 'c5',
            concept_name: 'car color',
            original_value: 'red car',
            new_value: 'wet car',
            reason: '',
          },
          {
            concept_id: 'c99',
            concept_name: 'sky',
            original_value: 'blue',
            new_value: 'grey sky',
            reason: '',
          },
        ],
        final_concept_states: { ...rainy.final_concept_states, c99: 'grey sky' },
      }),
    );
    expect(check.ok).toBe(false);
    expect(check.violations.map((v) => [v.code, v.ids])).toEqual([
      ['non_descendant_change', ['c5', 'c1']],
      ['unknown_propagated_concept', ['c99']],
      ['unknown_final_state_key', ['c99']],
    ]);
    expect(check.violations[0].message).toContain("'c5'");
    expect(check.non_descendant_changes).toEqual(['c5', 'c99']);
  });

  it('flags an unknown target', () => {
    const check = checkIntervention(graph, withChanges({ target_concept_id: 'c42' }));
    expect(check.violations[0]).toMatchObject({ code: 'unknown_target', ids: ['c42'] });
    expect(check.descendants).toEqual([]);
  });

  it('notes the target or a concept repeated among the changes', () => {
    const check = checkIntervention(
      graph,
      withChanges({
        propagated_changes: [
          {
            concept_id: 'c1',
            concept_name: 'weather',
            original_value: 'sunny',
            new_value: 'rain',
            reason: '',
          },
          ...rainy.propagated_changes,
          rainy.propagated_changes[0],
        ],
      }),
    );
    expect(check.ok).toBe(true);
    expect(check.notes.map((n) => n.code)).toEqual([
      'target_in_propagated_changes',
      'duplicate_propagated_change',
      'unchanged_descendant',
    ]);
  });
});

describe('planEdits', () => {
  it("plans LEDITS++'s form (csgBase 'unconditional'): concept 0 = the new value, then changed descendants", () => {
    const [csg, ddpm, ddim] = planEdits(graph, rainy, {
      sourcePrompt: 'A sunny street.',
      csgBase: 'unconditional',
    });
    expect(csg.method).toBe('csg');
    if (csg.method !== 'csg') throw new Error('unreachable');
    expect(csg.concepts).toEqual([
      {
        prompt: 'rainy weather',
        role: 'intervened',
        conceptId: 'c1',
        scale: 8,
        threshold: 0.7,
        warmup: 10,
        reverse: false,
      },
      {
        prompt: 'wet road',
        role: 'descendant',
        conceptId: 'c2',
        scale: 8,
        threshold: 0.7,
        warmup: 10,
        reverse: false,
      },
      {
        prompt: 'open umbrellas',
        role: 'descendant',
        conceptId: 'c4',
        scale: 8,
        threshold: 0.7,
        warmup: 10,
        reverse: false,
      },
    ]);
    expect(csg.sourcePrompt).toBe('A sunny street.');
    expect(csg.protectedConcepts).toEqual([]);
    expect(csg.choices).toEqual({
      promptStyle: 'new_value',
      includeNonDescendantChanges: false,
      reverseOldValues: false,
      protectNonDescendants: false,
      csgBase: 'unconditional',
    });
    for (const baseline of [ddpm, ddim]) {
      expect(baseline).toMatchObject({
        targetPrompt: rainy.generation_prompt,
        sourcePrompt: 'A sunny street.',
      });
    }
    expect([ddpm.method, ddim.method]).toEqual(['ddpm', 'ddim']);
    for (const plan of [csg, ddpm, ddim]) expect(EditPlanSchema.parse(plan)).toEqual(plan);
  });

  it('falls back to the single intervened concept when no descendant changed', () => {
    const [csg] = planEdits(graph, withChanges({ target_concept_id: 'c5', propagated_changes: [] }), {
      sourcePrompt: 'Y',
      methods: ['csg'],
    });
    expect(csg.method === 'csg' && csg.concepts.map((c) => c.role)).toEqual(['intervened']);
  });

  it("plans Eq. 12 as written with csgBase 'interventional': Y_{C_i} as the base, descendants as terms", () => {
    // The default: no choice given.
    const [csg] = planEdits(graph, rainy, { sourcePrompt: 'A sunny street.', methods: ['csg'] });
    if (csg.method !== 'csg') throw new Error('unreachable');
    expect(csg.interventionalPrompt).toBe(rainy.generation_prompt);
    expect(csg.choices.csgBase).toBe('interventional');
    // The intervened concept rides in the base prompt; only the changed descendants are masked terms.
    expect(csg.concepts.map((c) => [c.role, c.conceptId, c.prompt])).toEqual([
      ['descendant', 'c2', 'wet road'],
      ['descendant', 'c4', 'open umbrellas'],
    ]);
    expect(EditPlanSchema.parse(csg)).toEqual(csg);
    // LEDITS++'s form has no interventional prompt.
    const [plain] = planEdits(graph, rainy, {
      sourcePrompt: 'A sunny street.',
      methods: ['csg'],
      csgBase: 'unconditional',
    });
    expect(plain.method === 'csg' && plain.interventionalPrompt).toBeUndefined();
  });

  it("falls back to the intervened value as the one term of an 'interventional' plan without descendants", () => {
    const lonely = withChanges({ target_concept_id: 'c5', propagated_changes: [] });
    const [csg] = planEdits(graph, lonely, {
      sourcePrompt: 'Y',
      methods: ['csg'],
      csgBase: 'interventional',
    });
    if (csg.method !== 'csg') throw new Error('unreachable');
    expect(csg.concepts.map((c) => [c.role, c.prompt])).toEqual([['intervened', 'rainy weather']]);
    expect(csg.interventionalPrompt).toBe(rainy.generation_prompt);
    // Reverse terms follow the terms actually planned; protection still leaves the target out.
    const [both] = planEdits(graph, rainy, {
      sourcePrompt: 'Y',
      methods: ['csg'],
      csgBase: 'interventional',
      reverseOldValues: true,
      protectNonDescendants: true,
    });
    if (both.method !== 'csg') throw new Error('unreachable');
    expect(both.concepts.map((c) => [c.prompt, c.reverse])).toEqual([
      ['wet road', false],
      ['open umbrellas', false],
      ['dry road', true],
      ['no umbrellas', true],
    ]);
    expect(both.protectedConcepts.map((p) => p.conceptId)).not.toContain('c1');
  });

  it('records non-descendant changes as violations and edits them only when asked', () => {
    const iv = withChanges({
      propagated_changes: [
        ...rainy.propagated_changes,
        {
          concept_id: 'c7',
          concept_name: 'tree foliage',
          original_value: 'green leaves',
          new_value: 'wet leaves',
          reason: '',
        },
        { concept_id: 'c99', concept_name: 'sky', original_value: 'blue', new_value: 'grey sky', reason: '' },
      ],
    });
    // LEDITS++'s form, where the intervened concept is a term too.
    const csgBase = 'unconditional';
    const [off] = planEdits(graph, iv, { sourcePrompt: 'Y', methods: ['csg'], csgBase });
    const [on] = planEdits(graph, iv, {
      sourcePrompt: 'Y',
      methods: ['csg'],
      includeNonDescendantChanges: true,
      csgBase,
    });
    expect(off.violations.map((v) => v.ids[0])).toEqual(['c7', 'c99']);
    expect(off.method === 'csg' && off.concepts.map((c) => c.conceptId)).toEqual(['c1', 'c2', 'c4']);
    expect(on.method === 'csg' && on.concepts.map((c) => [c.conceptId, c.role])).toEqual([
      ['c1', 'intervened'],
      ['c2', 'descendant'],
      ['c4', 'descendant'],
      ['c7', 'non_descendant_extra'],
    ]);
  });

  it('applies the name_value style, reverse terms for old values and non-descendant protection', () => {
    const [csg] = planEdits(graph, rainy, {
      sourcePrompt: 'Y',
      methods: ['csg'],
      promptStyle: 'name_value',
      reverseOldValues: true,
      protectNonDescendants: true,
      scale: 5,
      csgBase: 'unconditional',
    });
    if (csg.method !== 'csg') throw new Error('unreachable');
    expect(csg.concepts.map((c) => [c.prompt, c.reverse, c.scale])).toEqual([
      ['weather: rainy weather', false, 5],
      ['road surface: wet road', false, 5],
      ['umbrellas: open umbrellas', false, 5],
      ['weather: sunny', true, 5],
      ['road surface: dry road', true, 5],
      ['umbrellas: no umbrellas', true, 5],
    ]);
    expect(csg.protectedConcepts).toEqual([
      { conceptId: 'c5', prompt: 'car color: red car' },
      { conceptId: 'c6', prompt: 'season: summer' },
      { conceptId: 'c7', prompt: 'tree foliage: green leaves' },
    ]);
  });
});
