// The API's settings, taken from the one configuration (core/config: every CGM_* variable, the API's
// included, is declared and validated there). API keys are kept only as sha256 hashes.

import type { Config } from '../core/config/index.js';
import type { WebhookUrlPolicy } from '../core/webhooks/url-policy.js';
import { hashApiKey } from './middleware/auth.js';

export interface ApiConfig {
  host: string;
  port: number;
  /** sha256 hex of every accepted key; plain keys are never kept. */
  keyHashes: string[];
  rateLimit: Config['api']['rateLimit'];
  limits: Config['api']['limits'];
  presignTtlSeconds: number;
  webhookPolicy: WebhookUrlPolicy;
  /** Buckets a trigger may name (CGM_API_TRIGGER_BUCKETS): the API reads them with its own credentials. */
  triggerBuckets: string[];
  /** The operator's webhook signing secrets (CGM_WEBHOOK_SECRET and, during a rotation, _PREVIOUS). */
  webhookSecrets: { current?: string; previous?: string };
  /** Light queue: where runs and batches are started (CGM_TASK_QUEUE_LIGHT). */
  taskQueue: string;
  /** Entry queue of the GPU workers (CGM_TASK_QUEUE_GPU), passed to every run the API starts. */
  gpuTaskQueue: string;
}

/** The API's view of the configuration: keys only as hashes, limits, policies and queues. */
export function loadApiConfig(config: Config): ApiConfig {
  const { api, webhooks } = config;
  return {
    host: api.host,
    port: api.port,
    keyHashes: [...new Set([...api.keys.map(hashApiKey), ...api.keySha256])],
    rateLimit: api.rateLimit,
    limits: api.limits,
    presignTtlSeconds: api.presignTtlSeconds,
    webhookPolicy: webhooks.urlPolicy,
    triggerBuckets: api.triggerBuckets,
    webhookSecrets: {
      ...(webhooks.secret && { current: webhooks.secret }),
      ...(webhooks.previousSecret && { previous: webhooks.previousSecret }),
    },
    taskQueue: config.temporal.taskQueues.light,
    gpuTaskQueue: config.temporal.taskQueues.gpu,
  };
}

/** Defaults for tests and embedding; override what you need. */
export function defaultApiConfig(overrides: Partial<ApiConfig> = {}): ApiConfig {
  return {
    host: '127.0.0.1',
    port: 8787,
    keyHashes: [],
    rateLimit: { perMinute: 120, burst: 30 },
    limits: {
      maxJsonBytes: 1024 * 1024,
      maxImageBytes: 20 * 1024 * 1024,
      maxBatchFileBytes: 64 * 1024 * 1024,
      minImageSide: 64,
      maxImageSide: 4096,
    },
    presignTtlSeconds: 900,
    webhookPolicy: { allowPrivate: false, allowHttp: false, allowedHosts: [] },
    triggerBuckets: [],
    webhookSecrets: {},
    taskQueue: 'cgm-light',
    gpuTaskQueue: 'cgm-gpu',
    ...overrides,
  };
}
