// The batch's sample of a data set manifest (docs/architecture.md §3 batchWorkflow): per data set, a seeded
// sample without replacement (core/eval/sampling.ts, keyed `${dataset}/${id}`, draw order kept), or every
// line when no size is given (then the lines' own drawIndex order). Data sets follow Table 1's order.
// Pure and deterministic: every page of the batch re-derives the same sample from the same manifest.
import { ApplicationFailure } from '@temporalio/common';
import { BATCH_FAILURE } from '../../core/constants.js';
import {
  type BatchManifestLine,
  BatchManifestLineSchema,
  parseBatchManifest,
} from '../../core/eval/batch-manifest.js';
import { DATASET_ORDER } from '../../core/eval/datasets/types.js';
import { JsonlError, parseJsonlLines } from '../../core/eval/jsonl.js';
import { methodName, variantTags } from '../../core/eval/results.js';
import { type Seed, sampleWithoutReplacement } from '../../core/eval/sampling.js';
import type { BatchRunSettings, BatchVariant } from '../../core/schemas/batch-io.js';

export { BATCH_FAILURE } from '../../core/constants.js';

const invalid = (message: string) => ApplicationFailure.nonRetryable(message, BATCH_FAILURE.invalidInput);

/** One image of the sample, with its position in its data set's draw. */
export type SampledImage = BatchManifestLine;

/** Parses the manifest; a malformed line or a local image path is a non-retryable error naming the line. */
export function parseS3Manifest(text: string, source: string): BatchManifestLine[] {
  let lines: BatchManifestLine[];
  try {
    lines = parseBatchManifest(text, source);
  } catch (err) {
    if (err instanceof JsonlError) throw invalid(err.message);
    throw err;
  }
  const local = lines.findIndex((l) => l.image.kind !== 's3');
  if (local >= 0) {
    // Line numbers count blank lines too: look the line up again with its number.
    const numbered = parseJsonlLines(text, BatchManifestLineSchema, source)[local];
    const l = numbered.value;
    throw invalid(
      `${source}:${numbered.line}: image: expected kind 's3' (an uploaded image), got a local path ` +
        `'${l.image.kind === 'local' ? l.image.path : ''}' for ${l.dataset} id ${l.id}; ` +
        'upload the images first (`cgm batch` does) and list their S3 refs',
    );
  }
  return lines;
}

export function sampleManifest(
  lines: readonly BatchManifestLine[],
  sample: { perDataset?: number; seed: Seed },
): SampledImage[] {
  const out: SampledImage[] = [];
  for (const dataset of DATASET_ORDER) {
    const mine = lines.filter((l) => l.dataset === dataset);
    if (sample.perDataset === undefined) {
      out.push(...[...mine].sort((a, b) => a.drawIndex - b.drawIndex));
      continue;
    }
    const drawn = sampleWithoutReplacement(
      mine,
      sample.perDataset,
      sample.seed,
      (l) => `${l.dataset}/${l.id}`,
    );
    out.push(...drawn.map((l, drawIndex) => ({ ...l, drawIndex })));
  }
  return out;
}

/**
 * Every variant must give its own report rows: two variants whose choices carry the same ablation tags
 * would list the same counterfactual twice (core/eval/results.ts methodName).
 */
export function checkVariants(
  run: Pick<BatchRunSettings, 'methods' | 'planning'>,
  variants: readonly BatchVariant[],
) {
  const owner = new Map<string, string>();
  for (const v of variants) {
    for (const m of v.methods ?? run.methods) {
      const row = methodName(m, { ...run.planning, ...v.planning }, variantTags(v));
      const prior = owner.get(row);
      if (prior !== undefined) {
        throw invalid(
          `variants: '${prior}' and '${v.name}' both give report row '${row}'; variants must differ in ` +
            'promptStyle, includeNonDescendantChanges, reverseOldValues, protectNonDescendants, csgBase, steps, scale, threshold, warmup, sourceGuidance or spanMode',
        );
      }
      owner.set(row, v.name);
    }
  }
}
