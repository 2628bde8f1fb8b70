// `cgm demo [--tiny]`: the whole stack on one image, ending in an HTML report. By default a scene of the
// causal street world on the trained world model, with the world VLM and the true counterfactual beside
// ours (cli/demo/world-demo.ts); --tiny runs the bundled rainy-street example on the tiny randomly
// initialised models instead (cli/demo/tiny-demo.ts: plumbing, not pictures).
import { defineCommand } from '../command-definition.js';
import { runTinyDemo } from '../demo/tiny-demo.js';
import { runWorldDemo } from '../demo/world-demo.js';
import { nonNegativeInt, parseSteps } from '../option-parsers.js';

export const DEMO = defineCommand({
  name: 'demo',
  synopsis: ['cgm demo [--tiny] [--out DIR] [--steps N] [--scene-seed S] [--models DIR] [--keep-services]'],
  positionals: false,
  options: {
    tiny: {
      type: 'boolean',
      help: 'the bundled rainy-street example on the tiny random models (default: the world model)',
    },
    out: { type: 'string', value: 'DIR', default: 'out/demo', help: 'report folder (default out/demo)' },
    steps: {
      type: 'string',
      value: 'N',
      default: '100',
      help: "inversion and sampling steps (default 100, the paper's)",
    },
    'scene-seed': {
      type: 'string',
      value: 'S',
      default: '7',
      help: 'world demo: seed of the scene drawn from the world (default 7)',
    },
    models: {
      type: 'string',
      value: 'DIR',
      default: '.cache/models/tiny',
      help: '--tiny: where the tiny models are exported (default .cache/models/tiny)',
    },
    'keep-services': { type: 'boolean', help: 'leave Temporal and SeaweedFS running afterwards' },
  },
});

export async function run(argv: string[]): Promise<number> {
  const args = DEMO.parse(argv);
  if (!args) return 0;
  const { values } = args;
  parseSteps(values.steps);
  nonNegativeInt('--scene-seed', values['scene-seed']);
  const common = { out: values.out, steps: values.steps, keepServices: values['keep-services'] };
  if (values.tiny) return runTinyDemo({ ...common, models: values.models });
  return runWorldDemo({ ...common, sceneSeed: values['scene-seed'] });
}
