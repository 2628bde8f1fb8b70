// POST /v1/counterfactuals (multipart image or JSON naming an upload), GET and DELETE one run.
// Every check runs before anything is stored or started, so a refused request leaves no trace.
import { randomUUID } from 'node:crypto';
import { createRoute, type OpenAPIHono, type z } from '@hono/zod-openapi';
import { sha256Hex } from '../../core/artifacts/store.js';
import type { ArtifactRef } from '../../core/schemas/artifact.js';
import { checkWebhookUrl } from '../../core/webhooks/url-policy.js';
import { canonicalJson, runIdForIdempotencyKey, sha256 } from '../canonical.js';
import type { AppDeps } from '../deps.js';
import { ApiError, fromZodError } from '../errors.js';
import { isReplay, parseIdempotencyKey } from '../idempotency.js';
import { type CheckedImage, checkImage } from '../image-check.js';
import { uploadRef } from '../images.js';
import type { AuthEnv } from '../middleware/auth.js';
import { isMultipart, limitBody, parseJsonBody } from '../middleware/body.js';
import { withPresignedUrls } from '../presign.js';
import { clientError } from '../public-error.js';
import { checkRunFields } from '../run-fields-check.js';
import { toWorkflowInput } from '../run-input.js';
import type { RunInfo } from '../runs/types.js';
import {
  CancelAcceptedSchema,
  type CounterfactualFields,
  CounterfactualFieldsSchema,
  CounterfactualJsonRequestSchema,
  CounterfactualMultipartSchema,
  RunAcceptedSchema,
  RunIdParamSchema,
  RunStatusSchema,
} from '../schemas.js';
import { errorResponses } from './error-responses.js';
import { linksById } from './links.js';
import { routeApp } from './route-app.js';

export const postRoute = createRoute({
  method: 'post',
  path: '/v1/counterfactuals',
  operationId: 'startCounterfactual',
  summary: 'Start a counterfactual run',
  description:
    'Multipart (`image` file + `request` JSON field) or JSON naming an upload by sha256. ' +
    'Idempotency-Key (≤255 printable ASCII): the same key and body return the same run; another body → 409.',
  security: [{ apiKey: [] }],
  request: {
    body: {
      content: {
        'application/json': { schema: CounterfactualJsonRequestSchema },
        'multipart/form-data': { schema: CounterfactualMultipartSchema },
      },
    },
  },
  responses: {
    202: {
      description: 'accepted',
      content: { 'application/json': { schema: RunAcceptedSchema } },
      links: linksById('the run', {
        GetCounterfactual: 'getCounterfactual',
        CancelCounterfactual: 'cancelCounterfactual',
        GetCounterfactualManifest: 'getCounterfactualManifest',
      }),
    },
    ...errorResponses(400, 401, 409, 413, 415, 422, 429, 503),
  },
});

export const getRoute = createRoute({
  method: 'get',
  path: '/v1/counterfactuals/{id}',
  operationId: 'getCounterfactual',
  summary: 'Status, progress and result (artifacts with presigned URLs) of a run',
  security: [{ apiKey: [] }],
  request: { params: RunIdParamSchema },
  responses: {
    200: { description: 'the run', content: { 'application/json': { schema: RunStatusSchema } } },
    ...errorResponses(400, 401, 404, 429, 503),
  },
});

export const deleteRoute = createRoute({
  method: 'delete',
  path: '/v1/counterfactuals/{id}',
  operationId: 'cancelCounterfactual',
  summary: 'Cancel a run',
  security: [{ apiKey: [] }],
  request: { params: RunIdParamSchema },
  responses: {
    202: {
      description: 'cancellation requested',
      content: { 'application/json': { schema: CancelAcceptedSchema } },
    },
    ...errorResponses(400, 401, 404, 409, 429, 503),
  },
});

const statusUrl = (id: string) => `/v1/counterfactuals/${id}`;

export type CounterfactualRouteDeps = Pick<AppDeps, 'log' | 'lookup' | 'config' | 'images' | 'runs'>;

export function counterfactualRoutes(deps: CounterfactualRouteDeps): OpenAPIHono<AuthEnv> {
  const app = routeApp();
  const { config, images, runs } = deps;
  const limits = config.limits;
  const body = limitBody({ json: limits.maxJsonBytes, multipart: limits.maxImageBytes + 256 * 1024 }, [
    'json',
    'multipart',
  ]);

  async function visibleRun(id: string, keyId: string): Promise<RunInfo> {
    const info = await runs.describe(id);
    // Runs of other keys (or not started by this API) are reported as absent, not as forbidden.
    if (!info || info.memo?.owner !== keyId) throw new ApiError('not_found', `no run '${id}'`, 'id');
    return info;
  }

  app.openapi({ ...postRoute, middleware: [body, parseJsonBody] }, async (c) => {
    const keyId = c.get('keyId');
    const idemKey = parseIdempotencyKey(c.req.header('idempotency-key'));
    // The media type before its parameters: a multipart boundary may contain any text, "json" too.
    const isForm = isMultipart(c.req.header('content-type'));

    // 1. Fields and image, checked by content; nothing stored yet.
    let fields: CounterfactualFields;
    let bytes: Uint8Array | null = null;
    let image: CheckedImage;
    let ref: ArtifactRef | null = null;
    if (isForm) {
      // The route declares two body types; each validator ran only for its own content type.
      const form = c.req.valid('form' as never) as z.infer<typeof CounterfactualMultipartSchema>;
      let json: unknown = {};
      if (form.request !== undefined) {
        try {
          json = JSON.parse(form.request);
        } catch (err) {
          throw new ApiError(
            'malformed_json',
            `the request field is not JSON: ${(err as Error).message}`,
            'request',
          );
        }
      }
      const parsed = CounterfactualFieldsSchema.safeParse(json);
      if (!parsed.success) throw fromZodError(parsed.error);
      fields = parsed.data;
      bytes = new Uint8Array(await form.image.arrayBuffer());
      image = await checkImage(bytes, form.image.type, limits);
    } else {
      const { image: byHash, ...rest } = c.req.valid('json' as never) as z.infer<
        typeof CounterfactualJsonRequestSchema
      >;
      fields = rest;
      const head = await images.forKey(keyId).head(byHash.sha256);
      if (!head)
        throw new ApiError(
          'unknown_artifact',
          `no image with sha256 ${byHash.sha256} uploaded with this API key; upload it first (POST /v1/uploads, then PUT)`,
          'image.sha256',
        );
      if (head.bytes > limits.maxImageBytes)
        throw new ApiError(
          'payload_too_large',
          `the uploaded image is ${head.bytes} bytes; the limit is ${limits.maxImageBytes}`,
          'image.sha256',
        );
      ref = uploadRef(images.bucket, byHash.sha256, head.bytes, head.contentType);
      image = await checkImage(await images.forKey(keyId).get(ref), head.contentType, limits, 'image.sha256');
      ref = { ...ref, contentType: image.contentType };
    }
    checkRunFields(fields);
    if (fields.webhookUrl) {
      const verdict = await checkWebhookUrl(fields.webhookUrl, config.webhookPolicy, deps.lookup);
      if (!verdict.ok) throw new ApiError('webhook_url_forbidden', verdict.reason, 'webhookUrl');
    }

    // 2. Idempotency: the key names the run; the fingerprint says whether the body is the same.
    const imageSha = ref?.sha256 ?? sha256Hex(bytes!);
    const fingerprint = sha256(canonicalJson({ image: imageSha, ...fields }));
    const id = idemKey ? runIdForIdempotencyKey(keyId, idemKey) : `cf-${randomUUID()}`;
    const accepted = (info: RunInfo | null, replayed: boolean) => {
      c.header('Location', statusUrl(id));
      if (replayed) c.header('Idempotent-Replayed', 'true');
      return c.json(
        {
          id,
          status: info?.status ?? 'running',
          statusUrl: statusUrl(id),
          replayed,
          image: {
            sha256: imageSha,
            contentType: image.contentType,
            width: image.width,
            height: image.height,
          },
        },
        202,
      );
    };
    const replayOrConflict = (info: RunInfo) => accepted(info, isReplay(info, keyId, fingerprint));
    if (idemKey) {
      const existing = await runs.describe(id);
      if (existing) return replayOrConflict(existing);
    }

    // 3. Store the image (content-addressed: a replay rewrites nothing), then start.
    ref ??= await images.forKey(keyId).put(bytes!, image.contentType);
    const input = toWorkflowInput(id, ref, fields, config.gpuTaskQueue, keyId);
    const started = await runs.start(id, input, { fingerprint, owner: keyId });
    if (started === 'exists') {
      // Lost a race with an equal key: judge against the run that won.
      const info = await runs.describe(id);
      if (info) return replayOrConflict(info);
    }
    deps.log?.({ msg: 'run started', runId: id, keyId, image: imageSha });
    return accepted(null, false);
  });

  app.openapi(getRoute, async (c) => {
    const { id } = c.req.valid('param');
    const info = await visibleRun(id, c.get('keyId'));
    const running = info.status === 'running';
    const presign = (ref: ArtifactRef) => images.presignGet(ref, config.presignTtlSeconds);
    const progress = running ? await withPresignedUrls((await runs.progress(id)) ?? null, presign) : null;
    const outcome = running ? ({ kind: 'pending' } as const) : await runs.outcome(id);
    const body: z.infer<typeof RunStatusSchema> = {
      id,
      status: info.status,
      createdAt: info.createdAt,
      closedAt: info.closedAt,
      progress: progress ?? null,
      result: outcome.kind === 'result' ? await withPresignedUrls(outcome.value ?? null, presign) : null,
      error: outcome.kind === 'error' ? clientError(outcome, { runId: id }, deps.log) : null,
    };
    return c.json(body, 200);
  });

  app.openapi(deleteRoute, async (c) => {
    const { id } = c.req.valid('param');
    const info = await visibleRun(id, c.get('keyId'));
    if (info.status !== 'running')
      throw new ApiError('run_not_cancellable', `run '${id}' has already finished (${info.status})`, 'id');
    await runs.cancel(id);
    deps.log?.({ msg: 'run cancel requested', runId: id, keyId: c.get('keyId') });
    return c.json({ id, status: 'cancelling' as const }, 202);
  });
  return app;
}
