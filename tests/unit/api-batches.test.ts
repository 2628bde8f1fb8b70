// The batch routes of createApp through app.request(), with in-memory run starters and image store:
// a batch names uploaded images inline; every refused request leaves nothing stored and nothing started.

import sharp from 'sharp';
import { beforeEach, describe, expect, it } from 'vitest';
import { createApp } from '../../api/app.js';
import { runIdForIdempotencyKey } from '../../api/canonical.js';
import { defaultApiConfig } from '../../api/config.js';
import { createMemoryImageStore } from '../../api/images.js';
import { hashApiKey, keyIdOf } from '../../api/middleware/auth.js';
import { INTERNAL_FAILURE_MESSAGE } from '../../api/public-error.js';
import { BATCH_MANIFEST_PREFIX } from '../../api/routes/batches.js';
import { createMemoryRunStarter, type MemoryRunStarter } from '../../api/runs/memory.js';
import { BATCH_FILE_CONTENT_TYPE, MAX_BATCH_IMAGES } from '../../api/schemas.js';
import { parseBatchManifest } from '../../core/eval/batch-manifest.js';
import { buildReport } from '../../core/eval/report.js';
import { renderCsv, renderJson, renderMarkdown } from '../../core/eval/report-render.js';
import type { ArtifactRef } from '../../core/schemas/artifact.js';
import type { BatchInput, BatchResult } from '../../core/schemas/batch-io.js';
import type { LookupFn } from '../../core/webhooks/url-policy.js';
import { oneCheckRecord } from '../support/eval-records.js';

// Response JSON is navigated freely in assertions; a wrong path fails the assertion.
// biome-ignore lint/suspicious/noExplicitAny: see above
type Body = any;

const KEY = 'cgm_test_key_0123456789';
const OTHER_KEY = 'cgm_other_key_9876543210';
/** The key's own uploads: a batch may name only those. */
const KEY_ID = keyIdOf(hashApiKey(KEY));

const lookup: LookupFn = async (host) => {
  const table: Record<string, string> = {
    'hooks.example.com': '93.184.216.34',
    'intranet.example.com': '10.1.2.3',
  };
  const address = table[host];
  if (!address) throw new Error(`getaddrinfo ENOTFOUND ${host}`);
  return [{ address, family: 4 }];
};

async function png(width: number, height: number, fill: number): Promise<Uint8Array> {
  const raw = Buffer.alloc(width * height * 3, fill);
  return new Uint8Array(
    await sharp(raw, { raw: { width, height, channels: 3 } })
      .png()
      .toBuffer(),
  );
}

let clock: number;
let runs: MemoryRunStarter;
let batches: MemoryRunStarter<BatchInput>;
let images: ReturnType<typeof createMemoryImageStore>;
let app: ReturnType<typeof createApp>;
let uploaded: string[]; // sha256 of three uploaded 64×48 images

function makeApp(
  withBatches = true,
  rateLimit = { perMinute: 600, burst: 1000 },
  lpipsWorkers?: () => Promise<boolean>,
) {
  return createApp({
    ...(lpipsWorkers && { lpipsWorkers }),
    config: defaultApiConfig({
      keyHashes: [hashApiKey(KEY), hashApiKey(OTHER_KEY)],
      rateLimit,
      limits: {
        maxJsonBytes: 256 * 1024,
        maxImageBytes: 256 * 1024,
        maxBatchFileBytes: 8 * 1024,
        minImageSide: 32,
        maxImageSide: 512,
      },
      webhookPolicy: { allowPrivate: false, allowHttp: false, allowedHosts: [] },
      gpuTaskQueue: 'gpu-entry-q',
    }),
    images,
    runs,
    ...(withBatches && { batches }),
    lookup,
    now: () => clock,
  });
}

beforeEach(async () => {
  clock = Date.parse('2026-11-28T12:00:00Z');
  runs = createMemoryRunStarter(() => clock);
  batches = createMemoryRunStarter<BatchInput>(() => clock);
  images = createMemoryImageStore('test-bucket');
  uploaded = [];
  for (const fill of [10, 20, 30])
    uploaded.push((await images.forKey(KEY_ID).put(await png(64, 48, fill), 'image/png')).sha256);
  app = makeApp();
});

const auth = (key = KEY) => ({ authorization: `Bearer ${key}` });
const line = (i: number, dataset = 'coco') => ({
  dataset,
  id: String(100 + i),
  image: { sha256: uploaded[i] },
  caption: `street scene number ${i}`,
  captionRule: dataset === 'coco' ? 'coco:lowest-annotation-id' : 'mm-celeba-hq:first-non-empty-line',
});
const batchBody = () => ({ images: [line(0), line(1), line(2, 'celeba-hq')] });

async function post(body: unknown, headers: Record<string, string> = auth()) {
  const res = await app.request('/v1/batches', {
    method: 'POST',
    body: typeof body === 'string' ? body : JSON.stringify(body),
    headers: { 'content-type': 'application/json', ...headers },
  });
  return { res, json: (await res.json()) as Body };
}

async function get(path: string, key = KEY) {
  return app.request(path, { headers: auth(key) });
}

/** Refused: the documented status, code and field; no batch started, nothing new stored. */
async function expectRefused(
  p: Promise<{ res: Response; json: Body }>,
  status: number,
  code: string,
  field?: string | null,
) {
  const stored = images.objects.size;
  const { res, json } = await p;
  expect(res.status).toBe(status);
  expect(json.error.code).toBe(code);
  if (field !== undefined) expect(json.error.field).toBe(field);
  expect(batches.runs.size).toBe(0);
  expect(images.objects.size).toBe(stored);
  return json.error as { message: string };
}

/** Stores a report of four records as the batch workflow would, and the result that names it. */
async function storedResult(batchId: string): Promise<BatchResult> {
  const records = ['ddim', 'csg'].flatMap((method, m) =>
    ['1', '2'].map((imageId, k) =>
      oneCheckRecord({
        method,
        dataset: 'coco',
        imageId,
        yes: (m + k) % 2 === 0,
        lpips: 0.1 * (m + 1),
        resolution: 64,
      }),
    ),
  );
  const report = buildReport(records, { bootstrapSamples: 50 });
  const put = (text: string, type: string) =>
    images.putArtifact(new TextEncoder().encode(text), type, `batches/${batchId}`);
  const jsonl = (xs: unknown[]) => xs.map((x) => JSON.stringify(x)).join('\n');
  return {
    batchId,
    total: 4,
    succeeded: 4,
    failed: 0,
    outcomes: await put(jsonl([{ runId: 'x' }]), 'application/x-ndjson'),
    results: await put(jsonl(records), 'application/x-ndjson'),
    reportJson: await put(renderJson(report), 'application/json'),
    reportMarkdown: await put(renderMarkdown(report), 'text/markdown'),
  };
}

describe('POST /v1/batches', () => {
  it('stores the data set manifest and starts one batchWorkflow with the settings mapped', async () => {
    const { res, json } = await post({
      ...batchBody(),
      sample: { perDataset: 1, seed: 7 },
      window: 2,
      methods: ['csg', 'ddim'],
      settings: { seed: 3, inversionSteps: 20, editThreshold: 0.8, interventionsPerImage: 2 },
      judge: false,
      variants: [{ name: 'paper' }, { name: 'protect', planning: { protectNonDescendants: true } }],
      webhookUrl: 'https://hooks.example.com/batch',
    });
    expect(res.status).toBe(202);
    expect(json.id).toMatch(/^batch-[0-9a-f-]{36}$/);
    expect(res.headers.get('location')).toBe(`/v1/batches/${json.id}`);
    expect(json).toMatchObject({
      status: 'running',
      replayed: false,
      images: 3,
      reportUrl: `/v1/batches/${json.id}/report`,
    });

    expect(batches.runs.size).toBe(1);
    expect(runs.runs.size).toBe(0);
    const input = batches.runs.get(json.id)!.input;
    expect(input.batchId).toBe(json.id);
    expect(input.manifest.sha256).toBe(json.manifest.sha256);
    expect(input.manifest.key.startsWith(`${BATCH_MANIFEST_PREFIX}/sha256/`)).toBe(true);
    expect(input.sample).toEqual({ perDataset: 1, seed: 7 });
    expect(input.window).toBe(2);
    expect(input.run.methods).toEqual(['csg', 'ddim']);
    expect(input.run.planning).toEqual({ threshold: 0.8 });
    expect(input.run.engine).toEqual({ seed: 3, inversion: { numSteps: 20 }, baselines: { numSteps: 20 } });
    expect(input.run.proposeCount).toBe(2);
    expect(input.run.evaluate).toEqual({ judge: false });
    expect(input.run.hosts.gpuTaskQueue).toBe('gpu-entry-q');
    expect(input.variants).toEqual([
      { name: 'paper', planning: {} },
      { name: 'protect', planning: { protectNonDescendants: true } },
    ]);
    expect(input.webhook).toEqual({
      url: 'https://hooks.example.com/batch',
      tenant: keyIdOf(hashApiKey(KEY)),
    });

    // The manifest in the store is what the workflow will read: lines in draw order, images as uploads.
    const bytes = await images.get(input.manifest);
    const lines = parseBatchManifest(new TextDecoder().decode(bytes));
    expect(lines.map((l) => [l.dataset, l.id, l.drawIndex])).toEqual([
      ['coco', '100', 0],
      ['coco', '101', 1],
      ['celeba-hq', '102', 2],
    ]);
    for (const [i, l] of lines.entries()) {
      expect(l.image.kind).toBe('s3');
      const ref = (l.image as { ref: ArtifactRef }).ref;
      expect(ref.sha256).toBe(uploaded[i]);
      expect(ref.key).toBe(`uploads/sha256/${uploaded[i].slice(0, 2)}/${uploaded[i]}`);
      expect(ref.contentType).toBe('image/png');
    }
  });

  it('defaults: every image, window 4, all methods, judge on, one paper variant', async () => {
    const { json } = await post(batchBody());
    const input = batches.runs.get(json.id)!.input;
    expect(input.sample.perDataset).toBeUndefined();
    expect(input.window).toBe(4);
    expect(input.run.methods).toEqual(['csg', 'ddpm', 'ddim']);
    expect(input.run.evaluate.judge).toBe(true);
    expect(input.variants).toEqual([{ name: 'paper', planning: {} }]);
  });

  it('Idempotency-Key: same body → same batch (replayed), another body → 409, another API key → its own batch', async () => {
    const first = await post(batchBody(), { ...auth(), 'idempotency-key': 'nightly-2026-11-28' });
    expect(first.json.id).toBe(
      runIdForIdempotencyKey(keyIdOf(hashApiKey(KEY)), 'nightly-2026-11-28', 'batch'),
    );
    const stored = images.objects.size;

    const again = await post(batchBody(), { ...auth(), 'idempotency-key': 'nightly-2026-11-28' });
    expect(again.res.status).toBe(202);
    expect(again.res.headers.get('idempotent-replayed')).toBe('true');
    expect(again.json).toMatchObject({ id: first.json.id, replayed: true, manifest: first.json.manifest });
    expect(batches.runs.size).toBe(1);

    const other = await post(
      { ...batchBody(), window: 1 },
      { ...auth(), 'idempotency-key': 'nightly-2026-11-28' },
    );
    expect(other.res.status).toBe(409);
    expect(other.json.error).toMatchObject({ code: 'idempotency_conflict', field: 'idempotency-key' });
    expect(batches.runs.size).toBe(1);
    expect(images.objects.size).toBe(stored);

    // Another key may not name this key's uploads (they are visible only to it) ...
    const notYours = await post(batchBody(), { ...auth(OTHER_KEY), 'idempotency-key': 'nightly-2026-11-28' });
    expect(notYours.res.status).toBe(422);
    expect(notYours.json.error.code).toBe('unknown_artifact');
    // ... until it has uploaded the same bytes itself; the content is still stored once.
    const objects = images.objects.size;
    for (const fill of [10, 20, 30])
      await images.forKey(keyIdOf(hashApiKey(OTHER_KEY))).put(await png(64, 48, fill), 'image/png');
    expect(images.objects.size).toBe(objects);
    const otherKey = await post(batchBody(), { ...auth(OTHER_KEY), 'idempotency-key': 'nightly-2026-11-28' });
    expect(otherKey.res.status).toBe(202);
    expect(otherKey.json.id).not.toBe(first.json.id);
    expect(batches.runs.size).toBe(2);
  });
});

describe('POST /v1/batches refuses bad input before storing or starting anything', () => {
  it('no key or a wrong key → 401', async () => {
    await expectRefused(post(batchBody(), {}), 401, 'unauthorized');
    await expectRefused(post(batchBody(), auth('cgm_wrong_key_000000000')), 401, 'unauthorized');
  });

  it('malformed JSON → 400 malformed_json; multipart → 415', async () => {
    await expectRefused(post('{"images": [', auth()), 400, 'malformed_json');
    const form = new FormData();
    form.set('images', '[]');
    const res = await app.request('/v1/batches', { method: 'POST', body: form, headers: auth() });
    expect(res.status).toBe(415);
    expect(((await res.json()) as Body).error.code).toBe('unsupported_media_type');
  });

  it('unknown fields, at the top and inside a line → 400 unknown_field naming it', async () => {
    await expectRefused(post({ ...batchBody(), priority: 'high' }), 400, 'unknown_field', 'priority');
    const images = batchBody().images;
    await expectRefused(
      post({ images: [images[0], { ...images[1], label: 'x' }] }),
      400,
      'unknown_field',
      'images[1].label',
    );
  });

  it('field values: empty list, too many lines, a bad data set, a duplicate image, a duplicate variant', async () => {
    await expectRefused(post({ images: [] }), 400, 'validation_error', 'images');
    const many = Array.from({ length: MAX_BATCH_IMAGES + 1 }, (_, i) => ({ ...line(0), id: `x${i}` }));
    await expectRefused(post({ images: many }), 400, 'validation_error', 'images');
    await expectRefused(
      post({ images: [{ ...line(0), dataset: 'imagenet' }] }),
      400,
      'validation_error',
      'images[0].dataset',
    );
    const dup = await expectRefused(
      post({ images: [line(0), line(1), { ...line(2), id: '100' }] }),
      400,
      'validation_error',
      'images[2].id',
    );
    expect(dup.message).toContain('image coco/100 is already listed at images[0]');
    await expectRefused(
      post({ ...batchBody(), variants: [{ name: 'a' }, { name: 'a' }] }),
      400,
      'validation_error',
      'variants[1].name',
    );
  });

  it('a street-world line carries its ground truth into the manifest, true images as uploads', async () => {
    const truth = {
      sceneId: '000000',
      attributes: { season: 'summer', car_color: 'red' },
      noise: { season: 0.4, car_color: 0.1 },
      regions: { car: [40, 74, 98, 114] },
      interventions: [
        {
          id: 'i3',
          kind: 'no-descendants',
          do: { car_color: 'blue' },
          attributes: { season: 'summer', car_color: 'blue' },
          image: { sha256: uploaded[1] },
        },
      ],
    };
    const world = { ...line(0, 'world'), captionRule: 'world:scene-caption', truth };
    const { res, json } = await post({
      images: [world],
      variants: [{ name: 'paper' }, { name: 'csg25', methods: ['csg'], steps: 25, planning: { scale: 16 } }],
    });
    expect(res.status, JSON.stringify(json)).toBe(202);
    const input = batches.runs.get(json.id)!.input;
    expect(input.variants[1]).toEqual({
      name: 'csg25',
      methods: ['csg'],
      steps: 25,
      planning: { scale: 16 },
    });
    const [stored] = parseBatchManifest(new TextDecoder().decode(await images.get(input.manifest)));
    expect(stored.truth?.interventions[0].image).toMatchObject({
      kind: 's3',
      ref: { sha256: uploaded[1], key: `uploads/sha256/${uploaded[1].slice(0, 2)}/${uploaded[1]}` },
    });
    expect(stored.truth?.noise).toEqual(truth.noise);
    batches.runs.clear(); // the refusals below must start nothing

    await expectRefused(
      post({ images: [{ ...line(0), truth }] }),
      400,
      'validation_error',
      'images[0].truth',
    );
    const missing = {
      ...truth,
      interventions: [{ ...truth.interventions[0], image: { sha256: 'cd'.repeat(32) } }],
    };
    await expectRefused(
      post({ images: [{ ...world, truth: missing }] }),
      422,
      'unknown_artifact',
      'images[0].truth.interventions[0].image.sha256',
    );
    await expectRefused(
      post({ images: [{ ...world, truth: { ...truth, noise: { season: 1.5 } } }] }),
      400,
      'validation_error',
      'images[0].truth.noise.season',
    );
  });

  it('a batch costs the key tokens by its lines: a large one waits for the bucket, a small one does not', async () => {
    // A key with a burst of 30 and 30 a minute: 200 inline lines cost 20 tokens (one per 10 decoded).
    app = makeApp(true, { perMinute: 30, burst: 30 });
    const lines = (n: number, tag: string) =>
      Array.from({ length: n }, (_, i) => ({ ...line(i % 3), id: `${tag}-${i}` }));
    expect((await post({ images: lines(200, 'a') })).res.status).toBe(202); // 1 + 19 of 30
    const second = await post({ images: lines(200, 'b') }); // 1 + 19 more: not there
    expect(second.res.status).toBe(429);
    expect(second.json.error.message).toMatch(/decoding 200 images costs 19 requests' worth/);
    expect(Number(second.res.headers.get('retry-after'))).toBeGreaterThan(0);
    expect((await post({ images: lines(5, 'c') })).res.status).toBe(202); // a small one still fits
    clock += 60_000; // refilled
    expect((await post({ images: lines(200, 'd') })).res.status).toBe(202);
  });

  it('an image never uploaded → 422 unknown_artifact naming the line', async () => {
    const images = batchBody().images;
    images[1] = { ...images[1], image: { sha256: 'ab'.repeat(32) } };
    const err = await expectRefused(post({ images }), 422, 'unknown_artifact', 'images[1].image.sha256');
    expect(err.message).toContain('upload it first');
  });

  it('uploaded bytes that are no image, or an image over the size limit → 422 naming the line', async () => {
    const bogus = await images
      .forKey(KEY_ID)
      .put(new TextEncoder().encode('not an image at all'), 'image/png');
    const big = (await images.forKey(KEY_ID).put(await png(600, 40, 5), 'image/png')).sha256;
    await expectRefused(
      post({ images: [line(0), { ...line(1), image: { sha256: bogus.sha256 } }] }),
      422,
      'invalid_image',
      'images[1].image.sha256',
    );
    await expectRefused(
      post({ images: [line(0), line(1), { ...line(2), image: { sha256: big } }] }),
      422,
      'image_dimensions',
      'images[2].image.sha256',
    );
  });

  it('an uploaded JSONL list (imagesFile) gives the same batch as the inline list', async () => {
    const text = `${batchBody()
      .images.map((l) => JSON.stringify(l))
      .join('\r\n')}\n\n`; // CRLF and trailing blank lines are fine
    const list = await images.forKey(KEY_ID).put(new TextEncoder().encode(text), BATCH_FILE_CONTENT_TYPE);
    const fromFile = await post({ imagesFile: { sha256: list.sha256 }, sample: { seed: 7 } });
    expect(fromFile.res.status).toBe(202);
    expect(fromFile.json.images).toBe(3);
    const inline = await post({ ...batchBody(), sample: { seed: 7 } });
    expect(inline.res.status).toBe(202);
    // Same lines, same draw order, same image refs: the stored manifests are the same bytes.
    expect(fromFile.json.manifest.sha256).toBe(inline.json.manifest.sha256);
    const input = batches.runs.get(fromFile.json.id)!.input;
    const lines = parseBatchManifest(new TextDecoder().decode(await images.get(input.manifest)));
    expect(lines.map((l) => [l.dataset, l.id, l.drawIndex])).toEqual([
      ['coco', '100', 0],
      ['coco', '101', 1],
      ['celeba-hq', '102', 2],
    ]);
  });

  it('a bad image list → 422 invalid_batch_file naming the line; nothing stored or started', async () => {
    const upload = async (text: string) =>
      (await images.forKey(KEY_ID).put(new TextEncoder().encode(text), BATCH_FILE_CONTENT_TYPE)).sha256;
    const refuse = async (text: string, code: string, message: RegExp, field = 'imagesFile') => {
      const sha = await upload(text);
      const err = await expectRefused(post({ imagesFile: { sha256: sha } }), 422, code, field);
      expect(err.message).toMatch(message);
    };
    const ok = (i: number) => JSON.stringify(line(i));
    await refuse(`${ok(0)}\n{"dataset": "coco"`, 'invalid_batch_file', /^line 2: not JSON/);
    await refuse(
      `${ok(0)}\n\n${JSON.stringify({ ...line(1), caption: '' })}`,
      'invalid_batch_file',
      /^line 3: caption: /,
    );
    await refuse(
      `${JSON.stringify({ ...line(0), extra: 1 })}`,
      'invalid_batch_file',
      /^line 1: unknown field 'extra'/,
    );
    await refuse(
      `${ok(0)}\n${ok(1)}\n${JSON.stringify({ ...line(2), dataset: 'coco', id: '100' })}`,
      'invalid_batch_file',
      /^line 3: image coco\/100 is already listed on line 1/,
    );
    await refuse('\n  \n', 'invalid_batch_file', /no lines/);
    await refuse(
      `${ok(0)}\n${JSON.stringify({ ...line(1), image: { sha256: 'ab'.repeat(32) } })}`,
      'unknown_artifact',
      /^line 2: no image with sha256 abab.* uploaded with this API key/,
    );
    // a line naming the list itself (an upload that is no image)
    const self = await upload(ok(0));
    await refuse(
      `${ok(1)}\n${JSON.stringify({ ...line(2), image: { sha256: self } })}`,
      'invalid_image',
      /^line 2: the upload .* is application\/x-ndjson, not a PNG, JPEG or WebP image/,
    );
    // not UTF-8
    const latin1 = (
      await images.forKey(KEY_ID).put(new Uint8Array([0x7b, 0xff, 0xfe, 0x7d]), BATCH_FILE_CONTENT_TYPE)
    ).sha256;
    await expectRefused(post({ imagesFile: { sha256: latin1 } }), 422, 'invalid_batch_file', 'imagesFile');
  });

  it('imagesFile: missing upload, an image instead of a list, over the size limit; images and imagesFile together', async () => {
    await expectRefused(
      post({ imagesFile: { sha256: 'cd'.repeat(32) } }),
      422,
      'unknown_artifact',
      'imagesFile.sha256',
    );
    const asImage = await expectRefused(
      post({ imagesFile: { sha256: uploaded[0] } }),
      422,
      'invalid_batch_file',
      'imagesFile.sha256',
    );
    expect(asImage.message).toContain('is image/png; expected a application/x-ndjson image list');
    const huge = JSON.stringify(line(0)).padEnd(9 * 1024, ' '); // limit in makeApp: 8 KiB
    const big = (await images.forKey(KEY_ID).put(new TextEncoder().encode(huge), BATCH_FILE_CONTENT_TYPE))
      .sha256;
    await expectRefused(post({ imagesFile: { sha256: big } }), 413, 'payload_too_large', 'imagesFile.sha256');
    const both = await expectRefused(
      post({ ...batchBody(), imagesFile: { sha256: uploaded[0] } }),
      400,
      'validation_error',
      'imagesFile',
    );
    expect(both.message).toContain('give images or imagesFile, not both');
    const neither = await expectRefused(post({}), 400, 'validation_error', 'images');
    expect(neither.message).toContain('neither was given');
  });

  it('POST /v1/uploads takes an image list up to its own limit', async () => {
    const ask = (bytes: number) =>
      app.request('/v1/uploads', {
        method: 'POST',
        headers: { ...auth(), 'content-type': 'application/json' },
        body: JSON.stringify({ contentType: BATCH_FILE_CONTENT_TYPE, bytes, sha256: 'ef'.repeat(32) }),
      });
    expect((await ask(8 * 1024)).status).toBe(201);
    const over = await ask(8 * 1024 + 1);
    expect(over.status).toBe(413);
    expect(((await over.json()) as Body).error.message).toContain(
      'image list of 8193 bytes exceeds the limit of 8192',
    );
  });

  it('a webhook to a private address → 422 webhook_url_forbidden', async () => {
    await expectRefused(
      post({ ...batchBody(), webhookUrl: 'https://intranet.example.com/hook' }),
      422,
      'webhook_url_forbidden',
      'webhookUrl',
    );
  });

  it('a server without a batch starter answers 503 unavailable', async () => {
    app = makeApp(false);
    const err = await expectRefused(post(batchBody()), 503, 'unavailable');
    expect(err.message).toContain('batches are not configured');
  });
});

describe('GET /v1/batches/{id} and its report', () => {
  it('shows progress while running, then the result with presigned URLs; other keys see 404', async () => {
    const { json } = await post(batchBody());
    const id = json.id as string;
    batches.setProgress(id, {
      batchId: id,
      phase: 'running',
      total: 3,
      succeeded: 1,
      failed: 0,
      running: ['c1'],
      page: 0,
    });

    const running = (await (await get(`/v1/batches/${id}`)).json()) as Body;
    expect(running).toMatchObject({ id, status: 'running', result: null, error: null });
    expect(running.progress).toMatchObject({ phase: 'running', total: 3, succeeded: 1 });

    const notYet = await get(`/v1/batches/${id}/report`);
    expect(notYet.status).toBe(409);
    const notYetBody = (await notYet.json()) as Body;
    expect(notYetBody.error.code).toBe('report_not_ready');
    expect(notYetBody.error.message).toContain('still running (running: 1 of 3 runs finished)');

    const result = await storedResult(id);
    batches.finish(id, result);
    const done = (await (await get(`/v1/batches/${id}`)).json()) as Body;
    expect(done.status).toBe('succeeded');
    expect(done.result.total).toBe(4);
    expect(done.result.reportJson.url).toBe(`memory://test-bucket/${result.reportJson.key}`);
    expect(done.result.reportMarkdown.url).toBe(`memory://test-bucket/${result.reportMarkdown.key}`);

    expect((await get(`/v1/batches/${id}`, OTHER_KEY)).status).toBe(404);
    expect((await get(`/v1/batches/${id}/report`, OTHER_KEY)).status).toBe(404);
    expect((await get('/v1/batches/batch-00000000-0000-0000-0000-000000000000')).status).toBe(404);
    expect((await get('/v1/batches/cf-00000000')).status).toBe(400);
  });

  it('serves the report as JSON, Markdown and each CSV table, read back from the store', async () => {
    const { json } = await post(batchBody());
    const id = json.id as string;
    const result = await storedResult(id);
    batches.finish(id, result);
    const expected = JSON.parse(new TextDecoder().decode(await images.get(result.reportJson)));

    const asJson = await get(`/v1/batches/${id}/report`);
    expect(asJson.status).toBe(200);
    expect(asJson.headers.get('content-type')).toContain('application/json');
    expect(await asJson.json()).toEqual(expected);

    const md = await get(`/v1/batches/${id}/report?format=md`);
    expect(md.headers.get('content-type')).toContain('text/markdown');
    expect(await md.text()).toBe(new TextDecoder().decode(await images.get(result.reportMarkdown)));

    const csvs = renderCsv(expected);
    for (const table of ['table1', 'verdicts', 'failures'] as const) {
      const res = await get(`/v1/batches/${id}/report?format=csv&table=${table}`);
      expect(res.headers.get('content-type')).toContain('text/csv');
      expect(await res.text()).toBe(csvs[`${table}.csv`]);
    }
    const table1 = await (await get(`/v1/batches/${id}/report?format=csv`)).text();
    expect(table1.split('\n')[0]).toMatch(/^method,coco_vlm_eff,/);

    const bad = await get(`/v1/batches/${id}/report?format=xlsx`);
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as Body).error.field).toBe('format');
  });

  it('a failed batch has no report: 409 naming the failure', async () => {
    const { json } = await post(batchBody());
    batches.fail(json.id, 'manifest line 2: image not found', 'BatchInvalidInput');
    const status = (await (await get(`/v1/batches/${json.id}`)).json()) as Body;
    expect(status).toMatchObject({
      status: 'failed',
      error: { message: 'manifest line 2: image not found' },
    });
    const res = await get(`/v1/batches/${json.id}/report`);
    expect(res.status).toBe(409);
    expect(((await res.json()) as Body).error.message).toBe(
      `batch '${json.id}' ended failed without a report: manifest line 2: image not found`,
    );
  });

  it('a failure we did not raise ourselves reaches the client in general words, never verbatim', async () => {
    const { json } = await post(batchBody());
    batches.fail(json.id, 'connect ECONNREFUSED 10.0.3.7:8333 (bucket cgm-prod-artifacts)', 'Error');
    const status = (await (await get(`/v1/batches/${json.id}`)).json()) as Body;
    expect(status.error).toEqual({ type: 'InternalError', message: INTERNAL_FAILURE_MESSAGE });
    const report = (await (await get(`/v1/batches/${json.id}/report`)).json()) as Body;
    expect(report.error.message).not.toMatch(/10\.0\.3\.7|cgm-prod/);
  });

  it('the OpenAPI document describes the batch routes and their bodies', async () => {
    const doc = (await (await app.request('/openapi.json')).json()) as Body;
    expect(Object.keys(doc.paths)).toEqual(
      expect.arrayContaining(['/v1/batches', '/v1/batches/{id}', '/v1/batches/{id}/report']),
    );
    expect(Object.keys(doc.paths['/v1/batches/{id}/report'].get.responses['200'].content)).toEqual([
      'application/json',
      'text/markdown',
      'text/csv',
    ]);
    expect(doc.components.schemas.BatchRequest.properties.images.maxItems).toBe(MAX_BATCH_IMAGES);
    expect(doc.components.schemas.BatchImage.required).toEqual(
      expect.arrayContaining(['dataset', 'id', 'image', 'caption', 'captionRule']),
    );
  });
});

describe('POST /v1/batches and LPIPS', () => {
  it('refuses, before anything is stored, a batch that needs LPIPS when no GPU worker computes it', async () => {
    app = makeApp(true, undefined, async () => false);
    const err = await expectRefused(post(batchBody()), 503, 'lpips_unavailable', 'lpips');
    expect(err.message).toContain('gpu-entry-q-lpips');
    expect(err.message).toContain('"lpips": false');
  });

  it("sends the runs to the LPIPS workers' queue when one polls; lpips false takes any GPU worker", async () => {
    app = makeApp(true, undefined, async () => true);
    expect((await post(batchBody())).res.status).toBe(202);
    const [first] = [...batches.runs.values()];
    expect(first.input.run.hosts.gpuTaskQueue).toBe('gpu-entry-q-lpips');

    app = makeApp(true, undefined, async () => false);
    const { res } = await post({ ...batchBody(), lpips: false });
    expect(res.status).toBe(202);
    const second = [...batches.runs.values()].at(-1);
    expect(second?.input.run.hosts.gpuTaskQueue).toBe('gpu-entry-q');
  });
});
