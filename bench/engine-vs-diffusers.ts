// Engine vs diffusers on the same model, settings and machine, plus the NFE table of issue 4.
//   npx tsx bench/engine-vs-diffusers.ts [--steps 20] [--repeat 2] [--model BUNDLE --diffusers FOLDER]
// Default model: the tiny fixtures (tests/support/fixtures.ts). Part 1 times LEDITS++ (invert + edit,
// 3 concepts) in diffusers (torch, CPU, 2 threads) and in the engine (ONNX Runtime, CPU), and prints the
// time ratio. Part 2 counts UNet sample evaluations for 3 interventions × 3 methods on one image:
// paper-naive (one pipeline call per intervention and method) against ours (one inversion per method
// family, batched edits, warmup-trimmed). Part 1 also splits the engine's wall time into ONNX Runtime
// (every OnnxGraph.run: feeds, session.run, outputs) and the rest (TypeScript maths: schedulers,
// guidance, masks, tokenising). Timings belong here, never in tests.
import { spawnSync } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { planEdits } from '../core/graph/plan-edits.js';
import type { CsgEditPlan, EditPlan } from '../core/schemas/edit-plan.js';
import { ConceptGraphSchema, InterventionSetSchema } from '../core/schemas/paper.js';
import { decodeImage } from '../gpu-worker/engine/image.js';
import { openModels, readModelBundle } from '../gpu-worker/engine/model-bundle.js';
import { OnnxGraph } from '../gpu-worker/engine/onnx-graph.js';
import { abduct, naiveNfe, predictCounterfactuals } from '../gpu-worker/engine/pipeline.js';
import { type EngineSettings, engineSettings } from '../gpu-worker/engine/settings.js';
import { ensureTinyFixtures } from '../tests/support/fixtures.js';

const ROOT = resolve(import.meta.dirname, '..');
const EXAMPLE = join(ROOT, 'examples/rainy-street');
const SOURCE = 'a photo of a cat';
const EDITS = {
  prompts: ['a dog', 'sunglasses', 'a red hat on the head'],
  scales: [8.0, 6.0, 5.0],
  thresholds: [0.7, 0.7, 0.8],
  warmups: [2, 2, 3],
  reverse: [false, true, false],
};

const PYTHON_BENCH = `
import json, sys, time, torch
from diffusers import LEditsPPPipelineStableDiffusionXL
from PIL import Image
folder, image_path, n, repeat = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
edits = json.loads(sys.argv[5])
torch.set_num_threads(2)
pipe = LEditsPPPipelineStableDiffusionXL.from_pretrained(folder, torch_dtype=torch.float32)
pipe.set_progress_bar_config(disable=True)
size = pipe.default_sample_size * pipe.vae_scale_factor
image = Image.open(image_path).convert("RGB").resize((size, size))
times = []
with torch.no_grad():
    for _ in range(repeat):
        t0 = time.perf_counter()
        pipe.invert(image=image, source_prompt="${SOURCE}", source_guidance_scale=3.5, num_inversion_steps=n, skip=0.15, generator=torch.Generator().manual_seed(0))
        pipe(editing_prompt=edits["prompts"], edit_guidance_scale=edits["scales"], edit_threshold=edits["thresholds"], edit_warmup_steps=edits["warmups"], reverse_editing_direction=edits["reverse"], use_intersect_mask=True, output_type="latent")
        times.append(time.perf_counter() - t0)
print(json.dumps({"seconds": min(times), "torch": torch.__version__}))
`;

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      steps: { type: 'string', default: '20' },
      repeat: { type: 'string', default: '2' },
      model: { type: 'string' },
      diffusers: { type: 'string' },
    },
  });
  const n = Number(values.steps);
  const repeat = Number(values.repeat);
  let bundleDir = values.model;
  let diffusersDir = values.diffusers;
  if (!bundleDir || !diffusersDir) {
    const f = await ensureTinyFixtures();
    bundleDir = f.bundleDir;
    diffusersDir = f.diffusersDir;
  }
  const bundle = await readModelBundle(bundleDir);
  const models = await openModels(bundle, { device: 'cpu', threads: 2 });
  const imagePath = join(EXAMPLE, 'image.png');
  const image = await decodeImage(new Uint8Array(await readFile(imagePath)), {
    area: bundle.area,
    multiple: bundle.sizeMultiple,
    exact: { width: bundle.width, height: bundle.height },
  });

  // Part 1: time, like for like (diffusers sends the full batch during warmup: compare 'faithful' too).
  const settings = (batching: 'trimmed' | 'faithful'): EngineSettings =>
    engineSettings({
      inversion: { numSteps: n },
      baselines: { numSteps: n },
      edit: { batching, spanMode: 'padded75' },
    });
  const plan: CsgEditPlan = {
    method: 'csg',
    interventionId: 'bench',
    sourcePrompt: SOURCE,
    choices: {
      promptStyle: 'new_value',
      includeNonDescendantChanges: false,
      reverseOldValues: false,
      protectNonDescendants: false,
      csgBase: 'unconditional',
    },
    violations: [],
    concepts: EDITS.prompts.map((prompt, c) => ({
      prompt,
      role: c === 0 ? 'intervened' : 'descendant',
      conceptId: `c${c}`,
      scale: EDITS.scales[c],
      threshold: EDITS.thresholds[c],
      warmup: EDITS.warmups[c],
      reverse: EDITS.reverse[c],
    })),
    protectedConcepts: [],
  };
  // Time spent inside ONNX Runtime calls, summed over every graph (the engine awaits them one at a time).
  let ortMs = 0;
  const run = OnnxGraph.prototype.run;
  OnnxGraph.prototype.run = async function (this: OnnxGraph, ...args: Parameters<typeof run>) {
    const t0 = performance.now();
    try {
      return await run.apply(this, args);
    } finally {
      ortMs += performance.now() - t0;
    }
  };
  const engineSeconds = async (batching: 'trimmed' | 'faithful') => {
    const s = settings(batching);
    let best = Infinity;
    let ortShare = 0;
    let nfe = 0;
    for (let r = 0; r < repeat; r++) {
      ortMs = 0;
      const t0 = performance.now();
      const a = await abduct(models, { image, sourcePrompt: SOURCE, methods: ['csg'], settings: s });
      const p = await predictCounterfactuals(models, a, [plan], s);
      const ms = performance.now() - t0;
      if (ms / 1000 < best) {
        best = ms / 1000;
        ortShare = ortMs / ms;
      }
      nfe = [...a.stages, ...p.stages].reduce((acc, st) => acc + st.nfe.sampleEvaluations, 0);
    }
    return { seconds: best, nfe, ortShare };
  };
  const trimmed = await engineSeconds('trimmed');
  const faithful = await engineSeconds('faithful');
  const py = spawnSync(
    join(ROOT, '.venv/bin/python'),
    ['-c', PYTHON_BENCH, diffusersDir, imagePath, String(n), String(repeat), JSON.stringify(EDITS)],
    { encoding: 'utf8', env: { ...process.env, HF_HUB_OFFLINE: '1' } },
  );
  const diffusers =
    py.status === 0
      ? (JSON.parse(py.stdout.trim().split('\n').at(-1) as string) as { seconds: number })
      : null;
  if (!diffusers) process.stderr.write(`diffusers run failed:\n${py.stderr.slice(-2000)}\n`);

  console.log(
    `\nLEDITS++ invert + edit, ${n} steps, 3 concepts, ${bundle.name} (${bundle.width}×${bundle.height}), CPU, best of ${repeat}`,
  );
  console.log('| run | seconds | UNet sample evaluations | time ratio vs diffusers | ONNX Runtime share |');
  console.log('|---|---|---|---|---|');
  const ratio = (s: number) => (diffusers ? (s / diffusers.seconds).toFixed(2) : 'n/a');
  if (diffusers)
    console.log(`| diffusers (torch) | ${diffusers.seconds.toFixed(3)} | ${n * 2 + n * 4} | 1.00 | n/a |`);
  const share = (x: number) => `${(100 * x).toFixed(1)}%`;
  console.log(
    `| engine, faithful batch | ${faithful.seconds.toFixed(3)} | ${faithful.nfe} | ${ratio(faithful.seconds)} | ${share(faithful.ortShare)} |`,
  );
  console.log(
    `| engine, warmup-trimmed | ${trimmed.seconds.toFixed(3)} | ${trimmed.nfe} | ${ratio(trimmed.seconds)} | ${share(trimmed.ortShare)} |`,
  );

  // Part 2: NFE for 3 interventions × 3 methods on one image (rainy-street), paper step counts (N as given).
  const graph = ConceptGraphSchema.parse(JSON.parse(await readFile(join(EXAMPLE, 'graph.json'), 'utf8')));
  const interventions = InterventionSetSchema.parse(
    JSON.parse(await readFile(join(EXAMPLE, 'interventions.json'), 'utf8')),
  ).interventions.slice(0, 3);
  const caption = (await readFile(join(EXAMPLE, 'caption.txt'), 'utf8')).trim();
  const s = engineSettings({
    inversion: { numSteps: n },
    baselines: { numSteps: n },
    edit: { warmup: Math.round(n / 10) },
  });
  const plans: EditPlan[] = interventions.flatMap((i) =>
    planEdits(graph, i, { sourcePrompt: caption, warmup: s.edit.warmup }),
  );
  const a = await abduct(models, {
    image,
    sourcePrompt: caption,
    methods: ['csg', 'ddpm', 'ddim'],
    settings: s,
  });
  const p = await predictCounterfactuals(models, a, plans, s);
  const stages = [...a.stages, ...p.stages];
  const per = (m: 'csg' | 'ddpm' | 'ddim') => {
    const ours = stages
      .filter((st) => st.stage.endsWith(`-${m}`))
      .reduce((acc, st) => acc + st.nfe.sampleEvaluations, 0);
    const naive = naiveNfe(
      s,
      plans.filter((pl) => pl.method === m),
      true,
    );
    return { ours, naive };
  };
  console.log(
    `\nUNet sample evaluations, 3 interventions × 3 methods, one image, N=${n}, warmup ${s.edit.warmup}`,
  );
  console.log('| method | paper-naive | ours | saved |');
  console.log('|---|---|---|---|');
  let totalNaive = 0;
  let totalOurs = 0;
  for (const m of ['csg', 'ddpm', 'ddim'] as const) {
    const { ours, naive } = per(m);
    totalNaive += naive;
    totalOurs += ours;
    console.log(`| ${m} | ${naive} | ${ours} | ${(100 * (1 - ours / naive)).toFixed(1)}% |`);
  }
  console.log(
    `| total | ${totalNaive} | ${totalOurs} | ${(100 * (1 - totalOurs / totalNaive)).toFixed(1)}% |`,
  );
  await models.release();
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
