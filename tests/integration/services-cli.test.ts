// `cgm services up|status|down` end to end, on a state folder of its own (not the suite's stack).
import { execFile } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { readProcArgv } from '../../infra/local/processes.js';
import { REPO_ROOT, servicesDown } from '../../infra/local/services.js';

const run = promisify(execFile);
const stateDir = join(REPO_ROOT, '.state/test-services-cli');
const cgm = (...args: string[]) =>
  run(process.execPath, [join(REPO_ROOT, 'bin/cgm.mjs'), 'services', ...args, '--state-dir', stateDir], {
    cwd: REPO_ROOT,
  }).then(
    (r) => ({ code: 0, stdout: r.stdout, stderr: r.stderr }),
    (e: { code: number; stdout: string; stderr: string }) => ({
      code: e.code,
      stdout: e.stdout,
      stderr: e.stderr,
    }),
  );

afterAll(async () => {
  await servicesDown(stateDir, 10_000); // in case an assertion failed between up and down
  rmSync(stateDir, { recursive: true, force: true });
});

describe('cgm services', () => {
  it('starts once, reports the running stack, and stops exactly its processes', async () => {
    const up = await cgm('up', '--json', '--fresh');
    expect(up.code, up.stderr).toBe(0);
    const first = JSON.parse(up.stdout);
    expect(first).toMatchObject({ status: 'running', alreadyRunning: false, stateDir });
    expect(first.temporal.address).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(first.s3.endpoint).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);

    const again = JSON.parse((await cgm('up', '--json')).stdout);
    expect(again.alreadyRunning).toBe(true);
    expect(again.pids).toEqual(first.pids);

    const status = await cgm('status');
    expect(status.code).toBe(0);
    expect(status.stdout).toContain('running');

    const down = JSON.parse((await cgm('down', '--json')).stdout);
    expect(down.stopped.map((s: { outcome: string }) => s.outcome)).toEqual(['stopped', 'stopped']);
    // Gone or a zombie awaiting its reaper (init adopted them when `up` exited): no live argv.
    for (const pid of Object.values(first.pids) as number[]) expect(readProcArgv(pid)).toBeNull();
    const after = await cgm('status', '--json');
    expect(after.code).toBe(3);
    expect(JSON.parse(after.stdout).status).toBe('stopped');
  });

  it('rejects an invalid fixed port with a one-line error', async () => {
    const bad = await cgm('up', '--temporal-port', '0');
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("--temporal-port: expected a port 1-65535 (got '0')");
  });
});
