// The `cgm` command: one sub-command per file in cli/commands, loaded only when used so that
// `cgm graph validate` does not pay for loading Temporal or ONNX Runtime.

import { readFile } from 'node:fs/promises';
import { resolveSecretRefsFromEnv, SecretRefError } from '../core/config/secret-refs.js';
import { CliError } from './cli-error.js';
import { reportToStderr } from './error-boundary.js';

type CommandModule = { run(argv: string[]): Promise<number> };
type Command = { summary: string; load: () => Promise<CommandModule>; passName?: boolean };

const commands: Record<string, Command> = {
  services: {
    summary: 'services up|down|status [--json]: local Temporal dev server + SeaweedFS S3',
    load: () => import('./commands/services.js'),
  },
  graph: {
    summary: 'graph validate FILE [--repair]: check a concept graph, print a JSON report',
    load: () => import('./commands/graph.js'),
  },
  'export-models': {
    summary: 'export-models (--tiny | --model ID) --out DIR [--fp16]: make an ONNX model bundle',
    load: () => import('./commands/export-models.js'),
  },
  extract: {
    summary: 'extract IMAGE [--caption TEXT]: concepts + causal graph from a VLM (paper Fig. 2)',
    load: () => import('./commands/vlm.js'),
    passName: true,
  },
  propose: {
    summary: 'propose IMAGE --graph G.json: interventions from a VLM (paper Fig. 3)',
    load: () => import('./commands/vlm.js'),
    passName: true,
  },
  edit: {
    summary: 'edit IMAGE --model DIR --graph G.json --interventions I.json --out DIR: local CSG + baselines',
    load: () => import('./commands/edit.js'),
  },
  batch: {
    summary:
      'batch (--dataset coco=DIR --dataset celeba-hq=DIR | MANIFEST.jsonl): a data set sample through the workflow, Table 1 report',
    load: () => import('./commands/batch.js'),
  },
  report: {
    summary: 'report RESULTS.jsonl [--out DIR]: Table 1 (VLM-Eff, LPIPS) with bootstrap CIs',
    load: () => import('./commands/report.js'),
  },
  worker: {
    summary: 'worker light|gpu: run a Temporal worker (workflows + VLM, or the engine on a GPU host)',
    load: () => import('./commands/worker.js'),
  },
  run: {
    summary: 'run IMAGE --graph G.json --interventions I.json: one image through the workflow, with progress',
    load: () => import('./commands/run.js'),
  },
  api: {
    summary: 'api [--host H] [--port P]: the HTTP API (Hono); api hash-key < keyfile',
    load: () => import('./commands/api.js'),
  },
  demo: {
    summary:
      'demo [--tiny]: one world scene through the whole stack on the trained world model (--tiny: random models)',
    load: () => import('./commands/demo.js'),
  },
  dev: {
    summary: 'dev [--no-api] [--vlm-url URL]: services + both workers + API in one command, until Ctrl-C',
    load: () => import('./commands/dev.js'),
  },
  world: {
    summary:
      'world render|dataset|train|check|graph|solve|read: the causal street world (SCM, renderer, trained model, oracle)',
    load: () => import('./commands/world.js'),
  },
};

function usage(): string {
  const lines = Object.entries(commands).map(([name, c]) => `  ${name.padEnd(14)} ${c.summary}`);
  return (
    `usage: cgm <command> [options]   (cgm <command> --help for its options; cgm --version)\n\n` +
    `commands:\n${lines.join('\n')}\n`
  );
}

async function version(): Promise<string> {
  const pkg = JSON.parse(await readFile(new URL('../package.json', import.meta.url), 'utf8')) as {
    version: string;
  };
  return pkg.version;
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(usage());
    return name ? 0 : 2;
  }
  if (name === '--version' || name === '-v') {
    process.stdout.write(`cgm ${await version()}\n`);
    return 0;
  }
  const command = commands[name];
  if (!command) {
    process.stderr.write(`cgm: unknown command '${name}'\n${usage()}`);
    return 2;
  }
  // CGM_X_SECRET_ARN references (the API's Lambda) become CGM_X before any command reads its config.
  try {
    await resolveSecretRefsFromEnv();
  } catch (err) {
    if (err instanceof SecretRefError) throw new CliError(err.message, 2);
    throw err;
  }
  const mod = await command.load();
  // Modules serving several commands (vlm: extract, propose) receive the command name first.
  return mod.run(command.passName ? [name, ...rest] : rest);
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    // One boundary for every command: one actionable line and an exit code by kind (cli/error-boundary.ts).
    process.exitCode = reportToStderr(err, process.argv[2]);
  },
);
