// POST /v1/batches (a data set of uploaded images, listed inline or as an uploaded JSONL list), GET one
// batch, GET its report. Every line, image and setting is checked before the manifest is stored or the
// batch workflow started (by type name 'batchWorkflow'; the API never imports workflow code).
import { randomUUID } from 'node:crypto';
import { createRoute, type OpenAPIHono, type z } from '@hono/zod-openapi';
import { contentKey, sha256Hex } from '../../core/artifacts/store.js';
import { type BatchManifestLine, serialiseBatchManifest } from '../../core/eval/batch-manifest.js';
import type { Report } from '../../core/eval/report.js';
import { renderCsv } from '../../core/eval/report-render.js';
import { lpipsEntryQueue } from '../../core/gpu-capabilities.js';
import type { ArtifactRef } from '../../core/schemas/artifact.js';
import {
  type BatchInput,
  BatchInputSchema,
  type BatchProgress,
  BatchResultSchema,
} from '../../core/schemas/batch-io.js';
import { checkWebhookUrl } from '../../core/webhooks/url-policy.js';
import type { WorldTruth } from '../../core/world/truth.js';
import { checkListedImageHeads, readBatchImagesFile } from '../batch-images-file.js';
import { canonicalJson, runIdForIdempotencyKey, sha256 } from '../canonical.js';
import type { AppDeps } from '../deps.js';
import { ApiError, fromZodError } from '../errors.js';
import { isReplay, parseIdempotencyKey } from '../idempotency.js';
import { checkImage, type ImageLimits } from '../image-check.js';
import { type KeyImageStore, uploadRef } from '../images.js';
import { mapInChunks } from '../map-in-chunks.js';
import type { AuthEnv } from '../middleware/auth.js';
import { limitBody, parseJsonBody } from '../middleware/body.js';
import { withPresignedUrls } from '../presign.js';
import { clientError } from '../public-error.js';
import { settingsToRunFields } from '../run-input.js';
import type { RunInfo, RunStarter } from '../runs/types.js';
import {
  BatchAcceptedSchema,
  BatchIdParamSchema,
  type BatchImageLine,
  BatchReportQuerySchema,
  type BatchRequest,
  BatchRequestSchema,
  BatchStatusSchema,
} from '../schemas.js';
import { errorResponses } from './error-responses.js';
import { linksById } from './links.js';
import { routeApp } from './route-app.js';

/** Where the API stores the data set manifests it writes for batches (content-addressed). */
export const BATCH_MANIFEST_PREFIX = 'batches/manifests';
const MANIFEST_CONTENT_TYPE = 'application/x-ndjson';
/** Inline batch lines (each downloaded and decoded) per rate-limit token. */
export const INLINE_LINES_PER_TOKEN = 10;
/** Lines of an uploaded image list (each a HEAD) per rate-limit token. */
export const LISTED_LINES_PER_TOKEN = 1000;

/** Uploaded images checked at once while validating a batch. */
const IMAGE_CHECK_CONCURRENCY = 4;

export const postBatchRoute = createRoute({
  method: 'post',
  path: '/v1/batches',
  operationId: 'startBatch',
  summary: 'Start a batch: one counterfactual run per sampled image and variant, then the Table 1 report',
  description:
    'Upload every image first (POST /v1/uploads), then list them in `images`, or upload the list itself ' +
    '(JSONL, one BatchImage per line, contentType application/x-ndjson) and name it in `imagesFile`. ' +
    'Inline images are decoded here; the images of a list are checked by their stored size and type. ' +
    'Idempotency-Key as for runs: the same key and body return the same batch; another body → 409.',
  security: [{ apiKey: [] }],
  request: { body: { required: true, content: { 'application/json': { schema: BatchRequestSchema } } } },
  responses: {
    202: {
      description: 'accepted',
      content: { 'application/json': { schema: BatchAcceptedSchema } },
      links: linksById('the batch', {
        GetBatch: 'getBatch',
        GetBatchReport: 'getBatchReport',
        GetBatchSamples: 'getBatchSamples',
      }),
    },
    ...errorResponses(400, 401, 409, 413, 415, 422, 429, 503),
  },
});

export const getBatchRoute = createRoute({
  method: 'get',
  path: '/v1/batches/{id}',
  operationId: 'getBatch',
  summary: 'Status, progress and result (artifacts with presigned URLs) of a batch',
  security: [{ apiKey: [] }],
  request: { params: BatchIdParamSchema },
  responses: {
    200: { description: 'the batch', content: { 'application/json': { schema: BatchStatusSchema } } },
    ...errorResponses(400, 401, 404, 429, 503),
  },
});

export const getBatchReportRoute = createRoute({
  method: 'get',
  path: '/v1/batches/{id}/report',
  operationId: 'getBatchReport',
  summary: 'The Table 1 report of a finished batch (JSON, Markdown or one CSV table)',
  description: '409 report_not_ready while the batch runs, or when it ended without a report.',
  security: [{ apiKey: [] }],
  request: { params: BatchIdParamSchema, query: BatchReportQuerySchema },
  responses: {
    200: {
      description: 'the report',
      content: {
        'application/json': { schema: { type: 'object' } },
        'text/markdown': { schema: { type: 'string' } },
        'text/csv': { schema: { type: 'string' } },
      },
    },
    ...errorResponses(400, 401, 404, 409, 429, 503),
  },
});

const statusUrl = (id: string) => `/v1/batches/${id}`;
const reportUrl = (id: string) => `/v1/batches/${id}/report`;

/** The uploaded image of each line, checked by content; the first bad line (in order) is reported. */
async function checkLineImages(
  lines: readonly BatchImageLine[],
  images: KeyImageStore,
  limits: ImageLimits & { maxImageBytes: number },
): Promise<ArtifactRef[]> {
  return mapInChunks(lines, IMAGE_CHECK_CONCURRENCY, async (line, i) => {
    const field = `images[${i}].image.sha256`;
    const sha = line.image.sha256;
    const head = await images.head(sha);
    if (!head)
      throw new ApiError(
        'unknown_artifact',
        `no image with sha256 ${sha} uploaded with this API key; upload it first (POST /v1/uploads, then PUT)`,
        field,
      );
    if (head.bytes > limits.maxImageBytes)
      throw new ApiError(
        'payload_too_large',
        `the uploaded image is ${head.bytes} bytes; the limit is ${limits.maxImageBytes}`,
        field,
      );
    const ref = uploadRef(images.bucket, sha, head.bytes, head.contentType);
    const checked = await checkImage(await images.get(ref), head.contentType, limits, field);
    return { ...ref, contentType: checked.contentType };
  });
}

/**
 * Each line's street-world truth with its true counterfactual images resolved to their uploads; a truth
 * on a line of another data set, or a true image never uploaded, is the caller's error naming the field.
 */
async function truthOfLines(
  lines: readonly BatchImageLine[],
  images: KeyImageStore,
  field: (i: number) => string,
): Promise<(WorldTruth | undefined)[]> {
  return mapInChunks(lines, IMAGE_CHECK_CONCURRENCY, async (line, i) => {
    if (!line.truth) return undefined;
    if (line.dataset !== 'world')
      throw new ApiError(
        'validation_error',
        `ground truth is only carried by street-world lines; this line's dataset is '${line.dataset}'`,
        `${field(i)}.truth`,
      );
    const interventions = [];
    for (const [k, iv] of line.truth.interventions.entries()) {
      const sha = iv.image.sha256;
      const head = await images.head(sha);
      if (!head)
        throw new ApiError(
          'unknown_artifact',
          `no image with sha256 ${sha} uploaded with this API key (the true counterfactual of ${iv.id}); upload it first (POST /v1/uploads, then PUT)`,
          `${field(i)}.truth.interventions[${k}].image.sha256`,
        );
      interventions.push({
        ...iv,
        image: { kind: 's3' as const, ref: uploadRef(images.bucket, sha, head.bytes, head.contentType) },
      });
    }
    return { ...line.truth, interventions };
  });
}

function toBatchInput(
  id: string,
  manifest: ArtifactRef,
  req: BatchRequest,
  gpuTaskQueue: string,
  /** The caller's key id: its webhooks are signed with its own secret. */
  keyId: string,
): BatchInput {
  const run = settingsToRunFields(req.settings);
  const parsed = BatchInputSchema.safeParse({
    batchId: id,
    manifest,
    sample: req.sample ?? {},
    ...(req.window !== undefined && { window: req.window }),
    ...(req.pageSize !== undefined && { pageSize: req.pageSize }),
    run: {
      ...(req.methods && { methods: req.methods }),
      planning: run.planning,
      engine: run.engine,
      ...(run.proposeCount !== undefined && { proposeCount: run.proposeCount }),
      ...(run.editBatch !== undefined && { editBatch: run.editBatch }),
      evaluate: { judge: req.judge ?? true },
      hosts: { gpuTaskQueue },
    },
    ...(req.variants && { variants: req.variants }),
    webhook: req.webhookUrl ? { url: req.webhookUrl, tenant: keyId } : undefined,
  });
  if (!parsed.success) throw fromZodError(parsed.error);
  return parsed.data;
}

function progressNote(progress: unknown): string {
  const p = progress as Partial<BatchProgress> | null;
  if (!p || typeof p.total !== 'number') return '';
  return ` (${p.phase ?? 'running'}: ${(p.succeeded ?? 0) + (p.failed ?? 0)} of ${p.total} runs finished)`;
}

export type BatchRouteDeps = Pick<
  AppDeps,
  'batches' | 'log' | 'lookup' | 'config' | 'images' | 'lpipsWorkers'
>;

export function batchRoutes(deps: BatchRouteDeps): OpenAPIHono<AuthEnv> {
  const app = routeApp();
  const { config, images } = deps;
  const body = limitBody({ json: config.limits.maxJsonBytes, multipart: 0 }, ['json']);

  const starter = (): RunStarter<BatchInput> => {
    if (!deps.batches)
      throw new ApiError('unavailable', 'batches are not configured on this server (no batch starter)');
    return deps.batches;
  };

  async function visibleBatch(id: string, keyId: string): Promise<RunInfo> {
    const info = await starter().describe(id);
    // Batches of other keys are reported as absent, not as forbidden.
    if (!info || info.memo?.owner !== keyId) throw new ApiError('not_found', `no batch '${id}'`, 'id');
    return info;
  }

  /** The GPU entry queue of a batch's runs: the LPIPS workers' when it needs LPIPS (and one polls). */
  async function gpuQueueFor(needsLpips: boolean): Promise<string> {
    if (!needsLpips || !deps.lpipsWorkers) return config.gpuTaskQueue;
    const queue = lpipsEntryQueue(config.gpuTaskQueue);
    if (!(await deps.lpipsWorkers()))
      throw new ApiError(
        'lpips_unavailable',
        `no GPU worker with an LPIPS graph polls ${queue}; nothing was stored. The operator starts one ` +
          '(`cgm worker gpu --lpips DIR`), or send "lpips": false to record VLM-Eff without LPIPS',
        'lpips',
      );
    return queue;
  }

  app.openapi({ ...postBatchRoute, middleware: [body, parseJsonBody] }, async (c) => {
    const batches = starter();
    const keyId = c.get('keyId');
    const idemKey = parseIdempotencyKey(c.req.header('idempotency-key'));
    const req = c.req.valid('json');
    // Only this key's own uploads can be named (api/images.ts).
    const mine = images.forKey(keyId);

    // 0. Table 1 needs LPIPS: without a GPU worker that computes it, refuse before anything is stored.
    const gpuQueue = await gpuQueueFor(req.lpips ?? true);

    // 1. The images (inline ones by content, a list's by their stored head) and the webhook URL;
    // nothing stored yet.
    let listed: BatchImageLine[];
    let refs: ArtifactRef[];
    // Checking a batch costs more than a request: inline lines are each decoded (one token per
    // INLINE_LINES_PER_TOKEN), a list's lines each cost a HEAD (one per LISTED_LINES_PER_TOKEN); the
    // request's own token is already taken, and no charge exceeds the key's burst.
    const charge = c.get('charge') ?? (() => {});
    if (req.imagesFile) {
      const file = await readBatchImagesFile(mine, req.imagesFile.sha256, config.limits.maxBatchFileBytes);
      charge(Math.ceil(file.length / LISTED_LINES_PER_TOKEN) - 1, `checking ${file.length} listed images`);
      listed = file.map((f) => f.image);
      refs = await checkListedImageHeads(file, mine, config.limits.maxImageBytes);
    } else {
      listed = req.images ?? [];
      charge(Math.ceil(listed.length / INLINE_LINES_PER_TOKEN) - 1, `decoding ${listed.length} images`);
      refs = await checkLineImages(listed, mine, config.limits);
    }
    if (req.webhookUrl) {
      const verdict = await checkWebhookUrl(req.webhookUrl, config.webhookPolicy, deps.lookup);
      if (!verdict.ok) throw new ApiError('webhook_url_forbidden', verdict.reason, 'webhookUrl');
    }
    const truths = await truthOfLines(listed, mine, (i) =>
      req.imagesFile ? `imagesFile line ${i + 1}` : `images[${i}]`,
    );
    const lines: BatchManifestLine[] = listed.map((line, drawIndex) => ({
      dataset: line.dataset,
      id: line.id,
      image: { kind: 's3', ref: refs[drawIndex] },
      caption: line.caption,
      captionRule: line.captionRule,
      drawIndex,
      ...(truths[drawIndex] ? { truth: truths[drawIndex] } : {}),
    }));
    const manifestBytes = new TextEncoder().encode(serialiseBatchManifest(lines));

    // 2. Idempotency: the key names the batch; the fingerprint says whether the body is the same.
    const fingerprint = sha256(canonicalJson(req));
    const id = idemKey ? runIdForIdempotencyKey(keyId, idemKey, 'batch') : `batch-${randomUUID()}`;
    const accepted = (info: RunInfo | null, replayed: boolean, manifestSha: string) => {
      c.header('Location', statusUrl(id));
      if (replayed) c.header('Idempotent-Replayed', 'true');
      return c.json(
        {
          id,
          status: info?.status ?? 'running',
          statusUrl: statusUrl(id),
          reportUrl: reportUrl(id),
          replayed,
          images: lines.length,
          manifest: { sha256: manifestSha },
        },
        202,
      );
    };
    // A replayed body serialises to the same manifest bytes, so their hash is the stored manifest's.
    const manifestSha = sha256Hex(manifestBytes);
    if (idemKey) {
      const existing = await batches.describe(id);
      if (existing) return accepted(existing, isReplay(existing, keyId, fingerprint), manifestSha);
    }
    // The workflow input is built (and validated) before anything is stored; putArtifact is
    // content-addressed, so the manifest's ref is known from its bytes.
    const manifestRef: ArtifactRef = {
      bucket: images.bucket,
      key: contentKey(BATCH_MANIFEST_PREFIX, manifestSha),
      sha256: manifestSha,
      bytes: manifestBytes.byteLength,
      contentType: MANIFEST_CONTENT_TYPE,
    };
    const input = toBatchInput(id, manifestRef, req, gpuQueue, keyId);

    // 3. Store the manifest (a replay rewrites nothing), then start.
    await images.putArtifact(manifestBytes, MANIFEST_CONTENT_TYPE, BATCH_MANIFEST_PREFIX);
    const started = await batches.start(id, input, { fingerprint, owner: keyId });
    if (started === 'exists') {
      // Lost a race with an equal key: judge against the batch that won.
      const info = await batches.describe(id);
      if (info) return accepted(info, isReplay(info, keyId, fingerprint), manifestSha);
    }
    deps.log?.({ msg: 'batch started', batchId: id, keyId, images: lines.length });
    return accepted(null, false, manifestSha);
  });

  app.openapi(getBatchRoute, async (c) => {
    const { id } = c.req.valid('param');
    const batches = starter();
    const info = await visibleBatch(id, c.get('keyId'));
    const running = info.status === 'running';
    const presign = (ref: ArtifactRef) => images.presignGet(ref, config.presignTtlSeconds);
    const outcome = running ? ({ kind: 'pending' } as const) : await batches.outcome(id);
    const out: z.infer<typeof BatchStatusSchema> = {
      id,
      status: info.status,
      createdAt: info.createdAt,
      closedAt: info.closedAt,
      // Closed batches still answer the query (Temporal replays them), so the final counts show.
      progress: (await batches.progress(id)) ?? null,
      result: outcome.kind === 'result' ? await withPresignedUrls(outcome.value ?? null, presign) : null,
      error: outcome.kind === 'error' ? clientError(outcome, { batchId: id }, deps.log) : null,
      reportUrl: reportUrl(id),
    };
    return c.json(out, 200);
  });

  app.openapi(getBatchReportRoute, async (c) => {
    const { id } = c.req.valid('param');
    const { format, table } = c.req.valid('query');
    const batches = starter();
    const info = await visibleBatch(id, c.get('keyId'));
    if (info.status === 'running')
      throw new ApiError(
        'report_not_ready',
        `batch '${id}' is still running${progressNote(await batches.progress(id))}; ` +
          `the report is written once every run has finished: poll GET ${statusUrl(id)}`,
        'id',
      );
    const outcome = await batches.outcome(id);
    if (outcome.kind !== 'result')
      throw new ApiError(
        'report_not_ready',
        `batch '${id}' ended ${info.status} without a report` +
          (outcome.kind === 'error' ? `: ${clientError(outcome, { batchId: id }, deps.log).message}` : ''),
        'id',
      );
    const result = BatchResultSchema.parse(outcome.value);
    const text = async (ref: ArtifactRef) => new TextDecoder().decode(await images.get(ref));
    if (format === 'md')
      return c.body(await text(result.reportMarkdown), 200, {
        'content-type': 'text/markdown; charset=utf-8',
      });
    const json = await text(result.reportJson);
    if (format === 'json') return c.body(json, 200, { 'content-type': 'application/json' });
    const csv = renderCsv(JSON.parse(json) as Report)[`${table}.csv`];
    return c.body(csv, 200, {
      'content-type': 'text/csv; charset=utf-8',
      'content-disposition': `attachment; filename="${id}-${table}.csv"`,
    });
  });
  return app;
}
