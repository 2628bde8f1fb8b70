// `cgm batch`: a data set sample through batchWorkflow (docs/architecture.md §3) and the Table 1 report back.
//   cgm batch --dataset coco=DIR --dataset celeba-hq=DIR [options]   local copies, read by the loaders
//   cgm batch --dataset world=DIR [options]                            a `cgm world dataset` folder: its
//                                                                     ground truth rides on each line
//   cgm batch MANIFEST.jsonl [options]                                a batch manifest; local paths are
//                                                                     relative to the manifest's folder
// The sample (seeded, without replacement, per data set; cli/batch-sample.ts) is drawn here, only its
// images are uploaded to S3 (content-addressed) and the manifest of S3 refs goes to S3; the workflow
// then runs every image of it. Progress goes to stderr; at the end results.jsonl, report.md,
// report.json and outcomes.jsonl are downloaded to --out, where `cgm report OUT/results.jsonl` works.
// Unless --no-lpips, it refuses to start (nothing stored) when no GPU worker with LPIPS is polling.
// Exit codes: 0 done; 1 the batch failed; 2 bad arguments or a malformed data set; 69 no GPU worker
// with LPIPS (or Temporal/S3 unreachable); 130 cancelled.
import { mkdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { Client, Connection, WorkflowFailedError } from '@temporalio/client';
import { CancelledFailure } from '@temporalio/common';
import type { ArtifactStore } from '../../core/artifacts/store.js';
import { loadConfig, PAPER_DEFAULTS, temporalConnectOptions } from '../../core/config/index.js';
import { BASELINE_PRESET_NAMES } from '../../core/config/paper-defaults.js';
import { BATCH_PROGRESS_QUERY } from '../../core/constants.js';
import type { ArtifactRef } from '../../core/schemas/artifact.js';
import {
  type BatchInput,
  BatchInputSchema,
  type BatchProgress,
  type BatchResult,
} from '../../core/schemas/batch-io.js';
import type { batchWorkflow } from '../../workflows/batch.js';
import { parseSeed, parseVariant } from '../batch-args.js';
import { datasetSample, manifestSample, uploadSample } from '../batch-sample.js';
import { CliError } from '../cli-error.js';
import { defineCommand } from '../command-definition.js';
import { artifactStoreOf } from '../config-store.js';
import { parseEditBatch } from '../edit-batch-arg.js';
import { followWorkflow } from '../follow-workflow.js';
import { describeIssues } from '../input-files.js';
import { requireLpipsWorker } from '../lpips-worker-check.js';
import {
  oneOf,
  parseMethods,
  parseSteps,
  positiveInt,
  SHARED_OPTIONS,
  withSteps,
} from '../option-parsers.js';
import { printDetached, startOnLightQueue } from '../start-workflow.js';

const DEFAULT_SEED = 'fm-cgm-batch';
export const BATCH = defineCommand({
  name: 'batch',
  synopsis: ['cgm batch (--dataset NAME=DIR ... | MANIFEST.jsonl) [options]'],
  options: {
    dataset: {
      type: 'string',
      multiple: true,
      value: 'NAME=DIR',
      help:
        'a local data set copy, repeatable:\n' +
        '  coco: annotations/captions_{split}2017.json + {split}2017/;\n' +
        '  celeba-hq: image/{idx}.jpg + text/celeba-caption/{idx}.txt;\n' +
        '  world: a `cgm world dataset` folder, scored against its true counterfactuals',
    },
    'coco-split': { type: 'string', value: 'S', help: 'val (default) or train' },
    'per-dataset': {
      type: 'string',
      value: 'N',
      help: `images sampled per data set (default ${PAPER_DEFAULTS.imagesPerDataset}; with MANIFEST: all lines)`,
    },
    seed: {
      type: 'string',
      value: 'S',
      help: `sampling seed, an integer or a string (default ${DEFAULT_SEED})`,
    },
    window: { type: 'string', value: 'W', help: 'child runs in flight at once (default 4)' },
    'page-size': {
      type: 'string',
      value: 'P',
      help: 'child runs per workflow run before continue-as-new (default 50)',
    },
    methods: SHARED_OPTIONS.methods,
    steps: SHARED_OPTIONS.steps,
    'edit-batch': SHARED_OPTIONS['edit-batch'],
    baselines: {
      type: 'string',
      value: 'PRESET',
      help:
        "the DDPM/DDIM baselines' settings: paper (default) or ef-ddpm (docs/algorithm.md §4); " +
        "--steps overrides the preset's step count",
    },
    variant: {
      type: 'string',
      multiple: true,
      value: 'NAME:choice=value,...',
      help:
        'a variant, e.g. reverse:reverseOldValues=true; repeatable (planning choices: promptStyle, ' +
        'includeNonDescendantChanges, reverseOldValues, protectNonDescendants, csgBase; ' +
        "CSG's scale, threshold, warmup, sourceGuidance (its inversion's w_src), " +
        'spanMode=words|padded75 and steps=N, which tag the report rows (+scale16, +steps50, ' +
        "+span-words); methods=csg/ddpm, slash-separated); default one variant 'paper'",
    },
    'no-judge': { type: 'boolean', help: 'skip the VLM judge (the report then has no VLM-Eff)' },
    'no-lpips': {
      type: 'boolean',
      help:
        'run without LPIPS: the batch otherwise refuses to start unless a GPU worker with an LPIPS ' +
        'graph (cgm worker gpu --lpips DIR) polls <CGM_TASK_QUEUE_GPU>-lpips; with it, any GPU ' +
        'worker serves and the report warns of, and leaves empty, the LPIPS it lacks',
    },
    id: { type: 'string', value: 'ID', help: 'workflow id and batch id (default batch-<time>)' },
    out: {
      type: 'string',
      value: 'DIR',
      help: 'where the results and the report go (default out/batches/<id>)',
    },
    detach: SHARED_OPTIONS.detach,
  },
});

export async function run(argv: string[]): Promise<number> {
  const args = BATCH.parse(argv);
  if (!args) return 0;
  const { values, positionals } = args;
  const datasets = values.dataset ?? [];
  if (positionals.length > 1 || (positionals.length === 1) === datasets.length > 0) {
    throw BATCH.usageError('expected either --dataset NAME=DIR options or one MANIFEST.jsonl');
  }
  const perDataset =
    values['per-dataset'] !== undefined
      ? positiveInt('--per-dataset', values['per-dataset'])
      : positionals.length === 1
        ? undefined
        : PAPER_DEFAULTS.imagesPerDataset;
  const seed = parseSeed(values.seed ?? DEFAULT_SEED);
  const split = oneOf('--coco-split', values['coco-split'] ?? 'val', ['val', 'train']);
  const methods = parseMethods(values.methods ?? 'csg,ddpm,ddim');
  let engine: Record<string, unknown> =
    values.steps === undefined ? {} : withSteps({}, parseSteps(values.steps));
  if (values.baselines !== undefined) {
    const preset = oneOf('--baselines', values.baselines, BASELINE_PRESET_NAMES);
    engine = { ...engine, baselines: { ...(engine.baselines as object | undefined), preset } };
  }
  const editBatch = values['edit-batch'] === undefined ? undefined : parseEditBatch(values['edit-batch']);
  const variants = (values.variant ?? []).map(parseVariant);
  const workflowId = values.id ?? `batch-${Date.now().toString(36)}`;

  // ---- the sample, from the loaders or a manifest -----------------------------------------------------
  const { lines, base } =
    positionals.length === 1
      ? await manifestSample(positionals[0], perDataset, seed)
      : await datasetSample(datasets, split, perDataset ?? PAPER_DEFAULTS.imagesPerDataset, seed);
  if (lines.length === 0) throw new CliError('the sample is empty: no image to run', 2);

  const window = values.window === undefined ? undefined : positiveInt('--window', values.window);
  const pageSize =
    values['page-size'] === undefined ? undefined : positiveInt('--page-size', values['page-size']);

  const config = loadConfig();
  const connection = await Connection.connect(await temporalConnectOptions(config.temporal));
  try {
    // Checked before anything is stored; every run of the batch is then pinned to a host with LPIPS.
    const gpuTaskQueue = values['no-lpips']
      ? config.temporal.taskQueues.gpu
      : await requireLpipsWorker(
          connection.workflowService,
          config.temporal.namespace,
          config.temporal.taskQueues.gpu,
        );
    const store = artifactStoreOf(config);
    process.stderr.write(`cgm: uploading ${lines.length} image(s)\n`);
    const manifest = await uploadSample(store, lines, base);

    const parsed = BatchInputSchema.safeParse(
      {
        batchId: workflowId,
        manifest,
        // The manifest already is the sample (drawn above): the workflow runs all of it in its order.
        sample: { seed },
        ...(window === undefined ? {} : { window }),
        ...(pageSize === undefined ? {} : { pageSize }),
        run: {
          methods,
          engine,
          ...(editBatch === undefined ? {} : { editBatch }),
          evaluate: { judge: !values['no-judge'] },
          hosts: { gpuTaskQueue },
        },
        ...(variants.length > 0 ? { variants } : {}),
      },
      { reportInput: true },
    );
    if (!parsed.success) throw new CliError(`invalid batch: ${describeIssues(parsed.error)}`, 2);
    const input: BatchInput = parsed.data;

    const client = new Client({ connection, namespace: config.temporal.namespace });
    const handle = await startOnLightQueue<typeof batchWorkflow>(
      client,
      config,
      'batchWorkflow',
      workflowId,
      [input],
    );
    if (values.detach) return printDetached(workflowId);
    const out = resolve(values.out ?? join('out', 'batches', workflowId.replace(/[^A-Za-z0-9._-]/g, '_')));
    return await follow(handle, store, out);
  } finally {
    await connection.close();
  }
}

type Handle = {
  workflowId: string;
  result(): Promise<BatchResult>;
  query<T>(name: string): Promise<T>;
  cancel(): Promise<unknown>;
};

/** Progress on stderr until the end; the report downloaded; Ctrl-C cancels (what finished is kept). */
async function follow(handle: Handle, store: ArtifactStore, out: string): Promise<number> {
  const progress = () => handle.query<BatchProgress>(BATCH_PROGRESS_QUERY);
  try {
    const done = await followWorkflow(handle, {
      poll: progress,
      frame: progressFrame,
      intervalMs: 1000,
      onCancel: 'the report of what finished is still written',
    });
    const files = await download(store, done, out);
    process.stdout.write(
      `${JSON.stringify({ workflowId: handle.workflowId, status: 'succeeded', ...done, files })}\n`,
    );
    return 0;
  } catch (err) {
    if (!(err instanceof WorkflowFailedError)) throw err;
    if (err.cause instanceof CancelledFailure) {
      const partial = (await progress().catch(() => null))?.result ?? null;
      const files = partial ? await download(store, partial, out) : null;
      process.stdout.write(
        `${JSON.stringify({ workflowId: handle.workflowId, status: 'cancelled', ...(partial ?? {}), files })}\n`,
      );
      return 130;
    }
    throw new CliError(`batch ${handle.workflowId} failed: ${err.cause?.message ?? err.message}`, 1);
  }
}

async function download(store: ArtifactStore, result: BatchResult, out: string) {
  await mkdir(out, { recursive: true });
  const files: Record<string, string> = {};
  const wanted: [string, ArtifactRef][] = [
    ['results.jsonl', result.results],
    ['report.md', result.reportMarkdown],
    ['report.json', result.reportJson],
    ['outcomes.jsonl', result.outcomes],
  ];
  for (const [name, ref] of wanted) {
    const path = join(out, name);
    await writeFile(path, await store.get(ref));
    files[name] = path;
  }
  return files;
}

/** The counted unit is a child run (an image of one variant); its rate gives the batch's ETA. */
function progressFrame(p: BatchProgress) {
  return {
    label: `${p.phase.padEnd(9)} page ${p.page}`,
    done: p.succeeded + p.failed,
    total: p.total,
    unit: 'runs',
    detail: `(${p.succeeded} ok, ${p.failed} failed, ${p.running.length} running)`,
  };
}
