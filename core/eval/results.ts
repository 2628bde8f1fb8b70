// One evaluated counterfactual (an intervention rendered by one method): the judge's verdict, its
// checklist answers tagged with the node's role, LPIPS, cost. One JSON object a line in results.jsonl;
// the report (report.ts) is computed from these alone.
//
// VLM-Eff (the primary effectiveness number, docs/algorithm.md §8.6): per counterfactual, the
// fraction of checklist items answered "yes" over the intervened and descendant items; a data set's
// VLM-Eff is the mean of that over its evaluated counterfactuals. Non-descendants that must stay
// (beyond the paper) are scored separately as `mustStayRate` and never enter VLM-Eff.
import { z } from 'zod';
import { type EditChoices, type EditMethod, EditMethodSchema } from '../schemas/edit-plan.js';
import { type JudgeVerdict, VerdictSchema } from '../schemas/paper.js';
import { BatchImageSchema } from './batch-image.js';
import { DatasetNameSchema } from './datasets/types.js';
import { JsonlError, parseJsonlLines, toJsonl } from './jsonl.js';

/**
 * A method row of the report: a base method, optionally with ablation tags beyond the paper, joined
 * by '+' (e.g. 'csg+reverse', 'csg+protect+reverse'); see methodName.
 */
export const EvalMethodSchema = z
  .string()
  .regex(
    /^(csg|ddpm|ddim)(\+[a-z0-9][a-z0-9-]*)*$/,
    "expected 'csg', 'ddpm', 'ddim', or one of them with '+tag' ablation suffixes (e.g. 'csg+reverse')",
  );
export type EvalMethod = z.infer<typeof EvalMethodSchema>;

/** Ablation tags for the EditChoices that differ from the paper (the paper's choices get no tag). */
export const ABLATION_TAGS = {
  promptStyleNameValue: 'name-value',
  includeNonDescendantChanges: 'nd-changes',
  protectNonDescendants: 'protect',
  reverseOldValues: 'reverse',
  csgBaseUnconditional: 'unconditional-base',
} as const;

/** What a batch variant sets beyond the planning choices; each is a tag of its report rows. */
export interface VariantTags {
  steps?: number;
  srcguidance?: number;
  scale?: number;
  threshold?: number;
  warmup?: number;
  span?: 'words' | 'padded75';
}

/**
 * 'csg' for the paper's choices; else 'csg+tag+…' with tags in alphabetical order. `variant` holds what
 * a batch variant sets itself (steps, CSG scale, threshold, warm-up, source guidance): tags like `steps50`, `scale16`,
 * `threshold0-5` ('.' written '-'); absent when the variant runs at the batch's settings.
 */
export function methodName(
  base: EditMethod,
  choices?: Partial<EditChoices>,
  variant?: VariantTags,
): EvalMethod {
  const tags: string[] = [];
  for (const key of ['steps', 'scale', 'threshold', 'warmup', 'srcguidance'] as const) {
    const v = variant?.[key];
    if (v !== undefined) tags.push(`${key}${String(v).replace('.', '-')}`);
  }
  if (base === 'csg' && variant?.span !== undefined) tags.push(`span-${variant.span}`);
  if (choices?.promptStyle === 'name_value') tags.push(ABLATION_TAGS.promptStyleNameValue);
  if (choices?.includeNonDescendantChanges) tags.push(ABLATION_TAGS.includeNonDescendantChanges);
  if (choices?.protectNonDescendants) tags.push(ABLATION_TAGS.protectNonDescendants);
  if (choices?.reverseOldValues) tags.push(ABLATION_TAGS.reverseOldValues);
  // Unset means the planner's default, Eq. 12 as written; LEDITS++'s form is the ablation.
  if (base === 'csg' && choices?.csgBase === 'unconditional') tags.push(ABLATION_TAGS.csgBaseUnconditional);
  return [base, ...tags.sort()].join('+');
}

/** A batch variant's own settings as report-row tags (core/schemas/batch-io.ts BatchVariant). */
export function variantTags(
  v:
    | { steps?: number; sourceGuidance?: number; spanMode?: 'words' | 'padded75'; planning?: VariantTags }
    | undefined,
): VariantTags {
  return {
    ...(v?.steps === undefined ? {} : { steps: v.steps }),
    ...(v?.sourceGuidance === undefined ? {} : { srcguidance: v.sourceGuidance }),
    ...(v?.spanMode === undefined ? {} : { span: v.spanMode }),
    ...(v?.planning?.scale === undefined ? {} : { scale: v.planning.scale }),
    ...(v?.planning?.threshold === undefined ? {} : { threshold: v.planning.threshold }),
    ...(v?.planning?.warmup === undefined ? {} : { warmup: v.planning.warmup }),
  };
}

export function baseMethod(method: EvalMethod): EditMethod {
  return EditMethodSchema.parse(method.split('+')[0]);
}

/** Why a concept is on the checklist (core/schemas/edit-plan.ts EditRole, plus the must-stay items). */
export const CheckNodeTypeSchema = z.enum(['intervened', 'descendant', 'non_descendant_must_stay']);
export type CheckNodeType = z.infer<typeof CheckNodeTypeSchema>;
export const CHECK_NODE_TYPES = CheckNodeTypeSchema.options;

export const EvalCheckSchema = z.object({
  conceptId: z.string().min(1),
  concept_name: z.string(),
  expected_value: z.string(),
  nodeType: CheckNodeTypeSchema,
  present: z.enum(['yes', 'no']),
  /** false when the judge left the item out (it then counts as "no"). */
  answered: z.boolean(),
});
export type EvalCheck = z.infer<typeof EvalCheckSchema>;

const common = {
  schemaVersion: z.literal(1),
  batchId: z.string().min(1),
  /** The per-image run the counterfactual belongs to (run manifest runId), when there is one. */
  runId: z.string().optional(),
  dataset: DatasetNameSchema,
  imageId: z.string().min(1),
  interventionId: z.string().min(1),
  method: EvalMethodSchema,
  /**
   * UNet sample evaluations for this output, amortised (core/eval/from-manifest.ts): its share of the
   * edit call that made it plus an equal share of its method's inversion among that method's outputs
   * of the run, so a run's records add up to its GPU work. A number, not an integer: a batched edit
   * call or an inversion serving 3 outputs gives thirds. Records written before were integers (the
   * whole inversion per output) and stay valid.
   */
  nfe: z.number().nonnegative().optional(),
  seconds: z.number().nonnegative().optional(),
  /** The input image (for the report's picture); a local path is relative to the results file. */
  originalImage: BatchImageSchema.optional(),
};

export const LpipsResolutionSchema = z.object({
  width: z.number().int().positive(),
  height: z.number().int().positive(),
});
export type LpipsResolution = z.infer<typeof LpipsResolutionSchema>;

const share = z.number().min(0).max(1);

/**
 * Street-world images only: the counterfactual scored against the world's ground truth (core/world/
 * ground-truth.ts, activities/batch/ground-truth.ts) with the world's oracle reading the image.
 */
export const GroundTruthSchema = z.object({
  sceneId: z.string().min(1),
  /** The data set intervention the run's do() is (its true image exists); null when it is none of them. */
  truthInterventionId: z.string().min(1).nullable(),
  /** The SCM's do() the run's intervention maps to (attribute → value). */
  do: z.record(z.string(), z.string()),
  /** The intervened attribute reads as set: 1 or 0. */
  intervened: share,
  /** Share of the target's descendants reading as the SCM's counterfactual; null without descendants. */
  descendants: share.nullable(),
  /** Share of the descendants the SCM changes that read as their new value; null when none change. */
  changedDescendants: share.nullable(),
  /** Share of the non-descendants reading unchanged. */
  preservation: share,
  /** PSNR (dB, capped at 100) and SSIM to the true counterfactual image; null without one. */
  psnrToTrue: z.number().max(100).nullable(),
  ssimToTrue: z.number().min(-1).max(1).nullable(),
  /** PSNR (dB, capped at 100) and SSIM to the original image (minimality). */
  psnrToOriginal: z.number().max(100),
  ssimToOriginal: z.number().min(-1).max(1),
  /**
   * CSG only: mean over the edit concepts (intervened; descendants) with an image region of the share of
   * the concept's mask inside its region, and the same share for a uniform mask (the region's area);
   * null for the baselines or when no edited concept has a region.
   */
  masks: z
    .object({
      intervened: share.nullable(),
      intervenedChance: share.nullable(),
      descendants: share.nullable(),
      descendantsChance: share.nullable(),
    })
    .nullable(),
  /** What the oracle read off the counterfactual (attribute → value). */
  oracle: z.record(z.string(), z.string()),
  trueImage: BatchImageSchema.optional(),
});
export type GroundTruth = z.infer<typeof GroundTruthSchema>;

export const EvaluatedRecordSchema = z
  .object({
    ...common,
    status: z.literal('evaluated'),
    verdict: VerdictSchema,
    reasoning: z.string(),
    checks: z.array(EvalCheckSchema),
    /** Fraction of intervened + descendant checks answered "yes" (see the top of this file). */
    vlmEff: z.number().min(0).max(1),
    /** Fraction of must-stay checks answered "yes"; null when there are none. */
    mustStayRate: z.number().min(0).max(1).nullable(),
    /**
     * LPIPS-VGG (v0.1), inputs in [-1, 1], original vs counterfactual at lpipsResolution; null when the
     * GPU worker had no LPIPS graph (the VLM-Eff still counts; the report says how many lack LPIPS).
     */
    lpips: z.number().nonnegative().nullable(),
    lpipsResolution: LpipsResolutionSchema.nullable(),
    /** The counterfactual (for the report's picture); a local path is relative to the results file. */
    image: BatchImageSchema.optional(),
    /** See `common.nfe`: amortised, not necessarily whole. */
    nfe: z.number().nonnegative(),
    seconds: z.number().nonnegative(),
    groundTruth: GroundTruthSchema.optional(),
  })
  .superRefine((r, ctx) => {
    const scores = scoreChecks(r.checks);
    if (scores === null) {
      ctx.addIssue({ code: 'custom', path: ['checks'], message: 'needs at least one intervened check' });
      return;
    }
    if (Math.abs(scores.vlmEff - r.vlmEff) > 1e-9) {
      ctx.addIssue({
        code: 'custom',
        path: ['vlmEff'],
        message: `does not match the checks (which give ${scores.vlmEff})`,
      });
    }
    if ((scores.mustStayRate === null) !== (r.mustStayRate === null)) {
      ctx.addIssue({ code: 'custom', path: ['mustStayRate'], message: `expected ${scores.mustStayRate}` });
    } else if (scores.mustStayRate !== null && Math.abs(scores.mustStayRate - r.mustStayRate!) > 1e-9) {
      ctx.addIssue({ code: 'custom', path: ['mustStayRate'], message: `expected ${scores.mustStayRate}` });
    }
  });
export type EvaluatedRecord = z.infer<typeof EvaluatedRecordSchema>;

/** A counterfactual that could not be made or judged; counted in the report, never averaged. */
export const FailedRecordSchema = z.object({
  ...common,
  status: z.literal('failed'),
  /** The run stage that failed (run manifest RunStage, e.g. 'edit', 'evaluate'). */
  stage: z.string().min(1),
  reason: z.string().min(1),
});
export type FailedRecord = z.infer<typeof FailedRecordSchema>;

export const EvalRecordSchema = z.discriminatedUnion('status', [EvaluatedRecordSchema, FailedRecordSchema]);
export type EvalRecord = z.infer<typeof EvalRecordSchema>;

/** VLM-Eff and the must-stay rate of a checklist; null without an intervened item. */
export function scoreChecks(
  checks: readonly Pick<EvalCheck, 'nodeType' | 'present'>[],
): { vlmEff: number; mustStayRate: number | null } | null {
  if (!checks.some((c) => c.nodeType === 'intervened')) return null;
  const changed = checks.filter((c) => c.nodeType !== 'non_descendant_must_stay');
  const stay = checks.filter((c) => c.nodeType === 'non_descendant_must_stay');
  const yes = (cs: typeof checks) => cs.filter((c) => c.present === 'yes').length;
  return {
    vlmEff: yes(changed) / changed.length,
    mustStayRate: stay.length === 0 ? null : yes(stay) / stay.length,
  };
}

export interface ExpectedCheck {
  conceptId: string;
  concept_name: string;
  expected_value: string;
  nodeType: CheckNodeType;
}

/**
 * Pairs the checklist sent to the judge with its answer: the i-th expected item takes the first
 * unused answer with the same concept name (case and surrounding space ignored); an item the judge
 * left out counts as "no" with answered = false; answers matching no item are counted, not scored.
 */
export function checksFromJudge(
  expected: readonly ExpectedCheck[],
  answer: JudgeVerdict,
): { checks: EvalCheck[]; unmatchedAnswers: number } {
  const norm = (s: string) => s.trim().toLowerCase();
  const used = new Set<number>();
  const checks = expected.map((item): EvalCheck => {
    const j = answer.concept_checks.findIndex(
      (a, k) => !used.has(k) && norm(a.concept_name) === norm(item.concept_name),
    );
    if (j < 0) return { ...item, present: 'no', answered: false };
    used.add(j);
    return { ...item, present: answer.concept_checks[j].present, answered: true };
  });
  return { checks, unmatchedAnswers: answer.concept_checks.length - used.size };
}

export function serialiseEvalRecords(records: readonly EvalRecord[]): string {
  return toJsonl(records.map((r) => EvalRecordSchema.parse(r)));
}

/** Throws JsonlError naming the line; a counterfactual (dataset, image, intervention, method) listed twice is an error. */
export function parseEvalRecords(text: string, source = '(results)'): EvalRecord[] {
  const lines = parseJsonlLines(text, EvalRecordSchema, source);
  const seen = new Map<string, number>();
  for (const { line, value } of lines) {
    const key = counterfactualKey(value);
    const prior = seen.get(key);
    if (prior !== undefined) {
      throw new JsonlError(source, line, null, `counterfactual ${key} is already on line ${prior}`);
    }
    seen.set(key, line);
  }
  return lines.map((l) => l.value);
}

export function counterfactualKey(r: Pick<EvalRecord, 'dataset' | 'imageId' | 'interventionId' | 'method'>) {
  return `${r.dataset}/${r.imageId}/${r.interventionId}/${r.method}`;
}
