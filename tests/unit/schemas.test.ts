import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { BatchRunSettingsSchema } from '../../core/schemas/batch-io.js';
import {
  ConceptGraphSchema,
  EditPlanSchema,
  InterventionSetSchema,
  JudgeVerdictSchema,
  type RunManifest,
  RunManifestSchema,
  responseFormatFor,
} from '../../core/schemas/index.js';
import { CounterfactualInputSchema, EditedOutputSchema } from '../../core/schemas/workflow-io.js';

const qwenGraph = readFileSync(
  new URL('../fixtures/graphs/qwen3vl-extractor-answer.json', import.meta.url),
  'utf8',
);

// A Fig. 3 answer in the shape Qwen3-VL returns it (extra whitespace, ids as the prompt shows them).
const qwenInterventions = `{
  "interventions": [{"id": "intervention_1", "target_concept_id": "c1", "target_concept_name": "Person age", "intervention_description": "Make the woman elderly", "original_value": "young adult",
  "new_value": "elderly",
      "propagated_changes": [{"concept_id": "c3", "concept_name": "Skin texture", "original_value": "smooth skin", "new_value": "wrinkled skin", "reason": "Skin wrinkles with age."},
        {"concept_id": "c8", "concept_name": "Hair greyness", "original_value": "no grey", "new_value": "grey hair", "reason": "Hair greys with age."}],
      "final_concept_states": { "c1": "elderly woman", "c3": "wrinkled skin", "c8": "grey hair" },
      "generation_prompt": "A close-up portrait of a smiling elderly woman with wrinkled skin and long grey hair."
    }
  ]
}`;

describe('paper schemas on VLM answers', () => {
  it('parse a realistic Qwen3-VL extractor, manipulator and judge answer', () => {
    const graph = ConceptGraphSchema.parse(JSON.parse(qwenGraph));
    expect(graph.concepts).toHaveLength(8);
    const set = InterventionSetSchema.parse(JSON.parse(qwenInterventions));
    expect(set.interventions[0].propagated_changes.map((c) => c.new_value)).toEqual([
      'wrinkled skin',
      'grey hair',
    ]);
    const verdict = JudgeVerdictSchema.parse({
      intervention_id: 'intervention_1',
      concept_checks: [{ concept_name: 'Skin texture', expected_value: 'wrinkled skin', present: 'yes' }],
      verdict: 'success',
      reasoning: 'The woman looks elderly with wrinkled skin.',
    });
    expect(verdict.verdict).toBe('success');
  });

  it('errors name the field path and what was expected', () => {
    const bad = JSON.parse(qwenGraph);
    bad.concepts[2].current_value = '   ';
    delete bad.relationships[4].effect_id;
    const result = ConceptGraphSchema.safeParse(bad);
    expect(result.success).toBe(false);
    const issues = result.error!.issues.map((i) => [i.path.join('.'), i.message]);
    expect(issues).toEqual([
      ['concepts.2.current_value', 'current_value must be a non-empty string'],
      ['relationships.4.effect_id', expect.stringMatching(/expected string/)],
    ]);
  });

  it('rejects a judge verdict outside the paper enum, at its path', () => {
    const result = JudgeVerdictSchema.safeParse({
      intervention_id: 'i',
      concept_checks: [{ concept_name: 'a', expected_value: 'b', present: 'maybe' }],
      verdict: 'success',
      reasoning: '',
    });
    expect(result.error?.issues[0].path).toEqual(['concept_checks', 0, 'present']);
  });
});

describe('edit plan and run manifest', () => {
  const ref = {
    bucket: 'cgm',
    key: 'inputs/abc.png',
    sha256: 'a'.repeat(64),
    bytes: 1234,
    contentType: 'image/png',
  };
  const csgPlan = {
    method: 'csg',
    interventionId: 'intervention_1',
    sourcePrompt: 'A portrait of a young woman.',
    choices: {
      promptStyle: 'new_value',
      includeNonDescendantChanges: false,
      reverseOldValues: false,
      protectNonDescendants: false,
      csgBase: 'unconditional',
    },
    violations: [],
    concepts: [
      {
        prompt: 'elderly',
        role: 'intervened',
        conceptId: 'c1',
        scale: 8,
        threshold: 0.7,
        warmup: 10,
        reverse: false,
      },
    ],
    protectedConcepts: [],
  };

  it('an edit plan needs at least the intervened concept, and baselines need a target prompt', () => {
    expect(EditPlanSchema.safeParse(csgPlan).success).toBe(true);
    expect(EditPlanSchema.safeParse({ ...csgPlan, concepts: [] }).error?.issues[0].path).toEqual([
      'concepts',
    ]);
    const { concepts: _c, protectedConcepts: _p, ...common } = csgPlan;
    expect(EditPlanSchema.safeParse({ ...common, method: 'ddim' }).error?.issues[0].path).toEqual([
      'targetPrompt',
    ]);
  });

  it('a run manifest round-trips through JSON and rejects a bad stage status at its path', () => {
    const graph = ConceptGraphSchema.parse(JSON.parse(qwenGraph));
    const manifest: RunManifest = {
      schemaVersion: 1,
      runId: 'run-1',
      createdAt: '2026-11-28T15:00:00Z',
      updatedAt: '2026-11-28T15:05:00Z',
      input: { image: ref, caption: null },
      basePrompt: { text: 'A portrait of a young woman.', source: 'vlm' },
      graph: { source: 'vlm', original: graph, issues: [], repairs: [], graph },
      interventions: [],
      plans: [EditPlanSchema.parse(csgPlan)],
      inversions: [{ method: 'csg', ref: { ...ref, key: 'inversions/x.bin' }, nfe: 85, seconds: 12.5 }],
      outputs: [
        {
          interventionId: 'intervention_1',
          method: 'csg',
          image: { ...ref, key: 'outputs/1.png' },
          masks: [],
          nfe: 170,
          seconds: 20,
          lpips: 0.19,
        },
      ],
      vlmAttempts: [
        {
          prompt: 'extract',
          model: 'Qwen3-VL-8B-Instruct',
          attempt: 1,
          usage: { promptTokens: 900, completionTokens: 700, totalTokens: 1600 },
          error: null,
        },
      ],
      stages: { describe: { status: 'succeeded' }, extract: { status: 'succeeded' } },
      settings: { inversionSteps: 100, skip: 0.15 },
      versions: { app: '0.1.0' },
    };
    expect(RunManifestSchema.parse(JSON.parse(JSON.stringify(manifest)))).toEqual(manifest);
    const bad = { ...manifest, stages: { edit: { status: 'done' } } };
    expect(RunManifestSchema.safeParse(bad).error?.issues[0].path).toEqual(['stages', 'edit', 'status']);
  });

  it('an output of a batched edit call keeps its NFE share and the exact totals of the call', () => {
    const image = { ...ref, key: 'outputs/2.png' };
    const nfeCall = { unetCalls: 100, sampleEvaluations: 850, sharedWith: 3 };
    const shared = { interventionId: 'intervention_2', method: 'csg', image, masks: [], seconds: 7 };
    const parsed = RunManifestSchema.shape.outputs.element.parse({ ...shared, nfe: 850 / 3, nfeCall });
    expect(parsed.nfe).toBeCloseTo(283.333, 3);
    expect(parsed.nfeCall).toEqual(nfeCall);
    // Manifests written before batched edits (whole nfe, no nfeCall) stay valid.
    expect(RunManifestSchema.shape.outputs.element.safeParse({ ...shared, nfe: 170 }).success).toBe(true);
    const bad = RunManifestSchema.shape.outputs.element.safeParse({
      ...shared,
      nfe: 10,
      nfeCall: { ...nfeCall, sharedWith: 0 },
    });
    expect(bad.error?.issues[0].path).toEqual(['nfeCall', 'sharedWith']);
    // The GPU activity's output must say which call it shared.
    const edited = { ...shared, maskConcepts: [], nfe: 850 / 3 };
    expect(EditedOutputSchema.safeParse(edited).error?.issues[0].path).toEqual(['nfeCall']);
    expect(EditedOutputSchema.safeParse({ ...edited, nfeCall }).success).toBe(true);
  });

  it('editBatch.maxPlans is 4 unless given, a whole number in [1, 16], and batches may set it', () => {
    const base = { image: ref };
    expect(CounterfactualInputSchema.parse(base).editBatch).toBeUndefined();
    expect(CounterfactualInputSchema.parse({ ...base, editBatch: {} }).editBatch).toEqual({ maxPlans: 4 });
    expect(CounterfactualInputSchema.parse({ ...base, editBatch: { maxPlans: 1 } }).editBatch).toEqual({
      maxPlans: 1,
    });
    for (const [maxPlans, message] of [
      [0, 'expected at least 1 plan per GPU call, got 0'],
      [17, 'expected at most 16 plans per GPU call (the UNet batch grows with it), got 17'],
      [2.5, 'expected a whole number of plans, got 2.5'],
      ['4', 'expected a number, got "4"'],
    ] as const) {
      const issue = CounterfactualInputSchema.safeParse({ ...base, editBatch: { maxPlans } }).error
        ?.issues[0];
      expect([issue?.path, issue?.message]).toEqual([['editBatch', 'maxPlans'], message]);
    }
    expect(BatchRunSettingsSchema.parse({ editBatch: { maxPlans: 8 } }).editBatch).toEqual({ maxPlans: 8 });
  });

  it('the VLM answer schemas still yield strict structured-output formats', () => {
    const format = responseFormatFor('interventions', InterventionSetSchema);
    expect(format.json_schema.strict).toBe(true);
    expect(format.json_schema.schema).toMatchObject({ type: 'object', additionalProperties: false });
  });
});
