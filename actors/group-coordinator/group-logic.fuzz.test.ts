/**
 * Group logic under random traffic: clients join, sync (as leader or not),
 * heartbeat, leave, commit (good and bad offsets), fetch, describe, delete,
 * commit inside transactions (members or not, zombie epochs) and end them;
 * time jumps; writes succeed or fail; the partition is unloaded.
 * Goal: nothing throws (the logic asserts its invariants after every step),
 * no request is answered twice, a member's commit (plain or transactional)
 * is accepted only in the group's generation when it arrived (a zombie of an
 * older generation never moves the group's position), and once writes
 * complete and time runs out every request has been answered. Method: fast-check generates the action
 * list; clients learn member ids and generations from their replies as real
 * consumers do, and sometimes lie (stale generations, unknown ids).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../../protocol/errors.ts';
import { encodeSubscription } from '../../protocol/consumer/consumer-protocol.ts';
import {
  emptyGroup,
  groupConfigDefault,
  nextDeadlineMs,
  step,
  type GroupConfig,
  type GroupEffect,
  type GroupInput,
  type GroupReply,
  type GroupState,
  type JoinGroupReply,
  type ReplyTarget,
} from './group-logic.ts';

const config: GroupConfig = { ...groupConfigDefault, sessionTimeoutMsMin: 10, initialRebalanceDelayMs: 50, groupSizeMax: 3 };

type Action =
  | { kind: 'join'; client: number; forget: boolean; topics: number }
  | { kind: 'sync'; client: number; staleGeneration: boolean }
  | { kind: 'heartbeat'; client: number; staleGeneration: boolean }
  | { kind: 'leave'; client: number; byInstance: boolean }
  | { kind: 'commit'; client: number; standalone: boolean; offset: number; generationDelta: number }
  | { kind: 'txnCommit'; client: number; producer: number; asMember: boolean; epochDelta: number; offset: number; generationDelta: number }
  | { kind: 'txnMarker'; producer: number; commit: boolean }
  | { kind: 'fetch' }
  | { kind: 'describe' }
  | { kind: 'delete' }
  | { kind: 'offsetDelete'; topic: number; partition: number }
  | { kind: 'advance'; ms: number }
  | { kind: 'persist'; errorCode: number }
  | { kind: 'expire'; retentionMs: number }
  | { kind: 'unload' };

const client = fc.integer({ min: 0, max: 4 });
/** Mostly the generation the client learned; sometimes an older one (a zombie) or one the group never had. */
const generationDelta = fc.constantFrom(0, 0, 0, -1, -2, 1);
const actionArb: fc.Arbitrary<Action> = fc.oneof(
  { weight: 24, arbitrary: fc.record({ kind: fc.constant('join' as const), client, forget: fc.boolean(), topics: fc.integer({ min: 0, max: 2 }) }) },
  { weight: 12, arbitrary: fc.record({ kind: fc.constant('sync' as const), client, staleGeneration: fc.boolean() }) },
  { weight: 9, arbitrary: fc.record({ kind: fc.constant('heartbeat' as const), client, staleGeneration: fc.boolean() }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('leave' as const), client, byInstance: fc.boolean() }) },
  { weight: 6, arbitrary: fc.record({ kind: fc.constant('commit' as const), client, standalone: fc.boolean(), offset: fc.integer({ min: -2, max: 100 }), generationDelta }) },
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant('txnCommit' as const),
      client,
      producer: fc.integer({ min: 0, max: 1 }),
      asMember: fc.boolean(),
      epochDelta: fc.constantFrom(0, 0, 0, -1),
      offset: fc.integer({ min: -1, max: 100 }),
      generationDelta,
    }),
  },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('txnMarker' as const), producer: fc.integer({ min: 0, max: 1 }), commit: fc.boolean() }) },
  { weight: 2, arbitrary: fc.constant({ kind: 'fetch' as const }) },
  { weight: 2, arbitrary: fc.constant({ kind: 'describe' as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'delete' as const }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('offsetDelete' as const), topic: fc.integer({ min: 0, max: 2 }), partition: client }) },
  { weight: 12, arbitrary: fc.record({ kind: fc.constant('advance' as const), ms: fc.oneof(fc.integer({ min: 1, max: 100 }), fc.integer({ min: 1, max: 1_500 })) }) },
  {
    weight: 12,
    arbitrary: fc.record({
      kind: fc.constant('persist' as const),
      errorCode: fc.constantFrom(ErrorCode.NONE, ErrorCode.NONE, ErrorCode.NONE, ErrorCode.NOT_LEADER_OR_FOLLOWER, ErrorCode.REQUEST_TIMED_OUT),
    }),
  },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('expire' as const), retentionMs: fc.integer({ min: 0, max: 3_000 }) }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'unload' as const }) },
);

/** Coverage across runs: the traffic must reach every state, or the property proves little. */
const phasesSeen = new Set<string>();

type Client = { memberId: string; generationId: number; leader: boolean; members: string[]; instance: string | null };

class World {
  state: GroupState = emptyGroup('g', config);
  nowMs = 0;
  seq = 0;
  outstanding: { persistId: number }[] = [];
  /** Each transactional producer's epoch (KIP-890: bumped by each marker). */
  readonly producerEpochs = [0, 0];
  readonly asked = new Set<string>();
  /** Member commits in flight: the generation each claimed, and the group's when it arrived. */
  readonly commitGenerations = new Map<string, { claimed: number; group: number }>();
  readonly answered = new Map<string, number>();
  readonly clients: Client[] = Array.from({ length: 5 }, (_, i) => ({
    memberId: '',
    generationId: -1,
    leader: false,
    members: [],
    instance: i >= 3 ? `static-${i}` : null, // clients 3 and 4 are static members
  }));

  private target(kind: string, index: number | null): ReplyTarget {
    this.seq += 1;
    const path = `${kind}:${index ?? '-'}:${this.seq}`;
    this.asked.add(path);
    return { node: 'test', path };
  }

  private send(input: GroupInput): void {
    const [next, effects] = step(this.state, input, this.nowMs);
    expect(next.generationId).toBeGreaterThanOrEqual(this.state.generationId); // generations never go back
    this.state = next;
    phasesSeen.add(next.phase);
    if (next.phase === 'Stable' && next.members.size > 1) phasesSeen.add('Stable with 2+ members');
    for (const e of effects) this.observe(e);
  }

  private observe(e: GroupEffect): void {
    if (e.type === 'PersistGroupMetadata' || e.type === 'PersistOffsets' || e.type === 'PersistTxnOffsets') this.outstanding.push({ persistId: e.persistId });
    if (e.type !== 'Reply') return;
    expect(this.asked.has(e.to.path)).toBe(true);
    this.answered.set(e.to.path, (this.answered.get(e.to.path) ?? 0) + 1);
    expect(this.answered.get(e.to.path)).toBe(1);
    const [kind, index] = e.to.path.split(':');
    if (kind === 'join' && index !== '-') this.learn(this.clients[Number(index)]!, e.reply);
    const generations = this.commitGenerations.get(e.to.path);
    if (generations !== undefined) {
      const results = (e.reply as { results?: readonly { errorCode: number }[] }).results ?? [];
      // Accepted means the claimed generation was the group's: never an older (or unknown) one.
      if (results.some((r) => r.errorCode === ErrorCode.NONE)) expect(generations.claimed).toBe(generations.group);
    }
  }

  private learn(c: Client, reply: GroupReply): void {
    if (reply.type !== 'JoinGroupReply') return;
    const join = reply as JoinGroupReply;
    if (join.errorCode === ErrorCode.NONE || join.errorCode === ErrorCode.MEMBER_ID_REQUIRED) c.memberId = join.memberId;
    if (join.errorCode === ErrorCode.NONE) {
      c.generationId = join.generationId;
      c.leader = join.leader === join.memberId;
      c.members = join.members.map((m) => m.memberId);
    }
    if (join.errorCode === ErrorCode.UNKNOWN_MEMBER_ID || join.errorCode === ErrorCode.FENCED_INSTANCE_ID) c.memberId = '';
  }

  apply(a: Action): void {
    const groupId = 'g';
    switch (a.kind) {
      case 'join': {
        const c = this.clients[a.client]!;
        if (a.forget) c.memberId = '';
        this.send({
          type: 'JoinGroup', groupId, memberId: c.memberId, groupInstanceId: c.instance, clientId: `c${a.client}`, clientHost: 'h',
          sessionTimeoutMs: 1_000, rebalanceTimeoutMs: 400 + 100 * a.client, protocolType: 'consumer',
          protocols: [{ name: 'range', metadata: encodeSubscription({ topics: [`t${a.topics}`], userData: null, ownedPartitions: [], generationId: -1, rackId: null }) }],
          reason: null, memberIdSuffix: `u${this.seq}`, replyTo: this.target('join', a.client),
        });
        return;
      }
      case 'sync': {
        const c = this.clients[a.client]!;
        const assignments = c.leader ? c.members.map((memberId) => ({ memberId, assignment: new Uint8Array([1]) })) : [];
        this.send({
          type: 'SyncGroup', groupId, memberId: c.memberId, groupInstanceId: c.instance, generationId: a.staleGeneration ? c.generationId - 1 : c.generationId,
          protocolType: 'consumer', protocolName: null, assignments, replyTo: this.target('sync', a.client),
        });
        return;
      }
      case 'heartbeat': {
        const c = this.clients[a.client]!;
        this.send({
          type: 'Heartbeat', groupId, memberId: c.memberId, groupInstanceId: c.instance,
          generationId: a.staleGeneration ? c.generationId - 1 : c.generationId, replyTo: this.target('heartbeat', a.client),
        });
        return;
      }
      case 'leave': {
        const c = this.clients[a.client]!;
        const members = a.byInstance && c.instance !== null ? [{ memberId: '', groupInstanceId: c.instance, reason: null }] : [{ memberId: c.memberId, groupInstanceId: c.instance, reason: null }];
        this.send({ type: 'LeaveGroup', groupId, members, replyTo: this.target('leave', a.client) });
        return;
      }
      case 'commit': {
        const c = this.clients[a.client]!;
        const replyTo = this.target('commit', a.client);
        const generationId = a.standalone ? -1 : c.generationId + a.generationDelta;
        // A request naming no member and no generation is a standalone commit, outside the property.
        if (!a.standalone && (generationId >= 0 || c.memberId !== '')) this.commitGenerations.set(replyTo.path, { claimed: generationId, group: this.state.generationId });
        this.send({
          type: 'OffsetCommit', groupId, memberId: a.standalone ? '' : c.memberId, groupInstanceId: a.standalone ? null : c.instance,
          generationId, offsets: [{ topic: 't0', partition: a.client, offset: a.offset, leaderEpoch: -1, metadata: null }],
          replyTo,
        });
        return;
      }
      case 'txnCommit': {
        const c = this.clients[a.client]!;
        const replyTo = this.target('txn', a.client);
        const generationId = a.asMember ? c.generationId + a.generationDelta : -1;
        if (a.asMember && (generationId >= 0 || c.memberId !== '')) this.commitGenerations.set(replyTo.path, { claimed: generationId, group: this.state.generationId });
        this.send({
          type: 'TxnOffsetCommit', transactionalId: `tx${a.producer}`, groupId, producerId: 10 + a.producer,
          producerEpoch: Math.max(0, this.producerEpochs[a.producer]! + a.epochDelta),
          memberId: a.asMember ? c.memberId : '', groupInstanceId: a.asMember ? c.instance : null, generationId,
          offsets: [{ topic: 't1', partition: a.client, offset: a.offset, metadata: null }], replyTo,
        });
        return;
      }
      case 'txnMarker':
        this.producerEpochs[a.producer]! += 1;
        this.send({ type: 'CompleteTxnOffsets', producerId: 10 + a.producer, producerEpoch: this.producerEpochs[a.producer]!, result: a.commit ? 'commit' : 'abort' });
        return;
      case 'fetch':
        this.send({ type: 'OffsetFetch', groupId, partitions: null, requireStable: this.seq % 2 === 0, replyTo: this.target('fetch', null) });
        return;
      case 'describe':
        this.send({ type: 'DescribeGroup', groupId, replyTo: this.target('describe', null) });
        return;
      case 'delete':
        this.send({ type: 'DeleteGroup', groupId, replyTo: this.target('delete', null) });
        return;
      case 'offsetDelete':
        this.send({ type: 'OffsetDelete', groupId, partitions: [{ topic: `t${a.topic}`, partition: a.partition }], replyTo: this.target('offsetDelete', null) });
        return;
      case 'advance':
        this.nowMs += a.ms;
        this.send({ type: 'Tick' });
        return;
      case 'persist': {
        const batch = this.outstanding;
        this.outstanding = [];
        for (const p of batch) this.send({ type: 'PersistCompleted', persistId: p.persistId, errorCode: a.errorCode });
        return;
      }
      case 'expire':
        this.send({ type: 'ExpireOffsets', retentionMs: a.retentionMs });
        return;
      case 'unload':
        this.send({ type: 'Unload' });
        return;
    }
  }

  /** Writes complete and time runs on until nothing is due. */
  quiesce(): void {
    for (let i = 0; i < 50; i++) {
      this.apply({ kind: 'persist', errorCode: ErrorCode.NONE });
      const next = nextDeadlineMs(this.state);
      if (next === null && this.outstanding.length === 0) return;
      this.nowMs = Math.max(this.nowMs, next ?? this.nowMs) + 1;
      this.send({ type: 'Tick' });
    }
    throw new Error('group did not quiesce');
  }
}

describe('group logic under random traffic', () => {
  it('never throws, answers each request exactly once, and leaves nothing waiting', () => {
    fc.assert(
      fc.property(fc.array(actionArb, { minLength: 5, maxLength: 120, size: 'max' }), (actions) => {
        const world = new World();
        for (const a of actions) world.apply(a);
        world.quiesce();
        const unanswered = [...world.asked].filter((path) => !world.answered.has(path));
        expect(unanswered).toEqual([]);
        expect(['Empty', 'Dead']).toContain(world.state.phase); // everyone's session ran out
      }),
      { numRuns: Number(process.env.GROUP_FUZZ_RUNS ?? 400) },
    );
    expect([...phasesSeen].sort()).toEqual(['CompletingRebalance', 'Dead', 'Empty', 'PreparingRebalance', 'Stable', 'Stable with 2+ members']);
  });
});
