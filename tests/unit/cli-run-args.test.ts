// `cgm run` refuses bad arguments before it stores anything or contacts Temporal (exit 2, one line).
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../..', import.meta.url));
const EX = 'examples/rainy-street';

function cgm(...args: string[]): Promise<{ code: number; stderr: string }> {
  return new Promise((resolve) => {
    // Unroutable S3/Temporal: reaching either would fail differently (and slowly), not with exit 2.
    const env = {
      ...process.env,
      CGM_S3_ENDPOINT: 'http://127.0.0.1:9',
      CGM_TEMPORAL_ADDRESS: '127.0.0.1:9',
    };
    execFile(process.execPath, ['bin/cgm.mjs', 'run', ...args], { cwd: root, env }, (err, _out, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stderr });
    });
  });
}

describe('cgm run arguments', () => {
  it('names a malformed --do', async () => {
    const r = await cgm(`${EX}/image.png`, '--graph', `${EX}/graph.json`, '--do', 'weather');
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("--do: expected CONCEPT=VALUE (e.g. weather=sunny weather), got 'weather'");
  });

  it('refuses --interventions together with --do', async () => {
    const r = await cgm(
      `${EX}/image.png`,
      '--graph',
      `${EX}/graph.json`,
      '--interventions',
      `${EX}/interventions.json`,
      '--do',
      'weather=sunny',
    );
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('give --interventions or --do, not both');
  });

  it.each(['0', '17', '2.5', 'four'])('names a bad --edit-batch %s', async (n) => {
    const r = await cgm(`${EX}/image.png`, '--graph', `${EX}/graph.json`, '--edit-batch', n);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`--edit-batch: expected a whole number of plans per GPU call in [1, 16]`);
    expect(r.stderr).toContain(`got '${n}'`);
  });

  it('checks the run input before the image is stored (S3 is unreachable here)', async () => {
    const r = await cgm(`${EX}/image.png`, '--graph', `${EX}/graph.json`, '--caption', '   ');
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/invalid run input: .*caption/s);
  });
});
