// GET /v1/webhook-secret: the calling key's own webhook signing secret. Every key's webhooks are signed
// with a secret derived from the operator's (activities/webhooks/signing.ts tenantSecret), so a receiver
// of one key's webhooks can verify them and cannot forge another key's. During a rotation the answer
// also holds the secret being replaced; deliveries then carry a signature by each.
import { createRoute, type OpenAPIHono, z } from '@hono/zod-openapi';
import { tenantSecret } from '../../activities/webhooks/signing.js';
import type { AppDeps } from '../deps.js';
import { ApiError } from '../errors.js';
import type { AuthEnv } from '../middleware/auth.js';
import { errorResponses } from './error-responses.js';
import { routeApp } from './route-app.js';

const SecretSchema = z
  .string()
  .regex(/^whsec_[A-Za-z0-9+/]+={0,2}$/)
  .openapi({ example: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw' });

export const WebhookSecretSchema = z
  .object({
    secret: SecretSchema.describe("verify this key's webhooks with it (Standard Webhooks, `whsec_…`)"),
    previousSecret: SecretSchema.optional().describe(
      'present while the operator rotates the signing secret: deliveries also carry a signature by it',
    ),
  })
  .openapi('WebhookSecret');

export const webhookSecretRoute = createRoute({
  method: 'get',
  path: '/v1/webhook-secret',
  operationId: 'getWebhookSecret',
  summary: "The secret that signs this API key's webhooks",
  description:
    'Webhooks of runs and batches started with this key are signed with this secret only (Standard ' +
    'Webhooks: webhook-id, webhook-timestamp, webhook-signature). While the operator rotates the signing ' +
    'secret, `previousSecret` is present and every delivery carries one signature by each. 503 ' +
    '`webhooks_not_configured` when the server has no signing secret (it then sends no webhooks).',
  security: [{ apiKey: [] }],
  responses: {
    200: {
      description: "the key's signing secret(s)",
      content: { 'application/json': { schema: WebhookSecretSchema } },
    },
    ...errorResponses(401, 429, 503),
  },
});

export type WebhookSecretRouteDeps = Pick<AppDeps, 'config'>;

export function webhookSecretRoutes(deps: WebhookSecretRouteDeps): OpenAPIHono<AuthEnv> {
  const app = routeApp();
  const { current, previous } = deps.config.webhookSecrets;
  app.openapi(webhookSecretRoute, (c) => {
    if (!current) {
      throw new ApiError(
        'webhooks_not_configured',
        'this server has no webhook signing secret, so it sends no webhooks; the operator sets CGM_WEBHOOK_SECRET',
      );
    }
    const keyId = c.get('keyId');
    c.header('Cache-Control', 'no-store');
    return c.json(
      {
        secret: tenantSecret(current, keyId),
        ...(previous ? { previousSecret: tenantSecret(previous, keyId) } : {}),
      },
      200,
    );
  });
  return app;
}
