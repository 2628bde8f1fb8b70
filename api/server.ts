// Boots the API from configuration: one S3 client, one Temporal client, the app, a Node HTTP server.
// `cgm api` runs it; `cgm dev` can call startApiServer next to the workers.
import { serve } from '@hono/node-server';
import { Client, Connection } from '@temporalio/client';
import { createS3Client } from '../core/artifacts/index.js';
import { type Config, temporalConnectOptions } from '../core/config/index.js';
import { lpipsWorkersPolling } from '../core/gpu-capabilities.js';
import { createLogger, type Logger } from '../core/log/logger.js';
import { BATCH_PROGRESS_QUERY, type BatchInput } from '../core/schemas/batch-io.js';
import { createApp, type LogRecord } from './app.js';
import type { ApiConfig } from './config.js';
import { createS3ImageStore } from './images.js';
import { createTemporalRunStarter } from './runs/temporal.js';
import { createS3SourceReader } from './triggers/s3-source.js';
import { createS3TriggerStore } from './triggers/store.js';

export interface RunningApi {
  url: string;
  close(): Promise<void>;
}

/** The app's log records through the process logger (core/log): `level` picks the level, default info. */
export function logSink(logger: Logger): (record: LogRecord) => void {
  return ({ msg, level, ...fields }) => {
    const at = level === 'error' || level === 'warn' || level === 'debug' ? level : 'info';
    logger[at](fields, msg);
  };
}

export async function startApiServer(
  config: Config,
  api: ApiConfig,
  log: (record: LogRecord) => void = logSink(createLogger('api', config.logLevel)),
): Promise<RunningApi> {
  const s3 = createS3Client({
    endpoint: config.s3.endpoint,
    region: config.s3.region,
    accessKeyId: config.s3.accessKeyId,
    secretAccessKey: config.s3.secretAccessKey,
    forcePathStyle: config.s3.forcePathStyle,
  });
  const connection = await Connection.connect(await temporalConnectOptions(config.temporal));
  const client = new Client({ connection, namespace: config.temporal.namespace });
  const app = createApp({
    config: api,
    images: createS3ImageStore(s3, config.s3.bucket),
    runs: createTemporalRunStarter({ client, taskQueue: api.taskQueue }),
    batches: createTemporalRunStarter<BatchInput>({
      client,
      taskQueue: api.taskQueue,
      workflowType: 'batchWorkflow',
      progressQuery: BATCH_PROGRESS_QUERY,
    }),
    triggers: createS3TriggerStore(s3, config.s3.bucket),
    sources: createS3SourceReader(s3),
    lpipsWorkers: () =>
      lpipsWorkersPolling(connection.workflowService, config.temporal.namespace, api.gpuTaskQueue),
    log,
  });
  const server = await new Promise<ReturnType<typeof serve>>((resolve, reject) => {
    const s = serve({ fetch: app.fetch, port: api.port, hostname: api.host }, () => resolve(s));
    s.once('error', reject);
  });
  const url = `http://${api.host.includes(':') ? `[${api.host}]` : api.host}:${api.port}`;
  log({ msg: 'api listening', url, keys: api.keyHashes.length, taskQueue: api.taskQueue });
  return {
    url,
    async close() {
      await new Promise<void>((r) => server.close(() => r()));
      await connection.close();
      s3.destroy();
    },
  };
}
