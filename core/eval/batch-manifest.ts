// A batch manifest: the sampled images of an evaluation batch, one JSON object a line (JSONL), stored
// next to the batch in S3. An image is a local path (relative to the data set root, before upload) or
// the artifact it was uploaded to.
import { z } from 'zod';
import type { ArtifactRef } from '../schemas/artifact.js';
import { WorldTruthSchema } from '../world/truth.js';
import { BatchImageSchema } from './batch-image.js';
import { CaptionRuleSchema, type DatasetItem, DatasetNameSchema } from './datasets/types.js';
import { JsonlError, parseJsonlLines, toJsonl } from './jsonl.js';

export { type BatchImage, BatchImageSchema } from './batch-image.js';

export const BatchManifestLineSchema = z.object({
  dataset: DatasetNameSchema,
  id: z.string().min(1),
  image: BatchImageSchema,
  caption: z.string().trim().min(1, 'caption must be a non-empty string'),
  captionRule: CaptionRuleSchema,
  /** Position in the seeded draw (0-based), so a prefix of the manifest is a smaller sample. */
  drawIndex: z.number().int().nonnegative(),
  /** Street-world images only: the scene's ground truth (core/world/truth.ts), which the report scores against. */
  truth: WorldTruthSchema.optional(),
});
export type BatchManifestLine = z.infer<typeof BatchManifestLineSchema>;

/** Lines for a sample in draw order; `uploaded` maps an item id to its artifact when already in S3. */
export function manifestLines(
  sample: readonly DatasetItem[],
  uploaded?: ReadonlyMap<string, ArtifactRef>,
): BatchManifestLine[] {
  return sample.map((item, drawIndex) => {
    const ref = uploaded?.get(item.id);
    return {
      dataset: item.dataset,
      id: item.id,
      image: ref ? { kind: 's3', ref } : { kind: 'local', path: item.imagePath },
      caption: item.caption,
      captionRule: item.captionRule,
      drawIndex,
      ...(item.truth ? { truth: item.truth } : {}),
    };
  });
}

export function serialiseBatchManifest(lines: readonly BatchManifestLine[]): string {
  return toJsonl(lines.map((l) => BatchManifestLineSchema.parse(l)));
}

/** Throws JsonlError naming the line, the field and the value; duplicate (dataset, id) is an error. */
export function parseBatchManifest(text: string, source = '(batch manifest)'): BatchManifestLine[] {
  const lines = parseJsonlLines(text, BatchManifestLineSchema, source);
  const seen = new Map<string, number>();
  for (const { line, value } of lines) {
    const key = `${value.dataset}/${value.id}`;
    const prior = seen.get(key);
    if (prior !== undefined) {
      throw new JsonlError(source, line, 'id', `image ${key} is already listed on line ${prior}`);
    }
    seen.set(key, line);
  }
  return lines.map((l) => l.value);
}
