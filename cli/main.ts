/**
 * The `kactus` command: dispatches to subcommands. Exit codes: 0 success,
 * 1 failure (an unreachable cluster, an error from the cluster), 2 bad
 * arguments (unknown command or flag, a bad value, a refused config). Errors
 * are one line on stderr; data goes to stdout.
 *
 * The table below is the whole command set; a command owns its flags and
 * --help. Two-word commands (`cluster up`, `perf produce`) are looked up
 * before one-word ones; a one-word command with subcommands (`topics`,
 * `groups`) dispatches them itself.
 */
import { ConfigError } from '../actors/broker/config.ts';
import { broker, brokerHelp } from './commands/broker.ts';
import { clusterStatus, clusterStatusHelp } from './commands/cluster-status.ts';
import { clusterUp, clusterUpHelp } from './commands/cluster-up.ts';
import { topics, topicsHelp } from './commands/topics.ts';
import { produce, produceHelp } from './commands/produce.ts';
import { consume, consumeHelp } from './commands/consume.ts';
import { UsageError, printError, printLine } from './output.ts';

type Command = { run: (argv: string[]) => Promise<number>; help: string; summary: string };

const commands: Record<string, Command> = {
  'cluster up': { run: clusterUp, help: clusterUpHelp, summary: 'start a local cluster of broker processes (what npm start runs)' },
  'cluster status': { run: clusterStatus, help: clusterStatusHelp, summary: 'brokers, active controller, quorum, unhealthy partition counts' },
  broker: { run: broker, help: brokerHelp, summary: 'run one broker node (for clusters across machines)' },
  topics: { run: topics, help: topicsHelp, summary: 'create, list, describe, delete, alter, add-partitions' },
  produce: { run: produce, help: produceHelp, summary: 'send one record per stdin line' },
  consume: { run: consume, help: consumeHelp, summary: 'print records as they arrive' },
};

function help(): string {
  const width = Math.max(...Object.keys(commands).map((n) => n.length));
  return `Usage: kactus <command> [options]

Commands:
${Object.entries(commands).map(([name, c]) => `  ${name.padEnd(width)}  ${c.summary}`).join('\n')}

Every command takes --help. Commands that talk to a cluster take
--bootstrap ws://HOST:PORT[,...] (default $KACTUS_BOOTSTRAP or ws://127.0.0.1:9191)
and --json where they print data.
Exit codes: 0 success, 1 failure (cluster unreachable or an error from it), 2 bad arguments.`;
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
  const twoWords = `${argv[0]} ${argv[1] ?? ''}`;
  const name = commands[twoWords] ? twoWords : argv[0]!;
  const command = commands[name];
  if (command === undefined) {
    const family = Object.keys(commands).filter((n) => n.startsWith(`${argv[0]} `));
    printError(family.length > 0 ? `${argv[0]}: a subcommand is required (${family.map((n) => n.split(' ')[1]).join(', ')}); see kactus --help` : `unknown command "${argv[0]}"; see kactus --help`);
    return 2;
  }
  const rest = argv.slice(name.split(' ').length);
  try {
    return await command.run(rest);
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
