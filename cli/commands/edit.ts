// `cgm edit IMAGE --model DIR --graph G.json --interventions I.json --out DIR [options]`: counterfactual
// edits of one image, locally (no Temporal, no S3). The engine runs in a worker thread; one inversion per
// method family serves every intervention; the CSG edits of all interventions share one UNet call per
// step. Writes one PNG per intervention and method, the CSG masks, and summary.json.
// Exit codes: 0 done; 2 bad arguments or inputs; 1 engine failure; 130 cancelled (Ctrl-C).
import { mkdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { planEdits } from '../../core/graph/plan-edits.js';
import { repairGraph } from '../../core/graph/repair.js';
import { moduleUrl } from '../../core/runtime/module-url.js';
import {
  type EditChoices,
  EditChoicesSchema,
  type EditMethod,
  type EditPlan,
} from '../../core/schemas/edit-plan.js';
import { ConceptGraphSchema, InterventionSetSchema } from '../../core/schemas/paper.js';
import { EngineHost } from '../../gpu-worker/engine/engine-host.js';
import type { EditResultMessage, InvertResult, LoadResult } from '../../gpu-worker/engine/engine-jobs.js';
import type { PipelineProgress, StageStats } from '../../gpu-worker/engine/pipeline.js';
import { naiveNfe, PROTECT_NON_DESCENDANTS_RULE } from '../../gpu-worker/engine/pipeline.js';
import { type EngineSettingsInput, EngineSettingsSchema } from '../../gpu-worker/engine/settings.js';
import { CliError } from '../cli-error.js';
import { defineCommand, type OptionValues } from '../command-definition.js';
import { describeIssues, readBytes, readJsonFile, readJsonWithRaw } from '../input-files.js';
import {
  nonNegativeInt,
  oneOf,
  parseDevice,
  parseMethods,
  parseSteps,
  SHARED_OPTIONS,
} from '../option-parsers.js';
import { createProgress } from '../progress.js';

export const EDIT = defineCommand({
  name: 'edit',
  synopsis: [
    'cgm edit IMAGE --model DIR --graph G.json --interventions I.json --out DIR',
    '    [--methods csg,ddpm,ddim] [--trace DIR] [--seed N] [--prompt TEXT] [--steps N]',
    '    [--warmup N] [--mode faithful|fixed] [--settings S.json] [--device cpu|cuda]',
    '    [--allow-cpu-fallback] [--protect-non-descendants]',
    '    [--csg-base unconditional|interventional]',
  ],
  options: {
    model: { type: 'string', value: 'DIR', help: 'ONNX model bundle folder (cgm export-models)' },
    graph: { type: 'string', value: 'G.json', help: 'the concept graph' },
    interventions: { type: 'string', value: 'I.json', help: 'the intervention set' },
    out: {
      type: 'string',
      value: 'DIR',
      help: 'output folder: one PNG per intervention and method, the CSG masks, summary.json',
    },
    methods: SHARED_OPTIONS.methods,
    trace: {
      type: 'string',
      value: 'DIR',
      help: "also write the pipeline's intermediate tensors (traces) into DIR",
    },
    seed: {
      type: 'string',
      value: 'N',
      help: "seed of the edit-friendly inversion's forward-diffusion noises (engine default 0)",
    },
    prompt: {
      type: 'string',
      value: 'TEXT',
      help: "source prompt Y for the inversion (default: the graph's scene_summary)",
    },
    steps: SHARED_OPTIONS.steps,
    warmup: { type: 'string', value: 'N', help: 'CSG edit warmup steps per concept (paper: 10)' },
    mode: {
      type: 'string',
      value: 'M',
      help: 'faithful (default: as diffusers, quirks kept) or fixed (their evident intent; docs/algorithm.md §7)',
    },
    settings: {
      type: 'string',
      value: 'S.json',
      help: 'engine settings JSON (gpu-worker/engine/settings.ts); flags override it',
    },
    device: {
      type: 'string',
      value: 'D',
      help: 'ONNX Runtime provider, cpu or cuda (default $CGM_DEVICE, else $CGM_ENGINE_DEVICE, else cpu)',
    },
    'allow-cpu-fallback': {
      type: 'boolean',
      help: 'use the CPU with a warning when CUDA cannot start (also CGM_ALLOW_CPU_FALLBACK=1)',
    },
    'protect-non-descendants': {
      type: 'boolean',
      help:
        "beyond the paper: cut the non-descendant concepts' attention regions out of the CSG edit " +
        'masks (one extra batch entry per protected concept and active step)',
    },
    'csg-base': {
      type: 'string',
      value: 'B',
      help:
        "CSG's base estimate: 'interventional' (the paper's Eq. 12 as written, default) or " +
        "'unconditional' (LEDITS++'s form); docs/algorithm.md \"Two readings of Eq. 12\"",
    },
  },
});

export async function run(argv: string[]): Promise<number> {
  const args = EDIT.parse(argv);
  if (!args) return 0;
  const { values, positionals } = args;
  if (positionals.length !== 1) throw EDIT.usageError('expected one IMAGE');
  const need = (name: 'model' | 'graph' | 'interventions' | 'out') => {
    const v = values[name];
    if (!v) throw EDIT.usageError(`--${name} is required`);
    return v;
  };
  const imagePath = positionals[0];
  const modelDir = resolve(need('model'));
  const outDir = resolve(need('out'));
  const traceDir = values.trace ? resolve(values.trace) : undefined;
  const methods = parseMethods(values.methods ?? 'csg,ddpm,ddim');
  const device = parseDevice(
    values.device === undefined ? 'CGM_DEVICE / CGM_ENGINE_DEVICE' : '--device',
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
  const progress = createProgress();
  const onProgress = (event: unknown) => progress.update(stageFrame(event as PipelineProgress));
  try {
    const loaded = await host.run<LoadResult>('load', { modelDir, device, allowCpuFallback });
    for (const w of loaded.warnings) process.stderr.write(`cgm: warning: ${w}\n`);
    const t0 = performance.now();
    const inverted = await host.run<InvertResult>(
      'invert',
      { image: imageBytes, sourcePrompt, methods, settings, traceDir },
      { signal: controller.signal, onProgress },
    );
    const edited = await host.run<EditResultMessage>(
      'edit',
      { key: inverted.key, plans, settings, traceDir },
      { signal: controller.signal, onProgress },
    );
    progress.done();
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
    progress.done();
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
  const inv = o.inverted;
  const summary = {
    image: resolve(o.imagePath),
    input: 'input.png',
    // the input's own size, and the size every output has: the input resized for the model, no crop
    inputSize: o.inverted.source,
    size: { height: o.inverted.imageHeight, width: o.inverted.imageWidth },
    aspectChange: round((inv.imageWidth * inv.source.height) / (inv.imageHeight * inv.source.width) - 1),
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

function stageFrame(e: PipelineProgress) {
  return {
    label: e.stage.padEnd(11),
    done: e.step,
    total: e.total,
    unit: 'steps',
    detail: `t=${e.timestep} nfe=${e.nfe.sampleEvaluations}`,
  };
}

function parseCsgBase(value: string | undefined): EditChoices['csgBase'] | undefined {
  if (value === undefined) return undefined;
  const parsed = EditChoicesSchema.shape.csgBase.safeParse(value);
  if (!parsed.success) {
    throw new CliError(`--csg-base: expected 'unconditional' or 'interventional', got '${value}'`, 2);
  }
  return parsed.data;
}

type Flags = OptionValues<typeof EDIT.options>;

function applyFlags(input: EngineSettingsInput, values: Flags): EngineSettingsInput {
  const out: EngineSettingsInput = { ...input };
  if (values.seed !== undefined) out.seed = nonNegativeInt('--seed', values.seed);
  if (values.mode !== undefined) out.mode = oneOf('--mode', values.mode, ['faithful', 'fixed']);
  if (values.steps !== undefined) {
    const n = parseSteps(values.steps);
    out.inversion = { ...input.inversion, numSteps: n };
    out.baselines = { ...input.baselines, numSteps: n };
  }
  if (values.warmup !== undefined)
    out.edit = { ...input.edit, warmup: nonNegativeInt('--warmup', values.warmup) };
  const parsed = EngineSettingsSchema.safeParse(out);
  if (!parsed.success) throw new CliError(`engine settings: ${describeIssues(parsed.error)}`, 2);
  return out;
}
