/**
 * The kcat tier, compression: kcat (librdkafka) and Kactus exchange
 * compressed batches through the Kafka listener of a real 3-broker cluster.
 * Goal: every codec crosses in both directions. Method:
 *   1. kcat -z CODEC produces keyed records with a header; the batches that
 *      reach the log are read raw (their codec) and a Kactus group consumer
 *      reads every record as kcat sent it. librdkafka before 2.11 compresses
 *      gzip, snappy and lz4 only for brokers that serve Produce v0, which
 *      Kactus (like Kafka 4.0) does not, so with Debian's kcat (librdkafka
 *      2.0.2) only zstd arrives compressed and the others arrive as none:
 *      the test requires the codec asked for from 2.11 on and for zstd always.
 *   2. The Kactus producer writes each codec (snappy in xerial framing, lz4
 *      frames, zstd frames with their size); kcat -C reads every record back,
 *      keys, values and headers as sent: librdkafka's decoders accept ours.
 * Fails, never skips, when kcat is missing.
 */
import { firstValueFrom, take, toArray } from 'rxjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Kactus } from '../../client/index.ts';
import { compressionNames } from '../../protocol/record-batch/index.ts';
import { readPartition } from '../client-read.ts';
import { kafkaBootstrap, startTestCluster, type TestCluster } from '../support/cluster.ts';
import { killAllChildren } from '../support/processes.ts';
import { killKcats, requireKcat, runKcat } from '../support/kcat.ts';

const kcatTimeoutMs = 60_000;
const codecs = ['gzip', 'snappy', 'lz4', 'zstd'] as const;
let cluster: TestCluster;
let kactus: Kactus;
let bootstrap = '';
/** librdkafka's version, as [major, minor] (from kcat -V). */
let librdkafka: [number, number] = [0, 0];

async function kcat(args: string[], input = ''): Promise<string> {
  const run = await runKcat(bootstrap, args, { input, timeoutMs: kcatTimeoutMs });
  if (run.code !== 0) throw new Error(`kcat ${args.join(' ')} exited ${run.code}; stderr: ${run.stderr.slice(-2_000)}`);
  return run.stdout;
}

const records = (codec: string): { key: string; value: string }[] =>
  Array.from({ length: 40 }, (_, i) => ({ key: `${codec}-key-${i % 6}`, value: `${codec} record ${i}: ${'the leader appends the bytes it was sent '.repeat(1 + (i % 3))}` }));

beforeAll(async () => {
  requireKcat();
  const version = /librdkafka (\d+)\.(\d+)/.exec((await runKcat('127.0.0.1:1', ['-V'], { timeoutMs: 10_000 })).stdout);
  if (version === null) throw new Error('kcat -V names no librdkafka version');
  librdkafka = [Number(version[1]), Number(version[2])];
  cluster = await startTestCluster(3, ['listeners=PLAINTEXT://127.0.0.1:0', 'offsets.topic.num.partitions=3', 'group.initial.rebalance.delay.ms=0']);
  bootstrap = (await kafkaBootstrap(cluster)).join(',');
  kactus = new Kactus({ brokers: [cluster.brokers[0]!.url], clientId: 'kcat-codecs', requestTimeoutMs: 10_000 });
  const topics = codecs.flatMap((codec) => [`from-kcat-${codec}`, `to-kcat-${codec}`]);
  await kactus.admin().createTopics({ topics: topics.map((topic) => ({ topic, numPartitions: 1, replicationFactor: 3 })) });
  for (const topic of topics) await cluster.waitForLeaders(topic, 1, 3);
});

afterAll(async () => {
  killKcats();
  await kactus?.close().catch(() => undefined);
  await killAllChildren();
  await cluster?.cleanup();
});

describe('compressed batches between kcat and Kactus', () => {
  for (const codec of codecs) {
    it(`kcat -z ${codec} produces; the log holds what librdkafka sent and a Kactus group consumer reads every record`, async () => {
      const topic = `from-kcat-${codec}`;
      const sent = records(codec);
      await kcat(['-P', '-t', topic, '-K', '\t', '-z', codec, '-H', 'origin=kcat', '-X', 'linger.ms=200', '-X', 'acks=all'], sent.map((r) => `${r.key}\t${r.value}\n`).join(''));
      const stored = await readPartition(kactus, topic, 0);
      const storedCodecs = new Set(stored.map((r) => compressionNames[r.compression]));
      const compressesAll = librdkafka[0] > 2 || (librdkafka[0] === 2 && librdkafka[1] >= 11);
      expect([...storedCodecs]).toEqual([codec === 'zstd' || compressesAll ? codec : 'none']);
      const consumer = kactus.consumer({ groupId: `kcat-codecs-${codec}`, autoOffsetReset: 'earliest', fetchMaxWaitMs: 100 }).subscribe(topic);
      const read = await firstValueFrom(consumer.messages$.pipe(take(sent.length), toArray()));
      await consumer.close();
      expect(read.map((r) => ({ key: r.key!.toString(), value: r.value!.toString() }))).toEqual(sent);
      expect(read.every((r) => r.headers.length === 1 && r.headers[0]!.key === 'origin' && r.headers[0]!.value!.toString() === 'kcat')).toBe(true);
    });

    it(`the Kactus producer writes ${codec}; kcat -C reads every record, key, value and header`, async () => {
      const topic = `to-kcat-${codec}`;
      const sent = records(codec);
      const producer = kactus.producer({ compression: codec, lingerMs: 5 });
      await producer.send({ topic, messages: sent.map((r, i) => ({ ...r, headers: { origin: 'kactus', n: String(i) } })) });
      await producer.close();
      expect(new Set((await readPartition(kactus, topic, 0)).map((r) => compressionNames[r.compression]))).toEqual(new Set([codec]));
      const out = await kcat(['-C', '-t', topic, '-o', 'beginning', '-e', '-q', '-f', '%k\\t%s\\t%h\\n']);
      const lines = out.split('\n').filter((l) => l.length > 0).map((l) => l.split('\t'));
      expect(lines.map(([key, value]) => ({ key, value }))).toEqual(sent);
      expect(lines.map((l) => l[2])).toEqual(sent.map((_, i) => `origin=kactus,n=${i}`));
    });
  }
});
