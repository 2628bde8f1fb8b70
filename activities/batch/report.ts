// The batch's last step: every child's manifest → evaluation records (core/eval/from-manifest.ts), street-
// world records scored against their ground truth (ground-truth.ts) → results.jsonl, report.json and
// report.md in S3 (content-addressed), plus all outcome pages joined into one outcomes.jsonl in draw
// order. Only the references go back through Temporal.

import sharp from 'sharp';
import type { ArtifactStore } from '../../core/artifacts/store.js';
import { baselineSettingsOf } from '../../core/config/paper-defaults.js';
import { LIGHT_FAILURE } from '../../core/constants.js';
import { DatasetNameSchema } from '../../core/eval/datasets/types.js';
import { imageLevelFailures, recordsFromManifest } from '../../core/eval/from-manifest.js';
import { parseJsonl, toJsonl } from '../../core/eval/jsonl.js';
import { buildReport } from '../../core/eval/report.js';
import { renderJson, renderMarkdown } from '../../core/eval/report-render.js';
import {
  type EvalRecord,
  type LpipsResolution,
  serialiseEvalRecords,
  variantTags,
} from '../../core/eval/results.js';
import type { ArtifactRef } from '../../core/schemas/artifact.js';
import {
  type BatchOutcome,
  BatchOutcomeSchema,
  type BatchResult,
  type BatchRunSettings,
  type BatchVariant,
} from '../../core/schemas/batch-io.js';
import { type RunManifest, RunManifestSchema } from '../../core/schemas/run-manifest.js';
import { WorldOracle } from '../../core/world/oracle.js';
import { loadWorldScm } from '../../core/world/scm.js';
import type { WorldTruth } from '../../core/world/truth.js';
import { type GroundTruthDeps, withGroundTruth } from './ground-truth.js';
import { parseS3Manifest } from './sample-manifest.js';

export const JSONL = 'application/x-ndjson';

export interface ReportBatchInput {
  batchId: string;
  /** Child runs planned (images × variants). */
  total: number;
  /** Outcome pages in page order, each in draw order. */
  outcomePages: ArtifactRef[];
  /** `engine` names the baselines' preset in the report (absent in batches started before it was sent). */
  run: Pick<BatchRunSettings, 'methods' | 'planning'> & Partial<Pick<BatchRunSettings, 'engine'>>;
  variants: BatchVariant[];
  /** The batch's data set manifest: street-world lines carry the ground truth the records are scored against. */
  manifest?: ArtifactRef;
}

export async function readOutcomePages(
  store: ArtifactStore,
  pages: readonly ArtifactRef[],
): Promise<BatchOutcome[]> {
  const out: BatchOutcome[] = [];
  for (const ref of pages) {
    const text = new TextDecoder().decode(await store.get(ref));
    out.push(...parseJsonl(text, BatchOutcomeSchema, `s3://${ref.bucket}/${ref.key}`));
  }
  return out;
}

/** Width × height of the image the GPU host compared against (LPIPS runs at that size). */
async function imageSize(store: ArtifactStore, ref: ArtifactRef): Promise<LpipsResolution | null> {
  const meta = await sharp(await store.get(ref)).metadata();
  return meta.width && meta.height ? { width: meta.width, height: meta.height } : null;
}

export async function recordsOfOutcome(
  store: ArtifactStore,
  outcome: BatchOutcome,
  ctx: Omit<ReportBatchInput, 'total' | 'outcomePages' | 'manifest'>,
  sizes: Map<string, Promise<LpipsResolution | null>>,
  world?: { truth: WorldTruth; deps: GroundTruthDeps },
): Promise<EvalRecord[]> {
  const variant = ctx.variants.find((v) => v.name === outcome.variant);
  const base = {
    batchId: ctx.batchId,
    dataset: DatasetNameSchema.parse(outcome.dataset),
    imageId: outcome.imageId,
    methods: variant?.methods ?? ctx.run.methods,
    planning: { ...ctx.run.planning, ...(variant?.planning ?? {}) },
    variant: variantTags(variant),
  };
  if (!outcome.manifest) {
    const why = outcome.error?.message ?? `the child run ended ${outcome.status} without a manifest`;
    return imageLevelFailures(base, {
      runId: outcome.runId,
      stage: outcome.error?.type === LIGHT_FAILURE.manifestInvalid ? 'manifest' : 'workflow',
      reason: `${outcome.status}: ${why} (child workflow ${outcome.runId})`,
    });
  }
  const manifest: RunManifest = await store.getJson(RunManifestSchema, outcome.manifest);
  const pre = manifest.input.preprocessed;
  let size: Promise<LpipsResolution | null> | undefined;
  if (pre) {
    size = sizes.get(pre.sha256) ?? imageSize(store, pre);
    sizes.set(pre.sha256, size); // variants of one image share the preprocessed input
  }
  const records = recordsFromManifest(
    manifest,
    { ...base, originalImage: { kind: 's3', ref: manifest.input.image } },
    size ? await size : null,
  );
  return world ? withGroundTruth(world.deps, records, manifest, world.truth) : records;
}

/** `${dataset}/${id}` → the ground truth its manifest line carries. */
async function truthsOf(
  store: ArtifactStore,
  ref: ArtifactRef | undefined,
): Promise<Map<string, WorldTruth>> {
  const truths = new Map<string, WorldTruth>();
  if (!ref) return truths;
  const text = new TextDecoder().decode(await store.get(ref));
  for (const line of parseS3Manifest(text, `s3://${ref.bucket}/${ref.key}`))
    if (line.truth) truths.set(`${line.dataset}/${line.id}`, line.truth);
  return truths;
}

export async function reportBatch(
  store: ArtifactStore,
  input: ReportBatchInput,
  heartbeat: (done: number) => void = () => {},
): Promise<BatchResult> {
  const outcomes = await readOutcomePages(store, input.outcomePages);
  const truths = await truthsOf(store, input.manifest);
  const sizes = new Map<string, Promise<LpipsResolution | null>>();
  const records: EvalRecord[] = [];
  // The oracle opens only for a batch with street-world images, once, and is released at the end.
  let oracle: Promise<WorldOracle> | null = null;
  const scm = truths.size === 0 ? null : loadWorldScm();
  const deps: GroundTruthDeps | null = scm && {
    store,
    scm,
    oracle: () => {
      oracle ??= WorldOracle.open(scm);
      return oracle;
    },
  };
  try {
    for (const [i, outcome] of outcomes.entries()) {
      const truth = truths.get(`${outcome.dataset}/${outcome.imageId}`);
      const world = truth && deps ? { truth, deps } : undefined;
      records.push(...(await recordsOfOutcome(store, outcome, input, sizes, world)));
      heartbeat(i + 1);
    }
  } finally {
    if (oracle) await (await (oracle as Promise<WorldOracle>)).release();
  }
  const put = async (text: string, contentType: string) =>
    (await store.put(new TextEncoder().encode(text), { contentType, prefix: `batches/${input.batchId}` }))
      .ref;
  const report = buildReport(records, { baselineSettings: baselineSettingsOf(input.run.engine) });
  const [outcomesRef, results, reportJson, reportMarkdown] = await Promise.all([
    put(toJsonl(outcomes), JSONL),
    put(serialiseEvalRecords(records), JSONL),
    put(renderJson(report), 'application/json'),
    put(renderMarkdown(report), 'text/markdown; charset=utf-8'),
  ]);
  return {
    batchId: input.batchId,
    total: input.total,
    succeeded: outcomes.filter((o) => o.status === 'succeeded').length,
    failed: outcomes.filter((o) => o.status !== 'succeeded').length,
    outcomes: outcomesRef,
    results,
    reportJson,
    reportMarkdown,
  };
}
