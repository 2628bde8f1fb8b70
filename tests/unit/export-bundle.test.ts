// The tiny-model bundle from gpu-worker/export: every ONNX graph reproduces its torch module (fp32,
// max abs error ≤ 1e-4, run here with onnxruntime-node), the UNet's xattn_mean rows are probability
// distributions equal to the torch mean of per-layer head means, and cgm-model.json passes the zod schema.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  BundleManifestError,
  type GraphName,
  type LoadedBundle,
  loadBundleManifest,
  parseBundleManifest,
} from '../../gpu-worker/engine/bundle-manifest.js';
import { type NpyArray, parseNpy } from '../../gpu-worker/engine/npy.js';
import { ensureTinyFixtures, FIXTURES_TIMEOUT_MS, type TinyFixtures } from '../support/fixtures.js';

const TOL = 1e-4;
let fx: TinyFixtures;
let bundle: LoadedBundle;
/** Per entry: the inputs and outputs of one run of `graph` (the entry's own name when absent). */
type RefIndex = Record<
  string,
  { graph?: GraphName; inputs: Record<string, string>; outputs: Record<string, string> }
>;
let refs: RefIndex;

async function npy(dir: string, file: string): Promise<NpyArray> {
  return parseNpy(new Uint8Array(await readFile(join(dir, file))));
}

function toOrt(a: NpyArray): ort.Tensor {
  return a.dtype === 'float32'
    ? new ort.Tensor('float32', a.data, a.shape)
    : new ort.Tensor('int64', a.data, a.shape);
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

/** Runs the graph of a reference entry (`unet`, or `unet_non_square` whose `graph` is `unet`) on its inputs. */
async function runGraph(name: string): Promise<Record<string, ort.Tensor>> {
  const graph = (refs[name].graph ?? name) as GraphName;
  const session = await ort.InferenceSession.create(bundle.graphPath(graph), { executionProviders: ['cpu'] });
  try {
    const feeds: Record<string, ort.Tensor> = {};
    for (const [input, file] of Object.entries(refs[name].inputs))
      feeds[input] = toOrt(await npy(fx.verifyDir, file));
    return await session.run(feeds);
  } finally {
    await session.release();
  }
}

beforeAll(async () => {
  fx = await ensureTinyFixtures();
  bundle = await loadBundleManifest(fx.bundleDir);
  refs = JSON.parse(await readFile(join(fx.verifyDir, 'index.json'), 'utf8'));
}, FIXTURES_TIMEOUT_MS);

describe('cgm-model.json', () => {
  it('validates against the zod schema and describes the tiny model', () => {
    const m = bundle.manifest;
    expect(m.resolution).toMatchObject({ height: 128, width: 128, latentHeight: 16, latentWidth: 16 });
    expect(m.attention.gridHeight * m.attention.gridWidth).toBe(16);
    // docs/algorithm.md §2.4 on the tiny UNet: only the latent/4 level (down_blocks.2, up_blocks.0), never mid_block
    expect(m.attention.layers.every((l) => /^(down_blocks\.2|up_blocks\.0)\./.test(l))).toBe(true);
    expect(m.attention.layers).toHaveLength(10);
    // spatially dynamic: any multiple of 32 (docs/algorithm.md §1.1)
    expect(m.resolution.dynamicSpatial).toBe(true);
    expect(m.graphs.unet.outputs.map((o) => o.shape)).toEqual([
      ['batch', 4, 'latent_height', 'latent_width'],
      ['batch', 'attention_cells', 77],
    ]);
    expect(m.graphs.vae_encoder.outputs[0].shape).toEqual(['batch', 4, 'latent_height', 'latent_width']);
    expect(m.tools.diffusers).toMatch(/^\d/);
  });

  it('rejects a bad manifest, naming the field', async () => {
    const raw = JSON.parse(await readFile(join(fx.bundleDir, 'cgm-model.json'), 'utf8'));
    raw.graphs.unet.outputs[1].name = 'attn_map';
    expect(() => parseBundleManifest(raw)).toThrow(/graphs\.unet\.outputs: expected noise_pred, xattn_mean/);
    const raw2 = JSON.parse(await readFile(join(fx.bundleDir, 'cgm-model.json'), 'utf8'));
    raw2.vae.scalingFactor = 'x';
    expect(() => parseBundleManifest(raw2)).toThrow(BundleManifestError);
    expect(() => parseBundleManifest(raw2)).toThrow(/vae\.scalingFactor/);
  });

  it('refuses, by name, a scheduler the engine does not implement (v-prediction, other spacing)', async () => {
    const read = async () => JSON.parse(await readFile(join(fx.bundleDir, 'cgm-model.json'), 'utf8'));
    for (const [field, value] of [
      ['prediction_type', 'v_prediction'],
      ['beta_schedule', 'linear'],
      ['timestep_spacing', 'trailing'],
      ['rescale_betas_zero_snr', true],
    ] as const) {
      const raw = await read();
      raw.scheduler[field] = value;
      expect(() => parseBundleManifest(raw), field).toThrow(
        new RegExp(`scheduler\\.${field}: ${JSON.stringify(value)} is not implemented`),
      );
    }
    // The exported tiny model's own config is what the engine implements; other scaled-linear betas
    // are the bundle's own (the engine builds its schedule from them).
    expect(() => parseBundleManifest(bundle.manifest)).not.toThrow();
    const otherBetas = await read();
    otherBetas.scheduler.beta_end = 0.02;
    expect(parseBundleManifest(otherBetas).scheduler.beta_end).toBe(0.02);
  });

  it('ships both tokenizer.json files with the full CLIP vocabulary', async () => {
    for (const which of ['tokenizer', 'tokenizer_2'] as const) {
      const tok = JSON.parse(await readFile(bundle.tokenizerPath(which), 'utf8'));
      expect(Object.keys(tok.model.vocab)).toHaveLength(49408);
    }
  });
});

describe('ONNX graphs reproduce torch (fp32, onnxruntime-node CPU)', () => {
  const graphs: GraphName[] = ['text_encoder', 'text_encoder_2', 'unet', 'vae_encoder', 'vae_decoder'];
  for (const name of graphs) {
    it(`${name}: max abs error ≤ ${TOL}`, async () => {
      const got = await runGraph(name);
      for (const [output, file] of Object.entries(refs[name].outputs)) {
        const want = await npy(fx.verifyDir, file);
        expect(got[output].dims).toEqual(want.shape);
        const err = maxAbsDiff(got[output].data as Float32Array, want.data as Float32Array);
        expect(err, `${name}.${output}`).toBeLessThanOrEqual(TOL);
      }
    });
  }

  // a 3:4 size other than the export's: the spatial axes are dynamic
  for (const name of ['unet_non_square', 'vae_encoder_non_square', 'vae_decoder_non_square']) {
    it(`${name}: max abs error ≤ ${TOL} at 96×128`, async () => {
      const got = await runGraph(name);
      for (const [output, file] of Object.entries(refs[name].outputs)) {
        const want = await npy(fx.verifyDir, file);
        expect(got[output].dims).toEqual(want.shape);
        expect(maxAbsDiff(got[output].data as Float32Array, want.data as Float32Array)).toBeLessThanOrEqual(
          TOL,
        );
      }
      if (name === 'unet_non_square') expect(got.xattn_mean.dims).toEqual([3, 12, 77]); // (12/4)·(16/4)
    });
  }

  it('the Python-side check (onnxruntime) agrees', async () => {
    const report = JSON.parse(await readFile(join(fx.verifyDir, 'verify.json'), 'utf8'));
    for (const g of [...graphs, 'unet_non_square', 'vae_encoder_non_square', 'vae_decoder_non_square'])
      for (const err of Object.values(report[g]) as number[]) expect(err).toBeLessThanOrEqual(TOL);
    expect(report.xattn_row_sum_max_dev).toBeLessThanOrEqual(1e-5);
  });
});

describe('xattn_mean', () => {
  it('rows are distributions over 77 tokens and equal the torch mean of per-layer head means', async () => {
    const got = await runGraph('unet');
    const x = got.xattn_mean.data as Float32Array;
    const [b, q, k] = got.xattn_mean.dims;
    expect([b, q, k]).toEqual([3, 16, 77]);
    let worstRow = 0;
    for (let r = 0; r < b * q; r++) {
      let s = 0;
      for (let j = 0; j < k; j++) {
        const v = x[r * k + j];
        expect(v).toBeGreaterThanOrEqual(0);
        expect(v).toBeLessThanOrEqual(1);
        s += v;
      }
      worstRow = Math.max(worstRow, Math.abs(s - 1));
    }
    expect(worstRow).toBeLessThanOrEqual(1e-5);
    const torchRef = await npy(fx.verifyDir, refs.unet.outputs.xattn_mean);
    expect(maxAbsDiff(x, torchRef.data as Float32Array)).toBeLessThanOrEqual(1e-6);
    // not trivially uniform: the maps must depend on the tokens
    let spread = 0;
    for (let j = 0; j < k; j++) spread = Math.max(spread, Math.abs(x[j] - 1 / 77));
    expect(spread).toBeGreaterThan(1e-4);
  });
});
