// Local data set loaders (core/eval/datasets): small COCO and Multi-Modal-CelebA-HQ layouts written
// by the test, well-formed and malformed, and the batch manifest built from a sample.
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { manifestLines, parseBatchManifest, serialiseBatchManifest } from '../../core/eval/batch-manifest.js';
import { loadCelebaHq } from '../../core/eval/datasets/celeba.js';
import { loadCoco } from '../../core/eval/datasets/coco.js';
import { assertImagesExist } from '../../core/eval/datasets/files.js';
import { DatasetError } from '../../core/eval/datasets/types.js';
import { JsonlError } from '../../core/eval/jsonl.js';
import { sampleWithoutReplacement } from '../../core/eval/sampling.js';

let tmp = '';
beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'cgm-eval-data-'));
});
afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

let counter = 0;
async function dir(): Promise<string> {
  const d = join(tmp, `d${counter++}`);
  await mkdir(d, { recursive: true });
  return d;
}

const JPEG = Buffer.from([0xff, 0xd8, 0xff, 0xd9]);

interface CocoSpec {
  images?: unknown[];
  annotations?: unknown[];
  raw?: string;
  files?: string[];
}

const cocoImage = (id: number) => ({
  id,
  file_name: `${String(id).padStart(12, '0')}.jpg`,
  height: 4,
  width: 4,
});

async function cocoRoot(spec: CocoSpec = {}): Promise<string> {
  const root = await dir();
  await mkdir(join(root, 'annotations'), { recursive: true });
  await mkdir(join(root, 'val2017'), { recursive: true });
  const images = spec.images ?? [cocoImage(397133), cocoImage(37777), cocoImage(252219)];
  const annotations = spec.annotations ?? [
    // Array order differs from id order on purpose: the rule picks the lowest annotation id.
    { id: 900, image_id: 397133, caption: 'A man is in a kitchen making pizzas.' },
    { id: 12, image_id: 397133, caption: '  A man making pizza in a kitchen.\n' },
    { id: 50, image_id: 37777, caption: 'The dining table near the kitchen has a bowl of fruit on it.' },
    { id: 7, image_id: 252219, caption: '' },
    { id: 8, image_id: 252219, caption: 'A person with a shopping cart on a city street.' },
  ];
  const text = spec.raw ?? JSON.stringify({ info: {}, licenses: [], images, annotations });
  await writeFile(join(root, 'annotations', 'captions_val2017.json'), text);
  const files =
    spec.files ?? images.map((i) => (i as { file_name?: string }).file_name).filter((f): f is string => !!f);
  for (const f of files) await writeFile(join(root, 'val2017', f), JPEG);
  return root;
}

async function celebaRoot(
  captions: Record<string, string | null>,
  extraImages: string[] = [],
): Promise<string> {
  const root = await dir();
  await mkdir(join(root, 'image'), { recursive: true });
  await mkdir(join(root, 'text', 'celeba-caption'), { recursive: true });
  for (const [idx, text] of Object.entries(captions)) {
    await writeFile(join(root, 'image', `${idx}.jpg`), JPEG);
    if (text !== null) await writeFile(join(root, 'text', 'celeba-caption', `${idx}.txt`), text);
  }
  for (const name of extraImages) await writeFile(join(root, 'image', name), JPEG);
  return root;
}

async function rejection(p: Promise<unknown>): Promise<DatasetError> {
  const err = await p.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(DatasetError);
  return err as DatasetError;
}

describe('loadCoco', () => {
  it('lists every image with its lowest-annotation-id non-empty caption, sorted by id', async () => {
    const root = await cocoRoot();
    const data = await loadCoco({ root, split: 'val' });
    expect(data.root).toBe(root);
    expect(data.items).toEqual([
      {
        dataset: 'coco',
        id: '252219',
        imagePath: 'val2017/000000252219.jpg',
        caption: 'A person with a shopping cart on a city street.',
        captionRule: 'coco:lowest-annotation-id',
      },
      {
        dataset: 'coco',
        id: '37777',
        imagePath: 'val2017/000000037777.jpg',
        caption: 'The dining table near the kitchen has a bowl of fruit on it.',
        captionRule: 'coco:lowest-annotation-id',
      },
      {
        dataset: 'coco',
        id: '397133',
        imagePath: 'val2017/000000397133.jpg',
        caption: 'A man making pizza in a kitchen.',
        captionRule: 'coco:lowest-annotation-id',
      },
    ]);
  });

  it('names the missing annotations file', async () => {
    const root = await dir();
    const err = await rejection(loadCoco({ root, split: 'train' }));
    expect(err.file).toBe(join(root, 'annotations', 'captions_train2017.json'));
    expect(err.message).toMatch(/captions_train2017\.json.*no such file/);
  });

  it('reports bad JSON', async () => {
    const root = await cocoRoot({ raw: '{"images": [' });
    const err = await rejection(loadCoco({ root, split: 'val' }));
    expect(err.expected).toBe('valid JSON');
    expect(err.file).toMatch(/captions_val2017\.json$/);
  });

  it('names the field, the value and the expectation of a malformed entry', async () => {
    const noArray = await rejection(
      loadCoco({ root: await cocoRoot({ raw: '{"images": {}, "annotations": []}' }), split: 'val' }),
    );
    expect([noArray.field, noArray.value, noArray.expected]).toEqual(['images', '{}', 'an array']);

    const badId = await rejection(
      loadCoco({
        root: await cocoRoot({ images: [cocoImage(1), { id: 'two', file_name: 'x.jpg' }], annotations: [] }),
        split: 'val',
      }),
    );
    expect(badId.field).toBe('images[1].id');
    expect(badId.value).toBe('"two"');
    expect(badId.expected).toMatch(/number/);

    const noCaption = await rejection(
      loadCoco({
        root: await cocoRoot({ images: [cocoImage(1)], annotations: [{ id: 1, image_id: 1 }] }),
        split: 'val',
      }),
    );
    expect(noCaption.field).toBe('annotations[0].caption');
    expect(noCaption.value).toMatch(/missing/);

    const orphan = await rejection(
      loadCoco({
        root: await cocoRoot({ images: [cocoImage(1)], annotations: [{ id: 1, image_id: 2, caption: 'x' }] }),
        split: 'val',
      }),
    );
    expect([orphan.field, orphan.value]).toEqual(['annotations[0].image_id', '2']);

    const dup = await rejection(
      loadCoco({
        root: await cocoRoot({ images: [cocoImage(1), cocoImage(1)], annotations: [] }),
        split: 'val',
      }),
    );
    expect(dup.field).toBe('images[1].id');
    expect(dup.message).toMatch(/unique.*images\[0\]/);

    const empty = await rejection(
      loadCoco({
        root: await cocoRoot({
          images: [cocoImage(5)],
          annotations: [{ id: 1, image_id: 5, caption: '   ' }],
        }),
        split: 'val',
      }),
    );
    expect(empty.value).toBe('image id 5');
    expect(empty.expected).toMatch(/non-empty caption/);
  });

  it('names an image that is listed but whose file is missing, and counts the others', async () => {
    const root = await cocoRoot({ files: ['000000397133.jpg'] });
    const err = await rejection(loadCoco({ root, split: 'val' }));
    expect(err.file).toBe(join(root, 'val2017', '000000252219.jpg'));
    expect(err.message).toMatch(/1 more listed image/);
    // Skipping the check defers it to the sample.
    const data = await loadCoco({ root, split: 'val', checkImages: false });
    const present = data.items.filter((i) => i.id === '397133');
    await expect(assertImagesExist(root, present)).resolves.toBeUndefined();
    await expect(assertImagesExist(root, data.items)).rejects.toThrow(DatasetError);
  });
});

describe('loadCelebaHq', () => {
  it('takes the first non-empty line of each caption file', async () => {
    const root = await celebaRoot(
      {
        '0': 'She has blond hair and is smiling.\nThe woman has blond hair.\n',
        '12': '\r\n   \r\n  He wears eyeglasses.  \r\nHe is young.\r\n',
        '3': '\uFEFFThis person has bangs.',
      },
      ['.DS_Store'],
    );
    const data = await loadCelebaHq({ root });
    expect(data.items.map((i) => [i.id, i.imagePath, i.caption])).toEqual([
      ['0', 'image/0.jpg', 'She has blond hair and is smiling.'],
      ['12', 'image/12.jpg', 'He wears eyeglasses.'],
      ['3', 'image/3.jpg', 'This person has bangs.'],
    ]);
    expect(new Set(data.items.map((i) => i.captionRule))).toEqual(
      new Set(['mm-celeba-hq:first-non-empty-line']),
    );
  });

  it('names a missing image folder, a missing or empty caption file, and a badly named image', async () => {
    const missingDir = await rejection(loadCelebaHq({ root: await dir() }));
    expect(missingDir.message).toMatch(/image.*no such directory/);

    const noCaption = await rejection(loadCelebaHq({ root: await celebaRoot({ '0': 'ok', '7': null }) }));
    expect(noCaption.file).toMatch(/text\/celeba-caption\/7\.txt$/);
    expect(noCaption.message).toMatch(/no such file/);

    const emptyCaption = await rejection(loadCelebaHq({ root: await celebaRoot({ '4': '\n  \n' }) }));
    expect(emptyCaption.file).toMatch(/4\.txt$/);
    expect(emptyCaption.expected).toMatch(/non-empty caption line/);

    const badName = await rejection(loadCelebaHq({ root: await celebaRoot({ '1': 'ok' }, ['face.jpg']) }));
    expect(badName.value).toBe('"face.jpg"');
    expect(badName.expected).toMatch(/\{idx\}\.jpg/);

    const twice = await rejection(loadCelebaHq({ root: await celebaRoot({ '1': 'ok' }, ['1.png']) }));
    expect(twice.expected).toBe('one image per index');

    const none = await rejection(loadCelebaHq({ root: await celebaRoot({}) }));
    expect(none.message).toMatch(/has none/);
  });
});

describe('batch manifest', () => {
  it('round-trips a seeded sample, in draw order, with local and S3 images', async () => {
    const captions = Object.fromEntries(Array.from({ length: 20 }, (_, i) => [String(i), `caption ${i}`]));
    const data = await loadCelebaHq({ root: await celebaRoot(captions) });
    const sample = sampleWithoutReplacement(data.items, 5, 'fm-cgm-eval', (i) => i.id);
    const ref = { bucket: 'b', key: 'k/1.jpg', sha256: 'a'.repeat(64), bytes: 4, contentType: 'image/jpeg' };
    const lines = manifestLines(sample, new Map([[sample[1].id, ref]]));
    expect(lines.map((l) => l.drawIndex)).toEqual([0, 1, 2, 3, 4]);
    expect(lines[1].image).toEqual({ kind: 's3', ref });
    expect(lines[0].image).toEqual({ kind: 'local', path: sample[0].imagePath });
    const text = serialiseBatchManifest(lines);
    expect(text.split('\n')).toHaveLength(6);
    expect(parseBatchManifest(text)).toEqual(lines);
  });

  it('names the line and field of a malformed or duplicate entry', () => {
    const good = {
      dataset: 'coco',
      id: '1',
      image: { kind: 'local', path: 'val2017/1.jpg' },
      caption: 'c',
      captionRule: 'coco:lowest-annotation-id',
      drawIndex: 0,
    };
    const lines = (...xs: unknown[]) =>
      xs.map((x) => (typeof x === 'string' ? x : JSON.stringify(x))).join('\n');
    const fail = (text: string) => {
      try {
        parseBatchManifest(text, 'batch.jsonl');
      } catch (e) {
        expect(e).toBeInstanceOf(JsonlError);
        return (e as Error).message;
      }
      throw new Error('expected a JsonlError');
    };
    expect(fail(lines(good, '', '{oops'))).toMatch(/^batch\.jsonl:3: not valid JSON/);
    expect(fail(lines(good, { ...good, id: '2', dataset: 'imagenet' }))).toMatch(
      /^batch\.jsonl:2: dataset: .*"imagenet"/,
    );
    expect(fail(lines({ ...good, image: { kind: 's3', ref: { bucket: 'b' } } }))).toMatch(
      /^batch\.jsonl:1: image\.ref\.key/,
    );
    expect(fail(lines({ ...good, caption: '  ' }))).toMatch(/caption must be a non-empty string/);
    expect(fail(lines(good, { ...good, drawIndex: 1 }))).toMatch(
      /^batch\.jsonl:2: id: image coco\/1 is already listed on line 1/,
    );
  });
});
