// What the CSG edit loop leaves behind besides its latents: per concept, how often each latent cell was
// edited over the concept's active steps (the masks shown to users), and with a trace sink the per-step
// tensors in the layout of diffusers' reference traces (ε_u, ε base, ε_c, M1, M2, M1⊙M2, latents;
// docs/algorithm.md §6 item 16). Kept apart from the run so the pipeline reads as the algorithm.
import type { CsgEditPlan } from '../../core/schemas/edit-plan.js';
import type { ConceptMasks } from './guidance.js';
import type { EditStepTrace } from './sampling.js';
import { type Tensor, tensor } from './tensor.js';
import { type TraceSink, traceId } from './trace-sink.js';

/** Per concept of a CSG result: how often each latent pixel was edited (inside its applied mask) over the active steps. */
export interface ConceptMaskSummary {
  readonly prompt: string;
  readonly conceptId: string;
  readonly role: string;
  readonly activeSteps: number;
  /** (h·w) fraction of active steps the pixel was edited, in [0, 1]. */
  readonly frequency: Float32Array;
  readonly height: number;
  readonly width: number;
}

export class CsgStepRecorder {
  private readonly plane: number;
  /** Per plan and concept: active steps, and per cell the steps it was edited at. */
  private readonly counts: { steps: number; hits: Uint32Array }[][];

  constructor(
    private readonly plans: readonly CsgEditPlan[],
    private readonly size: { height: number; width: number },
    private readonly steps: number,
    private readonly trace?: TraceSink,
  ) {
    this.plane = size.height * size.width;
    this.counts = plans.map((p) => p.concepts.map(() => ({ steps: 0, hits: new Uint32Array(this.plane) })));
  }

  record(step: EditStepTrace): void {
    const { plane, trace, steps: n } = this;
    const { height: h, width: w } = this.size;
    const plan = this.plans[step.request];
    const prefix = `ledits/${traceId(plan.interventionId)}`;
    const e = plan.concepts.length;
    const i = step.step;
    if (trace) {
      trace.step(`${prefix}/eps_uncond`, i, n, step.epsUncond, 'ε_u per step');
      if (step.epsBase)
        trace.step(`${prefix}/eps_base`, i, n, step.epsBase, 'ε on the interventional prompt (Eq. 12 base)');
      if (i > 0) trace.step(`${prefix}/latents`, i - 1, n, step.latents, 'latent after each step');
    }
    const epsConcepts = trace ? new Float32Array(e * step.epsUncond.data.length) : null;
    const maskPlanes = trace
      ? {
          m1: new Float32Array(e * 4 * plane),
          m2: new Float32Array(e * 4 * plane),
          both: new Float32Array(e * 4 * plane),
        }
      : null;
    const np = plan.protectedConcepts.length;
    const protectedPlanes = trace && np > 0 ? new Float32Array(e * np * 4 * plane) : null;
    step.activeConcepts.forEach((c, j) => {
      const m: ConceptMasks = step.masks[j];
      const acc = this.counts[step.request][c];
      acc.steps++;
      for (let p = 0; p < plane; p++) {
        const a = m.attention === undefined || m.attention[p] === 1;
        const b = m.noise === undefined || m.noise[p] === 1;
        const free = m.protected === undefined || m.protected.every((pm) => pm[p] === 0);
        if (a && b && free) acc.hits[p]++;
        if (maskPlanes) {
          for (let ch = 0; ch < 4; ch++) {
            const at = (c * 4 + ch) * plane + p;
            maskPlanes.m1[at] = m.attention ? m.attention[p] : 1;
            maskPlanes.m2[at] = m.noise ? m.noise[p] : 1;
            maskPlanes.both[at] = a && b && free ? 1 : 0;
          }
        }
        if (protectedPlanes && m.protected) {
          for (let k = 0; k < np; k++) {
            for (let ch = 0; ch < 4; ch++)
              protectedPlanes[((c * np + k) * 4 + ch) * plane + p] = m.protected[k][p];
          }
        }
      }
      epsConcepts?.set(step.epsConcepts[j].data, c * step.epsUncond.data.length);
    });
    if (!trace || !epsConcepts || !maskPlanes) return;
    const [, ch, hh, ww] = step.epsUncond.shape;
    const planes = (data: Float32Array) => tensor([e, 1, 4, h, w], data);
    trace.step(
      `${prefix}/eps_concepts`,
      i,
      n,
      tensor([e, ch, hh, ww], epsConcepts),
      'ε_c (0 while inactive)',
    );
    trace.step(`${prefix}/mask_attention`, i, n, planes(maskPlanes.m1), 'M1 (0 while inactive)');
    trace.step(`${prefix}/mask_noise`, i, n, planes(maskPlanes.m2), 'M2 (0 while inactive)');
    trace.step(
      `${prefix}/mask_intersect`,
      i,
      n,
      planes(maskPlanes.both),
      'M1⊙M2 as applied (with protection: ⊙(1 − ∪ protected M1))',
    );
    if (protectedPlanes) {
      trace.step(
        `${prefix}/mask_protected_nondescendants`,
        i,
        n,
        tensor([e, np, 4, h, w], protectedPlanes),
        'beyond the paper: [c, p] = M1 of protected non-descendant p at concept c threshold, cut from c mask (0 while c inactive)',
      );
    }
  }

  /** The loop reports the latent after step i at step i + 1; the last one comes with the result. */
  finish(latents: readonly Tensor[]): void {
    this.plans.forEach((plan, r) => {
      this.trace?.step(
        `ledits/${traceId(plan.interventionId)}/latents`,
        this.steps - 1,
        this.steps,
        latents[r],
      );
    });
  }

  maskSummaries(request: number): ConceptMaskSummary[] {
    return this.plans[request].concepts.map((c, i) => {
      const acc = this.counts[request][i];
      const frequency = new Float32Array(this.plane);
      if (acc.steps > 0) for (let p = 0; p < this.plane; p++) frequency[p] = acc.hits[p] / acc.steps;
      return {
        prompt: c.prompt,
        conceptId: c.conceptId,
        role: c.role,
        activeSteps: acc.steps,
        frequency,
        height: this.size.height,
        width: this.size.width,
      };
    });
  }
}
