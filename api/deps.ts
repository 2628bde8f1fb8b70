// What the API is built from (createApp's deps): configuration, the image store, the run and batch
// starters, the trigger store and readers, DNS and clock for tests, a log sink. Routes take the part they
// use (a Pick of AppDeps), so no route imports the app that mounts it.

import type { BatchInput } from '../core/schemas/batch-io.js';
import type { LookupFn } from '../core/webhooks/url-policy.js';
import type { ApiConfig } from './config.js';
import type { ImageStore } from './images.js';
import type { RunStarter } from './runs/types.js';
import type { SourceObjectReader } from './triggers/s3-source.js';
import type { SubscriptionConfirmer } from './triggers/sns-confirm.js';
import type { TriggerStore } from './triggers/store.js';

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
  /**
   * Whether a GPU worker with an LPIPS graph polls (core/gpu-capabilities.ts); batches that need LPIPS
   * are refused without one. Absent (the in-memory API of tests): not checked, runs on the entry queue.
   */
  lpipsWorkers?: () => Promise<boolean>;
  /** DNS for the webhook URL policy (tests pass a fake). */
  lookup?: LookupFn;
  now?: () => number;
  /** Structured log sink; never receives keys or image bytes. */
  log?: (record: LogRecord) => void;
}
