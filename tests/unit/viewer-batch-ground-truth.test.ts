// GET /v1/batches/{id}/runs/{runId}/manifest for a street-world batch, through app.request() with an
// in-memory batch: each output of the run carries its ground truth from the batch's records, with the
// true counterfactual image presigned; outputs without a record stay as they are.
import { describe, expect, it } from 'vitest';
import { createApp } from '../../api/app.js';
import { defaultApiConfig } from '../../api/config.js';
import { createMemoryImageStore } from '../../api/images.js';
import { hashApiKey, keyIdOf } from '../../api/middleware/auth.js';
import { createMemoryRunStarter } from '../../api/runs/memory.js';
import { toJsonl } from '../../core/eval/jsonl.js';
import { serialiseEvalRecords } from '../../core/eval/results.js';
import type { BatchInput, BatchResult } from '../../core/schemas/batch-io.js';
import type { RunManifest } from '../../core/schemas/run-manifest.js';
import { oneCheckRecord } from '../support/eval-records.js';

const KEY = 'cgm_world_batch_key_0123456789';
const BATCH = 'batch-world-0001';
const RUN = `${BATCH}/paper/world/000000`;

describe('a street-world batch run in the viewer', () => {
  it('gives each output its ground truth and the true counterfactual, presigned', async () => {
    const images = createMemoryImageStore('bucket');
    const batches = createMemoryRunStarter<BatchInput>();
    const app = createApp({
      config: defaultApiConfig({ keyHashes: [hashApiKey(KEY)] }),
      images,
      runs: createMemoryRunStarter(),
      batches,
    });
    const put = (text: string, type = 'application/json') => images.put(new TextEncoder().encode(text), type);
    const image = await images.put(new Uint8Array([1, 2, 3]), 'image/png');
    const trueImage = await images.put(new Uint8Array([4, 5, 6]), 'image/png');
    const manifest: RunManifest = {
      schemaVersion: 1,
      runId: RUN,
      createdAt: '2026-12-06T12:00:00.000Z',
      updatedAt: '2026-12-06T12:01:00.000Z',
      input: { image, caption: 'a street' },
      status: 'succeeded',
      basePrompt: null,
      graph: null,
      interventions: [],
      plans: [],
      inversions: [],
      outputs: [
        { interventionId: 'intervention_1', method: 'csg', image, masks: [], nfe: 4, seconds: 1 },
        { interventionId: 'intervention_1', method: 'ddpm', image, masks: [], nfe: 4, seconds: 1 },
      ],
      vlmAttempts: [],
      stages: {},
      settings: {},
      versions: {},
    };
    const manifestRef = await put(JSON.stringify(manifest));
    const record = {
      ...oneCheckRecord({
        method: 'csg',
        dataset: 'world',
        imageId: '000000',
        yes: true,
        lpips: 0.1,
        resolution: 128,
      }),
      runId: RUN,
      interventionId: 'intervention_1',
      groundTruth: {
        sceneId: '000000',
        truthInterventionId: 'i1',
        do: { season: 'winter' },
        intervened: 1,
        descendants: 0.5,
        changedDescendants: 0.5,
        preservation: 1,
        psnrToTrue: 21.5,
        ssimToTrue: 0.81,
        psnrToOriginal: 19,
        ssimToOriginal: 0.7,
        masks: null,
        oracle: { season: 'winter' },
        trueImage: { kind: 's3' as const, ref: trueImage },
      },
    };
    const outcome = {
      dataset: 'world',
      imageId: '000000',
      drawIndex: 0,
      variant: 'paper',
      runId: RUN,
      status: 'succeeded',
      manifest: manifestRef,
      error: null,
    };
    const result: BatchResult = {
      batchId: BATCH,
      total: 1,
      succeeded: 1,
      failed: 0,
      outcomes: await put(toJsonl([outcome]), 'application/x-ndjson'),
      results: await put(serialiseEvalRecords([record]), 'application/x-ndjson'),
      reportJson: await put('{}'),
      reportMarkdown: await put('#', 'text/markdown'),
    };
    await batches.start(BATCH, {} as BatchInput, { fingerprint: 'f', owner: keyIdOf(hashApiKey(KEY)) });
    batches.finish(BATCH, result);

    const res = await app.request(`/v1/batches/${BATCH}/runs/${encodeURIComponent(RUN)}/manifest`, {
      headers: { authorization: `Bearer ${KEY}` },
    });
    expect(res.status).toBe(200);
    const body = (await res.json()) as {
      outputs: { method: string; groundTruth?: Record<string, unknown> }[];
    };
    const [csg, ddpm] = body.outputs;
    expect(csg.groundTruth).toMatchObject({
      intervened: 1,
      psnrToTrue: 21.5,
      trueImage: { ...trueImage, url: `memory://bucket/${trueImage.key}` },
    });
    expect(ddpm.groundTruth).toBeUndefined();
  });
});
