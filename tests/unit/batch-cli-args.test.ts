// `cgm batch` refuses bad arguments and malformed data sets with one line and exit code 2, before it
// touches S3 or Temporal; --variant parses into a planning variant.
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseVariant } from '../../cli/batch-args.js';
import { CliError } from '../../cli/cli-error.js';
import { run } from '../../cli/commands/batch.js';
import { writeCelebaDataset } from '../support/batch-datasets.js';

let tmp = '';
beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'cgm-batch-cli-'));
});
afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

async function exitOf(argv: string[]): Promise<{ code: number; message: string }> {
  try {
    return { code: await run(argv), message: '' };
  } catch (err) {
    if (err instanceof CliError) return { code: err.exitCode, message: err.message };
    throw err;
  }
}

describe('cgm batch arguments', () => {
  it.each([
    [[], /expected either --dataset NAME=DIR options or one MANIFEST\.jsonl/],
    [['m.jsonl', '--dataset', 'coco=x'], /expected either/],
    [
      ['--dataset', 'imagenet=/data'],
      /--dataset: expected coco=DIR, celeba-hq=DIR or world=DIR \(got 'imagenet=\/data'\)/,
    ],
    [['--dataset', 'coco='], /--dataset: expected coco=DIR/],
    [['--dataset', 'coco=x', '--per-dataset', '0'], /--per-dataset: expected a positive integer \(got '0'\)/],
    [['--dataset', 'coco=x', '--methods', 'csg,sdedit'], /--methods: unknown method 'sdedit'/],
    [
      ['--dataset', 'coco=x', '--coco-split', 'test'],
      /--coco-split: expected one of val, train \(got 'test'\)/,
    ],
    [['--dataset', 'coco=x', '--steps', '2.5'], /--steps: expected a positive integer \(got '2\.5'\)/],
    [['--dataset', 'coco=x', '--edit-batch', '17'], /--edit-batch: expected .* in \[1, 16\] .*got '17'/],
    [
      ['--dataset', 'coco=x', '--baselines', 'ddpm'],
      /--baselines: expected one of paper, ef-ddpm \(got 'ddpm'\)/,
    ],
    [['--dataset', 'coco=x', '--bogus'], /Unknown option '--bogus'/],
  ])('%j exits 2', async (argv, message) => {
    const r = await exitOf(argv as string[]);
    expect(r.code).toBe(2);
    expect(r.message).toMatch(message);
  });

  it('exits 2 naming the file for a malformed data set', async () => {
    const root = join(tmp, 'celeba');
    await writeCelebaDataset(root, [0, 1]);
    await rm(join(root, 'text', 'celeba-caption', '1.txt'));
    const r = await exitOf(['--dataset', `celeba-hq=${root}`]);
    expect(r.code).toBe(2);
    expect(r.message).toMatch(/celeba-caption\/1\.txt.*no such file/);
  });

  it('exits 2 naming the line for a malformed manifest, and for a missing one', async () => {
    const file = join(tmp, 'bad.jsonl');
    await mkdir(tmp, { recursive: true });
    await writeFile(file, '{"dataset":"coco","id":"1"}\n');
    const bad = await exitOf([file]);
    expect(bad.code).toBe(2);
    expect(bad.message).toMatch(/bad\.jsonl:1: image:/);
    const missing = await exitOf([join(tmp, 'nope.jsonl')]);
    expect(missing).toEqual({ code: 2, message: `${join(tmp, 'nope.jsonl')}: cannot read (no such file)` });
  });
});

describe('parseVariant', () => {
  it('reads name:choice=value pairs into planning overrides', () => {
    expect(parseVariant('reverse:reverseOldValues=true,promptStyle=name_value')).toEqual({
      name: 'reverse',
      planning: { reverseOldValues: true, promptStyle: 'name_value' },
    });
    expect(parseVariant('paper')).toEqual({ name: 'paper', planning: {} });
  });
  it('reads the run choices steps=N and methods=a/b', () => {
    expect(parseVariant('csg25:methods=csg,steps=25')).toEqual({
      name: 'csg25',
      planning: {},
      methods: ['csg'],
      steps: 25,
    });
    expect(parseVariant('unguided:methods=csg,sourceGuidance=1')).toEqual({
      name: 'unguided',
      planning: {},
      methods: ['csg'],
      sourceGuidance: 1,
    });
    expect(parseVariant('wide:methods=csg,scale=16,threshold=0.5,warmup=5')).toEqual({
      name: 'wide',
      planning: { scale: 16, threshold: 0.5, warmup: 5 },
      methods: ['csg'],
    });
    expect(parseVariant('fast:methods=csg/ddpm,steps=50,reverseOldValues=true')).toEqual({
      name: 'fast',
      planning: { reverseOldValues: true },
      methods: ['csg', 'ddpm'],
      steps: 50,
    });
    expect(parseVariant('eq12:methods=csg,csgBase=interventional,spanMode=words')).toEqual({
      name: 'eq12',
      planning: { csgBase: 'interventional' },
      methods: ['csg'],
      spanMode: 'words',
    });
  });
  it.each([
    ['Bad Name:reverseOldValues=true', /name: expected 1-32 lowercase letters/],
    ['x:guidance=3', /expected choice=value with choice one of promptStyle, /],
    ['x:reverseOldValues=yes', /planning\.reverseOldValues: .*\(got "yes"\)/],
    ['x:steps=many', /steps: .*number/],
    ['x:steps=1', /steps: .*>=2/],
    ['x:threshold=2', /planning\.threshold: .*<=1/],
    ['x:scale=big', /planning\.scale: .*number/],
    ['x:methods=csg/sdedit', /methods\[1\]: .*\(got "sdedit"\)/],
    ['x:csgBase=conditional', /planning\.csgBase: .*\(got "conditional"\)/],
    ['x:spanMode=tokens', /spanMode: .*\(got "tokens"\)/],
  ])('%s is refused with exit 2', (text, message) => {
    try {
      parseVariant(text);
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(CliError);
      expect((err as CliError).exitCode).toBe(2);
      expect((err as Error).message).toMatch(message);
    }
  });
});
