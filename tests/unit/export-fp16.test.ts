// `cgm export-models --tiny --fp16`: the bundle's manifest states fp16 inside the UNet and text encoders and
// fp32 for the VAE, its graph I/O is the fp32 bundle's exactly, and the Python-side check
// (cgm_export.fp16_check, onnxruntime CPU) finds the fp16 outputs within tolerance of the fp32 ones with the
// attention probabilities computed in fp32. The check is also shown to fail on a bundle that is not fp16.
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type LoadedBundle,
  loadBundleManifest,
  parseBundleManifest,
} from '../../gpu-worker/engine/bundle-manifest.js';
import { readModelBundle } from '../../gpu-worker/engine/model-bundle.js';
import {
  ensureTinyFixtures,
  ensureTinyFp16Bundle,
  FIXTURES_TIMEOUT_MS,
  runExportModule,
  type TinyFixtures,
} from '../support/fixtures.js';

const CHECK_TIMEOUT_MS = 120_000;

let fx: TinyFixtures;
let fp16Dir: string;
let fp32: LoadedBundle;
let fp16: LoadedBundle;
let tmp: string;

interface CheckReport {
  ok: boolean;
  failures: string[];
  tolerances: { fp16RelToRange: number; xattnRowSum: number };
  graphs: Record<string, Record<string, { maxAbs: number; maxRelToRange: number; finite: boolean } | number>>;
  unetBytes: { fp32: number; fp16: number; ratio: number };
  unetCallTime: { ratioFp16OverFp32: number; medianSecondsFp32: number; medianSecondsFp16: number };
}

/** Runs cgm_export.fp16_check; resolves with its exit code, report (when written) and stderr. */
async function runCheck(fp32Dir: string, fp16BundleDir: string, out: string) {
  const args = ['--fp32', fp32Dir, '--fp16', fp16BundleDir, '--inputs', fx.verifyDir, '--out', out];
  const { code, stderr } = await runExportModule(
    'cgm_export.fp16_check',
    [...args, '--repeats', '5'],
    CHECK_TIMEOUT_MS,
  );
  const report: CheckReport = await readFile(out, 'utf8').then(JSON.parse, () => undefined);
  return { code, stderr, report };
}

beforeAll(async () => {
  fx = await ensureTinyFixtures();
  fp16Dir = await ensureTinyFp16Bundle();
  [fp32, fp16] = await Promise.all([loadBundleManifest(fx.bundleDir), loadBundleManifest(fp16Dir)]);
  tmp = await mkdtemp(join(tmpdir(), 'cgm-fp16-'));
}, FIXTURES_TIMEOUT_MS);
afterAll(async () => {
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

describe('fp16 bundle manifest', () => {
  it('states fp16 inside the UNet and text encoders, fp32 for the VAE, and the fp32 bundle stays fp32', () => {
    const precision = (b: LoadedBundle) =>
      Object.fromEntries(Object.entries(b.manifest.graphs).map(([k, g]) => [k, g.precision]));
    expect(precision(fp16)).toEqual({
      text_encoder: 'fp16',
      text_encoder_2: 'fp16',
      unet: 'fp16',
      vae_encoder: 'fp32',
      vae_decoder: 'fp32',
    });
    expect(new Set(Object.values(precision(fp32)))).toEqual(new Set(['fp32']));
  });

  it('rejects a manifest that claims an fp16 VAE, naming the field', async () => {
    const raw = JSON.parse(await readFile(join(fp16Dir, 'cgm-model.json'), 'utf8'));
    raw.graphs.vae_decoder.precision = 'fp16';
    expect(() => parseBundleManifest(raw)).toThrow(/graphs\.vae_decoder\.precision: must be fp32, got fp16/);
  });

  it('has exactly the fp32 bundle graph I/O (names, dtypes, shapes) and the same VAE files', () => {
    for (const [name, g] of Object.entries(fp16.manifest.graphs)) {
      const ref = fp32.manifest.graphs[name as keyof typeof fp32.manifest.graphs];
      expect({ inputs: g.inputs, outputs: g.outputs }, name).toEqual({
        inputs: ref.inputs,
        outputs: ref.outputs,
      });
    }
    expect(fp16.manifest.graphs.vae_encoder.sha256).toBe(fp32.manifest.graphs.vae_encoder.sha256);
    expect(fp16.manifest.graphs.vae_decoder.sha256).toBe(fp32.manifest.graphs.vae_decoder.sha256);
    expect(fp16.manifest.graphs.unet.sha256).not.toBe(fp32.manifest.graphs.unet.sha256);
  });

  it('the engine reads it as an fp16 UNet, and onnxruntime-node sees fp32 inputs and outputs', async () => {
    expect((await readModelBundle(fp16Dir)).unet.dtype).toBe('float16');
    expect((await readModelBundle(fx.bundleDir)).unet.dtype).toBe('float32');
    const session = await ort.InferenceSession.create(fp16.graphPath('unet'), {
      executionProviders: ['cpu'],
    });
    try {
      const types = [...session.inputMetadata, ...session.outputMetadata].map((m) =>
        m.isTensor ? m.type : 'non-tensor',
      );
      expect(new Set(types)).toEqual(new Set(['float32']));
    } finally {
      await session.release();
    }
    const bytes = async (b: LoadedBundle) => (await stat(b.graphPath('unet'))).size;
    // fp16 weights: well under the fp32 file (graph structure is a fixed overhead on the tiny model)
    expect((await bytes(fp16)) / (await bytes(fp32))).toBeLessThan(0.65);
  });
});

describe('Python-side check (cgm_export.fp16_check, onnxruntime CPU)', () => {
  it(
    'fp16 text encoders and UNet agree with fp32 within 1e-2 of the output range; xattn rows sum to 1 (fp32)',
    async () => {
      const { code, stderr, report } = await runCheck(fx.bundleDir, fp16Dir, join(tmp, 'fp16-check.json'));
      expect(report?.failures, stderr).toEqual([]);
      expect(code).toBe(0);
      expect(report.tolerances).toEqual({ fp16RelToRange: 1e-2, xattnRowSum: 1e-6 });
      const unet = report.graphs.unet as Record<string, { maxRelToRange: number; finite: boolean }>;
      for (const out of ['noise_pred', 'xattn_mean']) {
        expect(unet[out].finite).toBe(true);
        expect(unet[out].maxRelToRange).toBeLessThanOrEqual(1e-2);
        // fp16 really is inside: the outputs are not the fp32 ones
        expect(unet[out].maxRelToRange).toBeGreaterThan(1e-5);
      }
      expect(report.graphs.unet.xattnRowSumMaxDev).toBeLessThanOrEqual(1e-6);
      console.info(
        `fp16 UNet: ${report.unetBytes.fp16} B vs fp32 ${report.unetBytes.fp32} B ` +
          `(ratio ${report.unetBytes.ratio.toFixed(3)}); CPU call time ratio fp16/fp32 ` +
          `${report.unetCallTime.ratioFp16OverFp32.toFixed(2)}; noise_pred max err ` +
          `${unet.noise_pred.maxRelToRange.toExponential(2)} of range, xattn ${unet.xattn_mean.maxRelToRange.toExponential(2)}`,
      );
    },
    CHECK_TIMEOUT_MS,
  );

  it(
    'fails, naming the graph and the precision, when the "fp16" bundle is an fp32 one',
    async () => {
      const { code, report } = await runCheck(fx.bundleDir, fx.bundleDir, join(tmp, 'not-fp16.json'));
      expect(code).toBe(1);
      expect(report.ok).toBe(false);
      expect(report.failures).toContain("unet: manifest precision 'fp32', expected 'fp16'");
    },
    CHECK_TIMEOUT_MS,
  );
});
