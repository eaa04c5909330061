/**
 * The guarantee "a controller quorum of 3: metadata changes stop while two
 * voters are lost; reads and writes of partitions with live leaders go on"
 * (README, Guarantees), on real broker processes.
 *
 * Method: 4 broker processes on free ports of 127.0.0.1; brokers 1-3 are the
 * controller voters, broker 4 is not. A topic `live` has its replicas only on
 * broker 4 and the one voter that will survive (S), min.insync.replicas 2, so
 * its leaders and ISRs need nothing from the controller while the quorum is
 * gone. The active controller and the third voter are SIGKILLed. Once S
 * reports itself a (pre-)candidate, unable to win an election, a topic
 * creation is started and left running; meanwhile acks=all writes of an
 * idempotent producer (its producer id taken before) and of a producer created
 * during the outage (acks=1) must all be acknowledged and read back at their
 * offsets, and the creation must not have completed after all those writes:
 * still pending, or failed with a retriable error, and on no broker's
 * metadata. Then one killed voter restarts: the creation completes (or, had
 * it failed retriably, a retry does) and the new topic takes writes.
 * Every wait is bounded; every child is SIGKILLed in afterAll, also on failure.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { Kactus, KactusError, type NewTopic, type Producer } from '../client/index.ts';
import { controllerRef } from '../actors/controller/actor.ts';
import type { ControllerMessage, DescribeQuorumReply } from '../actors/controller/messages.ts';
import { startTestCluster, type TestCluster } from './support/cluster.ts';
import { killAllChildren, untilValue } from './support/processes.ts';
import { readPartition } from './client-read.ts';

type Creation = { state: 'pending' } | { state: 'created' } | { state: 'failed'; err: unknown };

const voters = [1, 2, 3] as const;
const nonVoter = 4;

let cluster: TestCluster | undefined;
const clients: Kactus[] = [];

afterAll(async () => {
  await Promise.all(clients.map((k) => k.close().catch(() => undefined)));
  await killAllChildren();
  await cluster?.cleanup();
}, 30_000);

const describeQuorum = (c: TestCluster, id: number): Promise<DescribeQuorumReply | undefined> =>
  c.client.ask<ControllerMessage, DescribeQuorumReply>(controllerRef(id), (replyTo) => ({ type: 'DescribeQuorum', replyTo }), { timeoutMs: 1_000 }).catch(() => undefined);

describe('controller quorum of 3 with two voters lost (4 broker processes)', () => {
  it('writes and reads of partitions with live leaders go on; topic creation waits, and succeeds once a voter returns', async () => {
    const c = (cluster = await startTestCluster(4, [], { voters: [...voters] }));
    const active = await untilValue(async () => {
      const replies = await Promise.all(voters.map((id) => describeQuorum(c, id)));
      const leaders = replies.filter((r) => r?.active === true);
      return leaders.length === 1 ? leaders[0]!.brokerId : undefined;
    }, 15_000, 'an active controller');
    const [killedToo, survivor] = voters.filter((id) => id !== active) as [number, number];
    const urlOf = (id: number): string => c.brokers.find((b) => b.id === id)!.url;
    const liveUrls = [urlOf(survivor), urlOf(nonVoter)];

    // Replicas only on the brokers that stay up: nothing about `live` needs the controller during the outage.
    const setup = new Kactus({ brokers: liveUrls, clientId: 'quorum-loss-setup', requestTimeoutMs: 10_000 });
    clients.push(setup);
    await setup.admin().createTopics({ topics: [{ topic: 'live', replicaAssignment: [{ partition: 0, replicas: [survivor, nonVoter] }, { partition: 1, replicas: [nonVoter, survivor] }], configs: { 'min.insync.replicas': '2' } }] });
    const [described] = await setup.admin().describeTopics({ topics: ['live'] });
    expect(described!.partitions.map((p) => [p.leader, [...p.isr].sort()])).toEqual([[survivor, [survivor, nonVoter].sort()], [nonVoter, [survivor, nonVoter].sort()]]);
    const idempotent = setup.producer(); // acks=all, idempotent: its producer id is taken now, with the quorum whole
    const acknowledged: { partition: number; offset: number; value: string }[] = [];
    const send = async (producer: Producer, partition: number, value: string): Promise<void> => {
      const [meta] = await producer.send({ topic: 'live', messages: [{ partition, value }] });
      if (meta!.offset >= 0) acknowledged.push({ partition, offset: meta!.offset, value });
    };
    for (const partition of [0, 1]) await send(idempotent, partition, `before-${partition}`);

    await c.killBroker(active);
    await c.killBroker(killedToo);
    // The survivor has noticed: it seeks an election it cannot win (one vote of three).
    const lost = await untilValue(async () => {
      const q = await describeQuorum(c, survivor);
      return q !== undefined && (q.role === 'PreCandidate' || q.role === 'Candidate') && !q.active ? q : undefined;
    }, 15_000, `voter ${survivor} to find the quorum lost`);
    expect(lost.voters).toEqual([...voters]);

    // A metadata change, started now and left running (its own client: one request at a time, each longer than
    // the broker's 30 s ControllerCall, so no second creation is in flight beside it).
    const during: NewTopic = { topic: 'during', replicaAssignment: [{ partition: 0, replicas: [nonVoter, survivor] }] };
    const admin = new Kactus({ brokers: liveUrls, clientId: 'quorum-loss-admin', requestTimeoutMs: 45_000 });
    clients.push(admin);
    let creation: Creation = { state: 'pending' };
    const creationNow = (): Creation => creation; // read through a call: the callbacks below change it
    const creating = admin
      .admin()
      .createTopics({ topics: [during] })
      .then(
        () => void (creation = { state: 'created' }),
        (err: unknown) => void (creation = { state: 'failed', err }),
      );

    // Writes go on: acks=all through the ISR of two, and a producer created during the outage (acks=1, no producer id).
    const fresh = new Kactus({ brokers: liveUrls, clientId: 'quorum-loss-fresh', requestTimeoutMs: 10_000 });
    clients.push(fresh);
    const acksOne = fresh.producer({ acks: 1 });
    for (let i = 0; i < 20; i += 1) {
      await send(idempotent, i % 2, `all-${i}`);
      await send(acksOne, i % 2, `one-${i}`);
    }
    expect(acknowledged).toHaveLength(42);
    // Reads go on: every acknowledged record at its offset, once.
    for (const partition of [0, 1]) {
      const stored = await readPartition(setup, 'live', partition);
      const mine = acknowledged.filter((a) => a.partition === partition);
      expect(stored.map((r) => r.value)).toEqual(mine.map((a) => a.value));
      for (const a of mine) expect(stored.find((r) => r.offset === a.offset)?.value).toBe(a.value);
    }
    // After 42 acknowledged writes (a commit takes milliseconds with a quorum), the creation has not happened.
    const state = creationNow();
    expect(state.state === 'pending' || (state.state === 'failed' && state.err instanceof KactusError && state.err.retriable), JSON.stringify(state)).toBe(true);
    // (Metadata of every topic: one naming `during` would ask for its auto-creation, a second creation.)
    for (const id of [survivor, nonVoter]) {
      const answer = await c.metadata(null, id);
      expect(answer.topics.map((t) => t.name), `broker ${id}'s metadata`).not.toContain('during');
    }

    // One voter returns: two of three, a quorum again.
    await c.startBroker(killedToo);
    await untilValue(async () => ((await describeQuorum(c, survivor))?.leaderId ?? null) ?? undefined, 20_000, 'a leader of the quorum');
    await creating;
    if (creationNow().state === 'failed') await admin.admin().createTopics({ topics: [during] }); // it failed retriably: a retry now succeeds
    const [created] = await admin.admin().describeTopics({ topics: ['during'] });
    expect(created!.partitions).toEqual([expect.objectContaining({ partition: 0, leader: nonVoter })]);
    const [meta] = await fresh.producer({ acks: 1 }).send({ topic: 'during', messages: [{ value: 'first' }] });
    expect(meta!.offset).toBe(0);
  }, 120_000);
});
