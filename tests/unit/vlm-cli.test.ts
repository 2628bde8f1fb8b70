// `cgm extract` / `cgm propose` as a user runs them: the real binary against the loopback VLM server.
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  errorReply,
  type FakeVlmServer,
  recorded,
  recordedContent,
  startFakeVlmServer,
} from '../support/fake-vlm-server.js';

const ROOT = join(import.meta.dirname, '..', '..');
let server: FakeVlmServer;
let dir: string;
let image: string;

function cgm(
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [join(ROOT, 'bin', 'cgm.mjs'), ...args],
      {
        cwd: ROOT,
        env: {
          ...process.env,
          CGM_VLM_BASE_URL: server.baseURL,
          CGM_VLM_MAX_VALIDATION_RETRIES: '1',
          ...env,
        },
        timeout: 60_000,
      },
      (err, stdout, stderr) =>
        resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

const sentText = (i: number) => {
  const body = server.requests.filter((r) => r.path === '/v1/chat/completions')[i].body as {
    messages: { content: { type: string; text?: string }[] }[];
  };
  return body.messages[0].content.find((p) => p.type === 'text')?.text ?? '';
};

beforeAll(async () => {
  server = await startFakeVlmServer();
  dir = await mkdtemp(join(tmpdir(), 'cgm-vlm-cli-'));
  image = join(dir, 'portrait.jpg');
  await sharp({ create: { width: 32, height: 32, channels: 3, background: '#c08040' } })
    .jpeg()
    .toFile(image);
});
afterAll(async () => {
  await server.close();
  await rm(dir, { recursive: true, force: true });
});

describe('cgm extract / propose', () => {
  it('extract without --caption describes the scene first, then prints the validated graph', async () => {
    server.requests.length = 0;
    server.enqueue(recorded('street-describe'), recorded('street-extract-cyclic'));
    const { code, stdout, stderr } = await cgm(['extract', image]);
    expect(stderr).toBe('');
    expect(code).toBe(0);
    const out = JSON.parse(stdout);
    expect(out.basePrompt.source).toBe('vlm');
    expect(out.basePrompt.text).toMatch(/^A rainy city street/);
    expect(out.graph.repairs.map((r: { relationship_id: string }) => r.relationship_id)).toEqual(['r7']);
    expect(out.attempts.map((a: { prompt: string }) => a.prompt)).toEqual(['describe', 'extract']);
    expect(sentText(1)).toContain(`<context> ${out.basePrompt.text} </context>`);
  });

  it('propose --graph takes `cgm extract` output (graph and base prompt) and prints the interventions', async () => {
    server.requests.length = 0;
    const extracted = {
      basePrompt: { text: 'A portrait of a young woman.', source: 'user' },
      graph: { graph: JSON.parse(recordedContent('portrait-extract')) },
    };
    await writeFile(join(dir, 'portrait.json'), JSON.stringify(extracted));
    server.enqueue(recorded('portrait-propose'));
    const { code, stdout } = await cgm(['propose', image, '--graph', join(dir, 'portrait.json')]);
    expect(code).toBe(0);
    const out = JSON.parse(stdout);
    expect(out.interventions).toHaveLength(3);
    expect(sentText(0)).toContain('<reference_prompt> A portrait of a young woman. </reference_prompt>');
  });

  it('exits 1 with the failure type when the model keeps answering invalid JSON', async () => {
    server.enqueue(recorded('portrait-extract-invalid'), recorded('portrait-extract-invalid'));
    const { code, stdout, stderr } = await cgm(['extract', image, '--caption', 'A portrait.']);
    expect(code).toBe(1);
    expect(stdout).toBe('');
    expect(stderr).toMatch(/^cgm: VlmInvalidAnswer: .*in 2 attempt\(s\)/);
  });

  it('exits 2 naming the file for an unreadable image, without calling the VLM', async () => {
    server.requests.length = 0;
    const junk = join(dir, 'junk.png');
    await writeFile(junk, 'not an image');
    const { code, stderr } = await cgm(['extract', junk, '--caption', 'x']);
    expect(code).toBe(2);
    expect(stderr).toContain(`cgm: VlmInvalidInput: ${junk}: cannot decode the image`);
    expect(server.requests).toHaveLength(0);
  });

  it('waits the Retry-After of a 429 and tries again', async () => {
    server.requests.length = 0;
    server.enqueue(errorReply(429, 'slow down', { 'retry-after': '1' }), recorded('street-extract-cyclic'));
    const t0 = performance.now();
    const { code, stdout, stderr } = await cgm(['extract', image, '--caption', 'A rainy street.']);
    const waited = performance.now() - t0;
    expect(code, stderr).toBe(0);
    expect(JSON.parse(stdout).graph.graph.concepts.length).toBeGreaterThan(0);
    expect(stderr).toMatch(/rate limiting \(HTTP 429\); waiting 1000 ms \(Retry-After\), then try 2 of 5/);
    expect(server.requests.filter((r) => r.path === '/v1/chat/completions')).toHaveLength(2);
    expect(waited).toBeGreaterThanOrEqual(1000);
  });

  it('stops after 5 tries of a server that keeps answering 429, with one line', async () => {
    server.requests.length = 0;
    const limited = errorReply(429, 'slow down', { 'retry-after-ms': '20' });
    server.enqueue(limited, limited, limited, limited, limited);
    const { code, stdout, stderr } = await cgm(['extract', image, '--caption', 'A rainy street.']);
    expect(code).toBe(1);
    expect(stdout).toBe('');
    expect(server.requests.filter((r) => r.path === '/v1/chat/completions')).toHaveLength(5);
    const last = stderr.trim().split('\n').at(-1);
    expect(last).toMatch(
      /^cgm: VlmRateLimited: VLM server .* was still rate limiting \(HTTP 429\) after 5 tries; try again later$/,
    );
    expect(stderr).not.toMatch(/\n\s+at /);
    expect(server.pending()).toBe(0);
  });
});
