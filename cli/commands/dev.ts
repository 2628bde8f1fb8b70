// `cgm dev`: the whole local stack in one command — Temporal + SeaweedFS (infra/local), `cgm worker
// light`, `cgm worker gpu` and `cgm api` as child processes — until Ctrl-C or SIGTERM, which stops
// exactly what it started: the API first (no new runs), then the workers, then the services (only if
// this `cgm dev` started them, not when it found them already running in its state folder).
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { type Config, ConfigError, loadConfig } from '../../core/config/index.js';
import { isPortFree } from '../../infra/local/ports.js';
import { REPO_ROOT, ServicesStartError, servicesDown, servicesUp } from '../../infra/local/services.js';
import type { ServicesState } from '../../infra/local/state.js';
import { CliError } from '../cli-error.js';
import { defineCommand, type OptionValues } from '../command-definition.js';
import { type SupervisedProcess, superviseProcess } from '../dev/supervised-process.js';
import { exportLines, repoPath, servicesConfig, stackEnv } from '../local-stack.js';
import { parsePort } from '../option-parsers.js';
import { ensureTinyModels } from '../tiny-models.js';

export const DEV = defineCommand({
  name: 'dev',
  synopsis: [
    'cgm dev [--state-dir DIR] [--no-api] [--api-port N] [--vlm-url URL] [--model DIR]',
    '    [--lpips DIR] [--fresh] [--quiet] [--json]',
  ],
  about: 'Starts Temporal + SeaweedFS, cgm worker light, cgm worker gpu and cgm api; Ctrl-C stops them all.',
  positionals: false,
  options: {
    'state-dir': { type: 'string', value: 'DIR', help: 'services data, PIDs and logs (default .state/dev)' },
    'no-api': { type: 'boolean', help: 'do not start the HTTP API' },
    'api-port': { type: 'string', value: 'N', help: 'API port (default $CGM_API_PORT, 8787)' },
    'vlm-url': {
      type: 'string',
      value: 'URL',
      help: 'OpenAI-compatible VLM endpoint for the light worker (default $CGM_VLM_BASE_URL)',
    },
    model: {
      type: 'string',
      value: 'DIR',
      help:
        'model bundle for the GPU worker (default $CGM_MODEL_DIR, else the tiny bundle in ' +
        '.cache/models/tiny, exported on first use)',
    },
    lpips: {
      type: 'string',
      value: 'DIR',
      help: 'LPIPS graph folder for the GPU worker (LPIPS per output; `cgm batch` needs it unless --no-lpips)',
    },
    fresh: { type: 'boolean', help: "wipe the services' data first" },
    quiet: { type: 'boolean', help: 'logs only to the files in <state-dir>/logs, not to the terminal' },
    json: { type: 'boolean', help: 'print where everything is as one JSON line on stdout once ready' },
  },
  footer:
    'API keys: CGM_API_KEYS / CGM_API_KEY_SHA256 when set; otherwise a key is generated for this session ' +
    'and printed once.',
});

/** How long a child may take to finish in-flight work after SIGTERM (the GPU worker's grace is 30 s). */
const CHILD_STOP_GRACE_MS = 40_000;

const say = (line: string) => process.stderr.write(`[dev] ${line}\n`);

interface DevPlan {
  stateDir: string;
  servicesDir: string;
  logsDir: string;
  modelDir: string;
  lpipsDir?: string;
  vlmUrl?: string;
  api: { port: number; generatedKey?: string } | null;
  fresh: boolean;
  echo: boolean;
  json: boolean;
}

export async function run(argv: string[]): Promise<number> {
  const args = DEV.parse(argv);
  if (!args) return 0;
  const { values } = args;
  let config: Config;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) throw new CliError(err.message, 2);
    throw err;
  }
  const plan = await planDev(values, config);
  return runStack(plan, config);
}

async function planDev(values: OptionValues<typeof DEV.options>, config: Config): Promise<DevPlan> {
  const stateDir = repoPath(values['state-dir'] ?? '.state/dev');
  const modelDir = resolve(values.model ?? config.engine.modelDir);
  // No model named anywhere: the tiny bundle at its default place, exported on first use (as the demo).
  const defaultTiny = values.model === undefined && !process.env.CGM_MODEL_DIR?.trim();
  if (defaultTiny && basename(modelDir) === 'bundle')
    await ensureTinyModels(dirname(modelDir), (line) => process.stderr.write(`cgm dev: ${line}\n`));
  if (!existsSync(join(modelDir, 'cgm-model.json')))
    throw new CliError(
      `--model ${modelDir}: no cgm-model.json there; make the tiny bundle with ` +
        '`cgm export-models --tiny --out .cache/models/tiny` or point --model / CGM_MODEL_DIR at a bundle',
      2,
    );
  const lpipsDir = values.lpips ? resolve(values.lpips) : undefined;
  if (lpipsDir && !existsSync(join(lpipsDir, 'cgm-lpips.json')))
    throw new CliError(`--lpips ${lpipsDir}: no cgm-lpips.json there (expected an LPIPS graph folder)`, 2);
  if (values['vlm-url'] !== undefined) {
    let url: URL | null = null;
    try {
      url = new URL(values['vlm-url']);
    } catch {
      url = null;
    }
    if (!url || !/^https?:$/.test(url.protocol))
      throw new CliError(
        `--vlm-url '${values['vlm-url']}': expected an http(s) URL such as http://127.0.0.1:8000/v1`,
        2,
      );
  }
  let api: DevPlan['api'] = null;
  if (!values['no-api']) {
    const port =
      values['api-port'] === undefined ? config.api.port : parsePort('--api-port', values['api-port']);
    if (!(await isPortFree(port)))
      throw new CliError(`--api-port ${port}: already in use on 127.0.0.1; choose another or --no-api`, 2);
    const configured = config.api.keys.length > 0 || Boolean(process.env.CGM_API_KEY_SHA256?.trim());
    api = { port, generatedKey: configured ? undefined : `cgm-dev-${randomBytes(24).toString('base64url')}` };
  }
  return {
    stateDir,
    servicesDir: join(stateDir, 'services'),
    logsDir: join(stateDir, 'logs'),
    modelDir,
    lpipsDir,
    vlmUrl: values['vlm-url'],
    api,
    fresh: values.fresh,
    echo: !values.quiet,
    json: values.json,
  };
}

/** Resolves with the first SIGINT/SIGTERM; the handlers stay until `dispose` so a second Ctrl-C is not fatal. */
function stopSignal(): { received: Promise<NodeJS.Signals>; fired(): boolean; dispose(): void } {
  let fired = false;
  let fire: (sig: NodeJS.Signals) => void = () => {};
  const received = new Promise<NodeJS.Signals>((r) => {
    fire = r;
  });
  const onSignal = (sig: NodeJS.Signals) => {
    say(`${sig}: stopping everything cgm dev started`);
    fired = true;
    fire(sig);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  return {
    received,
    fired: () => fired,
    dispose() {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    },
  };
}

function childEnv(plan: DevPlan, state: ServicesState): NodeJS.ProcessEnv {
  return {
    ...process.env,
    ...stackEnv(state),
    CGM_S3_FORCE_PATH_STYLE: 'true',
    CGM_MODEL_DIR: plan.modelDir,
    ...(plan.vlmUrl ? { CGM_VLM_BASE_URL: plan.vlmUrl } : {}),
    ...(plan.api ? { CGM_API_PORT: String(plan.api.port) } : {}),
    ...(plan.api?.generatedKey ? { CGM_API_KEYS: plan.api.generatedKey } : {}),
  };
}

async function runStack(plan: DevPlan, config: Config): Promise<number> {
  mkdirSync(plan.logsDir, { recursive: true });
  const signal = stopSignal();
  const children: SupervisedProcess[] = [];
  let ownServices = false;
  let exitCode = 0;
  try {
    say(`starting Temporal and SeaweedFS (state ${plan.servicesDir})`);
    let up: Awaited<ReturnType<typeof servicesUp>>;
    try {
      up = await servicesUp({
        ...servicesConfig(config),
        stateDir: plan.servicesDir,
        fresh: plan.fresh,
        log: (line) => say(line),
      });
    } catch (err) {
      if (err instanceof ServicesStartError) throw new CliError(err.message, 1);
      throw err;
    }
    ownServices = !up.alreadyRunning;
    if (up.alreadyRunning) say('services were already running in this state folder: they stay up afterwards');
    if (signal.fired()) return 130;

    const env = childEnv(plan, up.state);
    const cli = join(REPO_ROOT, 'bin/cgm.mjs');
    const start = (name: string, args: string[], ready: RegExp) => {
      const child = superviseProcess({
        name,
        args: [cli, ...args],
        env,
        cwd: REPO_ROOT,
        logFile: join(plan.logsDir, `${name}.log`),
        ready,
        readyTimeoutMs: config.services.startTimeoutMs,
        echo: plan.echo,
      });
      children.push(child);
      return child;
    };
    const gpuArgs = ['worker', 'gpu', ...(plan.lpipsDir ? ['--lpips', plan.lpipsDir] : [])];
    const light = start('light', ['worker', 'light'], /light worker polling/);
    const gpu = start('gpu', gpuArgs, /gpu worker: model .* host (\S+?)"/);
    const api = plan.api ? start('api', ['api'], /cgm api: listening on (\S+)/) : null;

    const interrupted = signal.received.then(() => null);
    const ready = await Promise.race([Promise.all(children.map((c) => c.ready)), interrupted]);
    if (ready === null) return 130;
    const apiUrl = api ? (await api.ready)[1] : null;
    const hostQueue = (await gpu.ready)[1];
    report(plan, up.state, { light, gpu, api, apiUrl, hostQueue, ownServices });

    const outcome = await Promise.race([
      signal.received.then((sig) => ({ sig })),
      ...children.map((c) => c.exited.then((exit) => ({ child: c, exit }))),
    ]);
    if ('child' in outcome) {
      say(
        `${outcome.child.name} exited unexpectedly (code ${outcome.exit.code}, signal ${outcome.exit.signal}); ` +
          `see ${outcome.child.logFile}; stopping the rest`,
      );
      exitCode = 1;
    }
    return exitCode;
  } catch (err) {
    if (children.length > 0) say(`start-up failed: ${(err as Error).message}`);
    throw err instanceof CliError ? err : new CliError((err as Error).message, 1);
  } finally {
    // The API first (no new runs), then both workers together, then the services.
    const api = children.find((c) => c.name === 'api');
    if (api) await stopChild(api);
    await Promise.all(children.filter((c) => c !== api).map(stopChild));
    if (ownServices) {
      const down = await servicesDown(plan.servicesDir);
      say(`services stopped (${down.stopped.map((s) => `${s.name}: ${s.outcome}`).join(', ') || 'none'})`);
    }
    signal.dispose();
  }
}

async function stopChild(child: SupervisedProcess): Promise<void> {
  const exit = await child.stop(CHILD_STOP_GRACE_MS);
  say(`${child.name} (pid ${child.pid}) stopped: code ${exit.code}, signal ${exit.signal}`);
}

function report(
  plan: DevPlan,
  state: ServicesState,
  p: {
    light: SupervisedProcess;
    gpu: SupervisedProcess;
    api: SupervisedProcess | null;
    apiUrl: string | null;
    hostQueue: string;
    ownServices: boolean;
  },
): void {
  const { temporal, s3 } = state.endpoints;
  const where = {
    status: 'ready',
    stateDir: plan.stateDir,
    temporal: { address: temporal.address, namespace: temporal.namespace, ui: null },
    s3: { endpoint: s3.endpoint, bucket: s3.bucket, region: s3.region },
    api: p.apiUrl
      ? { url: p.apiUrl, docs: `${p.apiUrl}/docs`, generatedKey: plan.api?.generatedKey ?? null }
      : null,
    gpuHostQueue: p.hostQueue,
    pids: {
      temporal: state.processes.temporal.pid,
      seaweedfs: state.processes.seaweedfs.pid,
      light: p.light.pid,
      gpu: p.gpu.pid,
      ...(p.api ? { api: p.api.pid } : {}),
    },
    ownServices: p.ownServices,
    logs: {
      temporal: state.processes.temporal.logFile,
      seaweedfs: state.processes.seaweedfs.logFile,
      light: p.light.logFile,
      gpu: p.gpu.logFile,
      ...(p.api ? { api: p.api.logFile } : {}),
    },
  };
  if (plan.json) {
    process.stdout.write(`${JSON.stringify(where)}\n`);
    return;
  }
  const out = (line: string) => process.stdout.write(`${line}\n`);
  out('cgm dev: the local stack is up (Ctrl-C stops all of it)');
  out(`  Temporal   ${temporal.address}  namespace ${temporal.namespace}  (headless dev server: no web UI)`);
  out(`  S3         ${s3.endpoint}  bucket ${s3.bucket}`);
  out(`  workers    light pid ${p.light.pid}; gpu pid ${p.gpu.pid}, host queue ${p.hostQueue}`);
  if (p.apiUrl) {
    out(`  API        ${p.apiUrl}  docs ${p.apiUrl}/docs  pid ${p.api?.pid}`);
    if (plan.api?.generatedKey)
      out(`  API key    ${plan.api.generatedKey}  (generated for this session, shown once)`);
  } else {
    out('  API        not started (--no-api)');
  }
  out(`  logs       ${plan.logsDir}`);
  out('\n# to use this stack from another shell (cgm run, cgm batch):');
  for (const line of exportLines({ ...stackEnv(state), CGM_MODEL_DIR: plan.modelDir })) out(line);
}
