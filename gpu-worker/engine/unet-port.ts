// The one interface the denoising loops call (docs/architecture.md §4; UNet graph I/O in
// docs/algorithm.md §5.1). An ONNX-backed predictor and test stubs both implement it.
import { concatBatch, type Tensor, tensor } from './tensor.js';

export interface NoisePredictorInput {
  /** (B,4,h,w). */
  readonly latents: Tensor;
  /** Integer timestep shared by the whole batch. */
  readonly timestep: number;
  /** (B,77,D) prompt embeddings; zeros for the unconditional entry (§1.4). */
  readonly cond: Tensor;
  /** (B,P) pooled embeddings; zeros for the unconditional entry. */
  readonly pooled: Tensor;
  /** (B,6) SDXL micro-conditioning (§3.2). */
  readonly timeIds: Tensor;
  /** True when the caller will read `xattn` (LEDITS++ editing with an attention mask). */
  readonly wantAttention: boolean;
}

export interface NoisePredictorOutput {
  /** (B,4,h,w). */
  readonly noise: Tensor;
  /** (B,(h/4)(w/4),77): per entry, the mean cross-attention map of §2.4 / §5.1. */
  readonly xattn?: Tensor;
}

export interface NoisePredictor {
  predict(input: NoisePredictorInput): Promise<NoisePredictorOutput>;
}

/** One prompt's conditioning, batch 1: embeds (1,77,D) and pooled (1,P). */
export interface PromptConditioning {
  readonly embeds: Tensor;
  readonly pooled: Tensor;
}

/** Unconditional branch: all zeros (force_zeros_for_empty_prompt, §1.4). */
export function unconditional(tokens: number, embedDim: number, pooledDim: number): PromptConditioning {
  return { embeds: tensor([1, tokens, embedDim]), pooled: tensor([1, pooledDim]) };
}

export function unconditionalLike(c: PromptConditioning): PromptConditioning {
  return { embeds: tensor(c.embeds.shape), pooled: tensor(c.pooled.shape) };
}

/** Stacks per-entry latents and conditioning into one predictor input. */
export function batchInput(
  entries: readonly { latents: Tensor; conditioning: PromptConditioning }[],
  timestep: number,
  timeIds: Float32Array,
  wantAttention: boolean,
): NoisePredictorInput {
  if (timeIds.length !== 6) throw new RangeError(`timeIds must have 6 values, got ${timeIds.length}`);
  const ids = new Float32Array(6 * entries.length);
  for (let b = 0; b < entries.length; b++) ids.set(timeIds, 6 * b);
  return {
    latents: concatBatch(entries.map((e) => e.latents)),
    timestep,
    cond: concatBatch(entries.map((e) => e.conditioning.embeds)),
    pooled: concatBatch(entries.map((e) => e.conditioning.pooled)),
    timeIds: tensor([entries.length, 6], ids),
    wantAttention,
  };
}

/** Sample-evaluation and call counts (§5.2). */
export interface NfeCount {
  unetCalls: number;
  sampleEvaluations: number;
}

export function countingPredictor(inner: NoisePredictor): { predictor: NoisePredictor; nfe: NfeCount } {
  const nfe: NfeCount = { unetCalls: 0, sampleEvaluations: 0 };
  return {
    nfe,
    predictor: {
      predict(input) {
        nfe.unetCalls++;
        nfe.sampleEvaluations += input.latents.shape[0];
        return inner.predict(input);
      },
    },
  };
}

/** Per-step progress of a loop (inversion, editing, sampling). */
export interface StepProgress {
  readonly phase: 'invert' | 'edit' | 'sample';
  /** Steps completed so far (1-based after the step). */
  readonly step: number;
  readonly total: number;
  readonly timestep: number;
  readonly nfe: NfeCount;
}

/** What every loop accepts besides its maths: progress reporting and cancellation between steps. */
export interface LoopControls {
  readonly onProgress?: (event: StepProgress) => void;
  /** Checked before every step; an aborted signal throws its reason (an AbortError by default). */
  readonly signal?: AbortSignal;
}
