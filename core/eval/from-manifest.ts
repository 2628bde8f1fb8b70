// From one per-image run manifest to the evaluation records of the report (results.ts): one record per
// planned intervention × method, 'evaluated' when the counterfactual has an image, a judge verdict and
// LPIPS, else 'failed' with the stage and a reason a person can act on. Pure.
//
// The checklist scored here is the one the judge was shown (activities/vlm/judge.ts judgeChecklist,
// paper Fig. 6): the intervened concept, then every propagated change to a descendant of it in the
// run's graph; expected values from final_concept_states, else the change's new value.
//
// Cost (nfe, seconds) is amortised so that the records of one run add up to the run's GPU work, each
// stage counted once: an output's own share of the edit call that made it (RunOutput.nfe, already a
// share when several interventions were edited in one call) plus an equal share of its method's
// inversion among the outputs that method made in the run (one abduction serves them all).
//
// A run that stopped before its interventions were known (no plans; or no manifest at all) still counts:
// one failed record per requested method with interventionId IMAGE_LEVEL_INTERVENTION, so the image
// appears in every method row's failure count (it stands for the image, not for its 3 interventions).
import { descendants } from '../graph/dag.js';
import type { EditChoices, EditMethod, EditPlan } from '../schemas/edit-plan.js';
import type { ConceptGraph, Intervention } from '../schemas/paper.js';
import { type RunManifest, type RunOutput, type RunStage, RunStageSchema } from '../schemas/run-manifest.js';
import type { BatchImage } from './batch-manifest.js';
import type { DatasetName } from './datasets/types.js';
import {
  checksFromJudge,
  type EvalRecord,
  type ExpectedCheck,
  type FailedRecord,
  type LpipsResolution,
  methodName,
  scoreChecks,
  type VariantTags,
} from './results.js';

/** interventionId of the records of a run that failed before its interventions were known. */
export const IMAGE_LEVEL_INTERVENTION = '*';

/** What the batch knows about a run that the manifest does not say. */
export interface RunRecordContext {
  batchId: string;
  dataset: DatasetName;
  imageId: string;
  /** The methods the run was asked for (used when it failed before planning). */
  methods: readonly EditMethod[];
  /** The variant's planning choices merged over the batch's: they name the method rows (methodName). */
  planning: Partial<EditChoices>;
  /** What the variant sets itself (steps, CSG scale, …): tags of the rows (results.ts methodName). */
  variant?: VariantTags;
  originalImage?: BatchImage;
}

/** The judge's checklist for one intervention (judgeChecklist without the must-stay items). */
export function expectedChecks(intervention: Intervention, graph: ConceptGraph): ExpectedCheck[] {
  const target = intervention.target_concept_id;
  const nameOf = (id: string, fallback: string) =>
    graph.concepts.find((c) => c.id === id)?.name ?? (fallback.trim() || id);
  const expected = (id: string, fallback: string) =>
    intervention.final_concept_states[id]?.trim() || fallback;
  const items: ExpectedCheck[] = [
    {
      conceptId: target,
      concept_name: nameOf(target, intervention.target_concept_name),
      expected_value: expected(target, intervention.new_value),
      nodeType: 'intervened',
    },
  ];
  const de = new Set(descendants(graph, target));
  const listed = new Set([target]);
  for (const change of intervention.propagated_changes) {
    if (listed.has(change.concept_id) || !de.has(change.concept_id)) continue;
    listed.add(change.concept_id);
    items.push({
      conceptId: change.concept_id,
      concept_name: nameOf(change.concept_id, change.concept_name),
      expected_value: expected(change.concept_id, change.new_value),
      nodeType: 'descendant',
    });
  }
  return items;
}

/**
 * Every planned intervention × method of the run. `lpipsResolution` is the size of the preprocessed
 * input (manifest.input.preprocessed), which the GPU host compared against; null when unknown.
 */
export function recordsFromManifest(
  manifest: RunManifest,
  ctx: RunRecordContext,
  lpipsResolution: LpipsResolution | null,
): EvalRecord[] {
  const common = {
    schemaVersion: 1 as const,
    batchId: ctx.batchId,
    runId: manifest.runId,
    dataset: ctx.dataset,
    imageId: ctx.imageId,
    ...(ctx.originalImage ? { originalImage: ctx.originalImage } : {}),
  };
  if (manifest.plans.length === 0) {
    const { stage, reason } = whyNothingWasMade(manifest);
    return imageLevelFailures(ctx, { runId: manifest.runId, stage, reason });
  }
  return manifest.plans.map((plan): EvalRecord => {
    const method = methodName(plan.method, ctx.planning, ctx.variant);
    const head = { ...common, interventionId: plan.interventionId, method };
    const output = manifest.outputs.find(
      (o) => o.interventionId === plan.interventionId && o.method === plan.method,
    );
    if (!output) return { ...head, status: 'failed', ...whyNothingWasMade(manifest) };
    const cost = costOf(manifest, output);
    const missing = missingEvaluation(manifest, plan, output, lpipsResolution);
    const intervention = manifest.interventions.find((r) => r.intervention.id === plan.interventionId);
    const graph = manifest.graph?.graph;
    if (!intervention || !graph) {
      missing.push(
        `the manifest lacks the ${intervention ? 'graph' : `intervention '${plan.interventionId}'`} the plan was made from; the manifest is inconsistent, re-run the image`,
      );
    }
    const { judge, lpips } = output;
    if (missing.length > 0 || !judge || !intervention || !graph) {
      return { ...head, ...cost, status: 'failed', stage: 'evaluate', reason: missing.join('; ') };
    }
    const { checks } = checksFromJudge(expectedChecks(intervention.intervention, graph), judge.verdict);
    // The target is always on the checklist, so there is a score.
    const scores = scoreChecks(checks)!;
    return {
      ...head,
      ...cost,
      status: 'evaluated',
      verdict: judge.verdict.verdict,
      reasoning: judge.verdict.reasoning,
      checks,
      vlmEff: scores.vlmEff,
      mustStayRate: scores.mustStayRate,
      lpips: lpips ?? null,
      lpipsResolution: lpips === undefined ? null : lpipsResolution,
      image: { kind: 's3', ref: output.image },
    };
  });
}

/** The output's share of its edit call plus its share of its method's inversion (see the top). */
function costOf(manifest: RunManifest, output: RunOutput): { nfe: number; seconds: number } {
  const inversion = manifest.inversions.find((i) => i.method === output.method);
  // ≥ 1: `output` is one of them.
  const sharing = manifest.outputs.filter((o) => o.method === output.method).length;
  return {
    nfe: output.nfe + (inversion?.nfe ?? 0) / sharing,
    seconds: output.seconds + (inversion?.seconds ?? 0) / sharing,
  };
}

/** One failed record per requested method, for a run without plans or without a manifest. */
export function imageLevelFailures(
  ctx: RunRecordContext,
  failure: { runId: string; stage: string; reason: string },
): FailedRecord[] {
  return [...new Set(ctx.methods)].map((m) => ({
    schemaVersion: 1,
    batchId: ctx.batchId,
    runId: failure.runId,
    dataset: ctx.dataset,
    imageId: ctx.imageId,
    interventionId: IMAGE_LEVEL_INTERVENTION,
    method: methodName(m, ctx.planning, ctx.variant),
    ...(ctx.originalImage ? { originalImage: ctx.originalImage } : {}),
    status: 'failed',
    stage: failure.stage,
    reason: failure.reason,
  }));
}

const STAGES = RunStageSchema.options;

/** The first stage that failed or was cancelled, with its message, as the reason nothing was made. */
function whyNothingWasMade(manifest: RunManifest): { stage: string; reason: string } {
  const stopped = STAGES.find((s) => ['failed', 'cancelled'].includes(manifest.stages[s]?.status ?? ''));
  const stage: RunStage = stopped ?? 'edit';
  const note = stopped ? manifest.stages[stopped]?.message : undefined;
  const where = `run ${manifest.runId}, stage ${stage}`;
  if (manifest.status === 'cancelled') {
    return { stage, reason: `cancelled before this counterfactual was made (${where})` };
  }
  if (manifest.status === 'failed' || stopped) {
    return { stage, reason: `the run failed (${where}): ${note ?? 'no message recorded'}` };
  }
  return {
    stage,
    reason: `the run ended ${manifest.status ?? 'without a status'} but has no output for this plan (${where}); re-run the image`,
  };
}

/** What keeps an output from being evaluated, as sentences a person can act on. */
function missingEvaluation(
  manifest: RunManifest,
  plan: EditPlan,
  output: RunOutput,
  lpipsResolution: LpipsResolution | null,
): string[] {
  const missing: string[] = [];
  if (!output.judge) {
    const evaluate = manifest.stages.evaluate;
    if (evaluate?.status === 'skipped') {
      missing.push('not judged: the VLM judge was turned off (run.evaluate.judge = false); VLM-Eff needs it');
    } else if (manifest.status !== 'succeeded') {
      missing.push(`not judged: the run was ${manifest.status ?? 'stopped'} before its judge call`);
    } else {
      const last = manifest.vlmAttempts
        .filter(
          (a) => a.prompt === 'judge' && a.interventionId === plan.interventionId && a.method === plan.method,
        )
        .at(-1);
      missing.push(
        `the VLM judge failed${last?.error ? ` (${last.error})` : ''}; see vlmAttempts in the manifest of run ${manifest.runId} and check the VLM server`,
      );
    }
  }
  // No LPIPS at all (a GPU worker without an LPIPS graph) is recorded as null, not as a failure: the
  // judge's VLM-Eff stands on its own, and the report counts the records without LPIPS.
  if (output.lpips !== undefined && !lpipsResolution) {
    missing.push('LPIPS resolution unknown: the manifest records no preprocessed input image');
  }
  return missing;
}
