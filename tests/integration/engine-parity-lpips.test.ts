// LPIPS through ONNX against the lpips package's own numbers on the export tool's reference pair.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Lpips } from '../../gpu-worker/engine/lpips.js';
import { parseNpy } from '../../gpu-worker/engine/npy.js';
import { ensureTinyFixtures } from '../support/fixtures.js';

async function npy(path: string) {
  const a = parseNpy(new Uint8Array(await readFile(path)));
  if (a.dtype !== 'float32') throw new Error(`${path}: expected float32`);
  return { data: a.data, shape: [...a.shape] };
}

describe('LPIPS (ONNX)', () => {
  it('matches the lpips package on the reference pair, and is 0 for identical images', async () => {
    const { lpipsDir } = await ensureTinyFixtures();
    const lpips = await Lpips.open(lpipsDir, { device: 'cpu' });
    try {
      const ref = join(lpipsDir, 'reference');
      const [a, b] = [await npy(join(ref, 'image0.npy')), await npy(join(ref, 'image1.npy'))];
      const expected = await npy(join(ref, 'distance.npy'));
      const got = await lpips.distances(a, b);
      expect(got.length).toBe(expected.data.length);
      for (let i = 0; i < got.length; i++) {
        expect(Math.abs(got[i] - expected.data[i])).toBeLessThanOrEqual(
          1e-4 * Math.max(1, Math.abs(expected.data[i])),
        );
      }
      const same = await lpips.distances(a, a);
      for (const d of same) expect(Math.abs(d)).toBeLessThan(1e-6);
    } finally {
      await lpips.release();
    }
  }, 900_000);
});
