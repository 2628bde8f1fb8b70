// Triggers as a resource of the calling key: POST /v1/triggers (the secret is in this answer only),
// GET the list or one, PATCH to pause, resume or change the rate limit, DELETE, and GET a trigger's
// runs. Another key's trigger answers 404, as runs do. Everything is checked at creation (the run
// template, the webhook URL, the allowed sources), so a delivery only has its own content to check.
import { randomBytes } from 'node:crypto';
import { createRoute, type OpenAPIHono, z } from '@hono/zod-openapi';
import { checkWebhookUrl } from '../../core/webhooks/url-policy.js';
import type { AppDeps } from '../deps.js';
import { ApiError } from '../errors.js';
import type { AuthEnv } from '../middleware/auth.js';
import { limitBody, parseJsonBody } from '../middleware/body.js';
import { checkRunFields } from '../run-fields-check.js';
import {
  publicTrigger,
  type StoredTrigger,
  TriggerCreatedSchema,
  type TriggerCreateRequest,
  TriggerCreateRequestSchema,
  TriggerIdParamSchema,
  TriggerListSchema,
  TriggerPatchRequestSchema,
  TriggerRunsSchema,
  TriggerSchema,
} from '../triggers/schemas.js';
import { triggerSecret } from '../triggers/secret.js';
import type { TriggerStore } from '../triggers/store.js';
import { errorResponses } from './error-responses.js';
import { linksById } from './links.js';
import { routeApp } from './route-app.js';

/** Triggers one key may hold. */
export const MAX_TRIGGERS_PER_KEY = 100;
/** Runs GET /v1/triggers/{id}/runs answers with, newest first. */
export const TRIGGER_RUNS_LISTED = 100;

const security = [{ apiKey: [] }];

export const createTriggerRoute = createRoute({
  method: 'post',
  path: '/v1/triggers',
  operationId: 'createTrigger',
  summary: 'Create a trigger: deliveries to its hook URL start runs from its template',
  description:
    'The answer holds the trigger secret once (`secret`); it is derived from the server’s secret and never stored. ' +
    'Checked here: the run template as for POST /v1/counterfactuals (422 invalid_graph, unknown_concept, webhook_url_forbidden …), ' +
    'an image location that fits the source kind, and allowed sources for it: S3 buckets the server lets triggers read ' +
    '(CGM_API_TRIGGER_BUCKETS; never its own artifact bucket) or URL hosts. 503 webhooks_not_configured without CGM_WEBHOOK_SECRET.',
  security,
  request: { body: { content: { 'application/json': { schema: TriggerCreateRequestSchema } } } },
  responses: {
    201: {
      description: 'created',
      content: { 'application/json': { schema: TriggerCreatedSchema } },
      links: linksById('the trigger', {
        GetTrigger: 'getTrigger',
        DeleteTrigger: 'deleteTrigger',
        ListTriggerRuns: 'listTriggerRuns',
      }),
    },
    ...errorResponses(400, 401, 409, 413, 415, 422, 429, 503),
  },
});

export const listTriggersRoute = createRoute({
  method: 'get',
  path: '/v1/triggers',
  operationId: 'listTriggers',
  summary: "This key's triggers, oldest first",
  security,
  responses: {
    200: { description: 'the triggers', content: { 'application/json': { schema: TriggerListSchema } } },
    ...errorResponses(401, 429, 503),
  },
});

export const getTriggerRoute = createRoute({
  method: 'get',
  path: '/v1/triggers/{id}',
  operationId: 'getTrigger',
  summary: 'One trigger (without its secret)',
  security,
  request: { params: TriggerIdParamSchema },
  responses: {
    200: { description: 'the trigger', content: { 'application/json': { schema: TriggerSchema } } },
    ...errorResponses(400, 401, 404, 429, 503),
  },
});

export const patchTriggerRoute = createRoute({
  method: 'patch',
  path: '/v1/triggers/{id}',
  operationId: 'updateTrigger',
  summary: 'Pause or resume a trigger, or change its rate limit',
  security,
  request: {
    params: TriggerIdParamSchema,
    body: { content: { 'application/json': { schema: TriggerPatchRequestSchema } } },
  },
  responses: {
    200: {
      description: 'the trigger as changed',
      content: { 'application/json': { schema: TriggerSchema } },
    },
    ...errorResponses(400, 401, 404, 413, 415, 429, 503),
  },
});

export const deleteTriggerRoute = createRoute({
  method: 'delete',
  path: '/v1/triggers/{id}',
  operationId: 'deleteTrigger',
  summary: 'Delete a trigger: its hook answers 404 from now on; runs it started go on',
  security,
  request: { params: TriggerIdParamSchema },
  responses: {
    200: {
      description: 'deleted',
      content: {
        'application/json': {
          schema: z.object({ id: z.string(), deleted: z.literal(true) }).openapi('TriggerDeleted'),
        },
      },
    },
    ...errorResponses(400, 401, 404, 429, 503),
  },
});

export const rotateTriggerSecretRoute = createRoute({
  method: 'post',
  path: '/v1/triggers/{id}/secret',
  operationId: 'rotateTriggerSecret',
  summary: 'Give a trigger a new secret (shown in this answer only); the old one stops at once',
  description:
    'The hook URL stays. Deliveries signed with (or presenting) the old secret answer 401 invalid_signature from now on, ' +
    'so update the sender right after (a sender that retries will deliver again with the new secret).',
  security,
  request: { params: TriggerIdParamSchema },
  responses: {
    200: {
      description: 'the trigger with its new secret',
      content: { 'application/json': { schema: TriggerCreatedSchema } },
    },
    ...errorResponses(400, 401, 404, 429, 503),
  },
});

export const listTriggerRunsRoute = createRoute({
  method: 'get',
  path: '/v1/triggers/{id}/runs',
  operationId: 'listTriggerRuns',
  summary: `The runs a trigger started (the newest ${TRIGGER_RUNS_LISTED}), with their status`,
  security,
  request: { params: TriggerIdParamSchema },
  responses: {
    200: {
      description: "the trigger's runs",
      content: { 'application/json': { schema: TriggerRunsSchema } },
    },
    ...errorResponses(400, 401, 404, 429, 503),
  },
});

/** Rethrows a run-field error with its field under `run.`. */
function underRun(check: () => void): void {
  try {
    check();
  } catch (err) {
    if (err instanceof ApiError)
      throw new ApiError(err.code, err.message, err.field ? `run.${err.field}` : 'run', err.headers);
    throw err;
  }
}

/** The location that fits the source kind, and allowed sources for it. */
function checkSources(
  req: TriggerCreateRequest,
  deps: Pick<AppDeps, 'images' | 'config'>,
): StoredTrigger['image'] {
  const s3Events = req.source.kind === 's3-events';
  const image = req.image ?? (s3Events ? { from: 's3-record' as const } : undefined);
  if (!image)
    throw new ApiError(
      'validation_error',
      `image: a ${req.source.kind} trigger needs the image's location: {from: 'url', pointer} or {from: 's3', bucketPointer, keyPointer}`,
      'image',
    );
  if (s3Events !== (image.from === 's3-record'))
    throw new ApiError(
      'validation_error',
      s3Events
        ? `image.from: an s3-events trigger reads each record's bucket and key ('s3-record'), not '${image.from}'`
        : `image.from: 's3-record' is for s3-events triggers; a ${req.source.kind} trigger uses 'url' or 's3'`,
      'image.from',
    );
  if (image.from === 'url') {
    if (req.allow.urlHosts.length === 0)
      throw new ApiError(
        'validation_error',
        'allow.urlHosts: name the hosts images may come from (e.g. images.example.com or *.example.com)',
        'allow.urlHosts',
      );
    return image;
  }
  if (req.allow.buckets.length === 0)
    throw new ApiError(
      'validation_error',
      'allow.buckets: name the buckets (and key prefixes) images may come from',
      'allow.buckets',
    );
  for (const [i, b] of req.allow.buckets.entries()) {
    if (b.bucket === deps.images.bucket || !deps.config.triggerBuckets.includes(b.bucket))
      throw new ApiError(
        'validation_error',
        `allow.buckets[${i}].bucket: '${b.bucket}' is not a bucket this server lets triggers read; allowed: ${deps.config.triggerBuckets.join(', ') || '(none: the operator sets CGM_API_TRIGGER_BUCKETS)'}`,
        `allow.buckets[${i}].bucket`,
      );
  }
  return image;
}

export type TriggerRouteDeps = Pick<
  AppDeps,
  'config' | 'images' | 'log' | 'lookup' | 'now' | 'runs' | 'triggers'
>;

export function triggerRoutes(deps: TriggerRouteDeps): OpenAPIHono<AuthEnv> {
  const app = routeApp();
  const { config } = deps;
  const body = limitBody({ json: config.limits.maxJsonBytes, multipart: 0 }, ['json']);
  const store = (): TriggerStore => {
    if (!deps.triggers)
      throw new ApiError('unavailable', 'triggers are not available on this server (no trigger store)');
    return deps.triggers;
  };
  const owned = async (id: string, keyId: string): Promise<StoredTrigger> => {
    const t = await store().get(id);
    if (!t || t.owner !== keyId) throw new ApiError('not_found', `no trigger '${id}'`, 'id');
    return t;
  };

  app.openapi({ ...createTriggerRoute, middleware: [body, parseJsonBody] }, async (c) => {
    const keyId = c.get('keyId');
    const req = c.req.valid('json');
    const operator = config.webhookSecrets.current;
    if (!operator)
      throw new ApiError(
        'webhooks_not_configured',
        'trigger secrets are derived from the server’s webhook secret, which is not set; the operator sets CGM_WEBHOOK_SECRET',
      );
    const image = checkSources(req, deps);
    underRun(() => checkRunFields(req.run));
    if (req.run.webhookUrl) {
      const verdict = await checkWebhookUrl(req.run.webhookUrl, config.webhookPolicy, deps.lookup);
      if (!verdict.ok) throw new ApiError('webhook_url_forbidden', verdict.reason, 'run.webhookUrl');
    }
    if ((await store().list(keyId)).length >= MAX_TRIGGERS_PER_KEY)
      throw new ApiError(
        'validation_error',
        `this key already has ${MAX_TRIGGERS_PER_KEY} triggers, the most it may hold; delete one first`,
        null,
      );
    const trigger: StoredTrigger = {
      id: `trg_${randomBytes(12).toString('hex')}`,
      owner: keyId,
      salt: randomBytes(32).toString('hex'),
      createdAt: new Date(deps.now?.() ?? Date.now()).toISOString(),
      name: req.name,
      source: req.source,
      image,
      allow: req.allow,
      run: req.run,
      rateLimit: req.rateLimit,
      paused: req.paused,
    };
    await store().put(trigger);
    deps.log?.({ msg: 'trigger created', triggerId: trigger.id, keyId, kind: trigger.source.kind });
    c.header('Location', `/v1/triggers/${trigger.id}`);
    c.header('Cache-Control', 'no-store');
    return c.json(
      { ...publicTrigger(trigger), secret: triggerSecret(operator, trigger.id, trigger.salt) },
      201,
    );
  });

  app.openapi(listTriggersRoute, async (c) => {
    const triggers = await store().list(c.get('keyId'));
    return c.json({ triggers: triggers.map(publicTrigger) }, 200);
  });

  app.openapi(getTriggerRoute, async (c) => {
    const t = await owned(c.req.valid('param').id, c.get('keyId'));
    return c.json(publicTrigger(t), 200);
  });

  app.openapi({ ...patchTriggerRoute, middleware: [body, parseJsonBody] }, async (c) => {
    const t = await owned(c.req.valid('param').id, c.get('keyId'));
    const patch = c.req.valid('json');
    const changed: StoredTrigger = {
      ...t,
      ...(patch.paused !== undefined && { paused: patch.paused }),
      ...(patch.rateLimit && { rateLimit: patch.rateLimit }),
    };
    await store().put(changed);
    deps.log?.({ msg: 'trigger changed', triggerId: t.id, keyId: t.owner, paused: changed.paused });
    return c.json(publicTrigger(changed), 200);
  });

  app.openapi(deleteTriggerRoute, async (c) => {
    const t = await owned(c.req.valid('param').id, c.get('keyId'));
    await store().delete(t);
    deps.log?.({ msg: 'trigger deleted', triggerId: t.id, keyId: t.owner });
    return c.json({ id: t.id, deleted: true as const }, 200);
  });

  app.openapi(rotateTriggerSecretRoute, async (c) => {
    const t = await owned(c.req.valid('param').id, c.get('keyId'));
    const operator = config.webhookSecrets.current;
    if (!operator)
      throw new ApiError(
        'webhooks_not_configured',
        'trigger secrets are derived from the server’s webhook secret, which is not set; the operator sets CGM_WEBHOOK_SECRET',
      );
    // A new salt is a new secret: nothing else about the trigger changes.
    const rotated: StoredTrigger = { ...t, salt: randomBytes(32).toString('hex') };
    await store().put(rotated);
    deps.log?.({ msg: 'trigger secret rotated', triggerId: t.id, keyId: t.owner });
    c.header('Cache-Control', 'no-store');
    return c.json({ ...publicTrigger(rotated), secret: triggerSecret(operator, t.id, rotated.salt) }, 200);
  });

  app.openapi(listTriggerRunsRoute, async (c) => {
    const t = await owned(c.req.valid('param').id, c.get('keyId'));
    const records = (await store().listRuns(t.id))
      .sort((a, b) => (a.at < b.at ? 1 : a.at > b.at ? -1 : 0))
      .slice(0, TRIGGER_RUNS_LISTED);
    const runs = await Promise.all(
      records.map(async (r) => {
        const info = await deps.runs.describe(r.runId);
        return {
          id: r.runId,
          statusUrl: `/v1/counterfactuals/${r.runId}`,
          status: info?.status ?? 'unknown',
          createdAt: info?.createdAt ?? null,
          source: r.source,
          deliveryId: r.deliveryId,
        };
      }),
    );
    return c.json({ triggerId: t.id, runs }, 200);
  });
  return app;
}
