// Guidance rules (docs/algorithm.md §2.3, §4): plain CFG and the per-concept LEDITS++/CSG term
// ε̂ = ε_u + Σ_c g_c with warmup, cooldown, direction, scale and masks. No momentum, no source term,
// guidance_rescale unsupported (quirk Q7).
import { type AttentionSpan, attentionMask, type MaskMode, noiseMask } from './masks.js';
import { assertSameShape, type Tensor } from './tensor.js';

/** ε = ε_u + w·(ε_c − ε_u). */
export function classifierFreeGuidance(epsUncond: Tensor, epsCond: Tensor, scale: number): Tensor {
  assertSameShape(epsUncond, epsCond, 'classifierFreeGuidance');
  const out = new Float32Array(epsUncond.data.length);
  const u = epsUncond.data;
  const c = epsCond.data;
  for (let i = 0; i < out.length; i++) out[i] = u[i] + scale * (c[i] - u[i]);
  return { data: out, shape: [...epsUncond.shape] };
}

/** One concept's LEDITS++ parameters (list-valued per concept in the pipeline, §2.9). */
export interface ConceptGuidance {
  /** edit_guidance_scale (paper 8.0). */
  readonly scale: number;
  /** edit_threshold q (paper 0.7). */
  readonly threshold: number;
  /** edit_warmup_steps: inactive while i < warmup (paper 10). */
  readonly warmup: number;
  /** edit_cooldown_steps: inactive once i ≥ cooldown; null = never. */
  readonly cooldown: number | null;
  readonly reverse: boolean;
  /** Token positions summed for M1 (§2.5). */
  readonly span: AttentionSpan;
}

/** §2.3 step 1. */
export function isConceptActive(concept: ConceptGuidance, step: number): boolean {
  if (step < concept.warmup) return false;
  return concept.cooldown === null || step < concept.cooldown;
}

export interface ConceptStepInput {
  readonly concept: ConceptGuidance;
  /** (1,4,h,w). */
  readonly epsCond: Tensor;
  /** (Q,77) mean cross-attention of this concept's batch entry; needed unless mode is 'noise'. */
  readonly attention?: Float32Array;
}

export interface ConceptMasks {
  /** M1 at latent size (h·w), 0/1; absent in 'noise' mode. */
  readonly attention?: Uint8Array;
  /** M2 (h·w), 0/1; absent in 'attention' mode. */
  readonly noise?: Uint8Array;
  /**
   * Beyond the paper (protectNonDescendants): per protected concept, its M1 at this concept's
   * threshold (h·w, 0/1); present only when protected maps were supplied. Their union is cut out.
   */
  readonly protected?: readonly Uint8Array[];
}

/**
 * Beyond the paper (protectNonDescendants, docs/algorithm.md §8.4): a non-descendant
 * concept's mean cross-attention map (Q,77) from its own batch entry, and its token span.
 */
export interface ProtectedAttention {
  readonly attention: Float32Array;
  readonly span: AttentionSpan;
}

export interface LeditsGuidanceResult {
  /** ε̂ = ε_u + Σ g_c (+ (ε_base − ε_u) with an interventional base). */
  readonly eps: Tensor;
  /** Masks per supplied (active) concept, in input order. */
  readonly masks: ConceptMasks[];
}

/**
 * ε̂ for one step from ε_u and the active concepts' ε_c (§2.3–2.7). Callers pass only concepts active
 * at this step; with none, ε̂ is ε_u itself (bit-exact warmup, §6 item 6).
 *
 * Non-descendant protection (beyond the paper; only when `protectedMaps` is non-empty): for every
 * active concept c, P_c = ∪_p M1_p where M1_p is built from protected concept p's own attention map by
 * the M1 rule of §2.6 (its token span, 3×3 Gaussian, quantile at c's threshold, ≥τ, nearest upsampling),
 * and c's applied mask becomes M_c ⊙ (1 − P_c), M_c being M1⊙M2 / M1 / M2 per `mode`. Inside P_c no
 * term of c is added, so where every active concept is protected ε̂ = ε_u exactly.
 *
 * `epsBase` (csgBase 'interventional', Eq. 12 as written): ε on the interventional prompt, added as an
 * unmasked term (ε_base − ε_u) after the concepts' terms, so ε̂ = ε_base + Σ g_c. This is what diffusers
 * computes for an editing prompt with scale 1, threshold 0 (all-ones masks) and no warm-up placed last,
 * to float rounding, which is how the parity test checks it. Protection never cuts it.
 */
export function leditsGuidance(
  epsUncond: Tensor,
  concepts: readonly ConceptStepInput[],
  mode: MaskMode,
  attentionGrid: { height: number; width: number },
  protectedMaps: readonly ProtectedAttention[] = [],
  epsBase?: Tensor,
): LeditsGuidanceResult {
  if (concepts.length === 0 && !epsBase) return { eps: epsUncond, masks: [] };
  const [, channels, height, width] = epsUncond.shape;
  const plane = height * width;
  const total = new Float32Array(epsUncond.data.length);
  const masks: ConceptMasks[] = [];
  const u = epsUncond.data;
  // Protected M1 per threshold (concepts of one plan usually share one threshold).
  const protectedAt = new Map<number, { maps: Uint8Array[]; union: Uint8Array }>();
  const protectionFor = (threshold: number) => {
    let hit = protectedAt.get(threshold);
    if (!hit) {
      const maps = protectedMaps.map((p) =>
        attentionMask(p.attention, p.span, threshold, attentionGrid, { height, width }),
      );
      const union = new Uint8Array(plane);
      for (const m of maps) for (let p = 0; p < plane; p++) union[p] |= m[p];
      hit = { maps, union };
      protectedAt.set(threshold, hit);
    }
    return hit;
  };
  for (const { concept, epsCond, attention } of concepts) {
    assertSameShape(epsUncond, epsCond, 'leditsGuidance');
    // §2.3 step 2: g = (ε_c − ε_u)·(±1)·scale, each op rounded to fp32 as torch does; before masking
    const signedScale = concept.reverse ? -concept.scale : concept.scale;
    const g = new Float32Array(u.length);
    const c = epsCond.data;
    for (let i = 0; i < g.length; i++) g[i] = c[i] - u[i];
    for (let i = 0; i < g.length; i++) g[i] *= signedScale;
    let m1: Uint8Array | undefined;
    let m2: Uint8Array | undefined;
    if (mode !== 'noise') {
      if (!attention) throw new Error('attention map required for attention/intersect masks');
      m1 = attentionMask(attention, concept.span, concept.threshold, attentionGrid, { height, width });
    }
    if (mode !== 'attention') m2 = noiseMask(g, channels, plane, concept.threshold);
    const protection = protectedMaps.length > 0 ? protectionFor(concept.threshold) : undefined;
    masks.push(
      protection ? { attention: m1, noise: m2, protected: protection.maps } : { attention: m1, noise: m2 },
    );
    const cut = protection?.union;
    for (let ch = 0; ch < channels; ch++) {
      const base = ch * plane;
      for (let p = 0; p < plane; p++) {
        const keep =
          (m1 === undefined || m1[p] === 1) &&
          (m2 === undefined || m2[p] === 1) &&
          (cut === undefined || cut[p] === 0);
        if (keep) total[base + p] += g[base + p];
      }
    }
  }
  if (epsBase) {
    assertSameShape(epsUncond, epsBase, 'leditsGuidance');
    const b = epsBase.data;
    for (let i = 0; i < total.length; i++) total[i] += b[i] - u[i];
  }
  const out = new Float32Array(u.length);
  for (let i = 0; i < out.length; i++) out[i] = u[i] + total[i];
  return { eps: { data: out, shape: [...epsUncond.shape] }, masks };
}
