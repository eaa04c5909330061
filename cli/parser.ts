/**
 * The CLI's parser: every command declares its arguments and options as data
 * (CommandSpec), and this module turns a spec into a commander Command. The
 * parsing and the --help text both come from that one declaration, so the
 * help cannot list a flag the command does not take, nor miss one it does.
 *
 * Why commander: zero dependencies, well kept, and it has what a hand-written
 * parser kept lacking: per-command help generated from the definitions, "did
 * you mean" suggestions for unknown options and commands, --version, and
 * exitOverride, through which its errors become our UsageError (exit 2, one
 * line; cli/main.ts prints it). Its 15.x needs Node 22, so ^14 (Node 20).
 *
 * Values reach a command as today's `Parsed`: `values` keyed by the long flag
 * name (`values['key-separator']`), strings, booleans (true when given) and
 * string arrays for `multiple` options, spec defaults filled in; `positionals`
 * the command's arguments. Checks the data can say are made here, once:
 * unknown options and commands, missing and extra arguments, a missing value,
 * `required` options, `choices`. Whatever needs code (a number's range, flags
 * that exclude each other) stays with the command, as a UsageError.
 *
 * A string option takes the next word as its value whatever it looks like, so
 * `--throughput -1` and `--offset -2` work. `aliasOf` names another option
 * this one stands for (`--bootstrap-server` for `--bootstrap`): hidden from
 * the help, its value lands under the other name.
 *
 * Imports: commander and ./output.ts only: main.ts builds the top level from
 * this without loading any command's module (those pull in the client).
 */
import { Command, CommanderError, Help, Option } from 'commander';
import { UsageError, printRaw, withOutput } from './output.ts';

export type OptionSpec = {
  type: 'string' | 'boolean';
  /** Repeatable: every value, in order, as a string array. */
  multiple?: boolean;
  /** One letter: `-e` beside `--exit-at-end`. */
  short?: string;
  default?: string | boolean | string[];
  /** The value's name in the help: `--partitions <N>` (default VALUE). */
  value?: string;
  /** What the option does, for the help. */
  help: string;
  /** How the help shows the default, where the value itself would mislead (a tab). */
  defaultHelp?: string;
  /** The only values accepted (shown in the help, checked before the command runs). */
  choices?: readonly string[];
  /** Refused when missing (checked after --help, so `--help` alone still works). */
  required?: boolean;
  /** Another option's name: this one is its alias, hidden from the help. */
  aliasOf?: string;
  hidden?: boolean;
};

export type ArgumentSpec = { name: string; help: string; required?: boolean; variadic?: boolean };

export type Parsed = { values: Record<string, string | boolean | string[] | undefined>; positionals: string[] };

export type CommandSpec = {
  /** The command's own word: `create` of `topics create`. */
  name: string;
  /** Its line in the parent's list of commands (a top-level command's is in main.ts's table). */
  summary?: string;
  /** What its --help says under the usage line (default: the summary). */
  description?: string;
  arguments?: readonly ArgumentSpec[];
  options?: Readonly<Record<string, OptionSpec>>;
  /** Talks to a cluster: takes clusterOptions (--bootstrap, --bootstrap-server, --json). */
  cluster?: boolean;
  /** Text after the options: examples, environment, notes. */
  notes?: string;
  /** Either run (a leaf) or subcommands (a group). */
  run?: (parsed: Parsed) => Promise<number>;
  subcommands?: readonly CommandSpec[];
};

/** Bootstrap text for help: what --bootstrap takes and where its default comes from. */
export const bootstrapHelp = 'brokers to start from, HOST:PORT[,HOST:PORT...] (ws:// implied; wss:// for TLS); default $KACTUS_BOOTSTRAP or ws://127.0.0.1:9191. Also --bootstrap-server';

/** The options of every command that talks to a cluster (spec.cluster). */
export const clusterOptions: Readonly<Record<string, OptionSpec>> = {
  bootstrap: { type: 'string', value: 'LIST', help: bootstrapHelp },
  'bootstrap-server': { type: 'string', value: 'LIST', help: 'the same as --bootstrap (Kafka\'s name)', aliasOf: 'bootstrap' },
  json: { type: 'boolean', help: 'print JSON (and errors as one JSON object on stderr)' },
};

/** Width the help is laid out for (fixed: the README's reference is this same text). */
export const helpWidth = 100;

/** The help's layout: commander's, with subcommands listed by their words and arguments only. */
class KactusHelp extends Help {
  constructor() {
    super();
    this.helpWidth = helpWidth;
  }

  /** A command's own options first, then the cluster ones (commander orders groups by first option). */
  override groupItems<T extends Command | Option>(unsortedItems: T[], visibleItems: T[], getGroup: (item: T) => string): Map<string, T[]> {
    const groups = super.groupItems(unsortedItems, visibleItems, getGroup);
    const own = groups.get('Options:');
    return own === undefined ? groups : new Map([['Options:', own], ...[...groups].filter(([group]) => group !== 'Options:')]);
  }

  override optionTerm(option: Option): string {
    return optionTerms.get(option) ?? option.flags;
  }

  override subcommandTerm(cmd: Command): string {
    const args = cmd.registeredArguments.map((a) => (a.required ? `<${a.name()}${a.variadic ? '...' : ''}>` : `[${a.name()}${a.variadic ? '...' : ''}]`));
    return [cmd.name(), ...(cmd.commands.length > 0 ? ['<command>'] : []), ...args].join(' ');
  }
}

/** A commander error of `cmd` (named by `path`) as a UsageError: one line, in our words, with the code main.ts reports. */
function usageErrorOf(err: CommanderError, cmd: Command, path: readonly string[]): UsageError {
  const suggestion = /\(Did you mean (.*)\?\)/.exec(err.message)?.[1];
  const didYouMean = suggestion === undefined ? '' : ` (did you mean ${suggestion}?)`;
  const quoted = /'([^']*)'/.exec(err.message)?.[1] ?? '';
  switch (err.code) {
    case 'commander.unknownOption':
      return new UsageError(`unknown option ${quoted}${didYouMean}`, 'UNKNOWN_OPTION');
    case 'commander.unknownCommand':
      return new UsageError(`unknown ${path.length === 0 ? 'command' : 'subcommand'} "${quoted}"${didYouMean}`, 'UNKNOWN_COMMAND');
    case 'commander.missingArgument': {
      const argument = cmd.registeredArguments.find((a) => a.name() === quoted);
      return new UsageError(`missing ${quoted}${argument?.description ? ` (${argument.description})` : ''}`, 'MISSING_ARGUMENT');
    }
    case 'commander.optionMissingArgument':
      return new UsageError(`${quoted.split(/[ ,]+/).find((f) => f.startsWith('--')) ?? quoted} needs a value`, 'MISSING_ARGUMENT');
    case 'commander.missingMandatoryOptionValue':
      return new UsageError(`${quoted.split(/[ ,]+/).find((f) => f.startsWith('--')) ?? quoted} is required`, 'MISSING_ARGUMENT');
    case 'commander.excessArguments':
      return new UsageError(`unexpected argument "${cmd.args[cmd.registeredArguments.length] ?? ''}"`, 'UNEXPECTED_ARGUMENT');
    default:
      return new UsageError(err.message.replace(/^error: /, '').replace(/\s*\n\s*/g, ' '), 'INVALID_ARGUMENT');
  }
}

/** Arguments a command refused: the error, and the words of the command that refused them. */
export class Refused extends Error {
  constructor(
    readonly usage: UsageError,
    readonly path: readonly string[],
  ) {
    super(usage.message);
    this.name = 'Refused';
  }
}

/** The help or the version was printed: nothing is left to run (exit 0). */
export class Printed extends Error {
  constructor() {
    super('printed');
    this.name = 'Printed';
  }
}

/**
 * What every Command gets: commander's errors thrown (never process.exit) as
 * Refused, naming the command's words; help and version printed on stdout
 * through output.ts, then Printed thrown; commander's own error printing
 * silenced (main.ts prints one line); our help layout and suggestions.
 */
export function configured(cmd: Command, path: readonly string[]): Command {
  cmd.createHelp = () => Object.assign(new KactusHelp(), cmd.configureHelp());
  return cmd
    .exitOverride((err) => {
      if (err.exitCode === 0) throw new Printed();
      // A group given no subcommand: commander would print the whole help; one line says it.
      if (err.code === 'commander.help') throw new Refused(new UsageError(`a ${path.length === 0 ? '' : 'sub'}command is required (${cmd.commands.filter((c) => !(c as unknown as { _hidden: boolean })._hidden).map((c) => c.name()).join(', ')})`, 'MISSING_ARGUMENT'), path);
      throw new Refused(usageErrorOf(err, cmd, path), path);
    })
    .configureOutput({ writeOut: (text) => printRaw(text), writeErr: () => undefined, outputError: () => undefined })
    .showSuggestionAfterError(true)
    .helpOption('-h, --help', 'print this help')
    .helpCommand(false);
}

/**
 * How the help shows each option (`--partitions <P,P...>`): commander's own
 * flags syntax would read `...` as a variadic option and split at commas and
 * pipes, so its flags always say `<value>` and the help shows this term.
 */
const optionTerms = new WeakMap<Option, string>();

function optionOf(name: string, spec: OptionSpec): Option {
  const short = spec.short === undefined ? '' : `-${spec.short}, `;
  const flags = `${short}--${name}${spec.type === 'string' ? ' <value>' : ''}`;
  const extra = [
    ...(spec.choices === undefined ? [] : [`one of ${spec.choices.join(', ')}`]),
    ...(spec.required === true ? ['required'] : []),
    ...(spec.defaultHelp !== undefined ? [`default: ${spec.defaultHelp}`] : typeof spec.default === 'string' ? [`default: ${spec.default}`] : []),
    ...(spec.multiple === true ? ['repeatable'] : []),
  ];
  const option = new Option(flags, extra.length === 0 ? spec.help : `${spec.help} (${extra.join('; ')})`);
  optionTerms.set(option, `${short}--${name}${spec.type === 'string' ? ` <${spec.value ?? 'VALUE'}>` : ''}`);
  if (spec.multiple === true) option.argParser((value: string, previous: unknown) => [...(Array.isArray(previous) ? (previous as string[]) : []), value]);
  if (spec.required === true) option.makeOptionMandatory(true);
  if (spec.hidden === true || spec.aliasOf !== undefined) option.hideHelp(true);
  return option;
}

/** The options a spec takes: its own, then the cluster ones. */
export function optionsOf(spec: CommandSpec): [string, OptionSpec][] {
  return [...Object.entries(spec.options ?? {}), ...(spec.cluster === true ? Object.entries(clusterOptions) : [])];
}

/** The values of `cmd` (its options parsed) keyed by long name, defaults filled in, aliases merged, choices checked. */
function parsedOf(cmd: Command, spec: CommandSpec): Parsed {
  const values: Parsed['values'] = {};
  const options = optionsOf(spec);
  for (const [name, o] of options) {
    const option = cmd.options.find((candidate) => candidate.long === `--${name}`)!;
    const value = cmd.getOptionValue(option.attributeName()) as string | boolean | string[] | undefined;
    values[name] = value ?? (Array.isArray(o.default) ? [...o.default] : o.default);
  }
  for (const [name, o] of options) {
    if (o.aliasOf === undefined || values[name] === undefined) continue;
    if (values[o.aliasOf] !== undefined && values[o.aliasOf] !== values[name]) throw new UsageError(`--${o.aliasOf} and --${name} name different values`);
    values[o.aliasOf] = values[name];
  }
  for (const [name, o] of options) {
    if (o.choices === undefined) continue;
    for (const value of ([] as unknown[]).concat(values[name] ?? [])) {
      if (!o.choices.includes(value as string)) throw new UsageError(`--${name} must be one of ${o.choices.join(', ')}, got "${String(value)}"`);
    }
  }
  return { values, positionals: [...cmd.args] };
}

/** What a parse chose to run: the spec, its parsed arguments, and the words that name it. */
export type Chosen = { spec: CommandSpec; parsed: Parsed; path: readonly string[] };

/** A summary as the description of its command's help: a capital first, a full stop last. */
export function sentence(summary: string): string {
  return summary === '' ? '' : `${summary[0]!.toUpperCase()}${summary.slice(1)}${summary.endsWith('.') ? '' : '.'}`;
}

/**
 * The commander Command of `spec`, named by `path` (its words, `spec.name`
 * last). A leaf's action records the parse in `chosen.value`; main.ts runs it
 * once parsing is done (so commander never awaits a command).
 */
export function commandOf(spec: CommandSpec, path: readonly string[], chosen: { value?: Chosen }): Command {
  const cmd = configured(new Command(spec.name), path).summary(spec.summary ?? '').description(spec.description ?? sentence(spec.summary ?? ''));
  for (const a of spec.arguments ?? []) cmd.argument(a.required === false ? `[${a.name}${a.variadic === true ? '...' : ''}]` : `<${a.name}${a.variadic === true ? '...' : ''}>`, a.help);
  for (const [name, o] of Object.entries(spec.options ?? {})) cmd.addOption(optionOf(name, o));
  if (spec.cluster === true) for (const [name, o] of Object.entries(clusterOptions)) cmd.addOption(optionOf(name, o).helpGroup('Cluster options:'));
  if (spec.notes !== undefined) cmd.addHelpText('after', `\n${spec.notes}`);
  if (spec.subcommands !== undefined) {
    for (const sub of spec.subcommands) cmd.addCommand(commandOf(sub, [...path, sub.name], chosen));
  } else {
    cmd.action((...args: unknown[]) => {
      try {
        chosen.value = { spec, parsed: parsedOf(args.at(-1) as Command, spec), path };
      } catch (err) {
        throw err instanceof UsageError ? new Refused(err, path) : err;
      }
    });
  }
  return cmd;
}

/** Parses `argv` (the spec's subcommand words first, if any) against `spec` alone: its Parsed, or Refused (tests, no cluster). */
export function parseArguments(spec: CommandSpec, argv: readonly string[]): Parsed {
  const chosen: { value?: Chosen } = {};
  commandOf(spec, [spec.name], chosen).parse([...argv], { from: 'user' });
  if (chosen.value === undefined) throw new Error(`${spec.name} ${argv.join(' ')}: nothing to run`);
  return chosen.value.parsed;
}

/** What `cmd --help` prints, the texts added before and after included. */
export function helpText(cmd: Command): string {
  let text = '';
  withOutput({ stdout: (t) => (text += t), stderr: () => undefined }, () => cmd.outputHelp());
  return text.trimEnd();
}

export { Command };
