import { describe, expect, it } from 'vitest';
import { ddimInversion, editFriendlyInversion } from '../../gpu-worker/engine/inversion.js';
import { recordedNoise, seededGaussianNoise } from '../../gpu-worker/engine/noise.js';
import { editLatents, sampleDdimCfg, sampleEditFriendlyCfg } from '../../gpu-worker/engine/sampling.js';
import { dpmPredictX0, dpmSdeSchedule } from '../../gpu-worker/engine/schedulers/dpm-solver-sde.js';
import { makeStepRule, type StepRuleKind } from '../../gpu-worker/engine/schedulers/step-rule.js';
import { bitEqual, linear2, maxAbsDiff, type Tensor } from '../../gpu-worker/engine/tensor.js';
import { unconditionalLike } from '../../gpu-worker/engine/unet-port.js';
import { STUB_GRID, stubConditioning, stubLatent, stubPredictor, TIME_IDS } from '../support/engine-stubs.js';

const N = 20;
const SKIP = 0.15;
const source = stubConditioning(11);
const uncond = unconditionalLike(source);
const x0 = stubLatent(1);

function invert(kind: StepRuleKind, opts: { zeroTail?: number; withSource?: boolean; seed?: number } = {}) {
  return editFriendlyInversion({
    x0,
    predictor: stubPredictor(),
    rule: makeStepRule(kind, N, SKIP),
    uncond,
    source: opts.withSource ? { conditioning: source, scale: 3.5 } : undefined,
    timeIds: TIME_IDS,
    noise: seededGaussianNoise(opts.seed ?? 7),
    numZeroNoiseSteps: opts.zeroTail ?? 0,
    keepTrajectory: true,
  });
}

/** Replays the zs with no edits (E=0: ε̂ = ε_u) and records every step's input latent. */
async function replay(
  inversion: Awaited<ReturnType<typeof invert>>,
): Promise<{ inputs: Tensor[]; final: Tensor }> {
  const inputs: Tensor[] = [];
  const result = await editLatents({
    predictor: stubPredictor(),
    inversion,
    uncond,
    timeIds: TIME_IDS,
    requests: [{ concepts: [] }],
    maskMode: 'intersect',
    attentionGrid: STUB_GRID,
    onTrace: (trace) => inputs.push(trace.latents),
  });
  return { inputs, final: result.latents[0] };
}

describe('edit-friendly inversion (§1.5–1.7)', () => {
  it('item 2: init latent = α·x0 + σ·n with the injected noise of t_first (drawn last)', async () => {
    const draws = Array.from({ length: N }, (_, m) => stubLatent(100 + m));
    const inversion = await editFriendlyInversion({
      x0,
      predictor: stubPredictor(),
      rule: makeStepRule('dpm-sde-2m', N, SKIP),
      uncond,
      timeIds: TIME_IDS,
      noise: recordedNoise(draws),
      numZeroNoiseSteps: 3,
    });
    const rule = inversion.rule;
    const { alpha, sigma } = rule.noiseLevel(0);
    expect(rule.timesteps[0]).toBe(821);
    expect(bitEqual(inversion.initLatents, linear2(alpha, x0, sigma, draws[N - 1]))).toBe(true);
    expect(inversion.zs.length).toBe(N);
    expect(inversion.nfe).toEqual({ unetCalls: N, sampleEvaluations: N });
  });

  for (const kind of ['dpm-sde-2m', 'ddim-eta1'] as const) {
    it(`item 3 (${kind}): replay with ε_u and no zero-noise tail rebuilds every corrected latent`, async () => {
      const inversion = await invert(kind);
      const { inputs, final } = await replay(inversion);
      const trajectory = inversion.trajectory!;
      for (let k = 0; k < N; k++) expect(bitEqual(inputs[k], trajectory[k]), `x_${k}`).toBe(true);
      expect(bitEqual(final, trajectory[N])).toBe(true);
      if (kind === 'dpm-sde-2m') {
        // Q10: DPM's final output is the first-order x0 prediction D_{N−1}, not x0
        const eps = (
          await stubPredictor().predict({
            latents: trajectory[N - 1],
            timestep: inversion.timesteps[N - 1],
            cond: uncond.embeds,
            pooled: uncond.pooled,
            timeIds: { data: TIME_IDS, shape: [1, 6] },
            wantAttention: false,
          })
        ).noise;
        const d = dpmPredictX0(dpmSdeSchedule(N, SKIP), N - 1, trajectory[N - 1], eps);
        expect(bitEqual(final, d)).toBe(true);
        expect(maxAbsDiff(final, x0)).toBeGreaterThan(1e-3);
      } else {
        expect(maxAbsDiff(final, x0)).toBeLessThan(1e-4); // DDIM η=1: last z is fitted, output = x0
      }
    });
  }

  it('item 3: with numZeroNoiseSteps=3 the replay matches up to x_{N−3} and differs afterwards', async () => {
    const inversion = await invert('dpm-sde-2m', { zeroTail: 3 });
    const { inputs } = await replay(inversion);
    for (let k = 0; k <= N - 3; k++) expect(bitEqual(inputs[k], inversion.trajectory![k])).toBe(true);
    expect(maxAbsDiff(inputs[N - 2], inversion.trajectory![N - 2])).toBeGreaterThan(0);
  });

  it('item 4: with source CFG at 3.5 the ε_u replay drifts from the inversion (faithful Q3)', async () => {
    const inversion = await invert('dpm-sde-2m', { withSource: true });
    expect(inversion.nfe).toEqual({ unetCalls: N, sampleEvaluations: 2 * N });
    const { inputs } = await replay(inversion);
    expect(bitEqual(inputs[1], inversion.trajectory![1])).toBe(false);
    expect(maxAbsDiff(inputs[N - 1], inversion.trajectory![N - 1])).toBeGreaterThan(1e-3);
  });

  it('item 10: DPM zs[N−1] is 0 even without a tail; the tail zeroes the last m', async () => {
    const none = await invert('dpm-sde-2m');
    expect(none.zs[N - 1].data.every((v) => v === 0)).toBe(true);
    expect(none.zs[N - 2].data.some((v) => v !== 0)).toBe(true);
    const three = await invert('dpm-sde-2m', { zeroTail: 3 });
    for (let k = N - 3; k < N; k++) expect(three.zs[k].data.every((v) => v === 0)).toBe(true);
    expect(three.zs[N - 4].data.some((v) => v !== 0)).toBe(true);
    const ddim = await invert('ddim-eta1');
    expect(ddim.zs[N - 1].data.some((v) => v !== 0)).toBe(true);
  });

  it('item 14: inversion is deterministic for a fixed noise seed', async () => {
    const a = await invert('dpm-sde-2m', { seed: 3 });
    const b = await invert('dpm-sde-2m', { seed: 3 });
    expect(bitEqual(a.initLatents, b.initLatents)).toBe(true);
    for (let k = 0; k < N; k++) expect(bitEqual(a.zs[k], b.zs[k])).toBe(true);
  });

  it('rejects a source scale ≤ 1 with an actionable message', async () => {
    await expect(
      editFriendlyInversion({
        x0,
        predictor: stubPredictor(),
        rule: makeStepRule('dpm-sde-2m', N, SKIP),
        uncond,
        source: { conditioning: source, scale: 1 },
        timeIds: TIME_IDS,
        noise: seededGaussianNoise(1),
        numZeroNoiseSteps: 0,
      }),
    ).rejects.toThrow(/omit the source prompt/);
  });
});

describe('baselines (§4)', () => {
  for (const kind of ['ddim-eta1', 'dpm-sde-2m'] as const) {
    it(`item 13 (${kind}): EF-DDPM with target = source and w_tar = w_src replays exactly`, async () => {
      const inversion = await invert(kind, { withSource: true });
      const inputs: Tensor[] = [];
      const out = await sampleEditFriendlyCfg(inversion, {
        predictor: stubPredictor(),
        uncond,
        target: source,
        scale: 3.5,
        timeIds: TIME_IDS,
        onTrace: (t) => inputs.push(t.latents),
      });
      for (let k = 0; k < N; k++) expect(bitEqual(inputs[k], inversion.trajectory![k])).toBe(true);
      expect(bitEqual(out.latents, inversion.trajectory![N])).toBe(true);
      expect(out.nfe).toEqual({ unetCalls: N, sampleEvaluations: 2 * N });
    });
  }

  it('item 12: with a t-only stub, DDIM inversion then DDIM η=0 sampling returns x0', async () => {
    const inverted = await ddimInversion({
      x0,
      predictor: stubPredictor('t-only'),
      uncond,
      source: { conditioning: source, scale: 3.5 },
      timeIds: TIME_IDS,
      numSteps: N,
      skip: SKIP,
    });
    expect(inverted.nfe).toEqual({ unetCalls: N, sampleEvaluations: 2 * N });
    expect(maxAbsDiff(inverted.latents, x0)).toBeGreaterThan(0.1);
    const out = await sampleDdimCfg(
      inverted,
      { numSteps: N, skip: SKIP },
      { predictor: stubPredictor('t-only'), uncond, target: source, scale: 7.5, timeIds: TIME_IDS },
    );
    expect(maxAbsDiff(out.latents, x0)).toBeLessThan(1e-4);
    expect(out.nfe.sampleEvaluations).toBe(2 * N);
  });

  it('DDIM round trip with an x-dependent stub is only approximate (§4.1)', async () => {
    const inverted = await ddimInversion({
      x0,
      predictor: stubPredictor(),
      uncond,
      timeIds: TIME_IDS,
      numSteps: N,
      skip: SKIP,
    });
    expect(inverted.nfe.sampleEvaluations).toBe(N);
    const out = await sampleDdimCfg(
      inverted,
      { numSteps: N, skip: SKIP },
      { predictor: stubPredictor(), uncond, target: uncond, scale: 1, timeIds: TIME_IDS },
    );
    const error = maxAbsDiff(out.latents, x0);
    expect(error).toBeGreaterThan(1e-5); // ε is evaluated at different latents going up and down
    expect(error).toBeLessThan(10);
  });
});
