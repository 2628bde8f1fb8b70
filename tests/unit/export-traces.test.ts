// Reference traces (diffusers LEDITS++ / EF-DDPM / DDIM on the tiny model) and the LPIPS-VGG graph:
// the files the engine's parity tests read are complete, shaped as indexed, and consistent with docs/algorithm.md.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { beforeAll, describe, expect, it } from 'vitest';
import { type NpyArray, parseNpy } from '../../gpu-worker/engine/npy.js';
import { ensureTinyFixtures, FIXTURES_TIMEOUT_MS, type TinyFixtures } from '../support/fixtures.js';

interface TraceIndex {
  format: string;
  settings: Record<string, unknown>;
  versions: Record<string, string>;
  tensors: Record<string, { file: string; shape: number[]; dtype: string; description: string }>;
}

let fx: TinyFixtures;
let index: TraceIndex;

async function npyAt(dir: string, file: string): Promise<NpyArray> {
  return parseNpy(new Uint8Array(await readFile(join(dir, file))));
}
const trace = (name: string) => npyAt(fx.tracesDir, index.tensors[name].file);

beforeAll(async () => {
  fx = await ensureTinyFixtures();
  index = JSON.parse(await readFile(join(fx.tracesDir, 'index.json'), 'utf8'));
}, FIXTURES_TIMEOUT_MS);

/** ᾱ_t for SDXL's scaled_linear schedule (float64; diffusers uses float32, hence the tolerances). */
function alphaBar(t: number): number {
  let p = 1;
  for (let i = 0; i <= t; i++) {
    const b = (Math.sqrt(0.00085) + (i / 999) * (Math.sqrt(0.012) - Math.sqrt(0.00085))) ** 2;
    p *= 1 - b;
  }
  return p;
}

describe('reference traces', () => {
  it('index lists every tensor with its real shape and dtype', async () => {
    expect(index.format).toBe('cgm-traces/1');
    expect(index.versions.diffusers).toMatch(/^\d/);
    for (const [name, t] of Object.entries(index.tensors)) {
      const a = await npyAt(fx.tracesDir, t.file);
      expect(a.shape, name).toEqual(t.shape);
      expect(a.dtype, name).toBe(t.dtype);
    }
  });

  it('timestep grids match docs/algorithm.md §1.3 (N=20, skip .15)', async () => {
    const dpm = Array.from((await trace('ledits/timesteps')).data as BigInt64Array, Number);
    expect(dpm).toEqual(Array.from({ length: 20 }, (_, k) => 821 - 41 * k));
    const ddim = Array.from((await trace('efddpm/timesteps')).data as BigInt64Array, Number);
    expect(ddim).toEqual(Array.from({ length: 20 }, (_, k) => 818 - 43 * k));
  });

  it('recorded forward noise reproduces the initial latent (docs/algorithm.md §6 item 2)', async () => {
    const x0 = (await trace('ledits/x0')).data as Float32Array;
    const n = (await trace('ledits/forward_noises')).data as Float32Array;
    const init = (await trace('ledits/init_latents')).data as Float32Array;
    const ab = alphaBar(821);
    const s = Math.sqrt((1 - ab) / ab);
    const alpha = 1 / Math.sqrt(1 + s * s);
    const sigma = s * alpha;
    let err = 0;
    for (let i = 0; i < init.length; i++)
      err = Math.max(err, Math.abs(alpha * x0[i] + sigma * n[i] - init[i]));
    expect(err).toBeLessThan(1e-5);
  });

  it('zs: the last num_zero_noise_steps=3 maps are zero, earlier ones are not', async () => {
    const zs = await trace('ledits/zs');
    const per = zs.data.length / 20;
    const absSum = (k: number) =>
      (zs.data as Float32Array).subarray(k * per, (k + 1) * per).reduce((a, v) => a + Math.abs(v), 0);
    for (const k of [17, 18, 19]) expect(absSum(k)).toBe(0);
    for (const k of [0, 8, 16]) expect(absSum(k)).toBeGreaterThan(0);
  });

  it('masks: zero during warmup, docs/algorithm.md §2.7 sizes after it, intersect = M1⊙M2', async () => {
    const m1 = await trace('ledits/mask_attention');
    const m2 = await trace('ledits/mask_noise');
    const mi = await trace('ledits/mask_intersect');
    const [steps, concepts, , channels, h, w] = m1.shape;
    const warmup = index.settings.edit_warmup_steps as number[];
    const threshold = index.settings.edit_threshold as number[];
    const plane = h * w;
    const count = (a: NpyArray, i: number, c: number) => {
      const off = ((i * concepts + c) * channels + 0) * plane;
      return (a.data as Float32Array).subarray(off, off + plane).reduce((s, v) => s + v, 0);
    };
    const expected = (n: number, q: number) => n - Math.ceil(q * (n - 1) - 1e-9);
    for (let i = 0; i < steps; i++) {
      for (let c = 0; c < concepts; c++) {
        if (i < warmup[c]) {
          expect(count(m1, i, c) + count(m2, i, c)).toBe(0);
          continue;
        }
        expect(count(m1, i, c)).toBeGreaterThanOrEqual(16 * expected(16, threshold[c])); // 4×4 grid, 4×4 blocks
        expect(count(m2, i, c)).toBeGreaterThanOrEqual(expected(plane, threshold[c]));
      }
    }
    for (let i = 0; i < mi.data.length; i++)
      expect(mi.data[i]).toBe((m1.data[i] as number) * (m2.data[i] as number));
  });
});

describe('LPIPS-VGG graph (random backbone)', () => {
  it('matches the lpips package (shared backbone) and its own torch module under onnxruntime-node', async () => {
    const manifest = JSON.parse(await readFile(join(fx.lpipsDir, 'cgm-lpips.json'), 'utf8'));
    expect(manifest.inputRange).toEqual([-1, 1]);
    expect(manifest.inputs.map((i: { name: string }) => i.name)).toEqual(['image0', 'image1']);
    const cross = JSON.parse(await readFile(join(fx.lpipsDir, 'crosscheck.json'), 'utf8'));
    expect(cross.max_abs_diff_vs_lpips).toBeLessThanOrEqual(1e-6);

    const ref = (n: string) => npyAt(join(fx.lpipsDir, 'reference'), `${n}.npy`);
    const [a, b, want, same] = await Promise.all([
      ref('image0'),
      ref('image1'),
      ref('distance'),
      ref('distance_same'),
    ]);
    const session = await ort.InferenceSession.create(join(fx.lpipsDir, manifest.file), {
      executionProviders: ['cpu'],
    });
    try {
      const t = (x: NpyArray) => new ort.Tensor('float32', x.data as Float32Array, x.shape);
      const out = await session.run({ image0: t(a), image1: t(b) });
      const got = out.distance.data as Float32Array;
      for (let i = 0; i < want.data.length; i++)
        expect(Math.abs((want.data[i] as number) - got[i])).toBeLessThanOrEqual(1e-4);
      expect(Math.max(...(same.data as Float32Array))).toBeLessThanOrEqual(1e-6);
      const self = await session.run({ image0: t(a), image1: t(a) });
      expect(Math.max(...(self.distance.data as Float32Array))).toBeLessThanOrEqual(1e-6);
    } finally {
      await session.release();
    }
  });
});
