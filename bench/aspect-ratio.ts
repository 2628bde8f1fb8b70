// Time and memory per image at three aspect ratios (1:1, 4:3, 16:9) on one bundle, side by side.
//   npx tsx bench/aspect-ratio.ts [--model BUNDLE] [--steps 20] [--repeat 2] [--out bench/results/aspect-ratio.md]
// Default model: the world model's bundle (128², trained). Each aspect runs in its own child process (one
// at a time, so they do not share the two cores), which decodes the same picture squeezed to that aspect,
// inverts it for CSG and makes one CSG edit, `repeat` times; it reports its generation size, the median
// seconds per image and its peak resident memory. The table gives each as a ratio to the square run, which
// is what carries over to another machine; absolute seconds belong to this one.
import { spawnSync } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import sharp from 'sharp';
import { ensureWorldBundle } from '../cli/world-model.js';
import { DEFAULT_EDIT_CHOICES } from '../core/graph/plan-edits.js';
import type { CsgEditPlan } from '../core/schemas/edit-plan.js';
import { decodeImage, inputSizePolicy } from '../gpu-worker/engine/image.js';
import { openModels, readModelBundle } from '../gpu-worker/engine/model-bundle.js';
import { abduct, predictCounterfactuals } from '../gpu-worker/engine/pipeline.js';
import { engineSettings } from '../gpu-worker/engine/settings.js';

const ROOT = resolve(import.meta.dirname, '..');
const PICTURE = join(ROOT, 'examples/rainy-street/image.png');
/** Source sizes of one picture: what a camera or a phone would hand in. */
const ASPECTS = [
  { name: '1:1', width: 1024, height: 1024 },
  { name: '4:3', width: 1280, height: 960 },
  { name: '16:9', width: 1920, height: 1080 },
] as const;
const SOURCE_PROMPT = 'a street in the rain';

interface ChildResult {
  aspect: string;
  source: { width: number; height: number };
  generation: { width: number; height: number };
  secondsPerImage: number[];
  maxRssMiB: number;
}

const { values } = parseArgs({
  options: {
    model: { type: 'string' },
    steps: { type: 'string', default: '20' },
    repeat: { type: 'string', default: '2' },
    out: { type: 'string', default: 'bench/results/aspect-ratio.md' },
    child: { type: 'string' },
  },
});

const positive = (name: string, v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new Error(`--${name} ${v}: expected a positive integer`);
  return n;
};
const steps = positive('steps', values.steps as string);
const repeat = positive('repeat', values.repeat as string);

async function runChild(aspectName: string, modelDir: string): Promise<ChildResult> {
  const aspect = ASPECTS.find((a) => a.name === aspectName);
  if (!aspect)
    throw new Error(`--child ${aspectName}: expected one of ${ASPECTS.map((a) => a.name).join(', ')}`);
  const bundle = await readModelBundle(modelDir);
  const models = await openModels(bundle, { device: 'cpu', threads: 2 });
  const bytes = await sharp(PICTURE).resize(aspect.width, aspect.height, { fit: 'fill' }).png().toBuffer();
  const settings = engineSettings({ inversion: { numSteps: steps }, edit: { warmup: 2 } });
  const plan: CsgEditPlan = {
    method: 'csg',
    interventionId: 'bench',
    sourcePrompt: SOURCE_PROMPT,
    // LEDITS++'s form: one masked term and no second base entry, the same work at every aspect
    choices: { ...DEFAULT_EDIT_CHOICES, csgBase: 'unconditional' },
    violations: [],
    concepts: [
      {
        prompt: 'sunny',
        role: 'intervened',
        conceptId: 'weather',
        scale: 7,
        threshold: 0.9,
        warmup: 2,
        reverse: false,
      },
    ],
    protectedConcepts: [],
  };
  const seconds: number[] = [];
  let generation = { width: 0, height: 0 };
  try {
    for (let r = 0; r < repeat; r++) {
      const t0 = performance.now();
      const image = await decodeImage(bytes, inputSizePolicy(bundle));
      generation = { width: image.shape[3], height: image.shape[2] };
      const abduction = await abduct(models, {
        image,
        sourcePrompt: SOURCE_PROMPT,
        methods: ['csg'],
        settings,
      });
      await predictCounterfactuals(models, abduction, [plan], settings);
      seconds.push((performance.now() - t0) / 1000);
    }
  } finally {
    await models.release();
  }
  return {
    aspect: aspect.name,
    source: { width: aspect.width, height: aspect.height },
    generation,
    secondsPerImage: seconds,
    maxRssMiB: process.resourceUsage().maxRSS / 1024,
  };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const fixed = (v: number, d = 2) => v.toFixed(d);

async function main(): Promise<void> {
  const modelDir = resolve(values.model ?? (await ensureWorldBundle((l) => process.stderr.write(`${l}\n`))));
  if (values.child) {
    process.stdout.write(`${JSON.stringify(await runChild(values.child, modelDir))}\n`);
    return;
  }
  const results: ChildResult[] = [];
  for (const aspect of ASPECTS) {
    process.stderr.write(`[aspect-ratio] ${aspect.name}: ${aspect.width}×${aspect.height} …\n`);
    const child = spawnSync(
      process.execPath,
      [
        '--import',
        'tsx',
        import.meta.filename,
        ...['--child', aspect.name, '--model', modelDir],
        ...['--steps', String(steps), '--repeat', String(repeat)],
      ],
      { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] },
    );
    if (child.status !== 0) throw new Error(`the ${aspect.name} run failed (exit ${child.status})`);
    results.push(JSON.parse(child.stdout.trim().split('\n').at(-1) as string));
  }
  const square = results[0];
  const pixels = (r: ChildResult) => r.generation.width * r.generation.height;
  const lines = [
    `# Time and memory per image by aspect ratio`,
    '',
    `Bundle \`${modelDir.replace(`${ROOT}/`, '')}\`; CSG inversion + one CSG edit at N = ${steps}, ` +
      `${repeat} run(s) per aspect, each aspect in its own process; CPU, 2 threads. ` +
      '`npx tsx bench/aspect-ratio.ts`',
    '',
    '| input | generation size | aspect change | pixels vs 1:1 | s / image (median) | time vs 1:1 | peak RSS MiB | RSS vs 1:1 |',
    '|---|---|---|---|---|---|---|---|',
    ...results.map((r) => {
      const aspectChange =
        (r.generation.width * r.source.height) / (r.generation.height * r.source.width) - 1;
      return `| ${r.aspect} ${r.source.width}×${r.source.height} | ${r.generation.width}×${r.generation.height} | ${fixed(100 * aspectChange, 1)}% | ${fixed(pixels(r) / pixels(square))} | ${fixed(median(r.secondsPerImage))} | ${fixed(median(r.secondsPerImage) / median(square.secondsPerImage))} | ${fixed(r.maxRssMiB, 0)} | ${fixed(r.maxRssMiB / square.maxRssMiB)} |`;
    }),
    '',
  ];
  const out = resolve(values.out as string);
  await mkdir(dirname(out), { recursive: true });
  await writeFile(out, `${lines.join('\n')}\n`);
  process.stdout.write(`${lines.join('\n')}\n`);
}

await main();
