/**
 * Membership changes in the pure Raft core (single-server changes, thesis
 * §4.1; learners as in etcd; KIP-853's AddRaftVoter/RemoveRaftVoter): each
 * scenario drives a TestCluster with explicit ticks, cuts and deliveries and
 * checks configurations, roles, commits and the reported outcomes. The
 * randomised safety runs with changes, partitions and crashes are in
 * sim.test.ts (the simulator changes voters too).
 */
import { describe, expect, it } from 'vitest';
import { seededRng } from '../../../runtime/rng.ts';
import { decodeMembership, encodeMembership, makeMembership } from './membership.ts';
import { Raft } from './raft.ts';
import { TestCluster } from './testkit.ts';
import type { Entry } from './types.ts';

const electionTicks = 10;
const bytes = (text: string): Uint8Array => new TextEncoder().encode(text);
const text = (data: Uint8Array): string => new TextDecoder().decode(data);

function electByTicks(cluster: TestCluster, id: number): void {
  for (let i = 0; i < 4 * electionTicks && cluster.node(id).role !== 'Leader'; i++) {
    cluster.tick(id);
    cluster.stabilize();
  }
  expect(cluster.node(id).role).toBe('Leader');
}

function appliedData(cluster: TestCluster, id: number): string[] {
  return cluster.applied
    .get(id)!
    .entries.filter((e) => e.data.length > 0 && e.kind !== 'Config')
    .map((e) => text(e.data));
}

function proposeAll(cluster: TestCluster, id: number, items: string[]): void {
  for (const item of items) expect(cluster.node(id).propose(bytes(item)).type).toBe('Accepted');
  cluster.stabilize();
}

describe('raft membership: the Config entry codec', () => {
  it('round-trips and refuses what is not canonical', () => {
    const m = makeMembership([3, 1, 2], [5, 1]);
    expect(m).toEqual({ voters: [1, 2, 3], learners: [5] });
    expect(decodeMembership(encodeMembership(m))).toEqual(m);
    expect(decodeMembership(new Uint8Array([1, 0, 0, 0, 0]))).toMatch(/no voter/);
    expect(decodeMembership(new Uint8Array([2, 0, 1, 0, 0, 0, 1, 0, 0]))).toMatch(/format/);
    const unsorted = new Uint8Array([1, 0, 2, 0, 0, 0, 2, 0, 0, 0, 1, 0, 0]);
    expect(decodeMembership(unsorted)).toMatch(/sorted/);
    expect(decodeMembership(new Uint8Array([...encodeMembership(m), 0]))).toMatch(/trailing/);
  });
});

describe('raft membership: AddVoter', () => {
  it('adds the node as a learner, waits for it to catch up, then promotes it; it did not count before', () => {
    const cluster = new TestCluster([1, 2, 3]);
    electByTicks(cluster, 1);
    proposeAll(cluster, 1, ['a', 'b']);
    const newcomer = cluster.addNode(4, [1, 2, 3]);
    expect(newcomer.isVoter).toBe(false);
    // An observer never campaigns, however long it hears nothing.
    cluster.cut(1, 4);
    cluster.tick(4, 5 * electionTicks);
    expect(newcomer.role).toBe('Follower');
    expect(newcomer.term).toBe(0);
    cluster.heal();

    const leader = cluster.node(1);
    expect(leader.changeVoters({ type: 'AddVoter', id: 4 })).toEqual({ type: 'Started' });
    // The learner entry is in force on the leader at once.
    expect(leader.membership).toEqual({ voters: [1, 2, 3], learners: [4] });
    expect(leader.changeVoters({ type: 'AddVoter', id: 5 })).toEqual({ type: 'ChangeInProgress' });
    cluster.stabilize();
    cluster.tickAll(2);
    expect(cluster.voterChanges.map((v) => [v.id, v.outcome.outcome, v.outcome.membership.voters])).toEqual([[1, 'Committed', [1, 2, 3, 4]]]);
    for (const id of [1, 2, 3, 4]) expect(cluster.node(id).membership).toEqual({ voters: [1, 2, 3, 4], learners: [] });
    expect(appliedData(cluster, 4)).toEqual(['a', 'b']);
    expect(newcomer.isVoter).toBe(true);
    // The learner stage is in the log: learner entry, then the promotion.
    const configs = [...Array(leader.lastIndex).keys()].map((i) => leader.entryAt(i + 1)).filter((e): e is Entry => e?.kind === 'Config');
    expect(configs.map((e) => decodeMembership(e.data))).toEqual([
      { voters: [1, 2, 3], learners: [4] },
      { voters: [1, 2, 3, 4], learners: [] },
    ]);
  });

  it('a learner does not count for commit: with the voters 2 and 3 cut off, the leader and its learner commit nothing', () => {
    const cluster = new TestCluster([1, 2, 3]);
    electByTicks(cluster, 1);
    cluster.addNode(4, [1, 2, 3]);
    const leader = cluster.node(1);
    leader.changeVoters({ type: 'AddVoter', id: 4 });
    // Deliver only to 4: the learner entry reaches 4, which acknowledges it.
    cluster.filter = (msg) => (msg.from === 1 && msg.to === 4) || (msg.from === 4 && msg.to === 1);
    cluster.stabilize();
    expect(cluster.node(4).lastIndex).toBe(leader.lastIndex);
    expect(leader.commitIndex).toBe(leader.lastIndex - 1);
    expect(leader.progressOf(4)?.matchIndex).toBe(leader.lastIndex);
  });

  it('a learner that never catches up makes the change time out, and it is removed again', () => {
    const cluster = new TestCluster([1, 2, 3], { voterCatchUpTicksMax: 30 });
    electByTicks(cluster, 1);
    cluster.addNode(4, [1, 2, 3]);
    cluster.isolate(4);
    const leader = cluster.node(1);
    expect(leader.changeVoters({ type: 'AddVoter', id: 4 }).type).toBe('Started');
    cluster.tickAll(31);
    expect(cluster.voterChanges.map((v) => v.outcome.outcome)).toEqual(['TimedOut']);
    cluster.tickAll(2);
    expect(leader.membership).toEqual({ voters: [1, 2, 3], learners: [] });
    expect(leader.commitIndex).toBe(leader.lastIndex);
    // The next change may start.
    expect(leader.changeVoters({ type: 'RemoveVoter', id: 3 }).type).toBe('Started');
  });

  it('refuses a duplicate voter, an unknown one, the last voter, and a change before the term committed', () => {
    const cluster = new TestCluster([1]);
    electByTicks(cluster, 1);
    const leader = cluster.node(1);
    expect(leader.changeVoters({ type: 'AddVoter', id: 1 })).toEqual({ type: 'DuplicateVoter' });
    expect(leader.changeVoters({ type: 'RemoveVoter', id: 9 })).toEqual({ type: 'VoterNotFound' });
    expect(leader.changeVoters({ type: 'RemoveVoter', id: 1 })).toEqual({ type: 'LastVoter' });

    const three = new TestCluster([1, 2, 3]);
    // Acknowledgements of appends are lost: 1 is elected but its no-op never commits.
    three.filter = (msg) => msg.type !== 'AppendEntriesReply';
    electByTicks(three, 1);
    const one = three.node(1);
    expect(one.commitIndex).toBeLessThan(one.lastIndex);
    expect(three.node(2).changeVoters({ type: 'AddVoter', id: 4 })).toEqual({ type: 'NotLeader', leaderId: 1 });
    expect(one.changeVoters({ type: 'RemoveVoter', id: 3 })).toEqual({ type: 'ChangeInProgress' });
  });
});

describe('raft membership: RemoveVoter', () => {
  it('the leader removes itself: it leads until the removal commits, hands over, and never campaigns again', () => {
    const cluster = new TestCluster([1, 2, 3]);
    electByTicks(cluster, 1);
    proposeAll(cluster, 1, ['a']);
    const old = cluster.node(1);
    expect(old.changeVoters({ type: 'RemoveVoter', id: 1 })).toEqual({ type: 'Started' });
    // In force at once: the leader now counts only 2 and 3, but still leads.
    expect(old.membership.voters).toEqual([2, 3]);
    expect(old.role).toBe('Leader');
    cluster.stabilize();
    expect(cluster.voterChanges.map((v) => v.outcome.outcome)).toEqual(['Committed']);
    const leaders = cluster.leaders();
    expect(leaders.map((l) => l.id)).toHaveLength(1);
    expect([2, 3]).toContain(leaders[0]!.id);
    expect(old.role).toBe('Follower');
    // The new leader commits without 1; 1 stays quiet however long it hears nothing.
    const leaderId = leaders[0]!.id;
    proposeAll(cluster, leaderId, ['b']);
    expect(appliedData(cluster, leaderId)).toEqual(['a', 'b']);
    const term = cluster.node(leaderId).term;
    cluster.isolate(1);
    cluster.tick(1, 10 * electionTicks);
    expect(old.role).toBe('Follower');
    cluster.heal();
    cluster.tickAll(3 * electionTicks);
    expect(cluster.node(leaderId).term).toBe(term);
    expect(cluster.node(leaderId).role).toBe('Leader');
  });

  it('a removed voter that never learned of its removal cannot disrupt the others', () => {
    const cluster = new TestCluster([1, 2, 3], { checkQuorum: false, preVote: false });
    electByTicks(cluster, 1);
    cluster.isolate(3);
    const leader = cluster.node(1);
    expect(leader.changeVoters({ type: 'RemoveVoter', id: 3 }).type).toBe('Started');
    cluster.stabilize();
    expect(cluster.voterChanges.map((v) => v.outcome.outcome)).toEqual(['Committed']);
    const term = leader.term;
    cluster.heal();
    // 3 still believes it is a voter: it campaigns again and again at ever higher terms (no pre-vote here).
    for (let i = 0; i < 5; i++) {
      cluster.tick(3, 2 * electionTicks);
      cluster.stabilize();
    }
    expect(cluster.node(3).term).toBeGreaterThan(term);
    expect(leader.term).toBe(term);
    expect(leader.role).toBe('Leader');
    expect(cluster.node(2).term).toBe(term);
  });

  it('a follower that truncates a Config entry falls back to the configuration before it', () => {
    const follower = Raft.create({ id: 2, voters: [1, 2, 3] }, seededRng(1));
    const config: Entry = { index: 1, term: 1, kind: 'Config', data: encodeMembership(makeMembership([1, 2, 3], [4])) };
    follower.step({ type: 'AppendEntries', from: 1, to: 2, term: 1, prevLogIndex: 0, prevLogTerm: 0, entries: [config], leaderCommit: 0 });
    expect(follower.membership).toEqual({ voters: [1, 2, 3], learners: [4] });
    // A leader of term 2 never had it: its entry 1 replaces ours.
    follower.step({ type: 'AppendEntries', from: 3, to: 2, term: 2, prevLogIndex: 0, prevLogTerm: 0, entries: [{ index: 1, term: 2, data: new Uint8Array(0) }], leaderCommit: 0 });
    expect(follower.membership).toEqual({ voters: [1, 2, 3], learners: [] });
  });
});

describe('raft membership: restarts and snapshots', () => {
  it('the voter set survives a restart (replayed from the log) and a compaction (recorded in the snapshot)', () => {
    const cluster = new TestCluster([1, 2, 3]);
    electByTicks(cluster, 1);
    cluster.addNode(4, [1, 2, 3]);
    cluster.node(1).changeVoters({ type: 'AddVoter', id: 4 });
    cluster.stabilize();
    cluster.tickAll(2);
    expect(cluster.node(2).membership.voters).toEqual([1, 2, 3, 4]);
    cluster.crash(2);
    const restarted = cluster.restart(2);
    expect(restarted.membership.voters).toEqual([1, 2, 3, 4]);

    const leader = cluster.node(1);
    const snapshot = leader.compact(leader.appliedIndex, new Uint8Array([1]));
    expect(snapshot.voters).toEqual([1, 2, 3, 4]);
    expect(snapshot.learners).toEqual([]);
    const fromSnapshot = Raft.restore({ id: 1, voters: [1, 2, 3] }, seededRng(3), { hardState: leader.hardState(), snapshot, entries: [] });
    expect(fromSnapshot.membership.voters).toEqual([1, 2, 3, 4]);
  });
});
