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
import { UsageError, printLine } from '../output.ts';
import { parseFlags } from '../common.ts';

export const brokerHelp = `Usage: kactus broker --node-id N --listen HOST:PORT --controller-quorum 1@h1:p1,2@h2:p2,3@h3:p3 --data DIR
                     [--advertise HOST:PORT] [--config FILE] [--rack R] [--controller] [--set key=value ...]

Runs one broker node (a controller voter too when its id is in --controller-quorum).
  --controller            process.roles=broker,controller: run a controller although this id is
                          not in --controller-quorum; it observes the quorum until
                          \`kactus cluster add-voter N\` makes it a voter
  --node-id N             node.id
  --listen HOST:PORT      where this node listens
  --advertise HOST:PORT   what other nodes and clients dial (default: --listen)
  --kafka-listen HOST:PORT        listeners=PLAINTEXT://HOST:PORT: also speak Kafka's protocol here
  --kafka-advertise HOST:PORT     advertised.listeners=PLAINTEXT://HOST:PORT: what Kafka clients dial
  --controller-quorum     controller.quorum.voters: id@host:port, comma-separated
  --data DIR              log.dirs: partitions and the metadata log
  --rack R                broker.rack
  --config FILE           JSON object of Kafka config names, e.g. {"min.insync.replicas": 2}
  --set key=value         one Kafka config (repeatable); beats the file and the environment
Environment: ${environmentPrefix}<NAME> sets a config, dots as underscores (${environmentPrefix}MIN_INSYNC_REPLICAS=2).
Prints {"event":"ready",...} on stdout once listening; Ctrl-C stops it gracefully.
Configs: ${kafkaConfigNames().join(', ')}`;

export async function broker(argv: string[]): Promise<number> {
  const { values: flags } = parseFlags('broker', argv, {
    'node-id': { type: 'string' },
    listen: { type: 'string' },
    advertise: { type: 'string' },
    'kafka-listen': { type: 'string' },
    'kafka-advertise': { type: 'string' },
    'controller-quorum': { type: 'string' },
    data: { type: 'string' },
    config: { type: 'string' },
    rack: { type: 'string' },
    controller: { type: 'boolean', default: false },
    set: { type: 'string', multiple: true, default: [] },
    help: { type: 'boolean', default: false },
  });
  const values = flags as { [name in 'node-id' | 'listen' | 'advertise' | 'kafka-listen' | 'kafka-advertise' | 'controller-quorum' | 'data' | 'config' | 'rack']?: string } & { set: string[]; help: boolean; controller: boolean };
  if (values.help) {
    printLine(brokerHelp);
    return 0;
  }
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
