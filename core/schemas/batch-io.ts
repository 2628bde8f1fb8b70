// What crosses Temporal for a batch (docs/architecture.md §3, issue "batches"): the batch workflow's input, its
// progress query, the per-image outcomes it collects and its result. Only small JSON and ArtifactRefs:
// the data set manifest, the outcomes, the evaluation records and the report live in S3. Parsed at the
// edges (CLI, API); the workflow imports the types only.
import { z } from 'zod';
import { DEFAULT_BATCH_PAGE_SIZE, DEFAULT_BATCH_WINDOW } from '../constants.js';
import { ArtifactRefSchema } from './artifact.js';
import { EditMethodSchema } from './edit-plan.js';
import { CounterfactualInputSchema, RunPlanningSchema, WebhookTargetSchema } from './workflow-io.js';

/** Per-image run settings shared by every child run of the batch (CounterfactualInput minus the image). */
export const BatchRunSettingsSchema = CounterfactualInputSchema.pick({
  methods: true,
  planning: true,
  engine: true,
  evaluate: true,
  hosts: true,
  proposeCount: true,
  editBatch: true,
});
export type BatchRunSettings = z.output<typeof BatchRunSettingsSchema>;

/**
 * One planning variant: the batch runs every sampled image once per variant, so ablations beyond the
 * paper (core/eval/results.ts ABLATION_TAGS) sit side by side in one report. Inversions are found by
 * their inputs' hash, so variants of one image share the inversion.
 */
export const BatchVariantSchema = z.object({
  /** Names the variant in child workflow ids; default 'paper' for the paper's choices. */
  name: z
    .string()
    .regex(/^[a-z0-9][a-z0-9-]{0,31}$/, 'expected 1-32 lowercase letters, digits or dashes')
    .default('paper'),
  /**
   * Overrides of the batch's planning for this variant; a scale, threshold or warm-up set here tags
   * its report rows (`+scale<N>`, `+threshold<N>`, `+warmup<N>`, decimals with '-' for '.').
   */
  planning: RunPlanningSchema.default({}),
  /** The methods this variant runs instead of the batch's (e.g. only CSG for an ablation). */
  methods: z.array(EditMethodSchema).min(1).optional(),
  /**
   * Inversion and sampling steps for this variant instead of the batch's (a step sweep); its report
   * rows carry the tag `+steps<N>`.
   */
  steps: z.number().int().min(2).max(1000).optional(),
  /**
   * CSG's inversion guidance w_src on the source prompt instead of the batch's (1: unconditional);
   * rows tagged `+srcguidance<N>`.
   */
  sourceGuidance: z.number().min(1).max(50).optional(),
  /**
   * The token span of CSG's attention masks instead of the engine mode's (quirk Q5: 'padded75' is what
   * the pinned diffusers does, 'words' the evident intent); rows tagged `+span-<mode>`.
   */
  spanMode: z.enum(['words', 'padded75']).optional(),
});
export type BatchVariant = z.output<typeof BatchVariantSchema>;

export const BatchInputSchema = z
  .object({
    /** Names the batch in child ids and S3 keys; default the workflow id. */
    batchId: z.string().min(1).optional(),
    /** The data set manifest: JSONL of core/eval/batch-manifest.ts lines, every image already in S3. */
    manifest: ArtifactRefSchema,
    /** Seeded sample without replacement from the manifest (core/eval/sampling.ts, mulberry32). */
    sample: z
      .object({
        /** Images per data set; absent: every image of the manifest. */
        perDataset: z.number().int().positive().optional(),
        seed: z.union([z.number().int(), z.string().min(1)]).default('fm-cgm-batch'),
      })
      .prefault({}),
    /** Child runs in flight at once (a sliding window). */
    window: z.number().int().min(1).max(64).default(DEFAULT_BATCH_WINDOW),
    /** Child runs per workflow run before continue-as-new (keeps the history small). */
    pageSize: z.number().int().min(1).max(500).default(DEFAULT_BATCH_PAGE_SIZE),
    run: BatchRunSettingsSchema.prefault({}),
    variants: z
      .array(BatchVariantSchema)
      .min(1)
      .default([{ name: 'paper', planning: {} }]),
    /** Told once the batch has finished, with the report's references. */
    webhook: WebhookTargetSchema.optional(),
  })
  .superRefine((b, ctx) => {
    const names = b.variants.map((v) => v.name);
    const dup = names.find((n, i) => names.indexOf(n) !== i);
    if (dup)
      ctx.addIssue({ code: 'custom', path: ['variants'], message: `variant name '${dup}' is used twice` });
  });
export type BatchInput = z.output<typeof BatchInputSchema>;
export type BatchInputRaw = z.input<typeof BatchInputSchema>;

/** What became of one child run: collected exactly once per (image, variant). */
export const BatchOutcomeSchema = z.object({
  dataset: z.string().min(1),
  imageId: z.string().min(1),
  drawIndex: z.number().int().nonnegative(),
  variant: z.string().min(1),
  /** The child workflow id (also the run id of its manifest). */
  runId: z.string().min(1),
  status: z.enum(['succeeded', 'failed', 'cancelled']),
  /** The child's run manifest; also present for a failed child that got as far as writing it. */
  manifest: ArtifactRefSchema.nullable(),
  error: z.object({ message: z.string(), type: z.string().nullable() }).nullable(),
});
export type BatchOutcome = z.infer<typeof BatchOutcomeSchema>;

export const BatchResultSchema = z.object({
  batchId: z.string(),
  total: z.number().int().nonnegative(),
  succeeded: z.number().int().nonnegative(),
  /** Failed or cancelled child runs (the outcomes tell them apart). */
  failed: z.number().int().nonnegative(),
  /** JSONL of BatchOutcome, one per child run, in draw order. */
  outcomes: ArtifactRefSchema,
  /** JSONL of core/eval/results.ts EvalRecord (the report's only input). */
  results: ArtifactRefSchema,
  /** core/eval/report.ts renderJson / renderMarkdown of those records. */
  reportJson: ArtifactRefSchema,
  reportMarkdown: ArtifactRefSchema,
});
export type BatchResult = z.infer<typeof BatchResultSchema>;

/** The `progress` query's answer of the batch workflow. */
export const BatchProgressSchema = z.object({
  batchId: z.string(),
  phase: z.enum(['sampling', 'running', 'reporting', 'notify', 'done', 'failed', 'cancelled']),
  /** Child runs planned in the whole batch (images × variants), known after sampling. */
  total: z.number().int().nonnegative(),
  succeeded: z.number().int().nonnegative(),
  failed: z.number().int().nonnegative(),
  /** Child workflow ids in flight now. */
  running: z.array(z.string()),
  /** 0-based page of this workflow run (continue-as-new count). */
  page: z.number().int().nonnegative(),
  message: z.string().optional(),
  /** The report's references once written, also after a cancellation (the batch then ends cancelled). */
  result: BatchResultSchema.nullable().optional(),
});
export type BatchProgress = z.infer<typeof BatchProgressSchema>;

// Shared with workflow code through core/constants.ts.
export { BATCH_PROGRESS_QUERY } from '../constants.js';
