// Names and numbers that workflow code shares with the activities, schemas, API and CLI: failure types
// (ApplicationFailure.type) and which of them no retry can fix, query names, the run's stages, input
// defaults and bounds, the webhook retry policy. Workflow code imports this file, so it imports nothing:
// no zod, no node modules, no npm packages (tests/unit/constants.test.ts checks the file and the sides).

// ---- failure types ------------------------------------------------------------------------------------

/** VLM activities (activities/vlm/failures.ts). */
export const VLM_FAILURE = {
  /** Unreadable image, empty caption, unknown concept in a user's do(): fix the input. */
  invalidInput: 'VlmInvalidInput',
  /** The model kept answering with invalid JSON / schema / graph after every re-ask. */
  invalidAnswer: 'VlmInvalidAnswer',
  /** 4xx other than 408/429: wrong model name, bad key, unsupported request; fix the settings. */
  requestRejected: 'VlmRequestRejected',
  /** 429; retried after the server's Retry-After when it gives one. */
  rateLimited: 'VlmRateLimited',
  /** 5xx. */
  serverError: 'VlmServerError',
  /** No answer within the timeout (or 408). */
  timeout: 'VlmTimeout',
  /** Connection refused / reset / DNS. */
  connection: 'VlmConnectionError',
} as const;
export type VlmFailureType = (typeof VLM_FAILURE)[keyof typeof VLM_FAILURE];

/** VLM failures no retry can fix: thrown non-retryable, and named in the VLM proxy's retry policy. */
export const VLM_NON_RETRYABLE_TYPES: readonly VlmFailureType[] = [
  VLM_FAILURE.invalidInput,
  VLM_FAILURE.invalidAnswer,
  VLM_FAILURE.requestRejected,
];

/** The webhook activity (activities/webhooks/notify.ts). */
export const WEBHOOK_FAILURE = {
  /** The receiver answered 4xx (not 408/429) or redirected: fix the receiver or the URL. */
  rejected: 'WebhookRejected',
  /** The URL is refused by the policy (scheme, private address, allow-list). */
  forbidden: 'WebhookUrlForbidden',
  /** No secret to sign with. */
  misconfigured: 'WebhookMisconfigured',
  /** 408, 429, 5xx, timeouts, connection errors: retried by Temporal. */
  transient: 'WebhookTransient',
} as const;
export type WebhookFailureType = (typeof WEBHOOK_FAILURE)[keyof typeof WEBHOOK_FAILURE];

/** Webhook failures no retry can fix. */
export const WEBHOOK_NON_RETRYABLE_TYPES = [
  WEBHOOK_FAILURE.rejected,
  WEBHOOK_FAILURE.forbidden,
  WEBHOOK_FAILURE.misconfigured,
] as const;

/** The light activities other than VLM and webhooks (activities/light/index.ts). */
export const LIGHT_FAILURE = {
  /** The run manifest does not match RunManifestSchema. */
  manifestInvalid: 'ManifestInvalid',
} as const;
export type LightFailureType = (typeof LIGHT_FAILURE)[keyof typeof LIGHT_FAILURE];

export const LIGHT_NON_RETRYABLE_TYPES: readonly LightFailureType[] = [LIGHT_FAILURE.manifestInvalid];

/** The batch activities (activities/batch). */
export const BATCH_FAILURE = {
  /** The data set manifest or the batch settings cannot work; no retry can fix them. */
  invalidInput: 'BatchInvalidInput',
  /** A child run of an earlier attempt is still running; retried until it ends. */
  childStillRunning: 'BatchChildStillRunning',
} as const;
export type BatchFailureType = (typeof BATCH_FAILURE)[keyof typeof BATCH_FAILURE];

export const BATCH_NON_RETRYABLE_TYPES: readonly BatchFailureType[] = [BATCH_FAILURE.invalidInput];

/** Failure types the GPU activities throw (gpu-worker/activities/index.ts); no retry can fix either. */
export const GPU_FAILURE = {
  invalidInput: 'GpuInvalidInput',
  modelMismatch: 'GpuModelMismatch',
} as const;
export type GpuFailureType = (typeof GPU_FAILURE)[keyof typeof GPU_FAILURE];

/** Named in the GPU proxies' retry policy; the workflow never moves to another host for these. */
export const GPU_NON_RETRYABLE_TYPES: readonly GpuFailureType[] = [
  GPU_FAILURE.invalidInput,
  GPU_FAILURE.modelMismatch,
];

/** Failures the per-image workflow itself raises (workflows/counterfactual.ts), all non-retryable. */
export const RUN_FAILURE = {
  /** Input the schema would have refused (both interventions and do()s, editBatch out of bounds). */
  invalidInput: 'InvalidRunInput',
  /** hosts.maxHosts GPU hosts were lost before the edits were done. */
  hostsExhausted: 'GpuHostsExhausted',
} as const;

// ---- retry policies shared by several workflows -------------------------------------------------------

/** The webhook activity's retry policy (`proxyActivities({ retry: WEBHOOK_RETRY })`). */
export const WEBHOOK_RETRY = {
  initialInterval: '5s' as const,
  backoffCoefficient: 2,
  maximumInterval: '5m' as const,
  maximumAttempts: 8,
  nonRetryableErrorTypes: [...WEBHOOK_NON_RETRYABLE_TYPES],
};

// ---- queries ---------------------------------------------------------------------------------------------

/** The per-image workflow's progress query (answer: RunProgress, core/schemas/workflow-io.ts). */
export const PROGRESS_QUERY = 'progress';
/** The batch workflow's progress query (answer: BatchProgress, core/schemas/batch-io.ts). */
export const BATCH_PROGRESS_QUERY = 'batchProgress';

// ---- the per-image run ----------------------------------------------------------------------------------

/** The workflow's stages, in run order (docs/architecture.md §3; RunStageSchema). */
export const RUN_STAGES = [
  'describe',
  'extract',
  'propose',
  'plan',
  'invert',
  'edit',
  'evaluate',
  'manifest',
  'notify',
] as const;

/** The edit methods (EditMethodSchema), and the default of a run's `methods`. */
export const ALL_EDIT_METHODS = ['csg', 'ddpm', 'ddim'] as const;

/** Plans per GPU `edit` call when none is given (EditBatchSchema's default). */
export const DEFAULT_EDIT_BATCH_PLANS = 4;
/** The most plans one GPU `edit` call may carry (its UNet batch, and so memory, grows with them). */
export const MAX_EDIT_BATCH_PLANS = 16;

/** HostPolicySchema's defaults: the GPU entry queue and how long a host may stay silent. */
export const DEFAULT_HOST_POLICY = {
  gpuTaskQueue: 'cgm-gpu',
  hostScheduleToStartSeconds: 60,
  heartbeatSeconds: 60,
  maxHosts: 3,
} as const;

// ---- the batch ----------------------------------------------------------------------------------------------

/** BatchInputSchema's defaults: child runs in flight at once, and per workflow run before continue-as-new. */
export const DEFAULT_BATCH_WINDOW = 4;
export const DEFAULT_BATCH_PAGE_SIZE = 50;

// ---- input images ---------------------------------------------------------------------------------------
/** Widest aspect ratio (either way) an input image may have: SDXL's training buckets span about 1:4–4:1. */
export const MAX_ASPECT_RATIO = 4;
