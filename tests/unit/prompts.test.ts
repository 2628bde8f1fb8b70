import { describe, expect, it } from 'vitest';
import {
  checklistFor,
  extractorPrompt,
  judgePrompt,
  manipulatorParamsFromGraph,
  manipulatorPrompt,
  renderChecklist,
  sceneDescriptionPrompt,
  userInterventionPrompt,
} from '../../core/prompts/index.js';
import type { ConceptGraph, Intervention } from '../../core/schemas/paper.js';

const noPlaceholder = (text: string) => expect(text).not.toMatch(/\{[a-z_]+\}/);

const graph: ConceptGraph = {
  concepts: [
    { id: 'c1', name: 'weather', current_value: 'sunny', description: 'Clear sky.' },
    { id: 'c2', name: 'road surface', current_value: 'dry road', description: 'Dry asphalt.' },
  ],
  relationships: [{ id: 'r1', cause_id: 'c1', effect_id: 'c2', description: 'Rain wets roads.' }],
  scene_summary: 'A sunny street.',
};

describe('extractorPrompt (Fig. 2)', () => {
  const text = extractorPrompt({ prompt: 'a red car on a sunny street' });

  it('keeps the paper wording', () => {
    for (const phrase of [
      'You are an expert in causal reasoning, computer vision, and semantic scene analysis.',
      'You always respond with valid, well-formed JSON and nothing else — no prose, no markdown, no explanation outside the JSON object.',
      'PART 1 — CONCEPT EXTRACTION',
      'identify 5 high-level semantic concepts',
      'Generate 2-3 additional concepts that would directly change as a result.',
      'Concepts should NOT be related to lighting or posture.',
      '• current_value — specific observable state (1–3 words)',
      'Reason about which concepts causally influence others (A → B).',
      'Produce a directed acyclic graph (DAG).',
      '• effect_id — id of the effected concept',
      'Also provide a one-sentence scene_summary. Keep your answer short. Do NOT explain.',
      '"scene_summary": "..."',
    ]) {
      expect(text).toContain(phrase);
    }
    expect(text).not.toContain('\\rightarrow');
  });

  it('puts the context inside <context>', () => {
    expect(text).toContain('<context> a red car on a sunny street </context>');
    noPlaceholder(text);
  });
});

describe('manipulatorPrompt (Fig. 3)', () => {
  const params = manipulatorParamsFromGraph(graph, 'a photo of a sunny street');

  it('keeps the paper wording and substitutes every parameter', () => {
    const text = manipulatorPrompt(params);
    for (const phrase of [
      'You are an expert at understanding visual scenes and reasoning about how changing one thing in a scene affects other things.',
      '1. PROPOSE 3 DIVERSE MANIPULATIONS',
      '• Pick one concept that affects many others, one that affects only a few, and one that affects none.',
      'write its new value in 1–3 descriptive, unambiguous words that combine the concept variable and value (e.g. "wet road"). DO NOT INCLUDE CONCEPTS THAT STAY THE SAME.',
      '3. LIST FINAL STATE OF ALL CONCEPTS THAT CHANGED',
      '<reference_prompt> a photo of a sunny street </reference_prompt>',
      '<scene_summary> A sunny street. </scene_summary>',
      '"final_concept_states": { "c1": "value", "c2": "value" }',
    ]) {
      expect(text).toContain(phrase);
    }
    expect(text).toContain(JSON.stringify(graph.concepts, null, 2));
    expect(text).toContain(JSON.stringify(graph.relationships, null, 2));
    noPlaceholder(text);
  });

  it('takes the number of interventions as a parameter', () => {
    expect(manipulatorPrompt({ ...params, interventions: 5 })).toContain(
      '1. PROPOSE 5 DIVERSE MANIPULATIONS',
    );
  });

  it('our user-intervention variant asks only to propagate the given do()', () => {
    const text = userInterventionPrompt({
      ...params,
      target_concept_id: 'c1',
      target_concept_name: 'weather',
      original_value: 'sunny',
      new_value: 'rainy',
    });
    expect(text).toContain('do(weather = rainy)');
    expect(text).not.toContain('PROPOSE');
    expect(text).toContain('For this manipulation, think through every concept');
    expect(text).toContain('"target_concept_id": "c1", "target_concept_name": "weather"');
    expect(text).toContain('"new_value": "rainy"');
    expect(text).toContain('DO NOT INCLUDE CONCEPTS THAT STAY THE SAME.');
    noPlaceholder(text);
  });
});

describe('judgePrompt (Fig. 6)', () => {
  const intervention: Intervention = {
    id: 'intervention_1',
    target_concept_id: 'c1',
    target_concept_name: 'weather',
    intervention_description: '',
    original_value: 'sunny',
    new_value: 'rainy',
    propagated_changes: [
      {
        concept_id: 'c2',
        concept_name: 'road',
        original_value: 'dry road',
        new_value: 'wet road',
        reason: '',
      },
    ],
    final_concept_states: { c1: 'rainy weather', c2: 'wet road', c9: 'grey sky' },
    generation_prompt: 'a rainy street with a wet road',
  };

  it('renders the checklist one bullet per item', () => {
    expect(
      renderChecklist([
        { concept_name: 'weather', expected_value: 'rainy weather' },
        { concept_name: 'road surface', expected_value: 'wet road' },
      ]),
    ).toBe('• weather: rainy weather\n• road surface: wet road');
  });

  it('builds the checklist from final_concept_states with names from the graph, else the answer', () => {
    expect(checklistFor(intervention, graph)).toEqual([
      { concept_name: 'weather', expected_value: 'rainy weather' },
      { concept_name: 'road surface', expected_value: 'wet road' },
      { concept_name: 'c9', expected_value: 'grey sky' },
    ]);
    expect(checklistFor(intervention)[1].concept_name).toBe('road');
  });

  it('keeps the paper wording and substitutes every parameter', () => {
    const text = judgePrompt({
      generation_prompt: intervention.generation_prompt,
      target_concept_name: 'weather',
      original_value: 'sunny',
      new_value: 'rainy',
      checklist: checklistFor(intervention, graph),
    });
    for (const phrase of [
      'You look at images and answer simple questions about what is shown in them.',
      '<prompt> a rainy street with a wet road </prompt>',
      'The one thing that was changed to produce this image was:\n weather: sunny → rainy',
      '• weather: rainy weather\n• road surface: wet road',
      '• "partial" — most checklist items are "yes" but some are wrong',
      '• "failure" — the main changed concept is not visible, OR most checklist items are "no"',
      'Write one or two sentences explaining your verdict.',
      '"verdict": "success|partial|failure",',
    ]) {
      expect(text).toContain(phrase);
    }
    noPlaceholder(text);
  });
});

describe('sceneDescriptionPrompt (ours, paper §5.1 step 1)', () => {
  it('asks for a single caption usable as an SDXL prompt', () => {
    const text = sceneDescriptionPrompt();
    expect(text).toMatch(/one paragraph/);
    expect(text).toMatch(/Stable Diffusion XL/);
    noPlaceholder(text);
  });
});
