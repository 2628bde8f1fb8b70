// The trained world model (world/model/diffusers, committed) as an engine bundle: exported on first use
// by the unchanged export tool (`cgm export-models --model … --height 128 --width 128`) into
// .cache/models/world-<weights>-<exporter>: hashes of the committed weights and of the export tool, so
// new weights or a new exporter export anew.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { REPO_ROOT } from '../infra/local/services.js';
import { CliError } from './cli-error.js';
import { exportToolHash } from './export-tool-hash.js';

export const WORLD_MODEL_DIR = join(REPO_ROOT, 'world/model');
export const WORLD_DIFFUSERS_DIR = join(WORLD_MODEL_DIR, 'diffusers');
export const WORLD_IMAGE_SIZE = 128;
const CLI = join(REPO_ROOT, 'bin/cgm.mjs');

async function files(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...(await files(p)));
    else out.push(p);
  }
  return out.sort();
}

/** sha256 (16 hex) over the committed diffusers folder: paths and contents. */
export async function worldModelHash(): Promise<string> {
  if (!existsSync(join(WORLD_DIFFUSERS_DIR, 'model_index.json')))
    throw new CliError(`${WORLD_DIFFUSERS_DIR} has no trained world model; run \`cgm world train\``, 1);
  const h = createHash('sha256');
  for (const f of await files(WORLD_DIFFUSERS_DIR)) {
    h.update(relative(WORLD_DIFFUSERS_DIR, f));
    h.update('\0');
    h.update(await readFile(f));
  }
  return h.digest('hex').slice(0, 16);
}

/** Exports the committed world model unless its bundle is cached; returns the bundle directory. */
export async function ensureWorldBundle(log: (line: string) => void = () => {}): Promise<string> {
  // the export tool's version too: a changed exporter (e.g. spatially dynamic graphs) exports anew
  const dir = join(REPO_ROOT, '.cache/models', `world-${await worldModelHash()}-${await exportToolHash()}`);
  if (existsSync(join(dir, 'cgm-model.json'))) return dir;
  log(`exporting the world model to ${dir}`);
  const args = ['export-models', '--model', WORLD_DIFFUSERS_DIR, '--out', dir];
  args.push('--height', String(WORLD_IMAGE_SIZE), '--width', String(WORLD_IMAGE_SIZE));
  await new Promise<void>((done, fail) => {
    const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d) => {
      stderr += d;
    });
    child.on('error', fail);
    child.on('exit', (code) =>
      code === 0
        ? done()
        : fail(new CliError(`cgm ${args.join(' ')} failed (exit ${code}):\n${stderr.slice(-2000)}`, 1)),
    );
  });
  return dir;
}
