// CelebA-HQ with Multi-Modal-CelebA-HQ captions from a local copy:
// ROOT/image/{idx}.jpg (or .png) and ROOT/text/celeba-caption/{idx}.txt, ten captions a file, one a line.
// The population is every image in the image folder (the paper samples "over the full available
// split"); each needs its caption file.
//
// Caption rule 'mm-celeba-hq:first-non-empty-line': the first line that is not blank, trimmed. The
// ten lines are sentences generated from the same attribute labels, so none is better than another;
// the first is a fixed choice that needs no randomness (the caption does not depend on the sampling
// seed) and is one line of Python: next(l.strip() for l in open(f, encoding='utf-8') if l.strip()).
import { readdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { readText } from './files.js';
import { byId, DatasetError, type DatasetItem, type LoadedDataset } from './types.js';

export interface CelebaOptions {
  root: string;
  /** Relative to root; default 'image'. */
  imagesDir?: string;
  /** Relative to root; default 'text/celeba-caption'. */
  captionsDir?: string;
}

const IMAGE_EXT = /\.(jpe?g|png)$/i;
const INDEX = /^(0|[1-9][0-9]*)$/;

export async function loadCelebaHq(options: CelebaOptions): Promise<LoadedDataset> {
  const root = resolve(options.root);
  const imagesDir = trimSlashes(options.imagesDir ?? 'image');
  const captionsDir = trimSlashes(options.captionsDir ?? 'text/celeba-caption');
  const imageFolder = join(root, imagesDir);

  let names: string[];
  try {
    names = await readdir(imageFolder);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new DatasetError(
      imageFolder,
      null,
      null,
      'the CelebA-HQ image folder',
      code === 'ENOENT'
        ? 'no such directory'
        : code === 'ENOTDIR'
          ? 'not a directory'
          : (code ?? 'unreadable'),
    );
  }

  const files = new Map<string, string>();
  for (const name of names.sort()) {
    if (!IMAGE_EXT.test(name)) continue; // e.g. .DS_Store, thumbnails databases
    const stem = name.replace(IMAGE_EXT, '');
    if (!INDEX.test(stem)) {
      throw new DatasetError(
        join(imageFolder, name),
        'file name',
        JSON.stringify(name),
        '{idx}.jpg with idx a non-negative integer',
      );
    }
    const prior = files.get(stem);
    if (prior) {
      throw new DatasetError(
        join(imageFolder, name),
        'file name',
        JSON.stringify(name),
        'one image per index',
        `also ${prior}`,
      );
    }
    files.set(stem, name);
  }
  if (files.size === 0) {
    throw new DatasetError(imageFolder, null, null, 'at least one {idx}.jpg image', 'the folder has none');
  }

  const items: DatasetItem[] = [];
  for (const [id, name] of files) {
    const captionFile = join(root, captionsDir, `${id}.txt`);
    const text = await readText(
      captionFile,
      `the caption file ${captionsDir}/${id}.txt of image ${imagesDir}/${name}`,
    );
    const caption = firstNonEmptyLine(text);
    if (caption === null) {
      throw new DatasetError(
        captionFile,
        'line 1',
        JSON.stringify(text.slice(0, 40)),
        'at least one non-empty caption line',
      );
    }
    items.push({
      dataset: 'celeba-hq',
      id,
      imagePath: `${imagesDir}/${name}`,
      caption,
      captionRule: 'mm-celeba-hq:first-non-empty-line',
    });
  }
  items.sort(byId);
  return { dataset: 'celeba-hq', root, items };
}

/** The first line that is not blank, trimmed (a leading BOM and CRLF endings are tolerated). */
export function firstNonEmptyLine(text: string): string | null {
  for (const line of text.replace(/^\uFEFF/, '').split(/\r?\n/)) {
    const trimmed = line.trim();
    if (trimmed !== '') return trimmed;
  }
  return null;
}

const trimSlashes = (p: string) =>
  p
    .replace(/\\/g, '/')
    .replace(/^\.\/+/, '')
    .replace(/\/+$/, '');
