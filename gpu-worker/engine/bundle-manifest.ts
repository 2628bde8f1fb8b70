// cgm-model.json: the manifest of an ONNX model bundle written by gpu-worker/export (cgm_export/manifest.py).
// It tells the engine which graph files to load, their I/O names, shapes and dtypes, the VAE scaling
// factor, the scheduler config, the resolution the UNet was exported at and which cross-attention layers
// its `xattn_mean` output averages (docs/algorithm.md §2.4, §5.1).
import { readFile } from 'node:fs/promises';
import { dirname, isAbsolute, join, normalize } from 'node:path';
import { z } from 'zod';

/** A path inside the bundle folder (ORT rejects external data that escapes the model folder). */
const bundlePath = z
  .string()
  .min(1)
  .refine(
    (p) => !isAbsolute(p) && !normalize(p).startsWith('..'),
    'must be a relative path inside the bundle',
  );

const dim = z.union([z.number().int().nonnegative(), z.string().min(1)]);

export const TensorSpecSchema = z.object({
  name: z.string().min(1),
  dtype: z.enum(['float32', 'float16', 'int64', 'int32']),
  shape: z.array(dim),
});
export type TensorSpec = z.infer<typeof TensorSpecSchema>;

export const GraphSpecSchema = z.object({
  file: bundlePath,
  externalData: bundlePath.nullable(),
  precision: z.enum(['fp32', 'fp16']),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  inputs: z.array(TensorSpecSchema).min(1),
  outputs: z.array(TensorSpecSchema).min(1),
});
export type GraphSpec = z.infer<typeof GraphSpecSchema>;

const GRAPH_IO = {
  text_encoder: { inputs: ['input_ids'], outputs: ['hidden_states'] },
  text_encoder_2: { inputs: ['input_ids'], outputs: ['hidden_states', 'text_embeds'] },
  unet: {
    inputs: ['sample', 'timestep', 'encoder_hidden_states', 'text_embeds', 'time_ids'],
    outputs: ['noise_pred', 'xattn_mean'],
  },
  vae_encoder: { inputs: ['image'], outputs: ['latent_mean'] },
  vae_decoder: { inputs: ['latent_sample'], outputs: ['image'] },
} as const;
export type GraphName = keyof typeof GRAPH_IO;

/** A graph spec whose input and output names are exactly the contract's (fp32 I/O is checked below). */
function graphWithIo(name: GraphName) {
  const io = GRAPH_IO[name];
  return GraphSpecSchema.superRefine((g, ctx) => {
    const check = (kind: 'inputs' | 'outputs', want: readonly string[]) => {
      const got = g[kind].map((t) => t.name);
      if (got.join(',') !== want.join(','))
        ctx.addIssue({
          code: 'custom',
          path: [kind],
          message: `expected ${want.join(', ')}; got ${got.join(', ')}`,
        });
      g[kind].forEach((t, i) => {
        if (t.dtype !== 'float32' && !(t.dtype === 'int64' && t.name === 'input_ids'))
          ctx.addIssue({
            code: 'custom',
            path: [kind, i, 'dtype'],
            message: `${t.name} must be float32 (fp32 graph I/O)`,
          });
      });
    };
    check('inputs', io.inputs);
    check('outputs', io.outputs);
  });
}

export const BundleManifestSchema = z
  .object({
    format: z.literal('cgm-model/1'),
    source: z.string().min(1),
    resolution: z.object({
      height: z.number().int().positive().multipleOf(32),
      width: z.number().int().positive().multipleOf(32),
      latentHeight: z.number().int().positive(),
      latentWidth: z.number().int().positive(),
      vaeScaleFactor: z.number().int().positive(),
      /** UNet and VAE take any multiple of 32 (bundles before it: this size only, inputs centre-cropped). */
      dynamicSpatial: z.boolean().default(false),
    }),
    vae: z.object({
      scalingFactor: z.number().positive(),
      encoderOutput: z.literal('mean'),
      imageRange: z.tuple([z.literal(-1), z.literal(1)]),
    }),
    textEncoders: z.object({
      maxLength: z.literal(77),
      te1Dim: z.number().int().positive(),
      te2Dim: z.number().int().positive(),
      pooledDim: z.number().int().positive(),
      hiddenStateLayer: z.literal(-2),
    }),
    tokenizers: z.object({ tokenizer: bundlePath, tokenizer_2: bundlePath }),
    timestep: z.object({ dtype: z.literal('float32'), shape: z.tuple([z.literal('batch')]) }),
    attention: z.object({
      output: z.literal('xattn_mean'),
      gridHeight: z.number().int().positive(),
      gridWidth: z.number().int().positive(),
      tokens: z.literal(77),
      reduction: z.string(),
      layers: z
        .array(z.string().regex(/^(down|up)_blocks\.\d+\.attentions\.\d+\.transformer_blocks\.\d+\.attn2$/))
        .min(1),
    }),
    graphs: z.object({
      text_encoder: graphWithIo('text_encoder'),
      text_encoder_2: graphWithIo('text_encoder_2'),
      unet: graphWithIo('unet'),
      vae_encoder: graphWithIo('vae_encoder'),
      vae_decoder: graphWithIo('vae_decoder'),
    }),
    /** diffusers scheduler config as saved (non-finite floats are strings: "-inf"). */
    scheduler: z.looseObject({
      num_train_timesteps: z.number().int().positive(),
      beta_start: z.number(),
      beta_end: z.number(),
      beta_schedule: z.string(),
      prediction_type: z.string(),
    }),
    opset: z.number().int().positive(),
    tools: z.record(z.string(), z.string()),
  })
  .superRefine((m, ctx) => {
    const r = m.resolution;
    if (r.latentHeight * r.vaeScaleFactor !== r.height || r.latentWidth * r.vaeScaleFactor !== r.width)
      ctx.addIssue({
        code: 'custom',
        path: ['resolution'],
        message: 'latent size × vaeScaleFactor must equal the image size',
      });
    if (m.attention.gridHeight * 4 !== r.latentHeight || m.attention.gridWidth * 4 !== r.latentWidth)
      ctx.addIssue({
        code: 'custom',
        path: ['attention'],
        message: 'attention grid must be latent/4 (docs/algorithm.md §2.4)',
      });
    for (const vae of ['vae_encoder', 'vae_decoder'] as const)
      if (m.graphs[vae].precision !== 'fp32')
        ctx.addIssue({
          code: 'custom',
          path: ['graphs', vae, 'precision'],
          message: `must be fp32, got ${m.graphs[vae].precision} (the SDXL VAE overflows in fp16, docs/algorithm.md §3.4)`,
        });
    for (const problem of unsupportedScheduler(m.scheduler)) {
      ctx.addIssue({ code: 'custom', path: ['scheduler', problem.field], message: problem.message });
    }
    const xattn = m.graphs.unet.outputs.find((o) => o.name === 'xattn_mean');
    // a spatially dynamic graph has a symbolic cell count, (latent_height/4)·(latent_width/4)
    const cells = r.dynamicSpatial ? 'a symbolic cell count' : m.attention.gridHeight * m.attention.gridWidth;
    const cellsOk = r.dynamicSpatial ? typeof xattn?.shape[1] === 'string' : xattn?.shape[1] === cells;
    if (xattn && (!cellsOk || xattn.shape[2] !== 77))
      ctx.addIssue({
        code: 'custom',
        path: ['graphs', 'unet', 'outputs', 1, 'shape'],
        message: `xattn_mean must be [batch, ${cells}, 77]`,
      });
  });
export type BundleManifest = z.infer<typeof BundleManifestSchema>;

/**
 * What the engine's schedulers implement (schedulers/): ε-prediction on a scaled-linear schedule,
 * leading spacing with offset 1; the betas and the number of training steps are the bundle's own
 * (model-bundle.ts builds ᾱ from them). Anything else would denoise with the wrong maths and give wrong
 * images without an error, so a bundle that asks for it is refused by name.
 */
const IMPLEMENTED_SCHEDULER = {
  prediction_type: 'epsilon',
  beta_schedule: 'scaled_linear',
  timestep_spacing: 'leading',
  steps_offset: 1,
  rescale_betas_zero_snr: false,
  thresholding: false,
} as const;

/** The scheduler config's fields that differ from what the engine implements (absent fields pass). */
export function unsupportedScheduler(config: Record<string, unknown>): { field: string; message: string }[] {
  const out: { field: string; message: string }[] = [];
  for (const [field, implemented] of Object.entries(IMPLEMENTED_SCHEDULER)) {
    const value = config[field];
    if (value === undefined || value === implemented) continue;
    out.push({
      field,
      message:
        `${JSON.stringify(value)} is not implemented: the engine's schedulers implement ` +
        `${field} = ${JSON.stringify(implemented)} only (ε-prediction on a scaled-linear schedule)`,
    });
  }
  return out;
}

export class BundleManifestError extends Error {
  constructor(
    message: string,
    readonly file: string,
  ) {
    super(message);
    this.name = 'BundleManifestError';
  }
}

export const MANIFEST_FILE = 'cgm-model.json';

/** Parses a manifest object; the error names the first bad field as a dotted path. */
export function parseBundleManifest(value: unknown, file = MANIFEST_FILE): BundleManifest {
  const result = BundleManifestSchema.safeParse(value);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  const where = issue?.path.length ? issue.path.join('.') : '(root)';
  throw new BundleManifestError(`${file}: ${where}: ${issue?.message ?? 'invalid'}`, file);
}

export interface LoadedBundle {
  readonly dir: string;
  readonly manifest: BundleManifest;
  /** Absolute path of a graph's model.onnx (load ORT sessions by path so external data resolves). */
  graphPath(name: GraphName): string;
  tokenizerPath(which: 'tokenizer' | 'tokenizer_2'): string;
}

/** Reads and validates `<dir>/cgm-model.json` (or a direct path to the manifest file). */
export async function loadBundleManifest(dirOrFile: string): Promise<LoadedBundle> {
  const file = dirOrFile.endsWith('.json') ? dirOrFile : join(dirOrFile, MANIFEST_FILE);
  const dir = dirname(file);
  let raw: unknown;
  try {
    raw = JSON.parse(await readFile(file, 'utf8'));
  } catch (err) {
    throw new BundleManifestError(`${file}: cannot read manifest (${(err as Error).message})`, file);
  }
  const manifest = parseBundleManifest(raw, file);
  return {
    dir,
    manifest,
    graphPath: (name) => join(dir, manifest.graphs[name].file),
    tokenizerPath: (which) => join(dir, manifest.tokenizers[which]),
  };
}
