// The images run the compiled JavaScript (Dockerfile.*: `npm run build` laid over the sources, no tsx).
// Here the same layout is made in a temporary folder, without a single .ts file and with a
// node_modules that lacks tsx: the CLI starts, every command's module loads, the light worker
// bundles its workflows from the compiled modules and the engine thread boots.
import { execFile } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../../infra/local/services.js';

const exec = promisify(execFile);
const TIMEOUT_MS = 300_000;
// Source folders the build compiles (tsconfig.build.json) plus what the code reads beside itself.
const COPIED = ['core', 'workflows', 'activities', 'gpu-worker', 'api', 'cli', 'infra', 'bin'];
const COMMANDS = ['services', 'graph', 'export-models', 'extract', 'propose', 'edit', 'batch', 'report'];
COMMANDS.push('worker', 'run', 'api', 'demo', 'dev', 'world');

let app: string;

const node = (args: string[]) => exec(process.execPath, args, { cwd: app, encoding: 'utf8' });
/** Runs an ES module written into the folder (not --eval: worker threads would inherit --input-type). */
const script = (name: string, lines: string[]) => {
  writeFileSync(join(app, name), lines.join('\n'));
  return node([name]);
};

beforeAll(async () => {
  app = mkdtempSync(join(tmpdir(), 'cgm-compiled-'));
  for (const dir of COPIED) {
    cpSync(join(REPO_ROOT, dir), join(app, dir), { recursive: true, filter: (src) => !src.endsWith('.ts') });
  }
  cpSync(join(REPO_ROOT, 'package.json'), join(app, 'package.json'));
  mkdirSync(join(app, 'world'));
  cpSync(join(REPO_ROOT, 'world/scm.json'), join(app, 'world/scm.json'));
  // The production dependencies stand in for `npm ci --omit=dev`; tsx is left out so nothing can use it.
  mkdirSync(join(app, 'node_modules'));
  for (const name of readdirSync(join(REPO_ROOT, 'node_modules'))) {
    if (name !== 'tsx' && name !== '.bin') {
      symlinkSync(join(REPO_ROOT, 'node_modules', name), join(app, 'node_modules', name));
    }
  }
  await exec(
    process.execPath,
    [join(REPO_ROOT, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json', '--outDir', app],
    { cwd: REPO_ROOT },
  );
}, TIMEOUT_MS);

afterAll(() => {
  if (app) rmSync(app, { recursive: true, force: true });
});

describe('the compiled build (as in the images)', () => {
  it('cgm --version runs from cli/main.js, and bin/cgm.mjs picks it', async () => {
    const pkg = (await import('../../package.json', { with: { type: 'json' } })).default;
    expect((await node(['cli/main.js', '--version'])).stdout).toBe(`cgm ${pkg.version}\n`);
    expect((await node(['bin/cgm.mjs', '--version'])).stdout).toBe(`cgm ${pkg.version}\n`);
  });

  it.each(COMMANDS)(
    'cgm %s --help loads its compiled module',
    async (name) => {
      const r = await node(['cli/main.js', name, '--help']);
      expect(r.stdout).toContain('usage');
      expect(r.stderr).toBe('');
    },
    TIMEOUT_MS,
  );

  it(
    'the light worker bundles its workflows from the compiled modules',
    async () => {
      const r = await script('bundle.mjs', [
        "const { WORKFLOWS_PATH } = await import('./activities/worker.js');",
        "const { bundleWorkflowCode } = await import('@temporalio/worker');",
        'const quiet = { log() {}, trace() {}, debug() {}, info() {}, warn() {}, error() {} };',
        'const b = await bundleWorkflowCode({ workflowsPath: WORKFLOWS_PATH, logger: quiet });',
        'console.log(JSON.stringify({ path: WORKFLOWS_PATH, bytes: b.code.length }));',
      ]);
      const out = JSON.parse(r.stdout) as { path: string; bytes: number };
      expect(out.path).toBe(join(app, 'workflows/index.js'));
      expect(out.bytes).toBeGreaterThan(10_000);
    },
    TIMEOUT_MS,
  );

  it(
    'the engine thread boots from compiled JavaScript',
    async () => {
      const r = await script('engine.mjs', [
        "const { EngineHost } = await import('./gpu-worker/engine/engine-host.js');",
        "const host = await EngineHost.start(new URL('./gpu-worker/engine/engine-thread.js', import.meta.url));",
        'await host.close();',
        "console.log('ready');",
      ]);
      expect(r.stdout).toBe('ready\n');
    },
    TIMEOUT_MS,
  );
});
