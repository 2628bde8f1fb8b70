// The runs of a finished batch, for the viewer's batch page: a few samples (input and first
// counterfactual, presigned) and each child run's manifest. Child runs are reached through their batch:
// they carry the batch's owner, not a memo of their own, and their ids hold slashes
// (`<batch>/<variant>/<dataset>/<image>`), so a client sends them percent-encoded in one path segment.
import { createRoute, type OpenAPIHono, z } from '@hono/zod-openapi';
import { parseJsonl } from '../../core/eval/jsonl.js';
import { baseMethod, type EvaluatedRecord, parseEvalRecords } from '../../core/eval/results.js';
import type { ArtifactRef } from '../../core/schemas/artifact.js';
import {
  type BatchOutcome,
  BatchOutcomeSchema,
  type BatchResult,
  BatchResultSchema,
} from '../../core/schemas/batch-io.js';
import { type RunManifest, RunManifestSchema } from '../../core/schemas/run-manifest.js';
import type { AppDeps } from '../deps.js';
import { ApiError } from '../errors.js';
import type { AuthEnv } from '../middleware/auth.js';
import { withPresignedUrls } from '../presign.js';
import { BatchIdParamSchema } from '../schemas.js';
import { errorResponses } from './error-responses.js';
import { routeApp } from './route-app.js';

const MAX_SAMPLES = 50;

export const batchSamplesRoute = createRoute({
  method: 'get',
  path: '/v1/batches/{id}/samples',
  operationId: 'getBatchSamples',
  summary: 'The first runs of a finished batch, in draw order: input and first counterfactual (presigned)',
  security: [{ apiKey: [] }],
  request: {
    params: BatchIdParamSchema,
    query: z.object({
      limit: z.coerce
        .number()
        .int()
        .min(1)
        .max(MAX_SAMPLES)
        .default(8)
        .openapi({ param: { name: 'limit', in: 'query' } }),
    }),
  },
  responses: {
    200: {
      description: 'samples',
      content: { 'application/json': { schema: z.object({ samples: z.array(z.unknown()) }) } },
      links: {
        GetBatchRunManifest: {
          operationId: 'getBatchRunManifest',
          parameters: { id: '$request.path.id', runId: '$response.body#/samples/0/runId' },
          description: "the manifest of a sample's run (here the first; any sample's runId works)",
        },
      },
    },
    ...errorResponses(400, 401, 404, 409, 429, 503),
  },
});

export const batchRunManifestRoute = createRoute({
  method: 'get',
  path: '/v1/batches/{id}/runs/{runId}/manifest',
  operationId: 'getBatchRunManifest',
  summary:
    'The manifest of one run of a finished batch, with presigned artifact URLs; street-world outputs also carry their ground truth',
  security: [{ apiKey: [] }],
  request: {
    params: BatchIdParamSchema.extend({
      runId: z
        .string()
        .min(1)
        .max(512)
        .openapi({ param: { name: 'runId', in: 'path' }, description: 'percent-encoded child run id' }),
    }),
  },
  responses: {
    200: {
      description: 'the manifest',
      content: { 'application/json': { schema: z.record(z.string(), z.unknown()) } },
    },
    ...errorResponses(400, 401, 404, 409, 429, 503),
  },
});

export type BatchRunRouteDeps = Pick<AppDeps, 'batches' | 'images' | 'config'>;

export function batchRunRoutes(deps: BatchRunRouteDeps): OpenAPIHono<AuthEnv> {
  const app = routeApp();
  const { images, config } = deps;
  const presign = (ref: ArtifactRef) => images.presignGet(ref, config.presignTtlSeconds);
  const readJson = async (ref: ArtifactRef) => JSON.parse(new TextDecoder().decode(await images.get(ref)));

  /** The outcomes of a batch the caller owns, once it has finished with a result. */
  async function outcomesOf(id: string, keyId: string, known?: BatchResult): Promise<BatchOutcome[]> {
    const result = known ?? (await finished(id, keyId)).result;
    const text = new TextDecoder().decode(await images.get(result.outcomes));
    return parseJsonl(text, BatchOutcomeSchema, result.outcomes.key);
  }

  /** The batch's result once it has finished with one; not found for another key's batch. */
  async function finished(id: string, keyId: string) {
    const batches = deps.batches;
    if (!batches) throw new ApiError('unavailable', 'batches are not configured on this server');
    const info = await batches.describe(id);
    if (!info || info.memo?.owner !== keyId) throw new ApiError('not_found', `no batch '${id}'`, 'id');
    const outcome = info.status === 'running' ? null : await batches.outcome(id);
    if (outcome?.kind !== 'result')
      throw new ApiError(
        'report_not_ready',
        `batch '${id}' is ${info.status}; its runs are listed once it has finished with a result`,
        'id',
      );
    return { result: BatchResultSchema.parse(outcome.value) };
  }

  /**
   * Street-world batches: each output of the run gets its ground truth from the batch's records
   * (core/eval/results.ts GroundTruth), the true counterfactual image presigned.
   */
  async function withGroundTruth(result: BatchResult, runId: string, manifest: Record<string, unknown>) {
    const text = new TextDecoder().decode(await images.get(result.results));
    const records = parseEvalRecords(text, result.results.key).filter(
      (r): r is EvaluatedRecord => r.runId === runId && r.status === 'evaluated' && !!r.groundTruth,
    );
    if (records.length === 0) return manifest;
    const outputs = manifest.outputs as { interventionId: string; method: string }[];
    const withGt = await Promise.all(
      outputs.map(async (o) => {
        const r = records.find(
          (x) => x.interventionId === o.interventionId && baseMethod(x.method) === o.method,
        );
        if (!r?.groundTruth) return o;
        const { trueImage, ...gt } = r.groundTruth;
        const image =
          trueImage?.kind === 's3' ? { ...trueImage.ref, url: await presign(trueImage.ref) } : null;
        return { ...o, groundTruth: { ...gt, trueImage: image } };
      }),
    );
    return { ...manifest, outputs: withGt };
  }

  const manifestOf = async (o: BatchOutcome): Promise<RunManifest | null> =>
    o.manifest ? RunManifestSchema.parse(await readJson(o.manifest)) : null;

  app.openapi(batchSamplesRoute, async (c) => {
    const { id } = c.req.valid('param');
    const { limit } = c.req.valid('query');
    const outcomes = (await outcomesOf(id, c.get('keyId'))).slice(0, limit);
    const samples = await Promise.all(
      outcomes.map(async (o) => {
        const manifest = await manifestOf(o);
        const input = manifest ? (manifest.input.preprocessed ?? manifest.input.image) : null;
        const output = manifest?.outputs.find((x) => x.method === 'csg') ?? manifest?.outputs[0] ?? null;
        return {
          runId: o.runId,
          dataset: o.dataset,
          imageId: o.imageId,
          variant: o.variant,
          status: o.status,
          input: input ? { ...input, url: await presign(input) } : null,
          output: output
            ? { method: output.method, ...output.image, url: await presign(output.image) }
            : null,
        };
      }),
    );
    c.header('Cache-Control', 'no-store');
    return c.json({ samples }, 200);
  });

  app.openapi(batchRunManifestRoute, async (c) => {
    const { id, runId } = c.req.valid('param');
    const { result } = await finished(id, c.get('keyId')); // one look-up serves outcomes and records
    const found = (await outcomesOf(id, c.get('keyId'), result)).find((o) => o.runId === runId);
    if (!found) throw new ApiError('not_found', `batch '${id}' has no run '${runId}'`, 'runId');
    const manifest = await manifestOf(found);
    if (!manifest)
      throw new ApiError('not_found', `run '${runId}' ended ${found.status} without a manifest`, 'runId');
    const presigned = (await withPresignedUrls(manifest, presign)) as Record<string, unknown>;
    c.header('Cache-Control', 'no-store');
    return c.json(await withGroundTruth(result, runId, presigned), 200);
  });
  return app;
}
