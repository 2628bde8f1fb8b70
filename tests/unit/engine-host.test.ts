import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EngineHost } from '../../gpu-worker/engine/engine-host.js';

let host: EngineHost;
beforeAll(async () => {
  host = await EngineHost.start(new URL('../support/busy-engine-thread.ts', import.meta.url));
});
afterAll(async () => {
  await host.close();
});

describe('EngineHost', () => {
  it('runs a job off the main thread and relays progress per step', async () => {
    const events: unknown[] = [];
    let ticks = 0;
    const timer = setInterval(() => ticks++, 5);
    const result = await host.run<{ done: number }>(
      'steps',
      { steps: 8, msPerStep: 25 },
      { onProgress: (e) => events.push(e) },
    );
    clearInterval(timer);
    expect(result).toEqual({ done: 8 });
    expect(events).toEqual(Array.from({ length: 8 }, (_, i) => ({ step: i + 1, total: 8 })));
    // The main thread kept turning while the thread was blocked (≈200 ms of blocking).
    expect(ticks).toBeGreaterThan(5);
  });

  it('cancels between steps through the AbortSignal', async () => {
    const controller = new AbortController();
    const events: Array<{ step: number }> = [];
    const run = host.run(
      'steps',
      { steps: 1000, msPerStep: 10 },
      {
        signal: controller.signal,
        onProgress: (e) => {
          events.push(e as { step: number });
          if (events.length === 3) controller.abort();
        },
      },
    );
    await expect(run).rejects.toMatchObject({ name: 'AbortError' });
    expect(events.length).toBeLessThan(1000);
    // the thread is free again afterwards
    await expect(host.run('steps', { steps: 1, msPerStep: 1 })).resolves.toEqual({ done: 1 });
  });

  it('propagates handler errors with their name and message', async () => {
    await expect(host.run('fail', null)).rejects.toMatchObject({
      name: 'RangeError',
      message: 'bad latent shape',
    });
    await expect(host.run('nope', null)).rejects.toThrow(/no handler for job kind 'nope'/);
  });

  it('moves transferred buffers into the thread', async () => {
    const data = new Float32Array([1, 2, 3.5]);
    const sum = await host.run<number>('sum', data.buffer, { transfer: [data.buffer] });
    expect(sum).toBeCloseTo(6.5);
    expect(data.byteLength).toBe(0); // detached: moved, not copied
  });
});
