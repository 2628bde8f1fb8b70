// The tiny randomly initialised SDXL-architecture bundle that `cgm demo` and `cgm dev` use when no
// model is given: exported on first use by `cgm export-models --tiny` in a child process (Python).
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { REPO_ROOT } from '../infra/local/services.js';
import { CliError } from './cli-error.js';
import { exportToolHash } from './export-tool-hash.js';

const CLI = join(REPO_ROOT, 'bin/cgm.mjs');

/** Exports the tiny models into `exportDir` (bundle in `exportDir/bundle`) unless they are there. */
export async function ensureTinyModels(exportDir: string, log: (line: string) => void): Promise<void> {
  // The export tool's hash is stamped beside the bundle: a bundle from another exporter is made again.
  const stamp = join(exportDir, 'export-tool.hash');
  const tool = await exportToolHash();
  const current = existsSync(stamp) && (await readFile(stamp, 'utf8')).trim() === tool;
  if (current && existsSync(join(exportDir, 'bundle', 'cgm-model.json'))) return;
  log(`no current model bundle in ${join(exportDir, 'bundle')}: exporting the tiny models`);
  await new Promise<void>((resolve, reject) => {
    // The export tool's progress goes to stderr; its JSON summary on stdout is not needed here.
    const child = spawn(process.execPath, [CLI, 'export-models', '--tiny', '--out', exportDir], {
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    child.on('error', reject);
    child.on('exit', (code) =>
      code === 0
        ? resolve()
        : reject(
            new CliError(`cgm export-models --tiny --out ${exportDir} failed with exit code ${code}`, 1),
          ),
    );
  });
  await writeFile(stamp, `${tool}\n`);
}
