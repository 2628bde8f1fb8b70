// The API served on a real port, against the real local stack: SeaweedFS for images (presigned PUT
// and GET), the Temporal dev server for runs (a stub counterfactualWorkflow on a real Worker), and a
// loopback webhook receiver verified with the standardwebhooks package.
import { readFileSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { HeadObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { serve } from '@hono/node-server';
import { Client, Connection } from '@temporalio/client';
import { DefaultLogger, NativeConnection, Runtime, Worker } from '@temporalio/worker';
import sharp from 'sharp';
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createWebhookActivities, generateWebhookSecret } from '../../activities/webhooks/index.js';
import { createApp } from '../../api/app.js';
import { runIdForIdempotencyKey } from '../../api/canonical.js';
import { defaultApiConfig } from '../../api/config.js';
import { createS3ImageStore, ownerKey, UPLOAD_PREFIX } from '../../api/images.js';
import { hashApiKey, keyIdOf } from '../../api/middleware/auth.js';
import { createTemporalRunStarter } from '../../api/runs/temporal.js';
import { contentKey, createS3Client, sha256Hex } from '../../core/artifacts/index.js';

// Response JSON is navigated freely in assertions; a wrong path fails the assertion.
// biome-ignore lint/suspicious/noExplicitAny: see above
type Body = any;

const services = inject('cgmServices');
const KEY = 'cgm_integration_key_5f2a9c';
const secret = generateWebhookSecret();
const graph = JSON.parse(readFileSync(new URL('../fixtures/graphs/valid.json', import.meta.url), 'utf8'));
const taskQueue = `api-test-${Date.now()}`;

let s3: S3Client;
let connection: Connection;
let nativeConnection: NativeConnection;
let client: Client;
let worker: Worker;
let workerRun: Promise<void>;
let api: ReturnType<typeof serve>;
let base: string;
let receiver: Server;
let hookUrl: string;
const hooks: { headers: IncomingHttpHeaders; body: string }[] = [];
let hookFailuresLeft = 1; // the first delivery gets a 503, so the activity must retry

async function png(width: number, height: number, fill: number): Promise<Uint8Array> {
  const raw = Buffer.alloc(width * height * 3, fill);
  return new Uint8Array(
    await sharp(raw, { raw: { width, height, channels: 3 } })
      .png()
      .toBuffer(),
  );
}

const auth = { authorization: `Bearer ${KEY}` };
const json = (body: unknown, extra: Record<string, string> = {}) => ({
  method: 'POST',
  headers: { ...auth, 'content-type': 'application/json', ...extra },
  body: JSON.stringify(body),
});

/** Whether the content address of `sha` (or, given a key id, that key's own upload of it) exists. */
async function s3Has(sha: string, keyId?: string): Promise<boolean> {
  const key = keyId ? ownerKey(keyId, sha) : contentKey(UPLOAD_PREFIX, sha);
  try {
    await s3.send(new HeadObjectCommand({ Bucket: services.s3.bucket, Key: key }));
    return true;
  } catch {
    return false;
  }
}

async function waitFor<T>(what: string, fn: () => Promise<T | undefined>, ms = 60_000): Promise<T> {
  const until = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

beforeAll(async () => {
  try {
    Runtime.install({ logger: new DefaultLogger('WARN') });
  } catch {
    // installed by another file in this process
  }
  receiver = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => {
      body += c;
    });
    req.on('end', () => {
      hooks.push({ headers: req.headers, body });
      if (hookFailuresLeft-- > 0) res.writeHead(503).end();
      else res.writeHead(204).end();
    });
  });
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
  hookUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/cgm-hook`;

  s3 = createS3Client(services.s3);
  connection = await Connection.connect({ address: services.temporal.address });
  nativeConnection = await NativeConnection.connect({ address: services.temporal.address });
  client = new Client({ connection, namespace: services.temporal.namespace });
  const devPolicy = { allowPrivate: true, allowHttp: true, allowedHosts: [] };
  worker = await Worker.create({
    connection: nativeConnection,
    namespace: services.temporal.namespace,
    taskQueue,
    workflowsPath: fileURLToPath(new URL('./api-stub-workflow.ts', import.meta.url)),
    activities: createWebhookActivities({ policy: devPolicy, secret }),
  });
  workerRun = worker.run();

  const app = createApp({
    // Development policy: loopback allowed, but only the receiver's host is on the allow-list.
    config: defaultApiConfig({
      keyHashes: [hashApiKey(KEY)],
      taskQueue,
      webhookPolicy: { ...devPolicy, allowedHosts: ['127.0.0.1'] },
    }),
    images: createS3ImageStore(s3, services.s3.bucket),
    runs: createTemporalRunStarter({ client, taskQueue }),
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
  worker?.shutdown();
  await workerRun?.catch(() => {});
  await connection?.close();
  await nativeConnection?.close();
  s3?.destroy();
  await new Promise<void>((r) => (receiver ? receiver.close(() => r()) : r()));
});

describe('API on the real stack', () => {
  it('upload → run → status → artifacts → signed webhook (retried with the same id)', async () => {
    const image = await png(96, 64, 90);
    const sha = sha256Hex(image);

    // 1. Presigned upload, PUT straight to S3.
    const ticketRes = await fetch(
      `${base}/v1/uploads`,
      json({ contentType: 'image/png', bytes: image.byteLength, sha256: sha }),
    );
    expect(ticketRes.status).toBe(201);
    const ticket = (await ticketRes.json()) as {
      upload: { url: string; method: string; headers: Record<string, string> };
    };
    const put = await fetch(ticket.upload.url, {
      method: 'PUT',
      headers: ticket.upload.headers,
      body: Buffer.from(image),
    });
    expect(put.status).toBe(200);
    // The PUT lands on the key's own upload; the content address is written when a run first uses it.
    expect(await s3Has(sha, keyIdOf(hashApiKey(KEY)))).toBe(true);

    // 2. Start the run by sha256, with an Idempotency-Key; a replay returns the same run.
    const body = { image: { sha256: sha }, caption: 'a grey field', methods: ['csg'], webhookUrl: hookUrl };
    const started = await fetch(
      `${base}/v1/counterfactuals`,
      json(body, { 'idempotency-key': `cycle-${taskQueue}` }),
    );
    expect(started.status).toBe(202);
    expect(await s3Has(sha)).toBe(true);
    const accepted = (await started.json()) as { id: string; statusUrl: string; replayed: boolean };
    expect(accepted.id).toBe(runIdForIdempotencyKey(keyIdOf(hashApiKey(KEY)), `cycle-${taskQueue}`));
    expect(accepted.replayed).toBe(false);
    const replay = await fetch(
      `${base}/v1/counterfactuals`,
      json(body, { 'idempotency-key': `cycle-${taskQueue}` }),
    );
    expect(replay.status).toBe(202);
    expect((await replay.json()) as { id: string; replayed: boolean }).toMatchObject({
      id: accepted.id,
      replayed: true,
    });

    // 3. Poll status until done; the result's artifacts carry presigned URLs that serve the bytes.
    const done = await waitFor('run to finish', async () => {
      const r = (await (await fetch(`${base}${accepted.statusUrl}`, { headers: auth })).json()) as Body;
      return r.status === 'running' ? undefined : r;
    });
    expect(done.status).toBe('succeeded');
    const output = done.result.outputs[0];
    expect(output.image.sha256).toBe(sha);
    const artifact = await fetch(output.image.url);
    expect(artifact.status).toBe(200);
    expect(sha256Hex(new Uint8Array(await artifact.arrayBuffer()))).toBe(sha);

    // 4. The webhook: first attempt got 503, the retry was accepted; same id, both verify.
    await waitFor('webhook retry', async () => (hooks.length >= 2 ? true : undefined));
    expect(hooks.map((h) => h.headers['webhook-id'])).toEqual([
      `${accepted.id}:completed`,
      `${accepted.id}:completed`,
    ]);
    for (const h of hooks) {
      const payload = new Webhook(secret).verify(h.body, h.headers as Record<string, string>);
      expect(payload).toMatchObject({
        type: 'counterfactual.completed',
        data: { id: accepted.id, status: 'succeeded' },
      });
    }

    // 5. Only one workflow exists for that key, even after the replay.
    const ids: string[] = [];
    for await (const wf of client.workflow.list({ query: `WorkflowId = '${accepted.id}'` }))
      ids.push(wf.workflowId);
    expect(ids.length).toBeLessThanOrEqual(1); // visibility may lag; never more than one
  });

  it('multipart start, progress while running, DELETE cancels', async () => {
    const image = await png(80, 80, 30);
    const form = new FormData();
    form.set('image', new File([Buffer.from(image)], 'x.png', { type: 'image/png' }));
    form.set('request', JSON.stringify({ caption: 'wait' }));
    const res = await fetch(`${base}/v1/counterfactuals`, { method: 'POST', headers: auth, body: form });
    expect(res.status).toBe(202);
    const { id, statusUrl } = (await res.json()) as { id: string; statusUrl: string };
    expect(await s3Has(sha256Hex(image))).toBe(true);
    const running = await waitFor('progress answer', async () => {
      const r = (await (await fetch(`${base}${statusUrl}`, { headers: auth })).json()) as Body;
      return r.progress ? r : undefined;
    });
    expect(running).toMatchObject({ id, status: 'running', progress: { stage: 'describe' } });
    const del = await fetch(`${base}${statusUrl}`, { method: 'DELETE', headers: auth });
    expect(del.status).toBe(202);
    const after = await waitFor('cancellation', async () => {
      const r = (await (await fetch(`${base}${statusUrl}`, { headers: auth })).json()) as Body;
      return r.status === 'running' ? undefined : r;
    });
    expect(after.status).toBe('cancelled');
    const again = await fetch(`${base}${statusUrl}`, { method: 'DELETE', headers: auth });
    expect(again.status).toBe(409);
  });

  it('refused requests start no workflow and store no image', async () => {
    const image = await png(70, 70, 11);
    const sha = sha256Hex(image);
    const ownerKeyId = keyIdOf(hashApiKey(KEY));
    const noRun = async (idemKey: string) => {
      const handle = client.workflow.getHandle(runIdForIdempotencyKey(ownerKeyId, idemKey));
      await expect(handle.describe()).rejects.toThrow();
    };
    const multipart = (bytes: Uint8Array | string, request: unknown, type = 'image/png') => {
      const form = new FormData();
      form.set('image', new File([typeof bytes === 'string' ? bytes : Buffer.from(bytes)], 'x', { type }));
      form.set('request', typeof request === 'string' ? request : JSON.stringify(request));
      return form;
    };
    const cases: [string, RequestInit & { headers?: Record<string, string> }, number, string][] = [
      ['no key', { method: 'POST', body: multipart(image, {}) }, 401, 'unauthorized'],
      [
        'wrong key',
        { method: 'POST', headers: { authorization: 'Bearer nope' }, body: multipart(image, {}) },
        401,
        'unauthorized',
      ],
      [
        'text as png',
        { method: 'POST', headers: auth, body: multipart('plain text', {}) },
        422,
        'invalid_image',
      ],
      [
        'malformed json',
        { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: '{"image":' },
        400,
        'malformed_json',
      ],
      [
        'unknown field',
        { method: 'POST', headers: auth, body: multipart(image, { caption: 'x', seed: 1 }) },
        400,
        'unknown_field',
      ],
      [
        'private webhook',
        { method: 'POST', headers: auth, body: multipart(image, { webhookUrl: 'https://10.0.0.8/x' }) },
        422,
        'webhook_url_forbidden',
      ],
      [
        'oversized',
        { method: 'POST', headers: auth, body: multipart(new Uint8Array(21 * 1024 * 1024), {}) },
        413,
        'payload_too_large',
      ],
      [
        'unknown concept',
        {
          method: 'POST',
          headers: auth,
          body: multipart(image, { graph, do: [{ concept: 'c42', value: 'rain' }] }),
        },
        422,
        'unknown_concept',
      ],
      [
        'json names no upload',
        {
          method: 'POST',
          headers: { ...auth, 'content-type': 'application/json' },
          body: JSON.stringify({ image: { sha256: sha }, caption: 'x' }),
        },
        422,
        'unknown_artifact',
      ],
      [
        'too wide',
        { method: 'POST', headers: auth, body: multipart(await png(4097, 64, 11), {}) },
        422,
        'image_dimensions',
      ],
    ];
    for (const [name, init, status, code] of cases) {
      const idemKey = `bad-${name.replaceAll(' ', '-')}-${taskQueue}`;
      const headers = { ...(init.headers ?? {}), 'idempotency-key': idemKey };
      const res = await fetch(`${base}/v1/counterfactuals`, { ...init, headers });
      expect({ name, status: res.status }).toEqual({ name, status });
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe(code);
      await noRun(idemKey);
    }
    expect(await s3Has(sha)).toBe(false);

    // Reused key with another body: 409, the second image is not stored.
    const other = await png(70, 70, 12);
    const key = { 'idempotency-key': `reuse-${taskQueue}` };
    const first = await fetch(`${base}/v1/counterfactuals`, {
      method: 'POST',
      headers: { ...auth, ...key },
      body: multipart(image, { caption: 'wait' }),
    });
    expect(first.status).toBe(202);
    const second = await fetch(`${base}/v1/counterfactuals`, {
      method: 'POST',
      headers: { ...auth, ...key },
      body: multipart(other, { caption: 'wait' }),
    });
    expect(second.status).toBe(409);
    expect(((await second.json()) as { error: { code: string } }).error.code).toBe('idempotency_conflict');
    expect(await s3Has(sha256Hex(other))).toBe(false);
    await client.workflow.getHandle(((await first.json()) as { id: string }).id).terminate('test cleanup');
  });
});
