// The committed world model end to end through the system's own path: the unchanged export tool makes
// an engine bundle of world/model/diffusers, the TypeScript engine generates scenes from held-out
// captions (text-to-image, DDIM 50 steps, CFG 5), and the oracle reads them back. Prompt fidelity is
// measured on 200 captions by `cgm world check` (bench); here a few fixed seeds must mostly agree.
import { execFile } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureWorldBundle } from '../../cli/world-model.js';
import { agreement, WorldOracle } from '../../core/world/oracle.js';
import { loadWorldScm } from '../../core/world/scm.js';
import { encodePng } from '../../gpu-worker/engine/image.js';
import { type LoadedModels, openModels, readModelBundle } from '../../gpu-worker/engine/model-bundle.js';
import { textToImage } from '../../gpu-worker/engine/text-to-image.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const scm = loadWorldScm();
const SEEDS = [9_100_000, 9_100_001, 9_100_002, 9_100_003, 9_100_004, 9_100_005];

function renderInfo(seed: number): Promise<{ caption: string; attributes: Record<string, string> }> {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      [
        'bin/cgm.mjs',
        'world',
        'render',
        '--seed',
        String(seed),
        '--out',
        join(tmpdir(), `cgm-world-model-${seed}.png`),
      ],
      { cwd: root },
      (err, stdout) => (err ? reject(err) : resolve(JSON.parse(stdout))),
    );
  });
}

let models: LoadedModels;
let oracle: WorldOracle;
beforeAll(async () => {
  models = await openModels(await readModelBundle(await ensureWorldBundle()), { device: 'cpu', threads: 2 });
  oracle = await WorldOracle.open(scm);
});
afterAll(async () => {
  await models?.release();
  await oracle?.release();
});

describe('the trained world model through the export tool and the engine', () => {
  it('generates scenes whose oracle reading matches their captions', async () => {
    const infos = await Promise.all(SEEDS.map(renderInfo));
    const images = await textToImage(
      models,
      infos.map((i) => i.caption),
      { height: 128, width: 128, steps: 50, guidanceScale: 5, seed: 7 },
    );
    const readings = await oracle.read(await Promise.all(images.map(encodePng)));
    const scores = readings.map((r, i) => agreement(r, infos[i].attributes));
    const mean = scores.reduce((s, v) => s + v, 0) / scores.length;
    // random weights read ~1/3 right; the trained model reads most attributes as captioned
    expect(mean, `per-image agreement ${scores.map((s) => s.toFixed(2)).join(', ')}`).toBeGreaterThan(0.8);
  });
});
