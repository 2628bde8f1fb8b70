// `cgm edit IMAGE --model DIR --graph G.json --interventions I.json --out DIR [options]`: counterfactual
// edits of one image, locally (no Temporal, no S3). The engine runs in a worker thread; one inversion per
// method family serves every intervention; the CSG edits of all interventions share one UNet call per
// step. Writes one PNG per intervention and method, the CSG masks, and summary.json.
// Exit codes: 0 done; 2 bad arguments or inputs; 1 engine failure; 130 cancelled (Ctrl-C).
import { mkdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { planEdits } from '../../core/graph/plan-edits.js';
import { repairGraph } from '../../core/graph/repair.js';
import { moduleUrl } from '../../core/runtime/module-url.js';
import {
  type EditChoices,
  EditChoicesSchema,
  type EditMethod,
  EditMethodSchema,
  type EditPlan,
} from '../../core/schemas/edit-plan.js';
import { ConceptGraphSchema, InterventionSetSchema } from '../../core/schemas/paper.js';
import { EngineHost } from '../../gpu-worker/engine/engine-host.js';
import type { EditResultMessage, InvertResult, LoadResult } from '../../gpu-worker/engine/engine-jobs.js';
import type { PipelineProgress, StageStats } from '../../gpu-worker/engine/pipeline.js';
import { naiveNfe, PROTECT_NON_DESCENDANTS_RULE } from '../../gpu-worker/engine/pipeline.js';
import { type EngineSettingsInput, EngineSettingsSchema } from '../../gpu-worker/engine/settings.js';
import { CliError } from '../cli-error.js';
import { describeIssues, readBytes, readJsonFile, readJsonWithRaw } from '../input-files.js';

const USAGE = `usage: cgm edit IMAGE --model DIR --graph G.json --interventions I.json --out DIR
        [--methods csg,ddpm,ddim] [--trace DIR] [--seed N] [--prompt TEXT] [--steps N]
        [--warmup N] [--mode faithful|fixed] [--settings S.json] [--device cpu|cuda]
        [--allow-cpu-fallback] [--protect-non-descendants]
        [--csg-base unconditional|interventional]

  --model      ONNX model bundle folder (cgm export-models)
  --out        output folder: one PNG per intervention and method, the CSG masks, summary.json
  --methods    which methods to run (default csg,ddpm,ddim)
  --trace      also write the pipeline's intermediate tensors (traces) into DIR
  --seed       seed of the edit-friendly inversion's forward-diffusion noises (engine default 0)
  --mode       faithful (default: as diffusers, quirks kept) or fixed (their evident intent;
               docs/algorithm.md §7)
  --prompt     source prompt Y for the inversion (default: the graph's scene_summary)
  --steps      inversion/sampling steps N for every method (paper: 100)
  --warmup     CSG edit warmup steps per concept (paper: 10)
  --settings   engine settings JSON (gpu-worker/engine/settings.ts); flags override it
  --device     ONNX Runtime provider (default $CGM_DEVICE, else $CGM_ENGINE_DEVICE, else cpu)
  --allow-cpu-fallback  use the CPU with a warning when CUDA cannot start
               (also CGM_ALLOW_CPU_FALLBACK=1)
  --protect-non-descendants  beyond the paper: cut the non-descendant concepts' attention regions
               out of the CSG edit masks (one extra batch entry per protected concept and
               active step)
  --csg-base   CSG's base estimate: 'interventional' (the paper's Eq. 12 as written, default) or
               'unconditional' (LEDITS++'s form); docs/algorithm.md "Two readings of Eq. 12"`;

export async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parseOrThrow(argv);
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  if (positionals.length !== 1) throw new CliError(`expected one IMAGE\n${USAGE}`, 2);
  const need = (name: 'model' | 'graph' | 'interventions' | 'out') => {
    const v = values[name];
    if (!v) throw new CliError(`--${name} is required\n${USAGE}`, 2);
    return v;
  };
  const imagePath = positionals[0];
  const modelDir = resolve(need('model'));
  const outDir = resolve(need('out'));
  const traceDir = values.trace ? resolve(values.trace) : undefined;
  const methods = parseMethods(values.methods ?? 'csg,ddpm,ddim');
  const device = parseDevice(
    values.device ?? process.env.CGM_DEVICE ?? process.env.CGM_ENGINE_DEVICE ?? 'cpu',
  );
  const allowCpuFallback =
    values['allow-cpu-fallback'] || /^(1|true|yes)$/i.test(process.env.CGM_ALLOW_CPU_FALLBACK ?? '');

  const graph = await readJsonFile(need('graph'), ConceptGraphSchema, 'concept graph');
  const interventions = (await readJsonFile(need('interventions'), InterventionSetSchema, 'intervention set'))
    .interventions;
  const settingsInput: EngineSettingsInput = values.settings
    ? ((await readJsonWithRaw(values.settings, EngineSettingsSchema, 'engine settings file'))
        .raw as EngineSettingsInput)
    : {};
  const settings = EngineSettingsSchema.parse(applyFlags(settingsInput, values));
  const imageBytes = await readBytes(imagePath);
  const sourcePrompt = values.prompt ?? graph.scene_summary;

  const csgBase = parseCsgBase(values['csg-base']);
  const repaired = repairGraph(graph);
  const plans: EditPlan[] = interventions.flatMap((intervention) =>
    planEdits(repaired.graph, intervention, {
      sourcePrompt: sourcePrompt.trim() === '' ? '(none)' : sourcePrompt,
      methods,
      scale: settings.edit.scale,
      threshold: settings.edit.threshold,
      warmup: settings.edit.warmup,
      protectNonDescendants: values['protect-non-descendants'],
      ...(csgBase ? { csgBase } : {}),
    }),
  );

  const host = await EngineHost.start(moduleUrl('../../gpu-worker/engine/engine-thread.ts', import.meta.url));
  const controller = new AbortController();
  const onSigint = () => controller.abort();
  process.once('SIGINT', onSigint);
  const bar = progressBar();
  try {
    const loaded = await host.run<LoadResult>('load', { modelDir, device, allowCpuFallback });
    for (const w of loaded.warnings) process.stderr.write(`cgm: warning: ${w}\n`);
    const t0 = performance.now();
    const inverted = await host.run<InvertResult>(
      'invert',
      { image: imageBytes, sourcePrompt, methods, settings, traceDir },
      { signal: controller.signal, onProgress: bar.update },
    );
    const edited = await host.run<EditResultMessage>(
      'edit',
      { key: inverted.key, plans, settings, traceDir },
      { signal: controller.signal, onProgress: bar.update },
    );
    bar.done();
    const totalSeconds = (performance.now() - t0) / 1000;
    await writeOutputs({
      outDir,
      imagePath,
      loaded,
      modelDir,
      inverted,
      edited,
      plans,
      settings,
      sourcePrompt,
      methods,
      traceDir,
      totalSeconds,
      protectNonDescendants: values['protect-non-descendants'],
      repairs: repaired.repairs,
    });
    return 0;
  } catch (err) {
    bar.done();
    if ((err as Error).name === 'AbortError') {
      process.stderr.write('cgm: edit cancelled\n');
      return 130;
    }
    if (['ModelBundleError', 'BundleManifestError', 'ImageInputError'].includes((err as Error).name)) {
      throw new CliError((err as Error).message, 2);
    }
    throw err;
  } finally {
    process.off('SIGINT', onSigint);
    await host.close();
  }
}

interface Outputs {
  outDir: string;
  imagePath: string;
  modelDir: string;
  loaded: LoadResult;
  inverted: InvertResult;
  edited: EditResultMessage;
  plans: EditPlan[];
  settings: ReturnType<typeof EngineSettingsSchema.parse>;
  sourcePrompt: string;
  methods: EditMethod[];
  traceDir?: string;
  totalSeconds: number;
  repairs: unknown;
  protectNonDescendants: boolean;
}

async function writeOutputs(o: Outputs): Promise<void> {
  await mkdir(o.outDir, { recursive: true });
  await writeFile(join(o.outDir, 'input.png'), o.inverted.inputPng);
  const results = [];
  for (const r of o.edited.outcomes) {
    const dir = join(o.outDir, safe(r.interventionId));
    await mkdir(dir, { recursive: true });
    const file = join(safe(r.interventionId), `${r.method}.png`);
    await writeFile(join(o.outDir, file), r.png);
    const masks = [];
    for (const [i, m] of r.masks.entries()) {
      const maskFile = join(safe(r.interventionId), `${r.method}-mask-${i}-${safe(m.conceptId)}.png`);
      await writeFile(join(o.outDir, maskFile), m.png);
      masks.push({
        file: maskFile,
        prompt: m.prompt,
        conceptId: m.conceptId,
        role: m.role,
        activeSteps: m.activeSteps,
      });
    }
    const plan = o.plans.find((p) => p.interventionId === r.interventionId && p.method === r.method);
    // nfe: the stages that produced this result (inversion + edit), whose work `sharedWith` results share
    const unetCalls = r.nfe.inversion.unetCalls + r.nfe.edit.unetCalls;
    const sampleEvaluations = r.nfe.inversion.sampleEvaluations + r.nfe.edit.sampleEvaluations;
    const nfe = {
      unetCalls,
      sampleEvaluations,
      amortisedSampleEvaluations: round(sampleEvaluations / r.nfe.sharedWith),
      ...r.nfe,
    };
    results.push({ interventionId: r.interventionId, method: r.method, file, masks, nfe, plan });
  }
  const stages: StageStats[] = [...o.inverted.stages, ...o.edited.stages];
  const sum = (pick: (s: StageStats) => number) => stages.reduce((a, s) => a + pick(s), 0);
  const sourceGuided = o.sourcePrompt !== '' && o.settings.inversion.sourceGuidanceScale > 1;
  const summary = {
    image: resolve(o.imagePath),
    input: 'input.png',
    size: { height: o.inverted.imageHeight, width: o.inverted.imageWidth },
    sourcePrompt: o.sourcePrompt,
    methods: o.methods,
    model: {
      dir: o.modelDir,
      name: o.loaded.name,
      manifestSha256: o.loaded.manifestHash,
      device: o.loaded.device,
    },
    // Beyond-the-paper options are listed (with their exact rule) only when on, so paper runs read as before.
    settings: o.protectNonDescendants
      ? { ...o.settings, beyondPaper: { protectNonDescendants: PROTECT_NON_DESCENDANTS_RULE } }
      : o.settings,
    inversionKey: o.inverted.key,
    stages: stages.map((s) => ({ ...s, seconds: round(s.seconds) })),
    totals: {
      unetCalls: sum((s) => s.nfe.unetCalls),
      sampleEvaluations: sum((s) => s.nfe.sampleEvaluations),
      seconds: round(o.totalSeconds),
      paperNaiveSampleEvaluations: naiveNfe(o.settings, o.plans, sourceGuided),
    },
    results,
    graphRepairs: o.repairs,
    trace: o.traceDir ?? null,
  };
  await writeFile(join(o.outDir, 'summary.json'), `${JSON.stringify(summary, null, 2)}\n`);
  process.stdout.write(
    `${results.length} image(s) written to ${o.outDir} (${summary.totals.sampleEvaluations} UNet sample evaluations, ` +
      `paper-naive ${summary.totals.paperNaiveSampleEvaluations}; ${summary.totals.seconds}s)\n`,
  );
}

const round = (s: number) => Math.round(s * 1000) / 1000;
const safe = (id: string) => id.replace(/[^A-Za-z0-9._-]/g, '_');

function progressBar() {
  const tty = process.stderr.isTTY;
  let last = '';
  let lastPrinted = 0;
  return {
    update(event: unknown) {
      const e = event as PipelineProgress;
      const width = 24;
      const filled = Math.round((e.step / e.total) * width);
      const line = `${e.stage.padEnd(11)} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${e.step}/${e.total} t=${e.timestep} nfe=${e.nfe.sampleEvaluations}`;
      if (tty) {
        process.stderr.write(`\r${line}`);
        last = line;
      } else if (e.step === e.total || e.step - lastPrinted >= Math.max(1, Math.floor(e.total / 4))) {
        process.stderr.write(`${line}\n`);
        lastPrinted = e.step === e.total ? 0 : e.step;
      }
    },
    done() {
      if (tty && last) process.stderr.write('\n');
      last = '';
    },
  };
}

function parseOrThrow(argv: string[]) {
  try {
    return parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        model: { type: 'string' },
        graph: { type: 'string' },
        interventions: { type: 'string' },
        out: { type: 'string' },
        methods: { type: 'string' },
        trace: { type: 'string' },
        seed: { type: 'string' },
        prompt: { type: 'string' },
        steps: { type: 'string' },
        warmup: { type: 'string' },
        mode: { type: 'string' },
        settings: { type: 'string' },
        device: { type: 'string' },
        'allow-cpu-fallback': { type: 'boolean', default: false },
        'protect-non-descendants': { type: 'boolean', default: false },
        'csg-base': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (err) {
    throw new CliError(`${(err as Error).message}\n${USAGE}`, 2);
  }
}

function parseCsgBase(value: string | undefined): EditChoices['csgBase'] | undefined {
  if (value === undefined) return undefined;
  const parsed = EditChoicesSchema.shape.csgBase.safeParse(value);
  if (!parsed.success) {
    throw new CliError(`--csg-base: expected 'unconditional' or 'interventional', got '${value}'`, 2);
  }
  return parsed.data;
}

type Flags = ReturnType<typeof parseOrThrow>['values'];

function applyFlags(input: EngineSettingsInput, values: Flags): EngineSettingsInput {
  const out: EngineSettingsInput = { ...input };
  const int = (name: string, v: string) => {
    if (!/^\d+$/.test(v)) throw new CliError(`--${name} expects a non-negative integer, got '${v}'`, 2);
    return Number(v);
  };
  if (values.seed !== undefined) out.seed = int('seed', values.seed);
  if (values.mode !== undefined) {
    if (values.mode !== 'faithful' && values.mode !== 'fixed') {
      throw new CliError(`--mode expects faithful or fixed, got '${values.mode}'`, 2);
    }
    out.mode = values.mode;
  }
  if (values.steps !== undefined) {
    const n = int('steps', values.steps);
    out.inversion = { ...input.inversion, numSteps: n };
    out.baselines = { ...input.baselines, numSteps: n };
  }
  if (values.warmup !== undefined) out.edit = { ...input.edit, warmup: int('warmup', values.warmup) };
  const parsed = EngineSettingsSchema.safeParse(out);
  if (!parsed.success) throw new CliError(`engine settings: ${describeIssues(parsed.error)}`, 2);
  return out;
}

function parseMethods(text: string): EditMethod[] {
  const list = text
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  const out: EditMethod[] = [];
  for (const m of list) {
    const parsed = EditMethodSchema.safeParse(m);
    if (!parsed.success) throw new CliError(`--methods: unknown method '${m}' (expected csg, ddpm, ddim)`, 2);
    if (!out.includes(parsed.data)) out.push(parsed.data);
  }
  if (out.length === 0) throw new CliError('--methods: give at least one of csg, ddpm, ddim', 2);
  return out;
}

function parseDevice(text: string): 'cpu' | 'cuda' {
  if (text !== 'cpu' && text !== 'cuda') throw new CliError(`device must be cpu or cuda, got '${text}'`, 2);
  return text;
}
