/**
 * Consumer scenarios on an in-process 3-broker cluster (real data planes and
 * group coordinator over ws): a consumer reads what was produced and commits
 * it; a restarted consumer resumes from the committed offsets; members of one
 * group split the partitions; bad input gives typed errors.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { firstValueFrom, take, toArray } from 'rxjs';
import { Kactus, KactusError, ErrorCode, commitAfter, type ConsumerRecord, type AssignmentEvent } from '../client/index.ts';
import { readPartition } from './client-read.ts';
import { startConsumerTestCluster, type ConsumerTestCluster } from './fixtures/consumer-cluster.ts';

let cluster: ConsumerTestCluster;
let kactus: Kactus;

const fast = { sessionTimeoutMs: 3_000, heartbeatIntervalMs: 300, autoOffsetReset: 'earliest' as const, fetchMaxWaitMs: 100 };

async function produce(topic: string, count: number, partitions: number, prefix = 'v'): Promise<void> {
  const producer = kactus.producer({ lingerMs: 1 });
  const messages = Array.from({ length: count }, (_, i) => ({ value: `${prefix}${i}`, partition: i % partitions }));
  await producer.send({ topic, messages });
  await producer.close();
}

function waitUntil(condition: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadlineMs = Date.now() + timeoutMs;
  return new Promise((resolve, reject) => {
    const check = (): void => {
      if (condition()) return resolve();
      if (Date.now() > deadlineMs) return reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`));
      setTimeout(check, 20);
    };
    check();
  });
}

beforeAll(async () => {
  cluster = await startConsumerTestCluster();
  kactus = new Kactus({ brokers: cluster.urls, clientId: 'consumer-test', requestTimeoutMs: 5_000 });
  await kactus.admin().createTopics({ topics: [{ topic: 'c-basic', numPartitions: 3, replicationFactor: 3 }, { topic: 'c-group', numPartitions: 6, replicationFactor: 3 }] });
}, 30_000);

afterAll(async () => {
  await kactus?.close().catch(() => undefined);
  await cluster?.stop();
}, 30_000);

describe('consumer on an in-process cluster', () => {
  it('reads every record once in partition order, commits, and a restart resumes from the commit', async () => {
    await produce('c-basic', 300, 3);
    const consumer = kactus.consumer({ groupId: 'g-basic', ...fast }).subscribe(['c-basic']);
    const seen: ConsumerRecord[] = [];
    const sub = consumer.messages$.pipe(commitAfter(async (r: ConsumerRecord) => seen.push(r))).subscribe();
    await waitUntil(() => seen.length >= 300, 20_000, '300 records');
    // Once: a record written to each partition now arrives after every earlier one, so a record delivered
    // twice would show before these do (not only within a fixed sleep).
    await produce('c-basic', 3, 3, 'last');
    await waitUntil(() => seen.filter((r) => r.value!.toString().startsWith('last')).length >= 3, 20_000, 'the three later records');
    expect(seen).toHaveLength(303);
    for (let p = 0; p < 3; p++) {
      const offsets = seen.filter((r) => r.partition === p).map((r) => r.offset);
      expect(offsets).toEqual(Array.from({ length: 101 }, (_, i) => i));
    }
    // Unsubscribing commits what finished and leaves the group.
    sub.unsubscribe();
    await consumer.stop();
    await produce('c-basic', 30, 3, 'w');
    const again = kactus.consumer({ groupId: 'g-basic', ...fast }).subscribe('c-basic');
    const more = await firstValueFrom(again.messages$.pipe(take(30), toArray()));
    expect(more.map((r) => r.value!.toString()).sort()).toEqual(Array.from({ length: 30 }, (_, i) => `w${i}`).sort());
    await again.close();
    await consumer.close();
  }, 40_000);

  it("each of Kafka's codecs: the producer's batches are stored with it, and a group consumer reads every record back", async () => {
    const codecs = ['none', 'gzip', 'snappy', 'lz4', 'zstd'] as const;
    await kactus.admin().createTopics({ topics: codecs.map((codec) => ({ topic: `c-codec-${codec}`, numPartitions: 1, replicationFactor: 3 })) });
    const messages = Array.from({ length: 200 }, (_, i) => ({ key: `k${i % 9}`, value: `value ${i} `.repeat(1 + (i % 5)), headers: { n: String(i) } }));
    for (const codec of codecs) {
      const producer = kactus.producer({ compression: codec, lingerMs: 5 });
      await producer.send({ topic: `c-codec-${codec}`, messages });
      await producer.close();
      const stored = await readPartition(kactus, `c-codec-${codec}`, 0);
      expect(new Set(stored.map((r) => r.compression)), codec).toEqual(new Set([codecs.indexOf(codec)]));
      const consumer = kactus.consumer({ groupId: `g-codec-${codec}`, ...fast }).subscribe(`c-codec-${codec}`);
      const read = await firstValueFrom(consumer.messages$.pipe(take(messages.length), toArray()));
      expect(read.map((r) => ({ key: r.key!.toString(), value: r.value!.toString(), headers: Object.fromEntries(r.headers.map((h) => [h.key, h.value!.toString()])) })), codec).toEqual(messages);
      await consumer.close();
    }
  }, 60_000);

  it('three members of one group split six partitions two each, and every record is read once', async () => {
    await produce('c-group', 600, 6);
    const members = [0, 1, 2].map(() => kactus.consumer({ groupId: 'g-split', ...fast }).subscribe(['c-group']));
    const byMember: ConsumerRecord[][] = [[], [], []];
    const events: AssignmentEvent[][] = [[], [], []];
    const subs = members.map((m, i) => {
      m.assignments$.subscribe((e) => events[i]!.push(e));
      return m.messages$.pipe(commitAfter(async (r: ConsumerRecord) => byMember[i]!.push(r))).subscribe();
    });
    await waitUntil(() => members.every((m) => m.assignment().length === 2) && byMember.flat().length >= 600, 30_000, 'two partitions each and 600 records');
    const owners = new Map<number, number>();
    byMember.forEach((records, i) => records.forEach((r) => owners.set(r.partition, owners.get(r.partition) ?? i)));
    const all = byMember.flat().map((r) => `${r.partition}:${r.offset}`);
    expect(new Set(all).size).toBe(600);
    for (const m of members) expect(m.assignment()).toHaveLength(2);
    subs.forEach((s) => s.unsubscribe());
    await Promise.all(members.map((m) => m.close()));
  }, 50_000);

  it('refuses invalid topic names and a feed without a subscription with typed errors', async () => {
    const consumer = kactus.consumer({ groupId: 'g-bad' });
    expect(() => consumer.subscribe(['bad topic!'])).toThrow(KactusError);
    let emptyName: unknown;
    try {
      consumer.subscribe(['ok', '']);
    } catch (err) {
      emptyName = err;
    }
    expect(emptyName).toBeInstanceOf(KactusError);
    expect((emptyName as KactusError).code).toBe(ErrorCode.INVALID_TOPIC_EXCEPTION);
    const err = await firstValueFrom(consumer.messages$).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(KactusError);
    expect(() => kactus.consumer({ groupId: '' })).toThrow(KactusError);
    expect(() => kactus.consumer({ groupId: 'x', autoOffsetReset: 'sideways' as never })).toThrow(/autoOffsetReset/);
    await consumer.close();
  });
});
