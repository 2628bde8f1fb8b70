// `cgm triggers` as a user runs it (a real process through bin/cgm.mjs) against the API served on
// loopback over in-memory runs, images, triggers and S3 sources: create prints the secret once, send
// signs a delivery the hook accepts (a repeated --id is the same run), pause makes send fail with the
// API's own error, delete removes it. Also: every source kind's test delivery passes the API's checks.
import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { serve } from '@hono/node-server';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateWebhookSecret } from '../../activities/webhooks/signing.js';
import { createApp } from '../../api/app.js';
import { defaultApiConfig } from '../../api/config.js';
import { createMemoryImageStore } from '../../api/images.js';
import { hashApiKey } from '../../api/middleware/auth.js';
import { createMemoryRunStarter } from '../../api/runs/memory.js';
import { createMemorySourceReader } from '../../api/triggers/s3-source.js';
import { TriggerSourceSchema } from '../../api/triggers/schemas.js';
import { createMemoryTriggerStore } from '../../api/triggers/store.js';
import { verifyDelivery } from '../../api/triggers/verify.js';
import { deliveryHeaders } from '../../cli/trigger-delivery.js';

// biome-ignore lint/suspicious/noExplicitAny: CLI JSON output is navigated freely in assertions
type Body = any;

const root = fileURLToPath(new URL('../..', import.meta.url));
const KEY = 'cgm_cli_trigger_key_0123456789';
const TIMEOUT_MS = 60_000;
const dir = mkdtempSync(join(tmpdir(), 'cgm-cli-triggers-'));
let server: ReturnType<typeof serve>;
let base: string;
const runs = createMemoryRunStarter();

function cgm(
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['bin/cgm.mjs', 'triggers', ...args],
      {
        cwd: root,
        env: { ...process.env, CGM_API_URL: base, CGM_API_KEY: KEY, ...env },
        timeout: TIMEOUT_MS,
      },
      (err, stdout, stderr) =>
        resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr }),
    );
  });
}

beforeAll(async () => {
  const png = await sharp({ create: { width: 96, height: 64, channels: 3, background: '#406080' } })
    .png()
    .toBuffer();
  const app = createApp({
    config: defaultApiConfig({
      keyHashes: [hashApiKey(KEY)],
      webhookSecrets: { current: generateWebhookSecret() },
      triggerBuckets: ['inbox'],
    }),
    images: createMemoryImageStore('artifacts'),
    runs,
    triggers: createMemoryTriggerStore(),
    sources: createMemorySourceReader(
      new Map([['inbox/new/a.png', { bytes: new Uint8Array(png), contentType: 'image/png' }]]),
    ),
  });
  await new Promise<void>((resolve) => {
    server = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, (info) => {
      base = `http://127.0.0.1:${info.port}`;
      resolve();
    });
  });
});

afterAll(async () => {
  await new Promise<void>((r) => server.close(() => r()));
});

describe('cgm triggers', () => {
  it(
    'create → list → send (twice with one id) → runs → rotate-secret → pause → send refused → delete',
    async () => {
      writeFileSync(
        join(dir, 'trigger.json'),
        JSON.stringify({
          name: 'cli test',
          source: { kind: 'standard-webhooks' },
          image: { from: 's3', bucketPointer: '/data/bucket', keyPointer: '/data/key' },
          allow: { buckets: [{ bucket: 'inbox', prefix: 'new/' }] },
          run: { caption: 'a blue wall', methods: ['csg'], judge: false },
        }),
      );
      writeFileSync(
        join(dir, 'payload.json'),
        JSON.stringify({ data: { bucket: 'inbox', key: 'new/a.png' } }),
      );
      const created = await cgm(['create', join(dir, 'trigger.json')]);
      expect(created.code, created.stderr).toBe(0);
      const trigger = JSON.parse(created.stdout) as Body;
      expect(trigger.secret).toMatch(/^whsec_/);
      expect(created.stderr).toContain('shown only now');
      writeFileSync(join(dir, 'secret'), `${trigger.secret}\n`);

      const list = await cgm(['list']);
      expect(list.stdout).toMatch(
        new RegExp(`^${trigger.id} +standard-webhooks +active +\\S+ +cli test$`, 'm'),
      );

      const send = (id: string, secretFile = join(dir, 'secret')) =>
        cgm(['send', trigger.id, join(dir, 'payload.json'), '--secret-file', secretFile, '--id', id]);
      const first = await send('msg_cli_1');
      expect(first.code, first.stderr).toBe(0);
      const firstRuns = (JSON.parse(first.stdout) as Body).runs;
      expect(firstRuns).toEqual([
        expect.objectContaining({ replayed: false, source: 's3://inbox/new/a.png' }),
      ]);
      const second = await send('msg_cli_1');
      expect((JSON.parse(second.stdout) as Body).runs).toEqual([{ ...firstRuns[0], replayed: true }]);
      expect(runs.runs.size).toBe(1);

      const listed = await cgm(['runs', trigger.id]);
      expect(listed.stdout).toMatch(new RegExp(`^${firstRuns[0].id} +running `, 'm'));

      writeFileSync(join(dir, 'wrong'), generateWebhookSecret());
      const forged = await send('msg_cli_2', join(dir, 'wrong'));
      expect(forged.code).toBe(77);
      expect(forged.stderr).toMatch(/invalid_signature \(webhook-signature\)/);

      const rotated = await cgm(['rotate-secret', trigger.id]);
      expect(rotated.code, rotated.stderr).toBe(0);
      const newSecret = (JSON.parse(rotated.stdout) as Body).secret;
      expect(newSecret).not.toBe(trigger.secret);
      expect((await send('msg_cli_4')).code).toBe(77); // the old secret stopped
      writeFileSync(join(dir, 'secret'), newSecret);
      expect((await send('msg_cli_4')).code).toBe(0);

      expect((await cgm(['pause', trigger.id])).code).toBe(0);
      const paused = await send('msg_cli_3');
      expect(paused.code).toBe(1);
      expect(paused.stderr).toMatch(/send \(delivery msg_cli_3\): trigger_paused/);
      expect(runs.runs.size).toBe(2);

      expect((await cgm(['delete', trigger.id])).code).toBe(0);
      expect((await cgm(['list'])).stdout).toBe('no triggers\n');
      const gone = await cgm(['show', trigger.id]);
      expect(gone.code).toBe(1);
      expect(gone.stderr).toMatch(/not_found/);
    },
    TIMEOUT_MS * 3,
  );

  it(
    'says what is missing: the key, the secret, the API',
    async () => {
      expect((await cgm(['list'], { CGM_API_KEY: '' })).stderr).toMatch(/no API key: set CGM_API_KEY/);
      const unknown = await cgm(['send', 'trg_000000000000000000000000', join(dir, 'payload.json')]);
      expect(unknown.code).toBe(1);
      expect(unknown.stderr).toMatch(/send: not_found \(id\): no trigger 'trg_0{24}'/);
      const down = await cgm(['list'], { CGM_API_URL: 'http://127.0.0.1:9' });
      expect(down.code).toBe(69);
      expect(down.stderr).toMatch(/cannot reach the API at http:\/\/127\.0\.0\.1:9/);
    },
    TIMEOUT_MS * 3,
  );
});

describe('test deliveries pass the API’s verification for every source kind', () => {
  const secret = generateWebhookSecret();
  const body = JSON.stringify({ data: { url: 'https://images.example.com/a.png' } });
  it.each([
    [{ kind: 'standard-webhooks' }, 'msg_1'],
    [{ kind: 's3-events' }, null],
    [{ kind: 'json-hmac' }, `sha256:`],
    [
      {
        kind: 'json-hmac',
        encoding: 'base64',
        timestampHeader: 'X-Timestamp',
        deliveryIdHeader: 'X-Delivery',
      },
      'msg_1',
    ],
  ])('%j', (raw, expectedId) => {
    const source = TriggerSourceSchema.parse(raw);
    const headers = deliveryHeaders(source, secret, 'msg_1', body, 1_800_000_000);
    const header = (n: string) => headers[n.toLowerCase()];
    const verified = verifyDelivery(source, [secret], body, header, 1_800_000_010);
    if (expectedId === 'sha256:') expect(verified.deliveryId).toMatch(/^sha256:[0-9a-f]{64}$/);
    else expect(verified.deliveryId).toBe(expectedId);
    expect(() => verifyDelivery(source, [generateWebhookSecret()], body, header, 1_800_000_010)).toThrow(
      /secret|signature/,
    );
  });
});
