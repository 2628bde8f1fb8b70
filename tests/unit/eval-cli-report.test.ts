// `cgm report` (cli/commands/report.ts), called in-process until the lead registers it in cli/main.ts.
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { CliError } from '../../cli/cli-error.js';
import { run } from '../../cli/commands/report.js';
import { GRID_MISSING, gridCellOrigin } from '../../core/eval/grid.js';
import type { EvalRecord } from '../../core/eval/results.js';
import { oneCheckRecord } from '../support/eval-records.js';

const record = (method: string, dataset: 'coco' | 'celeba-hq', imageId: string, yes: boolean): EvalRecord =>
  oneCheckRecord({
    method,
    dataset,
    imageId,
    yes,
    lpips: yes ? 0.2 : 0.4,
    resolution: 1024,
    nfe: 100,
    seconds: 2,
  });

let dir = '';
let results = '';
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cgm-report-'));
  results = join(dir, 'results.jsonl');
  const rs = ['csg', 'ddpm'].flatMap((m) =>
    (['celeba-hq', 'coco'] as const).flatMap((d) =>
      ['1', '2', '3'].map((id) => record(m, d, id, m === 'csg' || id === '1')),
    ),
  );
  await writeFile(results, rs.map((r) => JSON.stringify(r)).join('\n'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function capture(argv: string[]): Promise<{ code: number; out: string }> {
  let out = '';
  const spy = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    out += String(chunk);
    return true;
  });
  try {
    return { code: await run(argv), out };
  } finally {
    spy.mockRestore();
  }
}

describe('cgm report', () => {
  it('prints the Markdown report by default', async () => {
    const { code, out } = await capture([results, '--bootstrap', '20']);
    expect(code).toBe(0);
    expect(out).toContain('| DDPM Inversion | 0.333 [');
    expect(out).toContain('| CSG | 1.000 [1.000, 1.000] | 0.2000 [0.2000, 0.2000]');
    expect(out).toContain('at 1024×1024');
  });

  it('writes every format to --out', async () => {
    const out = join(dir, 'out');
    const r = await capture([
      results,
      '--out',
      out,
      '--format',
      'json,csv,md',
      '--bootstrap',
      '20',
      '--seed',
      '7',
    ]);
    expect(r.code).toBe(0);
    expect((await readdir(out)).sort()).toEqual(
      [
        'cost.csv',
        'failures.csv',
        'node-types.csv',
        'report.json',
        'report.md',
        'table1.csv',
        'verdicts.csv',
      ].sort(),
    );
    const json = JSON.parse(await readFile(join(out, 'report.json'), 'utf8'));
    expect(json.bootstrap.seed).toBe('7');
    expect(
      json.table1.map((t: { method: string; average: { vlmEff: { mean: number } } }) => [
        t.method,
        t.average.vlmEff.mean,
      ]),
    ).toEqual([
      ['ddpm', 1 / 3],
      ['csg', 1],
    ]);
  });

  it("draws the grid from the records' local image paths (relative to the results file)", async () => {
    const sub = join(dir, 'grid');
    await mkdir(join(sub, 'img'), { recursive: true });
    const colours = { original: [255, 0, 0], csg: [0, 255, 0], ddpm: [0, 0, 255] } as const;
    for (const [name, [r, g, b]] of Object.entries(colours)) {
      await sharp({ create: { width: 16, height: 16, channels: 3, background: { r, g, b } } })
        .png()
        .toFile(join(sub, 'img', `${name}.png`));
    }
    const local = (name: string) => ({ kind: 'local' as const, path: `img/${name}.png` });
    const rs = ['csg', 'ddpm', 'ddim'].map((m) => ({
      ...record(m, 'coco', '1', true),
      originalImage: local('original'),
      image: local(m), // ddim.png does not exist: a grey cell
    }));
    const file = join(sub, 'results.jsonl');
    await writeFile(file, rs.map((r) => JSON.stringify(r)).join('\n'));
    let stderr = '';
    const errSpy = vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
      stderr += String(chunk);
      return true;
    });
    const r = await capture([
      file,
      '--out',
      join(sub, 'out'),
      '--format',
      'json',
      '--grid',
      '1',
      '--bootstrap',
      '5',
    ]);
    errSpy.mockRestore();
    expect(r.code).toBe(0);
    expect(r.out).toContain('grid.png');
    expect(stderr).toMatch(/ddim\.png does not exist/);
    const png = join(sub, 'out', 'grid.png');
    const options = {
      columns: ['original', 'CSG', 'DDPM', 'DDIM'],
      rows: [{ label: '', images: [null, null, null, null] }],
    };
    const { data, info } = await sharp(png).raw().toBuffer({ resolveWithObject: true });
    const px = (col: number) => {
      const { left, top } = gridCellOrigin(options, 0, col);
      const i = ((top + 100) * info.width + left + 100) * info.channels;
      return [data[i], data[i + 1], data[i + 2]];
    };
    expect([px(0), px(1), px(2), px(3)]).toEqual([
      [255, 0, 0],
      [0, 255, 0],
      [0, 0, 255],
      [GRID_MISSING.r, GRID_MISSING.g, GRID_MISSING.b],
    ]);
    await expect(run([file, '--grid', '1'])).rejects.toThrow(/--grid needs --out/);
  });

  it('fails with exit code 2 naming the file, line and field of a bad record, or a bad option', async () => {
    const bad = join(dir, 'bad.jsonl');
    await writeFile(
      bad,
      `${JSON.stringify(record('csg', 'coco', '1', true))}\n${JSON.stringify({ ...record('csg', 'coco', '2', true), lpips: -1 })}\n`,
    );
    const err = await run([bad]).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CliError);
    expect((err as CliError).exitCode).toBe(2);
    expect((err as CliError).message).toMatch(/bad\.jsonl:2: lpips: .*\(got -1\)/);
    await expect(run([results, '--format', 'pdf'])).rejects.toThrow(/--format/);
    await expect(run([results, '--format', 'md,csv'])).rejects.toThrow(/need --out/);
    await expect(run([results, '--bootstrap', '0'])).rejects.toThrow(/--bootstrap/);
    await expect(run([join(dir, 'none.jsonl')])).rejects.toThrow(/no such file/);
  });
});
