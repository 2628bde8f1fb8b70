// `cgm demo [--tiny]`: the whole stack on one image, ending in an HTML report. By default a scene of the
// causal street world on the trained world model, with the world VLM and the true counterfactual beside
// ours (cli/demo/world-demo.ts); --tiny runs the bundled rainy-street example on the tiny randomly
// initialised models instead (cli/demo/tiny-demo.ts: plumbing, not pictures).
import { parseArgs } from 'node:util';
import { CliError } from '../cli-error.js';
import { runTinyDemo } from '../demo/tiny-demo.js';
import { runWorldDemo } from '../demo/world-demo.js';

const USAGE = `usage: cgm demo [--tiny] [--out DIR] [--steps N] [--scene-seed S] [--models DIR] [--keep-services]

  --tiny           the bundled rainy-street example on the tiny random models
                   (default: the world model)
  --out DIR        report folder (default out/demo)
  --steps N        inversion and sampling steps (default 100, the paper's)
  --scene-seed S   world demo: seed of the scene drawn from the world (default 7)
  --models DIR     --tiny: where the tiny models are exported (default .cache/models/tiny)
  --keep-services  leave Temporal and SeaweedFS running afterwards`;

export async function run(argv: string[]): Promise<number> {
  let values: Record<string, string | boolean | undefined>;
  try {
    values = parseArgs({
      args: argv,
      options: {
        tiny: { type: 'boolean', default: false },
        out: { type: 'string', default: 'out/demo' },
        models: { type: 'string', default: '.cache/models/tiny' },
        steps: { type: 'string', default: '100' },
        'scene-seed': { type: 'string', default: '7' },
        'keep-services': { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h' },
      },
    }).values;
  } catch (err) {
    throw new CliError(`${(err as Error).message}\n${USAGE}`, 2);
  }
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  for (const k of ['steps', 'scene-seed'] as const)
    if (!/^[0-9]+$/.test(String(values[k])) || (k === 'steps' && Number(values[k]) < 1))
      throw new CliError(
        `--${k}: expected a ${k === 'steps' ? 'positive' : 'non-negative'} integer (got '${values[k]}')`,
        2,
      );
  const common = {
    out: String(values.out),
    steps: String(values.steps),
    keepServices: Boolean(values['keep-services']),
  };
  if (values.tiny) return runTinyDemo({ ...common, models: String(values.models) });
  return runWorldDemo({ ...common, sceneSeed: String(values['scene-seed']) });
}
