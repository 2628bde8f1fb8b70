// `cgm world render|dataset|train|check|graph|solve|read|vlm`: the causal street world (world/scm.json).
// vlm serves the world VLM (core/world/vlm-server.ts), an OpenAI-compatible server for the workflow's prompts.
// graph, solve and read (the oracle, onnxruntime-node) run here (core/world/scm.ts); render, dataset, train and check run the Python package
// world/cgm_world in the repo's .venv (bash scripts/setup.sh installs it), output streamed through.
// Exit codes: 0 done; 2 bad arguments or inputs (one line on stderr naming the field and value) or a
// missing venv; otherwise the Python tool's.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { constants } from 'node:os';
import { delimiter, join, resolve } from 'node:path';
import { z } from 'zod';
import { WorldInputError } from '../../core/world/errors.js';
import { WorldOracle } from '../../core/world/oracle.js';
import {
  changedAttributes,
  checkDo,
  constantNoise,
  counterfactual,
  loadWorldScm,
  parseDoList,
  solve,
  type WorldDo,
  type WorldScm,
  worldConceptGraph,
} from '../../core/world/scm.js';
import { DEFAULT_WORLD_VLM_PORT, startWorldVlmServer } from '../../core/world/vlm-server.js';
import { CliError } from '../cli-error.js';
import { defineCommand } from '../command-definition.js';
import { readBytes, readJsonFile } from '../input-files.js';
import { parsePort } from '../option-parsers.js';
import { stopSignal } from '../stop-signal.js';

const ROOT = resolve(import.meta.dirname, '../..');
const WORLD_DIR = join(ROOT, 'world');

export const WORLD_HELP = defineCommand({
  name: 'world',
  synopsis: ['cgm world <render|dataset|train|check|graph|solve|read|vlm> [options]'],
  about:
    '  render   (--seed S | --scene F) [--do K=V …] [--out PNG]\n' +
    '           draw one scene (and its true counterfactual with --do)\n' +
    '  dataset  --n N --seed S --out DIR\n' +
    '           N scenes, each with 3 interventions and their true counterfactuals\n' +
    '  train    [--out DIR] [--work DIR] [--stop-after vae|oracle]\n' +
    '           train the world model + oracle (resumable; reproduces world/model)\n' +
    '  check    [--model DIR] [--out DIR] [--quick] [--only SECTIONS]\n' +
    "           the trained model's quality figures (oracle, fidelity, inversion, masks)\n" +
    '  read     IMAGE… [--model DIR] [--json]\n' +
    "           the oracle's reading of each attribute (world/model/oracle.onnx)\n" +
    '  graph    [--attributes FILE.json]\n' +
    '           the scene as a concept graph (paper Fig. 2 JSON)\n' +
    '  solve    --noise FILE.json [--do K=V …]\n' +
    "           the SCM's attributes (and counterfactual) for given noise\n" +
    '  vlm      [--port P] [--model DIR] [--dataset DIR]\n' +
    '           an OpenAI-compatible VLM for world images (loopback)',
  options: {},
  footer:
    'render, dataset, train and check run `python -m cgm_world` in .venv; graph, solve, read and vlm ' +
    "run here; 'cgm world <sub> --help' for each.",
});

const PYTHON_NOTE = 'Runs .venv/bin/python -m cgm_world in world/; other options are passed through to it.';

const doOption = {
  type: 'string',
  multiple: true,
  value: 'K=V',
  help: 'intervention, e.g. --do season=winter (repeatable)',
} as const;
const oracleModel = {
  type: 'string',
  value: 'DIR',
  help: 'folder with oracle.onnx and oracle.json (default world/model)',
} as const;

/** One table per sub-command; the Python ones' tables are what is documented and rewritten here. */
export const WORLD_COMMANDS = {
  render: defineCommand({
    name: 'world render',
    synopsis: ['cgm world render (--seed S | --scene FILE) [--do K=V …] [--out PNG]'],
    options: {
      seed: {
        type: 'string',
        value: 'S',
        help: 'scene seed: draws the exogenous noise, hence every attribute',
      },
      scene: {
        type: 'string',
        value: 'FILE',
        help: 'a scene JSON of `cgm world dataset` (scenes/<id>.json): its own noise',
      },
      do: {
        ...doOption,
        help:
          'intervention, e.g. --do season=winter (repeatable); the counterfactual keeps the noise and ' +
          'is written beside the scene as <out>-counterfactual.png',
      },
      out: {
        type: 'string',
        value: 'PNG',
        help: 'output image (default scene.png); prints attributes and caption as JSON',
      },
    },
    footer: PYTHON_NOTE,
  }),
  dataset: defineCommand({
    name: 'world dataset',
    synopsis: ['cgm world dataset --n N --seed S --out DIR'],
    options: {
      n: { type: 'string', value: 'N', help: 'number of scenes' },
      seed: { type: 'string', value: 'S', help: "data set seed: scene i's noise is drawn from (S, i)" },
      out: {
        type: 'string',
        value: 'DIR',
        help:
          'output folder: world-dataset.json, images/, scenes/ (caption, attributes, noise U, regions, ' +
          'interventions), counterfactuals/ (the true counterfactual of each intervention)',
      },
    },
    footer: PYTHON_NOTE,
  }),
  train: defineCommand({
    name: 'world train',
    synopsis: ['cgm world train [--out DIR] [--work DIR] [--stop-after vae|oracle]'],
    options: {
      out: {
        type: 'string',
        value: 'DIR',
        help:
          'where the trained model goes (default world/model); resumable: rerun to continue, and from ' +
          'scratch it reproduces world/model',
      },
      work: {
        type: 'string',
        value: 'DIR',
        help: 'checkpoints, caches and loss.jsonl, what a rerun resumes from (default .cache/world/train)',
      },
      'stop-after': {
        type: 'string',
        value: 'vae|oracle',
        help: 'stop once that stage is trained (its checkpoint stays in --work)',
      },
    },
    footer: PYTHON_NOTE,
  }),
  check: defineCommand({
    name: 'world check',
    synopsis: ['cgm world check [--model DIR] [--out DIR] [--quick] [--only SECTIONS]'],
    options: {
      model: { type: 'string', value: 'DIR', help: 'trained model folder (default world/model)' },
      out: {
        type: 'string',
        value: 'DIR',
        help:
          'where results.json and report.md go (default bench/results/world-check); the contact sheet ' +
          'goes to docs/world/contact-sheet.png',
      },
      quick: { type: 'boolean', help: 'a small sample only' },
      only: {
        type: 'string',
        value: 'SECTIONS',
        help:
          'comma-separated sections (oracle,fidelity,roundtrip,localisation), merged into the ' +
          'results.json in --out',
      },
    },
    footer: PYTHON_NOTE,
  }),
  graph: defineCommand({
    name: 'world graph',
    synopsis: ['cgm world graph [--attributes FILE.json]'],
    positionals: false,
    options: {
      attributes: {
        type: 'string',
        value: 'FILE.json',
        help:
          'JSON object attribute id → value, e.g. {"season": "winter", …} (every attribute, values from ' +
          'world/scm.json); default: the SCM solved with all noise 0.5',
      },
    },
    footer:
      'Prints the concept graph (paper Fig. 2 JSON): concepts c1…c9 in scm.json order, one relationship ' +
      'per edge.',
  }),
  read: defineCommand({
    name: 'world read',
    synopsis: ['cgm world read IMAGE… [--model DIR] [--json]'],
    options: {
      model: oracleModel,
      json: {
        type: 'boolean',
        help: 'one JSON object per image: attribute → {value, probability, probabilities}',
      },
    },
    footer: "Prints, per image, each attribute's value as the oracle reads it and its probability.",
  }),
  solve: defineCommand({
    name: 'world solve',
    synopsis: ['cgm world solve --noise FILE.json [--do K=V …]'],
    positionals: false,
    options: {
      noise: {
        type: 'string',
        value: 'FILE.json',
        help: 'JSON object attribute id → exogenous noise u in [0, 1), one per attribute',
      },
      do: doOption,
    },
    footer:
      'Prints {"attributes": …}; with --do also {"do": …, "counterfactual": …, "changed": [attribute ids]}.',
  }),
  vlm: defineCommand({
    name: 'world vlm',
    synopsis: ['cgm world vlm [--port P] [--model DIR] [--dataset DIR]'],
    positionals: false,
    options: {
      port: {
        type: 'string',
        value: 'P',
        help: `port on 127.0.0.1 (default ${DEFAULT_WORLD_VLM_PORT}; 0: any free port)`,
      },
      model: oracleModel,
      dataset: {
        type: 'string',
        value: 'DIR',
        help:
          'a `cgm world dataset` folder: its scene images are recognised by sha256 and propagated with ' +
          'their exact noise U (else U is abduced from what the oracle reads)',
      },
    },
    footer:
      "Answers the workflow's VLM prompts (describe, extract, manipulate, do() propagation, judge) for " +
      "street-world images from the oracle's reading and the SCM. Prints its base URL (for " +
      'CGM_VLM_BASE_URL) on the first line, one JSON log line per request on stderr; GET /stats counts ' +
      'requests per kind. Runs until SIGINT/SIGTERM.',
  }),
};

type WorldSub = keyof typeof WORLD_COMMANDS;

const PYTHON_SUBS = new Set(['render', 'dataset', 'train', 'check']);
/** Options whose value is a path: made absolute here, since the Python tool runs in world/. */
const PATH_OPTIONS = new Set(['out', 'work', 'model', 'scene']);

export async function run(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === '--help' || sub === '-h' || sub === 'help') {
    process.stdout.write(WORLD_HELP.help);
    return 0;
  }
  if (!sub || !Object.hasOwn(WORLD_COMMANDS, sub))
    throw WORLD_HELP.usageError(sub ? `unknown world command '${sub}'` : 'expected a world command');
  try {
    if (PYTHON_SUBS.has(sub)) return await runPython(sub as WorldSub, rest);
    if (sub === 'read') return await runRead(rest);
    if (sub === 'vlm') return await runVlm(rest);
    return sub === 'graph' ? await runGraph(rest) : await runSolve(rest);
  } catch (err) {
    if (err instanceof WorldInputError) throw new CliError(err.message, 2);
    throw err;
  }
}

const loadScm = (): WorldScm => loadWorldScm();

async function runGraph(argv: string[]): Promise<number> {
  const args = WORLD_COMMANDS.graph.parse(argv);
  if (!args) return 0;
  const { values } = args;
  const scm = loadScm();
  let attributes: Record<string, string>;
  if (values.attributes) {
    const file = values.attributes;
    attributes = await readJsonFile(file, z.record(z.string(), z.string()), 'world attributes file');
    try {
      worldConceptGraph(scm, attributes);
    } catch (err) {
      if (err instanceof WorldInputError) throw new CliError(`${file}: ${err.message}`, 2);
      throw err;
    }
  } else {
    attributes = solve(scm, constantNoise(scm, 0.5));
  }
  process.stdout.write(`${JSON.stringify(worldConceptGraph(scm, attributes), null, 2)}\n`);
  return 0;
}

async function runRead(argv: string[]): Promise<number> {
  const args = WORLD_COMMANDS.read.parse(argv);
  if (!args) return 0;
  const { values, positionals } = args;
  if (positionals.length === 0) throw WORLD_COMMANDS.read.usageError('expected at least one IMAGE');
  const images = await Promise.all(positionals.map((p) => readBytes(p, 'image')));
  const oracle = await WorldOracle.open(loadScm(), values.model ? resolve(values.model) : undefined);
  try {
    const readings = await oracle.read(images);
    for (const [i, reading] of readings.entries()) {
      if (values.json) process.stdout.write(`${JSON.stringify({ image: positionals[i], reading })}\n`);
      else {
        const cells = Object.entries(reading).map(
          ([id, r]) => `${id}=${r.value} (${r.probability.toFixed(2)})`,
        );
        process.stdout.write(`${positionals[i]}: ${cells.join(', ')}\n`);
      }
    }
  } finally {
    await oracle.release();
  }
  return 0;
}

async function runVlm(argv: string[]): Promise<number> {
  const args = WORLD_COMMANDS.vlm.parse(argv);
  if (!args) return 0;
  const { values } = args;
  const port =
    values.port === undefined ? DEFAULT_WORLD_VLM_PORT : parsePort('--port', values.port, { allowAny: true });
  const server = await startWorldVlmServer({
    port,
    modelDir: values.model ? resolve(values.model) : undefined,
    dataset: values.dataset ? resolve(values.dataset) : undefined,
    log: (line) => process.stderr.write(`${JSON.stringify({ time: new Date().toISOString(), ...line })}\n`),
  }).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'EADDRINUSE')
      throw new CliError(`--port: 127.0.0.1:${port} is in use; pick another port`, 2);
    throw err;
  });
  process.stdout.write(`${server.baseURL}\n`);
  const signal = await stopSignal();
  await server.close();
  process.stderr.write(`world VLM stopped (${signal}); ${JSON.stringify(server.stats())}\n`);
  return 0;
}

async function runSolve(argv: string[]): Promise<number> {
  const args = WORLD_COMMANDS.solve.parse(argv);
  if (!args) return 0;
  const { values } = args;
  if (!values.noise) throw WORLD_COMMANDS.solve.usageError('--noise is required');
  const scm = loadScm();
  const doMap = checkedDo(scm, values.do ?? []);
  const file = values.noise;
  const noise = await readJsonFile(file, z.record(z.string(), z.number()), 'world noise file');
  let attributes: Record<string, string>;
  try {
    attributes = solve(scm, noise);
  } catch (err) {
    if (err instanceof WorldInputError) throw new CliError(`${file}: ${err.message}`, 2);
    throw err;
  }
  const out: Record<string, unknown> = { attributes };
  if (Object.keys(doMap).length > 0) {
    const cf = counterfactual(scm, noise, doMap);
    Object.assign(out, { do: doMap, counterfactual: cf, changed: changedAttributes(scm, attributes, cf) });
  }
  process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
  return 0;
}

/** `--do K=V` texts → a map checked against the SCM (WorldInputError → exit 2). */
function checkedDo(scm: WorldScm, texts: readonly string[]): WorldDo {
  const doMap = parseDoList(texts);
  checkDo(scm, doMap);
  return doMap;
}

/**
 * render, dataset, train, check: `python -m cgm_world <sub> <args…>` in world/, stdio inherited, its exit
 * code passed through. Arguments go through unchanged except path options (made absolute) and `--do`,
 * which is checked against the SCM first.
 */
async function runPython(sub: WorldSub, argv: string[]): Promise<number> {
  const command = WORLD_COMMANDS[sub];
  const tokens = command.tokens(argv);
  const args = [...argv];
  const doTexts: string[] = [];
  for (const token of tokens) {
    if (token.kind === 'option-terminator') break;
    if (token.kind !== 'option') continue;
    if (token.name === 'help') {
      process.stdout.write(command.help);
      return 0;
    }
    if (token.name === 'do' || PATH_OPTIONS.has(token.name)) {
      if (token.value === undefined) throw command.usageError(`${token.rawName} needs a value`);
      if (token.name === 'do') doTexts.push(token.value);
      else {
        const abs = resolve(token.value);
        if (token.inlineValue) args[token.index] = `${token.rawName}=${abs}`;
        else args[token.index + 1] = abs;
      }
    }
  }
  if (doTexts.length > 0) checkedDo(loadScm(), doTexts);

  const python = join(ROOT, '.venv/bin/python');
  if (!existsSync(python)) throw new CliError(`${python} not found: run \`bash scripts/setup.sh\` first`, 2);
  const pythonPath = [WORLD_DIR, process.env.PYTHONPATH].filter(Boolean).join(delimiter);
  const child = spawn(python, ['-m', 'cgm_world', sub, ...args], {
    cwd: WORLD_DIR,
    env: { ...process.env, PYTHONPATH: pythonPath },
    stdio: 'inherit',
  });
  return await new Promise<number>((done, fail) => {
    child.on('error', fail);
    child.on('exit', (code, signal) => done(code ?? (signal ? 128 + (constants.signals[signal] ?? 0) : 1)));
  });
}
