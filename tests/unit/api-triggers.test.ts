// Triggers and hooks through app.request(), with in-memory runs, images, triggers and S3 sources:
// a delivery starts one run per image, a redelivery none, and every refused delivery leaves runs,
// images and run records empty.
import { createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import sharp from 'sharp';
import { Webhook } from 'standardwebhooks';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { generateWebhookSecret } from '../../activities/webhooks/signing.js';
import { createApp } from '../../api/app.js';
import { defaultApiConfig } from '../../api/config.js';
import { createMemoryImageStore } from '../../api/images.js';
import { hashApiKey, keyIdOf } from '../../api/middleware/auth.js';
import { triggerRunId } from '../../api/routes/hooks.js';
import { createMemoryRunStarter, type MemoryRunStarter } from '../../api/runs/memory.js';
import { createMemorySourceReader } from '../../api/triggers/s3-source.js';
import { createMemoryTriggerStore } from '../../api/triggers/store.js';
import { sha256Hex } from '../../core/artifacts/store.js';
import type { LookupFn } from '../../core/webhooks/url-policy.js';

// Response JSON is navigated freely in assertions; a wrong path fails the assertion.
// biome-ignore lint/suspicious/noExplicitAny: see above
type Body = any;

const KEY = 'cgm_trigger_key_0123456789';
const OTHER_KEY = 'cgm_trigger_other_9876543210';
const OPERATOR_SECRET = generateWebhookSecret();
const graph = JSON.parse(readFileSync(new URL('../fixtures/graphs/valid.json', import.meta.url), 'utf8'));
const auth = { authorization: `Bearer ${KEY}` };
const template = { caption: 'a street', methods: ['csg'], judge: false, settings: { inversionSteps: 4 } };

const lookup: LookupFn = async (host) => {
  const table: Record<string, string> = {
    'images.example.com': '93.184.216.34',
    'hooks.example.com': '93.184.216.35',
    'cdn.example.com': '127.0.0.1',
  };
  const address = table[host];
  if (!address) throw new Error(`getaddrinfo ENOTFOUND ${host}`);
  return [{ address, family: 4 }];
};

async function png(seed: number): Promise<Uint8Array> {
  const raw = Buffer.alloc(96 * 80 * 3, seed);
  return new Uint8Array(
    await sharp(raw, { raw: { width: 96, height: 80, channels: 3 } })
      .png()
      .toBuffer(),
  );
}

let clock: number;
let runs: MemoryRunStarter;
let images: ReturnType<typeof createMemoryImageStore>;
let triggers: ReturnType<typeof createMemoryTriggerStore>;
let objects: Map<string, { bytes: Uint8Array; contentType: string | undefined }>;
let confirmed: string[];
let app: ReturnType<typeof createApp>;

function makeApp(policy = { allowPrivate: false, allowHttp: false, allowedHosts: [] as string[] }) {
  return createApp({
    config: defaultApiConfig({
      keyHashes: [hashApiKey(KEY), hashApiKey(OTHER_KEY)],
      rateLimit: { perMinute: 600, burst: 200 },
      webhookSecrets: { current: OPERATOR_SECRET },
      triggerBuckets: ['inbox', 'other-inbox'],
      webhookPolicy: policy,
    }),
    images,
    runs,
    triggers,
    sources: createMemorySourceReader(objects as never),
    confirmSubscription: async (url) => {
      confirmed.push(url);
    },
    lookup,
    now: () => clock,
  });
}

beforeEach(async () => {
  clock = Date.parse('2026-12-06T10:00:00Z');
  runs = createMemoryRunStarter(() => clock);
  images = createMemoryImageStore('artifacts');
  triggers = createMemoryTriggerStore();
  objects = new Map();
  objects.set('inbox/products/a.png', { bytes: await png(10), contentType: 'image/png' });
  objects.set('inbox/products/b c.png', { bytes: await png(20), contentType: 'image/png' });
  objects.set('inbox/products/not-an-image.png', {
    bytes: new TextEncoder().encode('hello'),
    contentType: 'image/png',
  });
  objects.set('other-inbox/x.png', { bytes: await png(30), contentType: 'image/png' });
  confirmed = [];
  app = makeApp();
});

const json = (body: unknown, headers: Record<string, string> = {}) => ({
  method: 'POST',
  headers: { 'content-type': 'application/json', ...headers },
  body: typeof body === 'string' ? body : JSON.stringify(body),
});

async function create(body: Record<string, unknown>, key = KEY): Promise<{ status: number; body: Body }> {
  const res = await app.request('/v1/triggers', json(body, { authorization: `Bearer ${key}` }));
  return { status: res.status, body: await res.json() };
}

const s3Trigger = (extra: Record<string, unknown> = {}) => ({
  name: 'product photos',
  source: { kind: 's3-events' },
  allow: { buckets: [{ bucket: 'inbox', prefix: 'products/' }] },
  run: template,
  ...extra,
});

const webhookTrigger = (extra: Record<string, unknown> = {}) => ({
  name: 'cms',
  source: { kind: 'standard-webhooks' },
  image: { from: 's3', bucketPointer: '/data/bucket', keyPointer: '/data/key' },
  allow: { buckets: [{ bucket: 'inbox', prefix: '' }] },
  run: template,
  ...extra,
});

/** A Standard Webhooks delivery signed with the official package. */
function signed(secret: string, id: string, payload: unknown, at = new Date(clock)) {
  const body = JSON.stringify(payload);
  const signature = new Webhook(secret).sign(id, at, body);
  return json(body, {
    'webhook-id': id,
    'webhook-timestamp': String(Math.floor(at.getTime() / 1000)),
    'webhook-signature': signature,
  });
}

function s3Record(bucket: string, key: string, sequencer: string, eventName = 'ObjectCreated:Put') {
  return {
    eventVersion: '2.1',
    eventSource: 'aws:s3',
    awsRegion: 'us-east-1',
    eventTime: '2026-12-06T10:00:00.000Z',
    eventName,
    s3: {
      s3SchemaVersion: '1.0',
      bucket: { name: bucket, arn: `arn:aws:s3:::${bucket}` },
      object: { key: encodeURIComponent(key).replace(/%20/g, '+').replace(/%2F/g, '/'), size: 1, sequencer },
    },
  };
}

function expectNothingDone() {
  expect(runs.runs.size).toBe(0);
  expect(images.objects.size).toBe(0);
  expect(triggers.runs.size).toBe(0);
}

describe('trigger resource', () => {
  it('creates a trigger with its secret once, lists and shows it to its owner only, deletes it', async () => {
    const made = await create(webhookTrigger());
    expect(made.status).toBe(201);
    expect(made.body.id).toMatch(/^trg_[0-9a-f]{24}$/);
    expect(made.body.secret).toMatch(/^whsec_/);
    expect(made.body.hookUrl).toBe(`/v1/hooks/${made.body.id}`);
    expect(made.body.rateLimit).toEqual({ perMinute: 60, burst: 20 });
    // The stored record holds a salt, never the secret.
    const stored = triggers.triggers.get(made.body.id)!;
    expect(JSON.stringify(stored)).not.toContain(made.body.secret);
    expect(stored.owner).toBe(keyIdOf(hashApiKey(KEY)));

    const shown = (await (
      await app.request(`/v1/triggers/${made.body.id}`, { headers: auth })
    ).json()) as Body;
    expect(shown.secret).toBeUndefined();
    expect(shown.name).toBe('cms');
    const list = (await (await app.request('/v1/triggers', { headers: auth })).json()) as Body;
    expect(list.triggers.map((t: Body) => t.id)).toEqual([made.body.id]);
    const other = { authorization: `Bearer ${OTHER_KEY}` };
    expect((await (await app.request('/v1/triggers', { headers: other })).json()) as Body).toEqual({
      triggers: [],
    });
    expect((await app.request(`/v1/triggers/${made.body.id}`, { headers: other })).status).toBe(404);
    expect(
      (await app.request(`/v1/triggers/${made.body.id}`, { method: 'DELETE', headers: other })).status,
    ).toBe(404);

    const del = await app.request(`/v1/triggers/${made.body.id}`, { method: 'DELETE', headers: auth });
    expect(del.status).toBe(200);
    expect((await app.request(`/v1/triggers/${made.body.id}`, { headers: auth })).status).toBe(404);
    const hook = await app.request(`/v1/hooks/${made.body.id}`, signed(made.body.secret, 'msg_1', {}));
    expect(hook.status).toBe(404);
    expect(((await hook.json()) as Body).error.code).toBe('unknown_trigger');
  });

  it('rotates a trigger secret: the new one verifies at once, the old one no longer', async () => {
    const { body: t } = await create(webhookTrigger());
    const payload = { data: { bucket: 'inbox', key: 'products/a.png' } };
    const res = await app.request(`/v1/triggers/${t.id}/secret`, { method: 'POST', headers: auth });
    const rotated = (await res.json()) as Body;
    expect(res.status).toBe(200);
    expect(rotated.id).toBe(t.id);
    expect(rotated.hookUrl).toBe(t.hookUrl);
    expect(rotated.secret).toMatch(/^whsec_/);
    expect(rotated.secret).not.toBe(t.secret);
    expect((await app.request(`/v1/hooks/${t.id}`, signed(t.secret, 'msg_1', payload))).status).toBe(401);
    expect((await app.request(`/v1/hooks/${t.id}`, signed(rotated.secret, 'msg_1', payload))).status).toBe(
      202,
    );
    const other = { authorization: `Bearer ${OTHER_KEY}` };
    expect(
      (await app.request(`/v1/triggers/${t.id}/secret`, { method: 'POST', headers: other })).status,
    ).toBe(404);
  });

  it('stops with its key: a trigger of a key the operator removed answers 404', async () => {
    const { body: t } = await create(webhookTrigger());
    app = createApp({
      config: defaultApiConfig({
        keyHashes: [hashApiKey(OTHER_KEY)],
        webhookSecrets: { current: OPERATOR_SECRET },
        triggerBuckets: ['inbox'],
      }),
      images,
      runs,
      triggers,
      sources: createMemorySourceReader(objects as never),
    });
    const res = await app.request(
      `/v1/hooks/${t.id}`,
      signed(t.secret, 'msg_1', { data: { bucket: 'inbox', key: 'products/a.png' } }),
    );
    expect(res.status).toBe(404);
    expect(((await res.json()) as Body).error.code).toBe('unknown_trigger');
    expectNothingDone();
  });

  it.each([
    [{ ...webhookTrigger(), image: undefined }, 'image', /needs the image's location/],
    [{ ...webhookTrigger(), image: { from: 's3-record' } }, 'image.from', /for s3-events triggers/],
    [s3Trigger({ image: { from: 'url', pointer: '/u' } }), 'image.from', /s3-record/],
    [
      webhookTrigger({ image: { from: 'url', pointer: '/u' }, allow: {} }),
      'allow.urlHosts',
      /name the hosts/,
    ],
    [webhookTrigger({ allow: { buckets: [] } }), 'allow.buckets', /name the buckets/],
    [
      s3Trigger({ allow: { buckets: [{ bucket: 'secret-bucket' }] } }),
      'allow.buckets[0].bucket',
      /'secret-bucket' is not a bucket this server lets triggers read; allowed: inbox, other-inbox/,
    ],
    [
      s3Trigger({ run: { ...template, graph, do: [{ concept: 'mood', value: 'happy' }] } }),
      'run.do[0].concept',
      /'mood' is neither/,
    ],
    [webhookTrigger({ image: { from: 'url', pointer: 'data/url' } }), 'image.pointer', /JSON pointer/],
    [webhookTrigger({ run: { ...template, webhookUrl: 'https://10.0.0.1/x' } }), 'run.webhookUrl', /private/],
    [{ ...s3Trigger(), surprise: 1 }, 'surprise', /unknown field/],
  ])('refuses a bad trigger, naming the field (%#)', async (body, field, message) => {
    const res = await create(body as Record<string, unknown>);
    expect(res.status).toBeGreaterThanOrEqual(400);
    expect(res.status).toBeLessThan(500);
    expect(res.body.error.field).toBe(field);
    expect(res.body.error.message).toMatch(message);
    expect(triggers.triggers.size).toBe(0);
  });

  it("accepts the README's example trigger", async () => {
    const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
    const example = readme.match(/cat > trigger\.json <<'JSON'\n([\s\S]*?)\nJSON/)?.[1];
    expect(example).toBeDefined();
    const res = await create(JSON.parse(example!));
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    expect(res.body.image).toEqual({ from: 'url', pointer: '/data/imageUrl' });
  });

  it('answers 503 when the server has no webhook secret to derive trigger secrets from', async () => {
    app = createApp({
      config: defaultApiConfig({ keyHashes: [hashApiKey(KEY)], triggerBuckets: ['inbox'] }),
      images,
      runs,
      triggers,
    });
    const res = await create(s3Trigger());
    expect(res.status).toBe(503);
    expect(res.body.error.code).toBe('webhooks_not_configured');
  });
});

describe('standard-webhooks deliveries', () => {
  it('start one run per delivery; a redelivery, sequential or concurrent, answers with the same run', async () => {
    const { body: t } = await create(webhookTrigger());
    const payload = { type: 'image.published', data: { bucket: 'inbox', key: 'products/a.png' } };
    const first = await app.request(`/v1/hooks/${t.id}`, signed(t.secret, 'msg_2Lk', payload));
    expect(first.status).toBe(202);
    const accepted = (await first.json()) as Body;
    const runId = triggerRunId(t.id, 'msg_2Lk');
    expect(accepted).toEqual({
      triggerId: t.id,
      runs: [
        {
          id: runId,
          statusUrl: `/v1/counterfactuals/${runId}`,
          replayed: false,
          deliveryId: 'msg_2Lk',
          source: 's3://inbox/products/a.png',
        },
      ],
    });
    const run = runs.runs.get(runId)!;
    expect(run.info.memo?.owner).toBe(keyIdOf(hashApiKey(KEY)));
    expect(run.input).toMatchObject({
      runId,
      caption: 'a street',
      methods: ['csg'],
      evaluate: { judge: false },
      image: { sha256: sha256Hex(objects.get('inbox/products/a.png')!.bytes), contentType: 'image/png' },
    });
    // Content-addressed, and owned by the trigger's key: the owner may name the hash in its own runs.
    expect(await images.forKey(keyIdOf(hashApiKey(KEY))).head(run.input.image.sha256)).not.toBeNull();

    const again = await Promise.all(
      [0, 1, 2].map(() => app.request(`/v1/hooks/${t.id}`, signed(t.secret, 'msg_2Lk', payload))),
    );
    for (const res of again) {
      expect(res.status).toBe(202);
      expect(((await res.json()) as Body).runs).toEqual([{ ...accepted.runs[0], replayed: true }]);
    }
    expect(runs.runs.size).toBe(1);
    // The owner reads the run like any of its own; another key cannot.
    expect((await app.request(`/v1/counterfactuals/${runId}`, { headers: auth })).status).toBe(200);
    expect(
      (
        await app.request(`/v1/counterfactuals/${runId}`, {
          headers: { authorization: `Bearer ${OTHER_KEY}` },
        })
      ).status,
    ).toBe(404);
    const listed = (await (await app.request(`/v1/triggers/${t.id}/runs`, { headers: auth })).json()) as Body;
    expect(listed.runs).toEqual([
      expect.objectContaining({
        id: runId,
        status: 'running',
        deliveryId: 'msg_2Lk',
        source: 's3://inbox/products/a.png',
      }),
    ]);
  });

  it('refuses a forged, a stale, an unsigned delivery and one signed with another trigger’s secret', async () => {
    const { body: t } = await create(webhookTrigger());
    const { body: other } = await create(webhookTrigger());
    const payload = { data: { bucket: 'inbox', key: 'products/a.png' } };
    const cases: [RequestInit, string, string][] = [
      [signed(generateWebhookSecret(), 'msg_1', payload), 'invalid_signature', 'webhook-signature'],
      [signed(other.secret, 'msg_1', payload), 'invalid_signature', 'webhook-signature'],
      [
        signed(t.secret, 'msg_1', payload, new Date(clock - 6 * 60_000)),
        'stale_timestamp',
        'webhook-timestamp',
      ],
      [
        signed(t.secret, 'msg_1', payload, new Date(clock + 6 * 60_000)),
        'stale_timestamp',
        'webhook-timestamp',
      ],
      [json(payload), 'invalid_signature', 'webhook-id'],
    ];
    for (const [init, code, field] of cases) {
      const res = await app.request(`/v1/hooks/${t.id}`, init);
      const body = (await res.json()) as Body;
      expect(res.status).toBe(401);
      expect(body.error).toMatchObject({ code, field });
    }
    // A body changed after signing.
    const good = signed(t.secret, 'msg_1', payload);
    const tampered = await app.request(`/v1/hooks/${t.id}`, {
      ...good,
      body: JSON.stringify({ data: { bucket: 'inbox', key: 'products/b c.png' } }),
    });
    expect(tampered.status).toBe(401);
    expectNothingDone();
  });

  it('needs no API key, and counts wrong signatures against the sender like wrong keys', async () => {
    const { body: t } = await create(webhookTrigger());
    const payload = { data: { bucket: 'inbox', key: 'products/a.png' } };
    const forged = () => app.request(`/v1/hooks/${t.id}`, signed(generateWebhookSecret(), 'msg_f', payload));
    for (let i = 0; i < 20; i++) {
      const res = await forged();
      expect(res.status).toBe(401);
      expect(((await res.json()) as Body).error.code).toBe('invalid_signature'); // never 'unauthorized'
    }
    const limited = await forged();
    expect(limited.status).toBe(429);
    expect(((await limited.json()) as Body).error.message).toMatch(/too many failed authentications/);
    expectNothingDone();
  });

  it('refuses payloads without an image, images outside the allow-list and bytes that are no image', async () => {
    const { body: t } = await create(
      webhookTrigger({ allow: { buckets: [{ bucket: 'inbox', prefix: 'products/' }] } }),
    );
    const cases: [unknown, number, string, string][] = [
      [{ data: {} }, 422, 'image_missing', '/data/bucket'],
      [{ data: { bucket: 'inbox', key: 7 } }, 422, 'image_missing', '/data/key'],
      [{ data: { bucket: 'other-inbox', key: 'x.png' } }, 422, 'image_not_allowed', '/data/key'],
      [{ data: { bucket: 'inbox', key: 'private/a.png' } }, 422, 'image_not_allowed', '/data/key'],
      [{ data: { bucket: 'inbox', key: 'products/missing.png' } }, 422, 'image_fetch_failed', '/data/key'],
      [{ data: { bucket: 'inbox', key: 'products/not-an-image.png' } }, 422, 'invalid_image', '/data/key'],
    ];
    for (const [i, [payload, status, code, field]] of cases.entries()) {
      const res = await app.request(`/v1/hooks/${t.id}`, signed(t.secret, `msg_${i}`, payload));
      expect(res.status).toBe(status);
      expect(((await res.json()) as Body).error).toMatchObject({ code, field });
    }
    const notJson = signed(t.secret, 'msg_x', 'x');
    const res = await app.request(`/v1/hooks/${t.id}`, { ...notJson, body: 'not json' });
    expect(res.status).toBe(401); // the signature is checked before the body is read
    expectNothingDone();
  });

  it('a paused trigger refuses deliveries until resumed; the rate limit counts images', async () => {
    const { body: t } = await create(webhookTrigger({ paused: true, rateLimit: { perMinute: 1, burst: 1 } }));
    const payload = (key: string) => ({ data: { bucket: 'inbox', key } });
    const paused = await app.request(
      `/v1/hooks/${t.id}`,
      signed(t.secret, 'msg_1', payload('products/a.png')),
    );
    expect(paused.status).toBe(409);
    expect(((await paused.json()) as Body).error.code).toBe('trigger_paused');
    expectNothingDone();

    const resume = await app.request(`/v1/triggers/${t.id}`, {
      method: 'PATCH',
      headers: { ...auth, 'content-type': 'application/json' },
      body: JSON.stringify({ paused: false }),
    });
    expect(((await resume.json()) as Body).paused).toBe(false);
    expect(
      (await app.request(`/v1/hooks/${t.id}`, signed(t.secret, 'msg_1', payload('products/a.png')))).status,
    ).toBe(202);
    const limited = await app.request(
      `/v1/hooks/${t.id}`,
      signed(t.secret, 'msg_2', payload('products/b c.png')),
    );
    expect(limited.status).toBe(429);
    expect(limited.headers.get('retry-after')).toBe('60');
    // A redelivery of the run already started costs nothing.
    expect(
      (await app.request(`/v1/hooks/${t.id}`, signed(t.secret, 'msg_1', payload('products/a.png')))).status,
    ).toBe(202);
    // Paused again: a redelivery of the run already started still answers with it; a new one is refused.
    const pause = (paused: boolean) =>
      app.request(`/v1/triggers/${t.id}`, {
        method: 'PATCH',
        headers: { ...auth, 'content-type': 'application/json' },
        body: JSON.stringify({ paused }),
      });
    await pause(true);
    const replay = await app.request(
      `/v1/hooks/${t.id}`,
      signed(t.secret, 'msg_1', payload('products/a.png')),
    );
    expect(replay.status).toBe(202);
    expect(((await replay.json()) as Body).runs[0].replayed).toBe(true);
    clock += 60_000;
    const refused = await app.request(
      `/v1/hooks/${t.id}`,
      signed(t.secret, 'msg_2', payload('products/b c.png')),
    );
    expect(refused.status).toBe(409);
    await pause(false);
    expect(
      (await app.request(`/v1/hooks/${t.id}`, signed(t.secret, 'msg_2', payload('products/b c.png')))).status,
    ).toBe(202);
    expect(runs.runs.size).toBe(2);
  });
});

describe('s3-events deliveries', () => {
  const secretHeader = (secret: string) => ({ 'x-cgm-trigger-secret': secret });

  it('an S3 notification with two records starts two runs; its redelivery none', async () => {
    const { body: t } = await create(s3Trigger());
    const event = {
      Records: [
        s3Record('inbox', 'products/a.png', '0055AED6DCD90281E5'),
        s3Record('inbox', 'products/b c.png', '0055AED6DCD90281E6'),
      ],
    };
    const res = await app.request(`/v1/hooks/${t.id}`, json(event, secretHeader(t.secret)));
    expect(res.status).toBe(202);
    const body = (await res.json()) as Body;
    expect(body.runs.map((r: Body) => [r.source, r.replayed])).toEqual([
      ['s3://inbox/products/a.png', false],
      ['s3://inbox/products/b c.png', false], // the record's key is URL-encoded with '+' for spaces
    ]);
    expect(body.runs[0].deliveryId).toBe('s3:inbox/products/a.png@0055AED6DCD90281E5');
    expect(runs.runs.size).toBe(2);
    const again = (await (
      await app.request(`/v1/hooks/${t.id}`, json(event, secretHeader(t.secret)))
    ).json()) as Body;
    expect(again.runs.map((r: Body) => r.replayed)).toEqual([true, true]);
    expect(runs.runs.size).toBe(2);

    // The same record inside SNS (Basic auth from the subscription URL) is the same run.
    const sns = {
      Type: 'Notification',
      MessageId: 'da41e39f-ea4d-435a-b922-c6aae3915ebe',
      TopicArn: 'arn:aws:sns:us-east-1:123456789012:uploads',
      Message: JSON.stringify({ Records: [event.Records[0]] }),
      Timestamp: '2026-12-06T10:00:01.000Z',
    };
    const basic = `Basic ${Buffer.from(`cgm:${t.secret}`).toString('base64')}`;
    const viaSns = await app.request(
      `/v1/hooks/${t.id}`,
      json(sns, { authorization: basic, 'content-type': 'text/plain; charset=UTF-8' }),
    );
    expect(viaSns.status).toBe(202);
    expect(((await viaSns.json()) as Body).runs).toEqual([
      expect.objectContaining({ id: body.runs[0].id, replayed: true }),
    ]);
  });

  it('reads EventBridge events; confirms SNS subscriptions only at SNS', async () => {
    const { body: t } = await create(s3Trigger());
    const eventBridge = {
      version: '0',
      id: '17793124-05d4-b198-2fde-7ededc63b103',
      'detail-type': 'Object Created',
      source: 'aws.s3',
      account: '123456789012',
      time: '2026-12-06T10:00:00Z',
      region: 'us-east-1',
      resources: ['arn:aws:s3:::inbox'],
      detail: {
        version: '0',
        bucket: { name: 'inbox' },
        object: {
          key: 'products/a.png',
          size: 5,
          etag: 'b1946ac92492d2347c6235b4d2611184',
          sequencer: '00617F08299329D189',
        },
        reason: 'PutObject',
      },
    };
    const res = await app.request(
      `/v1/hooks/${t.id}`,
      json(eventBridge, { authorization: `Bearer ${t.secret}` }),
    );
    expect(res.status).toBe(202);
    expect(((await res.json()) as Body).runs[0].deliveryId).toBe(
      's3:inbox/products/a.png@00617F08299329D189',
    );

    const confirmation = (url: string) => ({
      Type: 'SubscriptionConfirmation',
      MessageId: '165545c9-2a5c-472c-8df2-7ff2be2b3b1b',
      Token: 'token',
      TopicArn: 'arn:aws:sns:us-west-2:123456789012:MyTopic',
      SubscribeURL: url,
    });
    const good = 'https://sns.us-west-2.amazonaws.com/?Action=ConfirmSubscription&TopicArn=arn&Token=token';
    const ok = await app.request(`/v1/hooks/${t.id}`, json(confirmation(good), secretHeader(t.secret)));
    expect(ok.status).toBe(200);
    expect(confirmed).toEqual([good]);
    const forged = await app.request(
      `/v1/hooks/${t.id}`,
      json(confirmation('https://169.254.169.254/latest'), secretHeader(t.secret)),
    );
    expect(forged.status).toBe(400);
    expect(((await forged.json()) as Body).error.field).toBe('SubscribeURL');
    expect(confirmed).toHaveLength(1);
  });

  it('refuses a wrong secret, a disallowed bucket or prefix, and events without a new object', async () => {
    const { body: t } = await create(s3Trigger());
    const one = (bucket: string, key: string, name?: string) => ({
      Records: [s3Record(bucket, key, '01', name)],
    });
    const wrong = await app.request(
      `/v1/hooks/${t.id}`,
      json(one('inbox', 'products/a.png'), secretHeader(generateWebhookSecret())),
    );
    expect(wrong.status).toBe(401);
    const none = await app.request(`/v1/hooks/${t.id}`, json(one('inbox', 'products/a.png')));
    expect(none.status).toBe(401);
    expect(none.headers.get('www-authenticate')).toBe('Basic realm="cgm-hook"');
    const cases: [unknown, string, string | null][] = [
      [one('other-inbox', 'x.png'), 'image_not_allowed', 'Records[0].s3.object.key'],
      [one('inbox', 'elsewhere/a.png'), 'image_not_allowed', 'Records[0].s3.object.key'],
      [
        { Records: [s3Record('inbox', 'products/a.png', '01'), s3Record('other-inbox', 'x.png', '02')] },
        'image_not_allowed',
        'Records[1].s3.object.key',
      ],
      [one('inbox', 'products/a.png', 'ObjectRemoved:Delete'), 'image_missing', 'Records'],
      [{ Service: 'Amazon S3', Event: 's3:TestEvent', Bucket: 'inbox' }, 'image_missing', 'Event'],
      [{ hello: 'world' }, 'image_missing', null],
    ];
    for (const [payload, code, field] of cases) {
      const res = await app.request(`/v1/hooks/${t.id}`, json(payload, secretHeader(t.secret)));
      expect(res.status).toBe(422);
      expect(((await res.json()) as Body).error).toMatchObject({ code, field });
    }
    expectNothingDone();
  });
});

describe('URL images and json-hmac deliveries', () => {
  let server: Server;
  let base: string;
  let image: Uint8Array;

  beforeEach(async () => {
    image = await png(40);
    server = createServer((req, res) => {
      if (req.url?.split('?')[0] === '/a.png')
        res.writeHead(200, { 'content-type': 'image/png' }).end(Buffer.from(image));
      else if (req.url === '/moved') res.writeHead(302, { location: '/a.png' }).end();
      else res.writeHead(404).end();
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterEach(async () => {
    await new Promise<void>((r) => server.close(() => r()));
  });

  const hmacTrigger = (hosts: string[]) =>
    webhookTrigger({
      source: {
        kind: 'json-hmac',
        signatureHeader: 'X-Hub-Signature-256',
        deliveryIdHeader: 'X-GitHub-Delivery',
      },
      image: { from: 'url', pointer: '/product/images' },
      allow: { urlHosts: hosts },
    });
  const hmacDelivery = (secret: string, id: string, payload: unknown) => {
    const body = JSON.stringify(payload);
    const mac = createHmac('sha256', secret).update(body).digest('hex');
    return json(body, { 'x-hub-signature-256': `sha256=${mac}`, 'x-github-delivery': id });
  };

  it('a URL on loopback is refused under the strict policy, with nothing stored', async () => {
    const { body: t } = await create(hmacTrigger(['127.0.0.1', 'cdn.example.com']));
    for (const url of [`${base}/a.png`, `https://127.0.0.1:1/a.png`, 'https://cdn.example.com/a.png']) {
      const res = await app.request(
        `/v1/hooks/${t.id}`,
        hmacDelivery(t.secret, `d-${url}`, { product: { images: [url] } }),
      );
      const body = (await res.json()) as Body;
      expect(res.status).toBe(422);
      expect(body.error.field).toBe('/product/images/0');
      expect(body.error.code).toBe(url.startsWith('http:') ? 'image_not_allowed' : 'image_url_forbidden');
    }
    const host = await app.request(
      `/v1/hooks/${t.id}`,
      hmacDelivery(t.secret, 'd-2', { product: { images: ['https://evil.example.net/a.png'] } }),
    );
    expect(((await host.json()) as Body).error.code).toBe('image_not_allowed');
    expectNothingDone();
  });

  it('with the development policy, fetches the URL, checks and stores the bytes content-addressed, one run per URL', async () => {
    app = makeApp({ allowPrivate: true, allowHttp: true, allowedHosts: [] });
    const { body: t } = await create(hmacTrigger(['127.0.0.1']));
    const bad = await app.request(`/v1/hooks/${t.id}`, {
      ...hmacDelivery(t.secret, 'd-1', { product: { images: [`${base}/a.png`] } }),
      headers: {
        'content-type': 'application/json',
        'x-hub-signature-256': 'sha256=00',
        'x-github-delivery': 'd-1',
      },
    });
    expect(bad.status).toBe(401);
    for (const [path, code] of [
      ['/moved', 'image_fetch_failed'],
      ['/missing', 'image_fetch_failed'],
    ]) {
      const res = await app.request(
        `/v1/hooks/${t.id}`,
        hmacDelivery(t.secret, `d${path}`, { product: { images: [`${base}${path}`] } }),
      );
      expect(((await res.json()) as Body).error).toMatchObject({ code, field: '/product/images/0' });
    }
    expectNothingDone();

    const res = await app.request(
      `/v1/hooks/${t.id}`,
      hmacDelivery(t.secret, 'd-1', { product: { images: [`${base}/a.png`, `${base}/a.png?v=2`] } }),
    );
    const body = (await res.json()) as Body;
    expect(res.status, JSON.stringify(body)).toBe(202);
    expect(body.runs.map((r: Body) => r.deliveryId)).toEqual(['d-1#0', 'd-1#1']);
    expect(runs.runs.size).toBe(2);
    // Same bytes, one stored object.
    expect([...images.objects.keys()]).toEqual([sha256Hex(image)]);
  });
});
