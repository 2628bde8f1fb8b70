// The HTTP behaviour of createApp through app.request(), with an in-memory run starter and image
// store: every refused request must leave both empty (nothing started, nothing stored).
import { readFileSync } from 'node:fs';
import sharp from 'sharp';
import { beforeEach, describe, expect, it } from 'vitest';
import { generateWebhookSecret, tenantSecret } from '../../activities/webhooks/signing.js';
import { createApp } from '../../api/app.js';
import { runIdForIdempotencyKey } from '../../api/canonical.js';
import { defaultApiConfig } from '../../api/config.js';
import { createMemoryImageStore } from '../../api/images.js';
import { hashApiKey, keyIdOf } from '../../api/middleware/auth.js';
import { INTERNAL_FAILURE_MESSAGE } from '../../api/public-error.js';
import { settingsToRunFields } from '../../api/run-input.js';
import { createMemoryRunStarter, type MemoryRunStarter } from '../../api/runs/memory.js';
import { sha256Hex } from '../../core/artifacts/store.js';
import type { LookupFn } from '../../core/webhooks/url-policy.js';

// Response JSON is navigated freely in assertions; a wrong path fails the assertion.
// biome-ignore lint/suspicious/noExplicitAny: see above
type Body = any;

const KEY = 'cgm_test_key_0123456789';
const OTHER_KEY = 'cgm_other_key_9876543210';
const graph = JSON.parse(readFileSync(new URL('../fixtures/graphs/valid.json', import.meta.url), 'utf8'));

const lookup: LookupFn = async (host) => {
  const table: Record<string, string> = {
    'hooks.example.com': '93.184.216.34',
    'intranet.example.com': '10.1.2.3',
    'metadata.example.com': '169.254.169.254',
  };
  const address = table[host];
  if (!address) throw new Error(`getaddrinfo ENOTFOUND ${host}`);
  return [{ address, family: 4 }];
};

async function png(width: number, height: number, seed = 0): Promise<Uint8Array> {
  const raw = Buffer.alloc(width * height * 3, seed);
  return new Uint8Array(
    await sharp(raw, { raw: { width, height, channels: 3 } })
      .png()
      .toBuffer(),
  );
}

let clock: number;
let runs: MemoryRunStarter;
let images: ReturnType<typeof createMemoryImageStore>;
let app: ReturnType<typeof createApp>;
let image: Uint8Array;

beforeEach(async () => {
  clock = Date.parse('2026-11-28T12:00:00Z');
  runs = createMemoryRunStarter(() => clock);
  images = createMemoryImageStore('test-bucket');
  app = createApp({
    config: defaultApiConfig({
      keyHashes: [hashApiKey(KEY), hashApiKey(OTHER_KEY)],
      rateLimit: { perMinute: 60, burst: 100 },
      limits: {
        maxJsonBytes: 64 * 1024,
        maxImageBytes: 256 * 1024,
        maxBatchFileBytes: 8 * 1024,
        minImageSide: 32,
        maxImageSide: 512,
      },
      webhookPolicy: { allowPrivate: false, allowHttp: false, allowedHosts: [] },
    }),
    images,
    runs,
    lookup,
    now: () => clock,
  });
  image ??= await png(64, 48);
});

const auth = (key = KEY) => ({ authorization: `Bearer ${key}` });

function multipart(
  bytes: Uint8Array | string,
  request?: unknown,
  type = 'image/png',
  extra?: Record<string, string>,
) {
  const form = new FormData();
  form.set('image', new File([typeof bytes === 'string' ? bytes : Buffer.from(bytes)], 'in.png', { type }));
  if (request !== undefined)
    form.set('request', typeof request === 'string' ? request : JSON.stringify(request));
  for (const [k, v] of Object.entries(extra ?? {})) form.set(k, v);
  return form;
}

async function post(body: FormData | string, headers: Record<string, string> = auth()) {
  const h = typeof body === 'string' ? { 'content-type': 'application/json', ...headers } : headers;
  const res = await app.request('/v1/counterfactuals', { method: 'POST', body, headers: h });
  return { res, json: (await res.json()) as Body };
}

function expectNothingDone() {
  expect(runs.runs.size).toBe(0);
  expect(images.objects.size).toBe(0);
}

async function expectError(
  p: Promise<{ res: Response; json: Body }>,
  status: number,
  code: string,
  field?: string | null,
) {
  const { res, json } = await p;
  expect(res.status).toBe(status);
  expect(res.headers.get('content-type')).toContain('application/json');
  expect(json.error.code).toBe(code);
  expect(typeof json.error.message).toBe('string');
  if (field !== undefined) expect(json.error.field).toBe(field);
  return json.error as { code: string; message: string; field: string | null };
}

describe('POST /v1/counterfactuals', () => {
  it('a multipart body whose boundary contains "json" is read as multipart', async () => {
    // Serialise a form, then send it again under a boundary a browser could have picked.
    const form = await new Response(multipart(image, { caption: 'a grey square' })).arrayBuffer();
    const text = Buffer.from(form).toString('latin1');
    const old = /^--([^\r\n]+)/.exec(text)![1];
    const boundary = '----WebKitFormBoundaryjsonJSON42';
    const body = Buffer.from(text.split(old).join(boundary), 'latin1');
    const res = await app.request('/v1/counterfactuals', {
      method: 'POST',
      body,
      headers: { ...auth(), 'content-type': `multipart/form-data; boundary=${boundary}` },
    });
    expect(res.status, await res.clone().text()).toBe(202);
    expect(runs.runs.size).toBe(1);
  });

  it('accepts a multipart image, stores it by sha256 and starts one run', async () => {
    const { res, json } = await post(
      multipart(image, {
        caption: 'a grey square',
        graph,
        do: [{ concept: 'c1', value: 'rainy' }],
        methods: ['csg', 'ddpm'],
      }),
    );
    expect(res.status).toBe(202);
    expect(json.id).toMatch(/^cf-/);
    expect(json.statusUrl).toBe(`/v1/counterfactuals/${json.id}`);
    expect(res.headers.get('location')).toBe(json.statusUrl);
    expect(json.image).toEqual({ sha256: sha256Hex(image), contentType: 'image/png', width: 64, height: 48 });
    expect([...images.objects.keys()]).toEqual([sha256Hex(image)]);
    const run = runs.runs.get(json.id)!;
    expect(run.input.image.key).toBe(`uploads/sha256/${sha256Hex(image).slice(0, 2)}/${sha256Hex(image)}`);
    expect(run.input.do).toEqual([{ concept: 'c1', value: 'rainy' }]);
    expect(run.input.methods).toEqual(['csg', 'ddpm']);
    expect(run.input.runId).toBe(json.id);
    expect(run.input.caption).toBe('a grey square');
    expect(run.info.memo?.owner).toBe(keyIdOf(hashApiKey(KEY)));
  });

  it('accepts JSON naming an uploaded image, after the presigned-upload ticket', async () => {
    const sha = sha256Hex(image);
    const ticketFor = (hash: string, key = KEY) =>
      app.request('/v1/uploads', {
        method: 'POST',
        headers: { ...auth(key), 'content-type': 'application/json' },
        body: JSON.stringify({ contentType: 'image/png', bytes: image.byteLength, sha256: hash }),
      });
    const ticket = await ticketFor(sha);
    expect(ticket.status).toBe(201);
    const t = (await ticket.json()) as Body;
    expect(t.upload.method).toBe('PUT');
    expect(t.alreadyUploaded).toBe(false);
    await images.forKey(keyIdOf(hashApiKey(KEY))).put(image, 'image/png'); // what the client's PUT does
    const { res, json } = await post(JSON.stringify({ image: { sha256: sha }, caption: 'grey' }));
    expect(res.status).toBe(202);
    expect(runs.runs.get(json.id)!.input.image.sha256).toBe(sha);
    const again = await ticketFor(sha);
    expect(again.status).toBe(200);
    expect(((await again.json()) as Body).alreadyUploaded).toBe(true);

    // Another key learns nothing of it: a fresh ticket, and its run naming the hash is refused.
    const theirs = await ticketFor(sha, OTHER_KEY);
    expect(theirs.status).toBe(201);
    expect(((await theirs.json()) as Body).alreadyUploaded).toBe(false);
    const refused = await app.request('/v1/counterfactuals', {
      method: 'POST',
      headers: { ...auth(OTHER_KEY), 'content-type': 'application/json' },
      body: JSON.stringify({ image: { sha256: sha }, caption: 'grey' }),
    });
    expect(refused.status).toBe(422);
    expect(((await refused.json()) as Body).error).toMatchObject({
      code: 'unknown_artifact',
      field: 'image.sha256',
    });
  });

  it('an image sent through the API (multipart) belongs to the key that sent it', async () => {
    const { res } = await post(multipart(image, {}));
    expect(res.status).toBe(202);
    expect(images.owners.get(keyIdOf(hashApiKey(KEY)))?.has(sha256Hex(image))).toBe(true);
    expect(images.owners.get(keyIdOf(hashApiKey(OTHER_KEY)))).toBeUndefined();
  });

  it('settings.editBatchPlans sets how many edits of one method share a GPU call; out of range → 400', async () => {
    const { json } = await post(multipart(image, { settings: { editBatchPlans: 2 } }));
    expect(runs.runs.get(json.id)!.input.editBatch).toEqual({ maxPlans: 2 });
    const { json: unset } = await post(multipart(image, {}));
    expect(runs.runs.get(unset.id)!.input.editBatch).toBeUndefined(); // the workflow's default (4)
    await expectError(
      post(multipart(image, { settings: { editBatchPlans: 17 } })),
      400,
      'validation_error',
      'settings.editBatchPlans',
    );
  });

  it('maps settings onto the workflow input (core/schemas/workflow-io.ts) and defaults methods there', async () => {
    const settings = {
      seed: 7,
      inversionSteps: 50,
      skip: 0.2,
      editGuidanceScale: 6,
      editThreshold: 0.8,
      interventionsPerImage: 2,
    };
    const { json } = await post(multipart(image, { settings }));
    const input = runs.runs.get(json.id)!.input;
    expect(input.methods).toEqual(['csg', 'ddpm', 'ddim']);
    expect(input.caption).toBeNull();
    expect(input.proposeCount).toBe(2);
    expect(input.planning).toEqual({ scale: 6, threshold: 0.8 });
    expect(input.engine).toEqual({
      seed: 7,
      inversion: { numSteps: 50, skip: 0.2 },
      baselines: { numSteps: 50 }, // baselines follow inversionSteps unless baselineSteps is given
    });
    expect(input.webhook).toBeUndefined();
    expect(input.evaluate.judge).toBe(true);
    // The GPU entry queue comes from the configuration (CGM_TASK_QUEUE_GPU), not the request.
    expect(input.hosts.gpuTaskQueue).toBe('cgm-gpu');
    const { json: noJudge } = await post(multipart(image, { judge: false }));
    expect(runs.runs.get(noJudge.id)!.input.evaluate.judge).toBe(false);
    await expectError(post(multipart(image, { judge: 'no' })), 400, 'validation_error', 'judge');
  });

  it('refuses JSON naming an image that was never uploaded', async () => {
    await expectError(
      post(JSON.stringify({ image: { sha256: 'a'.repeat(64) } })),
      422,
      'unknown_artifact',
      'image.sha256',
    );
    expectNothingDone();
  });
});

describe('refused requests start and store nothing', () => {
  it('missing API key → 401 unauthorized', async () => {
    await expectError(post(multipart(image, {}), {}), 401, 'unauthorized', 'authorization');
    expectNothingDone();
  });

  it('wrong API key → 401 unauthorized', async () => {
    const { res } = await post(multipart(image, {}), auth('not-a-key'));
    expect(res.headers.get('www-authenticate')).toContain('Bearer');
    await expectError(post(multipart(image, {}), auth('not-a-key')), 401, 'unauthorized');
    expectNothingDone();
  });

  it('failed authentications are limited per client address, before the key is checked', async () => {
    const status = async (key: string) =>
      (await app.request('/v1/counterfactuals/cf-0123456789abcdef', { headers: auth(key) })).status;
    // A burst of 20 failures, then 429 with Retry-After, for a wrong key and (for that while) a right one.
    for (let i = 0; i < 20; i++) expect(await status(`guess-${i}-0123456789abcdef`)).toBe(401);
    const limited = await app.request('/v1/counterfactuals/cf-0123456789abcdef', {
      headers: auth('guess-x'),
    });
    expect(limited.status).toBe(429);
    expect(((await limited.json()) as Body).error.message).toMatch(/too many failed authentications/);
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(await status(KEY)).toBe(429);
    // 10 a minute come back.
    clock += 60_000;
    expect(await status(KEY)).toBe(404);
    for (let i = 0; i < 10; i++) expect(await status(`again-${i}-0123456789abcdef`)).toBe(401);
    expect(await status('guess-y')).toBe(429);
  });

  it('non-image bytes declared image/png → 422 invalid_image', async () => {
    const e = await expectError(
      post(multipart('hello, this is text', {}, 'image/png')),
      422,
      'invalid_image',
      'image',
    );
    expect(e.message).toContain('not a PNG, JPEG or WebP');
    expectNothingDone();
  });

  it('a PNG declared as image/jpeg, and a truncated PNG → 422 invalid_image', async () => {
    await expectError(post(multipart(image, {}, 'image/jpeg')), 422, 'invalid_image', 'image');
    const truncated = image.subarray(0, Math.floor(image.byteLength / 2));
    const e = await expectError(post(multipart(truncated, {})), 422, 'invalid_image', 'image');
    // The decoder's own words (libvips, its file names and internals) are not passed on.
    expect(e.message).toMatch(
      /^the PNG (image does not decode \(truncated or corrupt data\)|header cannot be read)/,
    );
    expect(e.message).not.toMatch(/vips|libspng|read error|VipsForeign/i);
    expectNothingDone();
  });

  it('an oversized body → 413 payload_too_large', async () => {
    const big = new Uint8Array(600 * 1024);
    big.set(image);
    await expectError(post(multipart(big, {})), 413, 'payload_too_large');
    await expectError(post(JSON.stringify({ caption: 'x'.repeat(70 * 1024) })), 413, 'payload_too_large');
    expectNothingDone();
  });

  it('an image over the dimension limit → 422 image_dimensions', async () => {
    const e = await expectError(post(multipart(await png(513, 40), {})), 422, 'image_dimensions', 'image');
    expect(e.message).toContain('513×40');
    await expectError(post(multipart(await png(16, 16), {})), 422, 'image_dimensions', 'image');
    // within the side limits but wider than 4:1: generated without cropping, the model cannot take it
    const wide = await expectError(
      post(multipart(await png(500, 100), {})),
      422,
      'image_dimensions',
      'image',
    );
    expect(wide.message).toContain('500×100 px; its aspect ratio must be between 1:4 and 4:1');
    // A PNG whose header declares more than libvips reads (over 16383 px a side): its size, not "invalid".
    const huge = Buffer.from(await png(64, 64));
    huge.writeUInt32BE(20_000, 16);
    huge.writeUInt32BE(30_000, 20);
    const big = await expectError(
      post(multipart(new Uint8Array(huge), {})),
      422,
      'image_dimensions',
      'image',
    );
    expect(big.message).toContain('20000×30000');
    expectNothingDone();
  });

  it('malformed JSON → 400 malformed_json (body or multipart request field)', async () => {
    await expectError(post('{"caption": '), 400, 'malformed_json', null);
    await expectError(post(multipart(image, '{not json')), 400, 'malformed_json', 'request');
    expectNothingDone();
  });

  it('unknown fields → 400 unknown_field, also nested ones', async () => {
    await expectError(
      post(multipart(image, { caption: 'x', colour: 'red' })),
      400,
      'unknown_field',
      'colour',
    );
    await expectError(
      post(multipart(image, { settings: { steps: 3 } })),
      400,
      'unknown_field',
      'settings.steps',
    );
    const badGraph = { ...graph, concepts: [{ ...graph.concepts[0], extra: 1 }, ...graph.concepts.slice(1)] };
    await expectError(
      post(multipart(image, { graph: badGraph })),
      400,
      'unknown_field',
      'graph.concepts[0].extra',
    );
    await expectError(
      post(JSON.stringify({ image: { sha256: 'a'.repeat(64) }, nope: true })),
      400,
      'unknown_field',
      'nope',
    );
    await expectError(post(multipart(image, {}, 'image/png', { other: 'x' })), 400, 'unknown_field', 'other');
    expectNothingDone();
  });

  it('wrong types → 400 validation_error with the field', async () => {
    await expectError(post(multipart(image, { methods: ['sdedit'] })), 400, 'validation_error', 'methods[0]');
    await expectError(
      post(multipart(image, { do: [{ concept: 'c1', value: 'rainy' }], interventions: [] })),
      400,
      'validation_error',
    );
    expectNothingDone();
  });

  it('an unknown concept id in do → 422 unknown_concept', async () => {
    const e = await expectError(
      post(
        multipart(image, {
          graph,
          do: [
            { concept: 'c1', value: 'rainy' },
            { concept: 'c99', value: 'x' },
          ],
        }),
      ),
      422,
      'unknown_concept',
      'do[1].concept',
    );
    expect(e.message).toContain('c99');
    expectNothingDone();
  });

  it('a cyclic user graph → 422 invalid_graph', async () => {
    const cyclic = {
      ...graph,
      relationships: [...graph.relationships, { id: 'r9', cause_id: 'c2', effect_id: 'c6', description: '' }],
    };
    await expectError(post(multipart(image, { graph: cyclic })), 422, 'invalid_graph', 'graph');
    expectNothingDone();
  });

  it.each([
    ['https://127.0.0.1/hook', 'loopback literal'],
    ['https://[::1]/hook', 'IPv6 loopback'],
    ['https://[::ffff:10.0.0.1]/hook', 'IPv4-mapped private'],
    ['https://intranet.example.com/hook', 'name resolving to 10/8'],
    ['https://metadata.example.com/latest', 'name resolving to link-local'],
    ['http://hooks.example.com/hook', 'plain http'],
    ['https://nowhere.example.com/hook', 'unresolvable'],
  ])('webhook URL %s (%s) → 422 webhook_url_forbidden', async (url) => {
    await expectError(
      post(multipart(image, { webhookUrl: url })),
      422,
      'webhook_url_forbidden',
      'webhookUrl',
    );
    expectNothingDone();
  });

  it('a refused webhook host does not reveal what it resolves to, nor the resolver’s message', async () => {
    const inside = await expectError(
      post(multipart(image, { webhookUrl: 'https://intranet.example.com/hook' })),
      422,
      'webhook_url_forbidden',
    );
    expect(inside.message).toMatch(/host 'intranet\.example\.com' resolves to a loopback, private/);
    expect(inside.message).not.toContain('10.1.2.3');
    const nowhere = await expectError(
      post(multipart(image, { webhookUrl: 'https://nowhere.example.com/hook' })),
      422,
      'webhook_url_forbidden',
    );
    expect(nowhere.message).toMatch(/host 'nowhere\.example\.com' does not resolve/);
    expect(nowhere.message).not.toMatch(/ENOTFOUND|getaddrinfo/);
  });

  it('a public https webhook URL is accepted', async () => {
    const { res, json } = await post(multipart(image, { webhookUrl: 'https://hooks.example.com/cgm' }));
    expect(res.status).toBe(202);
    // Tagged with the caller's key id, whose own secret will sign the deliveries.
    expect(runs.runs.get(json.id)!.input.webhook).toEqual({
      url: 'https://hooks.example.com/cgm',
      tenant: keyIdOf(hashApiKey(KEY)),
    });
  });

  it('text/plain → 415 unsupported_media_type', async () => {
    const res = await app.request('/v1/counterfactuals', {
      method: 'POST',
      headers: { ...auth(), 'content-type': 'text/plain' },
      body: 'hi',
    });
    expect(res.status).toBe(415);
    expect(((await res.json()) as Body).error.code).toBe('unsupported_media_type');
    expectNothingDone();
  });
});

describe('Idempotency-Key', () => {
  const body = { caption: 'grey', graph, do: [{ concept: 'weather', value: 'rainy' }] };

  it('same key and body → the same run, started once; another body → 409 with nothing stored', async () => {
    const headers = { ...auth(), 'idempotency-key': 'order-42' };
    const first = await post(multipart(image, body), headers);
    expect(first.res.status).toBe(202);
    expect(first.json.id).toBe(runIdForIdempotencyKey(keyIdOf(hashApiKey(KEY)), 'order-42'));
    // Key order in the JSON does not matter: the fingerprint is over canonical JSON.
    const reordered = { do: body.do, graph, caption: 'grey' };
    const second = await post(multipart(image, reordered), headers);
    expect(second.res.status).toBe(202);
    expect(second.json.id).toBe(first.json.id);
    expect(second.json.replayed).toBe(true);
    expect(second.res.headers.get('idempotent-replayed')).toBe('true');
    expect(runs.runs.size).toBe(1);

    const otherImage = await png(64, 48, 200);
    await expectError(
      post(multipart(otherImage, body), headers),
      409,
      'idempotency_conflict',
      'idempotency-key',
    );
    await expectError(
      post(multipart(image, { ...body, caption: 'blue' }), headers),
      409,
      'idempotency_conflict',
    );
    expect(runs.runs.size).toBe(1);
    expect([...images.objects.keys()]).toEqual([sha256Hex(image)]); // the other image was not stored
  });

  it('the same key from another API key is another run', async () => {
    const a = await post(multipart(image, body), { ...auth(), 'idempotency-key': 'k1' });
    const b = await post(multipart(image, body), { ...auth(OTHER_KEY), 'idempotency-key': 'k1' });
    expect(a.json.id).not.toBe(b.json.id);
    expect(runs.runs.size).toBe(2);
  });

  it('an unusable key → 400 invalid_idempotency_key', async () => {
    await expectError(
      post(multipart(image, body), { ...auth(), 'idempotency-key': 'has space' }),
      400,
      'invalid_idempotency_key',
    );
    expectNothingDone();
  });
});

describe('GET and DELETE /v1/counterfactuals/{id}', () => {
  it('reports progress, then the result with presigned artifact URLs; other keys see 404', async () => {
    const { json } = await post(multipart(image, { caption: 'grey' }));
    runs.setProgress(json.id, { stage: 'invert', step: 10, total: 100 });
    const running = await app.request(json.statusUrl, { headers: auth() });
    expect(running.status).toBe(200);
    expect(await running.json()).toMatchObject({
      id: json.id,
      status: 'running',
      progress: { stage: 'invert' },
      result: null,
    });

    const ref = runs.runs.get(json.id)!.input.image;
    runs.finish(json.id, { manifest: ref, outputs: [{ method: 'csg', image: ref, masks: [] }] });
    const done = (await (await app.request(json.statusUrl, { headers: auth() })).json()) as Body;
    expect(done.status).toBe('succeeded');
    expect(done.result.manifest.url).toBe(`memory://test-bucket/${ref.key}`);
    expect(done.result.outputs[0].image.url).toBe(`memory://test-bucket/${ref.key}`);
    expect(done.result.outputs[0].method).toBe('csg');

    const other = await app.request(json.statusUrl, { headers: auth(OTHER_KEY) });
    expect(other.status).toBe(404);
    const del = await app.request(json.statusUrl, { method: 'DELETE', headers: auth() });
    expect(del.status).toBe(409);
    expect(((await del.json()) as Body).error.code).toBe('run_not_cancellable');
  });

  it('a failed run shows our own failures as they are and anything else in general words', async () => {
    const { json } = await post(multipart(image, {}));
    runs.fail(json.id, 'the VLM answered no JSON after 3 tries', 'VlmInvalidAnswer');
    const ours = (await (await app.request(json.statusUrl, { headers: auth() })).json()) as Body;
    expect(ours.error).toEqual({
      type: 'VlmInvalidAnswer',
      message: 'the VLM answered no JSON after 3 tries',
    });
    const second = await post(multipart(image, { caption: 'another' }));
    runs.fail(second.json.id, 'NoSuchKey: s3://cgm-prod/uploads/sha256/ab/abc', 'NoSuchKey');
    const theirs = (await (await app.request(second.json.statusUrl, { headers: auth() })).json()) as Body;
    expect(theirs.error).toEqual({ type: 'InternalError', message: INTERNAL_FAILURE_MESSAGE });
  });

  it('DELETE cancels a running run', async () => {
    const { json } = await post(multipart(image, {}));
    const del = await app.request(json.statusUrl, { method: 'DELETE', headers: auth() });
    expect(del.status).toBe(202);
    expect(await del.json()).toEqual({ id: json.id, status: 'cancelling' });
    expect(runs.runs.get(json.id)!.cancelRequested).toBe(true);
  });

  it('unknown and malformed ids → 404 / 400', async () => {
    expect((await app.request('/v1/counterfactuals/cf-00000000-0000', { headers: auth() })).status).toBe(404);
    const bad = await app.request('/v1/counterfactuals/nope', { headers: auth() });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as Body).error).toMatchObject({
      code: 'validation_error',
      field: 'id',
    });
  });
});

describe('limits, docs', () => {
  it('rate-limits per key with a token bucket and Retry-After', async () => {
    const limited = createApp({
      config: defaultApiConfig({
        keyHashes: [hashApiKey(KEY), hashApiKey(OTHER_KEY)],
        rateLimit: { perMinute: 60, burst: 2 },
      }),
      images,
      runs,
      now: () => clock,
    });
    const get = (key = KEY) =>
      limited.request('/v1/counterfactuals/cf-00000000-0000', { headers: auth(key) });
    expect((await get()).status).toBe(404);
    expect((await get()).status).toBe(404);
    const third = await get();
    expect(third.status).toBe(429);
    expect(third.headers.get('retry-after')).toBe('1');
    expect(((await third.json()) as Body).error.code).toBe('rate_limited');
    expect((await get(OTHER_KEY)).status).toBe(404); // other keys have their own bucket
    clock += 1000;
    expect((await get()).status).toBe(404);
  });

  it('serves /openapi.json generated from the schemas, and a docs page, without a key', async () => {
    const res = await app.request('/openapi.json');
    expect(res.status).toBe(200);
    const doc = (await res.json()) as Body;
    expect(Object.keys(doc.paths)).toEqual(
      expect.arrayContaining(['/v1/uploads', '/v1/counterfactuals', '/v1/counterfactuals/{id}']),
    );
    const post = doc.paths['/v1/counterfactuals'].post;
    expect(Object.keys(post.requestBody.content)).toEqual(['application/json', 'multipart/form-data']);
    expect(Object.keys(post.responses)).toEqual(expect.arrayContaining(['202', '409', '413', '422']));
    expect(doc.components.schemas.CounterfactualRequest.additionalProperties).toBe(false);
    const docs = await app.request('/docs');
    expect(docs.status).toBe(200);
    const html = await docs.text();
    expect(html).toContain('POST /v1/counterfactuals');
    expect(html).toContain('idempotency_conflict');
  });

  it('the unauthenticated documents are rate limited per client address', async () => {
    // A burst of 30, then 429 until the refill (60 a minute).
    for (let i = 0; i < 30; i++)
      expect((await app.request(i % 2 ? '/docs' : '/openapi.json')).status).toBe(200);
    const limited = await app.request('/openapi.json');
    expect(limited.status).toBe(429);
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0);
    clock += 60_000;
    expect((await app.request('/docs')).status).toBe(200);
    expect((await app.request('/healthz')).status).toBe(200);
  });

  it('unknown routes → 404 not_found in the error shape', async () => {
    const res = await app.request('/v2/nothing', { headers: auth() });
    expect(res.status).toBe(404);
    expect(((await res.json()) as Body).error.code).toBe('not_found');
  });
});

describe('GET /v1/webhook-secret', () => {
  const operator = generateWebhookSecret();
  const previous = generateWebhookSecret();
  const appWith = (webhookSecrets: { current?: string; previous?: string }) =>
    createApp({
      config: defaultApiConfig({ keyHashes: [hashApiKey(KEY), hashApiKey(OTHER_KEY)], webhookSecrets }),
      images: createMemoryImageStore('b'),
      runs: createMemoryRunStarter(),
    });
  const get = async (a: ReturnType<typeof createApp>, key?: string) => {
    const res = await a.request('/v1/webhook-secret', { headers: key ? auth(key) : {} });
    return { res, json: (await res.json()) as Body };
  };

  it("gives each key its own secret, the one the worker signs that key's webhooks with", async () => {
    const a = appWith({ current: operator });
    const mine = await get(a, KEY);
    const theirs = await get(a, OTHER_KEY);
    expect(mine.res.status).toBe(200);
    expect(mine.res.headers.get('cache-control')).toBe('no-store');
    expect(mine.json).toEqual({ secret: tenantSecret(operator, keyIdOf(hashApiKey(KEY))) });
    expect(theirs.json.secret).not.toBe(mine.json.secret);
    expect(mine.json.secret).not.toBe(operator);
  });

  it('holds the secret being replaced while the operator rotates', async () => {
    const { json } = await get(appWith({ current: operator, previous }), KEY);
    expect(json).toEqual({
      secret: tenantSecret(operator, keyIdOf(hashApiKey(KEY))),
      previousSecret: tenantSecret(previous, keyIdOf(hashApiKey(KEY))),
    });
  });

  it('503 webhooks_not_configured without an operator secret; 401 without a key', async () => {
    const none = await get(appWith({}), KEY);
    expect(none.res.status).toBe(503);
    expect(none.json.error.code).toBe('webhooks_not_configured');
    expect((await get(appWith({ current: operator }))).res.status).toBe(401);
  });
});

describe('settingsToRunFields', () => {
  it('gives the baselines their own step count, else the inversion one, else the paper default', () => {
    expect(settingsToRunFields({ inversionSteps: 30, baselineSteps: 12 }).engine).toEqual({
      inversion: { numSteps: 30 },
      baselines: { numSteps: 12 },
    });
    expect(settingsToRunFields({ baselineSteps: 12 }).engine).toEqual({ baselines: { numSteps: 12 } });
    expect(settingsToRunFields({}).engine).toEqual({});
  });

  it("names the baselines' preset (whose steps the inversion's no longer override) and CSG's base term", () => {
    const f = settingsToRunFields({
      inversionSteps: 30,
      baselinePreset: 'ef-ddpm',
      csgBase: 'unconditional',
    });
    expect(f.engine).toEqual({ inversion: { numSteps: 30 }, baselines: { preset: 'ef-ddpm' } });
    expect(f.planning).toEqual({ csgBase: 'unconditional' });
    expect(settingsToRunFields({ baselinePreset: 'paper', baselineSteps: 12 }).engine).toEqual({
      baselines: { preset: 'paper', numSteps: 12 },
    });
  });
});
