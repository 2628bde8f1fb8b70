// The command tables (cli/command-definition.ts) and the shared option parsers (cli/option-parsers.ts):
// help from the table, wrapped to 100 columns; a bad flag or value is one line naming the flag, the
// value and what was expected, exit 2.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { CliError } from '../../cli/cli-error.js';
import { defineCommand, HELP_WIDTH, wrapText } from '../../cli/command-definition.js';
import {
  nonNegativeInt,
  oneOf,
  parseDevice,
  parseDoRequest,
  parseMethods,
  parsePort,
  parseSteps,
  positiveInt,
  withSteps,
} from '../../cli/option-parsers.js';

const EXAMPLE = defineCommand({
  name: 'example',
  synopsis: ['cgm example FILE [--count N] [--tag T ...] [--dry-run]'],
  about: '  sub-a   aligned   columns\n  sub-b   stay      aligned',
  options: {
    count: { type: 'string', value: 'N', help: 'how many' },
    tag: { type: 'string', multiple: true, value: 'T', help: `repeatable; ${'long words '.repeat(20)}` },
    'a-very-long-option-name': { type: 'string', value: 'VALUE', help: 'its text goes below it' },
    'dry-run': { type: 'boolean', help: 'do nothing' },
    mode: { type: 'string', default: 'fast', help: 'fast or slow' },
  },
});

function usageErrorOf(fn: () => unknown): CliError {
  try {
    fn();
  } catch (err) {
    if (err instanceof CliError) return err;
    throw err;
  }
  throw new Error('expected a CliError');
}

afterEach(() => {
  vi.restoreAllMocks();
});

describe('defineCommand', () => {
  it('parses the table: booleans always set, defaults applied, repeatable options as lists', () => {
    expect(EXAMPLE.parse(['f.txt', '--count', '3', '--tag', 'a', '--tag', 'b'])).toEqual({
      values: { count: '3', tag: ['a', 'b'], 'dry-run': false, mode: 'fast' },
      positionals: ['f.txt'],
    });
  });

  it('renders the help from the table: every option, aligned, no line over the width', () => {
    const lines = EXAMPLE.help.split('\n');
    expect(lines[0]).toBe('usage: cgm example FILE [--count N] [--tag T ...] [--dry-run]');
    for (const o of ['--count N', '--tag T', '--a-very-long-option-name VALUE', '--dry-run', '--mode'])
      expect(EXAMPLE.help).toContain(o);
    expect(EXAMPLE.help).toContain('  sub-a   aligned   columns');
    expect(lines.filter((l) => l.length > HELP_WIDTH)).toEqual([]);
    // The long option's text starts on the next line, at the description column.
    const long = lines.findIndex((l) => l.includes('--a-very-long-option-name'));
    expect(lines[long].trim()).toBe('--a-very-long-option-name VALUE');
    expect(lines[long + 1]).toMatch(/^ {10,}its text goes below it$/);
    expect(lines.find((l) => l.startsWith('  --count'))).toMatch(/^ {2}--count N +how many$/);
  });

  it('prints the help on --help or -h and returns null', () => {
    const write = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
    expect(EXAMPLE.parse(['--help'])).toBeNull();
    expect(EXAMPLE.parse(['x', '-h'])).toBeNull();
    expect(write).toHaveBeenCalledWith(EXAMPLE.help);
  });

  it('turns a bad flag into one usage line pointing at the help', () => {
    const unknown = usageErrorOf(() => EXAMPLE.parse(['--bogus']));
    expect(unknown.exitCode).toBe(2);
    expect(unknown.message).toMatch(/Unknown option '--bogus'.*; see `cgm example --help`$/);
    expect(unknown.message).not.toContain('\n');
    expect(usageErrorOf(() => EXAMPLE.parse(['--count'])).message).toMatch(/--count/);
    const noPositionals = defineCommand({
      name: 'none',
      synopsis: ['cgm none'],
      positionals: false,
      options: {},
    });
    expect(usageErrorOf(() => noPositionals.parse(['extra'])).message).toMatch(/extra/);
  });

  it('gives the tokens of arguments it passes on, unknown options included', () => {
    const tokens = EXAMPLE.tokens(['--count', '2', '--other', 'x']);
    expect(tokens.filter((t) => t.kind === 'option').map((t) => [t.name, t.value])).toEqual([
      ['count', '2'],
      ['other', undefined],
    ]);
  });

  it('wraps words without breaking them, keeping a line lead', () => {
    const lines = wrapText(`  ${'word '.repeat(30)}`, 4);
    expect(lines.length).toBe(2);
    expect(lines.every((l) => l.startsWith('      word') && l.length <= HELP_WIDTH)).toBe(true);
  });
});

describe('shared option parsers', () => {
  it.each([
    [() => parseSteps('2.5'), "--steps: expected a positive integer (got '2.5')"],
    [() => parseSteps('0'), "--steps: expected a positive integer (got '0')"],
    [() => parseSteps('1e2'), "--steps: expected a positive integer (got '1e2')"],
    [() => positiveInt('--window', '-1'), "--window: expected a positive integer (got '-1')"],
    [() => nonNegativeInt('--seed', 'x'), "--seed: expected a non-negative integer (got 'x')"],
    [
      () => parseMethods('csg,sdedit'),
      "--methods: unknown method 'sdedit' in 'csg,sdedit' (expected a comma-separated list of csg, ddpm, ddim)",
    ],
    [() => parseMethods(' , '), "--methods: expected at least one of csg, ddpm, ddim (got ' , ')"],
    [
      () => parseDoRequest('weather'),
      "--do: expected CONCEPT=VALUE (e.g. weather=sunny weather), got 'weather'",
    ],
    [() => parseDoRequest('=sunny'), /--do: expected CONCEPT=VALUE/],
    [() => parsePort('--port', '0'), "--port: expected a port 1-65535 (got '0')"],
    [() => parsePort('--port', '70000', { allowAny: true }), /--port: expected a port 0-65535 \(0: any/],
    [() => parseDevice('--device', 'gpu'), "--device: expected cpu or cuda (got 'gpu')"],
    [
      () => oneOf('--mode', 'slow', ['faithful', 'fixed']),
      "--mode: expected one of faithful, fixed (got 'slow')",
    ],
  ])('%# refuses with one line naming flag, value and expectation', (fn, message) => {
    const err = usageErrorOf(fn);
    expect(err.exitCode).toBe(2);
    if (typeof message === 'string') expect(err.message).toBe(message);
    else expect(err.message).toMatch(message);
  });

  it('reads good values', () => {
    expect(parseSteps('25')).toBe(25);
    expect(parseMethods('ddim, csg,ddim')).toEqual(['ddim', 'csg']);
    expect(parseDoRequest(' weather = sunny day ')).toEqual({ concept: 'weather', value: 'sunny day' });
    expect(parsePort('--port', '0', { allowAny: true })).toBe(0);
    expect(withSteps({ inversion: { seed: 1 }, other: true }, 7)).toEqual({
      inversion: { seed: 1, numSteps: 7 },
      baselines: { numSteps: 7 },
      other: true,
    });
  });
});
