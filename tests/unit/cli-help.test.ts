// Every `cgm … --help`, run as a user would (a real process through bin/cgm.mjs): exit 0, the text on
// stdout, nothing on stderr (not even the AWS SDK's Node-version warning), no line wider than 100
// columns, and every long option a command's parseArgs accepts named in its help. The option tables are read from
// the command sources, so an option added there without a word in the help fails here.
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../..', import.meta.url));
const MAX_COLUMNS = 100;
const TIMEOUT_MS = 60_000; // each process loads tsx and compiles the command: about a second, more when busy

type Result = { code: number; stdout: string; stderr: string };

function cgm(args: readonly string[]): Promise<Result> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['bin/cgm.mjs', ...args], { cwd: root }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

/** One process per distinct command line, shared by the tests that look at its output. */
const runs = new Map<string, Promise<Result>>();
const help = (args: readonly string[]): Promise<Result> => {
  const key = args.join(' ');
  let run = runs.get(key);
  if (!run) {
    run = cgm(args);
    runs.set(key, run);
  }
  return run;
};

/** The long options of every `options: { … }` (or `OPTIONS = { … }`) literal in a source file. */
function parseArgsOptions(source: string): Set<string> {
  const names = new Set<string>();
  for (const start of source.matchAll(/\b(?:options:|OPTIONS =)\s*\{/g)) {
    const open = (start.index ?? 0) + start[0].length - 1;
    let depth = 0;
    let close = open;
    for (let i = open; i < source.length; i++) {
      if (source[i] === '{') depth++;
      else if (source[i] === '}' && --depth === 0) {
        close = i;
        break;
      }
    }
    const body = source.slice(open + 1, close);
    // Top-level keys are the ones whose value is an object ({ type: …, … }); nested keys are not.
    for (const key of body.matchAll(/(?:^|[\s,{])'?([a-z][a-z0-9-]*)'?\s*:\s*\{/g)) names.add(key[1]);
  }
  return names;
}

const mentions = (text: string, option: string) =>
  new RegExp(`--${option.replace(/-/g, '\\-')}(?![a-z0-9-])`).test(text);

/** Each command and the source file whose parseArgs tables it uses. */
const COMMANDS: Record<string, string> = {
  services: 'services.ts',
  graph: 'graph.ts',
  'export-models': 'export-models.ts',
  extract: 'vlm.ts',
  propose: 'vlm.ts',
  edit: 'edit.ts',
  batch: 'batch.ts',
  report: 'report.ts',
  worker: 'worker.ts',
  run: 'run.ts',
  api: 'api.ts',
  demo: 'demo.ts',
  dev: 'dev.ts',
};

/**
 * world.ts has one parseArgs per TypeScript sub-command and one lenient table for the Python ones
 * (render, dataset, train, check: the options it rewrites before passing everything on to
 * `python -m cgm_world`, whose argparse holds the rest), so its options are listed per sub-command here;
 * a test below checks that the list covers every option in world.ts's tables.
 */
const WORLD_OPTIONS: Record<string, string[]> = {
  render: ['seed', 'scene', 'do', 'out'],
  dataset: ['n', 'seed', 'out'],
  train: ['out', 'work', 'stop-after'],
  check: ['model', 'out', 'quick', 'only'],
  read: ['model', 'json'],
  graph: ['attributes'],
  solve: ['noise', 'do'],
  vlm: ['port', 'model', 'dataset'],
};

const source = (file: string) => readFileSync(join(root, 'cli/commands', file), 'utf8');

const HELP_LINES: string[][] = [
  [],
  ...Object.keys(COMMANDS).map((c) => [c]),
  ['world'],
  ...Object.keys(WORLD_OPTIONS).map((sub) => ['world', sub]),
  ['services', 'up'],
  ['services', 'down'],
  ['services', 'status'],
  ['graph', 'validate'],
  ['worker', 'light'],
  ['worker', 'gpu'],
  ['api', 'hash-key'],
];

describe('cgm --help', () => {
  it.each(HELP_LINES.map((args) => [['cgm', ...args, '--help'].join(' '), args] as const))(
    '%s exits 0 with the help on stdout, lines of at most 100 columns',
    async (_name, args) => {
      const r = await help([...args, '--help']);
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(/^usage: cgm /);
      const wide = r.stdout.split('\n').filter((line) => [...line].length > MAX_COLUMNS);
      expect(wide).toEqual([]);
    },
    TIMEOUT_MS,
  );

  it(
    'the top-level help lists every command',
    async () => {
      const r = await help(['--help']);
      for (const name of [...Object.keys(COMMANDS), 'world'])
        expect(r.stdout).toMatch(new RegExp(`^  ${name} +\\S`, 'm'));
    },
    TIMEOUT_MS,
  );

  it.each(Object.entries(COMMANDS))(
    'cgm %s --help names every option of its parseArgs table (%s)',
    async (command, file) => {
      const options = [...parseArgsOptions(source(file))].filter((o) => o !== 'help');
      expect(options.length).toBeGreaterThan(0);
      const { stdout } = await help([command, '--help']);
      expect(options.filter((o) => !mentions(stdout, o))).toEqual([]);
    },
    TIMEOUT_MS,
  );

  it.each(Object.entries(WORLD_OPTIONS))(
    'cgm world %s --help names its options',
    async (sub, options) => {
      const { stdout } = await help(['world', sub, '--help']);
      expect(options.filter((o) => !mentions(stdout, o))).toEqual([]);
    },
    TIMEOUT_MS,
  );

  it("the world sub-commands' option lists cover every option in world.ts's parseArgs tables", () => {
    const listed = new Set(Object.values(WORLD_OPTIONS).flat());
    const inSource = [...parseArgsOptions(source('world.ts'))].filter((o) => o !== 'help');
    expect(inSource.length).toBeGreaterThan(0);
    expect(inSource.filter((o) => !listed.has(o))).toEqual([]);
  });

  it('the option tables are found: a check of the extraction itself', () => {
    expect([...parseArgsOptions(source('report.ts'))].sort()).toEqual(
      ['batch', 'bootstrap', 'format', 'grid', 'help', 'out', 'seed'].sort(),
    );
    expect([...parseArgsOptions(source('api.ts'))].sort()).toEqual(['help', 'host', 'port']);
  });
});

describe('cgm --version', () => {
  it(
    'prints cgm <package.json version> and exits 0',
    async () => {
      const { version } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string };
      const r = await cgm(['--version']);
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      expect(r.stdout).toBe(`cgm ${version}\n`);
    },
    TIMEOUT_MS,
  );
});
