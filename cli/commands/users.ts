/**
 * `kactus users create|delete|list`: SCRAM users (#19), Kafka's
 * `kafka-configs --entity-type users --alter --add-config SCRAM-...` as one
 * command (Admin.alterUserScramCredentials / describeUserScramCredentials).
 *
 * The password is read from --password-file or the first line of stdin,
 * never from a flag (a flag shows in `ps` and in shell history). Only the
 * salted password leaves this process; the cluster keeps keys derived from
 * it.
 */
import { readFileSync } from 'node:fs';
import { KactusError } from '../../client/errors.ts';
import { errorInfo } from '../../protocol/errors.ts';
import { scramMechanisms, scramLimits, type ScramMechanism } from '../../protocol/sasl/scram.ts';
import { integerFlag, withClient } from '../common.ts';
import type { CommandSpec, OptionSpec, Parsed } from '../parser.ts';
import { UsageError, printJson, printLine } from '../output.ts';

function mechanismsOf(flag: unknown): ScramMechanism[] {
  if (flag === undefined || flag === 'both') return [...scramMechanisms];
  if (typeof flag === 'string' && (scramMechanisms as readonly string[]).includes(flag)) return [flag as ScramMechanism];
  throw new UsageError(`--mechanism must be SCRAM-SHA-256, SCRAM-SHA-512 or both, got "${String(flag)}"`);
}

function readPassword(file: unknown): string {
  let text: string;
  try {
    text = typeof file === 'string' ? readFileSync(file, 'utf8') : readFileSync(0, 'utf8');
  } catch (err) {
    throw new UsageError(`users create: cannot read the password (${(err as Error).message})`);
  }
  const password = text.split(/\r?\n/)[0] ?? '';
  if (password.length === 0) throw new UsageError('users create: the password is empty (give it on stdin or in --password-file)');
  return password;
}

async function change(verb: 'create' | 'delete', parsed: Parsed): Promise<number> {
  const user = parsed.positionals[0]!;
  const mechanisms = mechanismsOf(parsed.values.mechanism);
  const alterations =
    verb === 'create'
      ? (() => {
          const iterations = integerFlag(parsed.values.iterations, 'iterations', scramLimits.iterationsMin, scramLimits.iterationsMax, 8_192);
          const password = readPassword(parsed.values['password-file']);
          return mechanisms.map((mechanism) => ({ user, mechanism, password, iterations }));
        })()
      : mechanisms.map((mechanism) => ({ user, mechanism, delete: true as const }));
  return withClient(parsed.values, async (kactus) => {
    const [result] = await kactus.admin().alterUserScramCredentials(alterations);
    if (result === undefined || result.errorCode !== 0) {
      const code = result?.errorCode ?? 2;
      throw new KactusError(code, `users ${verb} ${user}: ${result?.errorMessage ?? errorInfo(code).message}`);
    }
    if (parsed.values.json) printJson({ user, mechanisms, [verb === 'create' ? 'created' : 'deleted']: true });
    else printLine(`${verb === 'create' ? 'Set' : 'Deleted'} ${mechanisms.join(' and ')} for user ${user}.`);
    return 0;
  });
}

async function list(parsed: Parsed): Promise<number> {
  return withClient(parsed.values, async (kactus) => {
    const described = await kactus.admin().describeUserScramCredentials(parsed.positionals.length > 0 ? parsed.positionals : undefined);
    if (parsed.values.json) {
      printJson(described);
    } else {
      for (const entry of described) {
        printLine(entry.errorCode === 0 ? `${entry.user}\t${entry.credentialInfos.map((c) => `${c.mechanism} (${c.iterations} iterations)`).join(', ')}` : `${entry.user}\t${errorInfo(entry.errorCode).name}: ${entry.errorMessage ?? ''}`);
      }
    }
    return described.some((entry) => entry.errorCode !== 0) ? 1 : 0;
  });
}

const userArgument = { name: 'NAME', help: 'the user' } as const;
const mechanismOption: OptionSpec = { type: 'string', value: 'MECHANISM', help: 'SCRAM-SHA-256, SCRAM-SHA-512 or both', defaultHelp: 'both' };

export const usersSpec: CommandSpec = {
  name: 'users',
  description: 'SCRAM users (SASL/SCRAM-SHA-256 and -512), stored in the metadata log.',
  subcommands: [
    {
      name: 'create',
      summary: 'set a user\'s password (both mechanisms unless --mechanism names one)',
      description: `Sets the user's SCRAM credentials. The password is read from --password-file or the first line of
stdin (echo 'secret' | kactus users create alice), never from a flag (a flag shows in ps and
in shell history). Only the salted password leaves this process.`,
      arguments: [userArgument],
      options: {
        mechanism: mechanismOption,
        iterations: { type: 'string', value: 'N', help: 'PBKDF2 iterations', defaultHelp: '8192' },
        'password-file': { type: 'string', value: 'FILE', help: 'read the password from the first line of FILE (default: stdin)' },
      },
      cluster: true,
      run: (parsed) => change('create', parsed),
    },
    { name: 'delete', summary: 'remove a user\'s credentials (both unless --mechanism names one)', arguments: [userArgument], options: { mechanism: mechanismOption }, cluster: true, run: (parsed) => change('delete', parsed) },
    { name: 'list', summary: 'each user\'s mechanisms and iteration counts, never a secret', arguments: [{ name: 'NAME', help: 'only these users (default: all)', required: false, variadic: true }], cluster: true, run: list },
  ],
};
