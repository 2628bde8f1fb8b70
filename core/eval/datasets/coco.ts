// MS-COCO 2017 captions from a local copy: ROOT/annotations/captions_{train,val}2017.json and the
// image folder ROOT/{train,val}2017/.
//
// Caption rule 'coco:lowest-annotation-id': of an image's captions, the one with the smallest
// annotation id, trimmed. Every image has about five equally valid captions; the annotation id is
// stable across copies of the file, whereas array order is not (mirrors re-sort), and picking needs
// no randomness, so the caption does not depend on the sampling seed.
import { resolve } from 'node:path';
import { z } from 'zod';
import { assertImagesExist, readText } from './files.js';
import { byId, DatasetError, type DatasetItem, type LoadedDataset, shown } from './types.js';

export type CocoSplit = 'train' | 'val';

export interface CocoOptions {
  root: string;
  split: CocoSplit;
  /** Image folder relative to root; default `${split}2017`. */
  imagesDir?: string;
  /** Check every listed image file exists (default true); else call assertImagesExist on the sample. */
  checkImages?: boolean;
}

const nonNegInt = z.number().int().nonnegative();
const CocoImageSchema = z.object({ id: nonNegInt, file_name: z.string().min(1) });
const CocoAnnotationSchema = z.object({ id: nonNegInt, image_id: nonNegInt, caption: z.string() });

export function cocoAnnotationsPath(root: string, split: CocoSplit): string {
  return resolve(root, 'annotations', `captions_${split}2017.json`);
}

export async function loadCoco(options: CocoOptions): Promise<LoadedDataset> {
  const root = resolve(options.root);
  const file = cocoAnnotationsPath(root, options.split);
  const imagesDir = options.imagesDir ?? `${options.split}2017`;
  const text = await readText(file, `the COCO captions file annotations/captions_${options.split}2017.json`);
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (err) {
    throw new DatasetError(file, null, null, 'valid JSON', (err as Error).message);
  }
  if (typeof data !== 'object' || data === null || Array.isArray(data)) {
    throw new DatasetError(file, '(top level)', shown(data), 'an object with "images" and "annotations"');
  }
  const top = data as Record<string, unknown>;
  for (const field of ['images', 'annotations']) {
    if (!Array.isArray(top[field])) throw new DatasetError(file, field, shown(top[field]), 'an array');
  }
  const images = parseEach(file, 'images', top.images as unknown[], CocoImageSchema);
  const annotations = parseEach(file, 'annotations', top.annotations as unknown[], CocoAnnotationSchema);

  const byImage = new Map<number, { fileName: string; index: number }>();
  images.forEach((img, index) => {
    const prior = byImage.get(img.id);
    if (prior) {
      throw new DatasetError(
        file,
        `images[${index}].id`,
        shown(img.id),
        'a unique image id',
        `also at images[${prior.index}]`,
      );
    }
    byImage.set(img.id, { fileName: img.file_name, index });
  });

  const best = new Map<number, { annId: number; caption: string }>();
  annotations.forEach((ann, index) => {
    if (!byImage.has(ann.image_id)) {
      throw new DatasetError(
        file,
        `annotations[${index}].image_id`,
        shown(ann.image_id),
        'the id of a listed image',
      );
    }
    const caption = ann.caption.trim();
    if (caption === '') return; // an empty caption is never chosen; an image with none fails below
    const prior = best.get(ann.image_id);
    if (!prior || ann.id < prior.annId) best.set(ann.image_id, { annId: ann.id, caption });
  });

  const items: DatasetItem[] = [];
  for (const [id, img] of byImage) {
    const chosen = best.get(id);
    if (!chosen) {
      throw new DatasetError(
        file,
        `images[${img.index}]`,
        `image id ${id}`,
        'at least one non-empty caption in annotations',
      );
    }
    items.push({
      dataset: 'coco',
      id: String(id),
      imagePath: `${imagesDir.replace(/\\/g, '/').replace(/\/+$/, '')}/${img.fileName}`,
      caption: chosen.caption,
      captionRule: 'coco:lowest-annotation-id',
    });
  }
  items.sort(byId);
  if (options.checkImages ?? true) await assertImagesExist(root, items);
  return { dataset: 'coco', root, items };
}

function parseEach<T>(file: string, field: string, values: unknown[], schema: z.ZodType<T>): T[] {
  return values.map((value, index) => {
    const parsed = schema.safeParse(value);
    if (parsed.success) return parsed.data;
    const issue = parsed.error.issues[0];
    const sub = issue.path.map(String).join('.');
    const at = `${field}[${index}]${sub ? `.${sub}` : ''}`;
    const got = issue.path.reduce<unknown>(
      (v, p) => (v !== null && typeof v === 'object' ? (v as Record<PropertyKey, unknown>)[p] : undefined),
      value,
    );
    return badField(file, at, got, issue.message);
  });
}

function badField(file: string, field: string, value: unknown, message: string): never {
  throw new DatasetError(file, field, shown(value), expectedFrom(message));
}

/** zod's "Invalid input: expected number, received string" → "number". */
function expectedFrom(message: string): string {
  const m = /expected ([^,]+)/.exec(message);
  return m ? m[1] : message;
}
