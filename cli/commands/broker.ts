/**
 * `kactus broker`: one broker node in this process, for clusters across
 * machines (each machine runs one, with the same --controller-quorum).
 *
 * Configuration, later sources winning: defaults (actors/broker/config.ts),
 * --config FILE (a JSON object of Kafka names), KACTUS_* environment variables
 * (KACTUS_MIN_INSYNC_REPLICAS=2 is min.insync.replicas), then --set key=value.
 * Unknown keys and bad values are refused (exit 2) with a message naming them.
 *
 * It runs the same start-up as actors/broker-main.ts (actors/broker/start.ts):
 * the ready JSON line on stdout, logs on stderr (LOG_LEVEL, default info),
 * graceful stop on SIGTERM/SIGINT (exit 0), exit 1 if an actor gives up.
 */
import { kafkaConfigNames } from '../../actors/broker/config.ts';
import { brokerConfigFromSources, environmentPrefix, parseHostPort, runBroker } from '../../actors/broker/start.ts';
import { UsageError } from '../output.ts';
import type { CommandSpec, Parsed } from '../parser.ts';

export const brokerSpec: CommandSpec = {
  name: 'broker',
  description: 'Runs one broker node (a controller voter too when its id is in --controller-quorum).',
  options: {
    'node-id': { type: 'string', value: 'N', required: true, help: 'node.id' },
    listen: { type: 'string', value: 'HOST:PORT', required: true, help: 'where this node listens' },
    advertise: { type: 'string', value: 'HOST:PORT', help: 'what other nodes and clients dial (default: --listen)' },
    'kafka-listen': { type: 'string', value: 'HOST:PORT', help: 'listeners=PLAINTEXT://HOST:PORT: also speak Kafka\'s protocol here' },
    'kafka-advertise': { type: 'string', value: 'HOST:PORT', help: 'advertised.listeners=PLAINTEXT://HOST:PORT: what Kafka clients dial' },
    'http-listen': { type: 'string', value: 'HOST:PORT', help: 'http.listener=HOST:PORT: serve /metrics, /health, /ready and the console here (default: none)' },
    'controller-quorum': { type: 'string', value: 'ID@HOST:PORT,...', required: true, help: 'controller.quorum.voters: id@host:port, comma-separated' },
    data: { type: 'string', value: 'DIR', required: true, help: 'log.dirs: partitions and the metadata log' },
    config: { type: 'string', value: 'FILE', help: 'JSON object of Kafka config names, e.g. {"min.insync.replicas": 2}' },
    rack: { type: 'string', value: 'R', help: 'broker.rack' },
    controller: { type: 'boolean', default: false, help: 'process.roles=broker,controller: run a controller although this id is not in --controller-quorum; it observes the quorum until `kactus cluster add-voter N` makes it a voter' },
    set: { type: 'string', value: 'key=value', multiple: true, default: [], help: 'one Kafka config; beats the file and the environment' },
  },
  notes: `Environment: ${environmentPrefix}<NAME> sets a config, dots as underscores (${environmentPrefix}MIN_INSYNC_REPLICAS=2).
Prints {"event":"ready",...} on stdout once listening; Ctrl-C stops it gracefully.
Configs: ${kafkaConfigNames().join(', ')}`,
  run: broker,
};

async function broker(parsed: Parsed): Promise<number> {
  const values = parsed.values as { [name in 'node-id' | 'listen' | 'advertise' | 'kafka-listen' | 'kafka-advertise' | 'http-listen' | 'controller-quorum' | 'data' | 'config' | 'rack']?: string } & { set: string[]; controller: boolean };
  const required = (name: 'node-id' | 'listen' | 'controller-quorum' | 'data'): string => {
    const value = values[name];
    if (value === undefined || value.length === 0) throw new UsageError(`broker: --${name} is required; see kactus broker --help`);
    return value;
  };
  const nodeIdText = required('node-id');
  const brokerId = Number(nodeIdText);
  if (!/^\d+$/.test(nodeIdText) || !Number.isSafeInteger(brokerId)) throw new UsageError(`broker: --node-id "${nodeIdText}" is not a broker id (a non-negative integer)`);
  const { host, port } = parseHostPort(required('listen'), '--listen');
  const config = brokerConfigFromSources({
    brokerId,
    listenHost: host,
    listenPort: port,
    dataDir: required('data'),
    controllerQuorum: required('controller-quorum'),
    advertise: values.advertise,
    rack: values.rack,
    configFile: values.config,
    environment: process.env,
    // --controller is process.roles=broker,controller; a --set process.roles given too comes later and wins.
    settings: [
      ...(values.controller ? ['process.roles=broker,controller'] : []),
      ...kafkaListenerSettings(values['kafka-listen'], values['kafka-advertise']),
      ...(values['http-listen'] === undefined ? [] : [`http.listener=${values['http-listen']}`]),
      ...(values.set ?? []),
    ],
  });
  const running = await runBroker(config);
  return running.exited;
}

/** --kafka-listen / --kafka-advertise as the Kafka settings they stand for (a --set of the same name comes later and wins). */
function kafkaListenerSettings(listen: string | undefined, advertise: string | undefined): string[] {
  if (listen === undefined) {
    if (advertise !== undefined) throw new UsageError('broker: --kafka-advertise needs --kafka-listen');
    return [];
  }
  const at = parseHostPort(listen, '--kafka-listen');
  const settings = [`listeners=PLAINTEXT://${at.host}:${at.port}`];
  if (advertise !== undefined) {
    const to = parseHostPort(advertise, '--kafka-advertise');
    settings.push(`advertised.listeners=PLAINTEXT://${to.host}:${to.port}`);
  }
  return settings;
}
