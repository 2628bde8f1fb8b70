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
    summary: 'up|down|status [--json]: local Temporal dev server + SeaweedFS S3',
    load: () => import('./commands/services.js'),
  },
  graph: {
    summary: 'validate FILE [--repair]: check a concept graph, print a JSON report',
    load: () => import('./commands/graph.js'),
  },
  'export-models': {
    summary: '(--tiny | --model ID) --out DIR [--fp16]: make an ONNX model bundle',
    load: () => import('./commands/export-models.js'),
  },
  extract: {
    summary: 'IMAGE [--caption TEXT]: concepts + causal graph from a VLM (paper Fig. 2)',
    load: () => import('./commands/vlm.js'),
    passName: true,
  },
  propose: {
    summary: 'IMAGE --graph G.json [--do C=V]: interventions from a VLM (paper Fig. 3)',
    load: () => import('./commands/vlm.js'),
    passName: true,
  },
  edit: {
    summary: 'IMAGE --model DIR --graph G --interventions I --out DIR: local CSG and baselines',
    load: () => import('./commands/edit.js'),
  },
  batch: {
    summary: '(--dataset NAME=DIR … | MANIFEST.jsonl): a data set sample through the workflow',
    load: () => import('./commands/batch.js'),
  },
  report: {
    summary: '(RESULTS.jsonl | --batch ID) [--out DIR]: Table 1 (VLM-Eff, LPIPS), bootstrap CIs',
    load: () => import('./commands/report.js'),
  },
  worker: {
    summary: 'light|gpu: a Temporal worker (workflows + VLM, or the engine on a GPU host)',
    load: () => import('./commands/worker.js'),
  },
  run: {
    summary: 'IMAGE [--graph G] [--interventions I | --do C=V]: one image through the workflow',
    load: () => import('./commands/run.js'),
  },
  api: {
    summary: '[--host H] [--port P]: the HTTP API (Hono); hash-key < KEYFILE: hash an API key',
    load: () => import('./commands/api.js'),
  },
  triggers: {
    summary: 'create|list|show|runs|pause|resume|rotate-secret|delete|send: webhook triggers',
    load: () => import('./commands/triggers.js'),
  },
  demo: {
    summary: '[--tiny]: one world scene through the whole stack (--tiny: tiny random models)',
    load: () => import('./commands/demo.js'),
  },
  dev: {
    summary: '[--no-api] [--vlm-url URL]: services, both workers and the API until Ctrl-C',
    load: () => import('./commands/dev.js'),
  },
  world: {
    summary: 'render|dataset|train|check|read|graph|solve|vlm: the causal street world',
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
