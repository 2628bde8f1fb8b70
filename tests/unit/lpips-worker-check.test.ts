// `cgm batch` refuses to start, before anything is stored, when no GPU worker with LPIPS polls the LPIPS
// entry queue (cli/lpips-worker-check.ts); the queue it asks about is the one LPIPS workers poll.
import { describe, expect, it } from 'vitest';
import { CliError } from '../../cli/cli-error.js';
import { EXIT } from '../../cli/error-boundary.js';
import { requireLpipsWorker } from '../../cli/lpips-worker-check.js';
import type { TaskQueueDescriber } from '../../core/gpu-capabilities.js';
import { lpipsEntryQueue } from '../../core/gpu-capabilities.js';

function describer(pollers: { identity: string }[]) {
  const asked: unknown[] = [];
  const service = {
    describeTaskQueue: async (request: unknown) => {
      asked.push(request);
      return { pollers };
    },
  } as unknown as TaskQueueDescriber;
  return { service, asked };
}

describe('requireLpipsWorker', () => {
  it("asks about the activity pollers of the entry queue's LPIPS queue and returns it when one polls", async () => {
    const { service, asked } = describer([{ identity: '4242@gpu-host' }]);
    expect(await requireLpipsWorker(service, 'default', 'cgm-gpu')).toBe('cgm-gpu-lpips');
    expect(lpipsEntryQueue('cgm-gpu')).toBe('cgm-gpu-lpips');
    expect(asked).toEqual([
      { namespace: 'default', taskQueue: { name: 'cgm-gpu-lpips' }, taskQueueType: 2 }, // ACTIVITY
    ]);
  });

  it('refuses with exit 69, naming the queue, how to start a worker and how to run without LPIPS', async () => {
    const { service } = describer([]);
    const err = await requireLpipsWorker(service, 'default', 'cgm-gpu').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CliError);
    expect((err as CliError).exitCode).toBe(EXIT.unavailable);
    const message = (err as CliError).message;
    expect(message).toMatch(
      /^no GPU worker with LPIPS polls cgm-gpu-lpips \(namespace default\); nothing was stored/,
    );
    expect(message).toContain('cgm worker gpu --lpips DIR');
    expect(message).toContain('--no-lpips');
    expect(message).not.toContain('\n');
  });
});
