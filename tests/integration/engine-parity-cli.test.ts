// `cgm edit` end to end on the tiny bundle (engine in its worker thread, no Temporal/S3), and the engine
// thread's jobs: cached inversion by content hash, export/import of the inversion state as bytes, and
// cancellation between steps.
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run as edit } from '../../cli/commands/edit.js';
import { planEdits } from '../../core/graph/plan-edits.js';
import { InterventionSetSchema } from '../../core/schemas/paper.js';
import { EngineHost } from '../../gpu-worker/engine/engine-host.js';
import type { EditResultMessage, InvertResult, LoadResult } from '../../gpu-worker/engine/engine-jobs.js';
import { ensureTinyFixtures, FIXTURES_TIMEOUT_MS, type TinyFixtures } from '../support/fixtures.js';

const EXAMPLE = resolve(import.meta.dirname, '../../examples/rainy-street');
let fixtures: TinyFixtures;
let tmp: string;

beforeAll(async () => {
  fixtures = await ensureTinyFixtures();
  tmp = await mkdtemp(join(tmpdir(), 'cgm-edit-'));
}, FIXTURES_TIMEOUT_MS);
afterAll(async () => {
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

describe('cgm edit (tiny model)', () => {
  it('a 640×480 image: outputs at its 4:3 aspect, nothing cropped (sizes in summary.json)', async () => {
    // the example scene squeezed to 640×480 with a red stripe along the left edge: a crop would lose it
    const raw = await sharp(join(EXAMPLE, 'image.png'))
      .resize(640, 480, { fit: 'fill' })
      .removeAlpha()
      .raw()
      .toBuffer();
    for (let y = 0; y < 480; y++) for (let x = 0; x < 40; x++) raw.set([255, 0, 0], (y * 640 + x) * 3);
    const image = join(tmp, 'wide.png');
    await sharp(raw, { raw: { width: 640, height: 480, channels: 3 } }).toFile(image);
    const out = join(tmp, 'wide-out');
    const code = await edit([
      image,
      ...['--model', fixtures.bundleDir, '--graph', join(EXAMPLE, 'graph.json')],
      ...['--interventions', join(EXAMPLE, 'interventions.json'), '--out', out],
      ...['--methods', 'csg,ddpm', '--steps', '4', '--warmup', '1'],
    ]);
    expect(code).toBe(0);
    const summary = JSON.parse(await readFile(join(out, 'summary.json'), 'utf8'));
    expect(summary.inputSize).toEqual({ width: 640, height: 480 });
    expect(summary.size).toEqual({ width: 128, height: 96 }); // the tiny model's area, exactly 4:3
    expect(summary.aspectChange).toBe(0);
    for (const r of summary.results) {
      const meta = await sharp(join(out, r.file)).metadata();
      expect([meta.width, meta.height], r.file).toEqual([128, 96]);
      for (const m of r.masks) {
        const mask = await sharp(join(out, m.file)).metadata();
        expect([mask.width, mask.height], m.file).toEqual([128, 96]);
      }
    }
    // the model saw the whole picture: the stripe is the left 1/16 of the preprocessed input
    const seen = await sharp(join(out, 'input.png')).raw().toBuffer({ resolveWithObject: true });
    expect([seen.info.width, seen.info.height]).toEqual([128, 96]);
    const red = (x: number, y: number) => {
      const p = (y * 128 + x) * seen.info.channels;
      return seen.data[p] > 200 && seen.data[p + 1] < 60 && seen.data[p + 2] < 60;
    };
    for (const y of [0, 48, 95]) {
      expect(red(0, y), `column 0, row ${y}`).toBe(true);
      expect(red(6, y), `column 6, row ${y}`).toBe(true);
    }
  });

  it('writes one PNG per intervention and method, the masks, summary.json and a trace', async () => {
    const out = join(tmp, 'out');
    const trace = join(tmp, 'trace');
    const code = await edit([
      join(EXAMPLE, 'image.png'),
      '--model',
      fixtures.bundleDir,
      '--graph',
      join(EXAMPLE, 'graph.json'),
      '--interventions',
      join(EXAMPLE, 'interventions.json'),
      '--out',
      out,
      '--steps',
      '6',
      '--warmup',
      '2',
      '--seed',
      '3',
      '--trace',
      trace,
    ]);
    expect(code).toBe(0);
    const summary = JSON.parse(await readFile(join(out, 'summary.json'), 'utf8'));
    expect(summary.results).toHaveLength(9);
    for (const r of summary.results) {
      const meta = await sharp(join(out, r.file)).metadata();
      expect([meta.width, meta.height]).toEqual([128, 128]);
      for (const m of r.masks) expect(existsSync(join(out, m.file))).toBe(true);
    }
    const csg = summary.results.filter((r: { method: string }) => r.method === 'csg');
    for (const r of csg as { masks: { activeSteps: number }[] }[]) {
      expect(r.masks.length).toBeGreaterThan(0);
      expect(r.masks.every((m) => m.activeSteps === 4)).toBe(true);
    }
    expect(summary.model.manifestSha256).toMatch(/^[0-9a-f]{64}$/);
    expect(summary.settings.inversion.numSteps).toBe(6);
    const stages = Object.fromEntries(
      summary.stages.map((s: { stage: string; nfe: { unetCalls: number } }) => [s.stage, s]),
    );
    for (const stage of [
      'invert-csg',
      'invert-ddpm',
      'invert-ddim',
      'edit-csg',
      'sample-ddpm',
      'sample-ddim',
    ]) {
      expect(stages[stage].nfe.unetCalls, stage).toBe(6);
      expect(stages[stage].seconds).toBeGreaterThan(0);
    }
    expect(summary.totals.sampleEvaluations).toBeLessThan(summary.totals.paperNaiveSampleEvaluations);
    const index = JSON.parse(await readFile(join(trace, 'index.json'), 'utf8'));
    expect(index.format).toBe('cgm-traces/1');
    expect(index.tensors['ledits/zs'].shape).toEqual([6, 1, 4, 16, 16]);
    expect(index.tensors['ledits/intervention_1/mask_intersect'].shape[0]).toBe(6);
  });

  it('--protect-non-descendants (beyond the paper): writes the images, the rule in the summary settings, NFE + protected × active steps', async () => {
    const args = (out: string) => [
      join(EXAMPLE, 'image.png'),
      '--model',
      fixtures.bundleDir,
      '--graph',
      join(EXAMPLE, 'graph.json'),
      '--interventions',
      join(EXAMPLE, 'interventions.json'),
      '--out',
      out,
      '--methods',
      'csg',
      '--steps',
      '6',
      '--warmup',
      '2',
      '--seed',
      '3',
    ];
    const plainOut = join(tmp, 'out-plain');
    expect(await edit(args(plainOut))).toBe(0);
    const out = join(tmp, 'out-protect');
    const trace = join(tmp, 'trace-protect');
    expect(await edit([...args(out), '--trace', trace, '--protect-non-descendants'])).toBe(0);
    const plain = JSON.parse(await readFile(join(plainOut, 'summary.json'), 'utf8'));
    const summary = JSON.parse(await readFile(join(out, 'summary.json'), 'utf8'));
    expect(plain.settings.beyondPaper).toBeUndefined();
    expect(summary.settings.beyondPaper.protectNonDescendants).toMatch(/beyond the paper/);
    expect(summary.results).toHaveLength(plain.results.length);
    let protectedTotal = 0;
    for (const r of summary.results) {
      expect(r.plan.choices.protectNonDescendants).toBe(true);
      protectedTotal += r.plan.protectedConcepts.length;
      const meta = await sharp(join(out, r.file)).metadata();
      expect([meta.width, meta.height]).toEqual([128, 128]);
      for (const m of r.masks) expect(existsSync(join(out, m.file))).toBe(true);
    }
    expect(protectedTotal).toBeGreaterThan(0);
    // every concept is active at steps 2..5 (warmup 2 of 6): + protected entries × 4 active steps
    const editNfe = (s: { stages: { stage: string; nfe: { sampleEvaluations: number } }[] }) =>
      s.stages.find((x) => x.stage === 'edit-csg')!.nfe.sampleEvaluations;
    expect(editNfe(summary) - editNfe(plain)).toBe(protectedTotal * 4);
    const index = JSON.parse(await readFile(join(trace, 'index.json'), 'utf8'));
    const first = summary.results.find(
      (r: { plan: { protectedConcepts: unknown[] } }) => r.plan.protectedConcepts.length > 0,
    );
    const id = first.interventionId.replace(/[^A-Za-z0-9_.-]/g, '_');
    expect(index.tensors[`ledits/${id}/mask_protected_nondescendants`].shape.slice(0, 3)).toEqual([
      6,
      first.plan.concepts.length,
      first.plan.protectedConcepts.length,
    ]);
  });

  it('rejects a missing model bundle with exit code 2', async () => {
    await expect(
      edit([
        join(EXAMPLE, 'image.png'),
        '--model',
        join(tmp, 'nope'),
        '--graph',
        join(EXAMPLE, 'graph.json'),
        '--interventions',
        join(EXAMPLE, 'interventions.json'),
        '--out',
        join(tmp, 'x'),
      ]),
    ).rejects.toMatchObject({ name: 'CliError', exitCode: 2 });
  });
});

describe('engine thread jobs', () => {
  it('caches, exports and imports inversions, and cancels an edit between steps', async () => {
    const host = await EngineHost.start(new URL('../../gpu-worker/engine/engine-thread.ts', import.meta.url));
    try {
      const loaded = await host.run<LoadResult>('load', { modelDir: fixtures.bundleDir, device: 'cpu' });
      expect(loaded.device).toBe('cpu');
      const image = new Uint8Array(await readFile(join(EXAMPLE, 'image.png')));
      const settings = { inversion: { numSteps: 8 }, baselines: { numSteps: 8 } };
      const payload = { image, sourcePrompt: 'a rainy street', methods: ['csg'], settings };
      const progress: unknown[] = [];
      const first = await host.run<InvertResult>('invert', payload, { onProgress: (e) => progress.push(e) });
      expect(first.cached).toBe(false);
      expect(progress).toHaveLength(8);
      const second = await host.run<InvertResult>('invert', payload);
      expect(second).toMatchObject({ key: first.key, cached: true });

      const bytes = await host.run<Uint8Array>('exportInversion', { key: first.key });
      const other = await EngineHost.start(
        new URL('../../gpu-worker/engine/engine-thread.ts', import.meta.url),
      );
      const interventions = InterventionSetSchema.parse(
        JSON.parse(await readFile(join(EXAMPLE, 'interventions.json'), 'utf8')),
      ).interventions;
      const graph = JSON.parse(await readFile(join(EXAMPLE, 'graph.json'), 'utf8'));
      const plans = interventions.flatMap((i) =>
        planEdits(graph, i, { sourcePrompt: 'a rainy street', methods: ['csg'] }),
      );
      try {
        await other.run('load', { modelDir: fixtures.bundleDir, device: 'cpu' });
        const { key } = await other.run<{ key: string }>('importInversion', { bytes });
        expect(key).toBe(first.key);
        const a = await host.run<EditResultMessage>('edit', { key, plans });
        const b = await other.run<EditResultMessage>('edit', { key, plans });
        expect(a.outcomes.map((o) => Buffer.from(o.png).toString('base64'))).toEqual(
          b.outcomes.map((o) => Buffer.from(o.png).toString('base64')),
        );
      } finally {
        await other.close();
      }

      const controller = new AbortController();
      const steps: number[] = [];
      const cancelled = host.run(
        'edit',
        { key: first.key, plans },
        {
          signal: controller.signal,
          onProgress: (e) => {
            steps.push((e as { step: number }).step);
            if (steps.length === 2) controller.abort();
          },
        },
      );
      await expect(cancelled).rejects.toMatchObject({ name: 'AbortError' });
      expect(steps.length).toBeLessThan(8);
      // the thread serves the next job
      await expect(host.run<InvertResult>('invert', payload)).resolves.toMatchObject({ cached: true });
    } finally {
      await host.close();
    }
  });
});
