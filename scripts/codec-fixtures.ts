/**
 * `npx tsx scripts/codec-fixtures.ts`: writes the golden compressed batches
 * of protocol/record-batch/fixtures/ (read by codec-fixtures.test.ts).
 *
 * Each fixture is the bytes another Kafka client produced, as a Kactus
 * leader stored them: a 1-broker cluster with the Kafka listener, one topic
 * of one partition per (client, codec), the records of fixtures/records.json
 * sent in one batch, then the partition fetched raw through the native
 * client. Kactus keeps a producer's batch as it came (it only writes the
 * base offset and leader epoch, outside the CRC), so what is saved is the
 * client's own encoding.
 *
 * Clients, each skipped (and said so) when it is not installed:
 *   kcat          librdkafka: zstd only. librdkafka before 2.11 compresses
 *                 gzip, snappy and lz4 only for a broker that serves Produce
 *                 v0 (its feature check asks for the range [0, 0]), which
 *                 Kactus, like Kafka 4.0, does not: Debian's kcat 1.7.1
 *                 (librdkafka 2.0.2) sends those uncompressed. zstd asks
 *                 for [0, 7] and is compressed. (apt-get install -y kcat)
 *   kafkajs       KafkaJS (a devDependency): gzip (its own), and with its
 *                 codec plugins kafkajs-snappy (snappyjs, raw snappy) and
 *                 kafkajs-lz4 (node-lz4), found through FIXTURES_NODE_PATH
 *                 (a node_modules directory where they are installed; they
 *                 are not dependencies of ours)
 *   kafka-python  gzip, snappy in xerial framing (its default, as the Java
 *                 client's), lz4 (the lz4 frame library), zstd; run by
 *                 FIXTURES_PYTHON (a python with kafka-python and its codec
 *                 modules: Debian's python3-kafka, python3-snappy,
 *                 python3-lz4, python3-zstandard)
 * A client that sent its batch with another codec than asked (as above) is
 * reported and not saved. Output: fixtures/<client>-<codec>.hex, the
 * partition's bytes in hex, 96 characters a line.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Kactus } from '../client/index.ts';
import type { Fetch, FetchReply } from '../protocol/apis/data.ts';
import { compressionNames, decodeBatches } from '../protocol/record-batch/index.ts';
import { kafkaBootstrap, startTestCluster } from '../test/support/cluster.ts';
import { killAllChildren, repoRoot } from '../test/support/processes.ts';

const fixturesDir = join(repoRoot, 'protocol', 'record-batch', 'fixtures');
const records = JSON.parse(readFileSync(join(fixturesDir, 'records.json'), 'utf8')) as { key: string; value: string }[];
const commandTimeoutMs = 60_000;

type Producer = { client: string; codec: string; run(bootstrap: string, topic: string): { ok: boolean; output: string } };

function run(command: string, args: string[], input: string, env: Record<string, string> = {}): { ok: boolean; output: string } {
  const result = spawnSync(command, args, { input, encoding: 'utf8', timeout: commandTimeoutMs, env: { ...process.env, ...env } });
  return { ok: result.status === 0, output: `${result.error?.message ?? ''}${result.stderr ?? ''}`.slice(-2_000) };
}

const kafkajsProgram = (codec: string): string => `
const { Kafka, CompressionTypes, CompressionCodecs, logLevel } = require('kafkajs');
CompressionCodecs[CompressionTypes.Snappy] = require('kafkajs-snappy');
CompressionCodecs[CompressionTypes.LZ4] = new (require('kafkajs-lz4'))().codec;
const [bootstrap, topic] = process.argv.slice(1);
const records = JSON.parse(require('fs').readFileSync(0, 'utf8'));
const kafka = new Kafka({ brokers: bootstrap.split(','), clientId: 'codec-fixtures', logLevel: logLevel.ERROR });
(async () => {
  const producer = kafka.producer();
  await producer.connect();
  await producer.send({ topic, acks: -1, compression: CompressionTypes.${codec}, messages: records.map((r) => ({ key: r.key, value: r.value, headers: { fixture: 'kafkajs' } })) });
  await producer.disconnect();
})().catch((err) => { console.error(err); process.exit(1); });
`;

const kafkaPythonProgram = (codec: string): string => `
import json, sys
from kafka import KafkaProducer
bootstrap, topic = sys.argv[1], sys.argv[2]
records = json.load(sys.stdin)
producer = KafkaProducer(bootstrap_servers=bootstrap.split(','), compression_type='${codec}', linger_ms=500, acks='all', batch_size=1 << 20)
for r in records:
    producer.send(topic, key=r['key'].encode(), value=r['value'].encode(), headers=[('fixture', b'kafka-python')])
producer.flush()
producer.close()
`;

const producers: Producer[] = [
  ...['zstd'].map((codec): Producer => ({
    client: 'kcat',
    codec,
    run: (bootstrap, topic) =>
      run('kcat', ['-b', bootstrap, '-P', '-t', topic, '-p', '0', '-K', '\t', '-z', codec, '-H', 'fixture=kcat', '-X', 'linger.ms=500', '-X', 'acks=all'], records.map((r) => `${r.key}\t${r.value}\n`).join('')),
  })),
  ...[['gzip', 'GZIP'], ['snappy', 'Snappy'], ['lz4', 'LZ4']].map(([codec, name]): Producer => ({
    client: 'kafkajs',
    codec: codec!,
    run: (bootstrap, topic) => {
      const nodePath = process.env.FIXTURES_NODE_PATH;
      if (nodePath === undefined) return { ok: false, output: 'FIXTURES_NODE_PATH is not set' };
      return run(process.execPath, ['-e', kafkajsProgram(name!), bootstrap, topic], JSON.stringify(records), { NODE_PATH: `${join(repoRoot, 'node_modules')}:${nodePath}` });
    },
  })),
  ...['gzip', 'snappy', 'lz4', 'zstd'].map((codec): Producer => ({
    client: 'kafka-python',
    codec,
    run: (bootstrap, topic) => {
      const python = process.env.FIXTURES_PYTHON;
      if (python === undefined) return { ok: false, output: 'FIXTURES_PYTHON is not set' };
      return run(python, ['-c', kafkaPythonProgram(codec), bootstrap, topic], JSON.stringify(records));
    },
  })),
];

/** Every byte of `topic`-0 from offset 0, as the leader stores it. */
async function fetchRaw(kactus: Kactus, topic: string): Promise<Buffer> {
  const { connection, metadata } = await kactus.context();
  await metadata.refresh([topic]);
  const { leader } = await metadata.leaderFor(topic, 0);
  const reply = await connection.ask<Fetch, FetchReply>(leader, '/fetch', (replyTo) => ({
    type: 'Fetch', replicaId: -1, maxWaitMs: 0, minBytes: 1, maxBytes: 1 << 20, isolationLevel: 0,
    partitions: [{ topic, partition: 0, fetchOffset: 0, partitionMaxBytes: 1 << 20, currentLeaderEpoch: -1, lastFetchedEpoch: -1 }], replyTo,
  }), 10_000);
  const p = reply.partitions[0]!;
  if (p.errorCode !== 0) throw new Error(`fetch ${topic}: error ${p.errorCode}`);
  return Buffer.from(p.records ?? new Uint8Array());
}

const cluster = await startTestCluster(1, ['listeners=PLAINTEXT://127.0.0.1:0']);
const kactus = new Kactus({ brokers: [cluster.brokers[0]!.url], clientId: 'codec-fixtures', requestTimeoutMs: 10_000 });
try {
  const bootstrap = (await kafkaBootstrap(cluster)).join(',');
  for (const producer of producers) {
    const topic = `fixture-${producer.client}-${producer.codec}`;
    await kactus.admin().createTopics({ topics: [{ topic, numPartitions: 1, replicationFactor: 1 }] });
    await cluster.waitForLeaders(topic, 1, 1);
    const result = producer.run(bootstrap, topic);
    if (!result.ok) {
      process.stderr.write(`skipped ${producer.client} ${producer.codec}: ${result.output.trim()}\n`);
      continue;
    }
    const bytes = await fetchRaw(kactus, topic);
    const decoded = decodeBatches(bytes);
    if (!decoded.ok) throw new Error(`${topic}: the stored batches do not decode: ${decoded.message}`);
    const codecs = [...new Set(decoded.value.map((b) => compressionNames[b.header.compression]))];
    if (codecs.length !== 1 || codecs[0] !== producer.codec) {
      process.stderr.write(`not saved: ${producer.client} was asked for ${producer.codec} and sent ${codecs.join(', ')}\n`);
      continue;
    }
    const hex = bytes.toString('hex').replace(/(.{96})/g, '$1\n').trim();
    const file = join(fixturesDir, `${producer.client}-${producer.codec}.hex`);
    writeFileSync(file, `${hex}\n`);
    process.stdout.write(`${file}: ${bytes.length} bytes\n`);
  }
} finally {
  await kactus.close().catch(() => undefined);
  await killAllChildren();
  await cluster.cleanup();
}
