/**
 * Replacing a controller across real processes (#17, KIP-853 style): three
 * bootstrap voters (actors/broker-main.ts, free ports of 127.0.0.1, own data
 * dirs), and broker 4 started with process.roles=broker,controller, an
 * observer of the quorum. Goal: AddVoter 4 (learner, catch-up, promotion),
 * RemoveVoter of the active controller itself (it hands over and steps down),
 * then SIGTERM of that broker, while metadata keeps committing throughout.
 * Method: this process runs a small peer Node (the test's cluster secret)
 * that sends VoterChange to /controller and, every commitIntervalMs, a
 * CreateTopics through broker 4's /controller-client (never stopped); it
 * measures the longest gap between successful commits (printed, under a hang
 * bound: commits must resume, how soon is not asserted) and checks at the end
 * that every topic created exists on the new active controller. Every child
 * is killed in afterEach, also on failure.
 */
import { testClusterSecret } from './support/secret.ts';
import { afterEach, describe, expect, it } from 'vitest';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Node } from '../runtime/node.ts';
import { createLogger } from '../runtime/logger.ts';
import { nodeIdOf } from '../actors/broker/config.ts';
import { controllerRef } from '../actors/controller/actor.ts';
import { controllerClientRef } from '../actors/controller/client.ts';
import type { ControllerCallReply, ControllerClientMessage, ControllerMessage, DescribeQuorumReply, GetMetadataReply, VoterChangeReply } from '../actors/controller/messages.ts';
import { validateVoterChangeReply } from '../actors/controller/messages.ts';
import { freePort, killAllChildren, startChild, type Child } from './support/processes.ts';
import { withOutput } from '../cli/output.ts';
import { ErrorCode } from '../protocol/errors.ts';
import { main } from '../cli/main.ts';

/** Runs a `kactus` command in this process (the CLI reads the cluster secret from KACTUS_CLUSTER_SECRET, set by testClusterSecret). */
async function kactus(args: string[]): Promise<{ code: number; stdout: string }> {
  let stdout = '';
  const code = await withOutput({ stdout: (text) => (stdout += text), stderr: () => undefined }, () => main(args));
  return { code, stdout };
}

const bootstrapIds = [1, 2, 3] as const;
const allIds = [1, 2, 3, 4] as const;
/** One CreateTopics every this often... */
const commitIntervalMs = 150;
/** ...at most this many, and for at most this long. */
const commitsMax = 400;
const commitLoopMsMax = 60_000;
/** A hang bound, not a latency limit: an election after the removal takes well under a second here. */
const commitGapHangBoundMs = 15_000;

const cleanup: { nodes: Node[]; dirs: string[] } = { nodes: [], dirs: [] };
afterEach(async () => {
  await killAllChildren();
  await Promise.all(cleanup.nodes.splice(0).map((n) => n.stop()));
  await Promise.all(cleanup.dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })));
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function until<T>(probe: () => Promise<T | undefined>, timeoutMs: number, what: string, everyMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}

const describeQuorum = (client: Node, id: number) =>
  client.ask<ControllerMessage, DescribeQuorumReply>(controllerRef(id), (replyTo) => ({ type: 'DescribeQuorum', replyTo }), { timeoutMs: 500 }).catch(() => undefined);

async function activeController(client: Node, among: readonly number[]): Promise<number | undefined> {
  const replies = await Promise.all(among.map((id) => describeQuorum(client, id)));
  const active = replies.filter((r) => r?.active === true);
  return active.length === 1 ? active[0]!.brokerId : undefined;
}

/** Sends a VoterChange to the active controller, following NotController, until it is answered. */
async function changeVoters(client: Node, among: readonly number[], type: 'AddVoter' | 'RemoveVoter', brokerId: number): Promise<VoterChangeReply> {
  return until(async () => {
    const target = await activeController(client, among);
    if (target === undefined) return undefined;
    const raw = await client
      .ask<ControllerMessage, unknown>(controllerRef(target), (replyTo) => ({ type: 'VoterChange', change: { type, brokerId }, replyTo }), { timeoutMs: 20_000 })
      .catch(() => undefined);
    const reply = validateVoterChangeReply(raw);
    if (raw === undefined || 'invalid' in reply || reply.type !== 'VoterChangeReply') return undefined;
    // Another change (or the new leader's first entry) not committed yet: retry.
    if (reply.errorMessage?.includes('retry')) return undefined;
    return reply;
  }, 40_000, `${type} ${brokerId}`, 200);
}

describe('controller voters (4 broker processes)', () => {
  it('adds broker 4 as a voter and removes the active controller while metadata keeps committing', { timeout: 180_000 }, async () => {
    const dataRoot = await mkdtemp(join(tmpdir(), 'kactus-voters-'));
    cleanup.dirs.push(dataRoot);
    const ports = new Map<number, number>();
    for (const id of allIds) ports.set(id, await freePort());
    const quorum = bootstrapIds.map((id) => `${id}@127.0.0.1:${ports.get(id)}`).join(',');
    const children = new Map<number, Child>();
    for (const id of allIds) {
      const args = ['--node-id', String(id), '--listen', `127.0.0.1:${ports.get(id)}`, '--controller-quorum', quorum, '--data', join(dataRoot, `broker-${id}`)];
      if (id === 4) args.push('--set', 'process.roles=broker,controller');
      children.set(id, startChild('actors/broker-main.ts', args, { LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn' }));
    }
    await Promise.all([...children.values()].map((child) => child.waitFor('ready', 30_000)));
    const client = await Node.start({ clusterSecret: testClusterSecret(), nodeId: 'voters-test', logger: createLogger({ node: 'voters-test' }, process.env.LOG_LEVEL ?? 'silent') });
    cleanup.nodes.push(client);
    for (const id of allIds) client.addPeer(nodeIdOf(id), `ws://127.0.0.1:${ports.get(id)}`);

    await until(() => activeController(client, bootstrapIds), 20_000, 'an active controller');
    const observer = await until(async () => {
      const q = await describeQuorum(client, 4);
      return q !== undefined && q.role !== 'Opening' ? q : undefined;
    }, 15_000, 'broker 4 controller open');
    expect(observer.observer).toBe(true);
    expect(observer.voters).toEqual([1, 2, 3]);
    await until(async () => {
      const m = await client
        .ask<ControllerClientMessage, GetMetadataReply>(controllerClientRef(4), (replyTo) => ({ type: 'GetMetadata', topics: null, replyTo }), { timeoutMs: 500 })
        .catch(() => undefined);
      return m !== undefined && m.brokers.filter((b) => !b.fenced).length === 4 ? true : undefined;
    }, 20_000, 'four registered brokers');

    // The commit loop: CreateTopics through broker 4's controller client, bounded in count and time.
    const created: string[] = [];
    let lastSuccessMs = Date.now();
    let longestGapMs = 0;
    let failures = 0;
    let running = true;
    const loopStartedMs = Date.now();
    const loop = (async () => {
      for (let i = 0; running && i < commitsMax && Date.now() - loopStartedMs < commitLoopMsMax; i++) {
        const name = `voters-${i}`;
        const reply = await client
          .ask<ControllerClientMessage, ControllerCallReply>(
            controllerClientRef(4),
            (replyTo) => ({ type: 'ControllerCall', command: { type: 'CreateTopics', topics: [{ name, numPartitions: 1, replicationFactor: 1, assignments: null, configs: [] }], validateOnly: false }, replyTo }),
            { timeoutMs: 15_000 },
          )
          .catch(() => undefined);
        const ok = reply?.type === 'CreateTopicsReply' && reply.topics[0]?.errorCode === 0;
        const nowMs = Date.now();
        if (ok) {
          longestGapMs = Math.max(longestGapMs, nowMs - lastSuccessMs);
          lastSuccessMs = nowMs;
          created.push(name);
        } else {
          failures += 1;
        }
        await sleep(commitIntervalMs);
      }
    })();

    try {
      await sleep(1_000);
      // Through the CLI: kactus cluster add-voter 4.
      const bootstrap = bootstrapIds.map((id) => `ws://127.0.0.1:${ports.get(id)}`).join(',');
      const added = await kactus(['cluster', 'add-voter', '4', '--bootstrap', bootstrap, '--json']);
      expect(added.code, added.stdout).toBe(0);
      expect(JSON.parse(added.stdout)).toMatchObject({ errorCode: 0, voters: [1, 2, 3, 4], learners: [] });
      const again = await changeVoters(client, bootstrapIds, 'AddVoter', 4);
      expect(again.errorCode).toBe(ErrorCode.DUPLICATE_VOTER);
      expect(again.errorMessage).toMatch(/already a voter/);
      await until(async () => ((await describeQuorum(client, 4))?.voters.length === 4 ? true : undefined), 10_000, 'broker 4 to see itself a voter');
      await sleep(1_000);

      const removedId = await until(() => activeController(client, allIds), 10_000, 'the active controller');
      const removed = await changeVoters(client, allIds, 'RemoveVoter', removedId);
      const remaining = allIds.filter((id) => id !== removedId);
      expect(removed).toMatchObject({ errorCode: 0, voters: remaining });
      const successorId = await until(() => activeController(client, remaining), 10_000, 'a new active controller');
      expect(remaining).toContain(successorId);
      await sleep(1_000);

      children.get(removedId)!.process.kill('SIGTERM');
      await children.get(removedId)!.exited;
      await sleep(3_000);
      running = false;
      await loop;

      const sinceLastMs = Date.now() - lastSuccessMs;
      console.log(
        `controller voters: added 4, removed active controller ${removedId} (then stopped it), successor ${successorId}; ` +
          `${created.length} CreateTopics committed, ${failures} failed, longest gap between commits ${longestGapMs} ms`,
      );
      expect(longestGapMs).toBeLessThan(commitGapHangBoundMs);
      expect(sinceLastMs).toBeLessThan(commitGapHangBoundMs);
      const finalController = await until(() => activeController(client, remaining), 10_000, 'the active controller at the end');
      const metadata = await client.ask<ControllerMessage, GetMetadataReply>(controllerRef(finalController), (replyTo) => ({ type: 'GetMetadata', topics: null, replyTo }), { timeoutMs: 5_000 });
      const names = new Set(metadata.response.topics.filter((t) => t.errorCode === 0).map((t) => t.name));
      const lost = created.filter((name) => !names.has(name));
      expect(lost).toEqual([]);
      const quorumNow = await describeQuorum(client, finalController);
      expect(quorumNow?.voters).toEqual(remaining);
      const status = await kactus(['cluster', 'status', '--bootstrap', `ws://127.0.0.1:${ports.get(4)}`, '--json']);
      expect(status.code).toBe(0);
      expect(JSON.parse(status.stdout).quorum).toMatchObject({ learners: [], observers: [] });
    } finally {
      running = false;
      await loop;
    }
  });
});
