/**
 * Growing and shrinking a cluster of real broker processes (issue #17):
 * controlled shutdown, adding a broker and rebalancing onto it, a
 * reassignment that survives the active controller's death, and draining and
 * removing a broker under a reading consumer group.
 *
 * Method: one cluster for the whole file (brokers 1-3 are the controller
 * voters; broker 4 is added later with the same quorum, as
 * `kactus broker` on a new machine), stepped through in order, each step
 * leaving the cluster whole for the next:
 *  1. SIGTERM the active controller while it leads partitions and an acks=all
 *     idempotent producer streams: every send is acknowledged, every retry
 *     the producer made was for a retriable code, and the acks never stop
 *     (the longest gap between them is printed, under a hang bound). Then it
 *     comes back.
 *  2. Broker 4 joins; the planner (reassignment-plan.ts) moves about a
 *     quarter of the 18 replicas onto it while the producer streams; every
 *     acknowledged record is read back once, in order per partition; after a
 *     preferred election broker 4 leads 1 or 2 of the 6 partitions.
 *  3. A reassignment onto broker 4, which is stopped so the move cannot
 *     finish, is interrupted by SIGKILLing the active controller: the next
 *     controller still has it (it is in the metadata log), and once broker 4
 *     is back the move completes with every record in place.
 *  4. While a consumer group reads a steady stream, broker 4 is drained (a
 *     planned move of every replica it hosts, the group's offsets partitions
 *     included), which first makes removing it a refusal; then it is stopped
 *     and unregistered. Nothing is lost, and the group never stops reading
 *     (the longest gap between records consumed is printed, under a hang
 *     bound).
 * Every wait is bounded; killAllChildren (afterAll) also runs when a step fails.
 */
import { Writable } from 'node:stream';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Kactus, type Admin } from '../client/index.ts';
import { errorInfo } from '../protocol/errors.ts';
import { planReassignment, type PartitionReplicas } from '../actors/controller/metadata/reassignment-plan.ts';
import { startTestCluster, type TestCluster } from './support/cluster.ts';
import { killAllChildren } from './support/processes.ts';
import { readPartition } from './client-read.ts';

const topic = 'scale';
const partitions = 6;
/**
 * Hang bounds, not latency limits (a shared 2-core machine must not fail them): a controlled shutdown
 * moves leadership in a few hundred ms (printed; #17 asked for under 1 s), and a drain stalls the group
 * for at most about a session timeout.
 */
const ackGapHangBoundMs = 10_000;
const consumerSessionTimeoutMs = 6_000;
const consumerStallHangBoundMs = 3 * consumerSessionTimeoutMs;

let cluster: TestCluster;
let kactus: Kactus;
let admin: Admin;
/** Producer retries seen in the client's debug log: error codes. */
const retriedCodes: number[] = [];
/** Producer id resets seen in the client's log (a sequence broke: a batch failed or its fate was unknown). */
let producerIdResets = 0;

beforeAll(async () => {
  cluster = await startTestCluster(3, ['offsets.topic.num.partitions=3', 'group.initial.rebalance.delay.ms=0', 'auto.leader.rebalance.enable=false']);
  const logLines = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      for (const text of chunk.toString().split('\n')) {
        if (text.includes('producer.producer_id_reset')) producerIdResets += 1;
        if (!text.includes('producer.batch_retry')) continue;
        const line = JSON.parse(text) as { errorCode?: number };
        if (typeof line.errorCode === 'number') retriedCodes.push(line.errorCode);
      }
      callback();
    },
  });
  kactus = new Kactus({ brokers: cluster.brokers.map((b) => b.url), clientId: 'scaling-test', requestTimeoutMs: 5_000, logger: pino({ level: 'debug' }, logLines) });
  admin = kactus.admin();
  await admin.createTopics({ topics: [{ topic, numPartitions: partitions, replicationFactor: 3, configs: { 'min.insync.replicas': '2' } }] });
  await cluster.waitForLeaders(topic, partitions, 3);
}, 60_000);

afterAll(async () => {
  await kactus?.close().catch(() => undefined);
  await killAllChildren();
  await cluster?.cleanup();
}, 30_000);

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 30_000, everyMs = 100): Promise<T> {
  const deadlineMs = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > deadlineMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}

async function describe1(name: string) {
  const [described] = await admin.describeTopics({ topics: [name] });
  return described!;
}

async function assignment(names: readonly string[]): Promise<PartitionReplicas[]> {
  const described = await admin.describeTopics({ topics: names });
  return described.flatMap((t) => t.partitions.map((p) => ({ topic: t.name, partition: p.partition, replicas: [...p.replicas] })));
}

/**
 * Waits until the controller lists no reassignment and every running broker's metadata shows `expected`. Each
 * broker's image follows the metadata log on its own, a fetch round behind the controller at most, and
 * describeTopics asks whichever broker the client picks: one broker showing the new lists says nothing of the
 * next one asked (CI once saw the completed lists on one broker, then a broker still mid-move).
 */
async function reassignmentsDone(expected: readonly PartitionReplicas[], timeoutMs = 30_000): Promise<void> {
  await until('the reassignments to complete', async () => ((await admin.listPartitionReassignments()).length === 0 ? true : undefined), timeoutMs);
  const names = [...new Set(expected.map((p) => p.topic))];
  const key = (p: PartitionReplicas) => `${p.topic}-${p.partition}:${p.replicas.join(',')}`;
  const running = cluster.brokers.filter((b) => b.child !== null).map((b) => b.id);
  await until(`every broker's metadata (${running.join(', ')}) to show the new replica lists`, async () => {
    for (const brokerId of running) {
      const answer = await cluster.metadata(names, brokerId).catch(() => undefined);
      if (answer === undefined) return undefined;
      const now = new Set(answer.topics.flatMap((t) => t.partitions.map((p) => key({ topic: t.name, partition: p.partition, replicas: p.replicas }))));
      if (!expected.every((p) => now.has(key(p)))) return undefined;
    }
    return true;
  }, timeoutMs);
}

/**
 * An acks=all idempotent producer sending one record to every partition each
 * `everyMs`, without waiting for acks (so a stall shows as a gap between
 * acks, not as fewer sends). Values are `<tag>-<partition>-<n>`, n counting
 * per partition. Bounded by `recordsMax`.
 */
function startStream(tag: string, everyMs = 10, recordsMax = 60_000) {
  const producer = kactus.producer({ acks: 'all', idempotent: true, lingerMs: 2, requestTimeoutMs: 10_000, deliveryTimeoutMs: 30_000 });
  const sent: string[][] = Array.from({ length: partitions }, () => []);
  const ackTimesMs: number[] = [];
  const ackTimesMsByPartition: number[][] = Array.from({ length: partitions }, () => []);
  const failures: { value: string; code: number; message: string }[] = [];
  const pending = new Set<Promise<void>>();
  let running = true;
  let count = 0;
  const loop = (async () => {
    while (running && count < recordsMax) {
      for (let partition = 0; partition < partitions; partition += 1) {
        const value = `${tag}-${partition}-${sent[partition]!.length}`;
        sent[partition]!.push(value);
        count += 1;
        const send: Promise<void> = producer.send({ topic, messages: [{ value, partition }] }).then(
          () => {
            const nowMs = Date.now();
            ackTimesMs.push(nowMs);
            ackTimesMsByPartition[partition]!.push(nowMs);
          },
          (err: { code?: number; message?: string }) => void failures.push({ value, code: err.code ?? -1, message: String(err.message) }),
        );
        pending.add(send);
        void send.finally(() => pending.delete(send));
      }
      await sleep(everyMs);
    }
  })();
  return {
    sent,
    failures,
    ackTimesMs,
    acked: () => ackTimesMs.length,
    /** Stops sending, waits for every send to end, and closes the producer. */
    async stop(): Promise<void> {
      running = false;
      await loop;
      await Promise.all([...pending]);
      await producer.close();
    },
    /** The longest gap between consecutive acks (of `partition`, or of any partition), in ms. */
    longestAckGapMs(partition?: number): number {
      const times = [...(partition === undefined ? ackTimesMs : ackTimesMsByPartition[partition]!)].sort((a, b) => a - b);
      let gap = 0;
      for (let i = 1; i < times.length; i += 1) gap = Math.max(gap, times[i]! - times[i - 1]!);
      return gap;
    },
  };
}

/**
 * A partition as stored (readPartition), retried: the first ask to a broker that just restarted fails with
 * NETWORK_EXCEPTION (retriable: the link found a new incarnation), and readPartition itself does not retry.
 */
async function readBack(name: string, partition: number) {
  return until(`${name}-${partition} read back`, () => readPartition(kactus, name, partition), 20_000, 200);
}

/** Every value sent under `tag` is in its partition exactly once, in the order it was sent. */
async function expectReadBack(stream: ReturnType<typeof startStream>, tag: string): Promise<void> {
  for (let partition = 0; partition < partitions; partition += 1) {
    const stored = (await readBack(topic, partition)).map((r) => r.value).filter((v): v is string => v !== null && v.startsWith(`${tag}-`));
    expect(stored, `partition ${partition}`).toEqual(stream.sent[partition]);
  }
}

async function activeController(): Promise<number> {
  return until('an active controller', async () => {
    const { controllerId } = await admin.describeCluster();
    return controllerId >= 0 ? controllerId : undefined;
  });
}

describe.sequential('growing and shrinking a cluster (broker processes)', () => {
  it('controlled shutdown: SIGTERM of the active controller, which leads partitions, costs the producer no failed request and no producer-id reset', async () => {
    const victim = await activeController();
    const before = await describe1(topic);
    const led = before.partitions.filter((p) => p.leader === victim).map((p) => p.partition);
    expect(led.length).toBeGreaterThan(0);

    const stream = startStream('d');
    await until('the stream to run', async () => (stream.acked() > 300 ? true : undefined), 20_000, 20);
    const retriesBefore = retriedCodes.length;
    const resetsBefore = producerIdResets;
    const stoppedAtMs = Date.now();
    const exit = await cluster.stopBroker(victim);
    const stopMs = Date.now() - stoppedAtMs;
    const ackedAtExit = stream.acked();
    await until('acks after the stop', async () => (stream.acked() > ackedAtExit + 300 ? true : undefined), 20_000, 20);
    await stream.stop();

    const gapMs = stream.longestAckGapMs();
    // The partitions that changed leader: the gap a producer of one of them alone would see.
    const movedGapMs = Math.max(...led.map((p) => stream.longestAckGapMs(p)));
    const codes = retriedCodes.slice(retriesBefore);
    console.log(`controlled shutdown of broker ${victim} (active controller, led ${led.length} partitions): process exited after ${stopMs} ms; longest gap between acks ${gapMs} ms (of a partition that changed leader: ${movedGapMs} ms); ${stream.acked()} acks; retried codes ${JSON.stringify(countBy(codes))}`);
    expect(exit.code).toBe(0);
    expect(stream.failures).toEqual([]);
    expect(producerIdResets - resetsBefore).toBe(0);
    for (const code of codes) expect(errorInfo(code).retriable, `retried error code ${code} (${errorInfo(code).name})`).toBe(true);
    expect(gapMs).toBeLessThan(ackGapHangBoundMs);
    expect(movedGapMs).toBeLessThan(ackGapHangBoundMs);
    const after = await describe1(topic);
    for (const p of after.partitions) expect(p.leader, `partition ${p.partition}`).not.toBe(victim);
    await expectReadBack(stream, 'd');

    // Back to three: it rejoins every ISR, and a preferred election gives it its partitions back.
    await cluster.startBroker(victim);
    await cluster.waitForLeaders(topic, partitions, 3);
    await admin.electLeaders({ electionType: 'PREFERRED', topicPartitions: [{ topic, partitions: led }] });
    await until('the victim to lead again', async () => ((await describe1(topic)).partitions.filter((p) => p.leader === victim).length === led.length ? true : undefined));
  }, 90_000);

  it('a fourth broker joins; a balanced plan moves about a quarter of the replicas onto it under acks=all writes; nothing acknowledged is lost; it then leads its share', async () => {
    const added = await cluster.addBroker();
    expect(added.id).toBe(4);
    const before = await assignment([topic]);
    const planned = planReassignment({ partitions: before, brokers: [1, 2, 3, 4].map((brokerId) => ({ brokerId, rack: null })) });
    if (!planned.ok) throw new Error(planned.error);
    const { plan } = planned;
    // 18 replicas over 4 brokers: broker 4 gets 4 (counts 5, 5, 4, 4), and only those move.
    expect(plan.replicasMoved).toBeGreaterThanOrEqual(4);
    expect(plan.replicasMoved).toBeLessThanOrEqual(5);
    expect(plan.brokers.find((b) => b.brokerId === 4)?.replicasAfter).toBe(plan.replicasMoved);

    const stream = startStream('a');
    await until('the stream to run', async () => (stream.acked() > 200 ? true : undefined), 20_000, 20);
    const results = await admin.alterPartitionReassignments({ reassignments: plan.partitions });
    expect(results.filter((r) => r.errorCode !== 0)).toEqual([]);
    await reassignmentsDone(plan.partitions);
    const ackedAtDone = stream.acked();
    await until('acks after the move', async () => (stream.acked() > ackedAtDone + 200 ? true : undefined), 20_000, 20);
    await stream.stop();
    expect(stream.failures).toEqual([]);
    const moved = await describe1(topic);
    expect(moved.partitions.map((p) => p.replicas)).toEqual(before.map((p) => plan.partitions.find((q) => q.partition === p.partition)?.replicas ?? p.replicas));
    await expectReadBack(stream, 'a');

    await admin.electLeaders({ electionType: 'PREFERRED', topicPartitions: [{ topic, partitions: moved.partitions.map((p) => p.partition) }] });
    const led = await until('every partition led by its preferred replica', async () => {
      const now = await describe1(topic);
      return now.partitions.every((p) => p.leader === p.replicas[0]) ? now.partitions.filter((p) => p.leader === 4).length : undefined;
    });
    console.log(`broker 4 added: ${plan.replicasMoved} replicas moved onto it under ${stream.acked()} acks (longest gap ${stream.longestAckGapMs()} ms); it leads ${led} of ${partitions}`);
    expect(led).toBeGreaterThanOrEqual(1);
    expect(led).toBeLessThanOrEqual(2);
  }, 90_000);

  it('a reassignment interrupted by SIGKILLing the active controller completes after failover', async () => {
    const moving = 'moving';
    await admin.createTopics({ topics: [{ topic: moving, replicaAssignment: [{ partition: 0, replicas: [1, 2] }, { partition: 1, replicas: [2, 3] }, { partition: 2, replicas: [3, 1] }] }] });
    await cluster.waitForLeaders(moving, 3, 2);
    const producer = kactus.producer({ acks: 'all' });
    const values = Array.from({ length: 300 }, (_, i) => `m${i}`);
    await producer.send({ topic: moving, messages: values.map((value, i) => ({ value, partition: i % 3 })) });
    await producer.close();
    // Broker 4 is down, so the moves onto it cannot finish before the controller dies.
    expect((await cluster.stopBroker(4)).code).toBe(0);
    const targets = [[4, 1], [4, 2], [4, 3]];
    const results = await admin.alterPartitionReassignments({ reassignments: targets.map((replicas, partition) => ({ topic: moving, partition, replicas })) });
    expect(results.filter((r) => r.errorCode !== 0)).toEqual([]);
    expect((await admin.listPartitionReassignments()).map((r) => r.addingReplicas)).toEqual([[4], [4], [4]]);

    const controller = await activeController();
    await cluster.killBroker(controller);
    const next = await until('another active controller', async () => {
      const { controllerId } = await admin.describeCluster();
      return controllerId >= 0 && controllerId !== controller ? controllerId : undefined;
    });
    // The new controller has the moves from the metadata log.
    const inProgress = await admin.listPartitionReassignments();
    expect(inProgress.map((r) => ({ partition: r.partition, addingReplicas: r.addingReplicas }))).toEqual([0, 1, 2].map((partition) => ({ partition, addingReplicas: [4] })));

    await cluster.startBroker(controller);
    await cluster.startBroker(4);
    await reassignmentsDone(targets.map((replicas, partition) => ({ topic: moving, partition, replicas })));
    const done = await describe1(moving);
    expect(done.partitions.map((p) => p.replicas)).toEqual(targets);
    for (const p of done.partitions) expect([...p.isr].sort()).toEqual([...targets[p.partition]!].sort());
    const stored = (await Promise.all([0, 1, 2].map((p) => readBack(moving, p)))).flat().map((r) => r.value);
    expect(stored.sort()).toEqual([...values].sort());
    console.log(`reassignment survived controller failover: broker ${controller} killed, broker ${next} took over, 3 moves completed`);
    await cluster.waitForLeaders(topic, partitions, 3);
  }, 90_000);

  it('a broker is drained and removed while a consumer group reads: nothing lost, no stall longer than a rebalance', async () => {
    const consumed: { value: string; atMs: number }[] = [];
    const consumer = kactus.consumer({ groupId: 'scale-group', sessionTimeoutMs: consumerSessionTimeoutMs, heartbeatIntervalMs: 500, autoOffsetReset: 'earliest', fetchMaxWaitMs: 100 }).subscribe([topic]);
    const subscription = consumer.messages$.subscribe((record) => {
      const value = record.value?.toString() ?? '';
      if (value.startsWith('b-')) consumed.push({ value, atMs: Date.now() });
      record.ack();
    });
    try {
      const stream = startStream('b', 20);
      await until('the group to read the stream', async () => (consumed.length > 200 ? true : undefined), 30_000);

      // Removing a broker that still hosts replicas is refused.
      await expect(admin.unregisterBroker({ brokerId: 4 })).rejects.toMatchObject({ code: 42 });
      const hosted = (await assignment([topic, 'moving', '__consumer_offsets'])).filter((p) => p.replicas.includes(4));
      expect(hosted.length).toBeGreaterThan(0);
      const planned = planReassignment({ partitions: hosted, brokers: [1, 2, 3].map((brokerId) => ({ brokerId, rack: null })), drainBrokers: [4] });
      if (!planned.ok) throw new Error(planned.error);
      const results = await admin.alterPartitionReassignments({ reassignments: planned.plan.partitions });
      expect(results.filter((r) => r.errorCode !== 0)).toEqual([]);
      await reassignmentsDone(planned.plan.partitions);
      expect((await assignment([topic, 'moving', '__consumer_offsets'])).filter((p) => p.replicas.includes(4))).toEqual([]);
      expect((await cluster.stopBroker(4)).code).toBe(0);
      await until('broker 4 to be unregistered', async () => {
        await admin.unregisterBroker({ brokerId: 4 });
        return true;
      }, 15_000, 200);
      expect((await admin.describeCluster()).brokers.map((b) => b.brokerId).sort()).toEqual([1, 2, 3]);

      const ackedAtRemoval = stream.acked();
      await until('acks after the removal', async () => (stream.acked() > ackedAtRemoval + 200 ? true : undefined), 20_000, 20);
      await stream.stop();
      expect(stream.failures).toEqual([]);
      const sent = stream.sent.flat();
      await until('the group to read every record', async () => (new Set(consumed.map((c) => c.value)).size >= sent.length ? true : undefined), 30_000);
      const seen = new Set(consumed.map((c) => c.value));
      expect(sent.filter((v) => !seen.has(v))).toEqual([]);
      let stallMs = 0;
      for (let i = 1; i < consumed.length; i += 1) stallMs = Math.max(stallMs, consumed[i]!.atMs - consumed[i - 1]!.atMs);
      console.log(`drain and removal of broker 4 (${hosted.length} partitions, ${planned.plan.replicasMoved} replicas moved) under a reading group: ${sent.length} records, longest gap between records consumed ${stallMs} ms`);
      expect(stallMs).toBeLessThan(consumerStallHangBoundMs);
    } finally {
      subscription.unsubscribe();
      await consumer.close().catch(() => undefined);
    }
  }, 90_000);
});

function countBy(codes: readonly number[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const code of codes) counts[errorInfo(code).name] = (counts[errorInfo(code).name] ?? 0) + 1;
  return counts;
}
