// Small synthetic data sets in the two real layouts (core/eval/datasets), with real PNG images that the
// engine and the VLM checks can decode: MS-COCO (annotations/captions_val2017.json + val2017/) and
// Multi-Modal-CelebA-HQ (image/{idx}.png + text/celeba-caption/{idx}.txt).
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import sharp from 'sharp';

/** A size × size PNG of smooth colour gradients, different for every seed. */
export async function syntheticPng(seed: number, size = 64): Promise<Buffer> {
  const px = Buffer.alloc(size * size * 3);
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const i = (y * size + x) * 3;
      px[i] = (x * 4 + seed * 37) % 256;
      px[i + 1] = (y * 4 + seed * 91) % 256;
      px[i + 2] = ((x + y) * 2 + seed * 53) % 256;
    }
  }
  return sharp(px, { raw: { width: size, height: size, channels: 3 } })
    .png()
    .toBuffer();
}

/** COCO layout with `ids.length` images, two captions each (the lower annotation id is the chosen one). */
export async function writeCocoDataset(root: string, ids: number[]): Promise<void> {
  await mkdir(join(root, 'annotations'), { recursive: true });
  await mkdir(join(root, 'val2017'), { recursive: true });
  const images = ids.map((id) => ({
    id,
    file_name: `${String(id).padStart(12, '0')}.png`,
    width: 64,
    height: 64,
  }));
  const annotations = ids.flatMap((id, k) => [
    { id: 1000 + k, image_id: id, caption: `a street scene number ${id}, seen second` },
    { id: 10 + k, image_id: id, caption: `A street scene number ${id}.` },
  ]);
  await writeFile(
    join(root, 'annotations', 'captions_val2017.json'),
    JSON.stringify({ images, annotations }),
  );
  for (const [k, img] of images.entries())
    await writeFile(join(root, 'val2017', img.file_name), await syntheticPng(k));
}

/** CelebA-HQ layout with images {idx}.png and caption files (the first non-empty line is the caption). */
export async function writeCelebaDataset(root: string, indices: number[]): Promise<void> {
  await mkdir(join(root, 'image'), { recursive: true });
  await mkdir(join(root, 'text', 'celeba-caption'), { recursive: true });
  for (const idx of indices) {
    await writeFile(join(root, 'image', `${idx}.png`), await syntheticPng(100 + idx));
    await writeFile(
      join(root, 'text', 'celeba-caption', `${idx}.txt`),
      `\nThe woman number ${idx} has blonde hair.\nShe is young.\n`,
    );
  }
}
