import { describe, expect, it } from 'vitest';
import {
  type ConceptGuidance,
  classifierFreeGuidance,
  leditsGuidance,
} from '../../gpu-worker/engine/guidance.js';
import { type EditFriendlyInversion, editFriendlyInversion } from '../../gpu-worker/engine/inversion.js';
import type { MaskMode } from '../../gpu-worker/engine/masks.js';
import { seededGaussianNoise } from '../../gpu-worker/engine/noise.js';
import {
  type EditOptions,
  type EditRequest,
  type EditStepTrace,
  editLatents,
} from '../../gpu-worker/engine/sampling.js';
import { makeStepRule } from '../../gpu-worker/engine/schedulers/step-rule.js';
import {
  add,
  bitEqual,
  maxAbsDiff,
  scale as scaleTensor,
  sub,
  type Tensor,
} from '../../gpu-worker/engine/tensor.js';
import { type StepProgress, unconditionalLike } from '../../gpu-worker/engine/unet-port.js';
import { STUB_GRID, stubConditioning, stubLatent, stubPredictor, TIME_IDS } from '../support/engine-stubs.js';

const N = 20;
const x0 = stubLatent(1);
const uncond = unconditionalLike(stubConditioning(0));

function concept(seed: number, overrides: Partial<ConceptGuidance> = {}): EditRequest['concepts'][number] {
  return {
    conditioning: stubConditioning(seed),
    guidance: {
      scale: 8,
      threshold: 0.7,
      warmup: 5,
      cooldown: null,
      reverse: false,
      span: { start: 1, end: 4 },
      ...overrides,
    },
  };
}

let cached: EditFriendlyInversion | null = null;
async function inversion(): Promise<EditFriendlyInversion> {
  cached ??= await editFriendlyInversion({
    x0,
    predictor: stubPredictor(),
    rule: makeStepRule('dpm-sde-2m', N, 0.15),
    uncond,
    timeIds: TIME_IDS,
    noise: seededGaussianNoise(5),
    numZeroNoiseSteps: 3,
  });
  return cached;
}

async function edit(requests: EditRequest[], extra: Partial<EditOptions> = {}) {
  const traces: EditStepTrace[] = [];
  const result = await editLatents({
    predictor: stubPredictor(),
    inversion: await inversion(),
    uncond,
    timeIds: TIME_IDS,
    requests,
    maskMode: 'intersect',
    attentionGrid: STUB_GRID,
    onTrace: (t) => traces.push(t),
    ...extra,
  });
  return { ...result, traces };
}

/** A fixed cross-attention map (Q = 16 queries × 77 tokens) for the guidance-rule tests. */
const ATTENTION = new Float32Array(16 * 77).map((_, i) => ((i * 7919) % 101) / 101);

/** Guidance active from step 0 with scale s and threshold q. */
const mk = (s: number, q: number): ConceptGuidance => ({
  scale: s,
  threshold: q,
  warmup: 0,
  cooldown: null,
  reverse: false,
  span: { start: 1, end: 3 },
});

function count(mask: Uint8Array | undefined): number {
  let n = 0;
  for (const v of mask ?? []) n += v;
  return n;
}

describe('LEDITS++/CSG editing (§2)', () => {
  it('item 6: during warmup ε̂ is ε_u bit for bit and the trajectory equals the unedited one', async () => {
    const edited = await edit([{ concepts: [concept(21, { warmup: 6 })] }]);
    const plain = await edit([{ concepts: [] }]);
    for (let i = 0; i < 6; i++) {
      expect(bitEqual(edited.traces[i].eps, edited.traces[i].epsUncond)).toBe(true);
      expect(edited.traces[i].activeConcepts).toEqual([]);
    }
    for (let i = 0; i <= 6; i++)
      expect(bitEqual(edited.traces[i].latents, plain.traces[i].latents)).toBe(true);
    expect(bitEqual(edited.traces[7].latents, plain.traces[7].latents)).toBe(false);
    expect(edited.traces[6].activeConcepts).toEqual([0]);
  });

  it('item 3: all scales 0, or warmup ≥ N, reproduce the unedited replay', async () => {
    const plain = await edit([{ concepts: [] }]);
    const zero = await edit([{ concepts: [concept(21, { scale: 0 }), concept(22, { scale: 0 })] }]);
    const late = await edit([{ concepts: [concept(21, { warmup: N })] }]);
    expect(maxAbsDiff(zero.latents[0], plain.latents[0])).toBe(0);
    expect(bitEqual(late.latents[0], plain.latents[0])).toBe(true);
  });

  it('cooldown stops a concept from step cooldown on', async () => {
    const { traces } = await edit([{ concepts: [concept(21, { warmup: 2, cooldown: 4 })] }]);
    expect(traces.map((t) => t.activeConcepts.length)).toEqual([0, 0, 1, 1, ...Array(N - 4).fill(0)]);
  });

  it('item 7: reverse with scale s equals forward with scale −s (exact)', async () => {
    const a = await edit([{ concepts: [concept(21, { reverse: true, scale: 6 }), concept(22)] }]);
    const b = await edit([{ concepts: [concept(21, { reverse: false, scale: -6 }), concept(22)] }]);
    expect(bitEqual(a.latents[0], b.latents[0])).toBe(true);
    const c = await edit([{ concepts: [concept(21, { scale: 6 }), concept(22)] }]);
    expect(bitEqual(a.latents[0], c.latents[0])).toBe(false);
  });

  it('item 8: per-step masks have the expected sizes on the 4×4 grid / 16×16 latent', async () => {
    const { traces } = await edit([{ concepts: [concept(21)] }]);
    const step = traces[10];
    const { attention, noise } = step.masks[0];
    expect(attention!.length).toBe(256);
    expect(count(attention)).toBe(80); // 5 of 16 cells × 16 pixels
    expect(count(noise)).toBe(77); // n − ⌈0.7·255⌉
    for (let y = 0; y < 16; y++) {
      for (let x = 0; x < 16; x++) expect(attention![y * 16 + x]).toBe(attention![(y & ~3) * 16 + (x & ~3)]);
    }
    // the guidance is zero outside M1⊙M2 on every channel
    const g = sub(step.eps, step.epsUncond);
    for (let c = 0; c < 4; c++) {
      for (let p = 0; p < 256; p++) if (!(attention![p] && noise![p])) expect(g.data[c * 256 + p]).toBe(0);
    }
  });

  it('item 8: threshold 0 gives ε̂ = ε_u + Σ s_c(ε_c − ε_u); mask modes pick M1, M2 or both', () => {
    const epsU = stubLatent(31);
    const e1 = stubLatent(32);
    const e2 = stubLatent(33);
    const out = leditsGuidance(
      epsU,
      [
        { concept: mk(2, 0), epsCond: e1, attention: ATTENTION },
        { concept: mk(3, 0), epsCond: e2, attention: ATTENTION },
      ],
      'intersect',
      STUB_GRID,
    );
    const expected = add(epsU, add(scaleTensor(sub(e1, epsU), 2), scaleTensor(sub(e2, epsU), 3)));
    expect(maxAbsDiff(out.eps, expected)).toBeLessThan(1e-5);
    const modes: MaskMode[] = ['intersect', 'attention', 'noise'];
    const masks = modes.map(
      (m) =>
        leditsGuidance(epsU, [{ concept: mk(2, 0.7), epsCond: e1, attention: ATTENTION }], m, STUB_GRID)
          .masks[0],
    );
    expect(masks[0].attention && masks[0].noise).toBeTruthy();
    expect(masks[1].noise).toBeUndefined();
    expect(masks[2].attention).toBeUndefined();
    const both = count(masks[0].attention!.map((v, p) => v & masks[0].noise![p]));
    expect(both).toBeLessThanOrEqual(Math.min(count(masks[0].attention), count(masks[0].noise)));
    expect(() =>
      leditsGuidance(epsU, [{ concept: mk(2, 0.7), epsCond: e1 }], 'intersect', STUB_GRID),
    ).toThrow(/attention map/);
  });

  it("Eq. 12 as written: ε̂ = ε(Y_{C_i}) + Σ masked terms; that is diffusers' scale-1, threshold-0 prompt", () => {
    const epsU = stubLatent(31);
    const epsBase = stubLatent(34);
    const e1 = stubLatent(32);
    // No masked term active: the base alone, not ε_u.
    const alone = leditsGuidance(epsU, [], 'intersect', STUB_GRID, [], epsBase);
    expect(maxAbsDiff(alone.eps, epsBase)).toBeLessThan(1e-6);
    // With a masked term, the base equals an unmasked LEDITS++ term at scale 1 (threshold 0) placed last.
    const withBase = leditsGuidance(
      epsU,
      [{ concept: mk(8, 0.7), epsCond: e1, attention: ATTENTION }],
      'intersect',
      STUB_GRID,
      [],
      epsBase,
    );
    const asTerm = leditsGuidance(
      epsU,
      [
        { concept: mk(8, 0.7), epsCond: e1, attention: ATTENTION },
        { concept: mk(1, 0), epsCond: epsBase, attention: ATTENTION },
      ],
      'intersect',
      STUB_GRID,
    );
    expect(bitEqual(withBase.eps, asTerm.eps)).toBe(true);
    expect(withBase.masks).toHaveLength(1);
    const plainTerm = leditsGuidance(
      epsU,
      [{ concept: mk(8, 0.7), epsCond: e1, attention: ATTENTION }],
      'intersect',
      STUB_GRID,
    );
    expect(maxAbsDiff(sub(withBase.eps, plainTerm.eps), sub(epsBase, epsU))).toBeLessThan(1e-5);
  });

  it('an interventional base is one more entry at every step and moves the latent from step 0', async () => {
    const base = stubConditioning(40);
    const plain = await edit([{ concepts: [concept(21)] }]);
    const eq12 = await edit([{ concepts: [concept(21)], base }]);
    // Warm-up steps are no longer ε_u: the trajectory leaves the reconstruction at once.
    expect(eq12.traces[0].epsBase).toBeDefined();
    expect(bitEqual(eq12.traces[0].eps, plain.traces[0].eps)).toBe(false);
    expect(eq12.nfe.sampleEvaluations).toBe(plain.nfe.sampleEvaluations + N);
    // Batched beside a plain request, each equals its run alone.
    const together = await edit([{ concepts: [concept(21)] }, { concepts: [concept(21)], base }]);
    expect(bitEqual(together.latents[0], plain.latents[0])).toBe(true);
    expect(bitEqual(together.latents[1], eq12.latents[0])).toBe(true);
  });

  it('item 11: permuting concepts with their parameters changes the result only by rounding', async () => {
    const a = await edit([
      { concepts: [concept(21, { scale: 5 }), concept(22, { scale: 9, warmup: 7 }), concept(23)] },
    ]);
    const b = await edit([
      { concepts: [concept(23), concept(21, { scale: 5 }), concept(22, { scale: 9, warmup: 7 })] },
    ]);
    expect(maxAbsDiff(a.latents[0], b.latents[0])).toBeLessThan(1e-4);
  });

  it('item 14: two edits on one inversion are identical (no RNG in editing)', async () => {
    const request = { concepts: [concept(21), concept(22)] };
    const a = await edit([request]);
    const b = await edit([request]);
    expect(bitEqual(a.latents[0], b.latents[0])).toBe(true);
  });

  it('batching several requests equals running each alone; NFE shares the warmup steps', async () => {
    const requests: EditRequest[] = [
      { concepts: [concept(21), concept(22)] },
      { concepts: [concept(23, { reverse: true })] },
      { concepts: [concept(24, { warmup: 8 }), concept(25), concept(26, { scale: 3 })] },
      { concepts: [] },
    ];
    const together = await edit(requests);
    const alone = await Promise.all(requests.map((r) => edit([r])));
    for (let r = 0; r < requests.length; r++) {
      expect(bitEqual(together.latents[r], alone[r].latents[0]), `request ${r}`).toBe(true);
    }
    expect(together.nfe.unetCalls).toBe(N);
    // Σ over steps of Σ over distinct latents (1 uncond + active concepts on it):
    // steps 0–4 one shared latent, nothing active → 1; step 5 still one latent, 2+1+2 active → 6;
    // then 4 latents (R3 idles on its own): steps 6–7 → 4 + 5, steps 8–19 (R2's 3rd concept on) → 4 + 6.
    const expected = 5 * 1 + 6 + 2 * 9 + (N - 8) * 10;
    expect(together.nfe.sampleEvaluations).toBe(expected);
  });

  it('NFE matches §5.2: faithful N(1+E), warmup-trimmed W + (N−W)(1+E); outputs equal', async () => {
    const request = { concepts: [concept(21), concept(22), concept(23)] };
    const trimmed = await edit([request], { batching: 'trimmed' });
    const faithful = await edit([request], { batching: 'faithful' });
    expect(faithful.nfe).toEqual({ unetCalls: N, sampleEvaluations: N * 4 });
    expect(trimmed.nfe).toEqual({ unetCalls: N, sampleEvaluations: 5 + (N - 5) * 4 });
    expect(bitEqual(trimmed.latents[0], faithful.latents[0])).toBe(true);
  });

  it('reports progress per step and stops between steps when aborted', async () => {
    const controller = new AbortController();
    const events: StepProgress[] = [];
    let calls = 0;
    const predictor = stubPredictor();
    const counting = {
      predict: (input: Parameters<typeof predictor.predict>[0]) => {
        calls++;
        return predictor.predict(input);
      },
    };
    const run = edit([{ concepts: [concept(21)] }], {
      predictor: counting,
      signal: controller.signal,
      onProgress: (e) => {
        events.push(e);
        if (e.step === 3) controller.abort();
      },
    });
    await expect(run).rejects.toThrow(/abort/i);
    expect(calls).toBe(3);
    expect(events.map((e) => e.step)).toEqual([1, 2, 3]);
    expect(events[0]).toMatchObject({ phase: 'edit', total: N, timestep: 821 });
  });

  it('plain CFG is ε_u + w(ε_c − ε_u)', () => {
    const u = stubLatent(41);
    const c = stubLatent(42);
    const out: Tensor = classifierFreeGuidance(u, c, 7.5);
    expect(maxAbsDiff(out, add(u, scaleTensor(sub(c, u), 7.5)))).toBeLessThan(1e-5);
  });
});
