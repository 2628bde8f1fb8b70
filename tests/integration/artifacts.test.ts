// The artifact store against the real SeaweedFS S3 started by global-setup.
import { randomBytes } from 'node:crypto';
import { HeadObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { z } from 'zod';
import {
  ArtifactIntegrityError,
  ArtifactNotFoundError,
  ArtifactSchemaError,
  type ArtifactStore,
  createArtifactStore,
  createS3Client,
  sha256Hex,
} from '../../core/artifacts/index.js';

const services = inject('cgmServices');
let client: S3Client;
let store: ArtifactStore;

beforeAll(() => {
  client = createS3Client(services.s3);
  store = createArtifactStore({ client, bucket: services.s3.bucket, prefix: 'test-artifacts' });
});
afterAll(() => client.destroy());

describe('artifact store on SeaweedFS', () => {
  it('round-trips bytes under a content-addressed key', async () => {
    const bytes = new Uint8Array(randomBytes(200_000));
    const { ref, written } = await store.put(bytes, { contentType: 'application/octet-stream' });
    expect(written).toBe(true);
    expect(ref.sha256).toBe(sha256Hex(bytes));
    expect(ref.key).toBe(`test-artifacts/sha256/${ref.sha256.slice(0, 2)}/${ref.sha256}`);
    expect(ref.bytes).toBe(bytes.byteLength);
    const back = await store.get(ref);
    expect(Buffer.from(back).equals(Buffer.from(bytes))).toBe(true);
  });

  it('writes nothing when identical bytes are put again', async () => {
    const bytes = new Uint8Array(randomBytes(1000));
    const first = await store.put(bytes, { contentType: 'application/octet-stream' });
    const before = await client.send(new HeadObjectCommand({ Bucket: first.ref.bucket, Key: first.ref.key }));
    await new Promise((r) => setTimeout(r, 1100)); // LastModified has 1 s resolution
    const second = await store.put(bytes, { contentType: 'application/octet-stream' });
    const after = await client.send(new HeadObjectCommand({ Bucket: first.ref.bucket, Key: first.ref.key }));
    expect(second.written).toBe(false);
    expect(second.ref).toEqual(first.ref);
    expect(after.LastModified?.getTime()).toBe(before.LastModified?.getTime());
    expect(after.ETag).toBe(before.ETag);
  });

  it('refuses an object whose bytes were overwritten behind its back', async () => {
    const bytes = new TextEncoder().encode('the original bytes');
    const { ref } = await store.put(bytes, { contentType: 'text/plain' });
    await client.send(
      new PutObjectCommand({
        Bucket: ref.bucket,
        Key: ref.key,
        Body: new TextEncoder().encode('tampered bytes!!!!'),
      }),
    );
    const error = await store.get(ref).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ArtifactIntegrityError);
    expect((error as Error).message).toContain('is corrupt');
    expect((error as ArtifactIntegrityError).expectedSha256).toBe(ref.sha256);
  });

  it('rewrites a corrupt object of a different size on the next put (repair)', async () => {
    const bytes = new TextEncoder().encode('repair me please');
    const { ref } = await store.put(bytes, { contentType: 'text/plain' });
    await client.send(
      new PutObjectCommand({ Bucket: ref.bucket, Key: ref.key, Body: new Uint8Array([1, 2]) }),
    );
    const again = await store.put(bytes, { contentType: 'text/plain' });
    expect(again.written).toBe(true);
    expect(Buffer.from(await store.get(ref)).toString()).toBe('repair me please');
  });

  it('round-trips JSON validated by a zod schema and rejects a mismatching schema', async () => {
    const Schema = z.object({ name: z.string(), steps: z.number().int() });
    const { ref } = await store.putJson(Schema, { name: 'inversion', steps: 100 });
    expect(ref.contentType).toBe('application/json');
    expect(await store.getJson(Schema, ref)).toEqual({ name: 'inversion', steps: 100 });
    const Other = z.object({ name: z.number() });
    await expect(store.getJson(Other, ref)).rejects.toBeInstanceOf(ArtifactSchemaError);
    // Invalid values never reach S3.
    await expect(store.putJson(Schema, { name: 'x', steps: 1.5 })).rejects.toThrow();
  });

  it('reports a missing object as ArtifactNotFoundError', async () => {
    const sha = sha256Hex(new Uint8Array(randomBytes(16)));
    const ref = {
      bucket: store.bucket,
      key: `test-artifacts/sha256/${sha.slice(0, 2)}/${sha}`,
      sha256: sha,
      bytes: 16,
      contentType: 'x/y',
    };
    await expect(store.get(ref)).rejects.toBeInstanceOf(ArtifactNotFoundError);
  });

  it('serves a presigned GET URL over plain fetch', async () => {
    const bytes = new TextEncoder().encode(`presigned ${Date.now()}`);
    const { ref } = await store.put(bytes, { contentType: 'text/plain' });
    const url = await store.presignGet(ref, 60);
    expect(url.startsWith(services.s3.endpoint)).toBe(true);
    const res = await fetch(url);
    expect(res.status).toBe(200);
    expect(new Uint8Array(await res.arrayBuffer())).toEqual(bytes);
  });

  it('creates a missing bucket on first use, also when several callers race', async () => {
    const bucket = `race-${Date.now()}`;
    const stores = [0, 1, 2].map(() => createArtifactStore({ client, bucket }));
    await Promise.all(stores.map((s) => s.ensureBucket()));
    const { ref } = await stores[0]!.put(new Uint8Array([7]), { contentType: 'application/octet-stream' });
    expect(ref.bucket).toBe(bucket);
    expect(await stores[1]!.get(ref)).toEqual(new Uint8Array([7]));
  });
});
