// Port picking, the state file, and the PID-identity guard of the local service manager.
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { GRPC_PORT_OFFSET, isPortFree, PORT_RANGE, pickFreePorts } from '../../infra/local/ports.js';
import {
  argvMatches,
  isOurProcess,
  type ProcessRecord,
  readProcArgv,
  readProcStartTime,
  stopProcess,
} from '../../infra/local/processes.js';
import { ServicesStartError, servicesDown, servicesStatus, servicesUp } from '../../infra/local/services.js';
import {
  readState,
  type ServicesState,
  STATE_FILE,
  StateFileError,
  writeState,
} from '../../infra/local/state.js';

const cleanups: (() => void | Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});
const tempDir = () => {
  const dir = mkdtempSync(join(tmpdir(), 'cgm-services-test-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
};

describe('pickFreePorts', () => {
  it('returns distinct ports whose +10000 partners are distinct too and avoid excluded ports', async () => {
    // A deterministic sequence with collisions: 20001 repeats, 20002's partner 30002 is excluded.
    const seq = [20001, 20001, 20002, 20003, 20004];
    let i = 0;
    const ports = await pickFreePorts({
      count: 3,
      pairOffset: GRPC_PORT_OFFSET,
      exclude: [30002],
      random: () => seq[i++]!,
      isFree: async () => true,
    });
    expect(ports).toEqual([20001, 20003, 20004]);
  });

  it('skips ports (and partners) that are in use', async () => {
    const busy = new Set([20010, 30011]);
    const seq = [20010, 20011, 20012];
    let i = 0;
    const ports = await pickFreePorts({
      count: 1,
      pairOffset: GRPC_PORT_OFFSET,
      random: () => seq[i++]!,
      isFree: async (p) => !busy.has(p),
    });
    expect(ports).toEqual([20012]);
  });

  it('gives up with an actionable error instead of looping forever', async () => {
    await expect(pickFreePorts({ count: 1, isFree: async () => false, maxAttempts: 5 })).rejects.toThrow(
      /could not find 1 free loopback ports/,
    );
  });

  it('picks really free ports in the documented range', async () => {
    const ports = await pickFreePorts({ count: 3, pairOffset: GRPC_PORT_OFFSET });
    for (const p of ports) {
      expect(p).toBeGreaterThanOrEqual(PORT_RANGE.min);
      expect(p).toBeLessThanOrEqual(PORT_RANGE.max);
      expect(await isPortFree(p)).toBe(true);
    }
  });

  it('isPortFree sees a listening socket', async () => {
    const server: Server = createServer();
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    cleanups.push(() => new Promise<void>((r) => server.close(() => r())));
    const address = server.address();
    if (address === null || typeof address === 'string') throw new Error('no port');
    expect(await isPortFree(address.port)).toBe(false);
  });
});

function sleeper(): ProcessRecord {
  const argv = ['/bin/sleep', '300'];
  const child = spawn(argv[0]!, argv.slice(1), { detached: true, stdio: 'ignore' });
  const pid = child.pid!;
  const record: ProcessRecord = {
    name: 'sleeper',
    pid,
    pgid: pid,
    argv,
    startTime: null,
    logFile: '/dev/null',
  };
  cleanups.push(() => {
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {
      /* already stopped by the test */
    }
  });
  return record;
}

async function waitForStartTime(pid: number): Promise<string> {
  for (let i = 0; i < 50; i++) {
    const t = readProcStartTime(pid);
    if (t) return t;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error('no /proc entry');
}

describe('process identity', () => {
  it('recognises its own process and refuses one whose argv or start time differ (PID reuse)', async () => {
    const rec = sleeper();
    const startTime = await waitForStartTime(rec.pid);
    // /bin/sleep may need a moment to exec; wait until argv matches.
    for (let i = 0; i < 50 && !isOurProcess(rec); i++) await new Promise((r) => setTimeout(r, 20));
    expect(isOurProcess({ ...rec, startTime })).toBe(true);
    expect(isOurProcess({ ...rec, argv: ['/bin/sleep', '301'] })).toBe(false);
    expect(isOurProcess({ ...rec, startTime: '1' })).toBe(false);
  });

  it('never signals a process that is not the recorded one', async () => {
    const rec = sleeper();
    await waitForStartTime(rec.pid);
    expect(await stopProcess({ ...rec, argv: ['/usr/bin/weed', 'mini'] }, 500)).toBe('not-running');
    for (let i = 0; i < 50 && !isOurProcess(rec); i++) await new Promise((r) => setTimeout(r, 20));
    expect(isOurProcess(rec)).toBe(true); // still alive
    expect(await stopProcess(rec, 5_000)).toBe('stopped');
    expect(isOurProcess(rec)).toBe(false);
  });
});

const exampleState = (dir: string, temporal: ProcessRecord, seaweedfs: ProcessRecord): ServicesState => ({
  version: 1,
  stateDir: dir,
  startedAt: new Date(0).toISOString(),
  endpoints: {
    temporal: { address: '127.0.0.1:1', namespace: 'default' },
    s3: {
      endpoint: 'http://127.0.0.1:2',
      region: 'us-east-1',
      bucket: 'b',
      accessKeyId: 'a',
      secretAccessKey: 's',
      forcePathStyle: true,
    },
  },
  ports: { temporal: 1, s3: 2 },
  processes: { temporal, seaweedfs },
  startupMs: { temporal: 1, seaweedfs: 1 },
});

describe('state file', () => {
  it('round-trips and reports no state as null', () => {
    const dir = tempDir();
    expect(readState(dir)).toBeNull();
    const rec: ProcessRecord = { name: 't', pid: 1, pgid: 1, argv: ['x'], startTime: null, logFile: 'l' };
    const state = exampleState(dir, rec, { ...rec, name: 's' });
    writeState(dir, state);
    expect(readState(dir)).toEqual(state);
  });

  it('refuses a corrupt state file with a message saying what to do', () => {
    const dir = tempDir();
    writeFileSync(join(dir, STATE_FILE), '{"version":1');
    expect(() => readState(dir)).toThrow(StateFileError);
    expect(() => readState(dir)).toThrow(/stop stray processes by hand and delete it/);
  });

  it('status and down act only on recorded processes that are still ours', async () => {
    const dir = tempDir();
    const live = sleeper();
    await waitForStartTime(live.pid);
    for (let i = 0; i < 50 && !isOurProcess(live); i++) await new Promise((r) => setTimeout(r, 20));
    // The second record points at the live sleeper's PID under another command line: a reused PID.
    const impostor: ProcessRecord = { ...live, name: 'seaweedfs', argv: ['/nope/weed', 'mini'] };
    writeState(dir, exampleState(dir, { ...live, name: 'temporal' }, impostor));
    const status = servicesStatus(dir);
    expect(status.status).toBe('partial');
    expect(status.processes.map((p) => p.running)).toEqual([true, false]);
    const down = await servicesDown(dir, 5_000);
    expect(down.stopped.map((s) => s.outcome)).toEqual(['stopped', 'not-running']);
    expect(readState(dir)).toBeNull();
    expect(servicesStatus(dir).status).toBe('stopped');
  });
});

describe('servicesUp failures', () => {
  it('fails fast when a service exits during start-up, shows its log tail, and stops the other one', async () => {
    const dir = tempDir();
    const bin = join(dir, 'bin');
    mkdirSync(bin);
    // Stand-ins: `temporal` dies at once as on a port clash; `weed` would run forever.
    writeFileSync(
      join(bin, 'temporal'),
      '#!/bin/sh\necho "listen tcp: address already in use" >&2\nexit 1\n',
      {
        mode: 0o755,
      },
    );
    writeFileSync(join(bin, 'weed'), '#!/bin/sh\necho "fake weed up"\nsleep 300\n', { mode: 0o755 });
    const stateDir = join(dir, 'state');
    const error = await servicesUp({ stateDir, binDir: bin, startTimeoutMs: 60_000 }).catch(
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(ServicesStartError);
    const message = (error as Error).message;
    expect(message).toContain('Temporal dev server exited during start-up');
    expect(message).toContain('listen tcp: address already in use');
    expect(message).toContain('--- seaweedfs log');
    expect(readState(stateDir)).toBeNull();
    // The stand-in weed (and its `sleep` child, same process group) is gone.
    const leftovers = readdirSync('/proc')
      .filter((p) => /^\d+$/.test(p))
      .map((p) => readProcArgv(Number(p)))
      .filter((a) => a?.includes(join(bin, 'weed')));
    expect(leftovers).toEqual([]);
  });

  it('refuses a fixed port that is already taken, before starting anything', async () => {
    const server: Server = createServer();
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    cleanups.push(() => new Promise<void>((r) => server.close(() => r())));
    const address = server.address();
    if (address === null || typeof address === 'string') throw new Error('no port');
    const dir = tempDir();
    await expect(servicesUp({ stateDir: dir, ports: { temporal: address.port } })).rejects.toThrow(
      `Temporal port ${address.port} is already in use`,
    );
  });

  it('matches argv behind a script interpreter', () => {
    expect(argvMatches(['/bin/sh', '/x/weed', 'mini'], ['/x/weed', 'mini'])).toBe(true);
    expect(argvMatches(['/x/weed', 'mini'], ['/x/weed', 'mini'])).toBe(true);
    expect(argvMatches(['/x/weed', 'server'], ['/x/weed', 'mini'])).toBe(false);
  });
});
