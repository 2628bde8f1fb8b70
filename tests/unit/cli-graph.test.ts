// The `cgm graph validate` command, run as a user would: a real process through bin/cgm.mjs.
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../..', import.meta.url));
const fixture = (name: string) => join(root, 'tests/fixtures/graphs', `${name}.json`);

function cgm(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['bin/cgm.mjs', ...args], { cwd: root }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

describe('cgm graph validate', () => {
  let dir = '';
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cgm-graph-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('exits 0 with an empty report for a valid graph', async () => {
    const { code, stdout, stderr } = await cgm('graph', 'validate', fixture('valid'));
    expect(stderr).toBe('');
    expect(code).toBe(0);
    expect(JSON.parse(stdout)).toEqual({ file: fixture('valid'), valid: true, issues: [] });
  });

  it('exits 1 for a cyclic graph, and 0 with --repair, printing the repairs and the repaired graph', async () => {
    const plain = await cgm('graph', 'validate', fixture('cyclic'));
    expect(plain.code).toBe(1);
    const report = JSON.parse(plain.stdout);
    expect(report.valid).toBe(false);
    expect(report.issues.map((i: { code: string }) => i.code)).toEqual(['cycle']);
    expect(report.repair).toBeUndefined();

    const repaired = await cgm('graph', 'validate', fixture('cyclic'), '--repair');
    expect(repaired.code).toBe(0);
    const r = JSON.parse(repaired.stdout);
    expect(r.valid).toBe(false);
    expect(r.repair.valid).toBe(true);
    expect(r.repair.repairs.map((x: { relationship_id: string }) => x.relationship_id)).toEqual(['r7', 'r8']);
    expect(r.repair.graph.relationships).toHaveLength(6);
  }, 60_000);

  it('exits 1 for a dangling edge and names it', async () => {
    const { code, stdout } = await cgm('graph', 'validate', fixture('dangling'));
    expect(code).toBe(1);
    const [issue] = JSON.parse(stdout).issues;
    expect(issue).toMatchObject({ code: 'dangling_edge', ids: ['r7', 'c9'] });
    expect(issue.message).toContain("'c9'");
  });

  it('exits 2 with one line on stderr for unreadable input', async () => {
    const missing = await cgm('graph', 'validate', join(dir, 'no-such-graph.json'));
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/^cgm: .*no-such-graph\.json: cannot read \(no such file\)\n$/);
    expect(missing.stdout).toBe('');

    const notJson = join(dir, 'bad.json');
    await writeFile(notJson, '{"concepts": [');
    const bad = await cgm('graph', 'validate', notJson);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('not valid JSON');

    const wrong = join(dir, 'wrong.json');
    await writeFile(
      wrong,
      JSON.stringify({
        concepts: [{ id: 'c1', name: 'weather', current_value: '', description: '' }],
        relationships: [],
        scene_summary: '',
      }),
    );
    const schema = await cgm('graph', 'validate', wrong);
    expect(schema.code).toBe(2);
    expect(schema.stderr).toBe(
      `cgm: ${wrong}: not a concept graph: concepts[0].current_value: current_value must be a non-empty string (got "")\n`,
    );
  }, 60_000);

  it('exits 2 on a usage error', async () => {
    const { code, stderr } = await cgm('graph', 'check');
    expect(code).toBe(2);
    expect(stderr).toContain('usage: cgm graph validate FILE [--repair]');
  });
});
