/**
 * The metadata quorum across real processes: three brokers (actors/broker-main.ts),
 * each a controller voter with its own data dir, on free ports of 127.0.0.1,
 * with default timeouts. Goals: (a) when the active controller is SIGKILLed,
 * another voter becomes active and the metadata committed before is intact;
 * (b) a 3-partition RF 3 topic is placed with leaders 1, 2, 3, and when a
 * broker that leads a partition is SIGKILLed, every partition gets a live
 * leader from its ISR, with a bumped leader epoch and the dead broker out of
 * the ISR. Method: this test process runs a small client Node (no listener)
 * that asks `/controller` (DescribeQuorum, GetMetadata) and
 * `/controller-client` (ControllerCall, GetMetadata) on the brokers. The waits
 * are hang bounds, several times what an election or a fence takes, so a slow
 * machine does not fail them; the measured times are printed, and how fast a
 * failover is belongs to `npm run bench:failover` (gaps and new-leader times
 * over 20 SIGKILLs, the active controller among the victims).
 */
import { testClusterSecret } from './support/secret.ts';
import { afterEach, describe, expect, it } from 'vitest';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Node } from '../runtime/node.ts';
import { createLogger } from '../runtime/logger.ts';
import { brokerConfigDefault, nodeIdOf } from '../actors/broker/config.ts';
import { controllerRef } from '../actors/controller/actor.ts';
import { controllerClientRef } from '../actors/controller/client.ts';
import type {
  ControllerCallReply,
  ControllerClientMessage,
  ControllerMessage,
  DescribeQuorumReply,
  GetMetadataReply,
} from '../actors/controller/messages.ts';
import type { CreateTopicsReply } from '../actors/controller/metadata/index.ts';
import { freePort, killAllChildren, startChild, type Child } from './support/processes.ts';

const brokerIds = [1, 2, 3] as const;
const sessionTimeoutMs = brokerConfigDefault.brokerSessionTimeoutMs;
/** Hang bounds (not latency limits): an election takes well under a second here, a fence at most the session timeout. */
const electionHangBoundMs = 15_000;
const reelectionHangBoundMs = sessionTimeoutMs + 12_000;

const cleanup: { nodes: Node[]; dirs: string[] } = { nodes: [], dirs: [] };
afterEach(async () => {
  await killAllChildren();
  await Promise.all(cleanup.nodes.splice(0).map((n) => n.stop()));
  await Promise.all(cleanup.dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })));
});

type Cluster = { children: Map<number, Child>; client: Node };

async function startCluster(): Promise<Cluster> {
  const dataRoot = await mkdtemp(join(tmpdir(), 'kactus-failover-'));
  cleanup.dirs.push(dataRoot);
  const ports = new Map<number, number>();
  for (const id of brokerIds) ports.set(id, await freePort());
  const quorum = brokerIds.map((id) => `${id}@127.0.0.1:${ports.get(id)}`).join(',');
  const children = new Map<number, Child>();
  for (const id of brokerIds) {
    const args = ['--node-id', String(id), '--listen', `127.0.0.1:${ports.get(id)}`, '--controller-quorum', quorum, '--data', join(dataRoot, `broker-${id}`)];
    children.set(id, startChild('actors/broker-main.ts', args, { LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn' }));
  }
  await Promise.all([...children.values()].map((child) => child.waitFor('ready', 30_000)));
  const client = await Node.start({ clusterSecret: testClusterSecret(), nodeId: 'failover-test', logger: createLogger({ node: 'failover-test' }, process.env.LOG_LEVEL ?? 'silent') });
  cleanup.nodes.push(client);
  for (const id of brokerIds) client.addPeer(nodeIdOf(id), `ws://127.0.0.1:${ports.get(id)}`);
  return { children, client };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function until<T>(probe: () => Promise<T | undefined>, timeoutMs: number, what: string, everyMs = 20): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}

const describeQuorum = (client: Node, id: number) =>
  client.ask<ControllerMessage, DescribeQuorumReply>(controllerRef(id), (replyTo) => ({ type: 'DescribeQuorum', replyTo }), { timeoutMs: 300 }).catch(() => undefined);

const controllerMetadata = (client: Node, id: number) =>
  client.ask<ControllerMessage, GetMetadataReply>(controllerRef(id), (replyTo) => ({ type: 'GetMetadata', topics: null, replyTo }), { timeoutMs: 500 }).catch(() => undefined);

const clientMetadata = (client: Node, id: number) =>
  client.ask<ControllerClientMessage, GetMetadataReply>(controllerClientRef(id), (replyTo) => ({ type: 'GetMetadata', topics: null, replyTo }), { timeoutMs: 500 }).catch(() => undefined);

async function activeController(client: Node, among: readonly number[]): Promise<number | undefined> {
  const replies = await Promise.all(among.map((id) => describeQuorum(client, id)));
  const active = replies.filter((r) => r?.active === true);
  return active.length === 1 ? active[0]!.brokerId : undefined;
}

async function createTopic(client: Node, viaBrokerId: number, name: string, numPartitions: number, replicationFactor: number): Promise<CreateTopicsReply> {
  const reply = await client.ask<ControllerClientMessage, ControllerCallReply>(
    controllerClientRef(viaBrokerId),
    (replyTo) => ({
      type: 'ControllerCall',
      command: { type: 'CreateTopics', topics: [{ name, numPartitions, replicationFactor, assignments: null, configs: [] }], validateOnly: false },
      replyTo,
    }),
    { timeoutMs: 15_000 },
  );
  expect(reply.type).toBe('CreateTopicsReply');
  const created = reply as CreateTopicsReply;
  expect(created.topics[0]).toMatchObject({ name, errorCode: 0 });
  return created;
}

async function readyCluster(): Promise<{ cluster: Cluster; controllerId: number }> {
  const cluster = await startCluster();
  const controllerId = await until(() => activeController(cluster.client, brokerIds), 15_000, 'an active controller');
  await until(async () => {
    const m = await clientMetadata(cluster.client, controllerId);
    return m !== undefined && m.brokers.length === 3 && m.brokers.every((b) => !b.fenced) ? true : undefined;
  }, 15_000, 'three registered, unfenced brokers');
  return { cluster, controllerId };
}

const topicOf = (reply: GetMetadataReply | undefined, name: string) => reply?.response.topics.find((t) => t.name === name && t.errorCode === 0);

describe('controller failover (3 broker processes, default timeouts)', () => {
  it('a SIGKILLed active controller is replaced and committed metadata survives', async () => {
    const { cluster, controllerId } = await readyCluster();
    const { client, children } = cluster;
    await createTopic(client, controllerId, 'before-failover', 3, 3);
    for (const id of brokerIds) await until(async () => (topicOf(await clientMetadata(client, id), 'before-failover') ? true : undefined), 5_000, `broker ${id} to see the topic`);
    const survivors = brokerIds.filter((id) => id !== controllerId);

    const killedAt = Date.now();
    children.get(controllerId)!.process.kill('SIGKILL');
    const newControllerId = await until(() => activeController(client, survivors), electionHangBoundMs, 'a new active controller');
    console.log(`controller failover: voter ${controllerId} SIGKILLed, voter ${newControllerId} active after ${Date.now() - killedAt} ms`);
    expect(survivors).toContain(newControllerId);

    const after = await controllerMetadata(client, newControllerId);
    const topic = topicOf(after, 'before-failover');
    expect(topic?.partitions).toHaveLength(3);
    expect(after?.response.controllerId).toBe(newControllerId);

    // The dead controller was also a broker leading a partition: it is fenced and its partitions move.
    const movedAt = await until(async () => {
      const m = await clientMetadata(client, newControllerId);
      const t = topicOf(m, 'before-failover');
      const fenced = m?.brokers.find((b) => b.brokerId === controllerId)?.fenced === true;
      return fenced && t !== undefined && t.partitions.every((p) => p.leader !== controllerId && p.leader >= 0 && !p.isr.includes(controllerId)) ? Date.now() : undefined;
    }, reelectionHangBoundMs, 'partitions to leave the dead controller');
    console.log(`controller failover: partitions led by broker ${controllerId} have new leaders ${movedAt - killedAt} ms after the kill`);
    // Every survivor's Metadata answer names the new controller, with no metadata change to carry the news
    // (the broker used to learn the controller only with the next image change, so a quiet cluster named the dead one).
    for (const id of survivors) {
      await until(async () => {
        const m = await client.ask<unknown, { controllerId: number }>({ node: nodeIdOf(id), path: '/broker' }, (replyTo) => ({ type: 'Metadata', topics: [], replyTo }), { timeoutMs: 500 }).catch(() => undefined);
        return m?.controllerId === newControllerId ? true : undefined;
      }, 5_000, `broker ${id}'s Metadata to name controller ${newControllerId}`);
    }
    // A new client request goes through the new controller.
    await createTopic(client, survivors[0]!, 'after-failover', 1, 2);
  }, 60_000);

  it('places leaders 1, 2, 3 and re-elects from the ISR after a broker SIGKILL', async () => {
    const { cluster, controllerId } = await readyCluster();
    const { client, children } = cluster;
    await createTopic(client, controllerId, 'placed', 3, 3);
    const before = await until(async () => topicOf(await controllerMetadata(client, controllerId), 'placed'), 5_000, 'the topic in the controller image');
    expect(before.partitions.map((p) => p.leader)).toEqual([1, 2, 3]);
    for (const p of before.partitions) expect([...p.isr].sort()).toEqual([1, 2, 3]);

    // A broker that leads a partition and is not the active controller: this measures fencing, not election.
    const victim = brokerIds.find((id) => id !== controllerId)!;
    const victimPartitions = before.partitions.filter((p) => p.leader === victim).map((p) => p.partition);
    expect(victimPartitions.length).toBeGreaterThan(0);
    const killedAt = Date.now();
    children.get(victim)!.process.kill('SIGKILL');

    const after = await until(async () => {
      const t = topicOf(await controllerMetadata(client, controllerId), 'placed');
      if (t === undefined) return undefined;
      const settled = t.partitions.every((p) => p.leader >= 0 && p.leader !== victim && p.isr.includes(p.leader) && !p.isr.includes(victim));
      return settled ? t : undefined;
    }, reelectionHangBoundMs, 'every partition to have a live leader from its ISR');
    console.log(`broker failover: broker ${victim} SIGKILLed (led partitions ${victimPartitions.join(',')}), all partitions led from the ISR after ${Date.now() - killedAt} ms`);
    for (const p of after.partitions) {
      const previous = before.partitions[p.partition]!;
      if (victimPartitions.includes(p.partition)) expect(p.leaderEpoch).toBeGreaterThan(previous.leaderEpoch);
      expect(p.isr).not.toContain(victim);
    }
    // Brokers see the same through their own images (the committed log replayed).
    const survivor = brokerIds.find((id) => id !== victim && id !== controllerId)!;
    await until(async () => {
      const t = topicOf(await clientMetadata(client, survivor), 'placed');
      return t !== undefined && t.partitions.every((p) => p.leader !== victim && !p.isr.includes(victim)) ? true : undefined;
    }, 5_000, `broker ${survivor} to see the new leaders`);
  }, 60_000);
});
