// Triggers (issue #20): what a client sends to create one, what the API answers, and what is stored.
// A trigger turns an outside system's delivery (Standard Webhooks, S3 event notifications, or JSON
// signed with an HMAC header) into counterfactual runs made from its run template.
import { z } from '@hono/zod-openapi';
import { Sha256Hex } from '../../core/schemas/artifact.js';
import { CounterfactualFieldsSchema } from '../schemas.js';

/** RFC 6901 JSON pointer into the delivery's JSON body, e.g. `/data/image/url`. */
export const JsonPointerSchema = z
  .string()
  .max(512)
  .regex(/^(\/([^~/]|~[01])*)+$/, "expected a JSON pointer such as '/data/imageUrl' (RFC 6901)");

/** An HTTP header name, lower-cased. */
const HeaderNameSchema = z
  .string()
  .regex(/^[A-Za-z0-9-]{1,100}$/, 'expected an HTTP header name')
  .transform((h) => h.toLowerCase());

export const TriggerSourceSchema = z
  .discriminatedUnion('kind', [
    z
      .strictObject({ kind: z.literal('standard-webhooks') })
      .describe(
        'Standard Webhooks: webhook-id, webhook-timestamp (±5 min) and webhook-signature with the trigger secret',
      ),
    z
      .strictObject({ kind: z.literal('s3-events') })
      .describe(
        'S3 event notifications: an EventBridge "Object Created" event, an S3 notification ({Records}), or either inside an SNS message (subscriptions are confirmed); authenticated by the trigger secret in `x-cgm-trigger-secret`, `Authorization: Bearer` or the password of `Authorization: Basic` (an SNS subscription URL `https://cgm:<secret>@host/…`)',
      ),
    z
      .strictObject({
        kind: z.literal('json-hmac'),
        signatureHeader: HeaderNameSchema.default('x-signature-256').describe(
          'the header holding the HMAC-SHA256 of the raw body (or of `<timestamp>.<body>` with timestampHeader), keyed by the trigger secret as UTF-8',
        ),
        signaturePrefix: z
          .string()
          .max(32)
          .default('sha256=')
          .describe("text before the digest in the header, e.g. 'sha256='"),
        encoding: z.enum(['hex', 'base64']).default('hex'),
        timestampHeader: HeaderNameSchema.optional().describe(
          'a header with Unix seconds: then signed is `<timestamp>.<body>` and stale deliveries (±5 min) are refused',
        ),
        deliveryIdHeader: HeaderNameSchema.optional().describe(
          "the sender's own delivery id (e.g. x-github-delivery); without it the body's sha256 is the delivery id",
        ),
      })
      .describe('any JSON POST signed with an HMAC-SHA256 header (GitHub-style)'),
  ])
  .openapi('TriggerSource');
export type TriggerSource = z.infer<typeof TriggerSourceSchema>;

export const ImageLocationSchema = z
  .discriminatedUnion('from', [
    z.strictObject({
      from: z.literal('url'),
      pointer: JsonPointerSchema.describe(
        'where the image URL is: a string, or an array of them (one run each)',
      ),
    }),
    z.strictObject({
      from: z.literal('s3'),
      bucketPointer: JsonPointerSchema.describe('where the bucket name is'),
      keyPointer: JsonPointerSchema.describe('where the object key is'),
    }),
    z
      .strictObject({ from: z.literal('s3-record') })
      .describe("each S3 event record's bucket and key (the only choice of s3-events triggers)"),
  ])
  .openapi('TriggerImageLocation');
export type ImageLocation = z.infer<typeof ImageLocationSchema>;

const BucketNameSchema = z.string().regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, 'expected an S3 bucket name');

/** `example.com` or `*.example.com`. */
const HostPatternSchema = z
  .string()
  .max(253)
  .regex(/^(\*\.)?[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*$/, {
    message: "expected a host name such as 'images.example.com' or '*.example.com'",
  })
  .transform((h) => h.toLowerCase());

export const TriggerAllowSchema = z
  .strictObject({
    buckets: z
      .array(
        z.strictObject({
          bucket: BucketNameSchema,
          prefix: z.string().max(1024).default('').describe('keys must start with it'),
        }),
      )
      .max(20)
      .default([])
      .describe('S3 sources: the bucket must be one of these (and on the server’s CGM_API_TRIGGER_BUCKETS)'),
    urlHosts: z
      .array(HostPatternSchema)
      .max(20)
      .default([])
      .describe(
        'URL sources: the host must match one entry, and resolve to public addresses (the webhook URL policy)',
      ),
  })
  .openapi('TriggerAllow');
export type TriggerAllow = z.infer<typeof TriggerAllowSchema>;

export const TriggerRateLimitSchema = z
  .strictObject({
    perMinute: z.number().int().min(1).max(6000).default(60),
    burst: z.number().int().min(1).max(1000).default(20),
  })
  .openapi('TriggerRateLimit', {
    description: 'runs this trigger may start: a token bucket, one token per image',
  });

export const TriggerCreateRequestSchema = z
  .strictObject({
    name: z.string().trim().min(1).max(200),
    source: TriggerSourceSchema,
    image: ImageLocationSchema.optional().describe(
      "default for s3-events: {from: 's3-record'}; required otherwise",
    ),
    allow: TriggerAllowSchema.default({ buckets: [], urlHosts: [] }),
    run: CounterfactualFieldsSchema.describe(
      'the run template: every image of a delivery starts a run with these fields',
    ),
    rateLimit: TriggerRateLimitSchema.default({ perMinute: 60, burst: 20 }),
    paused: z.boolean().default(false).describe('a paused trigger refuses deliveries (409 trigger_paused)'),
  })
  .openapi('TriggerCreateRequest');
export type TriggerCreateRequest = z.infer<typeof TriggerCreateRequestSchema>;

export const TriggerPatchRequestSchema = z
  .strictObject({
    paused: z.boolean().optional(),
    rateLimit: TriggerRateLimitSchema.optional(),
  })
  .openapi('TriggerPatchRequest');

export const TriggerIdSchema = z
  .string()
  .regex(/^trg_[0-9a-f]{24}$/, 'expected a trigger id such as trg_0123456789abcdef01234567');

export const TriggerIdParamSchema = z.object({
  id: TriggerIdSchema.openapi({ param: { name: 'id', in: 'path' } }),
});

/** What is stored: the request as validated, plus the owner and the salt of the trigger secret. */
export const StoredTriggerSchema = z.object({
  id: TriggerIdSchema,
  owner: z.string().min(1),
  /** Mixed into the derived secret (triggers/secret.ts); the secret itself is never stored. */
  salt: Sha256Hex,
  createdAt: z.string(),
  name: z.string(),
  source: TriggerSourceSchema,
  image: ImageLocationSchema,
  allow: TriggerAllowSchema,
  run: CounterfactualFieldsSchema,
  rateLimit: TriggerRateLimitSchema,
  paused: z.boolean(),
});
export type StoredTrigger = z.infer<typeof StoredTriggerSchema>;

/** What a key sees of its trigger: the stored record without the owner and salt, plus its hook URL. */
export const TriggerSchema = StoredTriggerSchema.omit({ owner: true, salt: true })
  .extend({
    hookUrl: z
      .string()
      .describe('where deliveries go: POST /v1/hooks/{id} (no API key; the signature authenticates)'),
  })
  .openapi('Trigger');

export const TriggerCreatedSchema = TriggerSchema.extend({
  secret: z
    .string()
    .describe(
      'the trigger secret (whsec_…), shown only here: sign deliveries with it, or present it (s3-events)',
    ),
}).openapi('TriggerCreated');

export const TriggerListSchema = z.object({ triggers: z.array(TriggerSchema) }).openapi('TriggerList');

export const TriggerRunsSchema = z
  .object({
    triggerId: TriggerIdSchema,
    runs: z.array(
      z.object({
        id: z.string(),
        statusUrl: z.string(),
        status: z.string(),
        createdAt: z.string().nullable(),
        source: z.string().describe('where the image came from (URL, or s3://bucket/key)'),
        deliveryId: z.string(),
      }),
    ),
  })
  .openapi('TriggerRuns');

export const HookAcceptedSchema = z
  .object({
    triggerId: TriggerIdSchema,
    runs: z.array(
      z.object({
        id: z.string(),
        statusUrl: z.string(),
        /** True when this delivery (or an equal one) had already started the run. */
        replayed: z.boolean(),
        deliveryId: z.string(),
        source: z.string(),
      }),
    ),
  })
  .openapi('HookAccepted');

export const HookConfirmedSchema = z
  .object({ triggerId: TriggerIdSchema, confirmed: z.literal(true) })
  .openapi('HookConfirmed');

export function publicTrigger(t: StoredTrigger): z.infer<typeof TriggerSchema> {
  const { owner: _owner, salt: _salt, ...rest } = t;
  return { ...rest, hookUrl: `/v1/hooks/${t.id}` };
}
