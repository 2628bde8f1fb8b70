// Webhook-triggered edits on the real stack: the API served on loopback with the S3 trigger store and
// the Temporal run starter, the real counterfactualWorkflow on in-process light + GPU workers (tiny
// model), SeaweedFS for the artifact bucket and for an "inbox" bucket that stands in for a customer's.
// Deliveries are signed with the official standardwebhooks package or shaped as AWS sends S3 events.
import { existsSync, readFileSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CreateBucketCommand, HeadObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { serve } from '@hono/node-server';
import { Client, Connection } from '@temporalio/client';
import { chromium } from 'playwright-core';
import sharp from 'sharp';
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { generateWebhookSecret } from '../../activities/webhooks/index.js';
import { createApp } from '../../api/app.js';
import { defaultApiConfig } from '../../api/config.js';
import { createS3ImageStore } from '../../api/images.js';
import { hashApiKey } from '../../api/middleware/auth.js';
import { triggerRunId } from '../../api/routes/hooks.js';
import { createTemporalRunStarter } from '../../api/runs/temporal.js';
import { createS3SourceReader } from '../../api/triggers/s3-source.js';
import { createS3TriggerStore } from '../../api/triggers/store.js';
import { contentKey, createS3Client, sha256Hex } from '../../core/artifacts/index.js';
import { RunManifestSchema } from '../../core/schemas/run-manifest.js';
import { startTinyStack, type TinyStack, uniqueName } from './api-tiny-stack.js';

// Response JSON is navigated freely in assertions; a wrong path fails the assertion.
// biome-ignore lint/suspicious/noExplicitAny: see above
type Body = any;

const services = inject('cgmServices');
const EXAMPLE = fileURLToPath(new URL('../../examples/rainy-street/', import.meta.url));
const KEY = 'cgm_triggers_it_key_52c1e0';
const auth = { authorization: `Bearer ${KEY}` };
const operatorSecret = generateWebhookSecret();
const inbox = uniqueName('inbox').toLowerCase();
const elsewhere = uniqueName('elsewhere').toLowerCase();
// The user's graph and a ready intervention: the run needs no VLM.
const template = {
  caption: readFileSync(`${EXAMPLE}caption.txt`, 'utf8').trim(),
  graph: JSON.parse(readFileSync(`${EXAMPLE}graph.json`, 'utf8')),
  interventions: [JSON.parse(readFileSync(`${EXAMPLE}interventions.json`, 'utf8')).interventions[0]],
  methods: ['csg'],
  judge: false,
  settings: { inversionSteps: 4, editWarmupSteps: 1, seed: 5 },
};

/** The s3-events trigger of the two-record test and its runs, which the viewer test then shows. */
let inboxTrigger: { id: string; runIds: string[] } | null = null;
let stack: TinyStack;
let connection: Connection;
let client: Client;
let api: ReturnType<typeof serve>;
let base: string;
const s3 = createS3Client(services.s3);

async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, ms = 240_000): Promise<T> {
  const until = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

/** A distinct 256² PNG per seed, so each test's bytes are its own. */
async function png(seed: number): Promise<Uint8Array> {
  const raw = Buffer.alloc(256 * 256 * 3);
  for (let i = 0; i < raw.length; i++) raw[i] = (i * 31 + seed * 97) % 251;
  return new Uint8Array(
    await sharp(raw, { raw: { width: 256, height: 256, channels: 3 } })
      .png()
      .toBuffer(),
  );
}

async function putInbox(bucket: string, key: string, bytes: Uint8Array): Promise<void> {
  await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: bytes, ContentType: 'image/png' }));
}

async function isStored(bytes: Uint8Array): Promise<boolean> {
  try {
    await s3.send(
      new HeadObjectCommand({ Bucket: services.s3.bucket, Key: contentKey('uploads', sha256Hex(bytes)) }),
    );
    return true;
  } catch {
    return false;
  }
}

async function createTrigger(body: Record<string, unknown>): Promise<Body> {
  const res = await fetch(`${base}/v1/triggers`, {
    method: 'POST',
    headers: { ...auth, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  const created = (await res.json()) as Body;
  expect(res.status, JSON.stringify(created)).toBe(201);
  return created;
}

function deliverSigned(trigger: Body, id: string, payload: unknown, at = new Date()): Promise<Response> {
  const body = JSON.stringify(payload);
  return fetch(`${base}${trigger.hookUrl}`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      'webhook-id': id,
      'webhook-timestamp': String(Math.floor(at.getTime() / 1000)),
      'webhook-signature': new Webhook(trigger.secret).sign(id, at, body),
    },
    body,
  });
}

async function runsOf(trigger: Body): Promise<Body[]> {
  const res = await fetch(`${base}/v1/triggers/${trigger.id}/runs`, { headers: auth });
  return ((await res.json()) as Body).runs;
}

async function finished(runId: string): Promise<Body> {
  return waitFor(`run ${runId}`, async () => {
    const r = (await (await fetch(`${base}/v1/counterfactuals/${runId}`, { headers: auth })).json()) as Body;
    return r.status === 'running' ? undefined : r;
  });
}

/** How many workflow executions carry this id (REJECT_DUPLICATE: at most one, ever). */
async function executions(runId: string): Promise<number> {
  let n = 0;
  for await (const _ of client.workflow.list({ query: `WorkflowId = '${runId}'` })) n++;
  return n;
}

beforeAll(async () => {
  for (const bucket of [inbox, elsewhere]) await s3.send(new CreateBucketCommand({ Bucket: bucket }));
  stack = await startTinyStack({ temporal: services.temporal, s3: services.s3, name: 'triggers' });
  connection = await Connection.connect({ address: services.temporal.address });
  client = new Client({ connection, namespace: services.temporal.namespace });
  const app = createApp({
    // The strict URL policy: no loopback, no private addresses, https only.
    config: defaultApiConfig({
      keyHashes: [hashApiKey(KEY)],
      taskQueue: stack.lightQueue,
      gpuTaskQueue: stack.gpuQueue,
      webhookSecrets: { current: operatorSecret },
      triggerBuckets: [inbox, elsewhere],
    }),
    images: createS3ImageStore(s3, services.s3.bucket),
    runs: createTemporalRunStarter({ client, taskQueue: stack.lightQueue }),
    triggers: createS3TriggerStore(s3, services.s3.bucket),
    sources: createS3SourceReader(s3),
  });
  await new Promise<void>((resolve) => {
    api = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, (info) => {
      base = `http://127.0.0.1:${info.port}`;
      resolve();
    });
  });
});

afterAll(async () => {
  await new Promise<void>((r) => (api ? api.close(() => r()) : r()));
  await stack?.close();
  await connection?.close();
  s3.destroy();
});

describe('webhook-triggered edits on the real stack', () => {
  it('a Standard Webhooks delivery starts one run that completes; three redeliveries, also concurrent, start none', async () => {
    const trigger = await createTrigger({
      name: 'cms product photos',
      source: { kind: 'standard-webhooks' },
      image: { from: 's3', bucketPointer: '/data/bucket', keyPointer: '/data/key' },
      allow: { buckets: [{ bucket: inbox, prefix: 'published/' }] },
      run: template,
    });
    const image = await png(1);
    await putInbox(inbox, 'published/shoe.png', image);
    const payload = {
      type: 'product.image.published',
      timestamp: new Date().toISOString(),
      data: { bucket: inbox, key: 'published/shoe.png' },
    };
    const webhookId = `msg_${uniqueName('sw')}`;
    const first = await deliverSigned(trigger, webhookId, payload);
    const accepted = (await first.json()) as Body;
    expect(first.status, JSON.stringify(accepted)).toBe(202);
    const runId = triggerRunId(trigger.id, webhookId);
    expect(accepted.runs).toEqual([
      expect.objectContaining({ id: runId, replayed: false, source: `s3://${inbox}/published/shoe.png` }),
    ]);
    expect(await isStored(image)).toBe(true);

    // The sender retries: once more, then twice at the same time.
    const retries = [
      await deliverSigned(trigger, webhookId, payload),
      ...(await Promise.all([
        deliverSigned(trigger, webhookId, payload),
        deliverSigned(trigger, webhookId, payload),
      ])),
    ];
    for (const res of retries) {
      expect(res.status).toBe(202);
      expect(((await res.json()) as Body).runs).toEqual([
        expect.objectContaining({ id: runId, replayed: true }),
      ]);
    }

    const done = await finished(runId);
    expect(done.error).toBeNull();
    expect(done.status).toBe('succeeded');
    const manifestRes = await fetch(done.result.manifest.url);
    const manifest = RunManifestSchema.parse(await manifestRes.json());
    expect(manifest.input.image.sha256).toBe(sha256Hex(image));
    expect(manifest.outputs).toHaveLength(1);
    expect(await executions(runId)).toBe(1);
    expect((await runsOf(trigger)).map((r) => [r.id, r.status])).toEqual([[runId, 'succeeded']]);
  });

  it('an AWS-format S3 event with two records starts two runs; its redelivery starts none', async () => {
    const trigger = await createTrigger({
      name: 'inbox uploads',
      source: { kind: 's3-events' },
      allow: { buckets: [{ bucket: inbox, prefix: 'uploads/' }] },
      run: template,
    });
    const [a, b] = [await png(2), await png(3)];
    await putInbox(inbox, 'uploads/front view.png', a);
    await putInbox(inbox, 'uploads/side.png', b);
    const record = (key: string, sequencer: string) => ({
      eventVersion: '2.1',
      eventSource: 'aws:s3',
      awsRegion: 'us-east-1',
      eventTime: new Date().toISOString(),
      eventName: 'ObjectCreated:Put',
      userIdentity: { principalId: 'AWS:AIDAEXAMPLE' },
      requestParameters: { sourceIPAddress: '203.0.113.7' },
      responseElements: {
        'x-amz-request-id': 'C3D13FE58DE4C810',
        'x-amz-id-2': 'FMyUVURIY8/IgAtTv8xRjskZQpcIZ9KG4V5Wp6S7S/JRWeUWerMUE5JgHvANOjpD',
      },
      s3: {
        s3SchemaVersion: '1.0',
        configurationId: 'cgm-trigger',
        bucket: {
          name: inbox,
          ownerIdentity: { principalId: 'A3NL1KOZZKExample' },
          arn: `arn:aws:s3:::${inbox}`,
        },
        // S3 URL-encodes keys in notifications, spaces as '+'.
        object: {
          key: key.replace(/ /g, '+'),
          size: 1024,
          eTag: 'd41d8cd98f00b204e9800998ecf8427e',
          sequencer,
        },
      },
    });
    const event = {
      Records: [
        record('uploads/front view.png', '0062E99A88DC407460'),
        record('uploads/side.png', '0062E99A88DC407461'),
      ],
    };
    const post = () =>
      fetch(`${base}${trigger.hookUrl}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-cgm-trigger-secret': trigger.secret },
        body: JSON.stringify(event),
      });
    const res = await post();
    const accepted = (await res.json()) as Body;
    expect(res.status, JSON.stringify(accepted)).toBe(202);
    expect(accepted.runs.map((r: Body) => [r.source, r.replayed])).toEqual([
      [`s3://${inbox}/uploads/front view.png`, false],
      [`s3://${inbox}/uploads/side.png`, false],
    ]);
    const again = (await (await post()).json()) as Body;
    expect(again.runs.map((r: Body) => [r.id, r.replayed])).toEqual(
      accepted.runs.map((r: Body) => [r.id, true]),
    );
    for (const run of accepted.runs) {
      const done = await finished(run.id);
      expect(done.status, JSON.stringify(done.error)).toBe('succeeded');
      expect(await executions(run.id)).toBe(1);
    }
    const listed = await runsOf(trigger);
    expect(listed.map((r) => r.id).sort()).toEqual(accepted.runs.map((r: Body) => r.id).sort());
    inboxTrigger = { id: trigger.id, runIds: accepted.runs.map((r: Body) => r.id) };
  });

  it('the viewer lists the trigger and the runs its delivery started, linking to each run', async () => {
    expect(inboxTrigger, 'the two-record test ran first').not.toBeNull();
    const executablePath =
      process.env.CGM_CHROMIUM ??
      (process.env.PATH ?? '')
        .split(delimiter)
        .map((dir) => join(dir, 'chromium'))
        .find((p) => existsSync(p));
    expect(executablePath, 'chromium on PATH (Debian package) or CGM_CHROMIUM').toBeDefined();
    const browser = await chromium.launch({
      executablePath,
      headless: true,
      args: process.getuid?.() === 0 ? ['--no-sandbox'] : [],
      timeout: 30_000,
    });
    try {
      const page = await browser.newPage();
      page.setDefaultTimeout(30_000);
      const errors: string[] = [];
      page.on('pageerror', (err) => errors.push(err.message));
      await page.goto(`${base}/viewer/triggers/${inboxTrigger!.id}`);
      await page.waitForURL(/\/viewer\/key\?next=/);
      await page.fill('#key', KEY);
      await page.click('#key-submit');
      await page.waitForURL(`${base}/viewer/triggers/${inboxTrigger!.id}`);
      await expect.poll(() => page.locator('#trigger-runs tbody tr').count()).toBe(2);
      expect(await page.textContent('#trigger-title')).toBe('Trigger inbox uploads');
      const runRows = await page.locator('#trigger-runs tbody tr').allTextContents();
      for (const id of inboxTrigger!.runIds) expect(runRows.join('\n')).toContain(id);
      expect(
        runRows.every((row) => row.includes('succeeded') && row.includes(`s3://${inbox}/uploads/`)),
      ).toBe(true);
      await page.click(`#trigger-runs a[href="/viewer/runs/${inboxTrigger!.runIds[0]}"]`);
      await page.waitForURL(`${base}/viewer/runs/${inboxTrigger!.runIds[0]}`);
      // The list page names the trigger among this key's.
      await page.goto(`${base}/viewer/triggers`);
      await expect
        .poll(() => page.locator('#triggers tbody tr').allTextContents())
        .toContainEqual(expect.stringContaining(inboxTrigger!.id));
      expect(errors).toEqual([]);
    } finally {
      await browser.close();
    }
  });

  it('refuses a forged or stale signature, a disallowed bucket and a loopback URL, with nothing stored or started', async () => {
    const s3Webhooks = await createTrigger({
      name: 'refusals',
      source: { kind: 'standard-webhooks' },
      image: { from: 's3', bucketPointer: '/bucket', keyPointer: '/key' },
      allow: { buckets: [{ bucket: inbox, prefix: '' }] },
      run: template,
    });
    const urlWebhooks = await createTrigger({
      name: 'refusals by URL',
      source: { kind: 'standard-webhooks' },
      image: { from: 'url', pointer: '/imageUrl' },
      allow: { urlHosts: ['127.0.0.1', 'localhost'] },
      run: template,
    });
    const image = await png(4);
    await putInbox(inbox, 'refused.png', image);
    await putInbox(elsewhere, 'refused.png', image);
    const payload = { bucket: inbox, key: 'refused.png' };
    const forged = { ...s3Webhooks, secret: generateWebhookSecret() };
    const cases: [Promise<Response>, number, string][] = [
      [deliverSigned(forged, 'msg_forged', payload), 401, 'invalid_signature'],
      [
        deliverSigned(s3Webhooks, 'msg_stale', payload, new Date(Date.now() - 10 * 60_000)),
        401,
        'stale_timestamp',
      ],
      [
        deliverSigned(s3Webhooks, 'msg_elsewhere', { bucket: elsewhere, key: 'refused.png' }),
        422,
        'image_not_allowed',
      ],
      [
        deliverSigned(urlWebhooks, 'msg_loopback', {
          imageUrl: `https://127.0.0.1:${new URL(base).port}/x.png`,
        }),
        422,
        'image_url_forbidden',
      ],
      [
        deliverSigned(urlWebhooks, 'msg_localhost', { imageUrl: 'https://localhost/x.png' }),
        422,
        'image_url_forbidden',
      ],
    ];
    for (const [pending, status, code] of cases) {
      const res = await pending;
      const body = (await res.json()) as Body;
      expect(res.status, JSON.stringify(body)).toBe(status);
      expect(body.error.code).toBe(code);
      expect(body.error.message.length).toBeGreaterThan(10);
    }
    expect(await isStored(image)).toBe(false);
    for (const id of ['msg_forged', 'msg_stale', 'msg_elsewhere'])
      expect(await executions(triggerRunId(s3Webhooks.id, id))).toBe(0);
    for (const id of ['msg_loopback', 'msg_localhost'])
      expect(await executions(triggerRunId(urlWebhooks.id, id))).toBe(0);
    expect(await runsOf(s3Webhooks)).toEqual([]);
    expect(await runsOf(urlWebhooks)).toEqual([]);
  });
});
