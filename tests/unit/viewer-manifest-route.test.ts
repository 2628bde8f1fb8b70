// GET /v1/counterfactuals/{id}/manifest through app.request(), with in-memory runs and images: the
// owner's rule of GET /v1/counterfactuals/{id}, 409 until the manifest exists, presigned URLs on every
// ArtifactRef once it does (also for a failed run, found through the progress query), 500 for a
// manifest that does not match its schema.
import { beforeEach, describe, expect, it } from 'vitest';
import { createApp } from '../../api/app.js';
import { defaultApiConfig } from '../../api/config.js';
import { createMemoryImageStore } from '../../api/images.js';
import { hashApiKey, keyIdOf } from '../../api/middleware/auth.js';
import { createMemoryRunStarter, type MemoryRunStarter } from '../../api/runs/memory.js';
import type { RunManifest } from '../../core/schemas/run-manifest.js';
import { CounterfactualInputSchema } from '../../core/schemas/workflow-io.js';

const KEY = 'cgm_manifest_key_0123456789';
const OTHER = 'cgm_manifest_other_987654321';
const RUN = 'cf-0123456789abcdef';

let runs: MemoryRunStarter;
let images: ReturnType<typeof createMemoryImageStore>;
let app: ReturnType<typeof createApp>;

beforeEach(() => {
  runs = createMemoryRunStarter();
  images = createMemoryImageStore('bucket');
  app = createApp({
    config: defaultApiConfig({ keyHashes: [hashApiKey(KEY), hashApiKey(OTHER)] }),
    images,
    runs,
  });
});

const get = (key = KEY, id = RUN) =>
  app.request(`/v1/counterfactuals/${id}/manifest`, { headers: { authorization: `Bearer ${key}` } });

async function startRun() {
  const image = await images.put(new Uint8Array([1, 2, 3]), 'image/png');
  await runs.start(RUN, CounterfactualInputSchema.parse({ image }), {
    fingerprint: 'f',
    owner: keyIdOf(hashApiKey(KEY)),
  });
  return image;
}

async function storeJson(value: unknown) {
  return images.put(new TextEncoder().encode(JSON.stringify(value)), 'application/json');
}

const manifestOf = (image: RunManifest['input']['image']): RunManifest => ({
  schemaVersion: 1,
  runId: RUN,
  createdAt: '2026-11-28T12:00:00.000Z',
  updatedAt: '2026-11-28T12:01:00.000Z',
  input: { image, caption: 'a <b>street</b>' },
  status: 'succeeded',
  basePrompt: null,
  graph: null,
  interventions: [],
  plans: [],
  inversions: [],
  outputs: [{ interventionId: 'i1', method: 'csg', image, masks: [image], nfe: 4, seconds: 1 }],
  vlmAttempts: [],
  stages: {},
  settings: {},
  versions: {},
});

describe('GET /v1/counterfactuals/{id}/manifest', () => {
  it('needs a key, and hides other keys’ runs as 404', async () => {
    await startRun();
    expect((await app.request(`/v1/counterfactuals/${RUN}/manifest`)).status).toBe(401);
    const other = await get(OTHER);
    expect(other.status).toBe(404);
    expect(await other.json()).toEqual({
      error: { code: 'not_found', message: `no run '${RUN}'`, field: 'id' },
    });
    expect((await get(KEY, 'cf-ffffffffffffffff')).status).toBe(404);
    expect((await get(KEY, 'nope')).status).toBe(400);
  });

  it('answers 409 manifest_not_ready while the run has not written its manifest', async () => {
    await startRun();
    runs.setProgress(RUN, { phase: 'edit', manifest: null });
    const res = await get();
    expect(res.status).toBe(409);
    const body = (await res.json()) as { error: { code: string; field: string; message: string } };
    expect(body.error.code).toBe('manifest_not_ready');
    expect(body.error.field).toBe('id');
    expect(body.error.message).toMatch(/is running .* poll GET \/v1\/counterfactuals\/cf-/);
  });

  it('returns the manifest of a finished run with a presigned url on every ArtifactRef', async () => {
    const image = await startRun();
    const ref = await storeJson(manifestOf(image));
    runs.finish(RUN, { runId: RUN, status: 'succeeded', manifest: ref, outputs: 1 });
    const res = await get();
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toBe('no-store');
    const body = (await res.json()) as Record<string, never> & RunManifest;
    const url = `memory://bucket/${image.key}`;
    expect(body.input).toEqual({ image: { ...image, url }, caption: 'a <b>street</b>' });
    expect(body.outputs[0].image).toEqual({ ...image, url });
    expect(body.outputs[0].masks).toEqual([{ ...image, url }]);
  });

  it('finds the manifest of a failed run through the progress query', async () => {
    const image = await startRun();
    const ref = await storeJson({ ...manifestOf(image), status: 'failed' });
    runs.setProgress(RUN, { phase: 'failed', manifest: ref });
    runs.fail(RUN, 'edit failed');
    const res = await get();
    expect(res.status).toBe(200);
    expect(((await res.json()) as RunManifest).status).toBe('failed');
  });

  it('refuses a stored manifest that does not match its schema with 500', async () => {
    await startRun();
    const ref = await storeJson({ schemaVersion: 2 });
    runs.finish(RUN, { manifest: ref });
    const res = await get();
    expect(res.status).toBe(500);
    expect(((await res.json()) as { error: { message: string } }).error.message).toContain('does not match');
  });
});
