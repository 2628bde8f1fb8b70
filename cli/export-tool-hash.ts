// What a bundle made by the export tool depends on besides the weights: the tool's Python sources and
// pinned requirements. Caches of exported bundles (the tiny demo models, the world model, the test
// fixtures) are keyed on it, so a change to the exporter (e.g. dynamic spatial axes) exports anew.
import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { REPO_ROOT } from '../infra/local/services.js';

const EXPORT_DIR = join(REPO_ROOT, 'gpu-worker/export');

async function sourceFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    if (entry.name === '__pycache__' || entry.name.startsWith('.')) continue;
    const p = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...(await sourceFiles(p)));
    else if (/\.(py|txt)$/.test(entry.name)) out.push(p);
  }
  return out.sort();
}

/** sha256 (16 hex) over the export tool's sources and pinned requirements (paths and contents). */
export async function exportToolHash(): Promise<string> {
  const h = createHash('sha256');
  for (const f of await sourceFiles(EXPORT_DIR)) {
    h.update(relative(EXPORT_DIR, f));
    h.update('\0');
    h.update(await readFile(f));
    h.update('\0');
  }
  return h.digest('hex').slice(0, 16);
}
