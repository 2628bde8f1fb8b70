// Upload poisoning across keys, end to end against SeaweedFS: the presigned PUT of POST /v1/uploads
// signs the body's SHA-256 (x-amz-checksum-sha256), which the store verifies. Key B, holding a ticket
// for the hash of A's image (same size, or size + 1), cannot store other bytes under it; A's upload and
// run are unaffected. Uploads are also visible only to the key that made them: B cannot learn that A
// uploaded a hash, nor use A's upload, until it has PUT the same bytes itself; the content is stored once.
import { createHash } from 'node:crypto';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import sharp from 'sharp';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { createApp } from '../../api/app.js';
import { defaultApiConfig } from '../../api/config.js';
import { createS3ImageStore } from '../../api/images.js';
import { hashApiKey, keyIdOf } from '../../api/middleware/auth.js';
import { createMemoryRunStarter } from '../../api/runs/memory.js';
import { createS3Client } from '../../core/artifacts/index.js';

const services = inject('cgmServices');
const KEY_A = 'cgm_integrity_key_a_0123456789';
const KEY_B = 'cgm_integrity_key_b_0123456789';
let app: ReturnType<typeof createApp>;
let images: ReturnType<typeof createS3ImageStore>;
let real: Uint8Array;
let sha: string;

beforeAll(async () => {
  images = createS3ImageStore(createS3Client(services.s3), services.s3.bucket);
  app = createApp({
    config: defaultApiConfig({ keyHashes: [hashApiKey(KEY_A), hashApiKey(KEY_B)] }),
    images,
    runs: createMemoryRunStarter(),
  });
  // Unique bytes per test run, so an earlier run's upload is not already there.
  const fill = Buffer.alloc(96 * 64 * 3, Date.now() % 251);
  real = new Uint8Array(
    await sharp(fill, { raw: { width: 96, height: 64, channels: 3 } })
      .png()
      .toBuffer(),
  );
  sha = createHash('sha256').update(real).digest('hex');
});

async function ticket(key: string, bytes: number) {
  const res = await app.request('/v1/uploads', {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify({ contentType: 'image/png', bytes, sha256: sha }),
  });
  return (await res.json()) as { upload: { url: string; headers: Record<string, string> } | null };
}

const put = (upload: { url: string; headers: Record<string, string> }, body: Uint8Array) =>
  fetch(upload.url, { method: 'PUT', headers: upload.headers, body });

const runNaming = (key: string) =>
  app.request('/v1/counterfactuals', {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify({ image: { sha256: sha }, caption: 'a grey square' }),
  });

describe('presigned uploads', () => {
  it('store only bytes that hash to their address: another key’s garbage never lands', async () => {
    // B gets a ticket for the hash it expects A to use and PUTs garbage of the same length.
    const forB = await ticket(KEY_B, real.byteLength);
    expect(forB.upload).not.toBeNull();
    const garbage = new Uint8Array(real.byteLength).fill(7);
    const poisoned = await put(forB.upload!, garbage);
    expect(poisoned.status).toBe(400);
    expect(await images.head(sha)).toBeNull();

    // A uploads the real bytes and starts a run naming them.
    const forA = await ticket(KEY_A, real.byteLength);
    expect((await put(forA.upload!, real)).ok).toBe(true);
    const run = await app.request('/v1/counterfactuals', {
      method: 'POST',
      headers: { authorization: `Bearer ${KEY_A}`, 'content-type': 'application/json' },
      body: JSON.stringify({ image: { sha256: sha }, caption: 'a grey square' }),
    });
    expect(run.status).toBe(202);

    // B asks again with size + 1 (a fresh ticket) and tries to overwrite: refused, the object stays.
    const again = await ticket(KEY_B, real.byteLength + 1);
    expect(again.upload).not.toBeNull();
    const over = await put(again.upload!, new Uint8Array(real.byteLength + 1).fill(9));
    expect(over.status).toBe(400);
    const head = await images.head(sha);
    expect(head?.bytes).toBe(real.byteLength);
    const stored = await images.get({
      bucket: services.s3.bucket,
      key: `uploads/sha256/${sha.slice(0, 2)}/${sha}`,
      sha256: sha,
      bytes: real.byteLength,
      contentType: 'image/png',
    });
    expect(Buffer.from(stored).equals(Buffer.from(real))).toBe(true);
  });

  it('are visible only to the key that made them; the content is stored once', async () => {
    // A has uploaded and used the bytes (above). B is told nothing of it: a fresh ticket, not
    // `alreadyUploaded`, and its run naming the hash is refused as if nothing were stored.
    const forB = await ticket(KEY_B, real.byteLength);
    expect(forB.upload).not.toBeNull();
    expect(forB.upload!.url).toContain(`uploads/keys/${keyIdOf(hashApiKey(KEY_B))}/${sha}`);
    const refused = await runNaming(KEY_B);
    expect(refused.status).toBe(422);
    expect(((await refused.json()) as { error: { code: string } }).error.code).toBe('unknown_artifact');
    // A sees its own upload as uploaded.
    expect((await ticket(KEY_A, real.byteLength)).upload).toBeNull();
    // Once B PUTs the same bytes itself it may use them; the shared content object is unchanged.
    expect((await put(forB.upload!, real)).ok).toBe(true);
    expect((await runNaming(KEY_B)).status).toBe(202);
    expect((await images.head(sha))?.bytes).toBe(real.byteLength);
    expect((await images.forKey(keyIdOf(hashApiKey(KEY_B))).head(sha))?.bytes).toBe(real.byteLength);
  });

  it('shared content corrupted behind the API answers 422 artifact_corrupt once, then heals', async () => {
    // Someone with bucket access overwrites the content address (no API path can).
    const client = createS3Client(services.s3);
    const contentKey = `uploads/sha256/${sha.slice(0, 2)}/${sha}`;
    await client.send(
      new PutObjectCommand({
        Bucket: services.s3.bucket,
        Key: contentKey,
        Body: new Uint8Array(real.byteLength).fill(3),
        ContentType: 'image/png',
      }),
    );
    const corrupt = await runNaming(KEY_A);
    expect(corrupt.status).toBe(422);
    expect(((await corrupt.json()) as { error: { code: string } }).error.code).toBe('artifact_corrupt');
    // The corrupt object was removed; the next run copies A's own verified upload again.
    expect(await images.head(sha)).toBeNull();
    expect((await runNaming(KEY_A)).status).toBe(202);
    const healed = await images.get({
      bucket: services.s3.bucket,
      key: contentKey,
      sha256: sha,
      bytes: real.byteLength,
      contentType: 'image/png',
    });
    expect(Buffer.from(healed).equals(Buffer.from(real))).toBe(true);
    client.destroy();
  });
});
