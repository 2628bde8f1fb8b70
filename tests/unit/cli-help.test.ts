// Every `cgm … --help`, run as a user would (a real process through bin/cgm.mjs): exit 0, the text on
// stdout, nothing on stderr (on Node 24 not even the AWS SDK's Node-version warning), no line wider
// than 100 columns, and every option of the command's table (cli/command-definition.ts) named in the
// help the process prints.
// No command may parse its arguments around its table: only the helper calls parseArgs.
import { execFile } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
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

const mentions = (text: string, option: string) =>
  new RegExp(`--${option.replace(/-/g, '\\-')}(?![a-z0-9-])`).test(text);

/** Each command and the source file that defines it. */
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
  triggers: 'triggers.ts',
  demo: 'demo.ts',
  dev: 'dev.ts',
};

const WORLD_SUBS = ['render', 'dataset', 'train', 'check', 'read', 'graph', 'solve', 'vlm'];

type Definition = { name: string; help: string; options: Record<string, unknown> };
const isDefinition = (v: unknown): v is Definition =>
  typeof v === 'object' && v !== null && typeof (v as Definition).help === 'string' && 'options' in v;

/** Every command definition the command modules export (world's sub-commands included). */
async function definitions(): Promise<Definition[]> {
  const found = new Map<string, Definition>();
  for (const file of new Set([...Object.values(COMMANDS), 'world.ts'])) {
    const mod = (await import(`../../cli/commands/${file}`)) as Record<string, unknown>;
    for (const value of Object.values(mod)) {
      const candidates = isDefinition(value)
        ? [value]
        : typeof value === 'object' && value !== null
          ? Object.values(value).filter(isDefinition)
          : [];
      for (const d of candidates) found.set(d.name, d);
    }
  }
  return [...found.values()];
}

/** Every .ts file below cli/. */
const cliSources = (dir = join(root, 'cli')): string[] =>
  readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? cliSources(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [],
  );

const HELP_LINES: string[][] = [
  [],
  ...Object.keys(COMMANDS).map((c) => [c]),
  ['world'],
  ...WORLD_SUBS.map((sub) => ['world', sub]),
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

  it(
    "every command's --help, as the process prints it, names every option of its table",
    async () => {
      const defs = await definitions();
      // Every command of the top-level help and every world sub-command has a table.
      expect(defs.map((d) => d.name).sort()).toEqual(
        [...Object.keys(COMMANDS), 'world', ...WORLD_SUBS.map((s) => `world ${s}`)].sort(),
      );
      for (const d of defs) {
        const { stdout } = await help([...d.name.split(' '), '--help']);
        expect(stdout, d.name).toBe(d.help);
        expect(
          Object.keys(d.options).filter((o) => !mentions(stdout, o)),
          d.name,
        ).toEqual([]);
      }
    },
    10 * TIMEOUT_MS,
  );

  it('no file of the CLI parses arguments around the command tables', () => {
    const own = cliSources().filter(
      (f) => !f.endsWith('command-definition.ts') && /\bparseArgs\s*\(/.test(readFileSync(f, 'utf8')),
    );
    expect(own).toEqual([]);
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
