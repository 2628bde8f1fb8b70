// The Python side of the world through `cgm world` as a user runs it: render is a pure function of the
// seed (the same pixels twice, and the fingerprints the committed model was trained on), and a data set
// folder from `cgm world dataset` loads, while a broken one is refused naming the file and the field.
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cp, mkdtemp, readFile, rm, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadWorldDataset } from '../../core/world/dataset.js';
import { counterfactual, descendants, loadWorldScm } from '../../core/world/scm.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const scm = loadWorldScm();

function cgm(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['bin/cgm.mjs', ...args], { cwd: root }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr });
    });
  });
}

async function rgbSha(file: string): Promise<string> {
  const { data } = await sharp(await readFile(file))
    .raw()
    .toBuffer({ resolveWithObject: true });
  return createHash('sha256').update(data).digest('hex');
}

let dir = '';
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cgm-world-data-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('cgm world render', () => {
  it('draws the same pixels for a seed every time, the ones the model was trained on', async () => {
    const fingerprints = JSON.parse(
      await readFile(join(root, 'world/testdata/render-fingerprints.json'), 'utf8'),
    );
    for (const seed of ['42', '9000000']) {
      const a = await cgm('world', 'render', '--seed', seed, '--out', join(dir, `a${seed}.png`));
      const b = await cgm('world', 'render', '--seed', seed, '--out', join(dir, `b${seed}.png`));
      expect(a.code, a.stderr).toBe(0);
      expect(b.code, b.stderr).toBe(0);
      expect(await rgbSha(join(dir, `a${seed}.png`))).toBe(fingerprints[seed]);
      expect(await rgbSha(join(dir, `b${seed}.png`))).toBe(fingerprints[seed]);
    }
  });

  it('renders the counterfactual with the same noise: do(car_color) changes only the car', async () => {
    const r = await cgm(
      'world',
      'render',
      '--seed',
      '5',
      '--do',
      'car_color=blue',
      '--out',
      join(dir, 's5.png'),
    );
    expect(r.code, r.stderr).toBe(0);
    const info = JSON.parse(r.stdout);
    const { data: before } = await sharp(join(dir, 's5.png')).raw().toBuffer({ resolveWithObject: true });
    const { data: after } = await sharp(join(dir, 's5-counterfactual.png'))
      .raw()
      .toBuffer({ resolveWithObject: true });
    let changedOutsideCar = 0;
    let changedInCar = 0;
    for (let y = 0; y < 128; y++)
      for (let x = 0; x < 128; x++) {
        const i = (y * 128 + x) * 3;
        const moved =
          before[i] !== after[i] || before[i + 1] !== after[i + 1] || before[i + 2] !== after[i + 2];
        const inCar = y >= 74 && y < 114 && x >= 30 && x < 98; // the car's region at any jitter
        if (moved && inCar) changedInCar++;
        if (moved && !inCar) changedOutsideCar++;
      }
    expect(changedOutsideCar).toBe(0);
    if (info.attributes.car_color !== 'blue') expect(changedInCar).toBeGreaterThan(300);
  });
});

describe('cgm world dataset', () => {
  it('writes scenes with three interventions (many, few, no descendants) and their true counterfactuals', async () => {
    const out = join(dir, 'ds');
    const r = await cgm('world', 'dataset', '--n', '3', '--seed', '11', '--out', out);
    expect(r.code, r.stderr).toBe(0);
    const ds = loadWorldDataset(out, scm);
    expect(ds.scenes).toHaveLength(3);
    for (const scene of ds.scenes) {
      expect(scene.interventions.map((i) => i.kind)).toEqual([
        'many-descendants',
        'few-descendants',
        'no-descendants',
      ]);
      const [many, few, none] = scene.interventions.map((i) => Object.keys(i.do)[0]);
      expect(descendants(scm, many).length).toBeGreaterThan(descendants(scm, few).length);
      expect(descendants(scm, few).length).toBeGreaterThan(0);
      expect(descendants(scm, none)).toEqual([]);
      for (const iv of scene.interventions) {
        expect(iv.attributes).toEqual(counterfactual(scm, scene.u.noise, iv.do));
        expect(
          iv.changed.every((id) => id in iv.do || descendants(scm, Object.keys(iv.do)[0]).includes(id)),
        ).toBe(true);
      }
    }
    // the same seed gives the same data set
    const again = join(dir, 'ds-again');
    expect((await cgm('world', 'dataset', '--n', '3', '--seed', '11', '--out', again)).code).toBe(0);
    expect(await rgbSha(join(again, 'images/000002.png'))).toBe(await rgbSha(join(out, 'images/000002.png')));
  });

  it('refuses a broken folder naming the file and the field', async () => {
    const src = join(dir, 'ds');
    const broken = async (name: string) => {
      const d = join(dir, name);
      await cp(src, d, { recursive: true });
      return d;
    };
    const noImage = await broken('no-image');
    await unlink(join(noImage, 'images/000001.png'));
    expect(() => loadWorldDataset(noImage, scm)).toThrow(
      /scenes\/000001\.json: image: .*000001\.png is missing/,
    );

    const noCf = await broken('no-cf');
    await unlink(join(noCf, 'counterfactuals/000000-i2.png'));
    expect(() => loadWorldDataset(noCf, scm)).toThrow(
      /000000\.json: interventions\[1\]\.image: .* is missing/,
    );

    const unknown = await broken('unknown-attr');
    const f = join(unknown, 'scenes/000000.json');
    const scene = JSON.parse(await readFile(f, 'utf8'));
    scene.attributes.mood = 'happy';
    await writeFile(f, JSON.stringify(scene));
    expect(() => loadWorldDataset(unknown, scm)).toThrow(/000000\.json: .*mood/);

    const badValue = await broken('bad-value');
    const g = join(badValue, 'scenes/000002.json');
    const s2 = JSON.parse(await readFile(g, 'utf8'));
    s2.interventions[0].do = { season: 'monsoon' };
    await writeFile(g, JSON.stringify(s2));
    expect(() => loadWorldDataset(badValue, scm)).toThrow(/000002\.json: interventions\[0\]\..*monsoon/);

    const malformed = await broken('malformed');
    await writeFile(join(malformed, 'scenes/000001.json'), '{"id": "000001", "attributes": ');
    expect(() => loadWorldDataset(malformed, scm)).toThrow(/000001\.json: not valid JSON/);

    const noManifest = await broken('no-manifest');
    await unlink(join(noManifest, 'world-dataset.json'));
    expect(() => loadWorldDataset(noManifest, scm)).toThrow(/world-dataset\.json: missing/);
  });

  it('as a batch data set (`cgm batch --dataset world=DIR`): a broken folder is refused before anything runs', async () => {
    // The folders of the test above; the loader runs before any service is contacted.
    const batch = (folder: string) =>
      cgm('batch', '--dataset', `world=${join(dir, folder)}`, '--per-dataset', '1', '--no-judge');
    const cases: [string, RegExp][] = [
      ['no-image', /scenes\/000001\.json: image: .*000001\.png is missing/],
      ['unknown-attr', /scenes\/000000\.json: .*mood/],
      ['malformed', /scenes\/000001\.json: not valid JSON/],
    ];
    const wrongType = join(dir, 'attributes-not-object');
    await cp(join(dir, 'ds'), wrongType, { recursive: true });
    const f = join(wrongType, 'scenes/000002.json');
    await writeFile(f, JSON.stringify({ ...JSON.parse(await readFile(f, 'utf8')), attributes: 'sunny' }));
    cases.push(['attributes-not-object', /scenes\/000002\.json: attributes: .*expected record/i]);
    for (const [folder, message] of cases) {
      const r = await batch(folder);
      expect(r.code, `${folder}: ${r.stderr}`).toBe(2);
      expect(r.stderr, folder).toMatch(message);
      expect(r.stderr, folder).not.toMatch(/\n\s+at /); // one clear line, no stack trace
    }
  });

  it('refuses --n 0 with a clear message', async () => {
    const r = await cgm('world', 'dataset', '--n', '0', '--seed', '1', '--out', join(dir, 'zero'));
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--n: 0 is not a positive number of scenes/);
  });
});
