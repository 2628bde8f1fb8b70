// `cgm world`, run as a user would: a real process through bin/cgm.mjs. Only the TypeScript side runs
// here (help, graph, solve, argument checks before Python); the Python sub-commands are not started.
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { validateGraph } from '../../core/graph/validate.js';

const root = fileURLToPath(new URL('../..', import.meta.url));

function cgm(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['bin/cgm.mjs', ...args], { cwd: root }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

const noise = {
  season: 0.5,
  time_of_day: 0.7,
  car_color: 0.1,
  weather: 0.95,
  foliage: 0.5,
  sky: 0.5,
  road: 0.5,
  umbrella: 0.5,
  lamp: 0.5,
};

describe('cgm world', () => {
  let dir = '';
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cgm-world-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('--help lists the sub-commands; render --help shows its options', async () => {
    const top = await cgm('world', '--help');
    expect(top.code).toBe(0);
    for (const sub of ['render', 'dataset', 'train', 'check', 'graph', 'solve', 'read', 'vlm'])
      expect(top.stdout).toContain(sub);
    const render = await cgm('world', 'render', '--help');
    expect(render).toMatchObject({ code: 0, stderr: '' });
    expect(render.stdout).toContain(
      'usage: cgm world render (--seed S | --scene FILE) [--do K=V …] [--out PNG]',
    );
  });

  it('solve prints the attributes, and with --do the counterfactual and what changed', async () => {
    const file = join(dir, 'noise.json');
    await writeFile(file, JSON.stringify(noise));
    const { code, stdout, stderr } = await cgm('world', 'solve', '--noise', file, '--do', 'season=winter');
    expect(stderr).toBe('');
    expect(code).toBe(0);
    const out = JSON.parse(stdout);
    // autumn night, weather noise .95 → rainy; do(season=winter) → snowy, so sky stays dark at night.
    expect(out.attributes).toEqual({
      season: 'autumn',
      time_of_day: 'night',
      car_color: 'red',
      weather: 'rainy',
      foliage: 'orange',
      lamp: 'on',
      sky: 'dark',
      road: 'wet',
      umbrella: 'open',
    });
    expect(out.do).toEqual({ season: 'winter' });
    expect(out.counterfactual).toEqual({
      ...out.attributes,
      season: 'winter',
      weather: 'snowy',
      foliage: 'bare',
      road: 'snowy',
    });
    expect(out.changed).toEqual(['season', 'weather', 'foliage', 'road']);
  });

  it('render --do season=monsoon exits 2 naming season and monsoon, before Python runs', async () => {
    const { code, stdout, stderr } = await cgm('world', 'render', '--seed', '1', '--do', 'season=monsoon');
    expect(code).toBe(2);
    expect(stdout).toBe('');
    expect(stderr).toBe(
      "cgm: do(season): value 'monsoon' is not allowed by the SCM; expected one of spring, summer, autumn, winter\n",
    );
  });

  it('graph prints a valid Fig. 2 graph; a malformed --attributes file is named with the field', async () => {
    const ok = await cgm('world', 'graph');
    expect(ok.code).toBe(0);
    const graph = JSON.parse(ok.stdout);
    expect(graph.concepts).toHaveLength(9);
    expect(validateGraph(graph).valid).toBe(true);

    const bad = join(dir, 'bad.json');
    await writeFile(bad, JSON.stringify({ season: 'monsoon' }));
    const wrong = await cgm('world', 'graph', '--attributes', bad);
    expect(wrong.code).toBe(2);
    expect(wrong.stderr).toMatch(
      /^cgm: .*bad\.json: attributes\.season: value 'monsoon' is not allowed by the SCM/,
    );

    const typed = join(dir, 'typed.json');
    await writeFile(typed, JSON.stringify({ season: 3 }));
    const notString = await cgm('world', 'graph', '--attributes', typed);
    expect(notString.code).toBe(2);
    expect(notString.stderr).toMatch(
      /^cgm: .*typed\.json: not a world attributes file: season: .*\(got 3\)\n$/,
    );
  });
});
