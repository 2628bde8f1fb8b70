// The one configuration of every process, read from CGM_* environment variables and validated by
// zod. Each variable is declared once below (name, description, default, parser), and both the
// typed Config and the README's configuration table are derived from those declarations.
import { z } from 'zod';
import type { WebhookUrlPolicy } from '../webhooks/url-policy.js';
import { BASELINE_PRESETS, PAPER_DEFAULTS } from './paper-defaults.js';

export interface EnvVarSpec {
  name: string;
  description: string;
  /** Shown in docs; undefined means "unset" (optional). */
  default: string | undefined;
  /** Never echoed in errors or docs output. */
  secret?: boolean;
  /** Parses the raw string (or the default). */
  schema: z.ZodType;
}

const nonEmpty = z.string().trim().min(1, 'expected a non-empty string');
const int = (min: number, max: number) =>
  z
    .string()
    .trim()
    .regex(/^-?\d+$/, 'expected an integer')
    .transform(Number)
    .pipe(z.number().int().min(min, `expected an integer ≥ ${min}`).max(max, `expected an integer ≤ ${max}`));
const port = int(1, 65_535);
const bool = z
  .string()
  .trim()
  .toLowerCase()
  .pipe(z.enum(['true', 'false', '1', '0', 'yes', 'no'], { error: 'expected true or false' }))
  .transform((v) => v === 'true' || v === '1' || v === 'yes');
const url = z
  .string()
  .trim()
  .pipe(z.url({ protocol: /^https?$/, error: 'expected an http(s) URL' }));
const hostPort = z
  .string()
  .trim()
  .regex(/^[A-Za-z0-9.-]+:\d{1,5}$/, 'expected host:port, e.g. 127.0.0.1:7233');
/** API keys shorter than this are refused at start (they could be guessed). */
export const MIN_API_KEY_LENGTH = 20;

const list = z.string().transform((v) =>
  v
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0),
);
const bucketName = z
  .string()
  .trim()
  .regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, 'expected an S3 bucket name (3-63 of a-z 0-9 . -)');

const spec = <S extends z.ZodType>(
  name: string,
  schema: S,
  defaultValue: string | undefined,
  description: string,
  secret = false,
) => ({ name, schema, default: defaultValue, description, secret }) satisfies EnvVarSpec;

/** Every CGM_* variable, in the order of the README table. */
export const ENV_VARS = {
  temporalAddress: spec('CGM_TEMPORAL_ADDRESS', hostPort, '127.0.0.1:7233', 'Temporal frontend gRPC address'),
  temporalNamespace: spec('CGM_TEMPORAL_NAMESPACE', nonEmpty, 'default', 'Temporal namespace'),
  temporalApiKey: spec(
    'CGM_TEMPORAL_API_KEY',
    nonEmpty,
    undefined,
    'Temporal Cloud API key (sent as a bearer token; turns TLS on)',
    true,
  ),
  temporalTls: spec(
    'CGM_TEMPORAL_TLS',
    z.enum(['auto', 'on', 'off'], { error: 'expected auto, on or off' }),
    'auto',
    'TLS to Temporal: auto = on when an API key or a client certificate is set',
  ),
  temporalTlsCert: spec(
    'CGM_TEMPORAL_TLS_CERT',
    nonEmpty,
    undefined,
    'PEM client certificate file for mTLS (Temporal Cloud certificate auth); needs CGM_TEMPORAL_TLS_KEY',
  ),
  temporalTlsKey: spec(
    'CGM_TEMPORAL_TLS_KEY',
    nonEmpty,
    undefined,
    'PEM private key file of CGM_TEMPORAL_TLS_CERT',
  ),
  temporalTlsServerName: spec(
    'CGM_TEMPORAL_TLS_SERVER_NAME',
    nonEmpty,
    undefined,
    'TLS server name override (SNI), e.g. behind a proxy',
  ),
  taskQueueLight: spec(
    'CGM_TASK_QUEUE_LIGHT',
    nonEmpty,
    'cgm-light',
    'task queue of workflows, VLM, webhooks, reports',
  ),
  taskQueueGpu: spec('CGM_TASK_QUEUE_GPU', nonEmpty, 'cgm-gpu', 'entry task queue of the GPU workers'),
  s3Endpoint: spec(
    'CGM_S3_ENDPOINT',
    url,
    'http://127.0.0.1:8333',
    'S3 endpoint URL (SeaweedFS/MinIO); set to an AWS regional endpoint for AWS S3',
  ),
  s3Region: spec('CGM_S3_REGION', nonEmpty, 'us-east-1', 'S3 region'),
  s3Bucket: spec(
    'CGM_S3_BUCKET',
    bucketName,
    'cgm-artifacts',
    'bucket for all artifacts (created on first use)',
  ),
  s3AccessKeyId: spec(
    'CGM_S3_ACCESS_KEY_ID',
    nonEmpty,
    undefined,
    'S3 access key; unset uses the AWS default credential chain',
    true,
  ),
  s3SecretAccessKey: spec('CGM_S3_SECRET_ACCESS_KEY', nonEmpty, undefined, 'S3 secret key', true),
  s3ForcePathStyle: spec(
    'CGM_S3_FORCE_PATH_STYLE',
    bool,
    'true',
    'path-style S3 URLs (needed for loopback servers)',
  ),
  vlmBaseUrl: spec('CGM_VLM_BASE_URL', url, 'http://127.0.0.1:8000/v1', 'OpenAI-compatible VLM endpoint'),
  vlmModel: spec(
    'CGM_VLM_MODEL',
    nonEmpty,
    'Qwen/Qwen3-VL-30B-A3B-Instruct',
    'VLM model name (the paper’s VLM)',
  ),
  vlmApiKey: spec('CGM_VLM_API_KEY', nonEmpty, undefined, 'VLM API key, if the endpoint needs one', true),
  vlmTimeoutMs: spec(
    'CGM_VLM_TIMEOUT_MS',
    int(1_000, 3_600_000),
    '120000',
    'timeout of one VLM request (ms)',
  ),
  vlmMaxValidationRetries: spec(
    'CGM_VLM_MAX_VALIDATION_RETRIES',
    int(0, 10),
    '2',
    're-asks when a VLM answer fails schema validation',
  ),
  engineDevice: spec(
    'CGM_ENGINE_DEVICE',
    z
      .string()
      .trim()
      .pipe(z.enum(['cpu', 'cuda'], { error: 'expected cpu or cuda' })),
    'cpu',
    'ONNX Runtime execution provider of the engine',
  ),
  modelDir: spec(
    'CGM_MODEL_DIR',
    nonEmpty,
    '.cache/models/tiny/bundle',
    'model bundle folder (cgm-model.json inside)',
  ),
  webhookSecret: spec(
    'CGM_WEBHOOK_SECRET',
    nonEmpty,
    undefined,
    'signing key of outgoing webhooks (whsec_<base64>, Standard Webhooks); each API key signs with its own secret derived from it (GET /v1/webhook-secret); unset, no webhook is sent and the run progress says why: webhooks are never unsigned',
    true,
  ),
  webhookSecretPrevious: spec(
    'CGM_WEBHOOK_SECRET_PREVIOUS',
    nonEmpty,
    undefined,
    'during a rotation, the signing key being replaced: every webhook then carries a signature by each, so receivers can move to the new secret at their pace; unset once they have',
    true,
  ),
  apiPort: spec('CGM_API_PORT', port, '8787', 'HTTP API port'),
  apiKeys: spec(
    'CGM_API_KEYS',
    list.refine((keys) => keys.every((k) => k.length >= MIN_API_KEY_LENGTH), {
      // The key itself is never echoed: an error message may end up in a log.
      error: `every key must be at least ${MIN_API_KEY_LENGTH} characters (a short key can be guessed; \`cgm dev\` makes one of 40)`,
    }),
    '',
    `comma-separated API keys accepted by the HTTP API, each at least ${MIN_API_KEY_LENGTH} characters`,
    true,
  ),
  // The HTTP API's own settings (api/config.ts maps them to the API's view).
  apiHost: spec('CGM_API_HOST', nonEmpty, '127.0.0.1', 'address the API listens on'),
  apiKeySha256: spec(
    'CGM_API_KEY_SHA256',
    list.pipe(z.array(z.string().regex(/^[0-9a-f]{64}$/, 'expected sha256 hex digests'))),
    '',
    'comma-separated sha256 hex digests of accepted API keys (`cgm api hash-key` prints one)',
    true,
  ),
  apiRatePerMinute: spec(
    'CGM_API_RATE_PER_MINUTE',
    int(1, 1_000_000),
    '120',
    'sustained requests per minute per API key',
  ),
  apiRateBurst: spec('CGM_API_RATE_BURST', int(1, 100_000), '30', 'token-bucket burst per API key'),
  apiMaxJsonBytes: spec(
    'CGM_API_MAX_JSON_BYTES',
    int(1_024, 64 * 1024 * 1024),
    String(1024 * 1024),
    'largest JSON body (bytes)',
  ),
  apiMaxImageBytes: spec(
    'CGM_API_MAX_IMAGE_BYTES',
    int(1_024, 512 * 1024 * 1024),
    String(20 * 1024 * 1024),
    'largest image, multipart or presigned (bytes)',
  ),
  apiMaxBatchFileBytes: spec(
    'CGM_API_MAX_BATCH_FILE_BYTES',
    int(1_024, 1024 * 1024 * 1024),
    String(64 * 1024 * 1024),
    "largest uploaded batch image list (JSONL, POST /v1/batches' imagesFile) (bytes)",
  ),
  apiMinImageSide: spec(
    'CGM_API_MIN_IMAGE_SIDE',
    int(1, 65_535),
    '64',
    'smallest accepted image width/height (px)',
  ),
  apiMaxImageSide: spec(
    'CGM_API_MAX_IMAGE_SIDE',
    int(1, 65_535),
    '4096',
    'largest accepted image width/height (px)',
  ),
  apiPresignTtlSeconds: spec(
    'CGM_API_PRESIGN_TTL_SECONDS',
    int(30, 7 * 24 * 3600),
    '900',
    'lifetime of presigned upload and artifact URLs',
  ),
  apiTriggerBuckets: spec(
    'CGM_API_TRIGGER_BUCKETS',
    list,
    '',
    "comma-separated S3 buckets that triggers may read images from with the API's credentials (empty: none)",
  ),
  // Where webhooks may go: read by the API when a run is submitted and by the light worker before each
  // delivery (core/webhooks/url-policy.ts).
  webhookAllowPrivate: spec(
    'CGM_API_WEBHOOK_ALLOW_PRIVATE',
    bool,
    'false',
    'allow webhooks to loopback/private addresses (development only)',
  ),
  webhookAllowHttp: spec(
    'CGM_API_WEBHOOK_ALLOW_HTTP',
    bool,
    'false',
    'allow plain-http webhooks (development only)',
  ),
  webhookAllowedHosts: spec(
    'CGM_API_WEBHOOK_ALLOWED_HOSTS',
    list,
    '',
    'if set, webhook hosts must match one entry (`*.example.com` ok)',
  ),
  logLevel: spec(
    'CGM_LOG_LEVEL',
    z
      .string()
      .trim()
      .toLowerCase()
      .pipe(z.enum(['debug', 'info', 'warn', 'error'], { error: 'expected debug, info, warn or error' })),
    'info',
    'level of the JSON log on stderr of the API and the workers (docs/architecture.md §2.5)',
  ),
  servicesStateDir: spec(
    'CGM_SERVICES_STATE_DIR',
    nonEmpty,
    '.state/services',
    '`cgm services` state folder (PIDs, logs, data)',
  ),
  servicesBinDir: spec(
    'CGM_SERVICES_BIN_DIR',
    nonEmpty,
    '.venv/bin',
    'folder with the `temporal` and `weed` binaries',
  ),
  servicesTemporalPort: spec(
    'CGM_SERVICES_TEMPORAL_PORT',
    port,
    undefined,
    'fixed Temporal port for `cgm services up` (unset: free port)',
  ),
  servicesS3Port: spec(
    'CGM_SERVICES_S3_PORT',
    port,
    undefined,
    'fixed S3 port for `cgm services up` (unset: free port; +10000 must be free too)',
  ),
  servicesStartTimeoutMs: spec(
    'CGM_SERVICES_START_TIMEOUT_MS',
    int(1_000, 3_600_000),
    '180000',
    'how long `cgm services up` waits for both services (ms)',
  ),
} as const;

type Specs = typeof ENV_VARS;
type Parsed<K extends keyof Specs> = z.output<Specs[K]['schema']>;
/** Variables without a default; checked against ENV_VARS by the unit tests. */
export const OPTIONAL_VARS = [
  'temporalApiKey',
  'temporalTlsCert',
  'temporalTlsKey',
  'temporalTlsServerName',
  's3AccessKeyId',
  's3SecretAccessKey',
  'vlmApiKey',
  'webhookSecret',
  'webhookSecretPrevious',
  'servicesTemporalPort',
  'servicesS3Port',
] as const satisfies readonly (keyof Specs)[];
type Values = {
  [K in keyof Specs]: K extends (typeof OPTIONAL_VARS)[number] ? Parsed<K> | undefined : Parsed<K>;
};

/** CGM_* names read elsewhere (scripts), known so they are not reported as typos. */
const OTHER_KNOWN = ['CGM_PYTHON'];

export interface Config {
  temporal: {
    address: string;
    namespace: string;
    taskQueues: { light: string; gpu: string };
    apiKey: string | undefined;
    tls: {
      mode: 'auto' | 'on' | 'off';
      certFile: string | undefined;
      keyFile: string | undefined;
      serverName: string | undefined;
    };
  };
  s3: {
    endpoint: string;
    region: string;
    bucket: string;
    accessKeyId: string | undefined;
    secretAccessKey: string | undefined;
    forcePathStyle: boolean;
  };
  vlm: {
    baseUrl: string;
    model: string;
    apiKey: string | undefined;
    timeoutMs: number;
    maxValidationRetries: number;
  };
  engine: { device: 'cpu' | 'cuda'; modelDir: string };
  api: {
    port: number;
    host: string;
    /** Plain keys (CGM_API_KEYS), hashed by the API at load. */
    keys: string[];
    keySha256: string[];
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
    triggerBuckets: string[];
  };
  webhooks: {
    secret: string | undefined;
    previousSecret: string | undefined;
    urlPolicy: WebhookUrlPolicy;
  };
  logLevel: 'debug' | 'info' | 'warn' | 'error';
  services: {
    stateDir: string;
    binDir: string;
    temporalPort: number | undefined;
    s3Port: number | undefined;
    startTimeoutMs: number;
  };
  paper: typeof PAPER_DEFAULTS;
  baselines: typeof BASELINE_PRESETS;
}

export interface ConfigIssue {
  variable: string;
  /** The offending value, or '(hidden)' for secrets. */
  value: string;
  expected: string;
}

/** One or more variables are invalid; the message lists each with its value and what was expected. */
export class ConfigError extends Error {
  constructor(readonly issues: ConfigIssue[]) {
    super(
      `invalid configuration:\n${issues.map((i) => `  ${i.variable}=${i.value}: ${i.expected}`).join('\n')}\n` +
        'fix the environment variables above (see the configuration table in README.md)',
    );
    this.name = 'ConfigError';
  }
}

type Env = Record<string, string | undefined>;

/** Reads and validates every CGM_* variable; empty strings count as unset. Throws ConfigError. */
export function loadConfig(env: Env = process.env): Config {
  const issues: ConfigIssue[] = [];
  const values: Record<string, unknown> = {};
  for (const [key, s] of Object.entries(ENV_VARS) as [string, EnvVarSpec][]) {
    const raw = env[s.name];
    const input = raw === undefined || raw.trim() === '' ? s.default : raw;
    if (input === undefined) {
      values[key] = undefined;
      continue;
    }
    const result = s.schema.safeParse(input);
    if (result.success) {
      values[key] = result.data;
    } else {
      issues.push({
        variable: s.name,
        value: s.secret ? '(hidden)' : JSON.stringify(input),
        expected: result.error.issues.map((i) => i.message).join('; '),
      });
    }
  }
  const v = values as Values;
  if ((v.s3AccessKeyId === undefined) !== (v.s3SecretAccessKey === undefined)) {
    issues.push({
      variable: v.s3AccessKeyId === undefined ? 'CGM_S3_ACCESS_KEY_ID' : 'CGM_S3_SECRET_ACCESS_KEY',
      value: '(unset)',
      expected: 'set both CGM_S3_ACCESS_KEY_ID and CGM_S3_SECRET_ACCESS_KEY, or neither',
    });
  }
  if ((v.temporalTlsCert === undefined) !== (v.temporalTlsKey === undefined)) {
    issues.push({
      variable: v.temporalTlsCert === undefined ? 'CGM_TEMPORAL_TLS_CERT' : 'CGM_TEMPORAL_TLS_KEY',
      value: '(unset)',
      expected: 'set both CGM_TEMPORAL_TLS_CERT and CGM_TEMPORAL_TLS_KEY (mTLS), or neither',
    });
  }
  if (v.temporalTls === 'off' && (v.temporalApiKey !== undefined || v.temporalTlsCert !== undefined)) {
    issues.push({
      variable: 'CGM_TEMPORAL_TLS',
      value: '"off"',
      expected: 'auto or on: an API key or client certificate must not travel without TLS',
    });
  }
  if (v.apiMinImageSide > v.apiMaxImageSide) {
    issues.push({
      variable: 'CGM_API_MIN_IMAGE_SIDE',
      value: JSON.stringify(String(v.apiMinImageSide)),
      expected: `at most CGM_API_MAX_IMAGE_SIDE (${v.apiMaxImageSide})`,
    });
  }
  if (issues.length > 0) throw new ConfigError(issues);
  return {
    temporal: {
      address: v.temporalAddress,
      namespace: v.temporalNamespace,
      taskQueues: { light: v.taskQueueLight, gpu: v.taskQueueGpu },
      apiKey: v.temporalApiKey,
      tls: {
        mode: v.temporalTls,
        certFile: v.temporalTlsCert,
        keyFile: v.temporalTlsKey,
        serverName: v.temporalTlsServerName,
      },
    },
    s3: {
      endpoint: v.s3Endpoint,
      region: v.s3Region,
      bucket: v.s3Bucket,
      accessKeyId: v.s3AccessKeyId,
      secretAccessKey: v.s3SecretAccessKey,
      forcePathStyle: v.s3ForcePathStyle,
    },
    vlm: {
      baseUrl: v.vlmBaseUrl,
      model: v.vlmModel,
      apiKey: v.vlmApiKey,
      timeoutMs: v.vlmTimeoutMs,
      maxValidationRetries: v.vlmMaxValidationRetries,
    },
    engine: { device: v.engineDevice, modelDir: v.modelDir },
    api: {
      port: v.apiPort,
      host: v.apiHost,
      keys: v.apiKeys,
      keySha256: v.apiKeySha256,
      rateLimit: { perMinute: v.apiRatePerMinute, burst: v.apiRateBurst },
      limits: {
        maxJsonBytes: v.apiMaxJsonBytes,
        maxImageBytes: v.apiMaxImageBytes,
        maxBatchFileBytes: v.apiMaxBatchFileBytes,
        minImageSide: v.apiMinImageSide,
        maxImageSide: v.apiMaxImageSide,
      },
      presignTtlSeconds: v.apiPresignTtlSeconds,
      triggerBuckets: v.apiTriggerBuckets,
    },
    webhooks: {
      secret: v.webhookSecret,
      previousSecret: v.webhookSecretPrevious,
      urlPolicy: {
        allowPrivate: v.webhookAllowPrivate,
        allowHttp: v.webhookAllowHttp,
        allowedHosts: v.webhookAllowedHosts,
      },
    },
    logLevel: v.logLevel,
    services: {
      stateDir: v.servicesStateDir,
      binDir: v.servicesBinDir,
      temporalPort: v.servicesTemporalPort,
      s3Port: v.servicesS3Port,
      startTimeoutMs: v.servicesStartTimeoutMs,
    },
    paper: PAPER_DEFAULTS,
    baselines: BASELINE_PRESETS,
  };
}

/** CGM_* variables in `env` that no part of the project reads: most likely typos. */
export function unknownCgmVariables(env: Env = process.env): string[] {
  const known = new Set<string>([...Object.values(ENV_VARS).map((s) => s.name), ...OTHER_KNOWN]);
  return Object.keys(env)
    .filter((k) => k.startsWith('CGM_') && !known.has(k))
    .sort();
}

/** The README's configuration table, generated from ENV_VARS so docs and code cannot drift. */
export function renderConfigTable(): string {
  const esc = (s: string) => s.replace(/\|/g, '\\|');
  const rows = (Object.values(ENV_VARS) as EnvVarSpec[]).map(
    (s) =>
      `| \`${s.name}\` | ${s.default === undefined ? '(unset)' : s.default === '' ? '(empty)' : `\`${esc(s.default)}\``} | ${esc(s.description)} |`,
  );
  return ['| variable | default | meaning |', '|---|---|---|', ...rows].join('\n');
}
