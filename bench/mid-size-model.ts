// Engine vs diffusers on a mid-size model where the UNet dominates (issue 4, "Must show", bench item).
//   npx tsx bench/mid-size-model.ts [--steps 10] [--repeat 1] [--with-tiny] [--prepare-only]
// 1. .cache/bench/mid/diffusers: the tiny fixture's text encoders, tokenizers, VAE and scheduler plus a
//    new seeded UNet with SD-1.5 widths in SDXL's layout (no attention at the first level), ~594M
//    parameters, for 256² images.
// 2. .cache/bench/mid/bundle: that folder through the export tool, unchanged (`cgm export-models --model`).
// 3. bench/engine-vs-diffusers.ts on both (and, with --with-tiny, on the tiny fixtures right after).
// Steps 1 and 2 are skipped when their stamp file holds the current key: a hash of this script's config,
// the build script and the export tool's sources.
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { cp, mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { exportToolHash } from '../cli/export-tool-hash.js';
import { ensureTinyFixtures } from '../tests/support/fixtures.js';

const ROOT = resolve(import.meta.dirname, '..');
const PYTHON = join(ROOT, '.venv/bin/python');
const OUT = join(ROOT, '.cache/bench/mid');
const DIFFUSERS_DIR = join(OUT, 'diffusers');
const BUNDLE_DIR = join(OUT, 'bundle');
const IMAGE_SIZE = 256;
const SEED = 20261129; // the tiny model uses 20261128 (gpu-worker/export/cgm_export/tiny.py)
// Copied as they are: only the UNet is new, so prompts and latents mean the same as on the tiny model.
const TINY_PARTS = ['text_encoder', 'text_encoder_2', 'tokenizer', 'tokenizer_2', 'vae', 'scheduler'];

// SD-1.5's widths (320, 640, 1280), depth and 8 heads, in SDXL's 3-level layout: cross-attention only
// at latent/2 and latent/4, where the export tool records LEDITS++'s attention maps.
const MID_UNET = {
  in_channels: 4,
  out_channels: 4,
  block_out_channels: [320, 640, 1280],
  layers_per_block: 2,
  down_block_types: ['DownBlock2D', 'CrossAttnDownBlock2D', 'CrossAttnDownBlock2D'],
  up_block_types: ['CrossAttnUpBlock2D', 'CrossAttnUpBlock2D', 'UpBlock2D'],
  attention_head_dim: 8, // diffusers' SD naming: a head count, as in SD-1.5's config
  transformer_layers_per_block: 1,
  use_linear_projection: true,
  norm_num_groups: 32,
  addition_embed_type: 'text_time',
};

const BUILD_UNET = `
import json, sys, time, torch
from diffusers import UNet2DConditionModel
config, seed, pooled, out = json.loads(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
torch.manual_seed(seed)
unet = UNet2DConditionModel(**config).eval()
params = sum(p.numel() for p in unet.parameters())
unet.save_pretrained(out)
# One forward pass: random weights must not overflow, or the bench would time a graph of NaNs.
torch.set_num_threads(2)
h, size = config["sample_size"], float(sys.argv[5])
with torch.no_grad():
    t0 = time.perf_counter()
    eps = unet(torch.randn(1, 4, h, h), 500, encoder_hidden_states=torch.randn(1, 77, config["cross_attention_dim"]),
               added_cond_kwargs={"text_embeds": torch.randn(1, pooled), "time_ids": torch.tensor([[size, size, 0, 0, size, size]])}).sample
    seconds = time.perf_counter() - t0
print(json.dumps({"parameters": params, "finite": bool(torch.isfinite(eps).all()), "epsStd": float(eps.std()), "forwardSeconds": seconds}))
`;

interface UnetStamp {
  key: string;
  parameters: number;
  epsStd: number;
  forwardSeconds: number;
  buildSeconds: number;
}
interface BundleStamp {
  key: string;
  exportSeconds: number;
  unetOnnxBytes: number;
}

const sha = (value: unknown) => createHash('sha256').update(JSON.stringify(value)).digest('hex').slice(0, 16);

async function readJson<T>(path: string): Promise<T> {
  return JSON.parse(await readFile(path, 'utf8')) as T;
}

async function readStamp<T extends { key: string }>(path: string, key: string): Promise<T | null> {
  if (!existsSync(path)) return null;
  const stamp = await readJson<T>(path);
  return stamp.key === key ? stamp : null;
}

function positiveInt(name: string, raw: string): number {
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1) throw new Error(`--${name} must be a positive integer, got "${raw}"`);
  return n;
}

/** The conditioning dims the new UNet must share with the tiny text encoders, read from the tiny folder. */
async function conditioningFromTiny(tinyDir: string) {
  const unet = await readJson<Record<string, unknown>>(join(tinyDir, 'unet/config.json'));
  const te1 = await readJson<{ hidden_size: number }>(join(tinyDir, 'text_encoder/config.json'));
  const te2 = await readJson<{ hidden_size: number; projection_dim: number }>(
    join(tinyDir, 'text_encoder_2/config.json'),
  );
  const vae = await readJson<{ block_out_channels: number[] }>(join(tinyDir, 'vae/config.json'));
  const cross = te1.hidden_size + te2.hidden_size;
  const timeDim = unet.addition_time_embed_dim as number;
  const projection = te2.projection_dim + 6 * timeDim; // pooled embeds + 6 time ids (SDXL)
  if (unet.cross_attention_dim !== cross)
    throw new Error(
      `tiny unet cross_attention_dim is ${unet.cross_attention_dim}, expected ${cross} (sum of the text encoders' hidden sizes)`,
    );
  if (unet.projection_class_embeddings_input_dim !== projection)
    throw new Error(
      `tiny unet projection_class_embeddings_input_dim is ${unet.projection_class_embeddings_input_dim}, expected ${projection}`,
    );
  const vaeScale = 2 ** (vae.block_out_channels.length - 1);
  if (IMAGE_SIZE % (vaeScale * 4) !== 0)
    throw new Error(`image size ${IMAGE_SIZE} must be a multiple of 4 × the VAE downscale ${vaeScale}`);
  return {
    pooled: te2.projection_dim,
    config: {
      ...MID_UNET,
      sample_size: IMAGE_SIZE / vaeScale,
      cross_attention_dim: cross,
      addition_time_embed_dim: timeDim,
      projection_class_embeddings_input_dim: projection,
    },
  };
}

async function buildDiffusers(
  tinyDir: string,
  key: string,
  unet: Awaited<ReturnType<typeof conditioningFromTiny>>,
) {
  const stampPath = join(OUT, 'diffusers.stamp.json');
  const cached = await readStamp<UnetStamp>(stampPath, key);
  if (cached && existsSync(DIFFUSERS_DIR)) {
    console.log(`[mid] diffusers folder cached (key ${key})`);
    return cached;
  }
  const partial = `${DIFFUSERS_DIR}.partial`;
  await rm(partial, { recursive: true, force: true });
  await mkdir(partial, { recursive: true });
  await cp(join(tinyDir, 'model_index.json'), join(partial, 'model_index.json'));
  for (const part of TINY_PARTS) await cp(join(tinyDir, part), join(partial, part), { recursive: true });
  console.log(`[mid] building the UNet: ${JSON.stringify(unet.config)}`);
  const t0 = performance.now();
  const py = spawnSync(
    PYTHON,
    [
      '-c',
      BUILD_UNET,
      JSON.stringify(unet.config),
      String(SEED),
      String(unet.pooled),
      join(partial, 'unet'),
      String(IMAGE_SIZE),
    ],
    { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, HF_HUB_OFFLINE: '1' } },
  );
  if (py.status !== 0) throw new Error(`building the mid-size UNet failed (exit ${py.status})`);
  const built = JSON.parse(py.stdout.trim().split('\n').at(-1) as string) as Omit<
    UnetStamp,
    'key' | 'buildSeconds'
  > & {
    finite: boolean;
  };
  if (!built.finite) throw new Error('the mid-size UNet gives non-finite noise predictions at seed ' + SEED);
  const stamp: UnetStamp = {
    key,
    parameters: built.parameters,
    epsStd: built.epsStd,
    forwardSeconds: built.forwardSeconds,
    buildSeconds: (performance.now() - t0) / 1000,
  };
  await rm(DIFFUSERS_DIR, { recursive: true, force: true });
  await rename(partial, DIFFUSERS_DIR);
  await writeFile(stampPath, `${JSON.stringify(stamp, null, 2)}\n`);
  return stamp;
}

async function folderBytes(dir: string): Promise<number> {
  let total = 0;
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true }))
    if (entry.isFile()) total += (await stat(join(entry.parentPath, entry.name))).size;
  return total;
}

function runInherited(command: string, args: string[]): Promise<number> {
  const child = spawn(command, args, { cwd: ROOT, stdio: 'inherit' });
  return new Promise((done, fail) => {
    child.on('error', fail);
    child.on('exit', (code, signal) => done(code ?? (signal ? 1 : 0)));
  });
}

async function exportBundle(key: string): Promise<BundleStamp> {
  const stampPath = join(OUT, 'bundle.stamp.json');
  const cached = await readStamp<BundleStamp>(stampPath, key);
  if (cached && existsSync(BUNDLE_DIR)) {
    console.log(`[mid] bundle cached (key ${key})`);
    return cached;
  }
  const partial = `${BUNDLE_DIR}.partial`;
  await rm(partial, { recursive: true, force: true });
  const size = String(IMAGE_SIZE);
  const t0 = performance.now();
  const args = ['bin/cgm.mjs', 'export-models', '--model', DIFFUSERS_DIR, '--out', partial];
  const code = await runInherited(process.execPath, [...args, '--height', size, '--width', size]);
  if (code !== 0) throw new Error(`cgm export-models failed (exit ${code}) on ${DIFFUSERS_DIR}`);
  const stamp: BundleStamp = {
    key,
    exportSeconds: (performance.now() - t0) / 1000,
    unetOnnxBytes: await folderBytes(join(partial, 'unet')),
  };
  await rm(BUNDLE_DIR, { recursive: true, force: true });
  await rename(partial, BUNDLE_DIR);
  await writeFile(stampPath, `${JSON.stringify(stamp, null, 2)}\n`);
  return stamp;
}

const load = () =>
  `load average ${loadavg()
    .map((x) => x.toFixed(2))
    .join(', ')} (1/5/15 min)`;

async function bench(
  label: string,
  steps: number,
  repeat: number,
  model?: { bundle: string; diffusers: string },
) {
  const args = ['bench/engine-vs-diffusers.ts', '--steps', String(steps), '--repeat', String(repeat)];
  if (model) args.push('--model', model.bundle, '--diffusers', model.diffusers);
  console.log(`\n[mid] ${label} bench starts, ${load()}`);
  const t0 = performance.now();
  const code = await runInherited(join(ROOT, 'node_modules/.bin/tsx'), args);
  console.log(
    `[mid] ${label} bench ended (exit ${code}) after ${((performance.now() - t0) / 1000).toFixed(0)} s, ${load()}`,
  );
  if (code !== 0) throw new Error(`${label} bench failed (exit ${code})`);
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      steps: { type: 'string', default: '10' },
      repeat: { type: 'string', default: '1' },
      'with-tiny': { type: 'boolean', default: false },
      'prepare-only': { type: 'boolean', default: false },
    },
  });
  const steps = positiveInt('steps', values.steps as string);
  const repeat = positiveInt('repeat', values.repeat as string);
  const tiny = await ensureTinyFixtures();
  const unet = await conditioningFromTiny(tiny.diffusersDir);
  const toolHash = await exportToolHash();
  // The tiny parts come from the export tool, so its hash keys the diffusers folder too.
  const diffusersKey = sha({
    unet: unet.config,
    seed: SEED,
    script: BUILD_UNET,
    parts: TINY_PARTS,
    toolHash,
  });
  const bundleKey = sha({ diffusersKey, toolHash, size: IMAGE_SIZE });
  await mkdir(OUT, { recursive: true });
  const built = await buildDiffusers(tiny.diffusersDir, diffusersKey, unet);
  const exported = await exportBundle(bundleKey);
  console.log(
    `[mid] UNet: ${(built.parameters / 1e6).toFixed(1)}M parameters, ONNX ${(exported.unetOnnxBytes / 1024 ** 3).toFixed(2)} GiB, ` +
      `export ${exported.exportSeconds.toFixed(0)} s, one torch forward (batch 1, 2 threads) ${built.forwardSeconds.toFixed(2)} s, ε std ${built.epsStd.toFixed(3)}`,
  );
  if (values['prepare-only']) return;
  await bench('mid-size', steps, repeat, { bundle: BUNDLE_DIR, diffusers: DIFFUSERS_DIR });
  if (values['with-tiny']) await bench('tiny', steps, repeat);
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
