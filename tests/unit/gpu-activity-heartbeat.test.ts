// The GPU activities' step heartbeats reach Temporal although the engine thread's progress messages
// arrive outside the activity's async context (a MessagePort listener registered before the activity
// ran, exactly like the engine host's), and an engine argument check fails as non-retryable input.
import { MessageChannel } from 'node:worker_threads';
import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { describe, expect, it } from 'vitest';
import { sha256Hex } from '../../core/artifacts/store.js';
import type { ArtifactRef } from '../../core/schemas/artifact.js';
import { GPU_FAILURE } from '../../core/schemas/workflow-io.js';
import type { GpuEngine } from '../../gpu-worker/activities/engine.js';
import { createGpuActivities, type GpuActivitiesDeps } from '../../gpu-worker/activities/index.js';

const bytes = new Uint8Array([1, 2, 3]);
const image: ArtifactRef = {
  bucket: 'b',
  key: `inputs/${sha256Hex(bytes)}`,
  sha256: sha256Hex(bytes),
  bytes: bytes.length,
  contentType: 'image/png',
};

// Registered now, outside any activity: the listener runs in this (empty) async context.
const channel = new MessageChannel();
let forward: ((event: unknown) => void) | null = null;
let delivered: (() => void) | null = null;
channel.port1.on('message', (event) => {
  forward?.(event);
  delivered?.();
});

function engineThatFailsAfterSteps(steps: number, failure: Error): GpuEngine {
  return {
    model: { name: 'stub', manifestHash: 'f'.repeat(64) },
    async invert(_payload, options) {
      forward = options.onProgress ?? null;
      for (let step = 1; step <= steps; step++) {
        const arrived = new Promise<void>((r) => {
          delivered = r;
        });
        channel.port2.postMessage({ stage: 'invert-csg', step, total: steps });
        await arrived;
      }
      throw failure;
    },
    edit: () => Promise.reject(new Error('not used')),
    exportInversion: () => Promise.reject(new Error('not used')),
    importInversion: () => Promise.reject(new Error('not used')),
    close: async () => {},
  };
}

const store: GpuActivitiesDeps['store'] = {
  stat: async () => null,
  get: async () => bytes,
  put: () => Promise.reject(new Error('not used')),
  putAt: () => Promise.reject(new Error('not used')),
  putJson: () => Promise.reject(new Error('not used')),
  getJson: () => Promise.reject(new Error('not used')),
} as unknown as GpuActivitiesDeps['store'];

describe('GPU activity heartbeats', () => {
  it('sends one heartbeat per engine step from the engine thread, then maps a RangeError to GpuInvalidInput', async () => {
    const rangeError = new RangeError('numZeroNoiseSteps must be an integer in [0, 2], got 3');
    const activities = createGpuActivities({
      engine: engineThatFailsAfterSteps(3, rangeError),
      store,
      hostQueue: 'cgm-gpu-host-test',
    });
    const env = new MockActivityEnvironment();
    const beats: unknown[] = [];
    env.on('heartbeat', (d: unknown) => beats.push(d));
    const err = await env
      .run(activities.invert, {
        runId: 'r',
        image,
        sourcePrompt: 'a street',
        methods: ['csg' as const],
        engine: {},
      })
      .then(
        () => null,
        (e: unknown) => e,
      );
    expect(beats).toEqual(
      [1, 2, 3].map((step) => ({ phase: 'invert', stage: 'invert-csg', step, total: 3 })),
    );
    expect(err).toBeInstanceOf(ApplicationFailure);
    expect((err as ApplicationFailure).type).toBe(GPU_FAILURE.invalidInput);
    expect((err as ApplicationFailure).nonRetryable).toBe(true);
    expect((err as Error).message).toContain('numZeroNoiseSteps must be an integer in [0, 2], got 3');
  });
});
