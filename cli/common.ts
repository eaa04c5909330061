/**
 * What every cluster command shares: argument parsing with the common flags
 * (--bootstrap, --json, --help), the bootstrap list, and a client opened for
 * the command's lifetime.
 *
 * Bootstrap: --bootstrap ws://HOST:PORT[,ws://HOST:PORT...], else the
 * KACTUS_BOOTSTRAP environment variable, else ws://127.0.0.1:9191 (what
 * `kactus cluster up` listens on by default).
 *
 * Bounded waits: a CLI run against an unreachable cluster must end with a
 * one-line error in seconds, not hang, so the client's connect timeout and
 * retries are smaller than the library's defaults (cliClientLimits).
 *
 * Imports: client/ (the public client and its internal connection through
 * Kactus.context()), protocol/record-batch/header.ts (the codec names),
 * node:util.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { Kactus, type ClientContext } from '../client/kactus.ts';
import type { SaslOptions } from '../client/options.ts';
import { compressionNames, type CompressionName } from '../protocol/record-batch/header.ts';
import { createLogger } from '../runtime/logger.ts';
import { readPemTruststore } from '../runtime/tls.ts';
import { UsageError, printLine } from './output.ts';

export const bootstrapDefault = 'ws://127.0.0.1:9191';

export const cliClientLimits = {
  /** Time to open the first connection to a bootstrap broker. */
  connectTimeoutMs: 5_000,
  /** Time one admin or metadata request may take. */
  requestTimeoutMs: 15_000,
  /** Retries of a retriable admin failure (no controller, link down). */
  retriesMax: 3,
} as const;

type OptionSpec = { type: 'string' | 'boolean'; multiple?: boolean; short?: string; default?: string | boolean | string[] | boolean[] };

export const commonOptions = {
  bootstrap: { type: 'string' },
  json: { type: 'boolean', default: false },
  help: { type: 'boolean', default: false },
} as const satisfies Record<string, OptionSpec>;

export type Parsed = { values: Record<string, string | boolean | string[] | undefined>; positionals: string[] };

/**
 * Parses `argv` against the command's options plus the common ones. Throws
 * UsageError (exit 2) for unknown flags, missing values, or a positional
 * count outside [positionalsMin, positionalsMax].
 */
export function parseCommand(command: string, argv: string[], options: Record<string, OptionSpec>, positionals: { min: number; max: number; names?: string } = { min: 0, max: 0 }): Parsed {
  return parseFlags(command, argv, { ...commonOptions, ...options }, positionals);
}

/**
 * Parses `argv` against exactly `options` (commands that do not talk to a
 * cluster: `cluster up`, `broker`). Errors name the command, as
 * parseCommand's do. A negative number after a string flag is its value
 * (`--throughput -1`), not an unknown option.
 */
export function parseFlags(command: string, argv: string[], options: Record<string, OptionSpec>, positionals: { min: number; max: number; names?: string } = { min: 0, max: 0 }): Parsed {
  let parsed: Parsed;
  try {
    parsed = parseArgs({ args: negativeValuesJoined(argv, options), options, strict: true, allowPositionals: true }) as Parsed;
  } catch (err) {
    // parseArgs' message, without its advice about '--' (no command here takes a positional starting with '-').
    const message = (err as Error).message.split('\n')[0]!.replace(/\. To specify a positional argument.*$/, '').replace(/\.$/, '');
    throw new UsageError(`${command}: ${message}; see kactus ${command} --help`);
  }
  if (parsed.values.help === true) return parsed;
  const count = parsed.positionals.length;
  if (count < positionals.min) throw new UsageError(`${command}: ${positionals.names ?? 'an argument'} is required; see kactus ${command} --help`);
  if (count > positionals.max) throw new UsageError(`${command}: unexpected argument "${parsed.positionals[positionals.max]}"; see kactus ${command} --help`);
  return parsed;
}

/** `--flag -1` -> `--flag=-1` for string flags: node's parseArgs would take "-1" for an option. */
function negativeValuesJoined(argv: string[], options: Record<string, OptionSpec>): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i += 1) {
    const arg = argv[i]!;
    if (arg === '--') {
      out.push(...argv.slice(i));
      break;
    }
    const next = argv[i + 1];
    const name = arg.startsWith('--') && !arg.includes('=') ? arg.slice(2) : undefined;
    if (name !== undefined && options[name]?.type === 'string' && next !== undefined && /^-\d+(\.\d+)?$/.test(next)) {
      out.push(`${arg}=${next}`);
      i += 1;
    } else {
      out.push(arg);
    }
  }
  return out;
}

/** True (and prints the help) when --help was given. */
export function helpRequested(parsed: Parsed, help: string): boolean {
  if (parsed.values.help !== true) return false;
  printLine(help);
  return true;
}

/** The bootstrap URLs from --bootstrap, KACTUS_BOOTSTRAP or the default; UsageError when malformed. */
export function bootstrapList(flag: unknown): string[] {
  const text = typeof flag === 'string' ? flag : (process.env.KACTUS_BOOTSTRAP ?? bootstrapDefault);
  const urls = text.split(',').map((u) => u.trim()).filter((u) => u.length > 0);
  if (urls.length === 0) throw new UsageError('--bootstrap needs at least one ws://HOST:PORT');
  for (const url of urls) {
    if (!/^wss?:\/\/[^/:\s]+(:\d+)?\/?$/.test(url) && !/^wss?:\/\/\[[0-9a-fA-F:.]+\](:\d+)?\/?$/.test(url)) throw new UsageError(`--bootstrap: "${url}" is not ws://HOST:PORT`);
  }
  return urls;
}

/** Integer flag in [min, max]; UsageError naming the flag otherwise. */
export function integerFlag(value: unknown, flag: string, min: number, max: number, fallback?: number): number {
  if (value === undefined) {
    if (fallback === undefined) throw new UsageError(`--${flag} is required`);
    return fallback;
  }
  const text = String(value);
  const number = Number(text);
  if (!/^-?\d+$/.test(text) || !Number.isSafeInteger(number) || number < min || number > max) throw new UsageError(`--${flag} must be an integer in [${min}, ${max}], got "${text}"`);
  return number;
}

/** `key=value` items into a record; UsageError naming the flag for an item without '='. */
/** `--compression` / `-z`: one of Kafka's codec names (compression.type, kcat's -z); none when absent. */
export function compressionFlag(value: unknown): CompressionName {
  const text = String(value ?? 'none');
  if (!(compressionNames as readonly string[]).includes(text)) throw new UsageError(`--compression must be one of ${compressionNames.join(', ')}, got "${text}"`);
  return text as CompressionName;
}

export function keyValues(items: unknown, flag: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const item of (items as string[] | undefined) ?? []) {
    const at = item.indexOf('=');
    if (at <= 0) throw new UsageError(`--${flag} ${item} is not key=value`);
    out[item.slice(0, at)] = item.slice(at + 1);
  }
  return out;
}

/**
 * The CA of a wss:// cluster from $KACTUS_SSL_CA (a PEM file, as `kactus cluster up --tls` prints), or none
 * (Node's bundled roots); UsageError naming the variable when the file does not read.
 */
export function sslFromEnvironment(): { ca: string } | undefined {
  const path = process.env.KACTUS_SSL_CA;
  if (path === undefined || path === '') return undefined;
  try {
    return { ca: readPemTruststore(path) };
  } catch (err) {
    throw new UsageError(`KACTUS_SSL_CA: ${(err as Error).message}`);
  }
}

/**
 * SASL credentials from $KACTUS_SASL_USERNAME and $KACTUS_SASL_PASSWORD (mechanism: $KACTUS_SASL_MECHANISM,
 * default SCRAM-SHA-256), for brokers with native.client.authentication=sasl; none when the username is unset.
 */
export function saslFromEnvironment(): SaslOptions | undefined {
  const username = process.env.KACTUS_SASL_USERNAME;
  if (username === undefined || username === '') return undefined;
  const password = process.env.KACTUS_SASL_PASSWORD;
  if (password === undefined || password === '') throw new UsageError('KACTUS_SASL_USERNAME is set: set KACTUS_SASL_PASSWORD too');
  const mechanism = (process.env.KACTUS_SASL_MECHANISM ?? 'SCRAM-SHA-256').toUpperCase();
  if (mechanism !== 'SCRAM-SHA-256' && mechanism !== 'SCRAM-SHA-512' && mechanism !== 'PLAIN') throw new UsageError(`KACTUS_SASL_MECHANISM: ${mechanism} is not SCRAM-SHA-256, SCRAM-SHA-512 or PLAIN`);
  return { mechanism, username, password };
}

/**
 * The cluster secret from $KACTUS_CLUSTER_SECRET_FILE (operator tools on a broker's machine: the
 * command links as a peer, trusted with everything, e.g. to make the first users), or none.
 */
export function clusterSecretFromEnvironment(): Buffer | undefined {
  const path = process.env.KACTUS_CLUSTER_SECRET_FILE;
  if (path === undefined || path === '') return undefined;
  try {
    return Buffer.from(readFileSync(path, 'utf8').trim(), 'utf8');
  } catch (err) {
    throw new UsageError(`KACTUS_CLUSTER_SECRET_FILE: ${(err as Error).message}`);
  }
}

/** A client for one command: opened (bootstrap reached) before `run`, closed after it whatever happens. */
export async function withClient<T>(flags: Parsed['values'], run: (kactus: Kactus, context: ClientContext) => Promise<T>, options: { requestTimeoutMs?: number } = {}): Promise<T> {
  const ssl = sslFromEnvironment();
  const sasl = saslFromEnvironment();
  const clusterSecret = clusterSecretFromEnvironment();
  const kactus = new Kactus({
    ...(clusterSecret === undefined ? {} : { clusterSecret }),
    ...(ssl === undefined ? {} : { ssl }),
    ...(sasl === undefined ? {} : { sasl }),
    brokers: bootstrapList(flags.bootstrap),
    clientId: 'kactus-cli',
    connectTimeoutMs: cliClientLimits.connectTimeoutMs,
    requestTimeoutMs: options.requestTimeoutMs ?? cliClientLimits.requestTimeoutMs,
    retriesMax: cliClientLimits.retriesMax,
    // The client's own logs (link warnings) would break the one-line-error rule: silent unless LOG_LEVEL asks.
    logger: createLogger({ client: 'kactus-cli' }, process.env.LOG_LEVEL ?? 'silent', 2),
  });
  try {
    const context = await kactus.context();
    return await run(kactus, context);
  } finally {
    await kactus.close({ timeoutMs: 5_000 }).catch(() => undefined);
  }
}
