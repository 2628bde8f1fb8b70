// How the per-image workflow splits its pending edit plans into GPU `edit` calls (issue #4 item 7):
// plans of one method travel together, so the engine runs their edits in one UNet call per step
// (CSG: the warmup steps of all interventions share one evaluation; baselines share the batch), at most
// `maxPlans` per call to bound the UNet batch. Pure and deterministic: workflow code calls it.
import type { EditMethod } from '../core/schemas/edit-plan.js';

/**
 * Groups `plans` by method (plan order kept inside a group), cuts each group into chunks of at most
 * `maxPlans`, and orders the chunks by the position of their first plan. With maxPlans = 1 that is
 * exactly the plans in order, one per call: the behaviour before batched edits.
 */
export function editCalls<P extends { method: EditMethod }>(plans: readonly P[], maxPlans: number): P[][] {
  if (!Number.isInteger(maxPlans) || maxPlans < 1)
    throw new RangeError(`maxPlans: expected a whole number ≥ 1, got ${maxPlans}`);
  const open = new Map<EditMethod, P[]>();
  const calls: { first: number; plans: P[] }[] = [];
  plans.forEach((plan, index) => {
    let chunk = open.get(plan.method);
    if (!chunk || chunk.length >= maxPlans) {
      chunk = [];
      open.set(plan.method, chunk);
      calls.push({ first: index, plans: chunk });
    }
    chunk.push(plan);
  });
  // Chunks are created in order of their first plan already; the sort states the rule.
  return calls.sort((a, b) => a.first - b.first).map((c) => c.plans);
}
