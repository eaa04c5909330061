/**
 * A broker process: `tsx actors/broker-main.ts --node-id N --listen HOST:PORT
 *   --controller-quorum 1@h:p,2@h:p,3@h:p --data DIR [--set key=value ...]`
 *
 * Starts one broker node (startBrokerNode), prints one JSON line
 * `{"event":"ready","brokerId":N,"url":...}` on stdout once it listens (stdout
 * is a control channel for whoever started us: tests, scripts), logs JSON to
 * stderr, and stops gracefully on SIGTERM/SIGINT (exit 0). A top-level actor
 * that gives up after its restarts ends the process with exit code 1, so the
 * process supervisor (systemd, a test) sees the failure instead of a zombie
 * broker. Bad arguments or config: a message on stderr and exit code 2.
 *
 * `--set` takes Kafka's config names (broker.session.timeout.ms=3000); the
 * mapping lives in actors/broker/config.ts. The `kactus broker` CLI will call
 * the same startBrokerNode.
 */
import { parseArgs } from 'node:util';
import { createLogger } from '../runtime/logger.ts';
import { applyKafkaSettings, makeBrokerConfig, parseQuorumVoters, ConfigError, type BrokerConfig } from './broker/config.ts';
import { startBrokerNode, type BrokerNode } from './broker-node.ts';
import { startDataPlane, type DataPlane } from './broker/data-plane.ts';

function usage(problem: string): never {
  process.stderr.write(
    `${problem}\nusage: broker-main.ts --node-id N --listen HOST:PORT --controller-quorum 1@h:p,2@h:p,3@h:p --data DIR [--set key=value ...]\n`,
  );
  process.exit(2);
}

function parseConfig(argv: string[]): BrokerConfig {
  const { values } = parseArgs({
    args: argv,
    options: {
      'node-id': { type: 'string' },
      listen: { type: 'string' },
      'controller-quorum': { type: 'string' },
      data: { type: 'string' },
      set: { type: 'string', multiple: true },
    },
    strict: true,
  });
  const nodeIdText = values['node-id'] ?? usage('--node-id is required');
  const listen = values.listen ?? usage('--listen is required');
  const quorum = values['controller-quorum'] ?? usage('--controller-quorum is required');
  const dataDir = values.data ?? usage('--data is required');
  const brokerId = Number(nodeIdText);
  if (!Number.isSafeInteger(brokerId) || brokerId < 0) usage(`--node-id ${nodeIdText} is not a broker id`);
  const match = /^(.+):(\d+)$/.exec(listen);
  if (match === null) usage(`--listen ${listen} is not HOST:PORT`);
  const settings: Record<string, string> = {};
  for (const item of values.set ?? []) {
    const at = item.indexOf('=');
    if (at <= 0) usage(`--set ${item} is not key=value`);
    settings[item.slice(0, at)] = item.slice(at + 1);
  }
  const base = makeBrokerConfig({
    brokerId,
    listenHost: match[1]!,
    listenPort: Number(match[2]),
    dataDir,
    controllerQuorumVoters: parseQuorumVoters(quorum),
  });
  return applyKafkaSettings(base, settings);
}

let config: BrokerConfig;
try {
  config = parseConfig(process.argv.slice(2));
} catch (err) {
  if (err instanceof ConfigError || (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) usage((err as Error).message);
  throw err;
}

const logger = createLogger({ node: String(config.brokerId) }, process.env.LOG_LEVEL ?? 'info', 2);
let dataPlane: DataPlane | undefined;
let started: BrokerNode | undefined;
const broker: BrokerNode = await startBrokerNode(config, {
  logger,
  extraActors: (node, controllerClient) => {
    dataPlane = startDataPlane(node, config, controllerClient);
  },
  onGiveUp: (path) => {
    logger.fatal({ path }, 'broker_main.actor_gave_up');
    process.exitCode = 1;
    // `started`, not `broker`: an actor may give up while startBrokerNode is still running.
    void (started?.stop() ?? Promise.resolve()).finally(() => process.exit(1));
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
    .then(() => dataPlane?.close())
    .catch((err: unknown) => logger.error({ err }, 'broker_main.stop_failed'))
    .finally(() => process.exit(0));
};
process.once('SIGTERM', stop);
process.once('SIGINT', stop);

process.stdout.write(`${JSON.stringify({ event: 'ready', brokerId: config.brokerId, url: broker.node.url ?? null, incarnation: broker.node.incarnation })}\n`);
