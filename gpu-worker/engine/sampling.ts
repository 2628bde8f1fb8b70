// Denoising loops (docs/algorithm.md §2, §4): (a) LEDITS++/CSG edits, several edit requests on
// one inversion batched into one predictor call per step; (b) EF-DDPM with CFG on a target prompt;
// (c) DDIM η=0 from a DDIM-inverted latent with CFG. Editing uses no RNG (§1.7, §6 item 14).
import {
  type ConceptGuidance,
  type ConceptMasks,
  type ConceptStepInput,
  classifierFreeGuidance,
  isConceptActive,
  leditsGuidance,
  type ProtectedAttention,
} from './guidance.js';
import type { DdimInversion, EditFriendlyInversion } from './inversion.js';
import type { AttentionSpan, MaskMode } from './masks.js';
import {
  applyTransition,
  ddimRule,
  EMPTY_MEMORY,
  type SolverMemory,
  type StepRule,
} from './schedulers/step-rule.js';
import { batchEntry, type Tensor } from './tensor.js';
import {
  batchInput,
  countingPredictor,
  type LoopControls,
  type NfeCount,
  type NoisePredictor,
  type PromptConditioning,
} from './unet-port.js';

/** One editing prompt (CSG: the intervened concept or one causal descendant, §2.9). */
export interface ConceptEdit {
  readonly conditioning: PromptConditioning;
  readonly guidance: ConceptGuidance;
}

/**
 * Beyond the paper (protectNonDescendants): a non-descendant concept whose attention region is cut out
 * of the request's edit masks (guidance.ts leditsGuidance). Its batch entry is conditioned like an edit
 * concept, but only its cross-attention map is used; its noise prediction is discarded.
 */
export interface ProtectedEntry {
  readonly conditioning: PromptConditioning;
  readonly span: AttentionSpan;
}

/** One intervention: its concepts are guided together on one latent trajectory. */
export interface EditRequest {
  readonly concepts: readonly ConceptEdit[];
  /**
   * Eq. 12's interventional prompt Y_{C_i} (csgBase 'interventional'): one more batch entry at every
   * step, its ε the unmasked base of ε̂ (guidance.ts leditsGuidance). Absent = LEDITS++'s ε_u base.
   */
  readonly base?: PromptConditioning;
  /**
   * Protected concepts (beyond the paper). One extra batch entry each, sent only at steps where some
   * concept of this request is active (whatever the batching), so they add |protected| evaluations
   * per such step; absent or empty = the paper's algorithm, bit for bit.
   */
  readonly protected?: readonly ProtectedEntry[];
}

/**
 * Quirk Q8: 'faithful' sends every concept every step like diffusers (N(1+E) per request);
 * 'trimmed' sends only concepts active at the step (W + (N−W)(1+E)); outputs are the same.
 */
export type WarmupBatching = 'faithful' | 'trimmed';

export interface EditStepTrace {
  readonly request: number;
  readonly step: number;
  readonly timestep: number;
  /** x_i, the latent fed to the predictor. */
  readonly latents: Tensor;
  readonly epsUncond: Tensor;
  /** Indices (into the request's concepts) of the concepts active at this step. */
  readonly activeConcepts: readonly number[];
  readonly epsConcepts: readonly Tensor[];
  /** ε on the interventional prompt, when the request has one. */
  readonly epsBase?: Tensor;
  readonly masks: readonly ConceptMasks[];
  /** Protected entries sent this step (0 or the request's protected count). */
  readonly protectedEntries: number;
  /** ε̂ handed to the scheduler. */
  readonly eps: Tensor;
}

export interface EditOptions extends LoopControls {
  readonly predictor: NoisePredictor;
  readonly inversion: EditFriendlyInversion;
  readonly uncond: PromptConditioning;
  readonly timeIds: Float32Array;
  readonly requests: readonly EditRequest[];
  /** Paper: 'intersect' (use_intersect_mask). */
  readonly maskMode: MaskMode;
  /** Cross-attention grid (h/4 × w/4). */
  readonly attentionGrid: { readonly height: number; readonly width: number };
  readonly batching?: WarmupBatching;
  readonly onTrace?: (trace: EditStepTrace) => void;
}

export interface EditResult {
  /** Final latents x_N per request, in request order. */
  readonly latents: readonly Tensor[];
  readonly nfe: NfeCount;
}

interface Track {
  x: Tensor;
  memory: SolverMemory;
}

/** A concept entry of the step's batch. */
interface ConceptSlot {
  readonly concept: number;
  readonly batchIndex: number;
}

interface BatchPlan {
  readonly entries: { latents: Tensor; conditioning: PromptConditioning }[];
  readonly uncondIndex: Map<Track, number>;
  /** Per request, the concept entries sent this step. */
  readonly slots: ConceptSlot[][];
  /** Per request, the batch indices of its protected entries sent this step (in protected order). */
  readonly protectedSlots: number[][];
  /** Per request, the batch index of its interventional base entry (-1 without one). */
  readonly baseSlots: number[];
  readonly anyActive: boolean;
  readonly anyProtected: boolean;
}

/** Batch layout of step i (§2.2): per distinct latent [uncond, its requests' concepts…]. */
function planBatch(
  groups: Map<Track, number[]>,
  requests: readonly EditRequest[],
  uncond: PromptConditioning,
  step: number,
  batching: WarmupBatching,
): BatchPlan {
  const entries: BatchPlan['entries'] = [];
  const uncondIndex = new Map<Track, number>();
  const slots: ConceptSlot[][] = requests.map(() => []);
  const protectedSlots: number[][] = requests.map(() => []);
  const baseSlots: number[] = requests.map(() => -1);
  let anyActive = false;
  let anyProtected = false;
  for (const [track, members] of groups) {
    uncondIndex.set(track, entries.length);
    entries.push({ latents: track.x, conditioning: uncond });
    for (const r of members) {
      const concepts = requests[r].concepts;
      let requestActive = false;
      for (let c = 0; c < concepts.length; c++) {
        const active = isConceptActive(concepts[c].guidance, step);
        anyActive ||= active;
        requestActive ||= active;
        if (!active && batching === 'trimmed') continue;
        slots[r].push({ concept: c, batchIndex: entries.length });
        entries.push({ latents: track.x, conditioning: concepts[c].conditioning });
      }
      const base = requests[r].base;
      if (base) {
        baseSlots[r] = entries.length;
        entries.push({ latents: track.x, conditioning: base });
      }
      // Protected maps only matter while some concept of the request is active (both batchings).
      if (!requestActive) continue;
      for (const p of requests[r].protected ?? []) {
        anyProtected = true;
        protectedSlots[r].push(entries.length);
        entries.push({ latents: track.x, conditioning: p.conditioning });
      }
    }
  }
  return { entries, uncondIndex, slots, protectedSlots, baseSlots, anyActive, anyProtected };
}

/**
 * LEDITS++/CSG editing of one inversion for several requests (§2). Requests whose latents are still
 * identical (e.g. all in warmup) share one unconditional entry and one scheduler step; the batch per
 * step is Σ over distinct latents of (1 + concepts sent + protected entries sent + 1 per interventional
 * base). For one request without a base that is 1+E per step
 * ('faithful') or 1 + active concepts ('trimmed'), i.e. §5.2's N(1+E) and W + (N−W)(1+E).
 */
export async function editLatents(options: EditOptions): Promise<EditResult> {
  const { inversion, requests, uncond, timeIds, maskMode, attentionGrid, onTrace, onProgress, signal } =
    options;
  const batching = options.batching ?? 'trimmed';
  const { predictor, nfe } = countingPredictor(options.predictor);
  const rule = inversion.rule;
  const n = rule.timesteps.length;
  if (inversion.zs.length !== n) {
    throw new RangeError(`inversion has ${inversion.zs.length} zs for ${n} steps`);
  }
  const shared: Track = { x: inversion.initLatents, memory: EMPTY_MEMORY };
  const tracks: Track[] = requests.map(() => shared);

  for (let i = 0; i < n; i++) {
    signal?.throwIfAborted();
    const t = rule.timesteps[i];
    const groups = groupByTrack(tracks);
    const plan = planBatch(groups, requests, uncond, i, batching);
    // Protected maps need attention in every mask mode, 'noise' included.
    const wantAttention = plan.anyActive && (maskMode !== 'noise' || plan.anyProtected);
    const out = await predictor.predict(batchInput(plan.entries, t, timeIds, wantAttention));
    if (wantAttention && !out.xattn) throw new Error('predictor returned no xattn although masks need it');

    for (const [track, members] of groups) {
      const epsUncond = batchEntry(out.noise, plan.uncondIndex.get(track)!);
      let idleStep: Track | null = null;
      for (const r of members) {
        const concepts: ConceptStepInput[] = [];
        const activeConcepts: number[] = [];
        for (const { concept: c, batchIndex } of plan.slots[r]) {
          const guidance = requests[r].concepts[c].guidance;
          if (!isConceptActive(guidance, i)) continue; // faithful mode: computed, not used (Q8)
          activeConcepts.push(c);
          concepts.push({
            concept: guidance,
            epsCond: batchEntry(out.noise, batchIndex),
            attention: wantAttention ? xattnEntry(out.xattn!, batchIndex) : undefined,
          });
        }
        const protectedMaps: ProtectedAttention[] = plan.protectedSlots[r].map((batchIndex, k) => ({
          attention: xattnEntry(out.xattn!, batchIndex),
          span: requests[r].protected![k].span,
        }));
        const epsBase = plan.baseSlots[r] < 0 ? undefined : batchEntry(out.noise, plan.baseSlots[r]);
        const guided = leditsGuidance(epsUncond, concepts, maskMode, attentionGrid, protectedMaps, epsBase);
        onTrace?.({
          request: r,
          step: i,
          timestep: t,
          latents: track.x,
          epsUncond,
          activeConcepts,
          epsConcepts: concepts.map((concept) => concept.epsCond),
          ...(epsBase ? { epsBase } : {}),
          masks: guided.masks,
          protectedEntries: protectedMaps.length,
          eps: guided.eps,
        });
        // Requests with no active concept on a shared latent take the identical step: compute it once.
        const idle = concepts.length === 0 && !epsBase;
        if (idle && idleStep) {
          tracks[r] = idleStep;
          continue;
        }
        const step = rule.transition(i, track.x, guided.eps, track.memory);
        const advanced: Track = { x: applyTransition(step, inversion.zs[i]), memory: step.memory };
        if (idle) idleStep = advanced;
        tracks[r] = advanced;
      }
    }
    onProgress?.({ phase: 'edit', step: i + 1, total: n, timestep: t, nfe: { ...nfe } });
  }
  return { latents: tracks.map((track) => track.x), nfe };
}

function groupByTrack(tracks: readonly Track[]): Map<Track, number[]> {
  const groups = new Map<Track, number[]>();
  tracks.forEach((track, r) => {
    const members = groups.get(track);
    if (members) members.push(r);
    else groups.set(track, [r]);
  });
  return groups;
}

function xattnEntry(xattn: Tensor, b: number): Float32Array {
  const inner = xattn.data.length / xattn.shape[0];
  return xattn.data.subarray(b * inner, (b + 1) * inner);
}

export interface CfgStepTrace {
  readonly step: number;
  readonly timestep: number;
  readonly latents: Tensor;
  readonly epsUncond: Tensor;
  readonly epsTarget: Tensor;
  readonly eps: Tensor;
}

export interface CfgSamplingOptions extends LoopControls {
  readonly predictor: NoisePredictor;
  readonly rule: StepRule;
  /** The latent at rule.timesteps[0]. */
  readonly start: Tensor;
  /** Variance noise per step (EF-DDPM); omitted for deterministic rules. */
  readonly zs?: readonly Tensor[];
  readonly uncond: PromptConditioning;
  readonly target: PromptConditioning;
  /** w_tar (a parameter: the paper does not state it, §4). */
  readonly scale: number;
  readonly timeIds: Float32Array;
  readonly onTrace?: (trace: CfgStepTrace) => void;
}

/** CFG sampling on a target prompt, batch [uncond, target] per step (2N evaluations, §5.2). */
export async function sampleWithCfg(
  options: CfgSamplingOptions,
): Promise<{ latents: Tensor; nfe: NfeCount }> {
  const { rule, start, zs, uncond, target, scale, timeIds, onTrace, onProgress, signal } = options;
  const { predictor, nfe } = countingPredictor(options.predictor);
  const n = rule.timesteps.length;
  if (zs && zs.length !== n) throw new RangeError(`${zs.length} zs for ${n} steps`);
  let x = start;
  let memory: SolverMemory = EMPTY_MEMORY;
  for (let i = 0; i < n; i++) {
    signal?.throwIfAborted();
    const t = rule.timesteps[i];
    const entries = [
      { latents: x, conditioning: uncond },
      { latents: x, conditioning: target },
    ];
    const out = await predictor.predict(batchInput(entries, t, timeIds, false));
    const epsUncond = batchEntry(out.noise, 0);
    const epsTarget = batchEntry(out.noise, 1);
    const eps = classifierFreeGuidance(epsUncond, epsTarget, scale);
    onTrace?.({ step: i, timestep: t, latents: x, epsUncond, epsTarget, eps });
    const step = rule.transition(i, x, eps, memory);
    if (step.std !== 0 && !zs) throw new Error(`step rule ${rule.kind} is stochastic and needs zs`);
    x = applyTransition(step, zs ? zs[i] : null);
    memory = step.memory;
    onProgress?.({ phase: 'sample', step: i + 1, total: n, timestep: t, nfe: { ...nfe } });
  }
  return { latents: x, nfe };
}

type CfgTargetOptions = Omit<CfgSamplingOptions, 'rule' | 'start' | 'zs'>;

/** EF-DDPM baseline (§4.2): replay the inversion's zs with CFG on the target prompt. */
export function sampleEditFriendlyCfg(
  inversion: EditFriendlyInversion,
  options: CfgTargetOptions,
): Promise<{ latents: Tensor; nfe: NfeCount }> {
  return sampleWithCfg({ ...options, rule: inversion.rule, start: inversion.initLatents, zs: inversion.zs });
}

/** DDIM baseline (§4.1): η=0 from the DDIM-inverted latent with target CFG. */
export function sampleDdimCfg(
  inversion: DdimInversion,
  grid: { numSteps: number; skip: number },
  options: CfgTargetOptions,
): Promise<{ latents: Tensor; nfe: NfeCount }> {
  return sampleWithCfg({ ...options, rule: ddimRule(grid.numSteps, grid.skip, 0), start: inversion.latents });
}
