// SDXL dual-encoder conditioning (docs/algorithm.md §3.1): per prompt, TE1 and TE2 penultimate
// hidden states concatenated on the feature axis (77 × (D1+D2)), and TE2's pooled projection.
// The unconditional branch is all zeros and needs no encoder call (§1.4).
import type { OnnxGraph } from './onnx-graph.js';
import { CLIP_LENGTH, type ClipTokenizer } from './tokenizer.js';

export interface EncoderSpec {
  graph: OnnxGraph;
  tokenizer: ClipTokenizer;
  inputName: string;
  hiddenOutput: string;
  /** Only TE2 has a pooled output used by SDXL. */
  pooledOutput?: string;
}

export interface PromptConditioning {
  /** (B, 77, D1+D2), row-major. */
  hidden: Float32Array;
  /** (B, P). */
  pooled: Float32Array;
  batch: number;
  hiddenDim: number;
  pooledDim: number;
  /** Word tokens per prompt (TE2's count, as diffusers takes `length` from tokenizer 2; §2.5). */
  wordTokens: number[];
}

export class SdxlTextConditioner {
  constructor(
    private readonly te1: EncoderSpec,
    private readonly te2: EncoderSpec,
  ) {
    if (!te2.pooledOutput) throw new Error('SDXL needs the pooled output of text encoder 2');
  }

  async encode(prompts: readonly string[]): Promise<PromptConditioning> {
    const batch = prompts.length;
    const first = await this.run(this.te1, prompts);
    const second = await this.run(this.te2, prompts);
    const d1 = first.hidden.length / (batch * CLIP_LENGTH);
    const d2 = second.hidden.length / (batch * CLIP_LENGTH);
    const hidden = new Float32Array(batch * CLIP_LENGTH * (d1 + d2));
    for (let row = 0; row < batch * CLIP_LENGTH; row++) {
      hidden.set(first.hidden.subarray(row * d1, (row + 1) * d1), row * (d1 + d2));
      hidden.set(second.hidden.subarray(row * d2, (row + 1) * d2), row * (d1 + d2) + d1);
    }
    return {
      hidden,
      pooled: second.pooled,
      batch,
      hiddenDim: d1 + d2,
      pooledDim: second.pooled.length / batch,
      wordTokens: second.words,
    };
  }

  private async run(spec: EncoderSpec, prompts: readonly string[]) {
    const ids = new Int32Array(prompts.length * CLIP_LENGTH);
    const words: number[] = [];
    prompts.forEach((p, i) => {
      const t = spec.tokenizer.encode(p);
      ids.set(t.ids, i * CLIP_LENGTH);
      words.push(t.wordTokens);
    });
    const outputs = [spec.hiddenOutput, ...(spec.pooledOutput ? [spec.pooledOutput] : [])];
    const out = await spec.graph.run(
      { [spec.inputName]: { data: ids, dims: [prompts.length, CLIP_LENGTH] } },
      outputs,
    );
    return {
      hidden: out[spec.hiddenOutput].data as Float32Array,
      pooled: spec.pooledOutput ? (out[spec.pooledOutput].data as Float32Array) : new Float32Array(0),
      words,
    };
  }
}

/** Where a UNet call happens, for the time ids each diffusers pipeline builds there. */
export type TimeIdsStage = 'csg' | 'invert-ddpm' | 'sample-ddpm' | 'ddim';

/**
 * SDXL micro-conditioning (§3.2): [orig_h, orig_w, crop_top, crop_left, target_h, target_w].
 * Fixed mode uses (H, W) everywhere. Faithful mode keeps each reference pipeline's own (quirk Q6):
 * LEDITS++'s invert() builds (W, H) and its edit reuses it, and the EF-DDPM reference inverts through
 * that invert(); the EF-DDPM and DDIM sampling and the DDIM inversion use SDXL's (H, W). Only a
 * non-square image tells them apart.
 */
export function sdxlTimeIds(
  height: number,
  width: number,
  mode: 'faithful' | 'fixed',
  stage: TimeIdsStage = 'csg',
): Float32Array {
  const swapped = mode === 'faithful' && (stage === 'csg' || stage === 'invert-ddpm');
  const [a, b] = swapped ? [width, height] : [height, width];
  return new Float32Array([a, b, 0, 0, a, b]);
}
