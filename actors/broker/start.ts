/**
 * Running one broker process: the start-up shared by actors/broker-main.ts
 * (what tests and `kactus cluster up` spawn) and `kactus broker` (one node of
 * a cluster across machines).
 *
 * Owns: `brokerConfigFromSources` (required flags, then a JSON file of Kafka
 * names, then KACTUS_* environment variables, then `--set`; later sources win,
 * as a command line beats a file in Kafka's tools) and `runBroker` (start the
 * node with its data plane, print the ready line, stop on SIGTERM/SIGINT).
 *
 * The ready line: one JSON line `{"event":"ready","brokerId":N,"url":...,
 * "incarnation":...}` on stdout once the node listens, with `"http":URL`
 * when the HTTP listener runs (its bound port: http.listener may ask for 0). Stdout is a control
 * channel for whoever started the process (tests wait for this line; the
 * cluster supervisor counts brokers with it); logs are JSON on stderr.
 *
 * The web console (console/server) is mounted on the HTTP listener here: it
 * is a client of this broker (the public client over the native listener),
 * so this start-up is the one place under actors/ that reaches client/.
 *
 * Exit codes: 0 after a graceful stop (SIGTERM/SIGINT: actors first, then the
 * logs close with their clean-shutdown marker); 1 when a top-level actor gave
 * up after its restarts (a supervisor above us sees the failure instead of a
 * zombie broker). Bad configuration is the caller's to report (exit 2): every
 * config problem here is a ConfigError that names the key.
 */
import { readFileSync } from 'node:fs';
import { spawnFaultControl } from '../../runtime/fault-control.ts';
import { FaultPlan } from '../../runtime/faults.ts';
import { createLogger } from '../../runtime/logger.ts';
import { startBrokerNode, type BrokerNode } from '../broker-node.ts';
import { applyKafkaSettings, ConfigError, kafkaConfigNames, makeBrokerConfig, parseQuorumVoters, type BrokerConfig } from './config.ts';
import { startDataPlane, type DataPlane } from './data-plane.ts';
import { clusterSecretVariable } from './cluster-secret.ts';
import { consoleHandlers } from '../../console/server/index.ts';
import { readPemTruststore } from '../../runtime/tls.ts';
import { metricsPrefix } from '../metrics/broker-metrics.ts';

/** Largest --config file read (a broker config is a few KiB). */
export const configFileBytesMax = 1024 * 1024;

/** Prefix of environment variables that carry Kafka configs: KACTUS_MIN_INSYNC_REPLICAS -> min.insync.replicas. */
export const environmentPrefix = 'KACTUS_';

/**
 * KACTUS_FAULT_INJECTION=1 (test clusters only, e.g. the chaos harness in
 * test/chaos/): the node gets a FaultPlan (seeded with the broker id) and a
 * `/fault-control` actor (runtime/fault-control.ts) that cuts links and crashes
 * actors on command from the network. Never set it on a real cluster.
 */
export const faultInjectionVariable = 'KACTUS_FAULT_INJECTION';

/** Environment variables with the prefix that are not broker configs (client and tool settings). */
const environmentNotConfig = new Set(['KACTUS_BOOTSTRAP', faultInjectionVariable, clusterSecretVariable]);

export type BrokerSources = {
  brokerId: number;
  listenHost: string;
  listenPort: number;
  dataDir: string;
  controllerQuorum: string;
  /** host:port others dial (advertised.listeners); default the listener. */
  advertise?: string | undefined;
  rack?: string | undefined;
  /** Path of a JSON object of Kafka config names to values. */
  configFile?: string | undefined;
  /** Environment to read KACTUS_* configs from (default: none). */
  environment?: Readonly<Record<string, string | undefined>>;
  /** `--set key=value` items, applied last. */
  settings?: readonly string[];
};

/** Splits HOST:PORT (the host may be an IPv6 literal in brackets); throws ConfigError naming `what`. */
export function parseHostPort(text: string, what: string): { host: string; port: number } {
  const match = /^(.+):(\d+)$/.exec(text);
  const port = match ? Number(match[2]) : NaN;
  if (match === null || !Number.isInteger(port) || port < 0 || port > 65_535) throw new ConfigError(`${what} "${text}" is not HOST:PORT`);
  return { host: match[1]!.replace(/^\[(.*)\]$/, '$1'), port };
}

/** Kafka configs from KACTUS_* variables: KACTUS_LOG_SEGMENT_BYTES -> log.segment.bytes. Unknown ones are refused. */
export function settingsFromEnvironment(environment: Readonly<Record<string, string | undefined>>): Record<string, string> {
  const known = new Map(kafkaConfigNames().map((name) => [environmentPrefix + name.toUpperCase().replace(/\./g, '_'), name]));
  const settings: Record<string, string> = {};
  for (const [variable, value] of Object.entries(environment)) {
    if (!variable.startsWith(environmentPrefix) || value === undefined || environmentNotConfig.has(variable)) continue;
    const name = known.get(variable);
    if (name === undefined) throw new ConfigError(`unknown config in environment variable ${variable}`);
    settings[name] = value;
  }
  return settings;
}

/** Kafka configs from a JSON file: an object of names to strings, numbers or booleans. */
export function settingsFromFile(path: string): Record<string, string | number | boolean> {
  let text: string;
  try {
    const bytes = readFileSync(path);
    if (bytes.length > configFileBytesMax) throw new ConfigError(`config file ${path} is larger than ${configFileBytesMax} bytes`);
    text = bytes.toString('utf8');
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    throw new ConfigError(`cannot read config file ${path}: ${(err as Error).message}`);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new ConfigError(`config file ${path} is not JSON: ${(err as Error).message}`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new ConfigError(`config file ${path} must hold a JSON object of Kafka config names`);
  const settings: Record<string, string | number | boolean> = {};
  for (const [name, item] of Object.entries(value)) {
    if (typeof item !== 'string' && typeof item !== 'number' && typeof item !== 'boolean') throw new ConfigError(`config "${name}" in ${path}: value must be a string, number or boolean`);
    settings[name] = item;
  }
  return settings;
}

/** `--set key=value` items as settings; throws ConfigError on an item without '='. */
export function settingsFromItems(items: readonly string[]): Record<string, string> {
  const settings: Record<string, string> = {};
  for (const item of items) {
    const at = item.indexOf('=');
    if (at <= 0) throw new ConfigError(`--set ${item} is not key=value`);
    settings[item.slice(0, at)] = item.slice(at + 1);
  }
  return settings;
}

/** The broker's config from every source; throws ConfigError naming the bad key or value. */
export function brokerConfigFromSources(sources: BrokerSources): BrokerConfig {
  if (!Number.isSafeInteger(sources.brokerId) || sources.brokerId < 0) throw new ConfigError(`node id ${sources.brokerId} is not a broker id`);
  let config = makeBrokerConfig({
    brokerId: sources.brokerId,
    listenHost: sources.listenHost,
    listenPort: sources.listenPort,
    dataDir: sources.dataDir,
    controllerQuorumVoters: parseQuorumVoters(sources.controllerQuorum),
  });
  if (sources.advertise !== undefined) {
    const { host, port } = parseHostPort(sources.advertise, '--advertise');
    config = { ...config, advertiseUrl: `ws://${host.includes(':') ? `[${host}]` : host}:${port}` };
  }
  if (sources.rack !== undefined) config = { ...config, rack: sources.rack.length > 0 ? sources.rack : null };
  if (sources.configFile !== undefined) config = applyKafkaSettings(config, settingsFromFile(sources.configFile));
  if (sources.environment !== undefined) config = applyKafkaSettings(config, settingsFromEnvironment(sources.environment));
  if (sources.settings !== undefined) config = applyKafkaSettings(config, settingsFromItems(sources.settings));
  return config;
}

export type RunningBroker = {
  readonly broker: BrokerNode;
  /** Resolves with the exit code the process should end with, after a graceful stop or a give-up. */
  readonly exited: Promise<number>;
};

/**
 * Starts the broker node and its data plane, prints the ready line, and stops
 * on SIGTERM/SIGINT. `exit` ends the process (default process.exit); tests of
 * this module may pass their own.
 */
/** The console's client dials this broker's own listener: a wildcard listen address means this machine. */
function consoleDialUrl(url: string): string {
  const parsed = new URL(url);
  if (parsed.hostname === '0.0.0.0' || parsed.hostname === '[::]' || parsed.hostname === '') parsed.hostname = '127.0.0.1';
  return parsed.toString().replace(/\/$/, '');
}

export async function runBroker(config: BrokerConfig, options: { exit?: (code: number) => void } = {}): Promise<RunningBroker> {
  const exit = options.exit ?? ((code: number) => process.exit(code));
  const logger = createLogger({ node: String(config.brokerId) }, process.env.LOG_LEVEL ?? 'info', 2);
  let resolveExited: (code: number) => void = () => {};
  const exited = new Promise<number>((resolve) => {
    resolveExited = resolve;
  });
  const finish = (code: number): void => {
    resolveExited(code);
    exit(code);
  };
  let dataPlane: DataPlane | undefined;
  let started: BrokerNode | undefined;
  const faultInjection = process.env[faultInjectionVariable] === '1';
  let closeConsole: () => Promise<void> = async () => {};
  const broker: BrokerNode = await startBrokerNode(config, {
    logger,
    ...(faultInjection ? { faults: new FaultPlan(config.brokerId) } : {}),
    extraActors: (node, controllerClient, security, metrics) => {
      dataPlane = startDataPlane(node, config, controllerClient, undefined, { security, metrics });
      if (faultInjection) spawnFaultControl(node);
    },
    // The web console on the HTTP listener (console/server): its API reaches the cluster as a client of this broker.
    httpHandlers: ({ node, metrics }) => {
      const served = consoleHandlers({
        url: consoleDialUrl(node.url ?? `ws://127.0.0.1:${config.listenPort}`),
        ...(config.sslTruststoreLocation === null ? {} : { ca: readPemTruststore(config.sslTruststoreLocation) }),
        ...(config.nativeClientAuthentication === 'sasl' ? { saslMechanism: config.saslEnabledMechanisms.includes('SCRAM-SHA-256') ? 'SCRAM-SHA-256' : config.saslEnabledMechanisms[0]! } : {}),
        latency: metrics.enabled ? { get: () => metrics.registry.getSingleMetric(`${metricsPrefix}request_duration_seconds`)!.get(), produceLabels: { request: 'Produce', origin: 'client' } } : null,
        log: node.log.child({ component: 'console' }),
      });
      closeConsole = served.close;
      return served.handlers;
    },
    onGiveUp: (path) => {
      logger.fatal({ path }, 'broker_main.actor_gave_up');
      process.exitCode = 1;
      // `started`, not `broker`: an actor may give up while startBrokerNode is still running.
      void (started?.stop() ?? Promise.resolve()).finally(() => finish(1));
    },
  });
  started = broker;

  let stopping = false;
  const stop = (signal: NodeJS.Signals): void => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'broker_main.stopping');
    // Stop the actors first (no more appends), then close the logs cleanly (flush, clean-shutdown marker).
    void broker
      .stop()
      .then(() => closeConsole())
      .then(() => dataPlane?.close())
      .catch((err: unknown) => logger.error({ err }, 'broker_main.stop_failed'))
      .finally(() => finish(0));
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);

  process.stdout.write(`${JSON.stringify({ event: 'ready', brokerId: config.brokerId, url: broker.node.url ?? null, incarnation: broker.node.incarnation, ...(broker.http === null ? {} : { http: broker.http.url }), ...(faultInjection ? { faultInjection } : {}) })}\n`);
  return { broker, exited };
}
