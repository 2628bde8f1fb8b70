// HTTP request and response bodies (zod, the single source: validation, types and /openapi.json).
// Requests are strict: an unknown field is an error, not silently dropped.
import { z } from '@hono/zod-openapi';
import { Sha256Hex } from '../core/schemas/artifact.js';
import { EditMethodSchema } from '../core/schemas/edit-plan.js';
import {
  ConceptSchema,
  InterventionSchema,
  PropagatedChangeSchema,
  RelationshipSchema,
} from '../core/schemas/paper.js';
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

export const DoRequestSchema = z
  .strictObject({
    concept: z.string().trim().min(1).describe('a concept id (c2) or name (hair color) of the graph'),
    value: z.string().trim().min(1).max(200).describe('the value set by do(), e.g. "black hair"'),
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
    skip: z.number().min(0).max(0.95).optional(),
    sourceGuidanceScale: z.number().min(1).max(50).optional(),
    editGuidanceScale: z.number().min(0).max(50).optional(),
    editThreshold: z.number().min(0).max(1).optional(),
    editWarmupSteps: z.number().int().min(0).max(1000).optional(),
    interventionsPerImage: z.number().int().min(1).max(10).optional(),
  })
  .openapi('RunSettings', {
    description: 'Overrides of the paper defaults (core/config/paper-defaults.ts).',
  });
export type RunSettings = z.infer<typeof RunSettingsSchema>;

const fields = {
  caption: z
    .string()
    .trim()
    .min(1)
    .max(2000)
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
    .optional()
    .describe('default: all of csg, ddpm, ddim'),
  settings: RunSettingsSchema.default({}),
  webhookUrl: z
    .url({ protocol: /^https?$/, error: 'expected an http(s) URL' })
    .max(2048)
    .optional()
    .describe('signed Standard Webhooks POST when the run ends'),
};

export const ImageByHashSchema = z
  .strictObject({ sha256: Sha256Hex.describe('the sha256 given to POST /v1/uploads') })
  .openapi('ImageByHash');

/** The multipart `request` field: everything but the image. */
export const CounterfactualFieldsSchema = z.strictObject(fields).openapi('CounterfactualFields');
export type CounterfactualFields = z.infer<typeof CounterfactualFieldsSchema>;

export const CounterfactualJsonRequestSchema = z
  .strictObject({ image: ImageByHashSchema, ...fields })
  .openapi('CounterfactualRequest');

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

export const UploadRequestSchema = z
  .strictObject({
    contentType: z.enum(['image/png', 'image/jpeg', 'image/webp']),
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
