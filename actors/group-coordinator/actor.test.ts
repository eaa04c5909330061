/**
 * The group coordinator shell on one node with stand-ins: FakeQuorum's
 * controller client (an image where this broker leads the one
 * `__consumer_offsets` partition) and a fake replica actor that appends each
 * write to the real log but answers them in reverse order. Goal: the shell
 * feeds write completions back to a group strictly in issue order (so the
 * later commit wins and replies go out in order), and a restarted `/groups`
 * reloads what the log holds. Method: local asks to `/groups`, exactly the
 * wire messages a client sends.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Node, type Behaviour } from '../../runtime/node.ts';
import { createLogger } from '../../runtime/logger.ts';
import { systemClock } from '../../runtime/clock.ts';
import type { Ref } from '../../runtime/ref.ts';
import { PartitionRegistry } from '../partition/registry.ts';
import type { Produce, ProduceReply } from '../../protocol/apis/data.ts';
import { ErrorCode } from '../../protocol/errors.ts';
import { FakeQuorum } from '../../test/support/fake-quorum.ts';
import { offsetsTopic, spawnGroupCoordinator } from './actor.ts';

type Setup = { node: Node; registry: PartitionRegistry; dir: string; produced: number[] };
let setup: Setup | undefined;

afterEach(async () => {
  if (!setup) return;
  await setup.node.stop();
  await setup.registry.closeAll();
  rmSync(setup.dir, { recursive: true, force: true });
  setup = undefined;
});

/** Holds produce requests until `batchSize` arrived, then appends them in order and answers them last first. */
function reversingReplica(registry: PartitionRegistry, produced: number[], batchSize: number): Behaviour<Produce[], Produce> {
  return {
    init: () => [],
    receive: (held, msg, ctx) => {
      held.push(msg);
      if (held.length < batchSize) return held;
      const view = registry.get(offsetsTopic, 0)!;
      const offsets = held.map((p) => view.log.append(Buffer.from(p.batch), { leaderEpoch: 0 }).baseOffset);
      view.log.setHighWatermark(view.log.logEndOffset);
      for (let i = held.length - 1; i >= 0; i -= 1) {
        produced.push(offsets[i]!);
        const reply: ProduceReply = { type: 'ProduceReply', topic: offsetsTopic, partition: 0, errorCode: 0, errorMessage: null, baseOffset: offsets[i]!, logAppendTimeMs: -1, logStartOffset: 0 };
        ctx.node.tell(held[i]!.replyTo, reply);
      }
      return [];
    },
  };
}

async function start(batchSize: number): Promise<Setup & { groups: Ref<unknown> }> {
  const dir = mkdtempSync(join(tmpdir(), 'kactus-groups-shell-'));
  const node = await Node.start({ nodeId: '1', logger: createLogger({ node: 1 }, process.env.LOG_LEVEL ?? 'silent') });
  const registry = new PartitionRegistry(join(dir, 'partitions'), systemClock);
  const view = registry.open(offsetsTopic, 0, {});
  view.role = 'leader';
  view.leaderEpoch = 0;
  view.leaderId = 1;
  const quorum = new FakeQuorum();
  quorum.registerBroker(1, 'ws://127.0.0.1:9999');
  quorum.call({ type: 'CreateTopics', validateOnly: false, topics: [{ name: offsetsTopic, numPartitions: 1, replicationFactor: 1, assignments: null, configs: [] }] });
  const controllerClient = quorum.attach(node);
  const produced: number[] = [];
  const replicas = node.spawn('replicas', { init: () => null, receive: (s: null) => s });
  node.spawn(`${offsetsTopic}-0`, reversingReplica(registry, produced, batchSize), replicas);
  const { groups } = spawnGroupCoordinator(node, {
    config: { brokerId: 1, offsetsTopicNumPartitions: 1, offsetsTopicReplicationFactor: 1, groupInitialRebalanceDelayMs: 0 },
    registry,
    clock: systemClock,
    controllerClient,
  });
  setup = { node, registry, dir, produced };
  return { ...setup, groups };
}

const commit = (offset: number) => ({ type: 'OffsetCommit', groupId: 'g', memberId: '', groupInstanceId: null, generationId: -1, offsets: [{ topic: 't', partition: 0, offset, metadata: null }] });

async function askUntilServed<R extends { errorCode?: number }>(node: Node, groups: Ref<unknown>, message: Record<string, unknown>): Promise<R> {
  const deadlineMs = Date.now() + 5_000;
  for (;;) {
    const reply = await node.ask<unknown, R>(groups, (replyTo) => ({ ...message, replyTo }), { timeoutMs: 2_000 });
    if (reply.errorCode !== ErrorCode.COORDINATOR_LOAD_IN_PROGRESS && reply.errorCode !== ErrorCode.NOT_COORDINATOR) return reply;
    if (Date.now() > deadlineMs) return reply;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe('group coordinator shell', () => {
  it('feeds write completions back in issue order when the replica answers out of order: the later commit wins', async () => {
    const { node, groups, produced } = await start(2);
    // Wait until the partition is loaded (an empty log).
    await askUntilServed(node, groups, { type: 'OffsetFetch', groupId: 'g', partitions: null });
    const order: number[] = [];
    const first = node.ask<unknown, { results: { errorCode: number }[] }>(groups, (replyTo) => ({ ...commit(1), replyTo }), { timeoutMs: 5_000 }).then((r) => (order.push(1), r));
    const second = node.ask<unknown, { results: { errorCode: number }[] }>(groups, (replyTo) => ({ ...commit(2), replyTo }), { timeoutMs: 5_000 }).then((r) => (order.push(2), r));
    expect((await first).results[0]!.errorCode).toBe(0);
    expect((await second).results[0]!.errorCode).toBe(0);
    expect(produced).toEqual([1, 0]); // the replica answered the second write first
    expect(order).toEqual([1, 2]);
    const fetched = await node.ask<unknown, { offsets: { offset: number }[] }>(groups, (replyTo) => ({ type: 'OffsetFetch', groupId: 'g', partitions: null, replyTo }));
    expect(fetched.offsets.map((o) => o.offset)).toEqual([2]);

    // A crashed /groups comes back empty, re-learns its partition from the registry and reloads the log.
    expect(node.crashActor('/groups')).toBe(true);
    await new Promise((resolve) => setTimeout(resolve, 50));
    const reloaded = await askUntilServed<{ errorCode: number; offsets: { offset: number }[] }>(node, groups, { type: 'OffsetFetch', groupId: 'g', partitions: null });
    expect(reloaded.errorCode).toBe(0);
    expect(reloaded.offsets.map((o) => o.offset)).toEqual([2]);
  });

  it('answers NOT_COORDINATOR once the registry says it no longer leads, without waiting for the broker', async () => {
    const { node, groups, registry } = await start(1);
    const served = await askUntilServed<{ errorCode: number }>(node, groups, { type: 'DescribeGroup', groupId: 'g' });
    expect(served.errorCode).toBe(ErrorCode.GROUP_ID_NOT_FOUND);
    registry.get(offsetsTopic, 0)!.role = 'follower';
    // A hint (what the broker sends) makes it look now; reconciliation would find it within reconcileIntervalMs anyway.
    node.tell({ node: '1', path: '/groups' }, { type: 'OffsetsPartitionResigned', partition: 0 });
    const deadlineMs = Date.now() + 3_000;
    let code = -2;
    while (code !== ErrorCode.NOT_COORDINATOR && Date.now() < deadlineMs) {
      code = (await node.ask<unknown, { errorCode: number }>(groups, (replyTo) => ({ type: 'DescribeGroup', groupId: 'g', replyTo }))).errorCode;
    }
    expect(code).toBe(ErrorCode.NOT_COORDINATOR);
  });
});
