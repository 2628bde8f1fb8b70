// One table per command: its options, its help text and its parsing all come from it, so an option
// cannot be accepted without being documented, and every command answers --help, a bad flag and a
// usage error the same way (node:util parseArgs underneath).
import { type ParseArgsConfig, parseArgs } from 'node:util';
import { CliError } from './cli-error.js';

/** Help lines are wrapped to this width (the help tests hold every command to it). */
export const HELP_WIDTH = 100;
/** Option descriptions start at this column at most; a longer option name puts its text below it. */
const MAX_DESCRIPTION_COLUMN = 26;

export interface OptionSpec {
  type: 'string' | 'boolean';
  /** The value's placeholder in the help, e.g. 'DIR' (string options). */
  value?: string;
  /** What the option does; wrapped to the help width ('\n' starts a new line). */
  help: string;
  multiple?: boolean;
  short?: string;
  default?: string;
}

export type OptionTable = Record<string, OptionSpec>;

/** The parsed values, typed from the table: booleans are always set, strings may be absent. */
export type OptionValues<O extends OptionTable> = {
  [K in keyof O]: O[K] extends { type: 'boolean' }
    ? boolean
    : O[K] extends { multiple: true }
      ? string[] | undefined
      : O[K] extends { default: string }
        ? string
        : string | undefined;
};

export interface CommandSpec<O extends OptionTable> {
  /** As typed after `cgm`, e.g. 'run' or 'world render'. */
  name: string;
  /** The synopsis as printed after `usage: `, a line each (`cgm run IMAGE …`, or a continuation). */
  synopsis: string[];
  /** Text between the synopsis and the options (sub-commands, what the command does). */
  about?: string;
  options: O;
  /** Whether the command takes positional arguments (default true). */
  positionals?: boolean;
  /** Text after the options. */
  footer?: string;
}

export interface Parsed<O extends OptionTable> {
  values: OptionValues<O>;
  positionals: string[];
}

export interface CommandDefinition<O extends OptionTable> {
  readonly name: string;
  readonly options: O;
  readonly help: string;
  /** The arguments, or null when --help was asked for (the help is then printed on stdout). */
  parse(argv: readonly string[]): Parsed<O> | null;
  /** A usage error of this command: one line, exit 2, pointing at its --help. */
  usageError(problem: string): CliError;
  /**
   * The arguments as tokens, unknown options allowed: for commands that pass their arguments on to
   * another program (cgm world render → python) and only look at the options of their table.
   */
  tokens(argv: readonly string[]): Token[];
}

export type Token = NonNullable<ReturnType<typeof parseArgs>['tokens']>[number];

export function defineCommand<const O extends OptionTable>(spec: CommandSpec<O>): CommandDefinition<O> {
  const help = renderHelp(spec);
  const usageError = (problem: string) => new CliError(`${problem}; see \`cgm ${spec.name} --help\``, 2);
  const config: NonNullable<ParseArgsConfig['options']> = {
    help: { type: 'boolean', short: 'h', default: false },
  };
  for (const [name, o] of Object.entries(spec.options)) {
    config[name] = {
      type: o.type,
      ...(o.multiple ? { multiple: true } : {}),
      ...(o.short ? { short: o.short } : {}),
      ...(o.type === 'boolean' ? { default: false } : o.default !== undefined ? { default: o.default } : {}),
    };
  }
  return {
    name: spec.name,
    options: spec.options,
    help,
    usageError,
    tokens(argv) {
      return (
        parseArgs({ args: [...argv], options: config, allowPositionals: true, strict: false, tokens: true })
          .tokens ?? []
      );
    },
    parse(argv) {
      let parsed: ReturnType<typeof parseArgs>;
      try {
        parsed = parseArgs({
          args: [...argv],
          options: config,
          allowPositionals: spec.positionals ?? true,
          strict: true,
        });
      } catch (err) {
        if ((err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS_'))
          throw usageError((err as Error).message);
        throw err;
      }
      const { help: asked, ...values } = parsed.values;
      if (asked) {
        process.stdout.write(help);
        return null;
      }
      return { values: values as OptionValues<O>, positionals: parsed.positionals };
    },
  };
}

function renderHelp(spec: CommandSpec<OptionTable>): string {
  const [first, ...rest] = spec.synopsis;
  const lines = [`usage: ${first}`, ...rest.map((l) => `       ${l}`)];
  if (spec.about) lines.push('', ...wrapText(spec.about, 0));
  const labels = Object.entries(spec.options).map(([name, o]) => {
    const short = o.short ? `-${o.short}, ` : '';
    return [`  ${short}--${name}${o.value ? ` ${o.value}` : ''}`, o.help] as const;
  });
  if (labels.length > 0) {
    const column = Math.min(MAX_DESCRIPTION_COLUMN, Math.max(...labels.map(([l]) => l.length)) + 2);
    lines.push('');
    for (const [label, text] of labels) {
      const body = wrapText(text, column);
      if (label.length + 2 <= column)
        lines.push(label.padEnd(column) + body[0].trimStart(), ...body.slice(1));
      else lines.push(label, ...body);
    }
  }
  if (spec.footer) lines.push('', ...wrapText(spec.footer, 0));
  return `${lines.join('\n')}\n`;
}

/** `text` word-wrapped to the help width, every line indented by `indent`; '\n' keeps its break. */
export function wrapText(text: string, indent: number): string[] {
  const out: string[] = [];
  const pad = ' '.repeat(indent);
  for (const paragraph of text.split('\n')) {
    // A line's own leading spaces are kept (indented sub-lists in the help texts).
    const lead = /^ */.exec(paragraph)?.[0] ?? '';
    // Words keep the spaces after them, so aligned columns inside a line stay aligned.
    let line = pad + lead;
    let empty = true;
    for (const segment of paragraph.trim().match(/\S+ */g) ?? []) {
      if (!empty && [...(line + segment.trimEnd())].length > HELP_WIDTH) {
        out.push(line.trimEnd());
        line = pad + lead;
      }
      line += segment;
      empty = false;
    }
    out.push(line.trimEnd());
  }
  return out;
}
