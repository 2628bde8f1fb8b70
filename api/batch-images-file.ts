// POST /v1/batches with `imagesFile`: the uploaded JSONL image list, read and checked line by line.
// Each line is a BatchImage (the shape of the inline `images` entries); every error names its line.
// The listed images are checked by their stored head (uploaded, an image type, within the size limit)
// but not decoded: a list may name 100,000 of them, and an image that does not decode becomes a failed
// run in the batch report, as in batches started from the CLI.
import type { z } from '@hono/zod-openapi';
import type { ArtifactRef } from '../core/schemas/artifact.js';
import { formatZodPath } from '../core/schemas/zod-path.js';
import { ApiError } from './errors.js';
import { type KeyImageStore, uploadRef } from './images.js';
import { mapInChunks } from './map-in-chunks.js';
import {
  BATCH_FILE_CONTENT_TYPE,
  type BatchImageLine,
  BatchImageLineSchema,
  MAX_BATCH_FILE_IMAGES,
} from './schemas.js';

const FIELD = 'imagesFile';
const IMAGE_TYPES = new Set(['image/png', 'image/jpeg', 'image/webp']);
/** Heads requested at once while checking a list's images. */
const HEAD_CONCURRENCY = 16;

/** A listed image with the number of the line that names it (1-based, as an editor shows it). */
export interface ListedImage {
  line: number;
  image: BatchImageLine;
}

/** Reads the uploaded list `sha256` names; refuses a missing, oversized, non-JSONL or malformed one. */
export async function readBatchImagesFile(
  images: KeyImageStore,
  sha256: string,
  maxBytes: number,
): Promise<ListedImage[]> {
  const head = await images.head(sha256);
  if (!head)
    throw new ApiError(
      'unknown_artifact',
      `no file with sha256 ${sha256} uploaded with this API key; upload the list first (POST /v1/uploads with contentType ${BATCH_FILE_CONTENT_TYPE}, then PUT)`,
      `${FIELD}.sha256`,
    );
  if (head.contentType !== BATCH_FILE_CONTENT_TYPE)
    throw new ApiError(
      'invalid_batch_file',
      `the upload ${sha256} is ${head.contentType}; expected a ${BATCH_FILE_CONTENT_TYPE} image list`,
      `${FIELD}.sha256`,
    );
  if (head.bytes > maxBytes)
    throw new ApiError(
      'payload_too_large',
      `the image list is ${head.bytes} bytes; the limit is ${maxBytes} (CGM_API_MAX_BATCH_FILE_BYTES)`,
      `${FIELD}.sha256`,
    );
  const bytes = await images.get(uploadRef(images.bucket, sha256, head.bytes, head.contentType));
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new ApiError('invalid_batch_file', 'the image list is not UTF-8 text', FIELD);
  }
  return parseBatchImagesText(text);
}

/** JSONL → listed images; blank lines are skipped, `(dataset, id)` must be unique. */
export function parseBatchImagesText(text: string): ListedImage[] {
  const listed: ListedImage[] = [];
  const seen = new Map<string, number>();
  const rows = text.split('\n');
  for (let i = 0; i < rows.length; i++) {
    const row = rows[i].trim();
    if (row === '') continue;
    const line = i + 1;
    if (listed.length === MAX_BATCH_FILE_IMAGES)
      throw new ApiError(
        'invalid_batch_file',
        `line ${line}: the list has more than ${MAX_BATCH_FILE_IMAGES} images; split it into several batches`,
        FIELD,
      );
    let json: unknown;
    try {
      json = JSON.parse(row);
    } catch (err) {
      throw new ApiError(
        'invalid_batch_file',
        `line ${line}: not JSON (${(err as Error).message}); expected one BatchImage object per line`,
        FIELD,
      );
    }
    const parsed = BatchImageLineSchema.safeParse(json);
    if (!parsed.success) throw lineError(line, parsed.error);
    const key = `${parsed.data.dataset}/${parsed.data.id}`;
    const prior = seen.get(key);
    if (prior !== undefined)
      throw new ApiError(
        'invalid_batch_file',
        `line ${line}: image ${key} is already listed on line ${prior}`,
        FIELD,
      );
    seen.set(key, line);
    listed.push({ line, image: parsed.data });
  }
  if (listed.length === 0)
    throw new ApiError(
      'invalid_batch_file',
      'the image list has no lines; expected at least one image',
      FIELD,
    );
  return listed;
}

function lineError(line: number, error: z.ZodError): ApiError {
  const issue = error.issues[0];
  const what =
    issue.code === 'unrecognized_keys'
      ? `unknown field '${formatZodPath([...issue.path, issue.keys[0] ?? ''])}'`
      : `${formatZodPath(issue.path) || 'the line'}: ${issue.message}`;
  return new ApiError('invalid_batch_file', `line ${line}: ${what}`, FIELD);
}

/** The stored head of every listed image: uploaded, an image, within the size limit; in list order. */
export async function checkListedImageHeads(
  listed: readonly ListedImage[],
  images: KeyImageStore,
  maxImageBytes: number,
): Promise<ArtifactRef[]> {
  return mapInChunks(listed, HEAD_CONCURRENCY, async ({ line, image }) => {
    const sha = image.image.sha256;
    const head = await images.head(sha);
    if (!head)
      throw new ApiError(
        'unknown_artifact',
        `line ${line}: no image with sha256 ${sha} uploaded with this API key; upload it first (POST /v1/uploads, then PUT)`,
        FIELD,
      );
    if (!IMAGE_TYPES.has(head.contentType))
      throw new ApiError(
        'invalid_image',
        `line ${line}: the upload ${sha} is ${head.contentType}, not a PNG, JPEG or WebP image`,
        FIELD,
      );
    if (head.bytes > maxImageBytes)
      throw new ApiError(
        'payload_too_large',
        `line ${line}: the uploaded image is ${head.bytes} bytes; the limit is ${maxImageBytes}`,
        FIELD,
      );
    return uploadRef(images.bucket, sha, head.bytes, head.contentType);
  });
}
