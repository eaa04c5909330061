/**
 * Group coordinator logic, driven input by input on a virtual clock: the
 * rebalance protocol end to end, deadlines, fencing, static membership,
 * offsets, deletion, and a load round trip through encoded records.
 * Method: a tiny harness feeds inputs to `step`, keeps the state, collects
 * replies by target, and completes persist effects when the test says so
 * (as the shell does once __consumer_offsets acknowledges the append).
 */
import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../../protocol/errors.ts';
import { assignForSync, assignorsByName } from '../../protocol/consumer/assignors/index.ts';
import { partitionKey, type TopicPartition } from '../../protocol/consumer/assignors/types.ts';
import { decodeAssignment, decodeSubscription, encodeAssignment, encodeSubscription } from '../../protocol/consumer/consumer-protocol.ts';
import {
  emptyGroup,
  groupConfigDefault,
  isDisposable,
  nextDeadlineMs,
  step,
  type GroupConfig,
  type GroupEffect,
  type GroupInput,
  type GroupReply,
  type GroupState,
  type JoinGroupReply,
  type ProtocolOffer,
  type ReplyTarget,
  type SyncGroupReply,
} from './group-logic.ts';
import { decodeRecord, encodeRecord, loadGroups, type OffsetsTopicRecord } from './offsets-records.ts';

const config: GroupConfig = { ...groupConfigDefault, sessionTimeoutMsMin: 10, initialRebalanceDelayMs: 100 };
const sessionTimeoutMs = 500;
const rebalanceTimeoutMs = 1_000;

function subscription(topics: string[]): Uint8Array {
  return encodeSubscription({ topics, userData: null, ownedPartitions: [], generationId: -1, rackId: null });
}

function protocols(topics: string[] = ['orders'], names: string[] = ['range', 'roundrobin']): ProtocolOffer[] {
  return names.map((name) => ({ name, metadata: subscription(topics) }));
}

class Harness {
  state: GroupState;
  nowMs = 0;
  private seq = 0;
  readonly persisted: OffsetsTopicRecord[] = [];
  private outstanding: { persistId: number; records: readonly OffsetsTopicRecord[] }[] = [];
  /** Every reply, by the path of the request it answers. */
  readonly replies = new Map<string, GroupReply[]>();

  constructor(groupId = 'g', cfg: GroupConfig = config) {
    this.state = emptyGroup(groupId, cfg);
  }

  target(name: string): ReplyTarget {
    this.seq += 1;
    return { node: 'client', path: `${name}#${this.seq}` };
  }

  send(input: GroupInput): GroupEffect[] {
    const [next, effects] = step(this.state, input, this.nowMs);
    this.state = next;
    for (const e of effects) {
      if (e.type === 'Reply') this.replies.set(e.to.path, [...(this.replies.get(e.to.path) ?? []), e.reply]);
      if (e.type === 'PersistGroupMetadata' || e.type === 'PersistOffsets' || e.type === 'PersistTxnOffsets') this.outstanding.push({ persistId: e.persistId, records: e.records });
    }
    return effects;
  }

  /** The shell's write finished (in issue order). */
  completePersists(errorCode: number = ErrorCode.NONE): GroupEffect[] {
    const effects: GroupEffect[] = [];
    const batch = this.outstanding;
    this.outstanding = [];
    for (const p of batch) {
      if (errorCode === ErrorCode.NONE) this.persisted.push(...p.records);
      effects.push(...this.send({ type: 'PersistCompleted', persistId: p.persistId, errorCode }));
    }
    return effects;
  }

  tick(toMs: number): GroupEffect[] {
    this.nowMs = toMs;
    return this.send({ type: 'Tick' });
  }

  reply<T extends GroupReply>(to: ReplyTarget): T | undefined {
    const list = this.replies.get(to.path);
    return list?.[list.length - 1] as T | undefined;
  }

  join(name: string, memberId: string, opts: { instance?: string | null; topics?: string[]; names?: string[] } = {}): ReplyTarget {
    const replyTo = this.target(`join-${name}`);
    this.send({
      type: 'JoinGroup',
      groupId: this.state.groupId,
      memberId,
      groupInstanceId: opts.instance ?? null,
      clientId: name,
      clientHost: '127.0.0.1',
      sessionTimeoutMs,
      rebalanceTimeoutMs,
      protocolType: 'consumer',
      protocols: protocols(opts.topics, opts.names),
      reason: null,
      memberIdSuffix: `uuid${this.seq}`,
      replyTo,
    });
    return replyTo;
  }

  /** Dynamic first join: MEMBER_ID_REQUIRED, then the join that parks. */
  joinNew(name: string, opts: { topics?: string[]; names?: string[] } = {}): { memberId: string; replyTo: ReplyTarget } {
    const first = this.join(name, '', opts);
    const required = this.reply<JoinGroupReply>(first)!;
    expect(required.errorCode).toBe(ErrorCode.MEMBER_ID_REQUIRED);
    return { memberId: required.memberId, replyTo: this.join(name, required.memberId, opts) };
  }

  sync(memberId: string, generationId: number, assignments: { memberId: string; assignment: Uint8Array }[] = [], instance: string | null = null): ReplyTarget {
    const replyTo = this.target(`sync-${memberId}`);
    this.send({ type: 'SyncGroup', groupId: this.state.groupId, memberId, groupInstanceId: instance, generationId, protocolType: null, protocolName: null, assignments, replyTo });
    return replyTo;
  }

  heartbeat(memberId: string, generationId: number, instance: string | null = null): number {
    const replyTo = this.target(`hb-${memberId}`);
    this.send({ type: 'Heartbeat', groupId: this.state.groupId, memberId, groupInstanceId: instance, generationId, replyTo });
    return (this.reply(replyTo) as { errorCode: number }).errorCode;
  }

  commit(memberId: string, generationId: number, offsets: { topic: string; partition: number; offset: number; metadata?: string | null }[], instance: string | null = null): ReplyTarget {
    const replyTo = this.target(`commit-${memberId}`);
    this.send({
      type: 'OffsetCommit',
      groupId: this.state.groupId,
      memberId,
      groupInstanceId: instance,
      generationId,
      offsets: offsets.map((o) => ({ topic: o.topic, partition: o.partition, offset: o.offset, leaderEpoch: -1, metadata: o.metadata ?? null })),
      replyTo,
    });
    return replyTo;
  }

  /** A TxnOffsetCommit from `memberId` at `generationId`; the error of its one partition (the write, if any, completes). */
  txnCommit(memberId: string, generationId: number): number {
    const replyTo = this.target(`txn-commit-${memberId}`);
    this.send({ type: 'TxnOffsetCommit', transactionalId: 'tx', groupId: this.state.groupId, producerId: 7, producerEpoch: 0, memberId, groupInstanceId: null, generationId, offsets: [{ topic: 't', partition: 0, offset: 1, metadata: null }], replyTo });
    this.completePersists();
    return (this.reply(replyTo) as unknown as { results: readonly { errorCode: number }[] }).results[0]!.errorCode;
  }

  fetch(partitions: { topic: string; partition: number }[] | null = null): ReplyTarget {
    const replyTo = this.target('fetch');
    this.send({ type: 'OffsetFetch', groupId: this.state.groupId, partitions, replyTo });
    return replyTo;
  }
}

const assignmentFor = (partitions: number[]): Uint8Array =>
  encodeAssignment({ assignedPartitions: partitions.map((partition) => ({ topic: 'orders', partition })), userData: null });

/** Three dynamic members through a full rebalance to Stable at generation 1. */
function stableGroupOfThree(): { h: Harness; ids: string[] } {
  const h = new Harness();
  const a = h.joinNew('a');
  const b = h.joinNew('b');
  const c = h.joinNew('c');
  h.tick(100); // initial delay: members kept arriving, wait once more
  expect(h.state.phase).toBe('PreparingRebalance');
  h.tick(200);
  expect(h.state.phase).toBe('CompletingRebalance');
  const ids = [a.memberId, b.memberId, c.memberId];
  for (const [i, r] of [a, b, c].entries()) expect(h.reply<JoinGroupReply>(r.replyTo)!.memberId).toBe(ids[i]);
  const syncB = h.sync(ids[1]!, 1);
  const syncC = h.sync(ids[2]!, 1);
  const syncA = h.sync(ids[0]!, 1, ids.map((memberId, i) => ({ memberId, assignment: assignmentFor([i]) })));
  expect([h.reply(syncA), h.reply(syncB), h.reply(syncC)]).toEqual([undefined, undefined, undefined]);
  h.completePersists();
  expect(h.state.phase).toBe('Stable');
  return { h, ids };
}

describe('group: full rebalance', () => {
  it('three members join, the first is leader and gets the member list, followers wait for the leader sync, which is written before anyone is answered', () => {
    const h = new Harness();
    const a = h.joinNew('a');
    expect(h.state.phase).toBe('PreparingRebalance');
    const b = h.joinNew('b');
    const c = h.joinNew('c');
    expect(h.reply(a.replyTo)).toBeUndefined(); // parked
    expect(nextDeadlineMs(h.state)).toBe(100);
    h.tick(100);
    expect(h.state.phase).toBe('PreparingRebalance'); // new members arrived during the delay
    h.tick(200);
    expect(h.state.phase).toBe('CompletingRebalance');
    expect(h.state.generationId).toBe(1);
    expect(h.state.protocolName).toBe('range');
    const replies = [a, b, c].map((m) => h.reply<JoinGroupReply>(m.replyTo)!);
    for (const r of replies) {
      expect(r.errorCode).toBe(ErrorCode.NONE);
      expect(r.generationId).toBe(1);
      expect(r.leader).toBe(a.memberId);
      expect(r.protocolName).toBe('range');
    }
    expect(replies[0]!.members.map((m) => m.memberId)).toEqual([a.memberId, b.memberId, c.memberId]);
    expect(decodeSubscription(replies[0]!.members[1]!.metadata)).toMatchObject({ ok: true, value: { topics: ['orders'] } });
    expect(replies[1]!.members).toEqual([]);

    const syncB = h.sync(b.memberId, 1);
    expect(h.reply(syncB)).toBeUndefined();
    const syncA = h.sync(a.memberId, 1, [
      { memberId: a.memberId, assignment: assignmentFor([0]) },
      { memberId: b.memberId, assignment: assignmentFor([1]) },
      { memberId: c.memberId, assignment: assignmentFor([2]) },
    ]);
    const persistEffects = h.send({ type: 'Tick' }).length; // nothing due
    expect(persistEffects).toBe(0);
    expect(h.reply(syncA)).toBeUndefined();
    const completed = h.completePersists();
    expect(completed.filter((e) => e.type === 'Reply')).toHaveLength(2);
    expect(h.state.phase).toBe('Stable');
    expect(h.reply(syncA)).toMatchObject({ errorCode: ErrorCode.NONE, assignment: assignmentFor([0]), protocolName: 'range' });
    expect(h.reply(syncB)).toMatchObject({ errorCode: ErrorCode.NONE, assignment: assignmentFor([1]) });
    // C syncs late but within the rebalance timeout: answered from the Stable group.
    const syncC = h.sync(c.memberId, 1);
    expect(h.reply(syncC)).toMatchObject({ errorCode: ErrorCode.NONE, assignment: assignmentFor([2]) });
    expect(h.heartbeat(a.memberId, 1)).toBe(ErrorCode.NONE);
    // The group metadata record carries generation, leader and assignments.
    const record = h.persisted.find((r) => r.key.type === 'GroupMetadata');
    expect(record?.value).toMatchObject({ generationId: 1, leader: a.memberId, protocol: 'range', protocolType: 'consumer' });
  });

  it('protocol selection: votes of first choices among the protocols everyone supports', () => {
    const h = new Harness();
    h.joinNew('a', { names: ['roundrobin', 'range'] });
    h.joinNew('b', { names: ['roundrobin', 'range', 'cooperative-sticky'] });
    h.joinNew('c', { names: ['range', 'roundrobin'] });
    h.tick(100);
    h.tick(200);
    expect(h.state.protocolName).toBe('roundrobin');
  });

  it('a member that did not rejoin by the rebalance deadline is removed', () => {
    const { h, ids } = stableGroupOfThree();
    const [a, b, c] = ids as [string, string, string];
    h.nowMs = 300;
    const d = h.joinNew('d');
    expect(h.state.phase).toBe('PreparingRebalance');
    expect(h.heartbeat(c, 1)).toBe(ErrorCode.REBALANCE_IN_PROGRESS); // C is told, but never rejoins
    const ja = h.join('a', a);
    const jb = h.join('b', b);
    expect(h.state.phase).toBe('PreparingRebalance');
    // C stays alive (heartbeats within its session) but is stuck and never rejoins.
    h.nowMs = 700;
    expect(h.heartbeat(c, 1)).toBe(ErrorCode.REBALANCE_IN_PROGRESS);
    h.nowMs = 1_100;
    expect(h.heartbeat(c, 1)).toBe(ErrorCode.REBALANCE_IN_PROGRESS);
    h.tick(300 + rebalanceTimeoutMs - 1);
    expect(h.state.phase).toBe('PreparingRebalance');
    h.tick(300 + rebalanceTimeoutMs);
    expect(h.state.phase).toBe('CompletingRebalance');
    expect(h.state.generationId).toBe(2);
    expect([...h.state.members.keys()].sort()).toEqual([a, b, d.memberId].sort());
    expect(h.reply<JoinGroupReply>(ja)!.members).toHaveLength(3); // A is still the leader
    expect(h.reply<JoinGroupReply>(jb)!.generationId).toBe(2);
    expect(h.heartbeat(c, 1)).toBe(ErrorCode.UNKNOWN_MEMBER_ID);
  });

  it('the join phase ends as soon as every member has rejoined', () => {
    const { h, ids } = stableGroupOfThree();
    h.join('a', ids[0]!, { topics: ['orders', 'payments'] }); // new metadata: rebalance
    expect(h.state.phase).toBe('PreparingRebalance');
    h.join('b', ids[1]!);
    h.join('c', ids[2]!);
    expect(h.state.phase).toBe('CompletingRebalance');
    expect(h.state.generationId).toBe(2);
  });

  it('session expiry removes the member and triggers a rebalance; heartbeats then get REBALANCE_IN_PROGRESS', () => {
    const { h, ids } = stableGroupOfThree();
    const [a, b, c] = ids as [string, string, string];
    h.nowMs = 400;
    expect(h.heartbeat(a, 1)).toBe(ErrorCode.NONE);
    expect(h.heartbeat(b, 1)).toBe(ErrorCode.NONE);
    // C's last contact was its sync at 200: its session ends at 700.
    h.tick(699);
    expect(h.state.phase).toBe('Stable');
    h.tick(700);
    expect(h.state.members.has(c)).toBe(false);
    expect(h.state.phase).toBe('PreparingRebalance');
    expect(h.heartbeat(a, 1)).toBe(ErrorCode.REBALANCE_IN_PROGRESS);
    h.join('a', a);
    h.join('b', b);
    expect(h.state.phase).toBe('CompletingRebalance');
    expect(h.state.members.size).toBe(2);
  });

  it('a member removed during CompletingRebalance sends waiting followers back with REBALANCE_IN_PROGRESS', () => {
    const h = new Harness();
    const a = h.joinNew('a');
    const b = h.joinNew('b');
    h.tick(100);
    h.tick(200);
    const syncB = h.sync(b.memberId, 1);
    const leave = h.target('leave');
    h.send({ type: 'LeaveGroup', groupId: 'g', members: [{ memberId: a.memberId, groupInstanceId: null, reason: null }], replyTo: leave });
    expect(h.reply(leave)).toMatchObject({ errorCode: ErrorCode.NONE, members: [{ memberId: a.memberId, errorCode: ErrorCode.NONE }] });
    expect(h.reply(syncB)).toMatchObject({ errorCode: ErrorCode.REBALANCE_IN_PROGRESS });
    expect(h.state.phase).toBe('PreparingRebalance');
    expect(h.state.leaderId).toBe(b.memberId);
  });

  it('members that never send SyncGroup are removed at the rebalance timeout', () => {
    const h = new Harness();
    const a = h.joinNew('a');
    const b = h.joinNew('b');
    h.tick(100);
    h.tick(200);
    h.sync(a.memberId, 1, [{ memberId: a.memberId, assignment: assignmentFor([0]) }]);
    h.completePersists();
    expect(h.state.phase).toBe('Stable');
    for (const t of [600, 1_000]) {
      h.nowMs = t;
      expect(h.heartbeat(a.memberId, 1)).toBe(ErrorCode.NONE);
      expect(h.heartbeat(b.memberId, 1)).toBe(ErrorCode.NONE); // heartbeats, never syncs
    }
    h.tick(200 + rebalanceTimeoutMs);
    expect(h.state.members.has(b.memberId)).toBe(false);
    expect(h.state.phase).toBe('PreparingRebalance');
  });

  it('everyone leaves: the group goes Empty, writes its empty generation, and can be deleted', () => {
    const { h, ids } = stableGroupOfThree();
    const del1 = h.target('delete');
    h.send({ type: 'DeleteGroup', groupId: 'g', replyTo: del1 });
    expect(h.reply(del1)).toMatchObject({ errorCode: ErrorCode.NON_EMPTY_GROUP });
    const leave = h.target('leave');
    h.send({ type: 'LeaveGroup', groupId: 'g', members: ids.map((memberId) => ({ memberId, groupInstanceId: null, reason: null })), replyTo: leave });
    expect(h.state.phase).toBe('Empty');
    expect(h.state.generationId).toBe(2);
    h.completePersists();
    const commit = h.commit('', -1, [{ topic: 'orders', partition: 0, offset: 5 }]);
    h.completePersists();
    expect(h.reply(commit)).toMatchObject({ results: [{ errorCode: ErrorCode.NONE }] });
    const del2 = h.target('delete');
    h.send({ type: 'DeleteGroup', groupId: 'g', replyTo: del2 });
    expect(h.reply(del2)).toBeUndefined(); // waits for the tombstones
    expect(h.state.phase).toBe('Dead');
    h.completePersists();
    expect(h.reply(del2)).toMatchObject({ errorCode: ErrorCode.NONE });
    const tombstones = h.persisted.slice(-2);
    expect(tombstones).toEqual([
      { key: { type: 'OffsetCommit', group: 'g', topic: 'orders', partition: 0 }, value: null },
      { key: { type: 'GroupMetadata', group: 'g' }, value: null },
    ]);
    expect(isDisposable(h.state)).toBe(true);
    const describe = h.target('describe');
    h.send({ type: 'DescribeGroup', groupId: 'g', replyTo: describe });
    expect(h.reply(describe)).toMatchObject({ errorCode: ErrorCode.GROUP_ID_NOT_FOUND });
  });
});

describe('group: error codes', () => {
  it.each([
    ['heartbeat, old generation', (h: Harness, ids: string[]) => h.heartbeat(ids[0]!, 0), ErrorCode.ILLEGAL_GENERATION],
    ['heartbeat, unknown member', (h: Harness) => h.heartbeat('nobody', 1), ErrorCode.UNKNOWN_MEMBER_ID],
    ['heartbeat, unknown instance id', (h: Harness, ids: string[]) => h.heartbeat(ids[0]!, 1, 'ghost'), ErrorCode.UNKNOWN_MEMBER_ID],
    [
      'sync, old generation',
      (h: Harness, ids: string[]) => (h.reply(h.sync(ids[1]!, 0)) as { errorCode: number }).errorCode,
      ErrorCode.ILLEGAL_GENERATION,
    ],
    [
      'sync, unknown member',
      (h: Harness) => (h.reply(h.sync('nobody', 1)) as { errorCode: number }).errorCode,
      ErrorCode.UNKNOWN_MEMBER_ID,
    ],
    [
      'commit, old generation',
      (h: Harness, ids: string[]) => (h.reply(h.commit(ids[0]!, 0, [{ topic: 't', partition: 0, offset: 1 }])) as unknown as { results: readonly { errorCode: number }[] }).results[0]!.errorCode,
      ErrorCode.ILLEGAL_GENERATION,
    ],
    [
      'commit, unknown member',
      (h: Harness) => (h.reply(h.commit('nobody', 1, [{ topic: 't', partition: 0, offset: 1 }])) as unknown as { results: readonly { errorCode: number }[] }).results[0]!.errorCode,
      ErrorCode.UNKNOWN_MEMBER_ID,
    ],
    // A transactional producer's offsets for its consumer (KIP-447): a zombie of an older generation must not
    // move the group's position, member id or not, nor a member claiming a generation the group never had.
    ['txn commit, known member of an older generation', (h: Harness, ids: string[]) => h.txnCommit(ids[0]!, 0), ErrorCode.ILLEGAL_GENERATION],
    ['txn commit, known member of a newer generation', (h: Harness, ids: string[]) => h.txnCommit(ids[0]!, 2), ErrorCode.ILLEGAL_GENERATION],
    ['txn commit, unknown member', (h: Harness) => h.txnCommit('nobody', 1), ErrorCode.UNKNOWN_MEMBER_ID],
    ['txn commit, current member and generation', (h: Harness, ids: string[]) => h.txnCommit(ids[0]!, 1), ErrorCode.NONE],
    [
      'standalone commit to a group with members',
      (h: Harness) => (h.reply(h.commit('', -1, [{ topic: 't', partition: 0, offset: 1 }])) as unknown as { results: readonly { errorCode: number }[] }).results[0]!.errorCode,
      ErrorCode.UNKNOWN_MEMBER_ID,
    ],
    [
      'rejoin with an unknown member id',
      (h: Harness) => h.reply<JoinGroupReply>(h.join('x', 'nobody'))!.errorCode,
      ErrorCode.UNKNOWN_MEMBER_ID,
    ],
    [
      'join with a protocol no member supports',
      (h: Harness) => h.reply<JoinGroupReply>(h.join('x', '', { names: ['cooperative-sticky'] }))!.errorCode,
      ErrorCode.INCONSISTENT_GROUP_PROTOCOL,
    ],
  ])('%s', (_name, act, expected) => {
    const { h, ids } = stableGroupOfThree();
    expect(act(h, ids)).toBe(expected);
  });

  it('join validation: session timeout bounds, empty protocol list, group size', () => {
    const h = new Harness('g', { ...config, groupSizeMax: 1 });
    const bad = h.target('bad');
    h.send({
      type: 'JoinGroup', groupId: 'g', memberId: '', groupInstanceId: null, clientId: 'x', clientHost: 'h', sessionTimeoutMs: 1,
      rebalanceTimeoutMs, protocolType: 'consumer', protocols: protocols(), reason: null, memberIdSuffix: 'u', replyTo: bad,
    });
    expect(h.reply<JoinGroupReply>(bad)!.errorCode).toBe(ErrorCode.INVALID_SESSION_TIMEOUT);
    const none = h.target('none');
    h.send({
      type: 'JoinGroup', groupId: 'g', memberId: '', groupInstanceId: null, clientId: 'x', clientHost: 'h', sessionTimeoutMs,
      rebalanceTimeoutMs, protocolType: 'consumer', protocols: [], reason: null, memberIdSuffix: 'u', replyTo: none,
    });
    expect(h.reply<JoinGroupReply>(none)!.errorCode).toBe(ErrorCode.INCONSISTENT_GROUP_PROTOCOL);
    h.joinNew('a');
    h.tick(100);
    expect(h.state.phase).toBe('CompletingRebalance');
    expect(h.reply<JoinGroupReply>(h.join('b', ''))!.errorCode).toBe(ErrorCode.GROUP_MAX_SIZE_REACHED);
  });

  it('a pending member id expires after the session timeout', () => {
    const h = new Harness();
    const first = h.join('a', '');
    const memberId = h.reply<JoinGroupReply>(first)!.memberId;
    expect(h.state.pendingMembers.has(memberId)).toBe(true);
    h.tick(sessionTimeoutMs);
    expect(h.state.pendingMembers.has(memberId)).toBe(false);
    expect(h.reply<JoinGroupReply>(h.join('a', memberId))!.errorCode).toBe(ErrorCode.UNKNOWN_MEMBER_ID);
  });

  it('a failed group write answers the parked syncs with the mapped error and rebalances', () => {
    const h = new Harness();
    const a = h.joinNew('a');
    const b = h.joinNew('b');
    h.tick(100);
    h.tick(200);
    const syncB = h.sync(b.memberId, 1);
    const syncA = h.sync(a.memberId, 1, []);
    h.completePersists(ErrorCode.NOT_LEADER_OR_FOLLOWER);
    expect(h.reply(syncA)).toMatchObject({ errorCode: ErrorCode.NOT_COORDINATOR });
    expect(h.reply(syncB)).toMatchObject({ errorCode: ErrorCode.NOT_COORDINATOR });
    expect(h.state.phase).toBe('PreparingRebalance');
  });

  it('Unload answers parked requests with NOT_COORDINATOR and kills the group', () => {
    const h = new Harness();
    const a = h.joinNew('a');
    h.send({ type: 'Unload' });
    expect(h.reply(a.replyTo)).toMatchObject({ errorCode: ErrorCode.NOT_COORDINATOR });
    expect(h.state.phase).toBe('Dead');
    expect(h.heartbeat(a.memberId, 0)).toBe(ErrorCode.COORDINATOR_NOT_AVAILABLE);
  });
});

describe('group: static membership', () => {
  function staticGroup(): { h: Harness; s1: string; s2: string } {
    const h = new Harness();
    const j1 = h.join('s1', '', { instance: 'i1' }); // static members skip MEMBER_ID_REQUIRED
    const j2 = h.join('s2', '', { instance: 'i2' });
    h.tick(100);
    h.tick(200);
    const s1 = h.reply<JoinGroupReply>(j1)!.memberId;
    const s2 = h.reply<JoinGroupReply>(j2)!.memberId;
    h.sync(s2, 1, [], 'i2');
    h.sync(s1, 1, [{ memberId: s1, assignment: assignmentFor([0, 1]) }, { memberId: s2, assignment: assignmentFor([2, 3]) }], 'i1');
    h.completePersists();
    expect(h.state.phase).toBe('Stable');
    return { h, s1, s2 };
  }

  it('a static member that restarts within its session gets its partitions back without a rebalance', () => {
    const { h, s1, s2 } = staticGroup();
    h.nowMs = 300;
    const rejoin = h.join('s2', '', { instance: 'i2' });
    expect(h.reply(rejoin)).toBeUndefined(); // waits for the metadata write
    h.completePersists();
    const reply = h.reply<JoinGroupReply>(rejoin)!;
    expect(reply.errorCode).toBe(ErrorCode.NONE);
    expect(reply.generationId).toBe(1);
    expect(reply.memberId).not.toBe(s2);
    expect(reply.leader).toBe(s1);
    expect(h.state.phase).toBe('Stable');
    expect(h.state.generationId).toBe(1);
    const sync = h.sync(reply.memberId, 1, [], 'i2');
    expect(h.reply(sync)).toMatchObject({ errorCode: ErrorCode.NONE, assignment: assignmentFor([2, 3]) });
    // The old incarnation is fenced; the other member never noticed.
    expect(h.heartbeat(s2, 1, 'i2')).toBe(ErrorCode.FENCED_INSTANCE_ID);
    expect(h.heartbeat(s1, 1, 'i1')).toBe(ErrorCode.NONE);
  });

  it('a static member that restarts with a different subscription triggers a rebalance', () => {
    const { h } = staticGroup();
    h.join('s2', '', { instance: 'i2', topics: ['orders', 'refunds'] });
    expect(h.state.phase).toBe('PreparingRebalance');
  });

  it('static members that miss the join phase stay until their session expires', () => {
    const { h, s1, s2 } = staticGroup();
    h.nowMs = 300;
    h.join('s1', s1, { instance: 'i1', topics: ['orders', 'refunds'] }); // rebalance
    for (const t of [600, 1_000]) {
      h.nowMs = t;
      expect(h.heartbeat(s2, 1, 'i2')).toBe(ErrorCode.REBALANCE_IN_PROGRESS); // alive, but does not rejoin
    }
    h.tick(300 + rebalanceTimeoutMs);
    expect(h.state.phase).toBe('CompletingRebalance');
    expect(h.state.members.has(s2)).toBe(true);
    expect(h.state.members.has(s1)).toBe(true);
    // Then its session runs out (last heartbeat at 1000) and it is gone.
    h.tick(1_000 + sessionTimeoutMs);
    expect(h.state.members.has(s2)).toBe(false);
  });

  it('admin removal by instance id', () => {
    const { h, s2 } = staticGroup();
    const leave = h.target('leave');
    h.send({ type: 'LeaveGroup', groupId: 'g', members: [{ memberId: '', groupInstanceId: 'i2', reason: null }, { memberId: '', groupInstanceId: 'nope', reason: null }], replyTo: leave });
    expect(h.reply(leave)).toMatchObject({ members: [{ errorCode: ErrorCode.NONE }, { errorCode: ErrorCode.UNKNOWN_MEMBER_ID }] });
    expect(h.state.members.has(s2)).toBe(false);
    expect(h.state.phase).toBe('PreparingRebalance');
  });
});

describe('group: offsets', () => {
  it('standalone commits to an unknown group are written, then fetched; bad entries get typed errors', () => {
    const h = new Harness();
    const commit = h.commit('', -1, [
      { topic: 'orders', partition: 0, offset: 42, metadata: 'm' },
      { topic: 'orders', partition: 1, offset: -5 },
      { topic: 'orders', partition: 2, offset: 7, metadata: 'x'.repeat(5_000) },
      { topic: '', partition: 0, offset: 1 },
    ]);
    expect(h.reply(commit)).toBeUndefined();
    const before = h.fetch([{ topic: 'orders', partition: 0 }]);
    expect(h.reply(before)).toMatchObject({ offsets: [{ offset: -1 }] }); // not yet written
    h.completePersists();
    expect(h.reply(commit)).toEqual({
      type: 'OffsetCommitReply',
      results: [
        { topic: 'orders', partition: 0, errorCode: ErrorCode.NONE },
        { topic: 'orders', partition: 1, errorCode: ErrorCode.INVALID_COMMIT_OFFSET_SIZE },
        { topic: 'orders', partition: 2, errorCode: ErrorCode.OFFSET_METADATA_TOO_LARGE },
        { topic: '', partition: 0, errorCode: ErrorCode.UNKNOWN_TOPIC_OR_PARTITION },
      ],
    });
    expect(h.reply(h.fetch(null))).toEqual({
      type: 'OffsetFetchReply',
      errorCode: ErrorCode.NONE,
      offsets: [{ topic: 'orders', partition: 0, offset: 42, leaderEpoch: -1, metadata: 'm', errorCode: ErrorCode.NONE }],
    });
  });

  it('a commit with a generation to an unknown group is ILLEGAL_GENERATION; during CompletingRebalance REBALANCE_IN_PROGRESS', () => {
    const h = new Harness();
    expect(h.reply(h.commit('m', 3, [{ topic: 't', partition: 0, offset: 1 }]))).toMatchObject({ results: [{ errorCode: ErrorCode.ILLEGAL_GENERATION }] });
    const a = h.joinNew('a');
    h.tick(100);
    expect(h.reply(h.commit(a.memberId, 1, [{ topic: 't', partition: 0, offset: 1 }]))).toMatchObject({ results: [{ errorCode: ErrorCode.REBALANCE_IN_PROGRESS }] });
  });

  it('a failed offset write answers with the mapped code and changes nothing', () => {
    const { h, ids } = stableGroupOfThree();
    const commit = h.commit(ids[0]!, 1, [{ topic: 'orders', partition: 0, offset: 9 }]);
    h.completePersists(ErrorCode.NOT_ENOUGH_REPLICAS);
    expect(h.reply(commit)).toMatchObject({ results: [{ errorCode: ErrorCode.COORDINATOR_NOT_AVAILABLE }] });
    expect(h.state.offsets.size).toBe(0);
  });

  it('members commit during PreparingRebalance with the current generation', () => {
    const { h, ids } = stableGroupOfThree();
    h.joinNew('d');
    expect(h.state.phase).toBe('PreparingRebalance');
    const commit = h.commit(ids[1]!, 1, [{ topic: 'orders', partition: 1, offset: 3 }]);
    h.completePersists();
    expect(h.reply(commit)).toMatchObject({ results: [{ errorCode: ErrorCode.NONE }] });
  });

  it('offsets and the group survive a coordinator failover through encoded records (loadGroups)', () => {
    const { h, ids } = stableGroupOfThree();
    h.nowMs = 250;
    h.commit(ids[0]!, 1, [{ topic: 'orders', partition: 0, offset: 10, metadata: 'a' }]);
    h.commit(ids[1]!, 1, [{ topic: 'orders', partition: 1, offset: 20 }]);
    h.commit(ids[0]!, 1, [{ topic: 'orders', partition: 0, offset: 11, metadata: 'b' }]);
    h.completePersists();
    // Another group in the same partition, deleted: must not come back.
    const other = new Harness('other');
    other.commit('', -1, [{ topic: 'orders', partition: 0, offset: 1 }]);
    other.completePersists();
    const del = other.target('del');
    other.send({ type: 'DeleteGroup', groupId: 'other', replyTo: del });
    other.completePersists();

    const bytes = [...h.persisted, ...other.persisted].map(encodeRecord);
    const decoded = bytes.map((b) => decodeRecord(b.key, b.value)).map((d) => {
      expect(d.ok).toBe(true);
      return (d as { ok: true; value: OffsetsTopicRecord }).value;
    });
    const groups = loadGroups(decoded, { nowMs: 10_000, config });
    expect([...groups.keys()]).toEqual(['g']);
    const loaded = groups.get('g')!;
    expect(loaded.phase).toBe('Stable');
    expect(loaded.generationId).toBe(1);
    expect(loaded.leaderId).toBe(ids[0]);
    expect([...loaded.members.keys()]).toEqual(ids);
    expect(loaded.members.get(ids[2]!)!.assignment).toEqual(assignmentFor([2]));

    const h2 = new Harness();
    h2.state = loaded;
    h2.nowMs = 10_000;
    expect(h2.reply(h2.fetch(null))).toMatchObject({
      offsets: [
        { topic: 'orders', partition: 0, offset: 11, metadata: 'b' },
        { topic: 'orders', partition: 1, offset: 20, metadata: '' },
      ],
    });
    expect(h2.heartbeat(ids[1]!, 1)).toBe(ErrorCode.NONE);
    expect(h2.reply(h2.sync(ids[2]!, 1))).toMatchObject({ errorCode: ErrorCode.NONE, assignment: assignmentFor([2]) });
    // Members that never come back to the new coordinator expire.
    h2.tick(10_000 + sessionTimeoutMs);
    expect(h2.state.members.has(ids[0]!)).toBe(false);
  });
});

describe('group: OffsetDelete', () => {
  const del = (h: Harness, partitions: { topic: string; partition: number }[]): ReplyTarget => {
    const replyTo = h.target('offset-delete');
    h.send({ type: 'OffsetDelete', groupId: h.state.groupId, partitions, replyTo });
    return replyTo;
  };
  const reload = (h: Harness): GroupState => {
    const decoded = h.persisted.map(encodeRecord).map((b) => decodeRecord(b.key, b.value)).map((d) => (d as { ok: true; value: OffsetsTopicRecord }).value);
    return loadGroups(decoded, { nowMs: h.nowMs, config }).get(h.state.groupId)!;
  };

  it("an Empty group's offsets: tombstones written, then the reply; every named partition answers NONE; a reload agrees", () => {
    const { h, ids } = stableGroupOfThree();
    h.commit(ids[0]!, 1, [{ topic: 'orders', partition: 0, offset: 10 }, { topic: 'orders', partition: 1, offset: 20 }, { topic: 'audit', partition: 0, offset: 5 }]);
    h.completePersists();
    h.send({ type: 'LeaveGroup', groupId: 'g', members: ids.map((memberId) => ({ memberId, groupInstanceId: null, reason: null })), replyTo: h.target('leave') });
    h.completePersists();
    expect(h.state.phase).toBe('Empty');
    const to = del(h, [{ topic: 'orders', partition: 0 }, { topic: 'orders', partition: 7 }, { topic: 'audit', partition: 0 }]);
    expect(h.reply(to)).toBeUndefined(); // waits for the tombstones
    expect(h.state.offsets.get('orders')?.get(0)?.offset).toBe(10); // state changes only once they are written
    h.completePersists();
    expect(h.reply(to)).toEqual({
      type: 'OffsetDeleteReply',
      errorCode: ErrorCode.NONE,
      results: [
        { topic: 'orders', partition: 0, errorCode: ErrorCode.NONE },
        { topic: 'orders', partition: 7, errorCode: ErrorCode.NONE },
        { topic: 'audit', partition: 0, errorCode: ErrorCode.NONE },
      ],
    });
    // Tombstones only where an offset was committed (orders-7 never was).
    expect(h.persisted.slice(-2)).toEqual([
      { key: { type: 'OffsetCommit', group: 'g', topic: 'orders', partition: 0 }, value: null },
      { key: { type: 'OffsetCommit', group: 'g', topic: 'audit', partition: 0 }, value: null },
    ]);
    const fetched = h.reply<GroupReply & { offsets: { topic: string; partition: number; offset: number }[] }>(h.fetch([{ topic: 'orders', partition: 0 }, { topic: 'orders', partition: 1 }]))!;
    expect(fetched.offsets.map((o) => o.offset)).toEqual([-1, 20]);
    const loaded = reload(h);
    expect(loaded.phase).toBe('Empty');
    expect([...loaded.offsets].map(([topic, ps]) => [topic, [...ps.keys()]])).toEqual([['orders', [1]]]);
  });

  it('an active consumer group: partitions of subscribed topics get GROUP_SUBSCRIBED_TO_TOPIC, the top level NONE, the others are deleted', () => {
    const { h, ids } = stableGroupOfThree(); // subscribed to "orders"
    h.commit(ids[0]!, 1, [{ topic: 'orders', partition: 0, offset: 1 }, { topic: 'retired', partition: 0, offset: 1 }]);
    h.completePersists();
    const to = del(h, [{ topic: 'orders', partition: 0 }, { topic: 'retired', partition: 0 }]);
    h.completePersists();
    expect(h.reply(to)).toEqual({
      type: 'OffsetDeleteReply',
      errorCode: ErrorCode.NONE,
      results: [
        { topic: 'orders', partition: 0, errorCode: ErrorCode.GROUP_SUBSCRIBED_TO_TOPIC },
        { topic: 'retired', partition: 0, errorCode: ErrorCode.NONE },
      ],
    });
    expect(h.persisted.at(-1)).toEqual({ key: { type: 'OffsetCommit', group: 'g', topic: 'retired', partition: 0 }, value: null });
    expect([...h.state.offsets.keys()]).toEqual(['orders']);
    // Only subscribed topics: nothing to write, answered at once.
    const only = del(h, [{ topic: 'orders', partition: 1 }]);
    expect(h.reply(only)).toMatchObject({ errorCode: ErrorCode.NONE, results: [{ errorCode: ErrorCode.GROUP_SUBSCRIBED_TO_TOPIC }] });
  });

  it('during the first rebalance (no protocol selected yet) nothing is subscribed, as in Kafka', () => {
    const h = new Harness();
    h.commit('', -1, [{ topic: 'orders', partition: 0, offset: 1 }]);
    h.completePersists();
    h.joinNew('a');
    expect(h.state.phase).toBe('PreparingRebalance');
    const to = del(h, [{ topic: 'orders', partition: 0 }]);
    h.completePersists();
    expect(h.reply(to)).toMatchObject({ errorCode: ErrorCode.NONE, results: [{ errorCode: ErrorCode.NONE }] });
    expect(h.state.offsets.size).toBe(0);
  });

  it('unknown or Dead group: GROUP_ID_NOT_FOUND; a group with members that is not a consumer group: NON_EMPTY_GROUP; both without results', () => {
    const unknown = new Harness();
    expect(unknown.send({ type: 'OffsetDelete', groupId: 'g', partitions: [{ topic: 'orders', partition: 0 }], replyTo: unknown.target('d') })).toEqual([
      { type: 'Reply', to: expect.anything(), reply: { type: 'OffsetDeleteReply', errorCode: ErrorCode.GROUP_ID_NOT_FOUND, results: [] } },
    ]);
    const dead = new Harness();
    dead.commit('', -1, [{ topic: 'orders', partition: 0, offset: 1 }]);
    dead.completePersists();
    dead.send({ type: 'Unload' });
    expect(dead.reply(del(dead, [{ topic: 'orders', partition: 0 }]))).toMatchObject({ errorCode: ErrorCode.GROUP_ID_NOT_FOUND, results: [] });
    const connect = new Harness();
    const join = (memberId: string): ReplyTarget => {
      const replyTo = connect.target('join');
      connect.send({
        type: 'JoinGroup', groupId: 'g', memberId, groupInstanceId: null, clientId: 'w', clientHost: 'h', sessionTimeoutMs, rebalanceTimeoutMs,
        protocolType: 'connect', protocols: [{ name: 'sessioned', metadata: new Uint8Array([1]) }], reason: null, memberIdSuffix: 'u1', replyTo,
      });
      return replyTo;
    };
    join(connect.reply<JoinGroupReply>(join(''))!.memberId);
    expect(connect.state.phase).toBe('PreparingRebalance');
    expect(connect.reply(del(connect, [{ topic: 'orders', partition: 0 }]))).toMatchObject({ errorCode: ErrorCode.NON_EMPTY_GROUP, results: [] });
  });

  it('a commit still being written is deleted too (its write lands first); a later commit comes back; a reload agrees with the state', () => {
    const h = new Harness();
    h.commit('', -1, [{ topic: 'orders', partition: 0, offset: 1 }]);
    const to = del(h, [{ topic: 'orders', partition: 0 }]);
    h.completePersists(); // the commit, then the tombstone, in issue order
    expect(h.reply(to)).toMatchObject({ errorCode: ErrorCode.NONE, results: [{ errorCode: ErrorCode.NONE }] });
    expect(h.state.offsets.size).toBe(0);
    expect(h.persisted.map((r) => r.value === null)).toEqual([false, true]);
    expect(loadGroups(h.persisted, { nowMs: 0, config }).has('g')).toBe(false);
    h.commit('', -1, [{ topic: 'orders', partition: 0, offset: 2 }]);
    h.completePersists();
    expect(reload(h).offsets.get('orders')?.get(0)?.offset).toBe(2);
    expect(h.state.offsets.get('orders')?.get(0)?.offset).toBe(2);
  });

  it('a failed tombstone write answers the mapped top-level code and keeps the offsets; Unload answers NOT_COORDINATOR', () => {
    const h = new Harness();
    h.commit('', -1, [{ topic: 'orders', partition: 0, offset: 1 }]);
    h.completePersists();
    const failed = del(h, [{ topic: 'orders', partition: 0 }]);
    h.completePersists(ErrorCode.NOT_LEADER_OR_FOLLOWER);
    expect(h.reply(failed)).toEqual({ type: 'OffsetDeleteReply', errorCode: ErrorCode.NOT_COORDINATOR, results: [] });
    expect(h.state.offsets.get('orders')?.get(0)?.offset).toBe(1);
    const timedOut = del(h, [{ topic: 'orders', partition: 0 }]);
    h.completePersists(ErrorCode.REQUEST_TIMED_OUT);
    expect(h.reply(timedOut)).toMatchObject({ errorCode: ErrorCode.COORDINATOR_NOT_AVAILABLE });
    const unloaded = del(h, [{ topic: 'orders', partition: 0 }]);
    h.send({ type: 'Unload' });
    expect(h.reply(unloaded)).toEqual({ type: 'OffsetDeleteReply', errorCode: ErrorCode.NOT_COORDINATOR, results: [] });
  });
});

describe('group: offset retention (ExpireOffsets)', () => {
  const retentionMs = 1_000;
  const expire = (h: Harness): GroupEffect[] => h.send({ type: 'ExpireOffsets', retentionMs });

  it('a standalone group: offsets expire retention after their commit, then the group is deleted', () => {
    const h = new Harness();
    h.commit('', -1, [{ topic: 'orders', partition: 0, offset: 1 }]);
    h.completePersists();
    h.nowMs = 500;
    h.commit('', -1, [{ topic: 'orders', partition: 1, offset: 1 }]);
    h.completePersists();
    h.nowMs = 999;
    expect(expire(h)).toEqual([]);
    h.nowMs = 1_000;
    expect(expire(h)).toMatchObject([{ type: 'PersistOffsets', records: [{ key: { partition: 0 }, value: null }] }]);
    expect(h.state.phase).toBe('Empty');
    h.nowMs = 1_500;
    const effects = expire(h);
    expect(effects).toMatchObject([{ type: 'PersistGroupMetadata', records: [{ key: { partition: 1 }, value: null }, { key: { type: 'GroupMetadata' }, value: null }] }]);
    expect(h.state.phase).toBe('Dead');
    h.completePersists();
    expect(isDisposable(h.state)).toBe(true);
  });

  it('a Stable consumer group keeps the offsets of subscribed topics, whatever their age', () => {
    const { h, ids } = stableGroupOfThree();
    h.commit(ids[0]!, 1, [{ topic: 'orders', partition: 0, offset: 1 }, { topic: 'retired', partition: 0, offset: 1 }]);
    h.completePersists();
    h.nowMs = 10_000;
    for (const id of ids) h.heartbeat(id, 1);
    expect(expire(h)).toMatchObject([{ type: 'PersistOffsets', records: [{ key: { topic: 'retired' }, value: null }] }]);
    expect([...h.state.offsets.keys()]).toEqual(['orders']);
    expect(h.state.phase).toBe('Stable');
  });

  it('an Empty group: offsets expire retention after the group became Empty, not after their commit', () => {
    const { h, ids } = stableGroupOfThree();
    h.commit(ids[0]!, 1, [{ topic: 'orders', partition: 0, offset: 1 }]);
    h.completePersists();
    h.nowMs = 400;
    h.send({ type: 'LeaveGroup', groupId: 'g', members: ids.map((memberId) => ({ memberId, groupInstanceId: null, reason: null })), replyTo: h.target('leave') });
    expect(h.state.phase).toBe('Empty');
    h.completePersists();
    h.nowMs = 1_399;
    expect(expire(h)).toEqual([]);
    h.nowMs = 1_400;
    expire(h);
    expect(h.state.phase).toBe('Dead');
    expect(h.state.offsets.size).toBe(0);
  });

  it('a partition whose commit is being written does not expire', () => {
    const h = new Harness();
    h.commit('', -1, [{ topic: 'orders', partition: 0, offset: 1 }]);
    h.completePersists();
    h.nowMs = 2_000;
    h.commit('', -1, [{ topic: 'orders', partition: 0, offset: 2 }]);
    expect(expire(h)).toEqual([]);
    h.completePersists();
    expect(h.state.offsets.get('orders')?.get(0)?.offset).toBe(2);
  });
});

describe('group + cooperative-sticky, end to end', () => {
  /**
   * Goal: the test. Consumers speak the cooperative protocol against
   * the coordinator: they report what they own, the leader assigns with
   * cooperative-sticky, a consumer that lost partitions revokes them and
   * rejoins. Adding a member must move only the partitions it takes, the
   * others never being revoked, and no partition may have two owners.
   */
  type Consumer = { name: string; memberId: string; owned: TopicPartition[]; generationId: number };
  const partitionCountByTopic = new Map([['orders', 6]]);
  const sticky = assignorsByName.get('cooperative-sticky')!;
  const offer = (c: Consumer): ProtocolOffer[] => [
    { name: 'cooperative-sticky', metadata: encodeSubscription({ topics: ['orders'], userData: null, ownedPartitions: c.owned, generationId: c.generationId, rackId: null }) },
  ];

  function joinAs(h: Harness, c: Consumer): ReplyTarget {
    const replyTo = h.target(`join-${c.name}`);
    h.send({
      type: 'JoinGroup', groupId: 'g', memberId: c.memberId, groupInstanceId: null, clientId: c.name, clientHost: 'h', sessionTimeoutMs,
      rebalanceTimeoutMs, protocolType: 'consumer', protocols: offer(c), reason: null, memberIdSuffix: `u${c.name}`, replyTo,
    });
    return replyTo;
  }

  /** One generation: everyone (re)joins, the leader assigns, everyone syncs; returns whether someone revoked. */
  function generation(h: Harness, consumers: Consumer[], ownersHistory: Map<string, string>[]): boolean {
    const ownedAtJoin = new Map<string, string>();
    for (const c of consumers) for (const p of c.owned) ownedAtJoin.set(partitionKey(p), c.name);
    const joins = consumers.map((c) => {
      if (c.memberId === '') {
        c.memberId = h.reply<JoinGroupReply>(joinAs(h, c))!.memberId; // MEMBER_ID_REQUIRED
      }
      return joinAs(h, c);
    });
    if (h.state.phase === 'PreparingRebalance') h.tick(h.nowMs + config.initialRebalanceDelayMs);
    if (h.state.phase === 'PreparingRebalance') h.tick(h.nowMs + config.initialRebalanceDelayMs);
    expect(h.state.phase).toBe('CompletingRebalance');
    const replies = joins.map((j) => h.reply<JoinGroupReply>(j)!);
    const leaderReply = replies.find((r) => r.members.length > 0)!;
    const { assignments } = assignForSync(sticky, leaderReply.members, partitionCountByTopic);
    const syncs = consumers.map((c, i) => h.sync(c.memberId, replies[i]!.generationId, c.memberId === leaderReply.memberId ? assignments : []));
    h.completePersists();
    let revoked = false;
    const owners = new Map<string, string>();
    consumers.forEach((c, i) => {
      const reply = h.reply<SyncGroupReply>(syncs[i]!)!;
      expect(reply.errorCode).toBe(ErrorCode.NONE);
      const decoded = decodeAssignment(reply.assignment);
      expect(decoded.ok).toBe(true);
      const assigned = decoded.ok ? [...decoded.value.assignedPartitions] : [];
      for (const p of assigned) {
        const previous = ownedAtJoin.get(partitionKey(p));
        expect(previous === undefined || previous === c.name, `${partitionKey(p)} to ${c.name} while ${previous} owns it`).toBe(true);
        owners.set(partitionKey(p), c.name);
      }
      if (c.owned.some((p) => !assigned.some((a) => partitionKey(a) === partitionKey(p)))) revoked = true;
      c.owned = assigned;
      c.generationId = replies[i]!.generationId;
    });
    ownersHistory.push(owners);
    return revoked;
  }

  it('adding a member moves only the partitions it takes; the others are never revoked', () => {
    const h = new Harness();
    const consumers: Consumer[] = ['a', 'b', 'c'].map((name) => ({ name, memberId: '', owned: [], generationId: -1 }));
    const history: Map<string, string>[] = [];
    expect(generation(h, consumers, history)).toBe(false);
    expect(consumers.map((c) => c.owned.length)).toEqual([2, 2, 2]);
    const before = history[0]!;

    // D arrives; the others learn of the rebalance from their heartbeats and rejoin with what they own.
    const d: Consumer = { name: 'd', memberId: '', owned: [], generationId: -1 };
    d.memberId = h.reply<JoinGroupReply>(joinAs(h, d))!.memberId;
    const all = [...consumers, d];
    for (let round = 0; round < 3; round++) {
      const revoked = generation(h, all, history);
      if (!revoked) break;
    }
    const after = history[history.length - 1]!;
    expect(all.map((c) => c.owned.length).sort()).toEqual([1, 1, 2, 2]);
    const moved = [...after].filter(([key, owner]) => before.get(key) !== owner);
    expect(moved.map(([, owner]) => owner)).toEqual(['d']); // exactly one partition moved, to D
    // No member other than the one that gave up a partition to D ever lost one, in any generation.
    const giver = before.get(moved[0]![0])!;
    for (const owners of history.slice(1)) {
      for (const [key, owner] of before) {
        if (key === moved[0]![0]) continue;
        expect(owners.get(key)).toBe(owner);
      }
    }
    expect(['a', 'b', 'c']).toContain(giver);
  });
});
