// The HTTP API as a value: createApp(deps) returns a Hono app that tests call with app.request() and
// `cgm api` serves. Nothing global: keys, limits, the image store and the run starter come in deps.

import { OpenAPIHono } from '@hono/zod-openapi';
import { except } from 'hono/combine';
import { HTTPException } from 'hono/http-exception';
import type { LookupFn } from '../activities/webhooks/url-policy.js';
import { ArtifactIntegrityError } from '../core/artifacts/errors.js';
import type { BatchInput } from '../core/schemas/batch-io.js';
import type { ApiConfig } from './config.js';
import { ApiError, errorResponse, fromZodError } from './errors.js';
import type { ImageStore } from './images.js';
import { type AuthEnv, apiKeyAuth, createKeyring } from './middleware/auth.js';
import {
  addressLimit,
  createTokenBuckets,
  DOCS_LIMIT,
  FAILED_AUTH_LIMIT,
  failedAuthLimit,
  rateLimit,
} from './middleware/rate-limit.js';
import { registerBatchRunRoutes } from './routes/batch-runs.js';
import { registerBatchRoutes } from './routes/batches.js';
import { registerCounterfactualRoutes } from './routes/counterfactuals.js';
import { registerDocRoutes } from './routes/docs.js';
import { registerHookRoute } from './routes/hooks.js';
import { registerRunManifestRoute } from './routes/run-manifest.js';
import { registerTriggerRoutes } from './routes/triggers.js';
import { registerUploadRoutes } from './routes/uploads.js';
import { registerWebhookSecretRoute } from './routes/webhook-secret.js';
import type { RunStarter } from './runs/types.js';
import type { SourceObjectReader } from './triggers/s3-source.js';
import type { SubscriptionConfirmer } from './triggers/sns-confirm.js';
import type { TriggerStore } from './triggers/store.js';
import { createViewerApp } from './viewer/app.js';

export type LogRecord = Record<string, unknown> & { msg: string };

export interface AppDeps {
  config: ApiConfig;
  images: ImageStore;
  runs: RunStarter;
  /** Starts and follows batchWorkflow; without it the batch routes answer 503 unavailable. */
  batches?: RunStarter<BatchInput>;
  /** Where triggers are kept; without it the trigger routes answer 503 and hooks 404. */
  triggers?: TriggerStore;
  /** Reads trigger images named by S3 bucket and key (the buckets of CGM_API_TRIGGER_BUCKETS). */
  sources?: SourceObjectReader;
  /** Confirms SNS subscriptions (default: GET the SNS SubscribeURL under the URL policy). */
  confirmSubscription?: SubscriptionConfirmer;
  /** DNS for the webhook URL policy (tests pass a fake). */
  lookup?: LookupFn;
  now?: () => number;
  /** Structured log sink; never receives keys or image bytes. */
  log?: (record: LogRecord) => void;
}

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

export function createApp(deps: AppDeps): OpenAPIHono<AuthEnv> {
  const app = new OpenAPIHono<AuthEnv>({
    // Uniform 400s: a failed zod validation of any route becomes {error: {code, message, field}}.
    defaultHook: (result) => {
      if (!result.success) throw fromZodError(result.error);
    },
  });

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
  registerDocRoutes(app);

  const limiter = createTokenBuckets({ ...deps.config.rateLimit, now: deps.now });
  const failures = createTokenBuckets({ ...FAILED_AUTH_LIMIT, now: deps.now });
  // Failed authentications count per client address everywhere under /v1, hooks included: a wrong
  // trigger signature costs like a wrong key. Hooks carry no API key (the trigger secret authenticates
  // them), so key checks and per-key limits skip them.
  app.use('/v1/*', failedAuthLimit(failures));
  registerHookRoute(app, deps);
  app.use(
    '/v1/*',
    except('/v1/hooks/*', apiKeyAuth(createKeyring(deps.config.keyHashes)), rateLimit(limiter)),
  );
  registerUploadRoutes(app, deps);
  registerCounterfactualRoutes(app, deps);
  registerBatchRoutes(app, deps);
  registerRunManifestRoute(app, deps);
  registerBatchRunRoutes(app, deps);
  registerWebhookSecretRoute(app, deps);
  registerTriggerRoutes(app, deps);
  app.route('/viewer', createViewerApp(deps));
  return app;
}
