// From an accepted HTTP request to the workflow's input (core/schemas/workflow-io.ts), validated by
// the workflow's own schema so the API cannot start a run the workflow would misread.
import type { ArtifactRef } from '../core/schemas/artifact.js';
import { type CounterfactualInput, CounterfactualInputCheckedSchema } from '../core/schemas/workflow-io.js';
import type { CounterfactualFields, RunSettings } from './schemas.js';

/** The API's flat settings as the workflow's planning, engine and propose fields (runs and batches). */
export function settingsToRunFields(s: RunSettings) {
  const inversion = {
    ...(s.inversionSteps !== undefined && { numSteps: s.inversionSteps }),
    ...(s.skip !== undefined && { skip: s.skip }),
    ...(s.sourceGuidanceScale !== undefined && { sourceGuidanceScale: s.sourceGuidanceScale }),
  };
  // One step count for every method unless the baselines get their own (like `cgm run --steps`) or a
  // preset that fixes theirs.
  const baselineSteps = s.baselineSteps ?? (s.baselinePreset === undefined ? s.inversionSteps : undefined);
  const baselines = {
    ...(s.baselinePreset !== undefined && { preset: s.baselinePreset }),
    ...(baselineSteps !== undefined && { numSteps: baselineSteps }),
  };
  return {
    proposeCount: s.interventionsPerImage,
    editBatch: s.editBatchPlans === undefined ? undefined : { maxPlans: s.editBatchPlans },
    planning: {
      ...(s.editGuidanceScale !== undefined && { scale: s.editGuidanceScale }),
      ...(s.editThreshold !== undefined && { threshold: s.editThreshold }),
      ...(s.editWarmupSteps !== undefined && { warmup: s.editWarmupSteps }),
      ...(s.csgBase !== undefined && { csgBase: s.csgBase }),
    },
    engine: {
      ...(s.seed !== undefined && { seed: s.seed }),
      ...(Object.keys(inversion).length > 0 && { inversion }),
      ...(Object.keys(baselines).length > 0 && { baselines }),
    },
  };
}

export function toWorkflowInput(
  runId: string,
  image: ArtifactRef,
  f: CounterfactualFields,
  gpuTaskQueue: string,
  /** The caller's key id: its webhooks are signed with its own secret. */
  keyId: string,
): CounterfactualInput {
  return CounterfactualInputCheckedSchema.parse({
    runId,
    image,
    caption: f.caption ?? null,
    graph: f.graph,
    interventions: f.interventions,
    do: f.do,
    methods: f.methods,
    ...settingsToRunFields(f.settings),
    evaluate: { judge: f.judge ?? true },
    hosts: { gpuTaskQueue },
    webhook: f.webhookUrl ? { url: f.webhookUrl, tenant: keyId } : undefined,
  });
}
