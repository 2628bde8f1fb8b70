// `cgm worker light`, `cgm worker gpu` as real processes from CGM_* configuration, and `cgm run`
// driving one image through them (user-graph path): the manifest ref on stdout, workers stop on SIGTERM.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createArtifactStore, createS3Client } from '../../core/artifacts/index.js';
import { RunManifestSchema } from '../../core/schemas/run-manifest.js';
import { ensureTinyFixtures } from '../support/fixtures.js';

const services = inject('cgmServices');
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const EXAMPLE = `${ROOT}examples/rainy-street/`;
const suffix = `${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 6)}`;

const LAUNCHER = `${ROOT}.cache/tmp/cgm-command-${process.pid}.mjs`;
let env: NodeJS.ProcessEnv;
const children: { name: string; child: ChildProcess; log: string[] }[] = [];

/**
 * Runs `cgm <command> <args>` through the command module (the lead registers the commands in
 * cli/main.ts). A launcher file, not `node -e`: the engine's worker thread inherits execArgv, and
 * `--input-type` would break it.
 */
function cgm(command: 'worker' | 'run', args: string[]) {
  return spawn(process.execPath, [LAUNCHER, `${ROOT}cli/commands/${command}.ts`, ...args], {
    cwd: ROOT,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

function startWorker(kind: 'light' | 'gpu'): Promise<void> {
  const child = cgm('worker', [kind]);
  const entry = { name: kind, child, log: [] as string[] };
  children.push(entry);
  return new Promise((ready, fail) => {
    const onData = (d: Buffer) => {
      entry.log.push(String(d));
      if (/polling|gpu worker: model/.test(String(d))) ready();
    };
    child.stderr?.on('data', onData);
    child.stdout?.on('data', (d: Buffer) => entry.log.push(String(d)));
    child.on('exit', (code) => fail(new Error(`cgm worker ${kind} exited ${code}:\n${entry.log.join('')}`)));
  });
}

function exited(child: ChildProcess): Promise<number | null> {
  return child.exitCode !== null
    ? Promise.resolve(child.exitCode)
    : new Promise((r) => child.once('exit', (code) => r(code)));
}

beforeAll(async () => {
  await mkdir(dirname(LAUNCHER), { recursive: true });
  await writeFile(
    LAUNCHER,
    "import { register } from 'tsx/esm/api';\nregister();\n" +
      'const [file, ...args] = process.argv.slice(2);\n' +
      'process.exitCode = await (await import(file)).run(args);\n',
  );
  const fixtures = await ensureTinyFixtures();
  const { s3, temporal } = services;
  env = {
    ...process.env,
    CGM_TEMPORAL_ADDRESS: temporal.address,
    CGM_TEMPORAL_NAMESPACE: temporal.namespace,
    CGM_TASK_QUEUE_LIGHT: `cli-light-${suffix}`,
    CGM_TASK_QUEUE_GPU: `cli-gpu-${suffix}`,
    CGM_S3_ENDPOINT: s3.endpoint,
    CGM_S3_REGION: s3.region,
    CGM_S3_BUCKET: s3.bucket,
    CGM_S3_ACCESS_KEY_ID: s3.accessKeyId,
    CGM_S3_SECRET_ACCESS_KEY: s3.secretAccessKey,
    CGM_MODEL_DIR: fixtures.bundleDir,
    CGM_ENGINE_DEVICE: 'cpu',
    CGM_VLM_BASE_URL: 'http://127.0.0.1:9/v1',
  };
  await Promise.all([startWorker('light'), startWorker('gpu')]);
});

afterAll(async () => {
  for (const { child } of children) if (child.exitCode === null) child.kill('SIGTERM');
  await Promise.all(children.map(({ child }) => exited(child)));
  await rm(LAUNCHER, { force: true });
});

describe('cgm worker + cgm run', () => {
  it('runs one image through worker processes and prints the manifest ref', async () => {
    const run = cgm('run', [
      `${EXAMPLE}image.png`,
      '--graph',
      `${EXAMPLE}graph.json`,
      '--interventions',
      `${EXAMPLE}interventions.json`,
      '--caption',
      'a rainy street',
      '--methods',
      'csg,ddim',
      '--steps',
      '8',
      '--no-judge',
    ]);
    let out = '';
    let err = '';
    run.stdout?.on('data', (d) => {
      out += d;
    });
    run.stderr?.on('data', (d) => {
      err += d;
    });
    const code = await exited(run);
    expect(code, err).toBe(0);
    const printed = JSON.parse(out.trim().split('\n').at(-1) ?? '{}');
    expect(printed.status).toBe('succeeded');
    expect(printed.outputs).toBe(3 * 2);
    // the progress line followed the edit stage: its bar, with the engine stage once the host reports one
    expect(err).toMatch(/^edit\s+(edit\/\S+\s+)?\[/m);

    const store = createArtifactStore({ client: createS3Client(services.s3), bucket: services.s3.bucket });
    const manifest = await store.getJson(RunManifestSchema, printed.manifest);
    expect(manifest.outputs).toHaveLength(6);
    for (const o of manifest.outputs) expect((await store.get(o.image)).byteLength).toBe(o.image.bytes);

    // Both workers stop cleanly on SIGTERM.
    for (const { child } of children) child.kill('SIGTERM');
    const codes = await Promise.all(children.map(({ child }) => exited(child)));
    expect(codes, children.map((c) => `${c.name}: ${c.log.join('')}`).join('\n')).toEqual([0, 0]);
  });
});
