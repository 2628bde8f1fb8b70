// POST /v1/uploads: a presigned PUT for one image (or one batch image list), keyed by its sha256. The
// bytes are checked by content when a run or batch names them (POST /v1/counterfactuals with
// image.sha256, POST /v1/batches with imagesFile), not here.
import { createRoute, type OpenAPIHono } from '@hono/zod-openapi';
import type { AppDeps } from '../deps.js';
import { ApiError } from '../errors.js';
import type { AuthEnv } from '../middleware/auth.js';
import { limitBody, parseJsonBody } from '../middleware/body.js';
import { BATCH_FILE_CONTENT_TYPE, UploadRequestSchema, UploadTicketSchema } from '../schemas.js';
import { errorResponses } from './error-responses.js';
import { routeApp } from './route-app.js';

export const uploadRoute = createRoute({
  method: 'post',
  path: '/v1/uploads',
  operationId: 'createUpload',
  summary: 'Get a presigned PUT URL for an image or a batch image list',
  description:
    'PUT the exact bytes to `upload.url` with `upload.headers`; then start a run with `{"image": {"sha256": …}}` ' +
    '(or, for an application/x-ndjson image list, a batch with `{"imagesFile": {"sha256": …}}`). ' +
    'When this key already uploaded the same bytes, `alreadyUploaded` is true and `upload` is null (200). ' +
    'Uploads are visible only to the key that made them: another key must PUT the bytes itself.',
  security: [{ apiKey: [] }],
  request: { body: { required: true, content: { 'application/json': { schema: UploadRequestSchema } } } },
  responses: {
    200: { description: 'already uploaded', content: { 'application/json': { schema: UploadTicketSchema } } },
    201: { description: 'upload ticket', content: { 'application/json': { schema: UploadTicketSchema } } },
    ...errorResponses(400, 401, 413, 415, 429, 503),
  },
});

export type UploadRouteDeps = Pick<AppDeps, 'now' | 'config' | 'images'>;

export function uploadRoutes(deps: UploadRouteDeps): OpenAPIHono<AuthEnv> {
  const app = routeApp();
  const { config, images } = deps;
  const now = deps.now ?? Date.now;
  const body = limitBody({ json: 16 * 1024, multipart: 0 }, ['json']);
  app.openapi({ ...uploadRoute, middleware: [body, parseJsonBody] }, async (c) => {
    const req = c.req.valid('json');
    const list = req.contentType === BATCH_FILE_CONTENT_TYPE;
    const limit = list ? config.limits.maxBatchFileBytes : config.limits.maxImageBytes;
    if (req.bytes > limit)
      throw new ApiError(
        'payload_too_large',
        `${list ? 'image list' : 'image'} of ${req.bytes} bytes exceeds the limit of ${limit}`,
        'bytes',
      );
    // Only this key's own uploads count: another key's copy of the same bytes is not revealed.
    const mine = images.forKey(c.get('keyId'));
    const existing = await mine.head(req.sha256);
    if (existing && existing.bytes === req.bytes)
      return c.json({ image: { sha256: req.sha256 }, alreadyUploaded: true, upload: null }, 200);
    const ttl = config.presignTtlSeconds;
    const { url, headers } = await mine.presignPut(req.sha256, req.contentType, req.bytes, ttl);
    return c.json(
      {
        image: { sha256: req.sha256 },
        alreadyUploaded: false,
        upload: {
          method: 'PUT' as const,
          url,
          headers,
          expiresAt: new Date(now() + ttl * 1000).toISOString(),
        },
      },
      201,
    );
  });
  return app;
}
