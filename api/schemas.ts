// HTTP request and response bodies (zod, the single source: validation, types and /openapi.json).
// Requests are strict: an unknown field is an error, not silently dropped.
import { z } from '@hono/zod-openapi';
import { BASELINE_PRESET_NAMES, type BaselinePreset } from '../core/config/paper-defaults.js';
import { CaptionRuleSchema, DatasetNameSchema } from '../core/eval/datasets/types.js';
import { Sha256Hex } from '../core/schemas/artifact.js';
import { EditMethodSchema } from '../core/schemas/edit-plan.js';
import {
  ConceptSchema,
  InterventionSchema,
  PropagatedChangeSchema,
  RelationshipSchema,
} from '../core/schemas/paper.js';
import { MAX_EDIT_BATCH_PLANS, RunPlanningSchema } from '../core/schemas/workflow-io.js';
import { ErrorBodySchema } from './errors.js';

// The paper's schemas are lenient (VLM answers); user input gets strict copies.
const StrictConceptGraphSchema = z
  .strictObject({
    concepts: z.array(ConceptSchema.strict()).min(1, 'a concept graph needs at least one concept'),
    relationships: z.array(RelationshipSchema.strict()),
    scene_summary: z.string().default(''),
  })
  .openapi('ConceptGraph', { description: 'A causal graph in the paper’s Fig. 2 format (must be a DAG).' });

const StrictInterventionSchema = InterventionSchema.extend({
  propagated_changes: z.array(PropagatedChangeSchema.strict()),
})
  .strict()
  .openapi('Intervention', { description: 'A full intervention in the paper’s Fig. 3 format.' });

/** A trimmed non-empty string; its pattern states the trimming rule in the document. */
function nonBlank(max?: number) {
  const base = z.string().trim().regex(/\S/, 'expected at least one non-space character');
  return max === undefined ? base : base.max(max);
}

export const DoRequestSchema = z
  .strictObject({
    concept: nonBlank().describe('a concept id (c2) or name (hair color) of the graph'),
    value: nonBlank(200).describe('the value set by do(), e.g. "black hair"'),
  })
  .openapi('DoRequest', { description: 'do(concept = value); the VLM propagates it to the descendants.' });
export type DoRequest = z.infer<typeof DoRequestSchema>;

export const RunSettingsSchema = z
  .strictObject({
    seed: z
      .number()
      .int()
      .min(0)
      .max(2 ** 32 - 1)
      .optional(),
    inversionSteps: z.number().int().min(1).max(1000).optional(),
    /** DDPM/DDIM baselines' steps; default: inversionSteps when given (as `cgm run --steps`), else the paper's. */
    baselineSteps: z.number().int().min(1).max(1000).optional(),
    skip: z.number().min(0).max(0.95).optional(),
    sourceGuidanceScale: z.number().min(1).max(50).optional(),
    editGuidanceScale: z.number().min(0).max(50).optional(),
    editThreshold: z.number().min(0).max(1).optional(),
    editWarmupSteps: z.number().int().min(0).max(1000).optional(),
    csgBase: z
      .enum(['interventional', 'unconditional'])
      .optional()
      .describe(
        "CSG's base estimate: 'interventional' (the paper's Eq. 12 as written, default) or 'unconditional' (LEDITS++'s form); docs/algorithm.md",
      ),
    baselinePreset: z
      .enum(BASELINE_PRESET_NAMES as [BaselinePreset, ...BaselinePreset[]])
      .optional()
      .describe(
        "settings of the DDPM/DDIM baselines: 'paper' (default; the paper's inversion budget, the DDPM Inversion repository's scales) or 'ef-ddpm' (that repository's defaults); baselineSteps overrides its steps",
      ),
    interventionsPerImage: z.number().int().min(1).max(10).optional(),
    /** Edits of one method per GPU call (default 4); the UNet batch, and GPU memory, grow with it. */
    editBatchPlans: z.number().int().min(1).max(MAX_EDIT_BATCH_PLANS).optional(),
  })
  .openapi('RunSettings', {
    description: 'Overrides of the paper defaults (core/config/paper-defaults.ts).',
  });
export type RunSettings = z.infer<typeof RunSettingsSchema>;

const fields = {
  caption: nonBlank(2000)
    .optional()
    .describe('the base prompt Y; without it the VLM describes the scene first'),
  graph: StrictConceptGraphSchema.optional().describe('your causal graph; without it the VLM extracts one'),
  interventions: z
    .array(StrictInterventionSchema)
    .min(1)
    .max(10)
    .optional()
    .describe('ready interventions (needs graph); excludes do'),
  do: z.array(DoRequestSchema).min(1).max(10).optional().describe('do() requests; excludes interventions'),
  methods: z
    .array(EditMethodSchema)
    .min(1)
    .max(3)
    .refine((m) => new Set(m).size === m.length, 'methods must not repeat')
    .openapi({ uniqueItems: true })
    .optional()
    .describe('default: all of csg, ddpm, ddim'),
  settings: RunSettingsSchema.default({}),
  judge: z
    .boolean()
    .optional()
    .describe('run the VLM effectiveness judge on every output (default true; needs a VLM server)'),
  webhookUrl: z
    .url({ protocol: /^https?$/, error: 'expected an http(s) URL' })
    .max(2048)
    .optional()
    .describe(
      'signed Standard Webhooks POST when the run ends; the host must resolve to a public address and the scheme be https unless the server allows http (else 422 webhook_url_forbidden)',
    ),
};

export const ImageByHashSchema = z
  .strictObject({ sha256: Sha256Hex.describe('the sha256 given to POST /v1/uploads') })
  .openapi('ImageByHash');

/** The multipart `request` field: everything but the image. */
export const CounterfactualFieldsSchema = z.strictObject(fields).openapi('CounterfactualFields');
export type CounterfactualFields = z.infer<typeof CounterfactualFieldsSchema>;

export const CounterfactualJsonRequestSchema = z
  .strictObject({ image: ImageByHashSchema, ...fields })
  .openapi('CounterfactualRequest', {
    description:
      'interventions and do exclude each other, and interventions need the graph they refer to (stated below as JSON Schema). ' +
      'Checked on arrival, beyond JSON Schema: the graph is a DAG whose relationships name its concepts (422 invalid_graph); ' +
      'each intervention names a concept of the graph (422 invalid_intervention), each do() a concept id or name (422 unknown_concept); ' +
      'the image is an upload (422 unknown_artifact) of a supported type and size.',
    not: { required: ['interventions', 'do'] },
    anyOf: [{ not: { required: ['interventions'] } }, { required: ['graph'] }],
  });

export const CounterfactualMultipartSchema = z.strictObject({
  image: z.instanceof(File).openapi({ type: 'string', format: 'binary', description: 'PNG, JPEG or WebP' }),
  request: z.string().optional().openapi({
    description: 'JSON of CounterfactualFields (caption, graph, do, methods, settings, webhookUrl)',
  }),
});

export const RunStatusValueSchema = z.enum([
  'running',
  'succeeded',
  'failed',
  'cancelled',
  'terminated',
  'timed_out',
]);
export type RunStatusValue = z.infer<typeof RunStatusValueSchema>;

export const RunAcceptedSchema = z
  .object({
    id: z.string(),
    status: RunStatusValueSchema,
    statusUrl: z.string(),
    /** True when an Idempotency-Key replay returned an existing run. */
    replayed: z.boolean(),
    image: z.object({ sha256: Sha256Hex, contentType: z.string(), width: z.number(), height: z.number() }),
  })
  .openapi('RunAccepted');

export const RunStatusSchema = z
  .object({
    id: z.string(),
    status: RunStatusValueSchema,
    createdAt: z.string().nullable(),
    closedAt: z.string().nullable(),
    /** The workflow's progress query answer (stage, counts), when it can be asked. */
    progress: z.unknown().openapi({ description: 'JSON (shape set by the workflow) or null' }),
    /** The workflow's result; every ArtifactRef in it gains a presigned `url`. */
    result: z.unknown().openapi({ description: 'JSON (shape set by the workflow) or null' }),
    error: z.object({ message: z.string(), type: z.string().nullable() }).nullable(),
  })
  .openapi('RunStatus');

export const CancelAcceptedSchema = z
  .object({ id: z.string(), status: z.literal('cancelling') })
  .openapi('CancelAccepted');

/** Content type of an uploaded batch image list (POST /v1/batches `imagesFile`): JSONL of BatchImage. */
export const BATCH_FILE_CONTENT_TYPE = 'application/x-ndjson';

export const UploadRequestSchema = z
  .strictObject({
    contentType: z
      .enum(['image/png', 'image/jpeg', 'image/webp', BATCH_FILE_CONTENT_TYPE])
      .describe(
        `an image, or ${BATCH_FILE_CONTENT_TYPE} for a batch image list (POST /v1/batches imagesFile)`,
      ),
    bytes: z.number().int().positive(),
    sha256: Sha256Hex,
  })
  .openapi('UploadRequest');

export const UploadTicketSchema = z
  .object({
    image: z.object({ sha256: Sha256Hex }),
    alreadyUploaded: z.boolean(),
    upload: z
      .object({
        method: z.literal('PUT'),
        url: z.string(),
        headers: z.record(z.string(), z.string()),
        expiresAt: z.string(),
      })
      .nullable(),
  })
  .openapi('UploadTicket');

export const RunIdParamSchema = z.object({
  id: z
    .string()
    .regex(/^cf-[A-Za-z0-9-]{8,64}$/, 'expected a run id such as cf-2f1c…')
    .openapi({ param: { name: 'id', in: 'path' } }),
});

export const ErrorSchema = ErrorBodySchema.openapi('Error');

// ---- batches ----------------------------------------------------------------------------------------

/** Lines of an inline batch (`images`; the paper's evaluation uses 2 × 75); longer lists go in `imagesFile`. */
export const MAX_BATCH_IMAGES = 500;
/** Lines of an uploaded batch image list. */
export const MAX_BATCH_FILE_IMAGES = 100_000;

/** A street-world scene's ground truth on a batch line (core/world/truth.ts), its images by sha256. */
export const WorldTruthRequestSchema = z
  .strictObject({
    sceneId: z.string().min(1).max(200),
    attributes: z.record(z.string(), z.string()).describe("the scene's attribute values"),
    noise: z.record(z.string(), z.number().min(0).lt(1)).describe('the exogenous noise U of each attribute'),
    regions: z
      .record(z.string(), z.tuple([z.number(), z.number(), z.number(), z.number()]))
      .describe("each region's rectangle [x0, y0, x1, y1) in image pixels"),
    interventions: z
      .array(
        z.strictObject({
          id: z.string().min(1).max(200),
          kind: z.string().min(1).max(200),
          do: z.record(z.string(), z.string()),
          attributes: z.record(z.string(), z.string()).describe('the SCM counterfactual of do() with U'),
          image: ImageByHashSchema.describe('the true counterfactual image, uploaded first'),
        }),
      )
      .min(1)
      .max(16),
  })
  .openapi('WorldTruth', {
    description:
      'Ground truth of a street-world scene as `cgm world dataset` writes it (scenes/<id>.json); the report scores the counterfactuals against it. Only on lines with dataset "world".',
  });

export const BatchImageLineSchema = z
  .strictObject({
    dataset: DatasetNameSchema,
    id: nonBlank(200).describe('the image id within its data set, unique per data set'),
    image: ImageByHashSchema,
    caption: nonBlank(2000).describe('the base prompt Y of this image'),
    captionRule: CaptionRuleSchema.describe('how the caption was chosen from the data set'),
    truth: WorldTruthRequestSchema.optional(),
  })
  .openapi('BatchImage', {
    anyOf: [{ not: { required: ['truth'] } }, { properties: { dataset: { enum: ['world'] } } }],
    description:
      'One image of the data set, uploaded first (POST /v1/uploads); a line of core/eval/batch-manifest.ts with the image named by sha256.',
  });
export type BatchImageLine = z.infer<typeof BatchImageLineSchema>;

const BatchVariantRequestSchema = z
  .strictObject({
    name: z
      .string()
      .regex(/^[a-z0-9][a-z0-9-]{0,31}$/, 'expected 1-32 lowercase letters, digits or dashes')
      .describe('names the variant in child run ids and in the report'),
    planning: RunPlanningSchema.strict()
      .default({})
      .describe(
        "edit-planning choices of this variant; a CSG scale, threshold or warmup set here tags its report rows (e.g. 'csg+scale16')",
      ),
    methods: fields.methods.describe("the methods this variant runs instead of the batch's"),
    steps: z
      .number()
      .int()
      .min(2)
      .max(1000)
      .optional()
      .describe(
        "inversion and sampling steps of this variant instead of the batch's; rows tagged '+steps<N>'",
      ),
    sourceGuidance: z
      .number()
      .min(1)
      .max(50)
      .optional()
      .describe(
        "CSG's inversion guidance on the source prompt (1: unconditional); rows tagged '+srcguidance<N>'",
      ),
    spanMode: z
      .enum(['words', 'padded75'])
      .optional()
      .describe(
        "token span of CSG's attention masks instead of the engine mode's (quirk Q5); rows tagged '+span-<mode>'",
      ),
  })
  .openapi('BatchVariant');

export const BatchRequestSchema = z
  .strictObject({
    images: z
      .array(BatchImageLineSchema)
      .min(1)
      .max(MAX_BATCH_IMAGES)
      .optional()
      .describe(
        `the data set in draw order (at most ${MAX_BATCH_IMAGES}); the sample is drawn from these. Or imagesFile.`,
      ),
    imagesFile: ImageByHashSchema.optional().describe(
      `an uploaded ${BATCH_FILE_CONTENT_TYPE} list instead of images: one BatchImage JSON per line, in draw order, at most ${MAX_BATCH_FILE_IMAGES} lines (POST /v1/uploads with contentType ${BATCH_FILE_CONTENT_TYPE})`,
    ),
    sample: z
      .strictObject({
        perDataset: z.number().int().positive().optional().describe('images per data set; default all'),
        seed: z
          .union([
            z
              .number()
              .int()
              .min(0)
              .max(2 ** 32 - 1),
            z.string().min(1).max(200),
          ])
          .optional()
          .describe('seed of the sample without replacement (mulberry32)'),
      })
      .optional(),
    window: z.number().int().min(1).max(64).optional().describe('child runs in flight at once (default 4)'),
    pageSize: z
      .number()
      .int()
      .min(1)
      .max(500)
      .optional()
      .describe('child runs per workflow run before continue-as-new'),
    methods: fields.methods,
    settings: RunSettingsSchema.default({}),
    judge: z.boolean().optional().describe('run the VLM effectiveness judge (default true)'),
    lpips: z
      .boolean()
      .optional()
      .describe(
        'true (default): the batch needs LPIPS beside VLM-Eff (Table 1), so it is refused (503 lpips_unavailable, ' +
          'nothing stored) unless a GPU worker with an LPIPS graph polls, and its runs go to such workers; ' +
          'false: any GPU worker, records carry LPIPS null and the report says so',
      ),
    variants: z
      .array(BatchVariantRequestSchema)
      .min(1)
      .max(8)
      .optional()
      .describe("planning variants, each run on every image; default one 'paper' variant"),
    webhookUrl: fields.webhookUrl.describe(
      'signed Standard Webhooks POST when the batch ends; the host must resolve to a public address and the scheme be https unless the server allows http (else 422 webhook_url_forbidden)',
    ),
  })
  .superRefine((b, ctx) => {
    if ((b.images === undefined) === (b.imagesFile === undefined))
      ctx.addIssue({
        code: 'custom',
        path: [b.images === undefined ? 'images' : 'imagesFile'],
        message:
          b.images === undefined
            ? 'expected the images inline (images) or as an uploaded list (imagesFile); neither was given'
            : 'give images or imagesFile, not both',
      });
    const seen = new Map<string, number>();
    for (const [i, line] of (b.images ?? []).entries()) {
      const key = `${line.dataset}/${line.id}`;
      const prior = seen.get(key);
      if (prior !== undefined)
        ctx.addIssue({
          code: 'custom',
          path: ['images', i, 'id'],
          message: `image ${key} is already listed at images[${prior}]`,
        });
      seen.set(key, i);
    }
    const names = (b.variants ?? []).map((v) => v.name);
    const dup = names.findIndex((n, i) => names.indexOf(n) !== i);
    if (dup >= 0)
      ctx.addIssue({
        code: 'custom',
        path: ['variants', dup, 'name'],
        message: `variant name '${names[dup]}' is used twice`,
      });
  })
  .openapi('BatchRequest', {
    description:
      'The images inline (images) or as an uploaded list (imagesFile), exactly one of them. Checked on arrival, beyond JSON ' +
      'Schema: each (dataset, id) at most once, variant names unique, every image an upload (422 unknown_artifact) of a ' +
      'supported type and size, ground truth only on street-world lines; imagesFile an uploaded JSONL list of BatchImage ' +
      'lines (else 422 invalid_batch_file naming the line).',
    oneOf: [{ required: ['images'] }, { required: ['imagesFile'] }],
  });
export type BatchRequest = z.infer<typeof BatchRequestSchema>;

export const BatchAcceptedSchema = z
  .object({
    id: z.string(),
    status: RunStatusValueSchema,
    statusUrl: z.string(),
    reportUrl: z.string(),
    /** True when an Idempotency-Key replay returned an existing batch. */
    replayed: z.boolean(),
    images: z.number().int(),
    /** The data set manifest (JSONL) the API stored for the batch workflow. */
    manifest: z.object({ sha256: Sha256Hex }),
  })
  .openapi('BatchAccepted');

export const BatchStatusSchema = z
  .object({
    id: z.string(),
    status: RunStatusValueSchema,
    createdAt: z.string().nullable(),
    closedAt: z.string().nullable(),
    /** The batch workflow's batchProgress answer (phase, total, succeeded, failed, running). */
    progress: z.unknown().openapi({ description: 'BatchProgress JSON or null' }),
    /** The BatchResult; every ArtifactRef in it gains a presigned `url`. */
    result: z.unknown().openapi({ description: 'BatchResult JSON or null' }),
    error: z.object({ message: z.string(), type: z.string().nullable() }).nullable(),
    reportUrl: z.string(),
  })
  .openapi('BatchStatus');

export const BatchIdParamSchema = z.object({
  id: z
    .string()
    .regex(/^batch-[A-Za-z0-9-]{8,64}$/, 'expected a batch id such as batch-2f1c…')
    .openapi({ param: { name: 'id', in: 'path' } }),
});

export const REPORT_CSV_TABLES = ['table1', 'node-types', 'verdicts', 'cost', 'failures'] as const;

export const BatchReportQuerySchema = z.object({
  format: z
    .enum(['json', 'md', 'csv'])
    .default('json')
    .openapi({ param: { name: 'format', in: 'query' }, description: 'json (default), md or csv' }),
  table: z
    .enum(REPORT_CSV_TABLES)
    .default('table1')
    .openapi({ param: { name: 'table', in: 'query' }, description: 'which table, for format=csv' }),
});
