/**
 * KafkaJS 2.2.4 (a devDependency), unmodified, against 3 broker processes'
 * Kafka listeners: the KafkaJS scenario of issue #18, point 4. KafkaJS stays
 * on old, non-flexible versions (its newest: ApiVersions v2, Metadata v6,
 * CreateTopics v3, Produce v7, Fetch v11, ListOffsets v3, FindCoordinator v2,
 * JoinGroup v5, SyncGroup v3, Heartbeat v3, LeaveGroup v3, OffsetCommit v5,
 * OffsetFetch v4, InitProducerId v1, AddPartitionsToTxn v1, AddOffsetsToTxn
 * v1, TxnOffsetCommit v1, EndTxn v1), the other end of the range from
 * @platformatic/kafka. Goal: what a KafkaJS application relies on holds
 * through a broker crash. Method, on one cluster:
 *   1. KafkaJS admin creates a 6-partition RF 3 topic; fetchTopicMetadata
 *      shows 6 partitions with 3 replicas each.
 *   2. An idempotent producer (acks -1, maxInFlightRequests 1) sends 20,000
 *      keyed records in sends of 500 (send and sendBatch alternating); while a
 *      send is in flight the leader of partition 0 is SIGKILLed, and restarted
 *      ten sends later; the cluster is waited back to ISR 3. A record is
 *      acknowledged when its partition is in the result of a send that
 *      resolved: KafkaJS can resolve a send without the dead leader's
 *      partitions (tulios/kafkajs#1303), and those records are sent again, as
 *      an application has to (safe only because the producer is idempotent).
 *      The longest time a send took (with its resend) is the stall.
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
import { startTestCluster, type TestCluster, kafkaBootstrap } from '../support/cluster.ts';
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
const bootstrap = (): Promise<string[]> => kafkaBootstrap(cluster);

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
  it('admin creates a 6-partition RF 3 topic; an idempotent producer survives the SIGKILL of a leader; a group of two reads every acked record, commits, and a new group resumes at the commits', async () => {
    const kafka = await kafkaClient('kjs-main');
    const admin = kafka.admin();
    await admin.connect();
    let producer: Producer | undefined;
    // The values of the records acknowledged (their partition in a resolved send's result).
    const acked = new Set<string>();
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
      let killedSendResolvedMs = 0;
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
          if (s === killAt && attempt === 0) killedSendResolvedMs = Date.now();
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
        `kafkajs produce: ${acked.size}/${recordsTotal} acked in ${producedMs} ms; broker ${victim} SIGKILLed during send ${killAt}, which resolved ${killedSendResolvedMs - killedAtMs} ms later; slowest send (with its resend) ${slowestSendMs} ms; ` +
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
      // Every key, so every partition, got new records: each partition's first delivery is at its commit.
      for (const [p, offset] of commits) {
        const first = resumed.find((d) => d.partition === p);
        expect(first?.offset, `partition ${p}`).toBe(offset);
      }
    } finally {
      await producer?.disconnect().catch(() => undefined);
      await admin.disconnect().catch(() => undefined);
    }
  });

  it('consume-transform-produce: each input batch becomes output records plus sendOffsets in one transaction; one aborted; read_committed sees exactly the committed transactions and the group commits match them', async () => {
    const input = 'kjs-ctp-in';
    const output = 'kjs-ctp-out';
    const ctpGroup = 'kjs-ctp-group';
    const txnPartitions = 3;
    const inputRecords = 300;
    const kafka = await kafkaClient('kjs-ctp');
    const admin = kafka.admin();
    await admin.connect();
    const closers: (() => Promise<void>)[] = [() => admin.disconnect()];
    try {
      expect(await admin.createTopics({ topics: [input, output].map((t) => ({ topic: t, numPartitions: txnPartitions, replicationFactor: 3 })), waitForLeaders: true })).toBe(true);
      await cluster.waitForLeaders(input, txnPartitions, 3);
      await cluster.waitForLeaders(output, txnPartitions, 3);

      // Input: 10 sends, so each partition holds 10 record batches and the consumer gets several batches per partition.
      const plain = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
      await plain.connect();
      closers.push(() => plain.disconnect());
      for (let s = 0; s < 10; s++) {
        const messages = Array.from({ length: inputRecords / 10 }, (_, j) => s * (inputRecords / 10) + j).map((i) => ({ partition: i % txnPartitions, key: `in-${i}`, value: `input-${i}` }));
        await plain.send({ topic: input, acks: -1, messages });
      }

      const producer = kafka.producer({ transactionalId: 'kjs-ctp-txn', idempotent: true, maxInFlightRequests: 1 });
      await producer.connect();
      closers.push(() => producer.disconnect());
      const consumer = kafka.consumer({ groupId: ctpGroup, sessionTimeout: 10_000, heartbeatInterval: 500, maxWaitTimeInMs: 500, maxBytesPerPartition: 1_024 });
      closers.push(() => consumer.disconnect());
      let crashed: unknown;
      consumer.on(consumer.events.CRASH, (event) => (crashed = event.payload.error));
      await consumer.connect();
      await consumer.subscribe({ topics: [input], fromBeginning: true });

      // What the committed transactions carried, and what the abort left in place.
      const committedValues: string[] = [];
      const committedOffsetByPartition = new Map<number, number>();
      let transactions = 0;
      let aborted: { partition: number; values: string[]; offsetsAfterAbort: [number, number][]; expected: [number, number][]; settledMs: number } | undefined;
      // One transaction at a time on the producer, whatever KafkaJS's batch concurrency.
      let chain = Promise.resolve();
      await consumer.run({
        autoCommit: false,
        eachBatchAutoResolve: false,
        eachBatch: async ({ batch, resolveOffset, heartbeat }) => {
          const run = chain.then(async () => {
            if (batch.messages.length === 0) return;
            const last = batch.messages[batch.messages.length - 1]!;
            const next = Number(last.offset) + 1;
            const transformed = batch.messages.map((m) => ({ partition: batch.partition, key: m.key, value: `T(${m.value!.toString()})` }));
            const offsets = { consumerGroupId: ctpGroup, topics: [{ topic: input, partitions: [{ partition: batch.partition, offset: String(next) }] }] };
            transactions += 1;
            if (transactions === 2) {
              // The aborted one: its records are written (read_uncommitted sees them) and its offsets are not kept.
              const txn = await producer.transaction();
              const values = transformed.map((m) => `ABORTED-${m.value}`);
              await txn.send({ topic: output, acks: -1, messages: transformed.map((m, i) => ({ ...m, value: values[i]! })) });
              await txn.sendOffsets(offsets);
              await txn.abort();
              const expected = Array.from({ length: txnPartitions }, (_, p): [number, number] => [p, committedOffsetByPartition.get(p) ?? -1]);
              // Kafka applies a committed transaction's offsets when the coordinator's marker reaches
              // __consumer_offsets, after EndTxn answered; an OffsetFetch without requireStable (KafkaJS's) sees the
              // previous offsets until then. So poll (bounded) for the earlier commits: the aborted offsets must never show.
              const startedMs = Date.now();
              let offsetsAfterAbort = await committed(admin, ctpGroup, input);
              for (let round = 0; round < 50 && JSON.stringify(offsetsAfterAbort) !== JSON.stringify(expected); round++) {
                await new Promise((r) => setTimeout(r, 100));
                offsetsAfterAbort = await committed(admin, ctpGroup, input);
              }
              aborted = { partition: batch.partition, values, offsetsAfterAbort, expected, settledMs: Date.now() - startedMs };
            }
            // Retried as a new transaction, as an application does after an abort.
            const txn = await producer.transaction();
            await txn.send({ topic: output, acks: -1, messages: transformed });
            await txn.sendOffsets(offsets);
            await txn.commit();
            for (const m of transformed) committedValues.push(m.value);
            committedOffsetByPartition.set(batch.partition, next);
            resolveOffset(last.offset);
            await heartbeat();
          });
          chain = run.catch(() => undefined);
          await run;
        },
      });
      await until(() => crashed !== undefined || committedValues.length >= inputRecords, consumeTimeoutMs, `every input record transformed in a committed transaction (${committedValues.length} so far)`);
      expect(crashed).toBeUndefined();
      await consumer.disconnect();
      expect(committedValues.length).toBe(inputRecords);
      expect(new Set(committedValues).size).toBe(inputRecords);
      expect(transactions).toBeGreaterThan(txnPartitions);
      expect(aborted).toBeDefined();
      // The abort discarded its sendOffsets: the group still had the earlier committed transactions' offsets.
      expect(aborted!.offsetsAfterAbort).toEqual(aborted!.expected);
      // The group's commits are the committed transactions': each partition's input end.
      expect(await committed(admin, ctpGroup, input)).toEqual(Array.from({ length: txnPartitions }, (_, p): [number, number] => [p, committedOffsetByPartition.get(p)!]));
      expect(await committed(admin, ctpGroup, input)).toEqual(await ends(admin, input));

      // The aborted records are in the log: the native read (read_uncommitted) finds them.
      const raw = (await readPartition(kactus, output, aborted!.partition)).map((r) => r.value);
      expect(aborted!.values.every((v) => raw.includes(v))).toBe(true);

      // read_committed (KafkaJS's default): exactly the committed transactions' records. The aborted records precede
      // their retry in the same partition, so once every committed record arrived, any visible aborted one would have too.
      const reader = kafka.consumer({ groupId: 'kjs-ctp-verify', maxWaitTimeInMs: 500 });
      closers.push(() => reader.disconnect());
      const readValues: string[] = [];
      await reader.connect();
      await reader.subscribe({ topics: [output], fromBeginning: true });
      await reader.run({ eachMessage: async ({ message }) => void readValues.push(message.value!.toString()) });
      await until(() => readValues.length >= inputRecords, consumeTimeoutMs, `read_committed consumer of ${output} (${readValues.length} so far)`);
      await reader.disconnect();
      expect(readValues.filter((v) => v.startsWith('ABORTED-'))).toEqual([]);
      expect([...readValues].sort()).toEqual([...committedValues].sort());
      console.log(`kafkajs ctp: ${transactions} committed transactions (${inputRecords} records), 1 aborted (${aborted!.values.length} records on partition ${aborted!.partition}, in the log, not read; the earlier commits visible after ${aborted!.settledMs} ms); group commits ${JSON.stringify(await committed(admin, ctpGroup, input))}`);
    } finally {
      for (const close of closers.reverse()) await close().catch(() => undefined);
    }
  });
});
