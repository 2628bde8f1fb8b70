// The pipeline on stub models: one inversion per method family serves every intervention, CSG edits of
// all interventions share one UNet call per step (warmup-trimmed), NFE per stage is counted and
// reported, progress carries the stage, an AbortSignal stops between steps, and an inversion state
// survives a bytes round trip.
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { BaselineEditPlan, CsgEditPlan, EditPlan } from '../../core/schemas/edit-plan.js';
import type { ImageTensor } from '../../gpu-worker/engine/image.js';
import { deserializeAbduction, serializeAbduction } from '../../gpu-worker/engine/inversion-state.js';
import { tokenSpan } from '../../gpu-worker/engine/masks.js';
import type { EngineModels } from '../../gpu-worker/engine/model-bundle.js';
import {
  abduct,
  naiveNfe,
  type PipelineProgress,
  predictCounterfactuals,
} from '../../gpu-worker/engine/pipeline.js';
import { editLatents } from '../../gpu-worker/engine/sampling.js';
import {
  SDXL_NOISE_SCHEDULE,
  scaledLinearAlphasCumprod,
  sdxlAlphasCumprod,
} from '../../gpu-worker/engine/schedulers/noise-schedule.js';
import { engineSettings } from '../../gpu-worker/engine/settings.js';
import { bitEqual, type Tensor, tensor } from '../../gpu-worker/engine/tensor.js';
import { sdxlTimeIds } from '../../gpu-worker/engine/text-conditioning.js';
import { unconditional } from '../../gpu-worker/engine/unet-port.js';
import { STUB, STUB_GRID, stubConditioning, stubPredictor } from '../support/engine-stubs.js';

const N = 12;
const settings = engineSettings({
  inversion: { numSteps: N },
  edit: { warmup: 3 },
  baselines: { numSteps: N },
});

function hash(text: string): number {
  let h = 7;
  for (const ch of text) h = (h * 31 + ch.charCodeAt(0)) >>> 0;
  return h;
}

/** Stub models: VAE = 4×4 average pooling of RGB (+ a mean channel); text = seeded conditioning. */
function stubModels(): EngineModels {
  return {
    predictor: stubPredictor(),
    textDims: { tokens: STUB.tokens, embed: STUB.embed, pooled: STUB.pooled },
    latentDownscale: 4,
    attentionDownscale: 4,
    text: {
      async encode(prompts) {
        return {
          conditionings: prompts.map((p) => stubConditioning(hash(p))),
          wordTokens: prompts.map((p) => p.split(/\s+/).length),
        };
      },
    },
    vae: {
      async encode(image: ImageTensor): Promise<Tensor> {
        const [, , h, w] = image.shape;
        const out = tensor([1, 4, h / 4, w / 4]);
        for (let c = 0; c < 4; c++) {
          for (let y = 0; y < h / 4; y++) {
            for (let x = 0; x < w / 4; x++) {
              let acc = 0;
              for (let dy = 0; dy < 4; dy++) {
                for (let dx = 0; dx < 4; dx++)
                  acc += image.data[(c % 3) * h * w + (4 * y + dy) * w + 4 * x + dx];
              }
              out.data[c * (h / 4) * (w / 4) + y * (w / 4) + x] = acc / 16;
            }
          }
        }
        return out;
      },
      async decode(latents: Tensor): Promise<ImageTensor> {
        const [, , h, w] = latents.shape;
        const data = new Float32Array(3 * h * w);
        data.set(latents.data.subarray(0, 3 * h * w));
        return { data, shape: [1, 3, h, w] };
      },
    },
  };
}

function image(): ImageTensor {
  const h = STUB.height * 4;
  const w = STUB.width * 4;
  const data = new Float32Array(3 * h * w);
  for (let i = 0; i < data.length; i++) data[i] = Math.sin(i * 0.013) * 0.8;
  return { data, shape: [1, 3, h, w] };
}

const choices = {
  promptStyle: 'new_value',
  includeNonDescendantChanges: false,
  reverseOldValues: false,
  protectNonDescendants: false,
  csgBase: 'unconditional',
} as const;

function csgPlan(id: string, prompts: string[], warmup = 3): CsgEditPlan {
  return {
    method: 'csg',
    interventionId: id,
    sourcePrompt: 'a street',
    choices: { ...choices },
    violations: [],
    concepts: prompts.map((prompt, c) => ({
      prompt,
      role: c === 0 ? 'intervened' : 'descendant',
      conceptId: `c${c}`,
      scale: 8,
      threshold: 0.7,
      warmup,
      reverse: false,
    })),
    protectedConcepts: [],
  };
}

function baselinePlan(id: string, method: 'ddpm' | 'ddim', prompt: string): BaselineEditPlan {
  return {
    method,
    interventionId: id,
    sourcePrompt: 'a street',
    choices: { ...choices },
    violations: [],
    targetPrompt: prompt,
  };
}

const plans: EditPlan[] = [
  csgPlan('i1', ['sunny weather', 'clear blue sky', 'dry road']),
  csgPlan('i2', ['dry road', 'no puddles']),
  csgPlan('i3', ['brick building']),
  baselinePlan('i1', 'ddpm', 'a sunny street'),
  baselinePlan('i2', 'ddpm', 'a dry street'),
  baselinePlan('i1', 'ddim', 'a sunny street'),
];

describe('engine settings', () => {
  it('default to the paper (and the EF-DDPM repo for the baselines)', () => {
    const d = engineSettings();
    expect(d.mode).toBe('faithful');
    expect(d.inversion).toEqual({
      numSteps: 100,
      skip: 0.15,
      sourceGuidanceScale: 3.5,
      numZeroNoiseSteps: 3,
    });
    expect(d.edit).toMatchObject({
      scale: 8,
      threshold: 0.7,
      warmup: 10,
      maskMode: 'intersect',
      batching: 'trimmed',
    });
    expect(d.baselines).toMatchObject({ cfgTarget: 15, cfgSource: 3.5, numSteps: 100, skip: 0.15 });
    expect(() => engineSettings({ inversion: { numSteps: 0 } })).toThrow();
  });

  it("take the baselines' values from their preset ('paper' by default), each overridable", () => {
    expect(engineSettings().baselines).toEqual({
      preset: 'paper',
      numSteps: 100,
      skip: 0.15,
      cfgSource: 3.5,
      cfgTarget: 15,
      numZeroNoiseSteps: 1,
    });
    expect(engineSettings({ baselines: { preset: 'ef-ddpm' } }).baselines).toMatchObject({
      numSteps: 64,
      skip: 36 / 64,
    });
    const mixed = engineSettings({ baselines: { preset: 'ef-ddpm', numSteps: 20, cfgTarget: 7.5 } });
    expect(mixed.baselines).toMatchObject({ preset: 'ef-ddpm', numSteps: 20, skip: 36 / 64, cfgTarget: 7.5 });
    expect(engineSettings(mixed)).toEqual(mixed);
    expect(() => engineSettings({ baselines: { preset: 'sdedit' as 'paper' } })).toThrow(/preset/);
  });

  it('take the token span of their mode (quirk Q5) unless one is set, and record it', () => {
    expect(engineSettings().edit.spanMode).toBe('padded75');
    expect(engineSettings({ mode: 'fixed' }).edit.spanMode).toBe('words');
    expect(engineSettings({ edit: { spanMode: 'words' } }).edit.spanMode).toBe('words');
    expect(engineSettings({ mode: 'fixed', edit: { spanMode: 'padded75' } }).edit.spanMode).toBe('padded75');
    // Re-parsing recorded settings keeps them (summaries and inversion states are parsed again).
    const recorded = engineSettings({ mode: 'fixed' });
    expect(engineSettings(recorded)).toEqual(recorded);
  });
});

describe("the model's own noise schedule", () => {
  it('is built from the scheduler config, and every loop and the stored inversion use it', async () => {
    expect(scaledLinearAlphasCumprod(SDXL_NOISE_SCHEDULE)).toBe(sdxlAlphasCumprod());
    const other = scaledLinearAlphasCumprod({ ...SDXL_NOISE_SCHEDULE, betaEnd: 0.02 });
    expect(other[999]).toBeLessThan(sdxlAlphasCumprod()[999]);
    const input = {
      image: image(),
      sourcePrompt: 'a street',
      methods: ['csg', 'ddpm', 'ddim'] as const,
      settings,
    };
    const sdxl = await abduct(stubModels(), { ...input, methods: [...input.methods] });
    const models = { ...stubModels(), alphasCumprod: other };
    const own = await abduct(models, { ...input, methods: [...input.methods] });
    // Same grid, other noise levels: the inversion differs from SDXL's.
    expect(Array.from(own.csg!.rule.timesteps)).toEqual(Array.from(sdxl.csg!.rule.timesteps));
    expect(own.csg!.rule.noiseLevel(0)).not.toEqual(sdxl.csg!.rule.noiseLevel(0));
    expect(bitEqual(own.ddim!.latents, sdxl.ddim!.latents)).toBe(false);
    // A stored inversion is rebuilt on the model's schedule: its edits equal the original's.
    const plans = [csgPlan('i1', ['dry road']), baselinePlan('i1', 'ddpm', 'a dry street')];
    const bytes = serializeAbduction('k', own, {
      csg: { numSteps: N, skip: settings.inversion.skip },
      ddpm: { numSteps: N, skip: settings.baselines.skip },
      ddim: { numSteps: N, skip: settings.baselines.skip },
    });
    const back = deserializeAbduction(bytes, other).abduction;
    expect(back.csg!.rule.noiseLevel(3)).toEqual(own.csg!.rule.noiseLevel(3));
    const [a, b] = await Promise.all([
      predictCounterfactuals(models, own, plans, settings),
      predictCounterfactuals(models, back, plans, settings),
    ]);
    for (const [i, o] of a.outcomes.entries()) expect(bitEqual(o.latents, b.outcomes[i].latents)).toBe(true);
  });
});

describe('SDXL time ids per stage (quirk Q6)', () => {
  // A non-square image: 4 latent rows more than columns, so (H, W) and (W, H) differ.
  const H = (STUB.height + 4) * 4;
  const W = STUB.width * 4;
  const tall: ImageTensor = {
    data: new Float32Array(3 * H * W).map((_, i) => Math.sin(i * 0.01)),
    shape: [1, 3, H, W],
  };

  /** The time ids of every UNet call, in call order, for a DDPM and a DDIM edit of the tall image. */
  async function timeIdsOfCalls(mode: 'faithful' | 'fixed'): Promise<string[]> {
    const calls: string[] = [];
    const models = stubModels();
    const inner = models.predictor;
    const spy = {
      ...models,
      predictor: {
        predict(input: Parameters<typeof inner.predict>[0]) {
          calls.push(Array.from(input.timeIds.data.subarray(0, 6)).join(','));
          return inner.predict(input);
        },
      },
    };
    const s = engineSettings({ ...settings, mode });
    const a = await abduct(spy, {
      image: tall,
      sourcePrompt: 'a street',
      methods: ['ddpm', 'ddim'],
      settings: s,
    });
    await predictCounterfactuals(
      spy,
      a,
      [baselinePlan('i1', 'ddpm', 'a sunny street'), baselinePlan('i1', 'ddim', 'a sunny street')],
      s,
    );
    return calls;
  }

  it('faithful: LEDITS++ and the EF-DDPM inversion (W, H), SDXL sampling and DDIM (H, W); fixed: (H, W)', async () => {
    expect(Array.from(sdxlTimeIds(H, W, 'faithful', 'csg'))).toEqual([W, H, 0, 0, W, H]);
    expect(Array.from(sdxlTimeIds(H, W, 'faithful', 'invert-ddpm'))).toEqual([W, H, 0, 0, W, H]);
    expect(Array.from(sdxlTimeIds(H, W, 'faithful', 'sample-ddpm'))).toEqual([H, W, 0, 0, H, W]);
    expect(Array.from(sdxlTimeIds(H, W, 'faithful', 'ddim'))).toEqual([H, W, 0, 0, H, W]);
    for (const stage of ['csg', 'invert-ddpm', 'sample-ddpm', 'ddim'] as const) {
      expect(Array.from(sdxlTimeIds(H, W, 'fixed', stage))).toEqual([H, W, 0, 0, H, W]);
    }
    // The pipeline hands each stage its own: N calls each of DDPM inversion, DDIM inversion, DDPM
    // sampling and DDIM sampling, in that order.
    const wh = `${W},${H},0,0,${W},${H}`;
    const hw = `${H},${W},0,0,${H},${W}`;
    const stages = (ids: string[]) => [ids, ids, ids, ids].flatMap((x, k) => Array(N).fill(x[k]));
    expect(await timeIdsOfCalls('faithful')).toEqual(stages([wh, hw, hw, hw]));
    expect(await timeIdsOfCalls('fixed')).toEqual(stages([hw, hw, hw, hw]));
  });
});

describe('pipeline (stub models)', () => {
  it('inverts once per method family and counts NFE per stage', async () => {
    const a = await abduct(stubModels(), {
      image: image(),
      sourcePrompt: 'a street',
      methods: ['csg', 'ddpm', 'ddim'],
      settings,
    });
    const nfe = Object.fromEntries(a.stages.map((s) => [s.stage, s.nfe]));
    // source CFG (3.5 > 1): N calls of batch 2 each (§5.2)
    expect(nfe['invert-csg']).toEqual({ unetCalls: N, sampleEvaluations: 2 * N });
    expect(nfe['invert-ddpm']).toEqual({ unetCalls: N, sampleEvaluations: 2 * N });
    expect(nfe['invert-ddim']).toEqual({ unetCalls: N, sampleEvaluations: 2 * N });
    expect(a.csg?.zs).toHaveLength(N);
    expect(a.ddpm?.rule.kind).toBe('ddim-eta1');
  });

  it('runs all CSG interventions in one UNet call per step, warmup-trimmed, and batches each baseline family', async () => {
    const models = stubModels();
    const a = await abduct(models, {
      image: image(),
      sourcePrompt: 'a street',
      methods: ['csg', 'ddpm', 'ddim'],
      settings,
    });
    const events: PipelineProgress[] = [];
    const result = await predictCounterfactuals(models, a, plans, settings, {
      onProgress: (e) => events.push(e),
    });
    const stage = (name: string) => result.stages.find((s) => s.stage === name)!;
    // CSG: 3 requests, E = 3+2+1. Warmup steps share one latent → batch 1; at step W the latents are
    // still identical → 1 + 6; afterwards every request has its own uncond → 3 + 6.
    const W = 3;
    expect(stage('edit-csg').nfe).toEqual({ unetCalls: N, sampleEvaluations: W + 7 + (N - W - 1) * 9 });
    expect(stage('edit-csg').shared).toBe(3);
    expect(stage('sample-ddpm').nfe).toEqual({ unetCalls: N, sampleEvaluations: 2 * 2 * N });
    expect(stage('sample-ddim').nfe).toEqual({ unetCalls: N, sampleEvaluations: 2 * N });
    expect(result.outcomes.map((o) => `${o.interventionId}/${o.method}`)).toEqual([
      'i1/csg',
      'i2/csg',
      'i3/csg',
      'i1/ddpm',
      'i2/ddpm',
      'i1/ddim',
    ]);
    const i1 = result.outcomes[0];
    expect(i1.nfe.sharedWith).toBe(3);
    expect(i1.masks).toHaveLength(3);
    expect(i1.masks[0].activeSteps).toBe(N - W);
    expect(Math.max(...i1.masks[0].frequency)).toBeLessThanOrEqual(1);
    expect(Math.max(...i1.masks[0].frequency)).toBeGreaterThan(0);
    // progress: every step of every loop, tagged with its stage
    const edits = events.filter((e) => e.stage === 'edit-csg');
    expect(edits.map((e) => e.step)).toEqual(Array.from({ length: N }, (_, i) => i + 1));
    expect(new Set(events.map((e) => e.stage))).toEqual(new Set(['edit-csg', 'sample-ddpm', 'sample-ddim']));
    // ours vs the paper-naive schedule (one pipeline call per intervention and method)
    const ours = [...a.stages, ...result.stages].reduce((acc, s) => acc + s.nfe.sampleEvaluations, 0);
    expect(ours).toBeLessThan(naiveNfe(settings, plans, true));
  });

  it("edits Eq. 12 as written: the interventional prompt's entry at every step, traced as eps_base", async () => {
    const models = stubModels();
    const a = await abduct(models, { image: image(), sourcePrompt: 'a street', methods: ['csg'], settings });
    const plain = csgPlan('i1', ['clear blue sky', 'dry road']);
    const eq12: CsgEditPlan = {
      ...plain,
      choices: { ...plain.choices, csgBase: 'interventional' },
      interventionalPrompt: 'a sunny street with a clear blue sky and a dry road',
    };
    const traced: [string, number, Tensor][] = [];
    const [p, e] = await Promise.all([
      predictCounterfactuals(models, a, [plain], settings),
      predictCounterfactuals(models, a, [eq12], settings, { trace: recordingTrace(traced) }),
    ]);
    const nfe = (r: typeof p) => r.stages.find((s) => s.stage === 'edit-csg')!.nfe.sampleEvaluations;
    expect(nfe(e) - nfe(p)).toBe(N);
    expect(naiveNfe(settings, [eq12], true) - naiveNfe(settings, [plain], true)).toBe(N);
    expect(bitEqual(e.outcomes[0].latents, p.outcomes[0].latents)).toBe(false);
    expect(traced.filter(([name]) => name === 'ledits/i1/eps_base')).toHaveLength(N);
    // Masks are reported for the masked terms only.
    expect(e.outcomes[0].masks.map((m) => m.prompt)).toEqual(['clear blue sky', 'dry road']);
  });

  it('batched edits equal one-at-a-time edits, and editing is deterministic', async () => {
    const models = stubModels();
    const a = await abduct(models, {
      image: image(),
      sourcePrompt: 'a street',
      methods: ['csg', 'ddpm'],
      settings,
    });
    const some = plans.filter((p) => p.method !== 'ddim');
    const together = await predictCounterfactuals(models, a, some, settings);
    for (const [k, plan] of some.entries()) {
      const alone = await predictCounterfactuals(models, a, [plan], settings);
      expect(
        bitEqual(alone.outcomes[0].latents, together.outcomes[k].latents),
        `${plan.interventionId}/${plan.method}`,
      ).toBe(true);
    }
  });

  it('stops between steps when the signal aborts', async () => {
    const models = stubModels();
    const controller = new AbortController();
    const seen: number[] = [];
    const run = abduct(
      models,
      { image: image(), sourcePrompt: 'a street', methods: ['csg'], settings },
      {
        signal: controller.signal,
        onProgress: (e) => {
          seen.push(e.step);
          if (e.step === 4) controller.abort();
        },
      },
    );
    await expect(run).rejects.toMatchObject({ name: 'AbortError' });
    expect(seen).toEqual([1, 2, 3, 4]);
  });

  it('an inversion state survives serialisation: same edits from the bytes', async () => {
    const models = stubModels();
    const a = await abduct(models, {
      image: image(),
      sourcePrompt: 'a street',
      methods: ['csg', 'ddpm', 'ddim'],
      settings,
    });
    const grid = { numSteps: N, skip: settings.inversion.skip };
    const bytes = serializeAbduction('key-1', a, { csg: grid, ddpm: grid, ddim: grid });
    const back = deserializeAbduction(bytes);
    expect(back.key).toBe('key-1');
    const before = await predictCounterfactuals(models, a, plans, settings);
    const after = await predictCounterfactuals(models, back.abduction, plans, settings);
    before.outcomes.forEach((o, k) => {
      expect(bitEqual(o.latents, after.outcomes[k].latents)).toBe(true);
    });
  });

  it('refuses plans it cannot run and inversions that are missing', async () => {
    const models = stubModels();
    const a = await abduct(models, { image: image(), sourcePrompt: '', methods: ['csg'], settings });
    expect(a.stages.find((s) => s.stage === 'invert-csg')?.nfe.sampleEvaluations).toBe(N); // no source CFG
    await expect(
      predictCounterfactuals(models, a, [baselinePlan('x', 'ddim', 'p')], settings),
    ).rejects.toThrow(/no DDIM inversion/);
  });
});

/** Every traced tensor (name, step, data bits), the outcomes' latents, mask frequencies and NFE. */
function digestRun(
  result: Awaited<ReturnType<typeof predictCounterfactuals>>,
  traced: [string, number, Tensor][],
): string {
  const h = createHash('sha256');
  const bits = (t: Tensor | Float32Array) => {
    const d = t instanceof Float32Array ? t : t.data;
    h.update(new Uint8Array(d.buffer, d.byteOffset, d.byteLength));
  };
  for (const [name, step, t] of traced) {
    h.update(`${name}@${step}:${t.shape.join('x')}`);
    bits(t);
  }
  for (const o of result.outcomes) {
    h.update(`${o.interventionId}/${o.method}:${JSON.stringify(o.nfe)}`);
    bits(o.latents);
    for (const m of o.masks) {
      h.update(`${m.conceptId}:${m.activeSteps}`);
      bits(m.frequency);
    }
  }
  for (const s of result.stages) h.update(`${s.stage}:${JSON.stringify(s.nfe)}:${s.shared}`);
  return h.digest('hex');
}

function recordingTrace(into: [string, number, Tensor][]) {
  return {
    tensor(name: string, value: Tensor) {
      into.push([name, -1, value]);
    },
    step(name: string, index: number, _length: number, value: Tensor) {
      into.push([name, index, value]);
    },
    ints(name: string, values: ArrayLike<number>) {
      into.push([name, -1, tensor([values.length], Float32Array.from(values))]);
    },
  };
}

describe('non-descendant protection (beyond the paper)', () => {
  const withProtection = (plan: CsgEditPlan, prompts: string[]): CsgEditPlan => ({
    ...plan,
    choices: { ...plan.choices, protectNonDescendants: true },
    protectedConcepts: prompts.map((prompt, k) => ({ conceptId: `nd${k}`, prompt })),
  });

  it('off: every tensor, latent, mask and NFE is what the engine gave before protection existed', async () => {
    // Digests recorded with the committed engine before protection was added (regression guard), when
    // the token span was 'words' in every mode.
    const expected: Record<string, string> = {
      trimmed: '36753334de5e62cb50417ee79ed580950238653a0881b44b9214ae445a6de65a',
      faithful: '752272403a49029e7350f27a8ee0b3c9fe33815d84670f8612565cc7a0bdaaaa',
    };
    const models = stubModels();
    const a = await abduct(models, {
      image: image(),
      sourcePrompt: 'a street',
      methods: ['csg', 'ddpm', 'ddim'],
      settings,
    });
    for (const batching of ['trimmed', 'faithful'] as const) {
      const s = engineSettings({ ...settings, edit: { ...settings.edit, batching, spanMode: 'words' } });
      const traced: [string, number, Tensor][] = [];
      const result = await predictCounterfactuals(models, a, plans, s, { trace: recordingTrace(traced) });
      expect(digestRun(result, traced), batching).toBe(expected[batching]);
    }
  });

  it('on: no edit inside protected cells (ε̂ = ε_u there), edits elsewhere, in every mask mode', async () => {
    const models = stubModels();
    const a = await abduct(models, { image: image(), sourcePrompt: 'a street', methods: ['csg'], settings });
    const uncond = unconditional(STUB.tokens, STUB.embed, STUB.pooled);
    const concept = (prompt: string) => ({
      conditioning: stubConditioning(hash(prompt)),
      guidance: {
        scale: 8,
        threshold: 0.7,
        warmup: 3,
        cooldown: null,
        reverse: false,
        span: tokenSpan(prompt.split(' ').length, 'words'),
      },
    });
    const guard = (prompt: string) => ({
      conditioning: stubConditioning(hash(prompt)),
      span: tokenSpan(prompt.split(' ').length, 'words'),
    });
    const plane = STUB.height * STUB.width;
    for (const maskMode of ['intersect', 'attention', 'noise'] as const) {
      let protectedCells = 0;
      let cutCells = 0;
      let editedCells = 0;
      await editLatents({
        predictor: models.predictor,
        inversion: a.csg!,
        uncond,
        timeIds: a.timeIds,
        requests: [
          {
            concepts: [concept('sunny weather'), concept('dry road')],
            protected: [guard('brick building'), guard('parked red car')],
          },
        ],
        maskMode,
        attentionGrid: STUB_GRID,
        onTrace(step) {
          if (step.activeConcepts.length === 0) return;
          expect(step.protectedEntries).toBe(2);
          const cut = new Uint8Array(plane);
          step.masks.forEach((m) => {
            expect(m.protected).toHaveLength(2);
            for (const pm of m.protected!) for (let p = 0; p < plane; p++) cut[p] |= pm[p];
            for (let p = 0; p < plane; p++) {
              const inMask =
                (m.attention === undefined || m.attention[p] === 1) &&
                (m.noise === undefined || m.noise[p] === 1);
              if (inMask && cut[p] === 1) cutCells++;
            }
          });
          for (let p = 0; p < plane; p++) {
            for (let ch = 0; ch < STUB.channels; ch++) {
              const at = ch * plane + p;
              if (cut[p] === 1) {
                protectedCells++;
                expect(step.eps.data[at], `step ${step.step} cell ${p}`).toBe(step.epsUncond.data[at]);
              } else if (step.eps.data[at] !== step.epsUncond.data[at]) editedCells++;
            }
          }
        },
      });
      // the test bites: protection covered cells the edit masks would have edited, and edits remain
      expect(protectedCells, maskMode).toBeGreaterThan(0);
      expect(cutCells, maskMode).toBeGreaterThan(0);
      expect(editedCells, maskMode).toBeGreaterThan(0);
    }
  });

  it('on: NFE grows by exactly protected entries × active steps, in both batchings; traced by name', async () => {
    const models = stubModels();
    const a = await abduct(models, { image: image(), sourcePrompt: 'a street', methods: ['csg'], settings });
    const csgOnly = plans.filter((p): p is CsgEditPlan => p.method === 'csg');
    const W = 3;
    for (const batching of ['trimmed', 'faithful'] as const) {
      const s = engineSettings({ ...settings, edit: { ...settings.edit, batching } });
      const off = await predictCounterfactuals(models, a, csgOnly, s);
      // i1 protects 2 concepts, i3 protects 1 (its prompt also an edit prompt of i2), i2 none
      const on = [
        withProtection(csgOnly[0], ['brick building', 'parked red car']),
        csgOnly[1],
        withProtection(csgOnly[2], ['no puddles']),
      ];
      const traced: [string, number, Tensor][] = [];
      const result = await predictCounterfactuals(models, a, on, s, { trace: recordingTrace(traced) });
      const nfe = (r: typeof off) => r.stages.find((x) => x.stage === 'edit-csg')!.nfe;
      expect(nfe(result).unetCalls).toBe(nfe(off).unetCalls);
      expect(nfe(result).sampleEvaluations - nfe(off).sampleEvaluations, batching).toBe((2 + 1) * (N - W));
      // the unprotected request is untouched; the protected ones changed
      expect(bitEqual(result.outcomes[1].latents, off.outcomes[1].latents)).toBe(true);
      expect(bitEqual(result.outcomes[0].latents, off.outcomes[0].latents)).toBe(false);
      const maps = traced.filter(([name]) => name === 'ledits/i1/mask_protected_nondescendants');
      expect(maps).toHaveLength(N);
      expect(maps[0][2].shape).toEqual([3, 2, 4, STUB.height, STUB.width]);
      expect(maps.slice(0, W).every(([, , t]) => t.data.every((v) => v === 0))).toBe(true);
      expect(maps.slice(W).every(([, , t]) => t.data.some((v) => v === 1))).toBe(true);
      expect(traced.some(([name]) => name === 'ledits/i2/mask_protected_nondescendants')).toBe(false);
      // applied masks never include a protected cell
      const applied = traced.filter(([name]) => name === 'ledits/i1/mask_intersect');
      for (const [k, [, , prot]] of maps.entries()) {
        const both = applied[k][2];
        const plane = STUB.height * STUB.width;
        for (let c = 0; c < 3; c++) {
          for (let p = 0; p < plane; p++) {
            const cut =
              prot.data[c * 2 * 4 * plane + p] === 1 || prot.data[(c * 2 + 1) * 4 * plane + p] === 1;
            if (cut) expect(both.data[c * 4 * plane + p]).toBe(0);
          }
        }
      }
    }
  });
});
