// Plain SDXL text-to-image: seeded Gaussian start, classifier-free guidance against the zero
// unconditional embedding (force_zeros_for_empty_prompt, as the pipelines and our edits use), one UNet
// call per step for all prompts. Used to measure a trained model's prompt fidelity; not an edit path.
import type { ImageTensor } from './image.js';
import type { EngineModels } from './model-bundle.js';
import { type NoiseSource, seededGaussianNoise } from './noise.js';
import { sampleCfgBatch } from './pipeline.js';
import { makeStepRule, type StepRuleKind } from './schedulers/step-rule.js';
import { batchEntry } from './tensor.js';
import { sdxlTimeIds } from './text-conditioning.js';
import { unconditional } from './unet-port.js';

export interface TextToImageOptions {
  readonly height: number;
  readonly width: number;
  readonly steps: number;
  readonly guidanceScale: number;
  readonly seed: number;
  /** 'ddim-eta0' (deterministic) by default; the stochastic rules draw their noise from the seed too. */
  readonly rule?: StepRuleKind;
}

export async function textToImage(
  models: EngineModels,
  prompts: readonly string[],
  o: TextToImageOptions,
): Promise<ImageTensor[]> {
  if (prompts.length === 0) return [];
  const rule = makeStepRule(o.rule ?? 'ddim-eta0', o.steps, 0, models.alphasCumprod);
  const h = o.height / models.latentDownscale;
  const w = o.width / models.latentDownscale;
  const noise: NoiseSource = seededGaussianNoise(o.seed);
  const { conditionings } = await models.text.encode(prompts);
  const { tokens, embed, pooled } = models.textDims;
  const timeIds = sdxlTimeIds(o.height, o.width, 'fixed');
  const out: ImageTensor[] = [];
  // One start latent per prompt, each from its own draw of the seeded source (x_T ~ N(0, I): σ_init = 1
  // for the DDIM / DPM-Solver++ schedules of SDXL).
  for (const [i, target] of conditionings.entries()) {
    const start = noise.next([1, 4, h, w], { purpose: `x_T/${i}`, timestep: rule.timesteps[0] });
    const zs =
      rule.kind === 'ddim-eta0'
        ? undefined
        : Array.from(rule.timesteps, (t) => noise.next([1, 4, h, w], { purpose: 'z', timestep: t }));
    const { latents } = await sampleCfgBatch({
      predictor: models.predictor,
      rule,
      start,
      zs,
      uncond: unconditional(tokens, embed, pooled),
      targets: [target],
      scale: o.guidanceScale,
      timeIds,
    });
    out.push(await models.vae.decode(batchEntry(latents[0], 0)));
  }
  return out;
}
