/**
 * The `kactus` command: dispatches to subcommands. Exit codes: 0 success,
 * 1 failure (an unreachable cluster, an error from the cluster), 2 bad
 * arguments. Errors are one line on stderr; data goes to stdout.
 */
import { clusterUp, clusterUpHelp } from './commands/cluster-up.ts';
import { UsageError, printError, printLine } from './output.ts';

const help = `Usage: kactus <command> [options]

Commands:
  cluster up        start a local cluster of broker processes (what npm start runs)
  broker            run one broker node (for clusters across machines)

Every command takes --help.`;

type Command = { run: (argv: string[]) => Promise<number>; help: string };

const commands: Record<string, Command> = {
  'cluster up': { run: clusterUp, help: clusterUpHelp },
};

export async function main(argv: string[]): Promise<number> {
  if (argv.length === 0 || argv[0] === '--help' || argv[0] === '-h' || argv[0] === 'help') {
    printLine(help);
    return argv.length === 0 ? 2 : 0;
  }
  const twoWords = `${argv[0]} ${argv[1] ?? ''}`;
  const name = commands[twoWords] ? twoWords : argv[0]!;
  const command = commands[name];
  if (command === undefined) {
    printError(`unknown command "${argv.slice(0, 2).join(' ')}"; see kactus --help`);
    return 2;
  }
  const rest = argv.slice(name.split(' ').length);
  try {
    return await command.run(rest);
  } catch (err) {
    if (err instanceof UsageError || (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      printError((err as Error).message);
      return 2;
    }
    printError((err as Error).message);
    return 1;
  }
}
