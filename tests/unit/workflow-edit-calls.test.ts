// How the per-image workflow splits its edit plans into GPU calls (workflows/edit-calls.ts): by method,
// at most maxPlans per call, every plan exactly once, and with maxPlans = 1 the old one-plan-per-call
// order.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { EditMethod } from '../../core/schemas/edit-plan.js';
import { editCalls } from '../../workflows/edit-calls.js';

const plan = (interventionId: string, method: EditMethod) => ({ interventionId, method });
const names = (calls: { interventionId: string; method: EditMethod }[][]) =>
  calls.map((c) => c.map((p) => `${p.interventionId}/${p.method}`));

describe('editCalls', () => {
  // 3 interventions × (csg, ddim), in the workflow's plan order.
  const plans = ['i1', 'i2', 'i3'].flatMap((i) => [plan(i, 'csg'), plan(i, 'ddim')]);

  it('sends the plans of one method together, each method once, when they fit in one call', () => {
    expect(names(editCalls(plans, 4))).toEqual([
      ['i1/csg', 'i2/csg', 'i3/csg'],
      ['i1/ddim', 'i2/ddim', 'i3/ddim'],
    ]);
  });

  it('cuts a method into calls of at most maxPlans', () => {
    expect(names(editCalls(plans, 2))).toEqual([
      ['i1/csg', 'i2/csg'],
      ['i1/ddim', 'i2/ddim'],
      ['i3/csg'],
      ['i3/ddim'],
    ]);
  });

  it('with maxPlans = 1 is the plans in order, one per call (the behaviour before batching)', () => {
    expect(editCalls(plans, 1)).toEqual(plans.map((p) => [p]));
  });

  it('refuses a maxPlans that is not a whole number ≥ 1, naming the value', () => {
    expect(() => editCalls(plans, 0)).toThrow(/maxPlans: expected a whole number ≥ 1, got 0/);
    expect(() => editCalls(plans, 1.5)).toThrow(/got 1.5/);
  });

  it('every plan exactly once, one method per call, calls within the bound and as few as the bound allows', () => {
    const methods: EditMethod[] = ['csg', 'ddpm', 'ddim'];
    fc.assert(
      fc.property(
        fc.array(fc.constantFrom(...methods), { maxLength: 30 }),
        fc.integer({ min: 1, max: 16 }),
        (ms, maxPlans) => {
          const input = ms.map((m, i) => plan(`i${i}`, m));
          const calls = editCalls(input, maxPlans);
          expect(calls.flat().sort((a, b) => input.indexOf(a) - input.indexOf(b))).toEqual(input);
          for (const call of calls) {
            expect(call.length).toBeGreaterThan(0);
            expect(call.length).toBeLessThanOrEqual(maxPlans);
            expect(new Set(call.map((p) => p.method)).size).toBe(1);
            // plan order kept inside a call
            expect(call.map((p) => input.indexOf(p))).toEqual(
              call.map((p) => input.indexOf(p)).sort((a, b) => a - b),
            );
          }
          for (const m of methods) {
            const count = ms.filter((x) => x === m).length;
            expect(calls.filter((c) => c[0].method === m)).toHaveLength(Math.ceil(count / maxPlans));
          }
        },
      ),
    );
  });
});
