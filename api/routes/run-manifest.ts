// GET /v1/counterfactuals/{id}/manifest: the run manifest itself, read from S3 by the API, with a
// presigned `url` on every ArtifactRef. The run viewer needs it because a browser cannot fetch the
// manifest JSON from S3 cross-origin (images via presigned URLs in <img> are fine).
import { createRoute, type OpenAPIHono, z } from '@hono/zod-openapi';
import { type ArtifactRef, ArtifactRefSchema } from '../../core/schemas/artifact.js';
import { RunManifestSchema } from '../../core/schemas/run-manifest.js';
import type { AppDeps } from '../deps.js';
import { ApiError } from '../errors.js';
import type { AuthEnv } from '../middleware/auth.js';
import { withPresignedUrls } from '../presign.js';
import type { RunInfo, RunStarter } from '../runs/types.js';
import { RunIdParamSchema } from '../schemas.js';
import { errorResponses } from './error-responses.js';
import { routeApp } from './route-app.js';

export const manifestRoute = createRoute({
  method: 'get',
  path: '/v1/counterfactuals/{id}/manifest',
  operationId: 'getCounterfactualManifest',
  summary: 'The run manifest (graph, interventions, plans, outputs, stages) with presigned artifact URLs',
  description:
    'Every ArtifactRef gains a presigned `url`. 409 `manifest_not_ready` while the run has not written ' +
    'its manifest yet (it is written when the run ends: succeeded, failed or cancelled).',
  security: [{ apiKey: [] }],
  request: { params: RunIdParamSchema },
  responses: {
    200: {
      description: 'the manifest (core/schemas/run-manifest.ts)',
      content: {
        'application/json': {
          schema: z.record(z.string(), z.unknown()).openapi('RunManifest', {
            description: 'RunManifest, schemaVersion 1, with `url` on every ArtifactRef',
          }),
        },
      },
    },
    ...errorResponses(400, 401, 404, 409, 429, 503),
  },
});

/**
 * Where the manifest of a run is: the result of a succeeded run, else the progress query's answer
 * (a failed or cancelled run writes its manifest too, and says so there). null: not written yet.
 */
export async function findManifestRef(runs: RunStarter, info: RunInfo): Promise<ArtifactRef | null> {
  if (info.status === 'succeeded') {
    const outcome = await runs.outcome(info.id);
    if (outcome.kind === 'result') {
      const ref = ArtifactRefSchema.safeParse((outcome.value as { manifest?: unknown } | null)?.manifest);
      if (ref.success) return ref.data;
    }
  }
  const progress = await runs.progress(info.id);
  const ref = ArtifactRefSchema.safeParse((progress as { manifest?: unknown } | null)?.manifest);
  return ref.success ? ref.data : null;
}

export type RunManifestRouteDeps = Pick<AppDeps, 'log' | 'images' | 'runs' | 'config'>;

export function runManifestRoutes(deps: RunManifestRouteDeps): OpenAPIHono<AuthEnv> {
  const app = routeApp();
  const { images, runs, config } = deps;

  app.openapi(manifestRoute, async (c) => {
    const { id } = c.req.valid('param');
    const info = await runs.describe(id);
    // Same rule as GET /v1/counterfactuals/{id}: another key's run is reported as absent.
    if (!info || info.memo?.owner !== c.get('keyId')) throw new ApiError('not_found', `no run '${id}'`, 'id');

    const ref = await findManifestRef(runs, info);
    if (!ref)
      throw new ApiError(
        'manifest_not_ready',
        `run '${id}' is ${info.status} and has not written its manifest yet; it is written when the run ends — poll GET /v1/counterfactuals/${id}`,
        'id',
      );
    const text = new TextDecoder().decode(await images.get(ref));
    const parsed = RunManifestSchema.safeParse(JSON.parse(text));
    if (!parsed.success) {
      deps.log?.({ msg: 'manifest does not match its schema', level: 'error', runId: id, key: ref.key });
      throw new ApiError('internal', `the manifest of run '${id}' does not match its schema`, 'id');
    }
    const body = await withPresignedUrls(parsed.data, (r) => images.presignGet(r, config.presignTtlSeconds));
    c.header('Cache-Control', 'no-store'); // presigned URLs expire
    return c.json(body as Record<string, unknown>, 200);
  });
  return app;
}
