// The API's settings: CGM_API_PORT and CGM_API_KEYS from core/config, plus the CGM_API_* variables
// below that only the API reads (listed in api/README.md). API keys are kept only as sha256 hashes.
import { z } from 'zod';
import type { WebhookUrlPolicy } from '../activities/webhooks/url-policy.js';
import type { Config } from '../core/config/index.js';
import { hashApiKey } from './middleware/auth.js';

const int = (min: number, max: number) =>
  z
    .string()
    .trim()
    .regex(/^\d+$/, 'expected a whole number')
    .transform(Number)
    .pipe(z.number().int().min(min).max(max));
const bool = z
  .string()
  .trim()
  .toLowerCase()
  .pipe(z.enum(['true', 'false', '1', '0', 'yes', 'no'], { error: 'expected true or false' }))
  .transform((v) => v === 'true' || v === '1' || v === 'yes');
const list = z.string().transform((v) =>
  v
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean),
);

/** Variable name → [schema, default, meaning]. */
export const API_ENV_VARS = {
  CGM_API_HOST: [z.string().trim().min(1), '127.0.0.1', 'address the API listens on'],
  CGM_API_KEY_SHA256: [
    list.pipe(z.array(z.string().regex(/^[0-9a-f]{64}$/, 'expected sha256 hex digests'))),
    '',
    'comma-separated sha256 hex digests of accepted API keys (`cgm api hash-key` prints one)',
  ],
  CGM_API_RATE_PER_MINUTE: [int(1, 1_000_000), '120', 'sustained requests per minute per API key'],
  CGM_API_RATE_BURST: [int(1, 100_000), '30', 'token-bucket burst per API key'],
  CGM_API_MAX_JSON_BYTES: [int(1_024, 64 * 1024 * 1024), String(1024 * 1024), 'largest JSON body (bytes)'],
  CGM_API_MAX_IMAGE_BYTES: [
    int(1_024, 512 * 1024 * 1024),
    String(20 * 1024 * 1024),
    'largest image, multipart or presigned (bytes)',
  ],
  CGM_API_MAX_BATCH_FILE_BYTES: [
    int(1_024, 1024 * 1024 * 1024),
    String(64 * 1024 * 1024),
    "largest uploaded batch image list (JSONL, POST /v1/batches' imagesFile) (bytes)",
  ],
  CGM_API_MIN_IMAGE_SIDE: [int(1, 65_535), '64', 'smallest accepted image width/height (px)'],
  CGM_API_MAX_IMAGE_SIDE: [int(1, 65_535), '4096', 'largest accepted image width/height (px)'],
  CGM_API_PRESIGN_TTL_SECONDS: [
    int(30, 7 * 24 * 3600),
    '900',
    'lifetime of presigned upload and artifact URLs',
  ],
  CGM_API_WEBHOOK_ALLOW_PRIVATE: [
    bool,
    'false',
    'allow webhooks to loopback/private addresses (development only)',
  ],
  CGM_API_WEBHOOK_ALLOW_HTTP: [bool, 'false', 'allow plain-http webhooks (development only)'],
  CGM_API_WEBHOOK_ALLOWED_HOSTS: [
    list,
    '',
    'if set, webhook hosts must match one entry (`*.example.com` ok)',
  ],
  CGM_API_TRIGGER_BUCKETS: [
    list,
    '',
    "comma-separated S3 buckets that triggers may read images from with the API's credentials (empty: none)",
  ],
} as const;

export interface ApiConfig {
  host: string;
  port: number;
  /** sha256 hex of every accepted key; plain keys are never kept. */
  keyHashes: string[];
  rateLimit: { perMinute: number; burst: number };
  limits: {
    maxJsonBytes: number;
    maxImageBytes: number;
    /** Largest uploaded batch image list (application/x-ndjson). */
    maxBatchFileBytes: number;
    minImageSide: number;
    maxImageSide: number;
  };
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

export class ApiConfigError extends Error {
  constructor(readonly issues: string[]) {
    super(`invalid API configuration:\n${issues.map((i) => `  ${i}`).join('\n')}`);
    this.name = 'ApiConfigError';
  }
}

type Env = Record<string, string | undefined>;

export function loadApiConfig(config: Config, env: Env = process.env): ApiConfig {
  const issues: string[] = [];
  const v: Record<string, unknown> = {};
  for (const [name, [schema, def]] of Object.entries(API_ENV_VARS)) {
    const raw = env[name]?.trim() ? env[name]! : def;
    const r = (schema as z.ZodType).safeParse(raw);
    if (r.success) v[name] = r.data;
    else
      issues.push(
        `${name}=${name === 'CGM_API_KEY_SHA256' ? '(hidden)' : JSON.stringify(raw)}: ${r.error.issues[0]?.message}`,
      );
  }
  if (issues.length === 0 && (v.CGM_API_MIN_IMAGE_SIDE as number) > (v.CGM_API_MAX_IMAGE_SIDE as number))
    issues.push('CGM_API_MIN_IMAGE_SIDE must not exceed CGM_API_MAX_IMAGE_SIDE');
  if (issues.length > 0) throw new ApiConfigError(issues);
  const keyHashes = [...new Set([...config.api.keys.map(hashApiKey), ...(v.CGM_API_KEY_SHA256 as string[])])];
  return {
    host: v.CGM_API_HOST as string,
    port: config.api.port,
    keyHashes,
    rateLimit: { perMinute: v.CGM_API_RATE_PER_MINUTE as number, burst: v.CGM_API_RATE_BURST as number },
    limits: {
      maxJsonBytes: v.CGM_API_MAX_JSON_BYTES as number,
      maxImageBytes: v.CGM_API_MAX_IMAGE_BYTES as number,
      maxBatchFileBytes: v.CGM_API_MAX_BATCH_FILE_BYTES as number,
      minImageSide: v.CGM_API_MIN_IMAGE_SIDE as number,
      maxImageSide: v.CGM_API_MAX_IMAGE_SIDE as number,
    },
    presignTtlSeconds: v.CGM_API_PRESIGN_TTL_SECONDS as number,
    webhookPolicy: {
      allowPrivate: v.CGM_API_WEBHOOK_ALLOW_PRIVATE as boolean,
      allowHttp: v.CGM_API_WEBHOOK_ALLOW_HTTP as boolean,
      allowedHosts: v.CGM_API_WEBHOOK_ALLOWED_HOSTS as string[],
    },
    triggerBuckets: v.CGM_API_TRIGGER_BUCKETS as string[],
    webhookSecrets: {
      ...(config.webhooks.secret && { current: config.webhooks.secret }),
      ...(config.webhooks.previousSecret && { previous: config.webhooks.previousSecret }),
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
