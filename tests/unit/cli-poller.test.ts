// The one polling loop (cli/poller.ts): it ends when the work settles (at once, not after a full
// interval), when the caller aborts, or after its last allowed ask; a failing or hung ask neither
// stops nor stalls it.
import { describe, expect, it } from 'vitest';
import { pollUntil } from '../../cli/poller.js';

function deferred<T = void>() {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('pollUntil', () => {
  it('shows each answer and stops as soon as the work settles', async () => {
    const work = deferred<string>();
    const seen: number[] = [];
    let asks = 0;
    const ended = pollUntil({
      until: work.promise,
      poll: async () => ++asks,
      onValue: (v) => seen.push(v),
      intervalMs: 20,
    });
    await sleep(110);
    const t0 = performance.now();
    work.resolve('done');
    expect(await ended).toBe('settled');
    expect(performance.now() - t0).toBeLessThan(15); // not after another interval
    expect(seen.length).toBeGreaterThanOrEqual(3);
    expect(seen).toEqual(seen.map((_, i) => i + 1));
    const after = asks;
    await sleep(60);
    expect(asks).toBe(after); // no ask once it ended
  });

  it('ends on a failed work too (the caller reads the failure)', async () => {
    const work = deferred();
    const ended = pollUntil({ until: work.promise, poll: async () => 1, onValue: () => {}, intervalMs: 10 });
    work.reject(new Error('workflow failed'));
    expect(await ended).toBe('settled');
  });

  it('stops when the caller aborts', async () => {
    const controller = new AbortController();
    let asks = 0;
    const ended = pollUntil({
      until: new Promise(() => {}),
      poll: async () => ++asks,
      onValue: () => {},
      intervalMs: 1000,
      signal: controller.signal,
    });
    await sleep(20);
    controller.abort();
    expect(await ended).toBe('aborted');
    expect(asks).toBe(1);
  });

  it('is bounded: a hung ask is given up after its timeout, rejected asks are skipped, maxPolls holds', async () => {
    let asks = 0;
    const seen: string[] = [];
    const ended = await pollUntil({
      until: new Promise(() => {}),
      poll: () => {
        asks++;
        if (asks === 1) return new Promise<string>(() => {}); // never answers
        if (asks === 2) return Promise.reject(new Error('query failed'));
        return Promise.resolve(`answer ${asks}`);
      },
      onValue: (v) => seen.push(v),
      intervalMs: 5,
      pollTimeoutMs: 30,
      maxPolls: 4,
    });
    expect(ended).toBe('exhausted');
    expect(asks).toBe(4);
    expect(seen).toEqual(['answer 3', 'answer 4']);
  });
});
