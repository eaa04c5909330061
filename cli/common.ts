/**
 * What every cluster command shares: the bootstrap list, flag value checks,
 * credentials from the environment, and a client opened for the command's
 * lifetime. (Parsing and --help are cli/parser.ts's.)
 *
 * Bootstrap: --bootstrap (or --bootstrap-server) HOST:PORT[,HOST:PORT...],
 * else the KACTUS_BOOTSTRAP environment variable, else ws://127.0.0.1:9191
 * (what `kactus cluster up` listens on by default). A bare HOST:PORT means
 * ws://HOST:PORT, as Kafka tools take a bootstrap list; ws:// and wss://
 * are kept when given.
 *
 * Bounded waits: a CLI run against an unreachable cluster must end with a
 * one-line error in seconds, not hang, so the client's connect timeout and
 * retries are smaller than the library's defaults (cliClientLimits).
 *
 * Imports: client/ (the public client and its internal connection through
 * Kactus.context()), protocol/record-batch/header.ts (the codec names).
 */
import { readFileSync } from 'node:fs';
import { Kactus, type ClientContext } from '../client/kactus.ts';
import type { SaslOptions } from '../client/options.ts';
import { compressionNames, type CompressionName } from '../protocol/record-batch/header.ts';
import { createLogger } from '../runtime/logger.ts';
import { readPemTruststore } from '../runtime/tls.ts';
import { UsageError } from './output.ts';
import type { Parsed } from './parser.ts';

export const bootstrapDefault = 'ws://127.0.0.1:9191';

export const cliClientLimits = {
  /** Time to open the first connection to a bootstrap broker. */
  connectTimeoutMs: 5_000,
  /** Time one admin or metadata request may take. */
  requestTimeoutMs: 15_000,
  /** Retries of a retriable admin failure (no controller, link down). */
  retriesMax: 3,
} as const;

/** The bootstrap URLs from --bootstrap, KACTUS_BOOTSTRAP or the default; HOST:PORT gets ws://; UsageError when malformed. */
export function bootstrapList(flag: unknown): string[] {
  const text = typeof flag === 'string' ? flag : (process.env.KACTUS_BOOTSTRAP ?? bootstrapDefault);
  const items = text.split(',').map((u) => u.trim()).filter((u) => u.length > 0);
  if (items.length === 0) throw new UsageError('--bootstrap needs at least one HOST:PORT');
  return items.map((item) => {
    const url = /^[a-z][a-z0-9+.-]*:\/\//i.test(item) ? item : `ws://${item}`;
    const hostPort = /^wss?:\/\/[^/:\s[\]]+:\d{1,5}\/?$/.test(url) || /^wss?:\/\/\[[0-9a-fA-F:.]+\]:\d{1,5}\/?$/.test(url);
    // ws://HOST without a port was accepted before HOST:PORT was: keep it.
    const hostOnly = url !== `ws://${item}` && (/^wss?:\/\/[^/:\s[\]]+\/?$/.test(url) || /^wss?:\/\/\[[0-9a-fA-F:.]+\]\/?$/.test(url));
    if (!hostPort && !hostOnly) throw new UsageError(`--bootstrap: "${item}" is not HOST:PORT, ws://HOST:PORT or wss://HOST:PORT`);
    return url;
  });
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
