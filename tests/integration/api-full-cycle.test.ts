// The whole product path on the real stack: the API served on loopback with the Temporal run starter,
// the real counterfactualWorkflow on in-process light + GPU workers (tiny model), SeaweedFS for
// uploads and artifacts, a fake OpenAI-compatible VLM that propagates the user's do() and judges the
// result, and a loopback webhook receiver that verifies the signature with the standardwebhooks package.
import { readFileSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { serve } from '@hono/node-server';
import { Client, Connection } from '@temporalio/client';
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { judgeChecklist } from '../../activities/vlm/judge.js';
import { generateWebhookSecret } from '../../activities/webhooks/index.js';
import { createApp } from '../../api/app.js';
import { defaultApiConfig } from '../../api/config.js';
import { createS3ImageStore } from '../../api/images.js';
import { hashApiKey } from '../../api/middleware/auth.js';
import { createTemporalRunStarter } from '../../api/runs/temporal.js';
import { createS3Client, sha256Hex } from '../../core/artifacts/index.js';
import { ConceptGraphSchema, InterventionSetSchema } from '../../core/schemas/paper.js';
import { RunManifestSchema } from '../../core/schemas/run-manifest.js';
import { chatCompletion, type FakeVlmServer, startFakeVlmServer } from '../support/fake-vlm-server.js';
import { startTinyStack, type TinyStack } from './api-tiny-stack.js';

// Response JSON is navigated freely in assertions; a wrong path fails the assertion.
// biome-ignore lint/suspicious/noExplicitAny: see above
type Body = any;

const services = inject('cgmServices');
const EXAMPLE = fileURLToPath(new URL('../../examples/rainy-street/', import.meta.url));
const KEY = 'cgm_full_cycle_key_7d41c0';
const secret = generateWebhookSecret();
const graph = ConceptGraphSchema.parse(JSON.parse(readFileSync(`${EXAMPLE}graph.json`, 'utf8')));
const sunny = InterventionSetSchema.parse(JSON.parse(readFileSync(`${EXAMPLE}interventions.json`, 'utf8')))
  .interventions[0];
const caption = readFileSync(`${EXAMPLE}caption.txt`, 'utf8').trim();
const devPolicy = { allowPrivate: true, allowHttp: true, allowedHosts: [] };

let vlm: FakeVlmServer;
let stack: TinyStack;
let connection: Connection;
let api: ReturnType<typeof serve>;
let base: string;
let receiver: Server;
let hookUrl: string;
const hooks: { headers: IncomingHttpHeaders; body: string }[] = [];
const s3 = createS3Client(services.s3);
const auth = { authorization: `Bearer ${KEY}` };

async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, ms = 180_000): Promise<T> {
  const until = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** Bytes behind a presigned URL, checked against the sha256 its ref promised. */
async function fetchVerified(ref: { url: string; sha256: string }): Promise<Uint8Array> {
  const res = await fetch(ref.url);
  expect(res.status).toBe(200);
  const bytes = new Uint8Array(await res.arrayBuffer());
  expect(sha256Hex(bytes)).toBe(ref.sha256);
  return bytes;
}

beforeAll(async () => {
  receiver = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => {
      body += c;
    });
    req.on('end', () => {
      hooks.push({ headers: req.headers, body });
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
  hookUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/cgm-hook`;

  vlm = await startFakeVlmServer();
  stack = await startTinyStack({
    temporal: services.temporal,
    s3: services.s3,
    vlmBaseURL: vlm.baseURL,
    webhooks: { secret, policy: devPolicy },
    name: 'full-cycle',
  });
  connection = await Connection.connect({ address: services.temporal.address });
  const client = new Client({ connection, namespace: services.temporal.namespace });
  const app = createApp({
    // The development webhook policy (loopback over http), narrowed to the receiver's host.
    config: defaultApiConfig({
      keyHashes: [hashApiKey(KEY)],
      taskQueue: stack.lightQueue,
      gpuTaskQueue: stack.gpuQueue,
      webhookPolicy: { ...devPolicy, allowedHosts: ['127.0.0.1'] },
      webhookSecrets: { current: secret },
    }),
    images: createS3ImageStore(s3, services.s3.bucket),
    runs: createTemporalRunStarter({ client, taskQueue: stack.lightQueue }),
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
  await vlm?.close();
  s3.destroy();
  await new Promise<void>((r) => (receiver ? receiver.close(() => r()) : r()));
});

describe('full cycle through the HTTP API on the tiny model', () => {
  it('upload → do() run → status → artifacts by presigned URL → verified webhook', async () => {
    // The VLM propagates do(weather = sunny weather), then judges the one CSG output.
    const judged = { ...sunny, id: 'do_1' };
    vlm.enqueue(
      { body: chatCompletion(JSON.stringify({ interventions: [{ ...sunny, id: 'intervention_1' }] })) },
      {
        body: chatCompletion(
          JSON.stringify({
            intervention_id: 'do_1',
            concept_checks: judgeChecklist(judged, graph).map((c) => ({
              concept_name: c.concept_name,
              expected_value: c.expected_value,
              present: 'yes',
            })),
            verdict: 'success',
            reasoning: 'the street is sunny and dry',
          }),
        ),
      },
    );

    // 1. Presigned upload: ask for a ticket, PUT the exact bytes straight to S3.
    const image = new Uint8Array(readFileSync(`${EXAMPLE}image.png`));
    const sha = sha256Hex(image);
    const post = (path: string, body: unknown, extra: Record<string, string> = {}) =>
      fetch(`${base}${path}`, {
        method: 'POST',
        headers: { ...auth, 'content-type': 'application/json', ...extra },
        body: JSON.stringify(body),
      });
    const ticketRes = await post('/v1/uploads', {
      contentType: 'image/png',
      bytes: image.byteLength,
      sha256: sha,
    });
    const ticket = (await ticketRes.json()) as Body;
    if (ticketRes.status === 201) {
      const put = await fetch(ticket.upload.url, {
        method: 'PUT',
        headers: ticket.upload.headers,
        body: Buffer.from(image),
      });
      expect(put.status).toBe(200);
    } else {
      expect(ticketRes.status).toBe(200); // stored by an earlier run of this file: same bytes, same key
      expect(ticket.alreadyUploaded).toBe(true);
    }

    // 2. Start the run by sha256: the user's graph and a bare do(), 4 inversion steps, CSG only.
    const started = await post(
      '/v1/counterfactuals',
      {
        image: { sha256: sha },
        caption,
        graph,
        do: [{ concept: 'weather', value: 'sunny weather' }],
        methods: ['csg'],
        settings: { inversionSteps: 4, editWarmupSteps: 1, seed: 11 },
        webhookUrl: hookUrl,
      },
      { 'idempotency-key': `full-cycle-${stack.lightQueue}` },
    );
    expect(started.status).toBe(202);
    const accepted = (await started.json()) as Body;
    expect(accepted.image).toMatchObject({ sha256: sha, contentType: 'image/png', width: 256, height: 256 });

    // 3. Poll the status until the run ends; progress is the workflow's own query answer.
    const phases = new Set<string>();
    const done = await waitFor('the run to finish', async () => {
      const r = (await (await fetch(`${base}${accepted.statusUrl}`, { headers: auth })).json()) as Body;
      if (r.progress?.phase) phases.add(r.progress.phase);
      return r.status === 'running' ? undefined : r;
    });
    expect(done.error).toBeNull();
    expect(done.status).toBe('succeeded');
    expect(done.result).toMatchObject({ runId: accepted.id, status: 'succeeded', outputs: 1 });
    expect(phases.size).toBeGreaterThan(0);

    // 4. Artifacts: the manifest through the result's presigned URL, the images through the
    //    manifest route's presigned URLs; every byte checked against its sha256.
    const manifest = RunManifestSchema.parse(
      JSON.parse(new TextDecoder().decode(await fetchVerified(done.result.manifest))),
    );
    expect(manifest.status).toBe('succeeded');
    expect(manifest.input.image.sha256).toBe(sha);
    expect(manifest.interventions).toMatchObject([
      { source: 'user', intervention: { id: 'do_1', target_concept_id: 'c1', new_value: 'sunny weather' } },
    ]);
    expect(manifest.vlmAttempts.map((a) => `${a.prompt}@${a.interventionId}`)).toEqual([
      'propagate@do_1',
      'judge@do_1',
    ]);
    expect(manifest.outputs).toHaveLength(1);
    expect(manifest.outputs[0].judge?.checklistScore).toBe(1);
    expect(vlm.pending()).toBe(0);
    const withUrls = (await (
      await fetch(`${base}/v1/counterfactuals/${accepted.id}/manifest`, { headers: auth })
    ).json()) as Body;
    const output = withUrls.outputs[0];
    expect(output.image.sha256).toBe(manifest.outputs[0].image.sha256);
    const png = await fetchVerified(output.image);
    expect(Buffer.from(png.subarray(1, 4)).toString('latin1')).toBe('PNG');
    expect(output.masks.length).toBeGreaterThan(0);
    for (const mask of output.masks) await fetchVerified(mask);
    await fetchVerified(withUrls.input.preprocessed);

    // 5. The webhook arrived once, signed with this key's own secret (as GET /v1/webhook-secret gives
    // it, derived from the operator's), naming the run and its manifest by content, not by location.
    await waitFor('the webhook', async () => (hooks.length > 0 ? true : undefined), 30_000);
    expect(hooks).toHaveLength(1);
    const own = ((await (await fetch(`${base}/v1/webhook-secret`, { headers: auth })).json()) as Body).secret;
    const payload = new Webhook(own).verify(hooks[0].body, hooks[0].headers as Record<string, string>);
    expect(() =>
      new Webhook(secret).verify(hooks[0].body, hooks[0].headers as Record<string, string>),
    ).toThrow();
    expect(JSON.parse(hooks[0].body).data.manifest).toEqual({
      sha256: done.result.manifest.sha256,
      bytes: done.result.manifest.bytes,
      contentType: done.result.manifest.contentType,
    });
    expect(hooks[0].headers['webhook-id']).toBe(`${accepted.id}:succeeded`);
    expect(payload).toMatchObject({
      type: 'run.succeeded',
      data: { runId: accepted.id, status: 'succeeded', manifest: { sha256: done.result.manifest.sha256 } },
    });
    expect(() =>
      new Webhook(generateWebhookSecret()).verify(hooks[0].body, hooks[0].headers as Record<string, string>),
    ).toThrow();
  });
});
