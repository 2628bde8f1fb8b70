// A model bundle on disk (cgm-model.json + ONNX graphs + tokenizers) → the engine's models: ONNX
// sessions on the chosen execution provider, the SDXL text conditioner, the UNet as a NoisePredictor
// and the fp32 VAE (docs/algorithm.md §3.4, §5.1). `ModelBundle` is the engine's own view of a
// bundle; `readModelBundle` adapts the manifest to it.

import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { type LoadedBundle, loadBundleManifest, MANIFEST_FILE } from './bundle-manifest.js';
import type { ImageTensor } from './image.js';
import { type Device, OnnxGraph } from './onnx-graph.js';
import { OnnxUnet, type UnetIoNames } from './onnx-unet.js';
import { OnnxVae } from './onnx-vae.js';
import { scaledLinearAlphasCumprod } from './schedulers/noise-schedule.js';
import type { Tensor } from './tensor.js';
import { SdxlTextConditioner } from './text-conditioning.js';
import { ClipTokenizer } from './tokenizer.js';
import type { NoisePredictor, PromptConditioning } from './unet-port.js';

export interface TextEncoderFiles {
  graph: string;
  tokenizer: string;
  padId?: number;
  input: string;
  hidden: string;
  pooled?: string;
}

/** Everything the engine needs to know about a bundle; paths absolute. */
export interface ModelBundle {
  dir: string;
  name: string;
  /** sha256 of cgm-model.json: recorded in summaries and part of the inversion cache key. */
  manifestHash: string;
  /** ᾱ of the bundle's noise schedule (its scheduler config's betas). */
  alphasCumprod: Float32Array;
  /** Image size the graphs were exported for (pixels). */
  height: number;
  width: number;
  /** Pixels of that size (SDXL 1024²): other aspect ratios are generated at about this area. */
  area: number;
  /** The UNet and VAE take any multiple of `sizeMultiple`; false: only height × width (inputs cropped). */
  dynamicSpatial: boolean;
  /** Image sides are multiples of this (latent/4 attention grid: 32 for SDXL-shaped UNets). */
  sizeMultiple: number;
  /** Pixels per latent cell (8). */
  latentDownscale: number;
  /** Latent cells per attention cell (4: the UNet's lowest cross-attention level). */
  attentionDownscale: number;
  vaeScalingFactor: number;
  textEncoders: [TextEncoderFiles, TextEncoderFiles];
  unet: { graph: string; dtype: 'float32' | 'float16'; io: UnetIoNames };
  vaeEncoder: { graph: string; input: string; output: string };
  vaeDecoder: { graph: string; input: string; output: string };
}

export class ModelBundleError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ModelBundleError';
  }
}

/** Reads and validates cgm-model.json (bundle-manifest.ts) and resolves what the engine needs. */
export async function readModelBundle(dir: string): Promise<ModelBundle> {
  const path = join(dir, MANIFEST_FILE);
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch {
    throw new ModelBundleError(
      `${path} not found: point --model at a bundle made by \`cgm export-models\` (e.g. --tiny)`,
    );
  }
  let loaded: LoadedBundle;
  try {
    loaded = await loadBundleManifest(dir);
  } catch (err) {
    throw new ModelBundleError((err as Error).message);
  }
  const m = loaded.manifest;
  const g = m.graphs;
  const r = m.resolution;
  const tokenizer = async (which: 'tokenizer' | 'tokenizer_2') => {
    const file = loaded.tokenizerPath(which);
    return { tokenizer: file, padId: await padIdOf(file) };
  };
  const [tok1, tok2] = await Promise.all([tokenizer('tokenizer'), tokenizer('tokenizer_2')]);
  return {
    dir,
    name: m.source,
    manifestHash: createHash('sha256').update(bytes).digest('hex'),
    height: r.height,
    width: r.width,
    area: r.height * r.width,
    dynamicSpatial: r.dynamicSpatial,
    sizeMultiple: r.vaeScaleFactor * 4,
    latentDownscale: r.vaeScaleFactor,
    attentionDownscale: r.latentHeight / m.attention.gridHeight,
    // The manifest refuses what the schedulers do not implement; the betas are the bundle's own.
    alphasCumprod: scaledLinearAlphasCumprod({
      trainSteps: m.scheduler.num_train_timesteps,
      betaStart: m.scheduler.beta_start,
      betaEnd: m.scheduler.beta_end,
    }),
    vaeScalingFactor: m.vae.scalingFactor,
    textEncoders: [
      { graph: loaded.graphPath('text_encoder'), ...tok1, input: 'input_ids', hidden: 'hidden_states' },
      {
        graph: loaded.graphPath('text_encoder_2'),
        ...tok2,
        input: 'input_ids',
        hidden: 'hidden_states',
        pooled: 'text_embeds',
      },
    ],
    unet: {
      graph: loaded.graphPath('unet'),
      dtype: g.unet.precision === 'fp16' ? 'float16' : 'float32',
      io: {
        sample: 'sample',
        timestep: 'timestep',
        encoderHiddenStates: 'encoder_hidden_states',
        textEmbeds: 'text_embeds',
        timeIds: 'time_ids',
        noise: 'noise_pred',
        xattn: m.attention.output,
      },
    },
    vaeEncoder: { graph: loaded.graphPath('vae_encoder'), input: 'image', output: 'latent_mean' },
    vaeDecoder: { graph: loaded.graphPath('vae_decoder'), input: 'latent_sample', output: 'image' },
  };
}

/**
 * The pad id from tokenizer_config.json next to tokenizer.json (SDXL: TE1 pads with <|endoftext|>,
 * TE2 with "!"); undefined lets ClipTokenizer use tokenizer.json's own padding or EOS.
 */
async function padIdOf(tokenizerJson: string): Promise<number | undefined> {
  try {
    const config = JSON.parse(await readFile(join(dirname(tokenizerJson), 'tokenizer_config.json'), 'utf8'));
    const pad = typeof config.pad_token === 'string' ? config.pad_token : config.pad_token?.content;
    if (typeof pad !== 'string') return undefined;
    const tok = JSON.parse(await readFile(tokenizerJson, 'utf8'));
    const added = (tok.added_tokens ?? []).find((t: { content: string }) => t.content === pad);
    const id = added?.id ?? tok.model?.vocab?.[pad];
    return typeof id === 'number' ? id : undefined;
  } catch {
    return undefined;
  }
}

/** Prompt encoding as the pipeline sees it: one conditioning per prompt and its word-token count. */
export interface PromptEncoder {
  encode(prompts: readonly string[]): Promise<{ conditionings: PromptConditioning[]; wordTokens: number[] }>;
}

export interface LatentCodec {
  encode(image: ImageTensor): Promise<Tensor>;
  decode(latents: Tensor): Promise<ImageTensor>;
}

/** The models a pipeline runs on: ONNX-backed in production, stubs in unit tests. */
export interface EngineModels {
  readonly predictor: NoisePredictor;
  readonly text: PromptEncoder;
  readonly vae: LatentCodec;
  /** (tokens, embed, pooled) of one prompt's conditioning; the unconditional entry is zeros of these. */
  readonly textDims: { tokens: number; embed: number; pooled: number };
  readonly latentDownscale: number;
  readonly attentionDownscale: number;
  /** ᾱ of the model's noise schedule, built from the bundle's scheduler config; absent (stubs): SDXL's. */
  readonly alphasCumprod?: Float32Array;
}

export interface LoadedModels extends EngineModels {
  readonly bundle: ModelBundle;
  readonly device: Device;
  release(): Promise<void>;
}

export interface OpenModelsOptions {
  device: Device;
  allowCpuFallback?: boolean;
  threads?: number;
  warn?: (message: string) => void;
}

/** Opens every graph of the bundle. VAE graphs are fp32 by contract (§3.4); the UNet may be fp16. */
export async function openModels(bundle: ModelBundle, options: OpenModelsOptions): Promise<LoadedModels> {
  const open = (path: string) => OnnxGraph.open(path, options);
  const [te1Files, te2Files] = bundle.textEncoders;
  const [te1, te2, unet, enc, dec] = [
    await open(te1Files.graph),
    await open(te2Files.graph),
    await open(bundle.unet.graph),
    await open(bundle.vaeEncoder.graph),
    await open(bundle.vaeDecoder.graph),
  ];
  for (const vae of [enc, dec]) {
    const bad = vae.inputs.find((i) => i.type !== 'float32');
    if (bad)
      throw new ModelBundleError(`${vae.path}: the VAE must be fp32 (input ${bad.name} is ${bad.type})`);
  }
  const conditioner = new SdxlTextConditioner(
    {
      graph: te1,
      tokenizer: await ClipTokenizer.load(te1Files.tokenizer, te1Files.padId),
      inputName: te1Files.input,
      hiddenOutput: te1Files.hidden,
    },
    {
      graph: te2,
      tokenizer: await ClipTokenizer.load(te2Files.tokenizer, te2Files.padId),
      inputName: te2Files.input,
      hiddenOutput: te2Files.hidden,
      pooledOutput: te2Files.pooled,
    },
  );
  const hasXattn = unet.outputs.some((o) => o.name === bundle.unet.io.xattn);
  const io: UnetIoNames = { ...bundle.unet.io, xattn: hasXattn ? bundle.unet.io.xattn : undefined };
  // Probe the conditioning width once with the empty prompt (cheap; needed for the zero uncond entry).
  const probe = await conditioner.encode(['']);
  const textDims = { tokens: 77, embed: probe.hiddenDim, pooled: probe.pooledDim };
  const text: PromptEncoder = {
    async encode(prompts) {
      if (prompts.length === 0) return { conditionings: [], wordTokens: [] };
      const out = await conditioner.encode(prompts);
      const conditionings = prompts.map((_, b) => ({
        embeds: {
          data: out.hidden.slice(b * 77 * out.hiddenDim, (b + 1) * 77 * out.hiddenDim),
          shape: [1, 77, out.hiddenDim],
        },
        pooled: {
          data: out.pooled.slice(b * out.pooledDim, (b + 1) * out.pooledDim),
          shape: [1, out.pooledDim],
        },
      }));
      return { conditionings, wordTokens: out.wordTokens };
    },
  };
  const graphs = [te1, te2, unet, enc, dec];
  return {
    bundle,
    device: unet.device,
    predictor: new OnnxUnet(unet, io),
    text,
    vae: new OnnxVae({
      encoder: { graph: enc, input: bundle.vaeEncoder.input, output: bundle.vaeEncoder.output },
      decoder: { graph: dec, input: bundle.vaeDecoder.input, output: bundle.vaeDecoder.output },
      scalingFactor: bundle.vaeScalingFactor,
    }),
    textDims,
    latentDownscale: bundle.latentDownscale,
    attentionDownscale: bundle.attentionDownscale,
    alphasCumprod: bundle.alphasCumprod,
    async release() {
      await Promise.all(graphs.map((g) => g.release()));
    },
  };
}
