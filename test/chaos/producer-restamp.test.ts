/**
 * Found by the chaos harness (seed 5, 120 s, all nemeses): an idempotent
 * acks=all producer stored one record twice (`duplicate`: value p1-2185 at
 * offsets 503 and 506 of partition 1, acknowledged at 506).
 *
 * What happened (client/producer/sender.ts, idempotence.ts): batch A was
 * appended by the leader of partition 1 but not acknowledged (a follower had
 * stopped fetching, so the high watermark stalled); its request timed out
 * and A was queued for a retry with the same sequence, which the broker
 * would have recognised. Meanwhile another batch of the same producer, on
 * another partition, failed for good (delivery timeout). The sender then
 * took a new producer id and "stamped again" every unacknowledged batch,
 * A included: A went out under the new producer id with sequence 0, the
 * broker could not know it was a resend, and appended it a second time.
 * A batch that was sent and whose fate is unknown must not be re-stamped
 * under a new producer id (Kafka keeps such in-doubt batches on the old
 * producer id/epoch until they resolve, or fails them to the caller; it
 * bumps the epoch only when no sequence is unresolved).
 *
 * Goal: with a batch in doubt on one partition, a batch failing for good on
 * another does not make the in-doubt one stored twice. Method: in-process
 * cluster; pause the followers' fetchers of partition `stalled`'s leader so
 * an acks=all send A is appended (seen in the leader's log) but parked (its
 * 1 s requests time out and are retried); then a record too large for topic
 * `small` is refused (MESSAGE_TOO_LARGE, not retriable), which resets the
 * producer id; once the new id is there (the reset waits for A's request to
 * end, so A is in doubt by then), resume the fetchers; A must be stored once.
 * Each stage waits for the event it needs, never for a fixed time.
 *
 * Fixed in client/producer/sender.ts: a batch whose attempt got no definite
 * answer is in doubt and is failed (indeterminate, REQUEST_TIMED_OUT) rather
 * than stamped again under the new producer id.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { Kactus, KactusError } from '../../client/index.ts';
import { startTestCluster, type TestCluster } from '../client-cluster.ts';
import { topicByName } from '../../actors/controller/metadata/index.ts';
import { readPartition } from '../client-read.ts';
import { clientLogger } from './workloads.ts';
import { until } from '../support/processes.ts';
import { encodeBatch } from '../../protocol/record-batch/index.ts';
import { ErrorCode } from '../../protocol/errors.ts';
import type { Produce, ProduceReply } from '../../protocol/apis/data.ts';

let cluster: TestCluster | undefined;
let kactus: Kactus | undefined;

afterEach(async () => {
  await kactus?.close({ timeoutMs: 1_000 }).catch(() => undefined);
  await cluster?.stop();
  kactus = undefined;
  cluster = undefined;
});


/**
 * A cluster, a client and one-partition RF-3 topics: `topic`, and with `small` also `small`, whose
 * max.message.bytes refuses a large record for good (MESSAGE_TOO_LARGE: the producer takes a new id).
 * A long replica.lag.time.max.ms keeps a follower whose fetcher is paused in the ISR.
 */
async function start(clientId: string, topic: string, options: { small: boolean; lagTimeMaxMs?: number }): Promise<{ cluster: TestCluster; kactus: Kactus }> {
  cluster = await startTestCluster(options.lagTimeMaxMs === undefined ? {} : { config: { replicaLagTimeMaxMs: options.lagTimeMaxMs } });
  kactus = new Kactus({ brokers: cluster.urls, clientId, requestTimeoutMs: 5_000, logger: clientLogger(clientId) });
  const topics: { topic: string; numPartitions: number; replicationFactor: number; configs?: Record<string, string> }[] = [{ topic, numPartitions: 1, replicationFactor: 3 }];
  if (options.small) topics.push({ topic: 'small', numPartitions: 1, replicationFactor: 3, configs: { 'max.message.bytes': '2000' } });
  await kactus.admin().createTopics({ topics });
  return { cluster, kactus };
}

const topicLeader = (c: TestCluster, topic: string): number => topicByName(c.quorum.image, topic)!.partitions[0]!.leader;

describe('idempotent producer: a producer id reset with a batch in doubt', () => {
  it('stores the in-doubt batch once (it used to be re-stamped under the new producer id and stored twice)', async () => {
    const { cluster, kactus } = await start('restamp', 'stalled', { small: true, lagTimeMaxMs: 60_000 });
    const producer = kactus.producer({ lingerMs: 0, requestTimeoutMs: 1_000, deliveryTimeoutMs: 30_000, retryBackoffMs: 50, retryBackoffMsMax: 200 });
    await producer.send({ topic: 'stalled', messages: [{ value: 'before' }] });
    await producer.send({ topic: 'small', messages: [{ value: 'before' }] });
    const firstId = producer.producerId.producerId;
    const [described] = await kactus.admin().describeTopics({ topics: ['stalled'] });
    const leader = described!.partitions[0]!.leader;
    const followers = cluster.nodes.filter((n) => Number(n.nodeId) !== leader);
    for (const node of followers) node.tell({ node: node.nodeId, path: '/broker' }, { type: 'PauseFetcher', leaderId: leader });

    const inDoubt = producer.send({ topic: 'stalled', messages: [{ value: 'in-doubt' }] });
    // A is in the leader's log ('before' and A); the high watermark waits for the paused followers.
    const leaderLog = () => cluster.planes[leader - 1]!.registry.get('stalled', 0)!.log;
    await until(() => leaderLog().logEndOffset === 2, 10_000, 'A appended by the leader');
    expect(leaderLog().highWatermark).toBe(1);
    const refused = await producer.send({ topic: 'small', messages: [{ value: 'x'.repeat(5_000) }] }).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(KactusError);
    expect((refused as KactusError).retriable).toBe(false);
    // The reset: a new producer id, taken once A's request ended without an answer (1 s), with A in doubt.
    await until(() => producer.producerId.producerId !== firstId, 15_000, 'the producer id reset');
    expect(producer.stats!.producerIdResets).toBe(1);
    expect(leaderLog().highWatermark).toBe(1); // A still unacknowledged when the new id arrived
    for (const node of followers) node.tell({ node: node.nodeId, path: '/broker' }, { type: 'ResumeFetcher', leaderId: leader });
    const [meta] = await inDoubt;
    const stored = await readPartition(kactus, 'stalled', 0);
    expect(stored.find((r) => r.offset === meta!.offset)?.value).toBe('in-doubt');
    expect(stored.filter((r) => r.value === 'in-doubt').length).toBe(1);
  }, 30_000);

  /*
   * Found by the chaos harness (seed 5, 300 s, txn workloads): values at
   * partition 4 offsets 4349-4353 stored again at 4460-4462. Batch A's
   * attempt got no answer (in doubt) while five later batches of the same
   * producer id were acknowledged, pushing A out of the five batches the
   * leader remembers. A's resend was then refused as OUT_OF_ORDER_SEQUENCE_NUMBER,
   * the producer took a new id, resent A under its old id (in doubt), got
   * OUT_OF_ORDER_SEQUENCE_NUMBER again and took that to mean "not written":
   * A was stamped under the new id and stored a second time.
   *
   * Method: the fault hook drops A's (successful) answer; while A waits out
   * its retry backoff, five batches with A's producer id and the next five
   * sequences are written over the wire, as the producer's own later batches
   * would have been. A must fail as indeterminate and be stored once.
   */
  it('fails an in-doubt batch the leader no longer remembers as indeterminate instead of storing it again under a new producer id', async () => {
    const { kactus } = await start('restamp-window', 'window', { small: false });
    const producer = kactus.producer({ lingerMs: 0, retryBackoffMs: 3_000, retryBackoffMsMax: 3_000, deliveryTimeoutMs: 30_000, faults: { dropProduceResponses: 1 } });
    const inDoubt = producer.send({ topic: 'window', messages: [{ value: 'in-doubt' }] }).then(
      (meta) => ({ ok: true as const, meta }),
      (err: unknown) => ({ ok: false as const, err }),
    );
    // A is written and its answer dropped: the producer waits 3 s before resending it.
    await until(() => producer.stats !== undefined && producer.stats.droppedResponses === 1, 10_000, "A's answer dropped");
    let stored = await readPartition(kactus, 'window', 0);
    expect(producer.stats!.droppedResponses).toBe(1);
    const a = stored[0]!;
    expect(a.value).toBe('in-doubt');

    const { connection, metadata } = await kactus.context();
    const { leader } = await metadata.leaderFor('window', 0);
    for (let sequence = a.baseSequence + 1; sequence <= a.baseSequence + 5; sequence += 1) {
      const batch = encodeBatch({ records: [{ key: null, value: Buffer.from(`later-${sequence}`), timestamp: Date.now() }], producerId: a.producerId, producerEpoch: a.producerEpoch, baseSequence: sequence });
      const reply = await connection.ask<Produce, ProduceReply>(leader, '/broker', (replyTo) => ({ type: 'Produce', topic: 'window', partition: 0, acks: -1, timeoutMs: 5_000, batch, replyTo }), 10_000);
      expect(reply.errorCode).toBe(ErrorCode.NONE);
    }

    const outcome = await inDoubt;
    expect(outcome.ok).toBe(false);
    if (!outcome.ok) {
      expect(outcome.err).toBeInstanceOf(KactusError);
      expect((outcome.err as KactusError).code).toBe(ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER);
      expect((outcome.err as KactusError).message).toMatch(/may or may not have been written/);
    }
    stored = await readPartition(kactus, 'window', 0);
    expect(stored.filter((r) => r.value === 'in-doubt').length).toBe(1);
    expect(stored.map((r) => r.value)).toEqual(['in-doubt', 'later-1', 'later-2', 'later-3', 'later-4', 'later-5']);
    // The producer goes on under its new id.
    await producer.send({ topic: 'window', messages: [{ value: 'after' }] });
    expect(producer.stats!.producerIdResets).toBe(1);
    expect(producer.producerId.producerId).not.toBe(a.producerId);
    const last = (await readPartition(kactus, 'window', 0)).at(-1);
    expect(last).toMatchObject({ value: 'after', producerId: producer.producerId.producerId });
  }, 30_000);

  /*
   * Found by the chaos harness (seed 4, 300 s, txn workloads, at cf040ea):
   * value p1-2509 stored at chaos-3 offsets 680 and 681. Leader 3 appended it
   * (680, replicated to broker 1, high watermark not yet past it) and parked
   * the acks=all request; the controller moved leadership to broker 1 (the
   * preferred replica, back after a restart), and leader 3, resigning,
   * answered the parked request NOT_LEADER_OR_FOLLOWER, which the producer
   * took to mean "not appended". Before its retry went out, five old batches
   * failed for good, the producer took a new id and stamped the batch under
   * it: broker 1 appended it again at 681.
   *
   * Method: pause the fetcher of the second follower only, so the first
   * follower (the one the controller elects next) replicates A while the
   * high watermark waits; a record too large for topic `small` fails for
   * good (the producer takes a new id once A's request is answered); fence
   * the leader: A's request is answered NOT_LEADER_OR_FOLLOWER, the id is
   * reset, A is sent again. A must be stored once.
   */
  it('stores once a batch whose resigning leader answered NOT_LEADER_OR_FOLLOWER after appending it, across a producer-id reset', async () => {
    const { cluster, kactus } = await start('restamp-resign', 'resign', { small: true, lagTimeMaxMs: 60_000 });
    const producer = kactus.producer({ lingerMs: 0, requestTimeoutMs: 10_000, deliveryTimeoutMs: 30_000, retryBackoffMs: 3_000, retryBackoffMsMax: 3_000 });
    await producer.send({ topic: 'resign', messages: [{ value: 'before' }] });
    await producer.send({ topic: 'small', messages: [{ value: 'before' }] });
    const firstId = producer.producerId.producerId;
    const [described] = await kactus.admin().describeTopics({ topics: ['resign'] });
    const leader = described!.partitions[0]!.leader;
    const [nextLeader, paused] = described!.partitions[0]!.replicas.filter((id) => id !== leader) as [number, number];
    const pausedNode = cluster.nodes.find((n) => Number(n.nodeId) === paused)!;
    pausedNode.tell({ node: pausedNode.nodeId, path: '/broker' }, { type: 'PauseFetcher', leaderId: leader });

    const inDoubt = producer.send({ topic: 'resign', messages: [{ value: 'in-doubt' }] });
    // A is appended by the leader and replicated to nextLeader; the high watermark waits for the paused follower.
    const nextLog = () => cluster.planes[nextLeader - 1]!.registry.get('resign', 0)!.log;
    await until(() => nextLog().logEndOffset >= 2, 10_000, 'A replicated to the next leader');
    expect(nextLog().logEndOffset).toBe(2);
    // A batch fails for good: the producer will take a new id once A's request is answered.
    const refused = await producer.send({ topic: 'small', messages: [{ value: 'x'.repeat(5_000) }] }).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(KactusError);
    // The leader is fenced and resigns: A's parked request is answered NOT_LEADER_OR_FOLLOWER.
    cluster.quorum.call({ type: 'FenceBroker', brokerId: leader, brokerEpoch: null });
    expect(topicLeader(cluster, 'resign')).toBe(nextLeader);
    // The answer ends A's request and the reset follows: a new producer id while A is unacknowledged.
    await until(() => producer.producerId.producerId !== firstId, 15_000, 'the producer id reset');
    expect(producer.stats!.producerIdResets).toBe(1);
    pausedNode.tell({ node: pausedNode.nodeId, path: '/broker' }, { type: 'ResumeFetcher', leaderId: leader });
    const [meta] = await inDoubt;
    const stored = await readPartition(kactus, 'resign', 0);
    expect(stored.filter((r) => r.value === 'in-doubt').length).toBe(1);
    expect(stored.find((r) => r.offset === meta!.offset)?.value).toBe('in-doubt');
  }, 30_000);
});
