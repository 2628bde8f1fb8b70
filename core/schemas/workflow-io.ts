// What crosses Temporal for the per-image workflow (docs/architecture.md §3): the workflow's input and its
// progress query, and the GPU activities' inputs and outputs. Only small JSON and ArtifactRefs: images,
// inversion states and masks live in S3 (claim-check). Parsed at the edges (CLI, API, activities); the
// workflow imports the types only, so zod stays out of the workflow bundle.
import { z } from 'zod';
import {
  ALL_EDIT_METHODS,
  DEFAULT_EDIT_BATCH_PLANS,
  DEFAULT_HOST_POLICY,
  MAX_EDIT_BATCH_PLANS,
} from '../constants.js';
import { ArtifactRefSchema } from './artifact.js';
import { EditChoicesSchema, EditMethodSchema, EditPlanSchema } from './edit-plan.js';
import { ConceptGraphSchema, InterventionSchema } from './paper.js';
import { NfeCallSchema, RunStageSchema, StageStatusSchema } from './run-manifest.js';

// Shared with workflow code through core/constants.ts; re-exported for the code that imports them from here.
export {
  ALL_EDIT_METHODS,
  DEFAULT_EDIT_BATCH_PLANS,
  GPU_FAILURE,
  MAX_EDIT_BATCH_PLANS,
  PROGRESS_QUERY,
} from '../constants.js';

/** Where a run is pinned and how long a host may stay silent before the run moves to another one. */
export const HostPolicySchema = z.object({
  /** Entry queue of the GPU workers (config CGM_TASK_QUEUE_GPU). */
  gpuTaskQueue: z.string().min(1).default(DEFAULT_HOST_POLICY.gpuTaskQueue),
  /** A host-queue task nobody picks up within this is a lost host (schedule-to-start timeout). */
  hostScheduleToStartSeconds: z
    .number()
    .int()
    .positive()
    .default(DEFAULT_HOST_POLICY.hostScheduleToStartSeconds),
  /** GPU activities heartbeat every step; silence this long means the host is gone. */
  heartbeatSeconds: z.number().int().positive().default(DEFAULT_HOST_POLICY.heartbeatSeconds),
  /** Hosts tried before the run gives up (the first pin included). */
  maxHosts: z.number().int().positive().max(10).default(DEFAULT_HOST_POLICY.maxHosts),
});
export type HostPolicy = z.output<typeof HostPolicySchema>;

export const WebhookTargetSchema = z.object({
  url: z.url({ protocol: /^https?$/ }),
  /**
   * The id of the API key that asked for the webhook: deliveries are signed with that key's own
   * secret (activities/webhooks/signing.ts tenantSecret). Absent (runs started by the operator's CLI):
   * the operator's secret signs.
   */
  tenant: z
    .string()
    .regex(/^[0-9a-f]{1,64}$/, 'expected a key id (hex)')
    .optional(),
});

/** do(concept = value): the user sets one concept; the VLM propagates it to the descendants. */
export const DoRequestSchema = z.object({
  /** A concept id (c2) or name (hair color, case-insensitive) of the run's graph. */
  concept: z.string().trim().min(1),
  /** The value set by do(), e.g. "black hair". */
  value: z.string().trim().min(1),
});
export type DoRequest = z.infer<typeof DoRequestSchema>;

/**
 * How the workflow groups the edits (issue #4 item 7): plans of one method go to the GPU host together,
 * at most `maxPlans` per call, and share one UNet call per denoising step. The UNet batch, and so GPU
 * memory, grows with maxPlans (CSG: Σ over plans of 1 + active concepts); 1 sends one plan per call.
 */
export const EditBatchSchema = z.object({
  maxPlans: z
    .number({ error: (iss) => `expected a number, got ${JSON.stringify(iss.input)}` })
    .int({ error: (iss) => `expected a whole number of plans, got ${iss.input}` })
    .min(1, { error: (iss) => `expected at least 1 plan per GPU call, got ${iss.input}` })
    .max(MAX_EDIT_BATCH_PLANS, {
      error: (iss) =>
        `expected at most ${MAX_EDIT_BATCH_PLANS} plans per GPU call (the UNet batch grows with it), got ${iss.input}`,
    })
    .default(DEFAULT_EDIT_BATCH_PLANS),
});
export type EditBatch = z.output<typeof EditBatchSchema>;

/** Planning of a run: the paper's open choices, and CSG's edit scale, threshold and warm-up steps. */
export const RunPlanningSchema = EditChoicesSchema.partial().extend({
  scale: z.number().positive().optional(),
  threshold: z.number().min(0).max(1).optional(),
  warmup: z.number().int().nonnegative().optional(),
});
export type RunPlanning = z.infer<typeof RunPlanningSchema>;

export const CounterfactualInputSchema = z.object({
  /** Names the run in the manifest and in derived ids; default the workflow id. */
  runId: z.string().min(1).optional(),
  image: ArtifactRefSchema,
  /** Y. null: the VLM describes the scene first. */
  caption: z.string().trim().min(1).nullable().default(null),
  /** The user's causal graph; the VLM's extract stage is skipped when given. */
  graph: ConceptGraphSchema.optional(),
  /** The user's do()s; the VLM's propose stage is skipped when given (a graph is then required). */
  interventions: z.array(InterventionSchema).min(1).optional(),
  /**
   * Bare do()s, each propagated by the VLM once the graph is known (propose stage); excludes
   * `interventions` (CounterfactualInputCheckedSchema says so).
   */
  do: z.array(DoRequestSchema).min(1).max(10).optional(),
  /** Interventions the VLM proposes when neither interventions nor do()s are given (paper: 3). */
  proposeCount: z.number().int().min(1).max(10).optional(),
  methods: z
    .array(EditMethodSchema)
    .min(1)
    .default([...ALL_EDIT_METHODS]),
  /** Edit-planning choices (docs/algorithm.md §8); unset ones take planEdits' defaults. */
  planning: RunPlanningSchema.default({}),
  /** Engine settings (gpu-worker/engine/settings.ts), validated by the GPU worker. */
  engine: z.record(z.string(), z.json()).default({}),
  evaluate: z
    .object({
      /** The VLM effectiveness judge (paper Fig. 6) for every output. */
      judge: z.boolean().default(true),
    })
    .prefault({}),
  hosts: HostPolicySchema.prefault({}),
  /**
   * Grouping of the edits into GPU calls; absent means DEFAULT_EDIT_BATCH_PLANS (applied by the
   * workflow, so inputs built in code, e.g. by batchWorkflow, need not name it).
   */
  editBatch: EditBatchSchema.optional(),
  webhook: WebhookTargetSchema.optional(),
});
/**
 * CounterfactualInputSchema with its cross-field rule: `do` and `interventions` exclude each other.
 * Kept apart because zod refuses .pick() on a refined object, and batch-io.ts picks the run settings.
 */
export const CounterfactualInputCheckedSchema = CounterfactualInputSchema.superRefine((input, ctx) => {
  if (input.do && input.interventions)
    ctx.addIssue({
      code: 'custom',
      path: ['do'],
      message:
        'give either interventions (complete, Fig. 3 format) or do requests (the VLM propagates them), not both',
    });
});
export type CounterfactualInput = z.output<typeof CounterfactualInputSchema>;
export type CounterfactualInputRaw = z.input<typeof CounterfactualInputSchema>;

export const RunPhaseSchema = z.union([RunStageSchema, z.enum(['starting', 'done', 'failed', 'cancelled'])]);
export type RunPhase = z.infer<typeof RunPhaseSchema>;

/** The `progress` query's answer. Step-level GPU progress is in the pending activity's heartbeat. */
export const RunProgressSchema = z.object({
  runId: z.string(),
  phase: RunPhaseSchema,
  stages: z.partialRecord(RunStageSchema, StageStatusSchema),
  /** Intervention × method outputs: finished and planned. */
  outputs: z.object({ done: z.number().int(), total: z.number().int() }),
  /** Judge verdicts: finished and planned. */
  judged: z.object({ done: z.number().int(), total: z.number().int() }),
  hostQueue: z.string().nullable(),
  hosts: z.array(z.string()),
  /** The manifest, once written (also after a cancellation). */
  manifest: ArtifactRefSchema.nullable(),
  message: z.string().optional(),
});
export type RunProgress = z.infer<typeof RunProgressSchema>;

// ---- GPU activities -------------------------------------------------------------------------------

export const ModelInfoSchema = z.object({ name: z.string(), manifestHash: z.string() });
export type ModelInfo = z.infer<typeof ModelInfoSchema>;

/** Heartbeat details of invert/edit: small, one step. */
export const GpuHeartbeatSchema = z.object({
  phase: z.enum(['load', 'invert', 'edit', 'upload']),
  stage: z.string().optional(),
  step: z.number().int(),
  total: z.number().int(),
  interventionId: z.string().optional(),
  method: EditMethodSchema.optional(),
});
export type GpuHeartbeat = z.infer<typeof GpuHeartbeatSchema>;

export const InvertInputSchema = z.object({
  runId: z.string().min(1),
  image: ArtifactRefSchema,
  sourcePrompt: z.string(),
  methods: z.array(EditMethodSchema).min(1),
  engine: z.record(z.string(), z.json()).default({}),
});
export type InvertInput = z.input<typeof InvertInputSchema>;

export const StageStatsSchema = z.object({
  stage: z.string(),
  nfe: z.object({ unetCalls: z.number().int(), sampleEvaluations: z.number().int() }),
  seconds: z.number(),
  shared: z.number().int(),
});

/** The stored index of one inversion: found by its inputs' hash, points at the state bytes. */
export const InversionIndexSchema = z.object({
  inversionId: z.string(),
  model: ModelInfoSchema,
  state: ArtifactRefSchema,
  preprocessed: ArtifactRefSchema,
  /** The generation size: the input resized, without cropping, for the model. */
  imageHeight: z.number().int(),
  imageWidth: z.number().int(),
  /** The input's own size; absent in indexes written before it was recorded. */
  sourceSize: z.object({ width: z.number().int(), height: z.number().int() }).optional(),
  stages: z.array(StageStatsSchema),
});
export type InversionIndex = z.infer<typeof InversionIndexSchema>;

export const InvertOutputSchema = InversionIndexSchema.extend({
  /** Where the host found it: its engine's memory, S3 (an earlier attempt or run), or computed now. */
  source: z.enum(['memory', 's3', 'computed']),
  host: z.string(),
  seconds: z.number(),
});
export type InvertOutput = z.infer<typeof InvertOutputSchema>;

export const EditInputSchema = z.object({
  runId: z.string().min(1),
  inversion: InversionIndexSchema,
  plans: z.array(EditPlanSchema).min(1),
  engine: z.record(z.string(), z.json()).default({}),
});
export type EditInput = z.input<typeof EditInputSchema>;

export const EditedOutputSchema = z.object({
  interventionId: z.string(),
  method: EditMethodSchema,
  image: ArtifactRefSchema,
  masks: z.array(ArtifactRefSchema),
  maskConcepts: z.array(z.object({ conceptId: z.string(), prompt: z.string(), activeSteps: z.number() })),
  /**
   * This output's share of the UNet sample evaluations of the edit stage that made it (inversion
   * counted separately): nfeCall.sampleEvaluations / nfeCall.sharedWith, so the outputs of one call
   * sum to its total (run-manifest.ts RunOutput.nfe).
   */
  nfe: z.number().nonnegative(),
  /** The exact totals of that stage and how many outputs of the call shared it. */
  nfeCall: NfeCallSchema,
  /** The call's wall time divided by its outputs. */
  seconds: z.number(),
  /** LPIPS-VGG against the preprocessed input, when the host has the LPIPS graph. */
  lpips: z.number().nonnegative().optional(),
});
export type EditedOutput = z.infer<typeof EditedOutputSchema>;

export const EditOutputSchema = z.object({
  outputs: z.array(EditedOutputSchema),
  /** True when this host had to load the inversion from S3 (a new or restarted host). */
  reloadedInversion: z.boolean(),
  host: z.string(),
  seconds: z.number(),
});
export type EditOutput = z.infer<typeof EditOutputSchema>;
