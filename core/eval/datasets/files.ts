// File checks shared by the loaders.
import { access, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DatasetError, type DatasetItem } from './types.js';

export async function readText(file: string, what: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why =
      code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'a directory' : (code ?? 'unreadable');
    throw new DatasetError(file, null, null, what, why);
  }
}

const exists = (path: string) =>
  access(path).then(
    () => true,
    () => false,
  );

/**
 * Throws naming the first listed image whose file is missing, and how many more are. Checks in
 * chunks so a 118k-image split does not open that many handles at once.
 */
export async function assertImagesExist(root: string, items: readonly DatasetItem[]): Promise<void> {
  const missing: DatasetItem[] = [];
  const chunk = 256;
  for (let i = 0; i < items.length; i += chunk) {
    const part = items.slice(i, i + chunk);
    const found = await Promise.all(part.map((item) => exists(join(root, item.imagePath))));
    part.forEach((item, j) => {
      if (!found[j]) missing.push(item);
    });
  }
  if (missing.length > 0) {
    const [first] = missing;
    const more = missing.length > 1 ? `; ${missing.length - 1} more listed image(s) missing too` : '';
    throw new DatasetError(
      join(root, first.imagePath),
      null,
      null,
      `the image file of ${first.dataset} id ${first.id}`,
      `no such file${more}`,
    );
  }
}
