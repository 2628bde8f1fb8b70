import { ConfigError, loadConfig } from '../../core/config/index.js';
import { ServicesStartError, servicesDown, servicesStatus, servicesUp } from '../../infra/local/services.js';
import type { ServicesState } from '../../infra/local/state.js';
import { StateFileError } from '../../infra/local/state.js';
import { CliError } from '../cli-error.js';
import { defineCommand } from '../command-definition.js';
import { exportLines, repoPath, servicesConfig, stackEnv } from '../local-stack.js';
import { parsePort } from '../option-parsers.js';

export const SERVICES = defineCommand({
  name: 'services',
  synopsis: ['cgm services <up|down|status> [options]'],
  about:
    '  up       start the Temporal dev server and SeaweedFS S3 on loopback (idempotent)\n' +
    "  down     stop exactly the processes 'up' started (verified by /proc)\n" +
    '  status   show whether they are running (exit 0 running, 3 stopped or partial)',
  options: {
    json: { type: 'boolean', help: 'machine-readable output' },
    'state-dir': {
      type: 'string',
      value: 'DIR',
      help: 'state folder (CGM_SERVICES_STATE_DIR, default .state/services)',
    },
    'temporal-port': {
      type: 'string',
      value: 'N',
      help: 'fixed Temporal port (CGM_SERVICES_TEMPORAL_PORT, default: a free port)',
    },
    's3-port': {
      type: 'string',
      value: 'N',
      help: 'fixed S3 port; N+10000 must be free too (CGM_SERVICES_S3_PORT)',
    },
    timeout: {
      type: 'string',
      value: 'SECONDS',
      help: 'start-up wait (CGM_SERVICES_START_TIMEOUT_MS, default 180)',
    },
    fresh: { type: 'boolean', help: 'up: stop leftovers and wipe data first' },
  },
});

function stateJson(state: ServicesState, extra: Record<string, unknown>): string {
  return JSON.stringify(
    {
      ...extra,
      temporal: state.endpoints.temporal,
      s3: state.endpoints.s3,
      stateDir: state.stateDir,
      pids: { temporal: state.processes.temporal.pid, seaweedfs: state.processes.seaweedfs.pid },
      logs: { temporal: state.processes.temporal.logFile, seaweedfs: state.processes.seaweedfs.logFile },
      startupMs: state.startupMs,
      startedAt: state.startedAt,
    },
    null,
    2,
  );
}

export async function run(argv: string[]): Promise<number> {
  const args = SERVICES.parse(argv);
  if (!args) return 0;
  const { values, positionals } = args;
  const [action, ...extra] = positionals;
  if (!action || extra.length > 0 || !['up', 'down', 'status'].includes(action))
    throw SERVICES.usageError(`expected up, down or status (got '${positionals.join(' ')}')`);
  let config: ReturnType<typeof loadConfig>;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) throw new CliError(err.message);
    throw err;
  }
  const stateDir = repoPath(values['state-dir'] ?? config.services.stateDir);
  const out = (s: string) => process.stdout.write(`${s}\n`);

  try {
    if (action === 'up') {
      const timeoutS = values.timeout === undefined ? undefined : Number(values.timeout);
      if (timeoutS !== undefined && !(timeoutS > 0))
        throw new CliError(`--timeout ${values.timeout}: expected seconds > 0`);
      const { state, alreadyRunning } = await servicesUp({
        ...servicesConfig(config),
        stateDir,
        ports: {
          temporal: optionalPort('--temporal-port', values['temporal-port']) ?? config.services.temporalPort,
          s3: optionalPort('--s3-port', values['s3-port']) ?? config.services.s3Port,
        },
        ...(timeoutS === undefined ? {} : { startTimeoutMs: timeoutS * 1000 }),
        fresh: values.fresh,
        log: values.json ? undefined : (line) => process.stderr.write(`${line}\n`),
      });
      if (values.json) {
        out(stateJson(state, { status: 'running', alreadyRunning }));
      } else {
        out(alreadyRunning ? `already running (started ${state.startedAt})` : 'started');
        out(
          `  Temporal  ${state.endpoints.temporal.address}  namespace ${state.endpoints.temporal.namespace}`,
        );
        out(
          `  S3        ${state.endpoints.s3.endpoint}  bucket ${state.endpoints.s3.bucket}  region ${state.endpoints.s3.region}`,
        );
        out(
          `  pids      temporal ${state.processes.temporal.pid}, seaweedfs ${state.processes.seaweedfs.pid}`,
        );
        out(`  state     ${state.stateDir}`);
        if (!alreadyRunning) {
          out(
            `  start-up  Temporal ${state.startupMs.temporal} ms, SeaweedFS ${state.startupMs.seaweedfs} ms`,
          );
        }
        out('\n# for workers and the API in this shell:');
        for (const line of exportLines(stackEnv(state))) out(line);
      }
      return 0;
    }
    if (action === 'down') {
      const result = await servicesDown(stateDir);
      if (values.json) {
        out(JSON.stringify({ status: 'stopped', ...result }, null, 2));
      } else if (result.stopped.length === 0) {
        out(`nothing recorded in ${stateDir}; nothing stopped`);
      } else {
        for (const s of result.stopped) out(`${s.name} (pid ${s.pid}): ${s.outcome}`);
      }
      return 0;
    }
    const status = servicesStatus(stateDir);
    if (values.json) {
      out(
        status.state
          ? stateJson(status.state, { status: status.status, processes: status.processes })
          : JSON.stringify({ status: 'stopped', stateDir }, null, 2),
      );
    } else if (!status.state) {
      out(`stopped (no services recorded in ${stateDir})`);
    } else {
      out(`${status.status}`);
      out(`  Temporal  ${status.state.endpoints.temporal.address}`);
      out(`  S3        ${status.state.endpoints.s3.endpoint}`);
      for (const p of status.processes) {
        out(`  ${p.name.padEnd(9)} pid ${p.pid} ${p.running ? 'running' : 'NOT running'}  log ${p.logFile}`);
      }
      if (status.status === 'partial') out(`run 'cgm services down' then 'cgm services up' to restart`);
    }
    return status.status === 'running' ? 0 : 3;
  } catch (err) {
    if (err instanceof ServicesStartError || err instanceof StateFileError)
      throw new CliError(err.message, 1);
    throw err;
  }
}

function optionalPort(flag: string, text: string | undefined): number | undefined {
  return text === undefined ? undefined : parsePort(flag, text);
}
