/**
 * The `kactus` command: dispatches to subcommands. Exit codes: 0 success,
 * 1 failure (an unreachable cluster, an error from the cluster), 2 bad
 * arguments (unknown command or flag, a bad value, a refused config). Errors
 * are one line on stderr; data goes to stdout.
 *
 * The table below is the whole command set; a command owns its flags and
 * --help. Two-word commands (`cluster up`, `perf produce`) are looked up
 * before one-word ones; a one-word command with subcommands (`topics`,
 * `groups`, `partitions`) dispatches them itself.
 */
import { ConfigError } from '../actors/broker/config.ts';
import { UsageError, printError, printLine } from './output.ts';
import { version } from '../client/version.ts';

type Run = (argv: string[]) => Promise<number>;
/** A command's module is loaded only when it runs: `--help` and bad arguments stay quick (each module pulls in the client or the broker). */
type Command = { load: () => Promise<Run>; summary: string };

const commands: Record<string, Command> = {
  'cluster up': { load: async () => (await import('./commands/cluster-up.ts')).clusterUp, summary: 'start a local cluster of broker processes (what npm start runs)' },
  'cluster status': { load: async () => (await import('./commands/cluster-status.ts')).clusterStatus, summary: 'brokers, active controller, quorum, unhealthy partition counts' },
  'cluster add-voter': { load: async () => (await import('./commands/cluster-voters.ts')).clusterAddVoter, summary: 'make a broker started with --controller a voter of the metadata quorum' },
  'cluster remove-voter': { load: async () => (await import('./commands/cluster-voters.ts')).clusterRemoveVoter, summary: 'remove a voter from the metadata quorum (the active controller too)' },
  'cluster remove-broker': { load: async () => (await import('./commands/cluster-remove-broker.ts')).clusterRemoveBroker, summary: 'unregister a retired broker (drained and stopped, or --force)' },
  broker: { load: async () => (await import('./commands/broker.ts')).broker, summary: 'run one broker node (for clusters across machines)' },
  topics: { load: async () => (await import('./commands/topics.ts')).topics, summary: 'create, list, describe, delete, alter, add-partitions' },
  produce: { load: async () => (await import('./commands/produce.ts')).produce, summary: 'send one record per stdin line' },
  consume: { load: async () => (await import('./commands/consume.ts')).consume, summary: 'print records as they arrive' },
  groups: { load: async () => (await import('./commands/groups.ts')).groups, summary: 'list, describe (offsets, lag, members), reset-offsets, delete-offsets, delete' },
  configs: { load: async () => (await import('./commands/configs.ts')).configs, summary: 'describe and alter topic and broker configs (kafka-configs)' },
  users: { load: async () => (await import('./commands/users.ts')).users, summary: 'SCRAM users: create, delete, list' },
  acls: { load: async () => (await import('./commands/acls.ts')).acls, summary: 'ACLs: add, list, remove (checked with authorizer.class.name set)' },
  partitions: { load: async () => (await import('./commands/partitions.ts')).partitions, summary: 'reassign (plan, execute, status, cancel a rebalance), elect-leaders' },
  'perf produce': { load: async () => (await import('./commands/perf.ts')).perfCommand('produce'), summary: 'producer load test: records/s, MB/s, latency percentiles' },
  'perf consume': { load: async () => (await import('./commands/perf.ts')).perfCommand('consume'), summary: 'consumer load test (from the earliest offsets)' },
  'perf e2e': { load: async () => (await import('./commands/perf.ts')).perfCommand('e2e'), summary: 'end-to-end latency at a fixed rate' },
};

export function help(): string {
  const width = Math.max(...Object.keys(commands).map((n) => n.length));
  return `Usage: kactus <command> [options]

Commands:
${Object.entries(commands).map(([name, c]) => `  ${name.padEnd(width)}  ${c.summary}`).join('\n')}

Every command takes --help. Commands that talk to a cluster take
--bootstrap ws://HOST:PORT[,...] (default $KACTUS_BOOTSTRAP or ws://127.0.0.1:9191;
a wss:// cluster's CA in $KACTUS_SSL_CA; SASL as $KACTUS_SASL_USERNAME / $KACTUS_SASL_PASSWORD
[/ $KACTUS_SASL_MECHANISM]; on a broker's machine, $KACTUS_CLUSTER_SECRET_FILE links as a peer, trusted
with everything) and --json where they print data. kactus --version prints the version.
Exit codes: 0 success, 1 failure (cluster unreachable or an error from it), 2 bad arguments.`;
}

/** Help of a two-word family (`cluster`, `perf`): its commands; each has its own --help. */
function familyHelp(family: string, names: string[]): string {
  const width = Math.max(...names.map((n) => n.length));
  return `Usage: kactus ${family} <${names.map((n) => n.split(' ')[1]).join('|')}> [options]

${names.map((n) => `  ${n.padEnd(width)}  ${commands[n]!.summary}`).join('\n')}

Each takes --help: kactus ${names[0]} --help`;
}

/** One line: the first line of a message, whitespace collapsed. */
function oneLine(text: string): string {
  return text.split('\n')[0]!.replace(/\s+/g, ' ').trim();
}

export async function main(argv: string[]): Promise<number> {
  if (argv.length === 0) {
    printError('a command is required; see kactus --help');
    return 2;
  }
  if (argv[0] === '--help' || argv[0] === '-h' || argv[0] === 'help') {
    printLine(help());
    return 0;
  }
  if (argv[0] === '--version' || argv[0] === '-V') {
    printLine(version);
    return 0;
  }
  const twoWords = `${argv[0]} ${argv[1] ?? ''}`;
  const name = commands[twoWords] ? twoWords : argv[0]!;
  const command = commands[name];
  if (command === undefined) {
    const family = Object.keys(commands).filter((n) => n.startsWith(`${argv[0]} `));
    if (family.length === 0) {
      printError(`unknown command "${argv[0]}"; see kactus --help`);
      return 2;
    }
    // `kactus perf --help`, `kactus cluster --help`: the family's commands.
    if (argv[1] === '--help' || argv[1] === '-h') {
      printLine(familyHelp(argv[0]!, family));
      return 0;
    }
    const names = family.map((n) => n.split(' ')[1]).join(', ');
    printError(argv[1] === undefined || argv[1].startsWith('-') ? `${argv[0]}: a subcommand is required (${names}); see kactus ${argv[0]} --help` : `${argv[0]}: unknown subcommand "${argv[1]}" (${names}); see kactus ${argv[0]} --help`);
    return 2;
  }
  const rest = argv.slice(name.split(' ').length);
  try {
    const run = await command.load();
    return await run(rest);
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    if (err instanceof UsageError || err instanceof ConfigError || (typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS'))) {
      printError(oneLine((err as Error).message));
      return 2;
    }
    printError(oneLine(err instanceof Error ? err.message : String(err)));
    return 1;
  }
}
