/**
 * The metadata quorum end to end inside one process: three broker nodes
 * (controller + controller client each) over the in-memory transport with a
 * shared, seeded FaultPlan. Goals: a leader is elected and becomes the active
 * controller; a CreateTopics committed through one broker's client reaches
 * every node's image (controllers and clients); when the active controller is
 * partitioned away, another voter takes over, the cut-off one stops acting,
 * and after healing it catches up. Method: drive everything through the
 * actors' public messages with asks, and wait for conditions with bounded polls.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MemoryNetwork } from '../../runtime/memory-transport.ts';
import { testClusterSecret } from '../../test/support/secret.ts';
import { FaultPlan } from '../../runtime/faults.ts';
import { Node } from '../../runtime/node.ts';
import { createLogger } from '../../runtime/logger.ts';
import { makeBrokerConfig, nodeIdOf } from '../broker/config.ts';
import { startBrokerNode, type BrokerNode } from '../broker-node.ts';
import { controllerRef, resignLeadership } from './actor.ts';
import { controllerClientRef } from './client.ts';
import type {
  ControllerCallReply,
  ControllerClientMessage,
  ControllerMessage,
  DescribeQuorumReply,
  GetMetadataReply,
  MetadataImageUpdated,
} from './messages.ts';
import type { CreateTopicsReply } from './metadata/index.ts';

const fastLimits = { heartbeatIntervalMs: 20, unreachableAfterMs: 150, downAfterMs: 300, reconnectBackoffMsMin: 10, reconnectBackoffMsMax: 50 };
const quiet = (id: string) => createLogger({ node: id }, process.env.LOG_LEVEL ?? 'silent');

const started: { brokers: BrokerNode[]; nodes: Node[]; dirs: string[] } = { brokers: [], nodes: [], dirs: [] };
afterEach(async () => {
  await Promise.all(started.brokers.splice(0).map((b) => b.stop()));
  await Promise.all(started.nodes.splice(0).map((n) => n.stop()));
  await new Promise((r) => setTimeout(r, 50));
  await Promise.all(started.dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })));
});

async function until<T>(probe: () => Promise<T | undefined> | T | undefined, timeoutMs: number, what: string): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

type Cluster = {
  brokers: Map<number, BrokerNode>;
  faults: FaultPlan;
  network: MemoryNetwork;
  probe: Node;
  /** Starts broker `id` (again: same config, same data dir). */
  start(id: number): Promise<BrokerNode>;
  stop(id: number): Promise<void>;
};

async function cluster(seed: number, options: { brokerIds?: number[]; snapshotEvery?: number; brokerSessionTimeoutMs?: number; controlledShutdownEnable?: boolean } = {}): Promise<Cluster> {
  const network = new MemoryNetwork();
  const faults = new FaultPlan(seed);
  const url = (id: number) => `mem://broker-${id}:1`;
  const voters = new Map([1, 2, 3].map((id) => [id, url(id)] as const));
  const brokers = new Map<number, BrokerNode>();
  const dataDirs = new Map<number, string>();
  const start = async (brokerId: number): Promise<BrokerNode> => {
    let dataDir = dataDirs.get(brokerId);
    if (dataDir === undefined) {
      dataDir = await mkdtemp(join(tmpdir(), `kactus-ctl-${brokerId}-`));
      started.dirs.push(dataDir);
      dataDirs.set(brokerId, dataDir);
    }
    const config = makeBrokerConfig(
      { brokerId, listenHost: `broker-${brokerId}`, listenPort: 1, dataDir, controllerQuorumVoters: voters },
      { brokerSessionTimeoutMs: options.brokerSessionTimeoutMs ?? 1_000, brokerHeartbeatIntervalMs: 100, controllerTickMs: 20, controlledShutdownEnable: options.controlledShutdownEnable ?? true },
    );
    const broker = await startBrokerNode(config, {
      transport: network,
      faults,
      limits: fastLimits,
      logger: quiet(nodeIdOf(brokerId)),
      seed: seed * 10 + brokerId,
      ...(options.snapshotEvery !== undefined ? { controllerLogEntriesBeforeSnapshotMax: options.snapshotEvery } : {}),
    });
    brokers.set(brokerId, broker);
    started.brokers.push(broker);
    return broker;
  };
  const stop = async (brokerId: number): Promise<void> => {
    await brokers.get(brokerId)?.stop();
    brokers.delete(brokerId);
  };
  for (const brokerId of options.brokerIds ?? [1, 2, 3]) await start(brokerId);
  // A client node for the test: it dials the brokers and owns the reply slots of its asks.
  // It holds the cluster secret: a peer, as the brokers are to each other (test/support/secret.ts).
  const probe = await Node.start({ nodeId: 'probe', transport: network, limits: fastLimits, logger: quiet('probe'), clusterSecret: testClusterSecret() });
  for (const id of [1, 2, 3, 4]) probe.addPeer(nodeIdOf(id), url(id));
  started.nodes.push(probe);
  return { brokers, faults, network, probe, start, stop };
}

const describeQuorum = (probe: Node, brokerId: number) =>
  probe.ask<ControllerMessage, DescribeQuorumReply>(controllerRef(brokerId), (replyTo) => ({ type: 'DescribeQuorum', replyTo }), { timeoutMs: 500 });

const clientMetadata = (probe: Node, brokerId: number) =>
  probe.ask<ControllerClientMessage, GetMetadataReply>(controllerClientRef(brokerId), (replyTo) => ({ type: 'GetMetadata', topics: null, replyTo }), { timeoutMs: 500 });

const controllerMetadata = (probe: Node, brokerId: number) =>
  probe.ask<ControllerMessage, GetMetadataReply>(controllerRef(brokerId), (replyTo) => ({ type: 'GetMetadata', topics: null, replyTo }), { timeoutMs: 500 });

async function activeController(probe: Node, among: number[]): Promise<number | undefined> {
  const replies = await Promise.all(among.map((id) => describeQuorum(probe, id).catch(() => undefined)));
  const active = replies.filter((r) => r?.active);
  return active.length === 1 ? active[0]!.brokerId : undefined;
}

function createTopics(probe: Node, viaBrokerId: number, name: string, numPartitions: number, replicationFactor: number): Promise<ControllerCallReply> {
  return probe.ask<ControllerClientMessage, ControllerCallReply>(
    controllerClientRef(viaBrokerId),
    (replyTo) => ({
      type: 'ControllerCall',
      command: { type: 'CreateTopics', topics: [{ name, numPartitions, replicationFactor, assignments: null, configs: [] }], validateOnly: false },
      replyTo,
    }),
    { timeoutMs: 10_000 },
  );
}

const hasTopic = (reply: GetMetadataReply | undefined, name: string) => reply?.response.topics.some((t) => t.name === name && t.errorCode === 0) === true;

async function allBrokersUnfenced(probe: Node, viaBrokerId: number, count: number): Promise<true | undefined> {
  const reply = await clientMetadata(probe, viaBrokerId).catch(() => undefined);
  return reply !== undefined && reply.brokers.filter((b) => !b.fenced).length === count ? true : undefined;
}

describe('controller quorum (in-memory transport)', () => {
  it('controller: 3 voters elect one active controller; CreateTopics commits and every image has it', async () => {
    const { probe } = await cluster(1);
    const leader = await until(() => activeController(probe, [1, 2, 3]), 5_000, 'an active controller');
    await until(() => allBrokersUnfenced(probe, 1, 3), 5_000, 'three registered, unfenced brokers');

    const reply = (await createTopics(probe, 2, 'orders', 3, 3)) as CreateTopicsReply;
    expect(reply.type).toBe('CreateTopicsReply');
    expect(reply.topics[0]).toMatchObject({ name: 'orders', errorCode: 0, numPartitions: 3, replicationFactor: 3 });

    for (const id of [1, 2, 3]) {
      await until(async () => (hasTopic(await clientMetadata(probe, id), 'orders') ? true : undefined), 3_000, `client ${id} image`);
      await until(async () => (hasTopic(await controllerMetadata(probe, id), 'orders') ? true : undefined), 3_000, `controller ${id} image`);
    }
    const metadata = await clientMetadata(probe, 3);
    const topic = metadata.response.topics.find((t) => t.name === 'orders')!;
    expect(topic.partitions.map((p) => p.leader)).toEqual([1, 2, 3]);
    expect(metadata.response.controllerId).toBe(leader);
    const quorum = await describeQuorum(probe, leader);
    expect(quorum).toMatchObject({ role: 'Leader', active: true, voters: [1, 2, 3] });
  });

  it('controller: a partitioned-away active controller is replaced; it catches up after the partition heals', async () => {
    const { probe, faults } = await cluster(2);
    const first = await until(() => activeController(probe, [1, 2, 3]), 5_000, 'an active controller');
    await until(() => allBrokersUnfenced(probe, 1, 3), 5_000, 'three registered, unfenced brokers');
    const others = [1, 2, 3].filter((id) => id !== first);

    const cutAt = Date.now();
    faults.partition([nodeIdOf(first)], [...others.map(nodeIdOf), 'probe']);
    const second = await until(() => activeController(probe, others), 5_000, 'a new active controller among the majority');
    const failoverMs = Date.now() - cutAt;
    expect(second).not.toBe(first);

    const reply = (await createTopics(probe, others[0]!, 'after-cut', 1, 2)) as CreateTopicsReply;
    expect(reply.topics[0]).toMatchObject({ name: 'after-cut', errorCode: 0 });
    // The cut-off broker is fenced by the new controller (death watch or session expiry).
    await until(async () => {
      const m = await clientMetadata(probe, others[0]!).catch(() => undefined);
      return m?.brokers.find((b) => b.brokerId === first)?.fenced ? true : undefined;
    }, 5_000, `broker ${first} fenced`);

    faults.heal();
    await until(async () => {
      const q = await describeQuorum(probe, first).catch(() => undefined);
      return q !== undefined && !q.active && q.leaderId === second ? true : undefined;
    }, 5_000, `voter ${first} to follow ${second}`);
    await until(async () => (hasTopic(await clientMetadata(probe, first).catch(() => undefined), 'after-cut') ? true : undefined), 5_000, `client ${first} to catch up`);
    await until(() => allBrokersUnfenced(probe, second, 3), 5_000, `broker ${first} to rejoin unfenced`);
    console.log(`in-memory failover after partitioning the active controller: ${failoverMs} ms`);
  });

  it('controller-client: a subscriber gets the current image at once and every committed change after', async () => {
    const { brokers: byId, probe } = await cluster(3);
    const brokers = [...byId.values()];
    await until(() => activeController(probe, [1, 2, 3]), 5_000, 'an active controller');
    await until(() => allBrokersUnfenced(probe, 1, 3), 5_000, 'three registered, unfenced brokers');
    const node = brokers[0]!.node;
    const updates: MetadataImageUpdated[] = [];
    const subscriber = node.spawn<null, MetadataImageUpdated>('test-subscriber', { init: () => null, receive: (s, m) => (updates.push(m), s) });
    node.tell(brokers[0]!.controllerClient, { type: 'SubscribeMetadata', subscriber });
    await until(() => (updates.length > 0 ? true : undefined), 2_000, 'the first update');
    const created = (await createTopics(probe, 1, 'subscribed', 1, 1)) as CreateTopicsReply;
    expect(created.topics[0]?.errorCode).toBe(0);
    const update = await until(() => updates.find((u) => [...u.image.topicIdsByName.keys()].includes('subscribed')), 3_000, 'an update with the topic');
    expect(update.previous).not.toBe(update.image);
    expect(Object.isFrozen(update.image)).toBe(true);
  });

  it('controller: a restarted quorum recovers the committed metadata from disk', async () => {
    const c = await cluster(5);
    await until(() => activeController(c.probe, [1, 2, 3]), 5_000, 'an active controller');
    await until(() => allBrokersUnfenced(c.probe, 1, 3), 5_000, 'three registered, unfenced brokers');
    await createTopics(c.probe, 1, 'durable', 2, 3);
    for (const id of [1, 2, 3]) await c.stop(id);
    for (const id of [1, 2, 3]) await c.start(id);
    await until(() => activeController(c.probe, [1, 2, 3]), 5_000, 'an active controller after the restart');
    for (const id of [1, 2, 3]) {
      await until(async () => (hasTopic(await clientMetadata(c.probe, id).catch(() => undefined), 'durable') ? true : undefined), 5_000, `client ${id} image after restart`);
    }
    // The old registrations are in the log; the new incarnations register again and get unfenced.
    await until(() => allBrokersUnfenced(c.probe, 2, 3), 5_000, 'the restarted brokers to be unfenced');
    const reply = (await createTopics(c.probe, 3, 'durable', 1, 1)) as CreateTopicsReply;
    expect(reply.topics[0]?.errorCode).toBe(36); // TOPIC_ALREADY_EXISTS
  });

  it('controller: snapshots compact the log; a voter that was away installs one, a new broker starts from one', async () => {
    const c = await cluster(6, { snapshotEvery: 5 });
    const leader = await until(() => activeController(c.probe, [1, 2, 3]), 5_000, 'an active controller');
    await until(() => allBrokersUnfenced(c.probe, 1, 3), 5_000, 'three registered, unfenced brokers');
    const away = [1, 2, 3].find((id) => id !== leader)!;
    const via = [1, 2, 3].find((id) => id !== leader && id !== away)!;
    c.faults.partition([nodeIdOf(away)], [nodeIdOf(leader), nodeIdOf(via)]);
    for (let i = 0; i < 12; i += 1) await createTopics(c.probe, via, `many-${i}`, 1, 1);
    const compacted = await until(async () => {
      const q = await describeQuorum(c.probe, leader);
      return q.snapshotIndex > 0 && q.snapshotIndex > q.commitIndex - 12 ? q : undefined;
    }, 5_000, 'the leader to compact');
    expect(compacted.lastIndex - compacted.snapshotIndex).toBeLessThan(12);

    c.faults.heal();
    await until(async () => {
      const q = await describeQuorum(c.probe, away).catch(() => undefined);
      return q !== undefined && q.snapshotIndex > 0 && q.appliedIndex >= compacted.snapshotIndex ? true : undefined;
    }, 5_000, `voter ${away} to install a snapshot`);
    await until(async () => (hasTopic(await controllerMetadata(c.probe, away).catch(() => undefined), 'many-11') ? true : undefined), 5_000, `voter ${away} image`);

    // Broker 4 is no voter: its client follows the log from a voter, starting from the snapshot.
    await c.start(4);
    await until(async () => {
      const m = await clientMetadata(c.probe, 4).catch(() => undefined);
      return m !== undefined && Array.from({ length: 12 }, (_, i) => `many-${i}`).every((name) => hasTopic(m, name)) && m.brokers.some((b) => b.brokerId === 4 && !b.fenced) ? true : undefined;
    }, 5_000, 'broker 4 to load the snapshot, catch up and register');
  });

  it('controller: an active controller resigns by leadership transfer, and a stopped broker is fenced by the death watch, not its session', async () => {
    // No controlled shutdown (it would fence the broker itself), and a session far longer than the wait for
    // the fence below: only the death watch (Terminated 'stopped' of the broker's client) can fence in time.
    const sessionTimeoutMs = 60_000;
    const c = await cluster(7, { brokerSessionTimeoutMs: sessionTimeoutMs, controlledShutdownEnable: false });
    const first = await until(() => activeController(c.probe, [1, 2, 3]), 5_000, 'an active controller');
    await until(() => allBrokersUnfenced(c.probe, 1, 3), 5_000, 'three registered, unfenced brokers');
    const others = [1, 2, 3].filter((id) => id !== first);
    // Without a transfer nothing would move: the old leader stays up and keeps its lease.
    const resignedAt = Date.now();
    await resignLeadership(c.brokers.get(first)!.node, 2_000);
    const second = await until(() => activeController(c.probe, others), 2_000, 'a new active controller');
    console.log(`in-memory leadership transfer: ${Date.now() - resignedAt} ms`);
    expect((await describeQuorum(c.probe, first)).role).toBe('Follower');

    // stop() resigns (a no-op now) and stops the client while links work: the new controller's death watch
    // fences it at once. The wait is a quarter of the session timeout: a fence inside it is not the session expiring.
    await c.stop(first);
    await until(async () => {
      const m = await clientMetadata(c.probe, second).catch(() => undefined);
      return m?.brokers.find((b) => b.brokerId === first)?.fenced ? true : undefined;
    }, sessionTimeoutMs / 4, `broker ${first} fenced`);
  });

  it('controller: bad requests from the network get INVALID_REQUEST, bad Raft messages are dropped', async () => {
    const { probe } = await cluster(4);
    const leader = await until(() => activeController(probe, [1, 2, 3]), 5_000, 'an active controller');
    const bad = await probe.ask<unknown, { type: string; errorCode: number }>(
      controllerRef(leader),
      (replyTo) => ({ type: 'ControllerRequest', command: { type: 'CreateTopics', topics: 'not a list', validateOnly: false }, replyTo }),
      { timeoutMs: 1_000 },
    );
    expect(bad).toMatchObject({ type: 'ControllerError', errorCode: 42 });
    const unknown = await probe.ask<unknown, { type: string; errorCode: number }>(
      controllerClientRef(leader),
      (replyTo) => ({ type: 'ControllerCall', command: { type: 'Reboot' }, replyTo }),
      { timeoutMs: 1_000 },
    );
    expect(unknown).toMatchObject({ type: 'ControllerCallFailed', errorCode: 42 });
    probe.tell(controllerRef(leader), { type: 'RaftMessage', message: { type: 'AppendEntries', from: 2, to: leader, term: 1e9, entries: 'x' } } as never);
    probe.tell(controllerRef(leader), { type: 'RaftMessage', message: { type: 'Heartbeat', from: 99, to: leader, term: 1e9, commitIndex: 0 } } as never);
    await new Promise((r) => setTimeout(r, 200));
    expect(await activeController(probe, [1, 2, 3])).toBe(leader);
  });
});
