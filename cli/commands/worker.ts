// `cgm worker light|gpu`: run a Temporal worker of the stack from the CGM_* configuration until
// SIGINT/SIGTERM. light = workflows + VLM + manifests + webhooks; gpu = engine thread + entry queue +
// this host's own queue (one GPU activity at a time).
import { resolve } from 'node:path';
import { NativeConnection, Runtime } from '@temporalio/worker';
import { createLightWorker } from '../../activities/worker.js';
import { loadConfig, temporalConnectOptions } from '../../core/config/index.js';
import { createLogger, temporalLogger } from '../../core/log/logger.js';
import { startEngine } from '../../gpu-worker/activities/engine.js';
import { createGpuWorkers } from '../../gpu-worker/worker.js';
import { defineCommand } from '../command-definition.js';
import { artifactStoreOf } from '../config-store.js';
import { parseDevice } from '../option-parsers.js';
import { stopSignal } from '../stop-signal.js';

export const WORKER = defineCommand({
  name: 'worker',
  synopsis: [
    'cgm worker light',
    'cgm worker gpu [--model DIR] [--lpips DIR] [--device cpu|cuda] [--allow-cpu-fallback]',
  ],
  about:
    '  light   workflows, VLM calls, run manifests, webhooks on $CGM_TASK_QUEUE_LIGHT\n' +
    "  gpu     the diffusion engine on $CGM_TASK_QUEUE_GPU plus this host's own queue",
  options: {
    model: { type: 'string', value: 'DIR', help: 'model bundle folder (default $CGM_MODEL_DIR)' },
    lpips: {
      type: 'string',
      value: 'DIR',
      help:
        'LPIPS graph folder (cgm-lpips.json): each output gets its LPIPS, and the worker also polls ' +
        '$CGM_TASK_QUEUE_GPU-lpips, the queue `cgm batch` needs; without it `cgm batch` refuses to ' +
        'start unless given --no-lpips (VLM-Eff only; the report warns that LPIPS is missing)',
    },
    device: {
      type: 'string',
      value: 'D',
      help: 'ONNX Runtime provider, cpu or cuda (default $CGM_ENGINE_DEVICE)',
    },
    'allow-cpu-fallback': { type: 'boolean', help: 'use the CPU with a warning when CUDA cannot start' },
  },
  footer: "The options are the GPU worker's (light ignores them).",
});

export async function run(argv: string[]): Promise<number> {
  const args = WORKER.parse(argv);
  if (!args) return 0;
  const { values, positionals } = args;
  const kind = positionals[0];
  if (positionals.length !== 1 || (kind !== 'light' && kind !== 'gpu'))
    throw WORKER.usageError(`expected light or gpu (got '${positionals.join(' ')}')`);
  const config = loadConfig();
  // One JSON log for the process: ours, Temporal's, and the workflows' and activities' (core/log).
  const logger = createLogger(`worker-${kind}`, config.logLevel);
  const log = (line: string) => logger.info(line);
  Runtime.install({ logger: temporalLogger(logger, config.logLevel) });
  const connection = await NativeConnection.connect(await temporalConnectOptions(config.temporal));
  const store = artifactStoreOf(config);
  try {
    if (kind === 'light') {
      const worker = await createLightWorker({
        connection,
        namespace: config.temporal.namespace,
        taskQueue: config.temporal.taskQueues.light,
        store,
        vlm: {
          settings: {
            baseURL: config.vlm.baseUrl,
            model: config.vlm.model,
            apiKey: config.vlm.apiKey,
            timeoutMs: config.vlm.timeoutMs,
            maxValidationRetries: config.vlm.maxValidationRetries,
          },
        },
        webhooks: {
          secret: config.webhooks.secret,
          previousSecret: config.webhooks.previousSecret,
          policy: config.webhooks.urlPolicy,
        },
      });
      log(`light worker polling ${config.temporal.taskQueues.light}`);
      void stopSignal().then((sig) => {
        log(`${sig}: shutting down`);
        // Temporal's Runtime may already be stopping the worker on the same signal.
        if (worker.getState() === 'RUNNING') worker.shutdown();
      });
      await worker.run();
      return 0;
    }
    const device = parseDevice(
      values.device === undefined ? 'CGM_ENGINE_DEVICE' : '--device',
      values.device ?? config.engine.device,
    );
    const engine = await startEngine({
      modelDir: resolve(values.model ?? config.engine.modelDir),
      device,
      allowCpuFallback: values['allow-cpu-fallback'],
      lpipsDir: values.lpips ? resolve(values.lpips) : undefined,
      log,
    });
    try {
      const workers = await createGpuWorkers({
        connection,
        namespace: config.temporal.namespace,
        entryQueue: config.temporal.taskQueues.gpu,
        engine,
        store,
      });
      const lpips = workers.lpipsEntry
        ? `, LPIPS entry ${workers.lpipsEntry.options.taskQueue}`
        : ', no LPIPS';
      log(
        `gpu worker: model ${engine.model.name} on ${engine.loaded.device}; entry ${config.temporal.taskQueues.gpu}${lpips}, host ${workers.hostQueue}`,
      );
      void stopSignal().then((sig) => {
        log(`${sig}: shutting down (an in-flight GPU step is cancelled after the grace time)`);
        workers.shutdown();
      });
      await workers.run();
      return 0;
    } finally {
      await engine.close();
    }
  } finally {
    await connection.close();
  }
}
