/**
 * A broker process: `tsx actors/broker-main.ts --node-id N --listen HOST:PORT
 *   --controller-quorum 1@h:p,2@h:p,3@h:p --data DIR [--set key=value ...]`
 *
 * Starts one broker node (runBroker in actors/broker/start.ts, which
 * `kactus broker` calls too), prints one JSON line
 * `{"event":"ready","brokerId":N,"url":...}` on stdout once it listens (stdout
 * is a control channel for whoever started us: tests, scripts), logs JSON to
 * stderr, and stops gracefully on SIGTERM/SIGINT (exit 0). A top-level actor
 * that gives up after its restarts ends the process with exit code 1, so the
 * process supervisor (systemd, a test) sees the failure instead of a zombie
 * broker. Bad arguments or config: a message on stderr and exit code 2.
 *
 * `--set` takes Kafka's config names (broker.session.timeout.ms=3000); the
 * mapping lives in actors/broker/config.ts.
 */
import { parseArgs } from 'node:util';
import { ConfigError, type BrokerConfig } from './broker/config.ts';
import { brokerConfigFromSources, parseHostPort, runBroker } from './broker/start.ts';

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
  const { host, port } = parseHostPort(listen, '--listen');
  return brokerConfigFromSources({ brokerId, listenHost: host, listenPort: port, dataDir, controllerQuorum: quorum, settings: values.set ?? [] });
}

let config: BrokerConfig;
try {
  config = parseConfig(process.argv.slice(2));
} catch (err) {
  if (err instanceof ConfigError || (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) usage((err as Error).message);
  throw err;
}

await runBroker(config);
