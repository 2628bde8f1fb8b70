// The record of one per-image run (docs/architecture.md §3 writeManifest): inputs, the VLM's answers and our
// repairs of them, the plans, every output and metric, every VLM attempt, stage status, settings and
// versions — enough to explain and reproduce a counterfactual. Stored as JSON in S3.
// Version 1; later issues extend it (new fields optional, or bump schemaVersion).
import { z } from 'zod';
import { RUN_STAGES } from '../constants.js';
import { GraphIssueSchema, GraphRepairSchema, InterventionCheckSchema } from '../graph/issues.js';
import { ArtifactRefSchema } from './artifact.js';
import { EditMethodSchema, EditPlanSchema } from './edit-plan.js';
import { ConceptGraphSchema, InterventionSchema, JudgeVerdictSchema } from './paper.js';

const isoTime = z.iso.datetime();

/** The workflow's stages, in run order (docs/architecture.md §3). */
export const RunStageSchema = z.enum(RUN_STAGES);
export type RunStage = z.infer<typeof RunStageSchema>;

export const StageStatusSchema = z.object({
  /** 'cancelled': the run was cancelled while (or before) this stage ran; added after version 1. */
  status: z.enum(['pending', 'running', 'succeeded', 'failed', 'skipped', 'cancelled']),
  startedAt: isoTime.optional(),
  finishedAt: isoTime.optional(),
  /** One line a user can act on, when failed; why, when skipped (e.g. "caption given"). */
  message: z.string().optional(),
});
export type StageStatus = z.infer<typeof StageStatusSchema>;

/** Who supplied a piece of the input: the data set, the user, or the VLM. */
export const SourceSchema = z.enum(['dataset', 'user', 'vlm']);

export const TokenUsageSchema = z.object({
  promptTokens: z.number().int().nonnegative(),
  completionTokens: z.number().int().nonnegative(),
  totalTokens: z.number().int().nonnegative(),
});

/** One call to the VLM, failed or not; retries are separate attempts. */
export const VlmAttemptSchema = z.object({
  /** core/prompts PromptName: describe, extract, manipulate, propagate, judge. */
  prompt: z.string().min(1),
  model: z.string().min(1),
  /** 1-based, per prompt (and per intervention × method for the judge). */
  attempt: z.number().int().positive(),
  interventionId: z.string().optional(),
  method: EditMethodSchema.optional(),
  startedAt: isoTime.optional(),
  seconds: z.number().nonnegative().optional(),
  usage: TokenUsageSchema.nullable(),
  /** null on success; else what went wrong (transport error, JSON or schema mismatch with its path). */
  error: z.string().nullable(),
});
export type VlmAttempt = z.infer<typeof VlmAttemptSchema>;

export const GraphRecordSchema = z.object({
  source: z.enum(['user', 'vlm']),
  /** As received, before repair. */
  original: ConceptGraphSchema,
  /** What validateGraph found in the original. */
  issues: z.array(GraphIssueSchema),
  /** What repairGraph changed; empty when the original was valid. */
  repairs: z.array(GraphRepairSchema),
  /** The graph every later stage used. */
  graph: ConceptGraphSchema,
});
export type GraphRecord = z.infer<typeof GraphRecordSchema>;

export const InterventionRecordSchema = z.object({
  source: z.enum(['user', 'vlm']),
  intervention: InterventionSchema,
  check: InterventionCheckSchema,
});
export type InterventionRecord = z.infer<typeof InterventionRecordSchema>;

/** The judge's answer for one output, and the primary score derived from it (docs/algorithm.md §8.6). */
export const JudgeRecordSchema = z.object({
  verdict: JudgeVerdictSchema,
  /** Fraction of checklist items answered "yes". */
  checklistScore: z.number().min(0).max(1),
});
export type JudgeRecord = z.infer<typeof JudgeRecordSchema>;

/**
 * The exact UNet work of the engine stage (one GPU `edit` call's edit-csg, sample-ddpm or sample-ddim)
 * that made an output, and how many outputs of that call it made together (batched edits, issue #4
 * item 7: several interventions of one method share one UNet call per step).
 */
export const NfeCallSchema = z.object({
  /** UNet invocations (denoising steps) of the stage. */
  unetCalls: z.number().int().nonnegative(),
  /** Sample evaluations: the batch rows over all those invocations (the paper's NFE). */
  sampleEvaluations: z.number().int().nonnegative(),
  /** Outputs the stage made together; each output's `nfe` is sampleEvaluations / sharedWith. */
  sharedWith: z.number().int().positive(),
});
export type NfeCall = z.infer<typeof NfeCallSchema>;

/** One counterfactual: an intervention rendered by one method. */
export const RunOutputSchema = z.object({
  interventionId: z.string().min(1),
  method: EditMethodSchema,
  image: ArtifactRefSchema,
  /** CSG's per-concept edit masks, in plan concept order; empty for the baselines. */
  masks: z.array(ArtifactRefSchema),
  /**
   * UNet sample evaluations spent on this output, inversion counted once in `inversions`: its share
   * of the edit stage it was made in (nfeCall.sampleEvaluations / nfeCall.sharedWith), so the outputs
   * of one call sum to the call's total. A whole number when the stage made this output alone (and
   * in manifests written before batched edits, which lack nfeCall).
   */
  nfe: z.number().nonnegative(),
  /** The exact totals of the edit stage this output shared; absent in manifests written before it. */
  nfeCall: NfeCallSchema.optional(),
  /** Wall time of its GPU `edit` call divided by the outputs of that call. */
  seconds: z.number().nonnegative(),
  /** LPIPS-VGG against the input at the generation resolution; absent until evaluated. */
  lpips: z.number().nonnegative().optional(),
  judge: JudgeRecordSchema.optional(),
});
export type RunOutput = z.infer<typeof RunOutputSchema>;

export const InversionRecordSchema = z.object({
  method: EditMethodSchema,
  ref: ArtifactRefSchema,
  nfe: z.number().int().nonnegative(),
  seconds: z.number().nonnegative(),
});
export type InversionRecord = z.infer<typeof InversionRecordSchema>;

export const RunManifestSchema = z.object({
  schemaVersion: z.literal(1),
  runId: z.string().min(1),
  workflowId: z.string().optional(),
  createdAt: isoTime,
  updatedAt: isoTime,
  input: z.object({
    image: ArtifactRefSchema,
    caption: z.string().nullable(),
    /** The input as the model saw it (resized PNG), the reference of LPIPS; absent before inversion. */
    preprocessed: ArtifactRefSchema.optional(),
    /** The input's own size, and the size it was generated at (same aspect, no crop); after inversion. */
    size: z.object({ width: z.number().int(), height: z.number().int() }).optional(),
    generationSize: z.object({ width: z.number().int(), height: z.number().int() }).optional(),
  }),
  /** How the run ended; absent in manifests written before this field existed. */
  status: z.enum(['succeeded', 'failed', 'cancelled']).optional(),
  /** GPU host queues the run was pinned to, in order (more than one after a host was lost). */
  hosts: z.array(z.string()).optional(),
  /** Y: the caption when given, else the VLM's scene description. */
  basePrompt: z.object({ text: z.string(), source: SourceSchema }).nullable(),
  graph: GraphRecordSchema.nullable(),
  interventions: z.array(InterventionRecordSchema),
  plans: z.array(EditPlanSchema),
  inversions: z.array(InversionRecordSchema),
  outputs: z.array(RunOutputSchema),
  vlmAttempts: z.array(VlmAttemptSchema),
  stages: z.partialRecord(RunStageSchema, StageStatusSchema),
  /** Every setting the run used (config module values, seeds, resolutions), as plain JSON. */
  settings: z.record(z.string(), z.json()),
  /** Code, model and service versions, e.g. { app: "0.1.0", unet: "<sha256>", vlm: "Qwen3-VL-8B" }. */
  versions: z.record(z.string(), z.string()),
});
export type RunManifest = z.infer<typeof RunManifestSchema>;
