/**
 * @platformatic/kafka 1.35.0, pinned as a devDependency: the 2.x line needs
 * Node 22, and this machine and CI run Node 20.20 (npm warns EBADENGINE for
 * its helpers @platformatic/dynamic-buffer and wasm-utils, which declare
 * Node >= 22.19 but run on 20 for everything used here). It picks, per API,
 * the newest version both it and ApiVersions allow: ApiVersions v3, Metadata
 * v12, InitProducerId v5, Produce v11, FindCoordinator v6, JoinGroup v9,
 * SyncGroup v5, Heartbeat v4, OffsetFetch v9, ListOffsets v6, Fetch v17,
 * OffsetCommit v9, LeaveGroup v5 (all flexible). Here it runs unmodified
 * against 3 broker processes' Kafka
 * listeners. Goal: records cross between the two protocols unchanged, both
 * ways. Method, on a 3-partition RF 3 topic per direction:
 *   1. platformatic's Producer (acks all, idempotent) sends keyed records with
 *      headers to explicit partitions; its Consumer in a group
 *      receives every one; the native client reads the same partitions back:
 *      identical keys, values, headers and offsets, in the same order.
 *   2. the native producer sends keyed records with headers; a platformatic
 *      group consumer reads every one with identical keys, values, headers
 *      and offsets as the native read.
 * The consumers join with JoinGroup v9 (the MEMBER_ID_REQUIRED round), start
 * from OffsetFetch v9 (none yet: the earliest offset through ListOffsets),
 * heartbeat, commit the last record of each partition with OffsetCommit v9
 * and leave; the native coordinator then holds each partition's end, and a
 * new member of the group resumes there (OffsetFetch v9 answers the commits).
 * 3. platformatic's Admin creates a topic (CreateTopics v7); its transactional
 *    producer (InitProducerId, AddPartitionsToTxn v3, EndTxn v4) commits a
 *    transaction, aborts one and commits another; a read_committed group
 *    consumer sees only the committed records.
 * Every wait is bounded in time; every broker process is killed afterwards.
 */
import { Admin, Consumer, FetchIsolationLevels, MessagesStreamFallbackModes, MessagesStreamModes, ProduceAcks, Producer, stringDeserializers, stringSerializers, type Message, type MessagesStream } from '@platformatic/kafka';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Kactus } from '../../client/index.ts';
import { readPartition } from '../client-read.ts';
import { startTestCluster, type TestCluster, kafkaBootstrap } from '../support/cluster.ts';
import { killAllChildren, until } from '../support/processes.ts';

let cluster: TestCluster;
let kactus: Kactus;
let bootstrap: string[] = [];
const partitions = 3;
const perPartition = 40;
const consumeTimeoutMs = 60_000;

type Seen = { partition: number; offset: number; key: string | null; value: string | null; headers: Record<string, string | null> };

function byPosition(a: Seen, b: Seen): number {
  return a.partition - b.partition || a.offset - b.offset;
}

/** Every record of `topic` as the native client reads it from the leaders. */
async function readNatively(topic: string): Promise<Seen[]> {
  const all = await Promise.all(
    Array.from({ length: partitions }, async (_, p) => (await readPartition(kactus, topic, p)).map((r) => ({ partition: p, offset: r.offset, key: r.key, value: r.value, headers: r.headers }))),
  );
  return all.flat().sort(byPosition);
}

/**
 * Consumes `topic` with a platformatic group consumer (from the group's commits, else the earliest offset) until
 * `count` records arrived (bounded by consumeTimeoutMs), commits the last record of each partition, then leaves.
 */
async function consumeWithPlatformatic(topic: string, groupId: string, count: number): Promise<Seen[]> {
  const consumer = new Consumer({
    isolationLevel: FetchIsolationLevels.READ_COMMITTED,
    clientId: `plt-${groupId}`,
    groupId,
    bootstrapBrokers: bootstrap,
    deserializers: stringDeserializers,
    sessionTimeout: 10_000,
    rebalanceTimeout: 20_000,
    heartbeatInterval: 500,
    maxWaitTime: 500,
    retries: 10,
    retryDelay: 200,
  });
  const seen: Seen[] = [];
  const lastByPartition = new Map<number, Message<string, string, string, string>>();
  let stream: MessagesStream<string, string, string, string> | undefined;
  let heartbeats = 0;
  let heartbeatError: unknown;
  consumer.on('consumer:heartbeat:end', () => (heartbeats += 1));
  consumer.on('consumer:heartbeat:error', (event: { error: unknown }) => (heartbeatError = event.error));
  try {
    stream = await consumer.consume({ topics: [topic], mode: MessagesStreamModes.COMMITTED, fallbackMode: MessagesStreamFallbackModes.EARLIEST, autocommit: false });
    let failure: unknown;
    stream.on('error', (err: unknown) => (failure = err));
    stream.on('data', (m: Message<string, string, string, string>) => {
      lastByPartition.set(m.partition, m);
      seen.push({ partition: m.partition, offset: Number(m.offset), key: m.key ?? null, value: m.value ?? null, headers: Object.fromEntries([...m.headers.entries()].map(([k, v]) => [k, v ?? null])) });
    });
    await until(() => failure !== undefined || seen.length >= count, consumeTimeoutMs, `platformatic consumed ${count} records of ${topic} (${seen.length} so far)`);
    if (failure !== undefined) throw failure;
    // A member that stays in the group heartbeats (Heartbeat v4) without an error (a rebalance would answer REBALANCE_IN_PROGRESS).
    await until(() => heartbeatError !== undefined || heartbeats >= 2, 10_000, `two heartbeats of ${groupId} (${heartbeats} so far)`);
    expect(heartbeatError).toBeUndefined();
    // OffsetCommit of offset + 1.
    for (const m of lastByPartition.values()) await new Promise<void>((resolve, reject) => m.commit((err) => (err ? reject(err) : resolve())));
  } finally {
    await stream?.close().catch(() => undefined);
    // close(true) matches the callback overload first in the typings: pass the callback.
    await new Promise<void>((resolve) => consumer.close(true, () => resolve()));
  }
  return seen.sort(byPosition);
}

/** The offsets the native group coordinator holds for `groupId` on `topic`'s partitions, as [partition, offset]. */
async function committedNatively(groupId: string, topic: string): Promise<[number, number][]> {
  const found = await cluster.client.ask<unknown, { nodeId: number }>({ node: '1', path: '/groups' }, (replyTo) => ({ type: 'FindCoordinator', key: groupId, keyType: 0, replyTo }), { timeoutMs: 5_000 });
  const fetched = await cluster.client.ask<unknown, { errorCode: number; offsets: { partition: number; offset: number }[] }>(
    { node: String(found.nodeId), path: '/groups' },
    (replyTo) => ({ type: 'OffsetFetch', groupId, partitions: Array.from({ length: partitions }, (_, partition) => ({ topic, partition })), replyTo }),
    { timeoutMs: 5_000 },
  );
  expect(fetched.errorCode).toBe(0);
  return fetched.offsets.map((o): [number, number] => [o.partition, o.offset]).sort((a, b) => a[0] - b[0]);
}

beforeAll(async () => {
  cluster = await startTestCluster(3, ['listeners=PLAINTEXT://127.0.0.1:0', 'offsets.topic.num.partitions=3', 'group.initial.rebalance.delay.ms=0']);
  kactus = new Kactus({ brokers: cluster.brokers.map((b) => b.url), clientId: 'plt-native', requestTimeoutMs: 10_000 });
  await kactus.admin().createTopics({ topics: ['plt-in', 'plt-out'].map((topic) => ({ topic, numPartitions: partitions, replicationFactor: 3 })) });
  await cluster.waitForLeaders('plt-in', partitions, 3);
  await cluster.waitForLeaders('plt-out', partitions, 3);
  bootstrap = await kafkaBootstrap(cluster);
}, 60_000);

afterAll(async () => {
  await kactus?.close().catch(() => undefined);
  await killAllChildren();
  await cluster?.cleanup();
}, 30_000);

describe('@platformatic/kafka through the Kafka listener', () => {
  it('platformatic produces keyed records with headers (acks all); its group consumer and the native client read identical records', async () => {
    const topic = 'plt-in';
    const producer = new Producer({ clientId: 'plt-producer', bootstrapBrokers: bootstrap, serializers: stringSerializers, acks: ProduceAcks.ALL, idempotent: true, retries: 10, retryDelay: 200 });
    const sent: { key: string | null; value: string; partition: number; headers: Record<string, string> }[] = [];
    try {
      // Three sends, each with records for every partition: several batches per partition, offsets continuing across them.
      for (let round = 0; round < 3; round++) {
        const messages = Array.from({ length: (partitions * perPartition) / 3 }, (_, j) => {
          const i = round * ((partitions * perPartition) / 3) + j;
          // Every tenth record has no key (a null key on the wire).
          return { topic, partition: i % partitions, key: i % 10 === 9 ? undefined : `pk${i}`, value: `pv-${i}-${'x'.repeat(i % 17)}`, headers: new Map([['source', 'platformatic'], ['index', String(i)]]) };
        });
        // acks on the send too: 1.35.0 applies the constructor's acks only to idempotent producers (as this one is).
        const result = await producer.send({ messages, acks: ProduceAcks.ALL });
        expect(result.offsets?.length ?? 0).toBeGreaterThan(0);
        for (const m of messages) sent.push({ key: m.key ?? null, value: m.value, partition: m.partition, headers: Object.fromEntries(m.headers) });
      }
    } finally {
      await producer.close();
    }

    const native = await readNatively(topic);
    expect(native).toHaveLength(sent.length);
    // Per partition, the records in the order sent, at offsets 0..n-1.
    for (let p = 0; p < partitions; p++) {
      const expected = sent.filter((s) => s.partition === p).map((s, offset) => ({ partition: p, offset, key: s.key, value: s.value, headers: s.headers }));
      expect(native.filter((r) => r.partition === p)).toEqual(expected);
    }
    const consumed = await consumeWithPlatformatic(topic, 'plt-in-group', sent.length);
    expect(consumed).toEqual(native);
    expect(await committedNatively('plt-in-group', topic)).toEqual(Array.from({ length: partitions }, (_, p) => [p, perPartition]));

    // The group resumes from its commits: after one more native record per partition, a new member reads only those.
    const more = kactus.producer({ lingerMs: 0 });
    try {
      await more.send({ topic, messages: Array.from({ length: partitions }, (_, p) => ({ key: `more${p}`, value: `after-commit-${p}`, partition: p })) });
    } finally {
      await more.close();
    }
    const resumed = await consumeWithPlatformatic(topic, 'plt-in-group', partitions);
    expect(resumed).toEqual(Array.from({ length: partitions }, (_, p) => ({ partition: p, offset: perPartition, key: `more${p}`, value: `after-commit-${p}`, headers: {} })));
    expect(await committedNatively('plt-in-group', topic)).toEqual(Array.from({ length: partitions }, (_, p) => [p, perPartition + 1]));
  });

  it('the native client produces keyed records with headers; a platformatic group consumer reads them identically', async () => {
    const topic = 'plt-out';
    const producer = kactus.producer({ lingerMs: 2 });
    try {
      await producer.send({
        topic,
        messages: Array.from({ length: partitions * perPartition }, (_, i) => ({ key: `nk${i}`, value: `nv-${i}-${'y'.repeat(i % 13)}`, partition: i % partitions, headers: { source: 'native', index: String(i) } })),
      });
    } finally {
      await producer.close();
    }
    const native = await readNatively(topic);
    expect(native).toHaveLength(partitions * perPartition);
    expect(native.every((r) => r.headers.source === 'native' && r.key === `nk${r.headers.index}`)).toBe(true);
    const consumed = await consumeWithPlatformatic(topic, 'plt-out-group', native.length);
    expect(consumed).toEqual(native);
    expect(await committedNatively('plt-out-group', topic)).toEqual(Array.from({ length: partitions }, (_, p) => [p, perPartition]));
  });

  it('platformatic Admin creates a topic the native client sees; a transactional producer commits, aborts and commits again; read_committed sees only the committed records', async () => {
    const topic = 'plt-txn';
    const admin = new Admin({ clientId: 'plt-admin', bootstrapBrokers: bootstrap, retries: 10, retryDelay: 200 });
    try {
      const created = await admin.createTopics({ topics: [topic], partitions, replicas: 3 });
      expect(created.map((t) => [t.name, t.partitions, t.replicas])).toEqual([[topic, partitions, 3]]);
    } finally {
      await admin.close();
    }
    await cluster.waitForLeaders(topic, partitions, 3);
    const producer = new Producer({ clientId: 'plt-txn-producer', bootstrapBrokers: bootstrap, serializers: stringSerializers, idempotent: true, transactionalId: 'plt-txn-id', retries: 10, retryDelay: 200 });
    try {
      const committed = await producer.beginTransaction();
      await committed.send({ messages: Array.from({ length: partitions }, (_, p) => ({ topic, partition: p, key: `c${p}`, value: `committed-${p}` })) });
      await committed.commit();
      const aborted = await producer.beginTransaction();
      await aborted.send({ messages: Array.from({ length: partitions }, (_, p) => ({ topic, partition: p, key: `a${p}`, value: `aborted-${p}` })) });
      await aborted.abort();
      const last = await producer.beginTransaction();
      await last.send({ messages: [{ topic, partition: 0, key: 'z', value: 'committed-last' }] });
      await last.commit();
    } finally {
      await producer.close();
    }
    // Offsets: the committed records, then its marker; the aborted ones and their marker are skipped by read_committed.
    const consumed = await consumeWithPlatformatic(topic, 'plt-txn-group', partitions + 1);
    expect(consumed.map((r) => [r.partition, r.key, r.value])).toEqual([[0, 'c0', 'committed-0'], [0, 'z', 'committed-last'], [1, 'c1', 'committed-1'], [2, 'c2', 'committed-2']]);
    expect(consumed.filter((r) => r.partition === 0).map((r) => r.offset)).toEqual([0, 4]);
  });
});
