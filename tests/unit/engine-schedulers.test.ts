import { describe, expect, it } from 'vitest';
import { ddimAlphaBar, ddimSchedule } from '../../gpu-worker/engine/schedulers/ddim.js';
import {
  alphaSigmaFromS,
  dpmNoiseLevel,
  dpmSdeCoefficients,
  dpmSdeSchedule,
} from '../../gpu-worker/engine/schedulers/dpm-solver-sde.js';
import { sdxlAlphasCumprod } from '../../gpu-worker/engine/schedulers/noise-schedule.js';
import { dpmLeadingGrid, totalGridSteps } from '../../gpu-worker/engine/schedulers/timesteps.js';

function arithmetic(from: number, step: number, count: number): number[] {
  return Array.from({ length: count }, (_, i) => from - i * step);
}

describe('timestep grids (§1.3, §6 item 1, quirk Q1)', () => {
  it('truncates N·(1+skip) in double: 100/.15 → 114, 20/.15 → 23', () => {
    expect(totalGridSteps(100, 0.15)).toBe(114);
    expect(totalGridSteps(20, 0.15)).toBe(23);
    expect(totalGridSteps(50, 0)).toBe(50);
  });

  it('paper grid: DPM 801…9 step 8, DDIM 793…1 step 8, 14 noisiest grid steps skipped', () => {
    const dpm = dpmSdeSchedule(100, 0.15);
    expect([...dpm.timesteps]).toEqual(arithmetic(801, 8, 100));
    expect(dpm.offset).toBe(14);
    expect(dpm.sigmas.length).toBe(115);
    expect(dpmLeadingGrid(114)[0]).toBe(913);
    const ddim = ddimSchedule(100, 0.15);
    expect([...ddim.timesteps]).toEqual(arithmetic(793, 8, 100));
    expect(ddim.stepRatio).toBe(8);
  });

  it('tiny grid: N=20 → DPM 821…42 (r=41), DDIM 818…1 (r=43)', () => {
    expect([...dpmSdeSchedule(20, 0.15).timesteps]).toEqual(arithmetic(821, 41, 20));
    expect([...ddimSchedule(20, 0.15).timesteps]).toEqual(arithmetic(818, 43, 20));
  });
});

describe('noise schedule and DPM sigmas (§1.2, §6 item 2)', () => {
  it('ᾱ is float32, decreasing, with SDXL endpoints', () => {
    const ac = sdxlAlphasCumprod();
    expect(ac.length).toBe(1000);
    expect(ac[0]).toBeCloseTo(1 - 0.00085, 7);
    expect(ac[999]).toBeCloseTo(0.0047, 4);
    for (let i = 1; i < ac.length; i++) expect(ac[i]).toBeLessThan(ac[i - 1]);
  });

  it('s at t=801 is 5.13443 and α = 0.191171 (= √ᾱ), σ = √(1−ᾱ)', () => {
    const schedule = dpmSdeSchedule(100, 0.15);
    const s = schedule.sigmas[schedule.offset];
    expect(Math.abs(s - 5.13443) / 5.13443).toBeLessThan(2e-6);
    const { alpha, sigma } = dpmNoiseLevel(schedule, 0);
    expect(alpha).toBeCloseTo(0.191171, 6);
    const ac = sdxlAlphasCumprod()[801];
    expect(alpha).toBeCloseTo(Math.sqrt(ac), 6);
    expect(sigma).toBeCloseTo(Math.sqrt(1 - ac), 6);
    expect(schedule.sigmas[114]).toBe(0);
  });

  it('DPM order pattern: 1st at k=0, 2nd in between, 1st with mean D and std 0 at the last step', () => {
    const schedule = dpmSdeSchedule(20, 0.15);
    const orders = Array.from({ length: 20 }, (_, k) => dpmSdeCoefficients(schedule, k).order);
    expect(orders).toEqual([1, ...Array(18).fill(2), 1]);
    expect(dpmSdeCoefficients(schedule, 19)).toEqual({ order: 1, xCoef: 0, d0Coef: 1, d1Coef: 0, std: 0 });
    for (let k = 0; k < 19; k++) {
      const c = dpmSdeCoefficients(schedule, k);
      expect(c.std).toBeGreaterThan(0);
      // VP consistency: for x = α_j·D (+ noise) with a constant D, the mean's D coefficient is α_{j+1}
      const next = alphaSigmaFromS(schedule.sigmas[schedule.offset + k + 1]);
      const cur = alphaSigmaFromS(schedule.sigmas[schedule.offset + k]);
      expect(c.xCoef * cur.alpha + c.d0Coef + c.d1Coef).toBeCloseTo(next.alpha, 5);
    }
  });

  it('float32-emulated coefficients match the §1.6 formulas in double (e^{−h} = s_{j+1}/s_j) to 3e-5', () => {
    // ρ and h are λ differences taken in float32 like torch; their cancellation costs ~1e-5 relative
    const schedule = dpmSdeSchedule(100, 0.15);
    const s = Array.from(schedule.sigmas, Number);
    const vp = (x: number) => ({ alpha: 1 / Math.sqrt(1 + x * x), sigma: x / Math.sqrt(1 + x * x) });
    const rel = (a: number, b: number) => Math.abs(a - b) / Math.max(Math.abs(b), 1e-12);
    for (let k = 0; k < 99; k++) {
      const j = schedule.offset + k;
      const e = s[j + 1] / s[j];
      const [cur, next] = [vp(s[j]), vp(s[j + 1])];
      const xCoef = (next.sigma / cur.sigma) * e;
      const dCoef = next.alpha * (1 - e * e);
      const c = dpmSdeCoefficients(schedule, k);
      expect(rel(c.xCoef, xCoef)).toBeLessThan(1e-5);
      expect(rel(c.std, next.sigma * Math.sqrt(1 - e * e))).toBeLessThan(1e-5);
      if (k === 0) {
        expect(rel(c.d0Coef, dCoef)).toBeLessThan(1e-5);
      } else {
        const rho = Math.log(s[j - 1] / s[j]) / Math.log(s[j] / s[j + 1]);
        expect(rel(c.d0Coef, dCoef * (1 + 0.5 / rho))).toBeLessThan(3e-5);
        expect(rel(c.d1Coef, (-dCoef * 0.5) / rho)).toBeLessThan(3e-5);
      }
    }
  });

  it('DDIM uses ᾱ[0] below t = 0 (set_alpha_to_one=False)', () => {
    const schedule = ddimSchedule(100, 0.15);
    expect(ddimAlphaBar(schedule, 1 - 8)).toBe(sdxlAlphasCumprod()[0]);
  });
});
