// `cgm batch`'s sample: drawn from local data sets (--dataset) or a batch manifest (seeded, without
// replacement, per data set: core/eval/sampling.ts), then its local images, and a world line's true
// counterfactuals, uploaded to S3 content-addressed and the manifest of S3 refs stored. Data set and
// manifest problems are the user's to fix: one line, exit 2.
import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { sampleManifest } from '../activities/batch/sample-manifest.js';
import type { ArtifactStore } from '../core/artifacts/store.js';
import {
  type BatchManifestLine,
  manifestLines,
  parseBatchManifest,
  serialiseBatchManifest,
} from '../core/eval/batch-manifest.js';
import { loadCelebaHq } from '../core/eval/datasets/celeba.js';
import { loadCoco } from '../core/eval/datasets/coco.js';
import { assertImagesExist } from '../core/eval/datasets/files.js';
import { DatasetError, type DatasetName, DatasetNameSchema } from '../core/eval/datasets/types.js';
import { loadWorld } from '../core/eval/datasets/world.js';
import { JsonlError } from '../core/eval/jsonl.js';
import type { Seed } from '../core/eval/sampling.js';
import { WorldInputError } from '../core/world/errors.js';
import { CliError } from './cli-error.js';

export interface Sample {
  lines: BatchManifestLine[];
  /** Folder local image paths are relative to, per data set. */
  base: Partial<Record<DatasetName, string>>;
}

export async function datasetSample(
  specs: string[],
  split: 'val' | 'train',
  perDataset: number,
  seed: Seed,
): Promise<Sample> {
  const base: Sample['base'] = {};
  const all: BatchManifestLine[] = [];
  for (const spec of specs) {
    const eq = spec.indexOf('=');
    const name = DatasetNameSchema.safeParse(eq > 0 ? spec.slice(0, eq) : '');
    if (!name.success || eq === spec.length - 1) {
      throw new CliError(`--dataset: expected coco=DIR, celeba-hq=DIR or world=DIR (got '${spec}')`, 2);
    }
    if (base[name.data]) throw new CliError(`--dataset: ${name.data} is given twice`, 2);
    const dir = spec.slice(eq + 1);
    const loaded = await guard(async () =>
      name.data === 'coco'
        ? loadCoco({ root: dir, split, checkImages: false })
        : name.data === 'world'
          ? loadWorld({ root: dir })
          : loadCelebaHq({ root: dir }),
    );
    base[name.data] = loaded.root;
    // Every item as a line (drawIndex = its position by id); sampleManifest then draws from them.
    all.push(...manifestLines(loaded.items));
  }
  const lines = sampleManifest(all, { perDataset, seed });
  for (const [dataset, root] of Object.entries(base)) {
    const items = lines
      .filter((l) => l.dataset === dataset && l.image.kind === 'local')
      .map((l) => ({
        dataset: l.dataset,
        id: l.id,
        imagePath: l.image.kind === 'local' ? l.image.path : '',
        caption: l.caption,
        captionRule: l.captionRule,
      }));
    await guard(() => assertImagesExist(root, items));
  }
  return { lines, base };
}

export async function manifestSample(
  file: string,
  perDataset: number | undefined,
  seed: Seed,
): Promise<Sample> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new CliError(`${file}: cannot read (${code === 'ENOENT' ? 'no such file' : (code ?? 'error')})`, 2);
  }
  const lines = await guard(async () => parseBatchManifest(text, file));
  const dir = dirname(resolve(file));
  return {
    lines: sampleManifest(lines, { perDataset, seed }),
    base: { coco: dir, 'celeba-hq': dir, world: dir },
  };
}

/** Uploads the local images of the sample and stores the manifest of S3 refs; returns its ref. */
export async function uploadSample(store: ArtifactStore, lines: BatchManifestLine[], base: Sample['base']) {
  const uploaded: BatchManifestLine[] = [];
  for (const line of lines) {
    if (line.image.kind === 's3') {
      uploaded.push(line);
      continue;
    }
    const path = resolve(base[line.dataset] ?? '.', line.image.path);
    const bytes = await readLocal(path, `the image of ${line.dataset} id ${line.id}`);
    const contentType = imageType(bytes);
    if (!contentType) {
      throw new CliError(
        `${path}: the image of ${line.dataset} id ${line.id} is not a PNG, JPEG or WebP file`,
        2,
      );
    }
    const { ref } = await store.put(bytes, { contentType, prefix: 'inputs' });
    uploaded.push({
      ...line,
      image: { kind: 's3', ref },
      ...(line.truth ? { truth: await uploadTruth(store, line, base) } : {}),
    });
  }
  const text = serialiseBatchManifest(uploaded);
  return (
    await store.put(new TextEncoder().encode(text), {
      contentType: 'application/x-ndjson',
      prefix: 'batches/manifests',
    })
  ).ref;
}

async function readLocal(path: string, what: string): Promise<Uint8Array> {
  try {
    return new Uint8Array(await readFile(path));
  } catch (err) {
    throw new CliError(`${path}: cannot read ${what} (${(err as NodeJS.ErrnoException).code ?? 'error'})`, 2);
  }
}

/** A world line's true counterfactual images to S3 (content-addressed, like the inputs). */
async function uploadTruth(store: ArtifactStore, line: BatchManifestLine, base: Sample['base']) {
  const truth = line.truth!;
  const interventions = [];
  for (const iv of truth.interventions) {
    if (iv.image.kind === 's3') {
      interventions.push(iv);
      continue;
    }
    const path = resolve(base[line.dataset] ?? '.', iv.image.path);
    const bytes = await readLocal(
      path,
      `the true counterfactual of ${line.dataset} id ${line.id}, intervention ${iv.id}`,
    );
    const { ref } = await store.put(bytes, { contentType: 'image/png', prefix: 'inputs/truth' });
    interventions.push({ ...iv, image: { kind: 's3' as const, ref } });
  }
  return { ...truth, interventions };
}

function imageType(bytes: Uint8Array): string | null {
  if (bytes[0] === 0x89 && bytes[1] === 0x50 && bytes[2] === 0x4e && bytes[3] === 0x47) return 'image/png';
  if (bytes[0] === 0xff && bytes[1] === 0xd8) return 'image/jpeg';
  if (bytes[0] === 0x52 && bytes[1] === 0x49 && bytes[8] === 0x57 && bytes[9] === 0x45) return 'image/webp';
  return null;
}

/** Data set and manifest problems are the user's to fix: one line, exit 2. */
async function guard<T>(load: () => Promise<T>): Promise<T> {
  try {
    return await load();
  } catch (err) {
    if (err instanceof DatasetError || err instanceof JsonlError || err instanceof WorldInputError)
      throw new CliError(err.message, 2);
    throw err;
  }
}
