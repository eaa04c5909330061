/**
 * The `kactus` command: finds the command the arguments name, parses them
 * against its declaration (cli/parser.ts, commander), runs it, and prints
 * what went wrong. Exit codes: 0 success, 1 failure (an unreachable cluster,
 * an error from the cluster), 2 bad arguments (unknown command or flag, a bad
 * value, a refused config). Data goes to stdout; an error is one line on
 * stderr:
 *
 *   kactus <command>: <what is wrong>; see kactus <command> --help   (exit 2)
 *   kactus <command>: <what failed>                                  (exit 1)
 *
 * With --json anywhere in the arguments, an error is one JSON object instead
 * (cli/output.ts has its shape): {"error":{"code","message","command","exitCode"}}.
 *
 * The table below is the whole command set. A command's module is loaded only
 * once the arguments name it: every module pulls in the client or the broker
 * (0.5-1 s of start-up under tsx), and `kactus --help`, `--version` and a
 * mistyped command must not pay for all of them. So parsing has two steps:
 * 1. a top level built from this table alone: --help, --version, the
 *    commands' names and summaries (with "did you mean" for a typo), and the
 *    two-word families (`cluster up`, `perf produce`) whose members live in
 *    different modules or entries; the command's own arguments pass through;
 * 2. the chosen command's module gives its declaration (CommandSpec: its
 *    options, arguments and subcommands, `topics create`); commander parses
 *    the arguments against it, or prints its generated --help.
 */
import { version } from '../client/version.ts';
import { Command, Printed, Refused, commandOf, configured, sentence, type Chosen, type CommandSpec } from './parser.ts';
import { UsageError, printError, withErrorStyle } from './output.ts';

type Member = { name: string; summary: string; load: () => Promise<CommandSpec> };
type Entry = Member | { name: string; summary: string; family: Member[] };

const commands: Entry[] = [
  {
    name: 'cluster',
    summary: 'a local cluster, its status and its members',
    family: [
      { name: 'up', summary: 'start a local cluster of broker processes (what npm start runs)', load: async () => (await import('./commands/cluster-up.ts')).clusterUpSpec },
      { name: 'status', summary: 'brokers, active controller, quorum, unhealthy partition counts', load: async () => (await import('./commands/cluster-status.ts')).clusterStatusSpec },
      { name: 'add-voter', summary: 'make a broker started with --controller a voter of the metadata quorum', load: async () => (await import('./commands/cluster-voters.ts')).clusterAddVoterSpec },
      { name: 'remove-voter', summary: 'remove a voter from the metadata quorum (the active controller too)', load: async () => (await import('./commands/cluster-voters.ts')).clusterRemoveVoterSpec },
      { name: 'remove-broker', summary: 'unregister a retired broker (drained and stopped, or --force)', load: async () => (await import('./commands/cluster-remove-broker.ts')).clusterRemoveBrokerSpec },
    ],
  },
  { name: 'broker', summary: 'run one broker node (for clusters across machines)', load: async () => (await import('./commands/broker.ts')).brokerSpec },
  { name: 'topics', summary: 'create, list, describe, delete, alter, add-partitions', load: async () => (await import('./commands/topics.ts')).topicsSpec },
  { name: 'produce', summary: 'send one record per stdin line', load: async () => (await import('./commands/produce.ts')).produceSpec },
  { name: 'consume', summary: 'print records as they arrive', load: async () => (await import('./commands/consume.ts')).consumeSpec },
  { name: 'groups', summary: 'list, describe (offsets, lag, members), reset-offsets, delete-offsets, delete', load: async () => (await import('./commands/groups.ts')).groupsSpec },
  { name: 'configs', summary: 'describe and alter topic and broker configs (kafka-configs)', load: async () => (await import('./commands/configs.ts')).configsSpec },
  { name: 'users', summary: 'SCRAM users: create, delete, list', load: async () => (await import('./commands/users.ts')).usersSpec },
  { name: 'acls', summary: 'ACLs: add, list, remove (checked with authorizer.class.name set)', load: async () => (await import('./commands/acls.ts')).aclsSpec },
  { name: 'partitions', summary: 'reassign (plan, execute, status, cancel a rebalance), elect-leaders', load: async () => (await import('./commands/partitions.ts')).partitionsSpec },
  {
    name: 'perf',
    summary: 'load tests',
    family: [
      { name: 'produce', summary: 'producer load test: records/s, MB/s, latency percentiles', load: async () => (await import('./commands/perf.ts')).perfSpecs.produce },
      { name: 'consume', summary: 'consumer load test (from the earliest offsets)', load: async () => (await import('./commands/perf.ts')).perfSpecs.consume },
      { name: 'e2e', summary: 'end-to-end latency at a fixed rate', load: async () => (await import('./commands/perf.ts')).perfSpecs.e2e },
    ],
  },
];

const topLevelNotes = `Every command takes --help (kactus topics create --help). Commands that talk to a cluster take
--bootstrap HOST:PORT[,...] (or --bootstrap-server; ws:// is implied, wss:// for TLS; default
$KACTUS_BOOTSTRAP or ws://127.0.0.1:9191: the native listener, not a Kafka one) and --json.
Environment: KACTUS_SSL_CA (a wss:// cluster's CA file), KACTUS_SASL_USERNAME and
KACTUS_SASL_PASSWORD [and KACTUS_SASL_MECHANISM] (SASL), KACTUS_CLUSTER_SECRET_FILE (on a broker's
machine: link as a peer, trusted with everything).
Errors: one line on stderr, "kactus COMMAND: what is wrong; see kactus COMMAND --help"; with --json,
one JSON object {"error":{"code","message","command","exitCode"}}.
Exit codes: 0 success, 1 failure (cluster unreachable or an error from it), 2 bad arguments.`;

const isFamily = (entry: Entry): entry is Extract<Entry, { family: Member[] }> => 'family' in entry;

/** Where step 1 stops: an entry (and a member of a family) whose module parses the rest. */
type Selected = { entry: Entry; member?: Member; rest: string[] };

/** A command of step 1 that takes its arguments as they are, for step 2. */
function passThrough(name: string, summary: string, path: string[], onChosen: (rest: string[]) => void): Command {
  return configured(new Command(name), path)
    .summary(summary)
    .description(summary)
    .helpOption(false)
    .allowUnknownOption()
    .allowExcessArguments()
    .passThroughOptions()
    .argument('[arguments...]')
    .action((rest: string[]) => onChosen(rest));
}

/** Step 1: the top level from the table alone; `selected.value` is set when a command was named. */
export function topLevel(selected: { value?: Selected } = {}): Command {
  const program = configured(new Command('kactus'), [])
    .description('Kactus, a Kafka-style streaming platform: run a cluster, manage topics and groups, produce, consume, load-test.')
    .version(version, '-V, --version', 'print the version')
    .enablePositionalOptions()
    .helpCommand('help [command]', 'print the help of a command')
    .addHelpText('after', `\n${topLevelNotes}`);
  for (const entry of commands) {
    if (!isFamily(entry)) {
      program.addCommand(passThrough(entry.name, entry.summary, [entry.name], (rest) => (selected.value = { entry, rest })));
      continue;
    }
    const family = configured(new Command(entry.name), [entry.name]).summary(entry.summary).description(sentence(entry.summary)).enablePositionalOptions();
    family.configureHelp({ subcommandTerm: (cmd) => `${entry.name} ${cmd.name()}` });
    for (const member of entry.family) family.addCommand(passThrough(member.name, member.summary, [entry.name, member.name], (rest) => (selected.value = { entry, member, rest })));
    program.addCommand(family);
  }
  // The list shows the families' members by their two words (`cluster up`): what a user types.
  const visible = program.createHelp().visibleCommands.bind(program.createHelp());
  program.configureHelp({
    visibleCommands: (cmd) => visible(cmd).flatMap((c) => (commands.some((e) => e.name === c.name() && isFamily(e)) ? c.commands : [c])),
    subcommandTerm: (cmd) => (cmd.parent !== null && cmd.parent !== program ? `${cmd.parent.name()} ${cmd.name()}` : cmd.name() === 'help' ? 'help [command]' : cmd.name()),
  });
  return program;
}

/** The declaration step 2 parses against: a module's spec, inside its family when it has one. */
async function specOf(selected: Selected): Promise<CommandSpec> {
  const { entry, member } = selected;
  if (member === undefined) return { ...(await (entry as Member).load()), name: entry.name, summary: entry.summary };
  return { name: entry.name, summary: entry.summary, subcommands: [{ ...(await member.load()), name: member.name, summary: member.summary }] };
}

/** Every command's declaration, loaded (the README reference documents them all). */
export async function allSpecs(): Promise<CommandSpec[]> {
  return Promise.all(commands.map((entry) => (isFamily(entry) ? Promise.all(entry.family.map(async (member) => ({ ...(await member.load()), name: member.name, summary: member.summary }))).then((subcommands) => ({ name: entry.name, summary: entry.summary, subcommands })) : specOf({ entry, rest: [] }))));
}

/** The commander tree of `specs` under a `kactus` root (step 2; the reference builds it with every spec). */
export function programOf(specs: readonly CommandSpec[], chosen: { value?: Chosen } = {}): Command {
  const root = configured(new Command('kactus'), []).enablePositionalOptions();
  for (const spec of specs) root.addCommand(commandOf(spec, [spec.name], chosen));
  return root;
}

/** Is --json among the arguments (before a `--`)? Then errors are printed as JSON, even those of parsing. */
function jsonRequested(argv: readonly string[]): boolean {
  const end = argv.indexOf('--');
  return (end < 0 ? argv : argv.slice(0, end)).includes('--json');
}

/** One line: the first line of a message, whitespace collapsed. */
function oneLine(text: string): string {
  return text.split('\n')[0]!.replace(/\s+/g, ' ').trim();
}

/** A message without the command's own prefix (`topics create: `, `acls: `) or a `; see ... --help` already in it. */
function bare(message: string, path: readonly string[]): string {
  let text = oneLine(message).replace(/;? see kactus [\w -]*--help\.?$/, '');
  for (let n = path.length; n > 0; n -= 1) {
    const prefix = `${path.slice(0, n).join(' ')}: `;
    if (text.startsWith(prefix)) return text.slice(prefix.length);
  }
  return text;
}

function reportUsage(err: UsageError, path: readonly string[], json: boolean): number {
  const command = path.join(' ');
  const message = bare(err.message, path);
  withErrorStyle({ command: command === '' ? null : command, json }, () => printError(json ? message : `${message}; see kactus ${command === '' ? '' : `${command} `}--help`, { code: err.code, exitCode: 2 }));
  return 2;
}

export async function main(args: string[]): Promise<number> {
  // `kactus help topics create` is `kactus topics create --help` (commander's own help command would print step 1's placeholder).
  const argv = args[0] === 'help' ? [...args.slice(1), '--help'] : args;
  const json = jsonRequested(argv);
  let path: readonly string[] = [];
  try {
    const selected: { value?: Selected } = {};
    topLevel(selected).parse(argv, { from: 'user' });
    if (selected.value === undefined) return 0;
    path = selected.value.member === undefined ? [selected.value.entry.name] : [selected.value.entry.name, selected.value.member.name];
    const chosen: { value?: Chosen } = {};
    // `kactus help topics` reaches here as topics with --help: step 2 parses the words that name it and what followed.
    programOf([await specOf(selected.value)], chosen).parse([...path, ...selected.value.rest], { from: 'user' });
    if (chosen.value === undefined) return 0;
    const { spec, parsed } = chosen.value;
    path = chosen.value.path;
    return await withErrorStyle({ command: path.join(' '), json }, () => spec.run!(parsed));
  } catch (err) {
    if (err instanceof Printed) return 0;
    if (err instanceof Refused) return reportUsage(err.usage, err.path, json);
    // A broker config refused (actors/broker/config.ts's ConfigError) is a bad argument too.
    if (err instanceof UsageError) return reportUsage(err, path, json);
    if (err instanceof Error && err.name === 'ConfigError') return reportUsage(new UsageError(err.message), path, json);
    const type = (err as { type?: unknown }).type;
    const code = err instanceof Error && err.name === 'KactusError' && typeof type === 'string' ? type : 'FAILED';
    withErrorStyle({ command: path.length === 0 ? null : path.join(' '), json }, () => printError(bare(err instanceof Error ? err.message : String(err), path), { code, exitCode: 1 }));
    return 1;
  }
}
