// The paper's experiment on the causal street world (issue 16), end to end through the real system: a
// seeded world data set → the local stack (Temporal, SeaweedFS), the world VLM as its own server process,
// `cgm worker light` and `cgm worker gpu` on the trained world model → one `cgm batch` with variants:
//   paper    CSG, DDPM, DDIM at the paper's settings (100 steps)
//   reverse  CSG with reverse terms for the old values (ablation beyond the paper)
//   protect  CSG with the non-descendants' attention regions cut out of the masks (ablation)
//   csg50, csg25  CSG at 50 and 25 steps (step sweep; the paper variant is the 100-step point)
// The report (Table 1 beside the ground truth, with bootstrap CIs) is written to --out and, with --docs,
// copied there with the command and the minutes it took. `--variant` (repeatable) replaces the variants
// above, e.g. for a diagnosis of CSG's settings on fewer scenes.
//   npx tsx bench/world-experiment.ts [--n 60] [--seed 16] [--steps 100] [--window 2] [--out DIR] [--docs DIR]
//                                     [--variant NAME:choice=value,...]...
// LPIPS: the export tool's LPIPS graph with its seeded random VGG backbone (no weights can be downloaded
// here); the report says so and its LPIPS column is not a perceptual distance.
import type { ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join, relative, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { runCli, startWorker, startWorldVlm } from '../cli/demo/processes.js';
import { demoWorkerEnv, stopDemo } from '../cli/demo/stack.js';
import { ensureWorldBundle } from '../cli/world-model.js';
import { REPO_ROOT, servicesUp } from '../infra/local/services.js';
import { ensureTinyFixtures } from '../tests/support/fixtures.js';

const { values } = parseArgs({
  options: {
    n: { type: 'string', default: '60' },
    seed: { type: 'string', default: '16' },
    steps: { type: 'string', default: '100' },
    window: { type: 'string', default: '2' },
    out: { type: 'string', default: 'out/world-experiment' },
    docs: { type: 'string' },
    variant: { type: 'string', multiple: true },
    'keep-services': { type: 'boolean', default: false },
  },
});
const log = (line: string) => process.stderr.write(`[experiment] ${new Date().toISOString()} ${line}\n`);
const out = resolve(values.out);
const DEFAULT_VARIANTS = [
  'paper',
  'reverse:methods=csg,reverseOldValues=true',
  'protect:methods=csg,protectNonDescendants=true',
  'csg50:methods=csg,steps=50',
  'csg25:methods=csg,steps=25',
];
const VARIANTS = values.variant?.length ? values.variant : DEFAULT_VARIANTS;

const t0 = Date.now();
await mkdir(out, { recursive: true });
const modelDir = await ensureWorldBundle(log);
const { lpipsDir } = await ensureTinyFixtures();
const worldDir = join(out, 'world');
if (!existsSync(join(worldDir, 'world-dataset.json')))
  await runCli(['world', 'dataset', '--n', values.n, '--seed', values.seed, '--out', worldDir]);

const stateDir = join(REPO_ROOT, '.state/world-experiment');
const { state } = await servicesUp({ stateDir, fresh: true, log });
const children: ChildProcess[] = [];
let code = 1;
try {
  const vlm = await startWorldVlm(['--dataset', worldDir]);
  children.push(vlm.child);
  const env = demoWorkerEnv(state, modelDir, { CGM_VLM_BASE_URL: vlm.baseURL });
  children.push(
    await startWorker('light', env, join(out, 'worker-light.log')),
    await startWorker('gpu', env, join(out, 'worker-gpu.log'), ['--lpips', lpipsDir]),
  );
  const batchArgs = [
    'batch',
    '--dataset',
    `world=${relative(REPO_ROOT, worldDir)}`,
    '--per-dataset',
    values.n,
    '--steps',
    values.steps,
    '--window',
    values.window,
    ...VARIANTS.flatMap((v) => ['--variant', v]),
    '--id',
    `world-experiment-${Date.now().toString(36)}`,
    '--out',
    relative(REPO_ROOT, join(out, 'batch')),
  ];
  log(`cgm ${batchArgs.join(' ')}`);
  const tBatch = Date.now();
  await runCli(batchArgs, env);
  const minutes = (Date.now() - tBatch) / 60_000;
  const total = (Date.now() - t0) / 60_000;
  const report = await readFile(join(out, 'batch', 'report.md'), 'utf8');
  const header = [
    '<!-- written by bench/world-experiment.ts; do not edit by hand -->',
    '',
    `Command: \`npx tsx bench/world-experiment.ts --n ${values.n} --seed ${values.seed} --steps ${values.steps} --window ${values.window}${values.variant?.length ? VARIANTS.map((v) => ` --variant ${v}`).join('') : ''}\`, which ran`,
    '',
    `    cgm world dataset --n ${values.n} --seed ${values.seed} --out ${relative(REPO_ROOT, worldDir)}`,
    `    cgm ${batchArgs.join(' ')}`,
    '',
    `against \`cgm world vlm --dataset ${relative(REPO_ROOT, worldDir)}\`, \`cgm worker light\` and \`cgm worker gpu --lpips <random-backbone LPIPS>\` on the trained world model (${relative(REPO_ROOT, modelDir)}), on a 2-core CPU machine.`,
    `The batch took ${minutes.toFixed(1)} minutes (${total.toFixed(1)} with the data set, the stack and the workers' start).`,
    '',
  ].join('\n');
  await writeFile(join(out, 'report.md'), `${header}\n${report}`);
  if (values.docs) {
    await mkdir(resolve(values.docs), { recursive: true });
    await writeFile(join(resolve(values.docs), 'report.md'), `${header}\n${report}`);
    for (const f of ['results.jsonl', 'report.json'])
      await writeFile(join(resolve(values.docs), f), await readFile(join(out, 'batch', f)));
  }
  log(`done in ${total.toFixed(1)} min: ${join(out, 'report.md')}`);
  code = 0;
} finally {
  await stopDemo(children, stateDir, values['keep-services'], log);
}
process.exit(code);
