// The HTTP API as a value: createApp(deps) returns a Hono app that tests call with app.request() and
// `cgm api` serves. Nothing global: keys, limits, the image store and the run starter come in deps.

import type { OpenAPIHono } from '@hono/zod-openapi';
import { except } from 'hono/combine';
import { HTTPException } from 'hono/http-exception';
import { ArtifactIntegrityError } from '../core/artifacts/errors.js';
import type { AppDeps } from './deps.js';
import { ApiError, errorResponse } from './errors.js';
import { type AuthEnv, apiKeyAuth, createKeyring } from './middleware/auth.js';
import {
  addressLimit,
  createTokenBuckets,
  DOCS_LIMIT,
  FAILED_AUTH_LIMIT,
  failedAuthLimit,
  rateLimit,
} from './middleware/rate-limit.js';
import { batchRunRoutes } from './routes/batch-runs.js';
import { batchRoutes } from './routes/batches.js';
import { counterfactualRoutes } from './routes/counterfactuals.js';
import { serveDocs } from './routes/docs.js';
import { hookRoutes } from './routes/hooks.js';
import { routeApp } from './routes/route-app.js';
import { runManifestRoutes } from './routes/run-manifest.js';
import { triggerRoutes } from './routes/triggers.js';
import { uploadRoutes } from './routes/uploads.js';
import { webhookSecretRoutes } from './routes/webhook-secret.js';
import { createViewerApp } from './viewer/app.js';

const UNAVAILABLE = /ECONNREFUSED|ECONNRESET|ETIMEDOUT|EHOSTUNREACH|UNAVAILABLE|DEADLINE_EXCEEDED/;

function toApiError(err: unknown): ApiError | null {
  if (err instanceof ApiError) return err;
  if (err instanceof ArtifactIntegrityError)
    return new ApiError(
      'artifact_corrupt',
      `the stored bytes of sha256 ${err.expectedSha256} do not hash to it; they were removed: send the request again (a presigned upload is used again from your own copy) or upload the bytes again`,
    );
  if (err instanceof HTTPException) {
    if (err.status === 413) return new ApiError('payload_too_large', 'request body is too large');
    if (err.status === 415)
      return new ApiError(
        'unsupported_media_type',
        'send application/json or multipart/form-data',
        'content-type',
      );
    if (err.status === 400) return new ApiError('malformed_body', err.message);
  }
  const text = `${(err as Error)?.name ?? ''} ${(err as Error)?.message ?? ''} ${(err as { code?: string })?.code ?? ''}`;
  if (UNAVAILABLE.test(text))
    return new ApiError('unavailable', 'a backing service (Temporal or S3) is unreachable; retry later');
  return null;
}

export type { AppDeps, LogRecord } from './deps.js';

export function createApp(deps: AppDeps): OpenAPIHono<AuthEnv> {
  const app = routeApp();

  app.onError((err, c) => {
    const api = toApiError(err);
    if (api) {
      if (api.status >= 500)
        deps.log?.({
          msg: 'request failed',
          level: 'error',
          path: c.req.path,
          error: (err as Error).message,
        });
      return errorResponse(c, api);
    }
    deps.log?.({
      msg: 'unhandled error',
      level: 'error',
      path: c.req.path,
      error: (err as Error)?.stack ?? String(err),
    });
    return errorResponse(c, new ApiError('internal', 'internal error; the server log has details'));
  });
  app.notFound((c) => errorResponse(c, new ApiError('not_found', `no route ${c.req.method} ${c.req.path}`)));

  app.get('/healthz', (c) => c.json({ ok: true }));
  const docs = createTokenBuckets({ ...DOCS_LIMIT, now: deps.now });
  app.use('/openapi.json', addressLimit(docs));
  app.use('/docs', addressLimit(docs));
  serveDocs(app);

  const limiter = createTokenBuckets({ ...deps.config.rateLimit, now: deps.now });
  const failures = createTokenBuckets({ ...FAILED_AUTH_LIMIT, now: deps.now });
  // Failed authentications count per client address everywhere under /v1, hooks included: a wrong
  // trigger signature costs like a wrong key. Hooks carry no API key (the trigger secret authenticates
  // them), so key checks and per-key limits skip them.
  app.use('/v1/*', failedAuthLimit(failures));
  app.route('/', hookRoutes(deps));
  app.use(
    '/v1/*',
    except('/v1/hooks/*', apiKeyAuth(createKeyring(deps.config.keyHashes)), rateLimit(limiter)),
  );
  app.route('/', uploadRoutes(deps));
  app.route('/', counterfactualRoutes(deps));
  app.route('/', batchRoutes(deps));
  app.route('/', runManifestRoutes(deps));
  app.route('/', batchRunRoutes(deps));
  app.route('/', webhookSecretRoutes(deps));
  app.route('/', triggerRoutes(deps));
  app.route('/viewer', createViewerApp(deps));
  return app;
}
