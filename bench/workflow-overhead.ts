// Orchestration overhead per image (issue 6): the same edit — the bundled example, its interventions,
// the same methods and steps — once through the local engine path (`cgm edit`: no Temporal, no S3) and
// once through the workflow (`cgm run` against `cgm worker light` + `cgm worker gpu` on a private local
// stack), side by side.
//   npx tsx bench/workflow-overhead.ts [--steps 20] [--methods csg,ddpm,ddim] [--model BUNDLE] [--no-warmup]
// Default model: the tiny fixtures (tests/support/fixtures.ts). Reported: each path's wall time and
// the engine's own seconds inside it, the ratio of the walls, the time the workflow spends outside the
// engine (Temporal scheduling, S3 uploads/downloads, process hops), and the manifest's per-stage times.
// Caveats printed with the numbers: `cgm edit` pays process start + model load inside its wall time
// (the workers loaded the model before the clock started). Both paths batch the edits of one method
// for all interventions into one UNet call per step (the workflow with its default editBatch), so
// their UNet sample evaluations agree. Timings belong here, never in tests.
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { type SupervisedProcess, superviseProcess } from '../cli/dev/supervised-process.js';
import { createArtifactStore, createS3Client } from '../core/artifacts/index.js';
import { ArtifactRefSchema } from '../core/schemas/artifact.js';
import { type RunManifest, RunManifestSchema } from '../core/schemas/run-manifest.js';
import { REPO_ROOT, servicesDown, servicesUp } from '../infra/local/services.js';
import type { ServicesState } from '../infra/local/state.js';
import { ensureTinyFixtures } from '../tests/support/fixtures.js';

const EXAMPLE = join(REPO_ROOT, 'examples/rainy-street');
const CLI = join(REPO_ROOT, 'bin/cgm.mjs');
const STATE_DIR = join(REPO_ROOT, '.state/bench-workflow-overhead');
const OUT_FILE = join(REPO_ROOT, 'out/bench/workflow-overhead.json');
const READY_MS = 180_000;
/** Few, but more than the inversion's zero-noise steps need (the engine refuses 2). */
const WARMUP_STEPS = 5;

const { values } = parseArgs({
  options: {
    steps: { type: 'string', default: '20' },
    methods: { type: 'string', default: 'csg,ddpm,ddim' },
    model: { type: 'string' },
    'no-warmup': { type: 'boolean', default: false },
  },
});
const steps = Number(values.steps);
if (!Number.isInteger(steps) || steps < 1)
  throw new Error(`--steps: expected a positive integer, got ${values.steps}`);

const round = (s: number, digits = 3) => Math.round(s * 10 ** digits) / 10 ** digits;
const log = (line: string) => process.stderr.write(`[bench] ${line}\n`);

/** Runs `cgm <args>` to completion: its wall time (process start to exit) and its output. */
async function runToExit(name: string, args: string[], env: NodeJS.ProcessEnv, logDir: string) {
  const logFile = join(logDir, `${name}.log`);
  const t0 = performance.now();
  const child = superviseProcess({
    name,
    args: [CLI, ...args],
    env,
    cwd: REPO_ROOT,
    logFile,
    ready: /^(?!)/, // never matches: only the exit matters
    readyTimeoutMs: 3_600_000,
    echo: false,
  });
  const exit = await child.exited;
  const seconds = (performance.now() - t0) / 1000;
  await child.stop(0); // flushes the log file
  const output = await readFile(logFile, 'utf8');
  if (exit.code !== 0)
    throw new Error(`cgm ${args[0]} failed (${JSON.stringify(exit)}):\n${output.slice(-3000)}`);
  return { seconds, output };
}

function stackEnv(state: ServicesState, modelDir: string, suffix: string): NodeJS.ProcessEnv {
  const { temporal, s3 } = state.endpoints;
  return {
    ...process.env,
    CGM_TEMPORAL_ADDRESS: temporal.address,
    CGM_TEMPORAL_NAMESPACE: temporal.namespace,
    CGM_TASK_QUEUE_LIGHT: `bench-light-${suffix}`,
    CGM_TASK_QUEUE_GPU: `bench-gpu-${suffix}`,
    CGM_S3_ENDPOINT: s3.endpoint,
    CGM_S3_REGION: s3.region,
    CGM_S3_BUCKET: s3.bucket,
    CGM_S3_ACCESS_KEY_ID: s3.accessKeyId,
    CGM_S3_SECRET_ACCESS_KEY: s3.secretAccessKey,
    CGM_MODEL_DIR: modelDir,
    CGM_ENGINE_DEVICE: 'cpu',
    CGM_VLM_BASE_URL: 'http://127.0.0.1:9/v1', // the user's graph and interventions: no VLM call
  };
}

interface EditSummary {
  stages: { stage: string; seconds: number; nfe: { sampleEvaluations: number } }[];
  totals: { seconds: number; sampleEvaluations: number; unetCalls: number };
}

function stageWallSeconds(manifest: RunManifest): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [stage, s] of Object.entries(manifest.stages)) {
    if (s?.startedAt && s.finishedAt)
      out[stage] = round((Date.parse(s.finishedAt) - Date.parse(s.startedAt)) / 1000);
  }
  return out;
}

async function main(): Promise<void> {
  const modelDir = resolve(values.model ?? (await ensureTinyFixtures()).bundleDir);
  const caption = (await readFile(join(EXAMPLE, 'caption.txt'), 'utf8')).trim();
  const inputs = [
    join(EXAMPLE, 'image.png'),
    '--graph',
    join(EXAMPLE, 'graph.json'),
    '--interventions',
    join(EXAMPLE, 'interventions.json'),
    '--methods',
    values.methods,
    '--steps',
    String(steps),
  ];
  const logDir = join(STATE_DIR, 'logs');
  await mkdir(logDir, { recursive: true });

  log(`starting a private stack in ${STATE_DIR}`);
  const { state } = await servicesUp({ stateDir: join(STATE_DIR, 'services'), fresh: true, log });
  const env = stackEnv(state, modelDir, Date.now().toString(36));
  const workers: SupervisedProcess[] = [];
  const scratch = await mkdtemp(join(tmpdir(), 'cgm-bench-overhead-'));
  try {
    for (const [kind, ready] of [
      ['light', /light worker polling/],
      ['gpu', /gpu worker: model/],
    ] as const) {
      workers.push(
        superviseProcess({
          name: `worker-${kind}`,
          args: [CLI, 'worker', kind],
          env,
          cwd: REPO_ROOT,
          logFile: join(logDir, `worker-${kind}.log`),
          ready,
          readyTimeoutMs: READY_MS,
          echo: false,
        }),
      );
    }
    await Promise.all(workers.map((w) => w.ready));
    log('workers ready; timing the local path (cgm edit)');

    const local = await runToExit(
      'edit',
      ['edit', ...inputs, '--model', modelDir, '--prompt', caption, '--out', join(scratch, 'edit')],
      env,
      logDir,
    );
    const summary = JSON.parse(await readFile(join(scratch, 'edit/summary.json'), 'utf8')) as EditSummary;

    if (!values['no-warmup']) {
      // One untimed short run first: the workers' first workflow task and first ONNX runs pay one-off
      // costs (workflow bundle caching, ORT arena growth) that no later image pays. Other steps give
      // another inversion key, so the timed run still inverts.
      log(`warm-up run through the workflow (${WARMUP_STEPS} steps, untimed)`);
      const warm = inputs.map((a, i) => (inputs[i - 1] === '--steps' ? String(WARMUP_STEPS) : a));
      await runToExit('run-warmup', ['run', ...warm, '--caption', caption, '--no-judge'], env, logDir);
    }
    log('timing the workflow path (cgm run)');
    const wf = await runToExit('run', ['run', ...inputs, '--caption', caption, '--no-judge'], env, logDir);
    const printed = JSON.parse(
      wf.output
        .trim()
        .split('\n')
        .filter((l) => l.startsWith('{"workflowId"'))
        .at(-1) ?? '{}',
    ) as { manifest?: unknown; status?: string };
    if (printed.status !== 'succeeded')
      throw new Error(`cgm run did not succeed: ${JSON.stringify(printed)}`);
    const s3 = state.endpoints.s3;
    const client = createS3Client(s3);
    const store = createArtifactStore({ client, bucket: s3.bucket });
    const manifest = await store.getJson(RunManifestSchema, ArtifactRefSchema.parse(printed.manifest));
    client.destroy();

    const wfInvertEngine = manifest.inversions.reduce((a, i) => a + i.seconds, 0);
    const wfEditActivities = manifest.outputs.reduce((a, o) => a + o.seconds, 0);
    const wfEngine = wfInvertEngine + wfEditActivities;
    // Workflow start to manifest, in workflow time: the run without `cgm run`'s own process start.
    const wfSpan = (Date.parse(manifest.updatedAt) - Date.parse(manifest.createdAt)) / 1000;
    const localStages = Object.fromEntries(summary.stages.map((s) => [s.stage, 0]));
    for (const s of summary.stages) localStages[s.stage] += s.seconds;
    const result = {
      steps,
      methods: values.methods.split(','),
      interventions: new Set(manifest.outputs.map((o) => o.interventionId)).size,
      outputs: manifest.outputs.length,
      model: modelDir,
      local: {
        wallSeconds: round(local.seconds),
        engineSeconds: summary.totals.seconds,
        outsideEngineSeconds: round(local.seconds - summary.totals.seconds),
        sampleEvaluations: summary.totals.sampleEvaluations,
        stageSeconds: Object.fromEntries(Object.entries(localStages).map(([k, v]) => [k, round(v)])),
      },
      workflow: {
        wallSeconds: round(wf.seconds),
        engineSeconds: round(wfEngine),
        invertEngineSeconds: round(wfInvertEngine),
        editActivitySeconds: round(wfEditActivities),
        outsideEngineSeconds: round(wf.seconds - wfEngine),
        workflowSpanSeconds: round(wfSpan),
        spanOutsideEngineSeconds: round(wfSpan - wfEngine),
        sampleEvaluations:
          manifest.inversions.reduce((a, i) => a + i.nfe, 0) +
          manifest.outputs.reduce((a, o) => a + o.nfe, 0),
        stageWallSeconds: stageWallSeconds(manifest),
        hosts: manifest.hosts,
        workflowId: manifest.workflowId,
      },
      ratio: {
        wall: round(wf.seconds / local.seconds, 2),
        engine: round(wfEngine / summary.totals.seconds, 2),
      },
      overhead: {
        /** Time per image the workflow spends outside the engine (orchestration + S3 + process hops). */
        perImageSeconds: round(wf.seconds - wfEngine),
        shareOfWall: round((wf.seconds - wfEngine) / wf.seconds, 2),
      },
      notes: [
        'local wall includes process start and model load; the workers loaded the model before timing',
        values['no-warmup']
          ? 'no warm-up: the timed workflow run was the workers’ first'
          : `the workers ran one untimed ${WARMUP_STEPS}-step workflow first (warm-up)`,
        'both paths batch the edits of one method for all interventions per UNet call (the workflow: one edit activity per method, editBatch default)',
        'workflow editActivitySeconds include the edit activity’s inversion reload (if any), not its S3 uploads',
      ],
    };
    await mkdir(join(OUT_FILE, '..'), { recursive: true });
    await writeFile(OUT_FILE, `${JSON.stringify(result, null, 2)}\n`);
    printTable(result);
    log(`written ${OUT_FILE}`);
  } finally {
    await Promise.all(workers.map((w) => w.stop(30_000)));
    await servicesDown(join(STATE_DIR, 'services'));
    await rm(scratch, { recursive: true, force: true });
  }
}

function printTable(r: {
  steps: number;
  outputs: number;
  local: {
    wallSeconds: number;
    engineSeconds: number;
    outsideEngineSeconds: number;
    sampleEvaluations: number;
  };
  workflow: {
    wallSeconds: number;
    engineSeconds: number;
    outsideEngineSeconds: number;
    sampleEvaluations: number;
    workflowSpanSeconds: number;
    spanOutsideEngineSeconds: number;
    stageWallSeconds: Record<string, number>;
  };
  ratio: { wall: number; engine: number };
}): void {
  const row = (a: string, b: string | number, c: string | number) =>
    `| ${a.padEnd(34)} | ${String(b).padStart(12)} | ${String(c).padStart(12)} |`;
  const lines = [
    `N = ${r.steps} steps, ${r.outputs} counterfactuals (one image)`,
    row('', 'cgm edit', 'cgm run'),
    `|${'-'.repeat(36)}|${'-'.repeat(14)}|${'-'.repeat(14)}|`,
    row('wall seconds', r.local.wallSeconds, r.workflow.wallSeconds),
    row('engine seconds', r.local.engineSeconds, r.workflow.engineSeconds),
    row('outside the engine (s)', r.local.outsideEngineSeconds, r.workflow.outsideEngineSeconds),
    row('workflow start → manifest (s)', '', r.workflow.workflowSpanSeconds),
    row('  of which outside the engine (s)', '', r.workflow.spanOutsideEngineSeconds),
    row('UNet sample evaluations', r.local.sampleEvaluations, r.workflow.sampleEvaluations),
    '',
    `ratio workflow/local: wall ${r.ratio.wall}×, engine ${r.ratio.engine}×`,
    `workflow stages (wall s): ${Object.entries(r.workflow.stageWallSeconds)
      .map(([k, v]) => `${k} ${v}`)
      .join(', ')}`,
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
}

await main();
