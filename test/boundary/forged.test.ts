/**
 * The network boundary against real broker processes (issue #15, "What was
 * seen"): each probe an outside client made with nothing but a raw WebSocket
 * and msgpackr, repeated here from test/support/raw-client.ts against a
 * 3-broker cluster (RF 3, min.insync.replicas 2). Goal: every probe is
 * refused (the frame dropped, the link closed, or an error reply), no broker
 * process exits, and nothing changes: brokers stay registered and unfenced,
 * ISRs stay whole, the metadata quorum keeps its leader and term, and every
 * acknowledged record is still there. Method: one cluster for the file; a
 * well-behaved client produces acks=all before and after the probes, and the
 * checks at the end compare the cluster with what it was before.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pack } from 'msgpackr';
import { Kactus } from '../../client/index.ts';
import { ErrorCode } from '../../protocol/errors.ts';
import { Kind } from '../../runtime/envelope.ts';
import { startTestCluster, type TestCluster } from '../support/cluster.ts';
import { killAllChildren } from '../support/processes.ts';
import { rawClient, type RawClient } from '../support/raw-client.ts';

let cluster: TestCluster;
let kactus: Kactus;
const topic = 'boundary';
const raws: RawClient[] = [];
let acknowledged = 0;

type Quorum = { leaderId: number; term: number };

async function open(brokerIndex = 0, hello = true): Promise<RawClient> {
  const client = await rawClient(cluster.brokers[brokerIndex]!.url);
  raws.push(client);
  if (hello) await client.helloAsClient();
  return client;
}

async function quorum(): Promise<Quorum> {
  const reply = await cluster.client.ask<unknown, { leaderId: number; term: number }>({ node: '1', path: '/controller' }, (replyTo) => ({ type: 'DescribeQuorum', replyTo }), { timeoutMs: 5_000 });
  return { leaderId: reply.leaderId, term: reply.term };
}

async function produce(count: number): Promise<void> {
  const producer = kactus.producer({ acks: 'all' });
  await producer.send({ topic, messages: Array.from({ length: count }, (_, i) => ({ key: `k${acknowledged + i}`, value: `v${acknowledged + i}` })) });
  acknowledged += count;
}

function brokersAlive(): void {
  for (const broker of cluster.brokers) expect(broker.child?.process.exitCode ?? null, `broker ${broker.id} exited: ${broker.child?.stderrTail().slice(-1_000)}`).toBeNull();
}

async function clusterIntact(): Promise<void> {
  brokersAlive();
  const metadata = await cluster.metadata([topic]);
  expect(metadata.brokers.map((b) => b.brokerId).sort()).toEqual([1, 2, 3]);
  const described = metadata.topics.find((t) => t.name === topic)!;
  for (const partition of described.partitions) expect(partition.isr.slice().sort()).toEqual([1, 2, 3]);
}

const isRefusal = (reply: unknown, code: number): boolean => typeof reply === 'object' && reply !== null && (reply as { errorReply?: boolean }).errorReply === true && (reply as { errorCode: number }).errorCode === code;

let quorumBefore: Quorum;

beforeAll(async () => {
  cluster = await startTestCluster(3, ['broker.session.timeout.ms=2000', 'broker.heartbeat.interval.ms=250']);
  kactus = new Kactus({ brokers: cluster.brokers.map((b) => b.url), clientId: 'boundary-test', requestTimeoutMs: 10_000 });
  await kactus.admin().createTopics({ topics: [{ topic, numPartitions: 3, replicationFactor: 3, configs: { 'min.insync.replicas': '2' } }] });
  await cluster.waitForLeaders(topic, 3, 3);
  await produce(30);
  quorumBefore = await quorum();
}, 90_000);

afterAll(async () => {
  for (const raw of raws) raw.close();
  await kactus?.close().catch(() => undefined);
  await killAllChildren();
  await cluster?.cleanup();
});

describe('frames that used to crash a broker are dropped, no hello needed', () => {
  it('a version whose toString is not callable, a close reason of multi-byte characters, a version nested 4,000 deep', async () => {
    const frames: Buffer[] = [pack([{ toString: 0 }, 0]), pack(['é'.repeat(60), 0])];
    // [[[...[1]...]], 0] with the version 4,000 arrays deep, as bytes (msgpackr's own pack recurses too deep to build it).
    frames.push(Buffer.concat([Buffer.from([0x92]), Buffer.alloc(4_000, 0x91), Buffer.from([0x01, 0x00])]));
    // And 100,000 deep, past any recursive decoder's stack.
    frames.push(Buffer.concat([Buffer.from([0x92]), Buffer.alloc(100_000, 0x91), Buffer.from([0x01, 0x00])]));
    for (const frame of frames) {
      for (let i = 0; i < 3; i += 1) {
        const raw = await open(i % 3, false);
        raw.sendBytes(frame);
        const closed = await Promise.race([raw.closed, new Promise<null>((resolve) => setTimeout(() => resolve(null), 3_000))]);
        expect(closed, 'the link is closed').not.toBeNull();
      }
    }
    expect(frames[0]!.length).toBe(15);
    await new Promise((resolve) => setTimeout(resolve, 300));
    brokersAlive();
  });
});

describe('hostile messages after a client hello', () => {
  it('a type whose toString is not callable, to every actor path: refused, nothing restarts', async () => {
    const raw = await open();
    for (const path of ['/groups', '/transactions', '/controller', '/controller-client', '/broker', '/fetch']) {
      for (let i = 0; i < 8; i += 1) {
        const reply = await raw.ask(path, (replyTo) => ({ type: { toString: 0 }, replyTo }), 3_000);
        expect(isRefusal(reply, ErrorCode.INVALID_REQUEST), `${path}: ${JSON.stringify(reply)}`).toBe(true);
      }
    }
    brokersAlive();
  });

  it('internal messages told to /broker (a malformed image, CreateTopicsReply, AllocateProducerIdsReply, timers) are refused', async () => {
    const raw = await open();
    const forged = [
      { type: 'MetadataImageUpdated', image: 5, previous: null },
      { type: 'CreateTopicsReply', topics: 5 },
      { type: 'AllocateProducerIdsReply', errorCode: 0, producerIdStart: 0, producerIdLength: 1_000 },
      { type: 'CheckpointHighWatermarks' },
      { type: 'Housekeeping' },
      { type: 'PauseFetcher', leaderId: 1 },
      { type: 'ReplicaRestarted', key: `${topic}-0` },
    ];
    for (const message of forged) {
      const reply = await raw.ask('/broker', () => message, 3_000);
      expect(isRefusal(reply, ErrorCode.CLUSTER_AUTHORIZATION_FAILED), `${message.type}: ${JSON.stringify(reply)}`).toBe(true);
    }
    // 2,000 timer tells: refused before the actor, so /broker still answers at once.
    for (let i = 0; i < 2_000; i += 1) raw.tell('/broker', { type: 'CheckpointHighWatermarks' });
    const started = Date.now();
    const metadata = await raw.ask('/broker', (replyTo) => ({ type: 'Metadata', topics: null, replyTo }), 5_000);
    expect(metadata).toMatchObject({ type: 'MetadataReply' });
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it('two idempotent producers never share a producer id after a forged AllocateProducerIdsReply', async () => {
    const raw = await open();
    for (const broker of [0, 1, 2]) {
      const other = await open(broker);
      other.tell('/broker', { type: 'AllocateProducerIdsReply', errorCode: 0, producerIdStart: 0, producerIdLength: 1_000 });
    }
    const ids = new Set<number>();
    for (let i = 0; i < 4; i += 1) {
      const reply = (await raw.ask('/broker', (replyTo) => ({ type: 'InitProducerId', transactionalId: null, transactionTimeoutMs: 60_000, replyTo }), 5_000)) as { producerId: number };
      ids.add(reply.producerId);
    }
    expect(ids.size).toBe(4);
  });

  it('Terminated for a broker\'s controller client, told to every /controller: refused, the broker stays unfenced', async () => {
    for (const broker of [0, 1, 2]) {
      const raw = await open(broker);
      raw.tell('/controller', { type: 'Terminated', ref: { node: '2', path: '/controller-client' }, reason: 'node-down' });
      const reply = await raw.ask('/controller', (replyTo) => ({ type: 'Terminated', ref: { node: '2', path: '/controller-client' }, reason: 'stopped', replyTo }), 3_000);
      expect(isRefusal(reply, ErrorCode.CLUSTER_AUTHORIZATION_FAILED)).toBe(true);
    }
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    await clusterIntact();
  });

  it('controller calls and requests (FenceBroker, AlterPartition, RegisterBroker of a fake broker 9) are refused', async () => {
    const commands = [
      { type: 'FenceBroker', brokerId: 2, brokerEpoch: null },
      { type: 'AlterPartition', brokerId: 1, brokerEpoch: 0, topics: [{ name: topic, partitions: [{ partition: 0, leaderEpoch: 0, isr: [1] }] }] },
      { type: 'RegisterBroker', brokerId: 9, incarnationId: 'fake', host: '127.0.0.1', port: 1, rack: null },
      { type: 'BrokerHeartbeat', brokerId: 9, brokerEpoch: 0, wantFence: false },
    ];
    for (const broker of [0, 1, 2]) {
      const raw = await open(broker);
      for (const command of commands) {
        const viaClient = await raw.ask('/controller-client', (replyTo) => ({ type: 'ControllerCall', command, replyTo }), 3_000);
        expect(isRefusal(viaClient, ErrorCode.CLUSTER_AUTHORIZATION_FAILED), JSON.stringify(viaClient)).toBe(true);
        const direct = await raw.ask('/controller', (replyTo) => ({ type: 'ControllerRequest', command, replyTo }), 3_000);
        expect(isRefusal(direct, ErrorCode.CLUSTER_AUTHORIZATION_FAILED), JSON.stringify(direct)).toBe(true);
        const viaAdmin = (await raw.ask('/broker', (replyTo) => ({ type: 'Admin', command, replyTo }), 3_000)) as { errorReply?: boolean; errorCode?: number };
        expect(viaAdmin.errorCode).toBe(ErrorCode.CLUSTER_AUTHORIZATION_FAILED);
      }
    }
    await new Promise((resolve) => setTimeout(resolve, 500));
    await clusterIntact();
    const metadata = await cluster.metadata(null);
    expect(metadata.brokers.map((b) => b.brokerId)).not.toContain(9);
  });

  it('Raft messages from a fake leader, and a forced leadership transfer, are refused: leader and term unchanged', async () => {
    const before = await quorum();
    for (const broker of [0, 1, 2]) {
      const raw = await open(broker);
      const appendEntries = {
        type: 'RaftMessage',
        message: { type: 'AppendEntries', from: before.leaderId, to: broker + 1, term: before.term + 1, prevIndex: 0, prevTerm: 0, entries: [{ index: 1, term: before.term + 1, data: pack([{ type: 'RemoveTopic', topicId: 'nope' }]) }], commitIndex: 1 },
      };
      raw.tell('/controller', appendEntries);
      const vote = { type: 'RaftMessage', message: { type: 'RequestVote', from: (broker + 1) % 3 + 1, to: broker + 1, term: before.term + 5, lastIndex: 1_000_000, lastTerm: before.term + 5, leadershipTransfer: true } };
      const reply = await raw.ask('/controller', (replyTo) => ({ ...vote, replyTo }), 3_000);
      expect(isRefusal(reply, ErrorCode.CLUSTER_AUTHORIZATION_FAILED)).toBe(true);
    }
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    expect(await quorum()).toEqual(before);
    brokersAlive();
  });

  it('a follower fetch for another broker\'s replica id, PauseFetcher, FetchExpired and UnsubscribeMetadata are refused', async () => {
    const metadata = await cluster.metadata([topic]);
    const partition = metadata.topics[0]!.partitions[0]!;
    const leaderIndex = partition.leader - 1;
    const follower = partition.replicas.find((r) => r !== partition.leader)!;
    const raw = await open(leaderIndex);
    const fetch = await raw.ask('/fetch', (replyTo) => ({ type: 'Fetch', replicaId: follower, maxWaitMs: 0, minBytes: 0, maxBytes: 1_000_000, isolationLevel: 0, partitions: [{ topic, partition: 0, fetchOffset: 1_000, currentLeaderEpoch: partition.leaderEpoch, lastFetchedEpoch: -1, partitionMaxBytes: 1_000_000 }], replyTo }), 3_000);
    expect(isRefusal(fetch, ErrorCode.CLUSTER_AUTHORIZATION_FAILED), JSON.stringify(fetch)).toBe(true);
    for (let i = 0; i < 100; i += 1) raw.tell('/fetch', { type: 'FetchExpired', fetchId: i });
    for (const broker of [0, 1, 2]) {
      const other = await open(broker);
      other.tell('/broker', { type: 'PauseFetcher', leaderId: partition.leader });
      other.tell('/controller-client', { type: 'UnsubscribeMetadata', subscriber: { node: String(broker + 1), path: '/broker' } });
    }
    // acks=all still needs the followers: if a fetcher had paused, these would time out.
    await produce(30);
    await clusterIntact();
  });

  it('a hello claiming a broker\'s id, or a peer hello without the cluster secret, is refused and fences nobody', async () => {
    const active = (await quorum()).leaderId;
    // Claim another broker's id at the active controller (a claim of its own id is refused as that).
    const claimed = String((active % 3) + 1);
    for (let i = 0; i < 5; i += 1) {
      const claim = await rawClient(cluster.brokers[active - 1]!.url, { nodeId: claimed, incarnation: `forged-${i}` });
      raws.push(claim);
      claim.send({ kind: Kind.Hello, nodeId: claimed, incarnation: `forged-${i}`, listenUrl: 'ws://127.0.0.1:1', role: 'client', challenge: Buffer.alloc(32, 1), proof: null });
      const closed = await claim.closed;
      expect(closed.code).toBe(1008);
      const peer = await rawClient(cluster.brokers[active - 1]!.url, { nodeId: claimed, incarnation: `forged-peer-${i}` });
      raws.push(peer);
      await peer.helloAsPeer(Buffer.from('not-the-cluster-secret-at-all'));
      const peerClosed = await peer.closed;
      expect(peerClosed.code).toBe(1008);
    }
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    await clusterIntact();
  });

  it('a reply slot on another node, or a reply to an ask nobody made of us, goes nowhere', async () => {
    const raw = await open();
    const confused = await raw.ask('/broker', () => ({ type: 'Metadata', topics: null, replyTo: { node: '2', path: '/controller' } }), 2_000);
    expect(isRefusal(confused, ErrorCode.CLUSTER_AUTHORIZATION_FAILED)).toBe(true);
    // Forged answers to whatever asks the broker may have pending.
    for (let i = 1; i < 200; i += 1) raw.tell(`/temp/${i}`, { type: 'FetchMetadataReply', errorCode: 0, entries: [], highWatermark: 0 });
    raw.send({ kind: Kind.ErrorReply, replyToPath: '/temp/1', errorCode: ErrorCode.NOT_CONTROLLER, errorMessage: 'forged' });
    raw.send({ kind: Kind.Watch, watcherPath: '/x', targetPath: '/broker' });
    await new Promise((resolve) => setTimeout(resolve, 500));
    await clusterIntact();
  });
});

describe('after every probe', () => {
  it('the quorum kept its leader and term, and every acknowledged record is there', async () => {
    expect(await quorum()).toEqual(quorumBefore);
    await produce(30);
    const latest = await kactus.admin().listOffsets({ topic, at: 'latest' });
    expect(latest.reduce((sum, o) => sum + o.offset, 0)).toBe(acknowledged);
    brokersAlive();
  });
});
