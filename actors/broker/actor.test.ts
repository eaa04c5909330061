/**
 * The broker actor on one node with stand-ins: FakeQuorum's controller client
 * (an image where broker 1 leads `t-0` and follows broker 2 on `t-1`; broker 2 is not there, so the fetcher only retries), idle
 * `/replicas` and `/fetchers` supervisors and a stub `/fetch`. Goal: malformed
 * local messages (a CreateTopicsReply with `topics: 5`, an image that is not
 * one, a producer-id reply with an object for its error code, stale timers)
 * are dropped without a crash, and a crashed `/broker` restarts by adopting
 * its live `/replicas/<key>` and `/fetchers/<id>` instead of asserting that
 * they exist, so the node never gives up. Method: local tells to `/broker`,
 * `node.crashActor`, and the node's onGiveUp hook as the crash-loop detector.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Node } from '../../runtime/node.ts';
import { createLogger } from '../../runtime/logger.ts';
import { systemClock } from '../../runtime/clock.ts';
import type { Ref } from '../../runtime/ref.ts';
import { ErrorCode } from '../../protocol/errors.ts';
import { FakeQuorum } from '../../test/support/fake-quorum.ts';
import { PartitionRegistry } from '../partition/registry.ts';
import { brokerBehaviour, type BrokerMessage } from './actor.ts';
import { makeBrokerConfig } from './config.ts';

type Setup = { node: Node; registry: PartitionRegistry; dir: string; broker: Ref<BrokerMessage>; quorum: FakeQuorum; gaveUp: string[] };
let setup: Setup | undefined;

afterEach(async () => {
  if (!setup) return;
  await setup.node.stop();
  await setup.registry.closeAll();
  rmSync(setup.dir, { recursive: true, force: true });
  setup = undefined;
});

const idle = { init: () => null, receive: (state: null) => state };

async function start(): Promise<Setup> {
  const dir = mkdtempSync(join(tmpdir(), 'kactus-broker-actor-'));
  const gaveUp: string[] = [];
  const node = await Node.start({ nodeId: '1', logger: createLogger({ node: 1 }, process.env.LOG_LEVEL ?? 'silent'), onGiveUp: (path) => gaveUp.push(path) });
  const registry = new PartitionRegistry(join(dir, 'partitions'), systemClock);
  const quorum = new FakeQuorum();
  quorum.registerBroker(1, 'ws://127.0.0.1:1');
  quorum.registerBroker(2, 'ws://127.0.0.1:2');
  quorum.call({ type: 'CreateTopics', validateOnly: false, topics: [{ name: 't', numPartitions: -1, replicationFactor: -1, assignments: [{ partition: 0, brokerIds: [1, 2] }, { partition: 1, brokerIds: [2, 1] }], configs: [] }] });
  const controllerClient = quorum.attach(node);
  const config = makeBrokerConfig({ brokerId: 1, listenHost: '127.0.0.1', listenPort: 1, dataDir: dir, controllerQuorumVoters: new Map([[1, 'ws://127.0.0.1:1']]) }, {});
  const replicasParent = node.spawn('replicas', idle);
  const fetchersParent = node.spawn('fetchers', idle);
  const fetchServer = node.spawn('fetch', idle);
  const broker = node.spawn('broker', brokerBehaviour({ config, registry, clock: systemClock, controllerClient, fetchServer, replicasParent, fetchersParent }));
  setup = { node, registry, dir, broker, quorum, gaveUp };
  return setup;
}

async function eventually(check: () => boolean, timeoutMs = 5_000): Promise<void> {
  const deadlineMs = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadlineMs) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

type MetadataReply = { topics: { name: string; errorCode: number; partitions: { partition: number; leader: number }[] }[] };
const metadata = (s: Setup): Promise<MetadataReply> =>
  s.node.ask<BrokerMessage, MetadataReply>(s.broker, (replyTo) => ({ type: 'Metadata', topics: ['t'], allowAutoTopicCreation: false, replyTo }), { timeoutMs: 2_000 });

const hosted = (s: Setup): string[] => s.node.actorPaths().filter((p) => p.startsWith('/replicas/') || p.startsWith('/fetchers/')).sort();

describe('broker actor', () => {
  it('drops malformed local messages (CreateTopicsReply { topics: 5 }, a non-image, bad producer ids, stale timers) without a crash', async () => {
    const s = await start();
    await eventually(() => hosted(s).length === 3);
    expect(hosted(s)).toEqual(['/fetchers/2', '/replicas/t-0', '/replicas/t-1']);
    const checkpoints: string[] = [];
    for (const view of s.registry.all()) {
      const original = view.log.checkpoint.bind(view.log);
      view.log.checkpoint = () => (checkpoints.push(view.key), original());
    }
    const malformed: unknown[] = [
      { type: 'CreateTopicsReply', topics: 5 },
      { type: 'CreateTopicsReply', topics: [null, { name: { toString: 0 }, errorCode: 1 }] },
      { type: 'MetadataImageUpdated', image: 5, previous: 5 },
      { type: 'MetadataImageUpdated', image: { appliedOffset: 1e9 }, previous: null },
      { type: 'MetadataImageUpdated', image: s.quorum.image, previous: s.quorum.image, activeControllerId: { toString: 0 } },
      { type: 'AllocateProducerIdsReply', errorCode: { toString: 0 }, producerIdStart: 0, producerIdLength: 1 },
      { type: 'AllocateProducerIdsReply', errorCode: 0, producerIdStart: -5, producerIdLength: 2 ** 60 },
      { type: 'ControllerCallFailed', errorCode: { toString: 0 }, errorMessage: { toString: 0 } },
      { type: { toString: 0 } },
      { type: 'NoSuchMessage' },
    ];
    for (const message of malformed) s.node.tell(s.broker, message as BrokerMessage);
    // Timers of another incarnation (or forged ones, had the runtime let them in): each is ignored, none starts a chain.
    for (let i = 0; i < 2_000; i += 1) s.node.tell(s.broker, { type: 'CheckpointHighWatermarks', incarnation: -1 });
    for (let i = 0; i < 100; i += 1) s.node.tell(s.broker, { type: 'Housekeeping', incarnation: 0 } as BrokerMessage);
    const reply = await metadata(s);
    expect(reply.topics[0]!.errorCode).toBe(ErrorCode.NONE);
    expect(checkpoints).toEqual([]);
    expect(s.gaveUp).toEqual([]);
    expect(hosted(s)).toEqual(['/fetchers/2', '/replicas/t-0', '/replicas/t-1']);
  });

  it('a crashed /broker restarts by adopting its replicas and fetchers, again and again, and keeps serving', async () => {
    const s = await start();
    await eventually(() => hosted(s).length === 3);
    for (let crash = 0; crash < 3; crash += 1) {
      expect(s.node.crashActor('/broker')).toBe(true);
      // The restart re-applies the whole image: it would spawn /replicas/t-0 again, and the runtime asserts on that.
      await new Promise((resolve) => setTimeout(resolve, 150));
      const reply = await metadata(s);
      expect(reply.topics[0]!.partitions.map((p) => p.leader)).toEqual([1, 2]);
      expect(s.node.hasActor('/broker')).toBe(true);
    }
    expect(s.gaveUp).toEqual([]);
    expect(hosted(s)).toEqual(['/fetchers/2', '/replicas/t-0', '/replicas/t-1']);
    // The adopted replica is in charge: a produce to t-0 reaches it (a bad batch, answered by the replica itself).
    const produced = await s.node.ask<BrokerMessage, { errorCode: number }>(
      s.broker,
      (replyTo) => ({ type: 'Produce', topic: 't', partition: 0, acks: -1, timeoutMs: 1_000, transactionalId: null, batch: new Uint8Array(70), replyTo }) as BrokerMessage,
      { timeoutMs: 2_000 },
    );
    expect(produced.errorCode).not.toBe(ErrorCode.NOT_LEADER_OR_FOLLOWER);
    expect(produced.errorCode).not.toBe(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION);
  });

  it('after a restart, adopted children the image no longer claims are stopped', async () => {
    const s = await start();
    await eventually(() => hosted(s).length === 3);
    // A replica and a fetcher left behind by an earlier incarnation for a partition the image does not have.
    s.registry.open('gone', 0, {});
    s.node.spawn('gone-0', idle, { node: '1', path: '/replicas' });
    s.node.spawn('7', idle, { node: '1', path: '/fetchers' });
    expect(s.node.crashActor('/broker')).toBe(true);
    await eventually(() => !s.node.hasActor('/replicas/gone-0') && !s.node.hasActor('/fetchers/7'));
    expect(s.registry.getByKey('gone-0')).toBeUndefined();
    expect(hosted(s)).toEqual(['/fetchers/2', '/replicas/t-0', '/replicas/t-1']);
    expect(s.gaveUp).toEqual([]);
  });
});
