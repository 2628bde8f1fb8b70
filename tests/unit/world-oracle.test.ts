// The oracle's ONNX graph, run from TypeScript with onnxruntime-node, against the torch model it was
// exported from (logits that `python -m cgm_world.testdata` wrote from the trained torch weights), and
// its readings of held-out renders against the attributes they were drawn with.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { agreement, WorldOracle } from '../../core/world/oracle.js';
import { loadWorldScm, WorldInputError } from '../../core/world/scm.js';

const testdata = fileURLToPath(new URL('../../world/testdata/', import.meta.url));
const scm = loadWorldScm();

interface Reference {
  seeds: number[];
  images: string[];
  logits: number[][];
  attributes: Record<string, string>[];
}

let oracle: WorldOracle;
let ref: Reference;
beforeAll(async () => {
  oracle = await WorldOracle.open(scm);
  ref = JSON.parse(await readFile(join(testdata, 'oracle-reference.json'), 'utf8'));
});
afterAll(async () => {
  await oracle.release();
});

describe('world oracle (ONNX from TypeScript)', () => {
  it('gives the torch model’s logits on the same renders', async () => {
    const images = await Promise.all(ref.images.map((f) => readFile(join(testdata, f))));
    const readings = await oracle.read(images);
    expect(readings).toHaveLength(ref.seeds.length);
    // read() decodes the PNG itself; recompute the logits through the same path to compare numbers
    for (const [n, bytes] of images.entries()) {
      const sharp = (await import('sharp')).default;
      const { data } = await sharp(bytes).raw().toBuffer({ resolveWithObject: true });
      const planar = new Float32Array(3 * 128 * 128);
      for (let i = 0; i < 128 * 128; i++)
        for (let c = 0; c < 3; c++) planar[c * 128 * 128 + i] = data[i * 3 + c] / 255;
      const logits = await oracle.logits(planar, 1);
      const maxDiff = Math.max(...ref.logits[n].map((v, i) => Math.abs(v - logits[i])));
      expect(maxDiff).toBeLessThan(1e-3);
    }
  });

  it('reads the held-out renders’ attributes', async () => {
    const images = await Promise.all(ref.images.map((f) => readFile(join(testdata, f))));
    const readings = await oracle.read(images);
    for (const [n, r] of readings.entries()) expect(agreement(r, ref.attributes[n])).toBe(1);
  });

  it('refuses a model whose attributes differ from the SCM', async () => {
    const other = { ...scm, attributes: scm.attributes.slice(1) };
    await expect(WorldOracle.open(other)).rejects.toThrow(WorldInputError);
  });
});
