/**
 * Raft: the consensus core of the metadata quorum, as a pure, deterministic
 * state machine in the style of etcd's raft. No I/O, no timers, no clock, no
 * Math.random: time comes in as `tick()`, randomness as an injected `Rng`,
 * messages as `step(msg)`, new commands as `propose(data)`. Everything the
 * node must do comes out as a `Ready` (types.ts). The same inputs always give
 * the same outputs, which is what lets sim.ts replay a failure from its seed.
 *
 * Owns: term, vote, role, the log (log.ts), leader-side follower progress
 * (progress.ts), election and heartbeat timers counted in ticks, and the
 * outbox of messages.
 *
 * THE CALLER'S LOOP (the controller actor, or the simulator):
 *
 *   while (raft.hasReady()) {
 *     const rd = raft.ready();
 *     1. persist, durably (fsync when rd.mustSync), in this order or atomically:
 *          rd.snapshotToPersist (replaces the whole persisted log),
 *          rd.entriesToPersist  (drop persisted entries at or after the first one's index, then append),
 *          rd.hardState;
 *     2. THEN send rd.messages (a vote or an append acknowledgement must never
 *        leave the node before what it promises is on disk);
 *     3. THEN restore the state machine from rd.snapshotToPersist, if any, and
 *        apply rd.committedEntries in order (skipping empty no-op payloads);
 *     4. THEN raft.advance(rd).
 *   }
 *
 * At most one Ready is outstanding; `step`, `tick`, `propose` may be called
 * between `ready()` and `advance()`. Log the transitions in rd.softState
 * ("became leader at term N"): the core itself never logs.
 *
 * Why the order is safe for the leader: it counts its own copy of an entry
 * towards commit before persisting it, but no follower can acknowledge the
 * entry before the Ready carrying it was persisted (its messages go out only
 * after step 1), and a single-node leader applies it only after step 1.
 *
 * Proposals: `propose` returns the (index, term) the entry got. The caller
 * learns the outcome from committedEntries: the entry committed at that index
 * has that term (accepted), or another term (lost in a leader change: retry).
 * A caller also needs a timeout: after a leader change nothing may be
 * committed at that index until more entries are proposed.
 *
 * Input is trusted: the shell validates decoded messages (protocol/) before
 * `step`. A failed assert here is a bug in this module, not bad input.
 *
 * Compaction: after applying up to index i, the application may call
 * `compact(i, imageBytes)`; it returns the Snapshot, which the caller persists
 * before discarding persisted entries <= i. A leader sends InstallSnapshot to
 * a follower that needs compacted entries.
 *
 * Restart: `Raft.restore(config, rng, { hardState, snapshot, entries })` with
 * what was persisted. The node comes back as a follower, restores its state
 * machine from the snapshot, and re-applies entries up to the persisted
 * commitIndex through the next Ready.
 *
 * Protocol choices (Raft paper / thesis, as etcd does them):
 * - Randomised election timeout in [electionTicks, 2*electionTicks), redrawn
 *   at each reset.
 * - Pre-vote (thesis §9.6): a would-be candidate first asks whether it could
 *   win at term+1 without changing any term; only on a majority does it bump
 *   its term. A node rejoining from a partition cannot depose a healthy leader.
 * - Check-quorum: every election timeout a leader checks that a majority
 *   (itself included) was heard from; if not it steps down. Followers that
 *   heard from a leader within the election timeout ignore (pre-)vote
 *   requests with a higher term (the leader lease), so a flapping node
 *   cannot force elections either.
 * - A new leader appends an empty entry of its term; a leader commits by
 *   counting replicas only entries of its own term (§5.4.2, Figure 8).
 * - Followers reject an append with a hint (fast backtracking by term); the
 *   leader probes one append at a time until a match, then streams with at
 *   most maxInflightAppends unacknowledged appends.
 * - Proposals are refused (not queued) when not leader, or when
 *   maxUncommittedEntries are already waiting to commit. Forwarding to the
 *   leader is the controller actor's job, not the core's.
 * - Leadership transfer (thesis §3.10): `transferLeadership(to)` stops
 *   proposals, catches the target up, then sends it TimeoutNow; it campaigns
 *   at once (no pre-vote) with `leadershipTransfer` set, which voters honour
 *   despite the lease. Abandoned after an election timeout without success.
 * - Membership changes (thesis §4.1; KRaft KIP-853; etcd learners): one
 *   server at a time, as Config entries in the log (kind 'Config', payload
 *   membership.ts). A configuration is in force as soon as its entry is
 *   appended, on the leader and on followers alike, committed or not; a
 *   follower that truncates a Config entry falls back to the one before it.
 *   Before any Config entry (and any snapshot) the bootstrap `config.voters`
 *   is in force. A snapshot records the configuration at its index.
 * - Learners get the log from the leader but neither vote, campaign nor count
 *   for commit or check-quorum. A node named nowhere (an observer: a new
 *   controller before it is added) behaves like a learner: it never campaigns
 *   and follows whichever leader sends to it.
 * - `changeVoters` on the leader, one change in flight: not before an entry of
 *   the leader's own term committed (the fix to single-server changes in
 *   Ongaro's 2015 raft-dev note), and not while an earlier Config entry is
 *   uncommitted. AddVoter appends the node as a learner, waits for that entry
 *   to commit and for the learner to catch up (it acknowledged at least the
 *   entry adding it and its matchIndex is within learnerCaughtUpLagEntriesMax
 *   of our last index), then appends its promotion. voterCatchUpTicksMax
 *   bounds the whole change: a learner that never catches up is removed again
 *   and the change reported TimedOut. RemoveVoter appends the smaller set at
 *   once. Outcomes come out in Ready.voterChanges, once the final entry commits.
 * - A leader that removes itself keeps leading (replicating and counting only
 *   the new voters) until the removal commits, then hands leadership to the
 *   most caught-up voter (TimeoutNow, as in a leadership transfer) and steps
 *   down; it is no voter any more, so it never campaigns again.
 * - Who may disrupt: vote requests from a node that our configuration in
 *   force excludes, once that configuration is committed, are ignored before
 *   their term is looked at, so a removed voter that never learned of its
 *   removal cannot force elections (an uncommitted configuration may yet be
 *   truncated, so it excludes no one). A node removed by an entry not yet
 *   committed may still campaign (mayCampaign), or that entry could never
 *   commit when only the removed node holds it. Messages
 *   from a leader are taken from anyone (thesis §4.1: a follower that missed
 *   the entry making that leader a voter must still be reachable); the term
 *   rules decide as for any message.
 */
import { assert, assertNever } from '../../../runtime/assert.ts';
import type { Rng } from '../../../runtime/rng.ts';
import { RaftLog } from './log.ts';
import { decodeMembership, encodeMembership, isMemberOf, isVoterOf, makeMembership, sameMembership } from './membership.ts';
import { Progress, type ProgressState } from './progress.ts';
import {
  makeRaftConfig,
  quorumSize,
  type AppendEntries,
  type AppendEntriesReply,
  type Entry,
  type HardState,
  type Heartbeat,
  type InstallSnapshot,
  type Membership,
  type Message,
  type NodeId,
  type PreVote,
  type RaftConfig,
  type RaftConfigInput,
  type Ready,
  type RequestVote,
  type Role,
  type Snapshot,
  type SoftState,
  type VoterChange,
  type VoterChangeOutcome,
} from './types.ts';

/** What the caller persisted: the input of `Raft.restore`. */
export type PersistedState = {
  readonly hardState: HardState;
  /** The latest persisted snapshot; absent if the log was never compacted. */
  readonly snapshot?: Snapshot | null;
  /** The persisted entries after the snapshot (entries it covers are ignored). */
  readonly entries: readonly Entry[];
};

export type ProposeResult =
  | { readonly type: 'Accepted'; readonly index: number; readonly term: number }
  | { readonly type: 'NotLeader'; readonly leaderId: NodeId | null }
  | { readonly type: 'TooManyUncommitted'; readonly uncommittedCount: number }
  | { readonly type: 'LeadershipTransferInProgress'; readonly transferTarget: NodeId };

export type TransferLeadershipResult =
  | { readonly type: 'Started'; readonly transferTarget: NodeId }
  | { readonly type: 'NotLeader'; readonly leaderId: NodeId | null }
  | { readonly type: 'NotAVoter' }
  | { readonly type: 'AlreadyLeader' };

export type VoterChangeResult =
  | { readonly type: 'Started' }
  | { readonly type: 'NotLeader'; readonly leaderId: NodeId | null }
  | { readonly type: 'LeadershipTransferInProgress'; readonly transferTarget: NodeId }
  /** Another change is in flight, or this leader has not committed an entry of its term yet: retry later. */
  | { readonly type: 'ChangeInProgress' }
  | { readonly type: 'TooManyUncommitted'; readonly uncommittedCount: number }
  | { readonly type: 'DuplicateVoter' }
  | { readonly type: 'VoterNotFound' }
  /** Removing the only voter would leave no quorum. */
  | { readonly type: 'LastVoter' };

/** A read-only view of a follower's progress, for tests and status pages. */
export type ProgressView = { readonly state: ProgressState; readonly matchIndex: number; readonly nextIndex: number };

type VoteTally = Map<NodeId, boolean>;

/** The role with the data only that role has. Transitions go through become*(), which assert their source role. */
type RoleState =
  | { readonly type: 'Follower' }
  | { readonly type: 'PreCandidate'; readonly votes: VoteTally }
  | { readonly type: 'Candidate'; readonly votes: VoteTally }
  | {
      readonly type: 'Leader';
      /** Every voter and learner of the configuration in force, and this node. */
      readonly progress: Map<NodeId, Progress>;
      transfer: LeadershipTransfer | null;
      /** The index of this term's no-op: no membership change before it commits. */
      readonly termStartIndex: number;
      voterChange: PendingVoterChange | null;
      /** This leader's removal committed: it steps down once it handed leadership over. */
      removed: boolean;
    };

type LeadershipTransfer = { readonly target: NodeId; elapsedTicks: number };

/**
 * A changeVoters in progress on the leader. AddVoter: AddingLearner (the
 * learner entry waits to commit) -> CatchingUp -> Promoting (the promotion
 * waits to commit). RemoveVoter: Removing. `configIndex` is the entry the
 * phase waits for; `elapsedTicks` counts from the start (voterCatchUpTicksMax).
 */
type PendingVoterChange = {
  readonly change: VoterChange;
  phase: 'AddingLearner' | 'CatchingUp' | 'Promoting' | 'Removing';
  configIndex: number;
  elapsedTicks: number;
};
type LeaderState = Extract<RoleState, { type: 'Leader' }>;

const emptyHardState: HardState = { term: 0, votedFor: null, commitIndex: 0 };
const emptyPayload = new Uint8Array(0);

export class Raft {
  readonly config: RaftConfig;
  private readonly rng: Rng;
  private readonly log: RaftLog;
  /** The configuration in force: the last Config entry of the log, else the snapshot's, else the bootstrap voters. */
  private membershipValue: Membership;
  private voterChangeOutcomes: VoterChangeOutcome[] = [];

  private termValue: number;
  private votedForValue: NodeId | null;
  private leaderIdValue: NodeId | null = null;
  private roleState: RoleState = { type: 'Follower' };

  /** Ticks since the last reset: followers and candidates time out on it; the leader runs check-quorum on it. */
  private electionElapsedTicks = 0;
  private heartbeatElapsedTicks = 0;
  private randomizedElectionTicks = 0;

  private outbox: Message[] = [];
  private previousSoftState: SoftState;
  private previousHardState: HardState;
  private readyOutstanding = false;

  /** A node with nothing persisted yet. */
  static create(config: RaftConfigInput, rng: Rng): Raft {
    return new Raft(makeRaftConfig(config), rng, { hardState: emptyHardState, entries: [] });
  }

  /** A node rebuilt from what the caller persisted (after a restart). */
  static restore(config: RaftConfigInput, rng: Rng, persisted: PersistedState): Raft {
    return new Raft(makeRaftConfig(config), rng, persisted);
  }

  private constructor(config: RaftConfig, rng: Rng, persisted: PersistedState) {
    this.config = config;
    this.rng = rng;
    this.log = new RaftLog(persisted.snapshot ?? null, persisted.entries, persisted.hardState.commitIndex);
    this.membershipValue = this.membershipAt(this.log.lastIndex());
    this.termValue = persisted.hardState.term;
    this.votedForValue = persisted.hardState.votedFor;
    assert(this.log.lastTerm() <= this.termValue, 'raft: persisted log has a term beyond the persisted term');
    this.resetTimers();
    this.previousSoftState = this.softState();
    // The hard state as persisted (commitIndex may have been raised to the snapshot's index).
    this.previousHardState = persisted.hardState;
  }

  // -------------------------------------------------------------------------
  // Read-only state

  get id(): NodeId {
    return this.config.id;
  }
  get role(): Role {
    return this.roleState.type;
  }
  get term(): number {
    return this.termValue;
  }
  get leaderId(): NodeId | null {
    return this.leaderIdValue;
  }
  get votedFor(): NodeId | null {
    return this.votedForValue;
  }
  get commitIndex(): number {
    return this.log.commitIndex();
  }
  get appliedIndex(): number {
    return this.log.appliedIndex();
  }
  get lastIndex(): number {
    return this.log.lastIndex();
  }
  get firstIndex(): number {
    return this.log.firstIndex();
  }
  get snapshotIndex(): number {
    return this.log.snapshotIndex();
  }
  /** The latest snapshot (taken here or installed from the leader), if any. */
  get snapshot(): Snapshot | null {
    return this.log.snapshot();
  }
  /** The configuration in force on this node now (the one its latest Config entry names). */
  get membership(): Membership {
    return this.membershipValue;
  }
  /** Whether this node is a voter of the configuration in force (it may campaign). */
  get isVoter(): boolean {
    return isVoterOf(this.membershipValue, this.config.id);
  }
  /** The voter change in progress on this leader, if any. */
  get pendingVoterChange(): VoterChange | null {
    return this.roleState.type === 'Leader' ? (this.roleState.voterChange?.change ?? null) : null;
  }
  termAt(index: number): number | undefined {
    return this.log.term(index);
  }
  entryAt(index: number): Entry | undefined {
    return this.log.entry(index);
  }
  softState(): SoftState {
    return { role: this.roleState.type, leaderId: this.leaderIdValue, term: this.termValue };
  }
  hardState(): HardState {
    return { term: this.termValue, votedFor: this.votedForValue, commitIndex: this.log.commitIndex() };
  }
  progressOf(id: NodeId): ProgressView | undefined {
    if (this.roleState.type !== 'Leader') return undefined;
    const progress = this.roleState.progress.get(id);
    if (progress === undefined) return undefined;
    return { state: progress.state, matchIndex: progress.matchIndex, nextIndex: progress.nextIndex };
  }

  // -------------------------------------------------------------------------
  // Inputs

  /** One unit of logical time. The caller ticks at a fixed rate (e.g. every 100 ms). */
  tick(): void {
    if (this.roleState.type === 'Leader') this.tickLeader(this.roleState);
    else this.tickElection();
  }

  /**
   * The caller has strong evidence that `leaderId`'s process is gone (its
   * runtime declared the node down on a refused connection, not on mere
   * silence). A follower of that leader forgets it, which ends the lease (so
   * it grants votes again), and cuts its election timer to a random 1 ..
   * electionTicks-1 ticks from now: the followers that heard the same news
   * rarely campaign in the same tick, so the first usually wins the vote of
   * the other. Only timing changes, never safety: a wrong report costs at
   * most an election, and a follower that was not told keeps its lease and
   * ignores the early candidate. No-op for anyone else.
   */
  leaderLost(leaderId: NodeId): void {
    if (this.roleState.type === 'Leader' || this.leaderIdValue !== leaderId) return;
    this.leaderIdValue = null;
    const remainingTicks = this.rng.int(1, Math.max(2, this.config.electionTicks));
    this.electionElapsedTicks = Math.max(this.electionElapsedTicks, this.randomizedElectionTicks - remainingTicks);
  }

  /** Start an election now (as if the election timer fired). No-op for a leader or a non-voter. */
  campaign(): void {
    if (this.roleState.type === 'Leader' || !this.mayCampaign()) return;
    this.startElection();
  }

  /** Propose an opaque, non-empty command. Only a leader accepts. */
  propose(data: Uint8Array): ProposeResult {
    assert(data.length > 0, 'raft: empty proposals are reserved for the leader no-op');
    if (this.roleState.type !== 'Leader') return { type: 'NotLeader', leaderId: this.leaderIdValue };
    // Proposals would keep the target's log behind and could be lost with the hand-over.
    if (this.roleState.transfer !== null) return { type: 'LeadershipTransferInProgress', transferTarget: this.roleState.transfer.target };
    const uncommittedCount = this.log.lastIndex() - this.log.commitIndex();
    if (uncommittedCount >= this.config.maxUncommittedEntries) return { type: 'TooManyUncommitted', uncommittedCount };
    const entry = this.appendAsLeader(this.roleState.progress, data);
    this.broadcastAppend(this.roleState.progress);
    return { type: 'Accepted', index: entry.index, term: entry.term };
  }

  /**
   * Hand leadership to voter `to` (e.g. before a planned shutdown). Completes
   * when `to` wins the election it starts; abandoned after an election timeout.
   */
  transferLeadership(to: NodeId): TransferLeadershipResult {
    if (this.roleState.type !== 'Leader') return { type: 'NotLeader', leaderId: this.leaderIdValue };
    if (to === this.config.id) return { type: 'AlreadyLeader' };
    const follower = this.roleState.progress.get(to);
    if (follower === undefined || !isVoterOf(this.membershipValue, to)) return { type: 'NotAVoter' };
    if (this.roleState.transfer?.target !== to) {
      this.roleState.transfer = { target: to, elapsedTicks: 0 };
      if (follower.matchIndex === this.log.lastIndex()) this.send({ type: 'TimeoutNow', from: this.config.id, to, term: this.termValue });
      else this.sendAppend(this.roleState.progress, to, true);
    }
    return { type: 'Started', transferTarget: to };
  }

  /** The voter leadership is being handed to, if a transfer is in progress. */
  get transferTarget(): NodeId | null {
    return this.roleState.type === 'Leader' ? (this.roleState.transfer?.target ?? null) : null;
  }

  /**
   * Snapshot the application state at `index` (already applied here) and drop
   * the log up to it. Returns the snapshot for the caller to persist.
   */
  compact(index: number, data: Uint8Array): Snapshot {
    assert(index > this.log.snapshotIndex(), 'raft: compaction must move past the current snapshot');
    assert(index <= this.log.appliedIndex(), 'raft: compaction beyond the applied index');
    const term = this.log.term(index);
    assert(term !== undefined, 'raft: compaction index not in the log');
    const membership = this.membershipAt(index);
    const snapshot: Snapshot = { index, term, voters: [...membership.voters], learners: [...membership.learners], data };
    this.log.compact(snapshot);
    return snapshot;
  }

  /**
   * A message from a peer. Messages for another node are a routing bug; vote
   * requests from a node that a committed configuration excludes (a removed
   * voter) are dropped before their term can disrupt us.
   */
  step(msg: Message): void {
    assert(msg.to === this.config.id, 'raft: message routed to the wrong node');
    if (msg.from === this.config.id) return;
    if ((msg.type === 'RequestVote' || msg.type === 'PreVote') && this.excludedByCommittedConfig(msg.from)) return;

    if (msg.term > this.termValue) {
      if (msg.type === 'RequestVote' || msg.type === 'PreVote') {
        // Leader lease: we heard from a live leader within the minimum election
        // timeout, so this candidate is the disruptive one; ignore it. Unless
        // that leader itself asked the candidate to campaign.
        const inLease = this.config.checkQuorum && this.leaderIdValue !== null && this.electionElapsedTicks < this.config.electionTicks;
        const transfer = msg.type === 'RequestVote' && msg.leadershipTransfer;
        if (inLease && !transfer) return;
      }
      if (msg.type === 'PreVote') {
        // Never change term in response to a pre-vote.
      } else if (msg.type === 'PreVoteReply' && msg.granted) {
        // Granted pre-votes carry the term we intend to campaign at.
      } else {
        const fromLeader = msg.type === 'AppendEntries' || msg.type === 'Heartbeat' || msg.type === 'InstallSnapshot';
        this.becomeFollower(msg.term, fromLeader ? msg.from : null);
      }
    } else if (msg.term < this.termValue) {
      if ((this.config.checkQuorum || this.config.preVote) && (msg.type === 'AppendEntries' || msg.type === 'Heartbeat')) {
        // A stale leader (e.g. one cut off while we moved on) learns our term
        // from the reply and steps down; without this, and with pre-vote
        // keeping terms from inflating, it could stay leader of a minority forever.
        this.send({ type: 'HeartbeatReply', from: this.config.id, to: msg.from, term: this.termValue });
      } else if (msg.type === 'PreVote') {
        this.send({ type: 'PreVoteReply', from: this.config.id, to: msg.from, term: this.termValue, granted: false });
      }
      return;
    }

    switch (msg.type) {
      case 'RequestVote':
      case 'PreVote':
        this.handleVoteRequest(msg);
        return;
      case 'RequestVoteReply':
        if (this.roleState.type === 'Candidate' && msg.term === this.termValue) this.poll(this.roleState.votes, msg.from, msg.granted);
        return;
      case 'PreVoteReply':
        if (this.roleState.type === 'PreCandidate') {
          const current = msg.granted ? msg.term === this.termValue + 1 : msg.term === this.termValue;
          if (current) this.poll(this.roleState.votes, msg.from, msg.granted);
        }
        return;
      case 'AppendEntries':
        if (!this.acceptLeader(msg)) return;
        this.handleAppendEntries(msg);
        return;
      case 'Heartbeat':
        if (!this.acceptLeader(msg)) return;
        this.log.commitTo(Math.min(msg.commitIndex, this.log.lastIndex()));
        this.send({ type: 'HeartbeatReply', from: this.config.id, to: msg.from, term: this.termValue });
        return;
      case 'InstallSnapshot':
        if (!this.acceptLeader(msg)) return;
        this.handleInstallSnapshot(msg);
        return;
      case 'AppendEntriesReply':
        if (this.roleState.type === 'Leader') this.handleAppendEntriesReply(this.roleState.progress, msg);
        return;
      case 'InstallSnapshotReply':
        if (this.roleState.type === 'Leader') {
          this.handleAppendSuccess(this.roleState.progress, msg.from, msg.matchIndex);
        }
        return;
      case 'HeartbeatReply':
        if (this.roleState.type === 'Leader') this.handleHeartbeatReply(this.roleState.progress, msg.from);
        return;
      case 'TimeoutNow':
        // From the leader of our term: campaign now, skipping pre-vote (the
        // leader vouches that it is stepping aside).
        if (this.roleState.type === 'Follower' && this.mayCampaign()) this.campaignAs('Candidate', true);
        return;
      default:
        assertNever(msg, 'raft message');
    }
  }

  // -------------------------------------------------------------------------
  // Outputs

  hasReady(): boolean {
    if (this.readyOutstanding) return false;
    if (this.outbox.length > 0) return true;
    if (this.log.pendingSnapshot() !== null) return true;
    if (this.log.lastIndex() > this.log.stableIndex()) return true;
    if (this.log.commitIndex() > Math.max(this.log.appliedIndex(), this.log.snapshotIndex())) return true;
    if (this.voterChangeOutcomes.length > 0) return true;
    if (!sameHardState(this.hardState(), this.previousHardState)) return true;
    return !sameSoftState(this.softState(), this.previousSoftState);
  }

  /** The work to do now; carry it out in the order of the module header, then call advance(). */
  ready(): Ready {
    assert(!this.readyOutstanding, 'raft: ready() called again before advance()');
    this.readyOutstanding = true;
    const softState = this.softState();
    const hardState = this.hardState();
    const snapshotToPersist = this.log.pendingSnapshot();
    const firstToApply = Math.max(this.log.appliedIndex(), this.log.snapshotIndex()) + 1;
    const ready: {
      -readonly [K in keyof Ready]: Ready[K];
    } = {
      entriesToPersist: this.log.unstableEntries(),
      messages: this.outbox,
      committedEntries: this.log.slice(firstToApply, this.log.commitIndex() + 1, this.config.maxCommittedEntriesPerReady),
      mustSync: false,
    };
    ready.mustSync =
      ready.entriesToPersist.length > 0 ||
      snapshotToPersist !== null ||
      hardState.term !== this.previousHardState.term ||
      hardState.votedFor !== this.previousHardState.votedFor;
    if (!sameSoftState(softState, this.previousSoftState)) ready.softState = softState;
    if (!sameHardState(hardState, this.previousHardState)) ready.hardState = hardState;
    if (snapshotToPersist !== null) ready.snapshotToPersist = snapshotToPersist;
    if (this.voterChangeOutcomes.length > 0) {
      ready.voterChanges = this.voterChangeOutcomes;
      this.voterChangeOutcomes = [];
    }
    this.outbox = [];
    this.previousSoftState = softState;
    this.previousHardState = hardState;
    return ready;
  }

  /** Acknowledges that `ready` was persisted, sent and applied. */
  advance(ready: Ready): void {
    assert(this.readyOutstanding, 'raft: advance() without ready()');
    this.readyOutstanding = false;
    if (ready.snapshotToPersist !== undefined) this.log.snapshotStableTo(ready.snapshotToPersist.index);
    const lastPersisted = ready.entriesToPersist[ready.entriesToPersist.length - 1];
    if (lastPersisted !== undefined) this.log.stableTo(lastPersisted.index, lastPersisted.term);
    const lastApplied = ready.committedEntries[ready.committedEntries.length - 1];
    if (lastApplied !== undefined) this.log.appliedTo(lastApplied.index);
  }

  // -------------------------------------------------------------------------
  // Role transitions (guarded)

  private becomeFollower(term: number, leaderId: NodeId | null): void {
    assert(term >= this.termValue, 'raft: term never decreases');
    if (this.roleState.type === 'Leader' && this.roleState.voterChange !== null) {
      this.finishVoterChange(this.roleState, 'Aborted');
    }
    if (term > this.termValue) {
      this.termValue = term;
      this.votedForValue = null;
    }
    this.roleState = { type: 'Follower' };
    this.leaderIdValue = leaderId;
    this.resetTimers();
  }

  private becomePreCandidate(): void {
    assert(this.roleState.type !== 'Leader', 'raft: a leader does not pre-campaign');
    // Term and vote are untouched: that is the point of pre-vote.
    this.roleState = { type: 'PreCandidate', votes: new Map() };
    this.leaderIdValue = null;
    this.resetTimers();
  }

  private becomeCandidate(): void {
    assert(this.roleState.type !== 'Leader', 'raft: a leader does not campaign');
    this.termValue += 1;
    this.votedForValue = this.config.id;
    this.roleState = { type: 'Candidate', votes: new Map() };
    this.leaderIdValue = null;
    this.resetTimers();
  }

  private becomeLeader(): void {
    assert(this.roleState.type === 'Candidate', 'raft: only a candidate becomes leader');
    const nextIndex = this.log.lastIndex() + 1;
    const progress = new Map<NodeId, Progress>();
    progress.set(this.config.id, new Progress(0, nextIndex, this.config.maxInflightAppends));
    this.syncProgress(progress);
    this.roleState = { type: 'Leader', progress, transfer: null, termStartIndex: nextIndex, voterChange: null, removed: false };
    this.leaderIdValue = this.config.id;
    this.resetTimers();
    const self = progress.get(this.config.id)!;
    self.maybeUpdate(this.log.lastIndex());
    self.becomeReplicate();
    // The no-op of this term: lets the leader commit (and learn the commit
    // index of) everything before it, since earlier terms' entries are never
    // committed by counting.
    this.appendAsLeader(progress, emptyPayload);
    this.broadcastAppend(progress);
  }

  private resetTimers(): void {
    this.electionElapsedTicks = 0;
    this.heartbeatElapsedTicks = 0;
    this.randomizedElectionTicks = this.rng.int(this.config.electionTicks, 2 * this.config.electionTicks);
  }

  // -------------------------------------------------------------------------
  // Timers

  private tickElection(): void {
    this.electionElapsedTicks += 1;
    if (this.electionElapsedTicks >= this.randomizedElectionTicks && this.mayCampaign()) {
      this.electionElapsedTicks = 0;
      this.startElection();
    }
  }

  private tickLeader(leader: LeaderState): void {
    const progress = leader.progress;
    this.heartbeatElapsedTicks += 1;
    this.electionElapsedTicks += 1;
    if (leader.transfer !== null) {
      leader.transfer.elapsedTicks += 1;
      if (leader.transfer.elapsedTicks >= this.config.electionTicks) {
        leader.transfer = null; // give up, take proposals again
        if (leader.removed) {
          // Removed and the hand-over did not finish: step down anyway; the voters elect after their timeout.
          this.becomeFollower(this.termValue, null);
          return;
        }
      }
    }
    if (leader.voterChange !== null) {
      leader.voterChange.elapsedTicks += 1;
      this.advanceVoterChange(leader);
      if (this.roleState !== leader) return;
    }
    this.maybeHandOver(leader);
    if (this.roleState !== leader) return;
    for (const [id, follower] of progress) {
      if (id === this.config.id || follower.state !== 'Snapshot') continue;
      // No transport failure reports reach a pure core: presume a snapshot
      // lost after an election timeout and let the next heartbeat reply retry.
      follower.pendingSnapshotAgeTicks += 1;
      if (follower.pendingSnapshotAgeTicks >= this.config.electionTicks) follower.becomeProbe();
    }
    if (this.electionElapsedTicks >= this.config.electionTicks) {
      this.electionElapsedTicks = 0;
      if (this.config.checkQuorum) {
        if (!this.quorumActive(progress)) {
          this.becomeFollower(this.termValue, null);
          return;
        }
        for (const [id, follower] of progress) if (id !== this.config.id) follower.recentActive = false;
      }
    }
    if (this.heartbeatElapsedTicks >= this.config.heartbeatTicks) {
      this.heartbeatElapsedTicks = 0;
      this.broadcastHeartbeat(progress);
    }
  }

  private quorumActive(progress: Map<NodeId, Progress>): boolean {
    let activeCount = 0;
    for (const voter of this.membershipValue.voters) {
      if (voter === this.config.id || progress.get(voter)?.recentActive === true) activeCount += 1;
    }
    return activeCount >= quorumSize(this.membershipValue.voters.length);
  }

  // -------------------------------------------------------------------------
  // Elections

  private startElection(): void {
    if (this.config.preVote) this.campaignAs('PreCandidate');
    else this.campaignAs('Candidate');
  }

  private campaignAs(role: 'PreCandidate' | 'Candidate', leadershipTransfer = false): void {
    if (role === 'PreCandidate') this.becomePreCandidate();
    else this.becomeCandidate();
    assert(this.roleState.type === role, 'raft: campaign role mismatch');
    const votes = this.roleState.votes;
    const voteTerm = role === 'PreCandidate' ? this.termValue + 1 : this.termValue;
    if (this.poll(votes, this.config.id, true)) return;
    const lastLogIndex = this.log.lastIndex();
    const lastLogTerm = this.log.lastTerm();
    for (const voter of this.membershipValue.voters) {
      if (voter === this.config.id) continue;
      const header = { from: this.config.id, to: voter, term: voteTerm, lastLogIndex, lastLogTerm };
      if (role === 'PreCandidate') this.send({ type: 'PreVote', ...header });
      else this.send({ type: 'RequestVote', ...header, leadershipTransfer });
    }
  }

  /** Records a vote; moves on when the election is decided. Returns true if decided. */
  private poll(votes: VoteTally, from: NodeId, granted: boolean): boolean {
    if (!isVoterOf(this.membershipValue, from)) return false;
    if (!votes.has(from)) votes.set(from, granted);
    const quorum = quorumSize(this.membershipValue.voters.length);
    let grantedCount = 0;
    let rejectedCount = 0;
    for (const vote of votes.values()) {
      if (vote) grantedCount += 1;
      else rejectedCount += 1;
    }
    if (grantedCount >= quorum) {
      if (this.roleState.type === 'PreCandidate') this.campaignAs('Candidate');
      else this.becomeLeader();
      return true;
    }
    if (rejectedCount >= quorum) {
      this.becomeFollower(this.termValue, null);
      return true;
    }
    return false;
  }

  private handleVoteRequest(msg: RequestVote | PreVote): void {
    const isPreVote = msg.type === 'PreVote';
    const canVote =
      this.votedForValue === msg.from ||
      (this.votedForValue === null && this.leaderIdValue === null) ||
      (isPreVote && msg.term > this.termValue);
    if (canVote && this.log.isUpToDate(msg.lastLogIndex, msg.lastLogTerm)) {
      const replyType = isPreVote ? 'PreVoteReply' : 'RequestVoteReply';
      this.send({ type: replyType, from: this.config.id, to: msg.from, term: msg.term, granted: true });
      if (!isPreVote) {
        assert(msg.term === this.termValue, 'raft: vote granted outside the current term');
        this.votedForValue = msg.from;
        this.electionElapsedTicks = 0;
      }
    } else {
      const replyType = isPreVote ? 'PreVoteReply' : 'RequestVoteReply';
      this.send({ type: replyType, from: this.config.id, to: msg.from, term: this.termValue, granted: false });
    }
  }

  // -------------------------------------------------------------------------
  // Follower side of replication

  /** A message from the leader of our term: follow it. False if we are that term's leader (cannot happen). */
  private acceptLeader(msg: AppendEntries | Heartbeat | InstallSnapshot): boolean {
    if (this.roleState.type === 'Leader') return false;
    if (this.roleState.type !== 'Follower') this.becomeFollower(msg.term, msg.from);
    this.leaderIdValue = msg.from;
    this.electionElapsedTicks = 0;
    return true;
  }

  private handleAppendEntries(msg: AppendEntries): void {
    const header = { type: 'AppendEntriesReply', from: this.config.id, to: msg.from, term: this.termValue } as const;
    if (msg.prevLogIndex < this.log.commitIndex()) {
      // Everything up to our commit index matches the leader (Log Matching +
      // Leader Completeness); tell it where to continue.
      this.send({ ...header, success: true, matchIndex: this.log.commitIndex() });
      return;
    }
    const lastNewIndex = this.log.maybeAppend(msg.prevLogIndex, msg.prevLogTerm, msg.leaderCommit, msg.entries);
    // Appended Config entries are in force at once; a truncated one no longer is.
    this.refreshMembership();
    if (lastNewIndex !== null) {
      this.send({ ...header, success: true, matchIndex: lastNewIndex });
      return;
    }
    const hint = this.log.findConflictByTerm(Math.min(msg.prevLogIndex, this.log.lastIndex()), msg.prevLogTerm);
    this.send({ ...header, success: false, rejectedIndex: msg.prevLogIndex, hintIndex: hint.index, hintTerm: hint.term });
  }

  private handleInstallSnapshot(msg: InstallSnapshot): void {
    const snapshot = msg.snapshot;
    const reply = { type: 'InstallSnapshotReply', from: this.config.id, to: msg.from, term: this.termValue } as const;
    if (snapshot.index <= this.log.commitIndex()) {
      this.send({ ...reply, matchIndex: this.log.commitIndex() });
      return;
    }
    if (this.log.matchTerm(snapshot.index, snapshot.term)) {
      // We already hold the snapshot's last entry: keep our log (entries after
      // it may be acknowledged to this leader already) and just commit.
      this.log.commitTo(snapshot.index);
      this.send({ ...reply, matchIndex: snapshot.index });
      return;
    }
    this.log.restore(snapshot);
    this.refreshMembership();
    this.send({ ...reply, matchIndex: snapshot.index });
  }

  // -------------------------------------------------------------------------
  // Leader side of replication

  private appendAsLeader(progress: Map<NodeId, Progress>, data: Uint8Array, kind?: 'Config'): Entry {
    const entry: Entry =
      kind === undefined ? { index: this.log.lastIndex() + 1, term: this.termValue, data } : { index: this.log.lastIndex() + 1, term: this.termValue, data, kind };
    this.log.truncateAndAppend([entry]);
    // A Config entry is in force from its append: progress and quorum follow it before anything counts.
    if (kind === 'Config') this.refreshMembership();
    progress.get(this.config.id)!.maybeUpdate(entry.index);
    this.maybeCommit(progress);
    return entry;
  }

  /** Advances the commit index to the highest index of this term held by a quorum of the voters in force. */
  private maybeCommit(progress: Map<NodeId, Progress>): boolean {
    const matchIndexes: number[] = [];
    for (const voter of this.membershipValue.voters) matchIndexes.push(progress.get(voter)?.matchIndex ?? 0);
    matchIndexes.sort((a, b) => b - a);
    const quorumMatchIndex = matchIndexes[quorumSize(matchIndexes.length) - 1]!;
    if (quorumMatchIndex <= this.log.commitIndex()) return false;
    // Figure 8: never commit an entry of an earlier term by counting replicas.
    if (this.log.term(quorumMatchIndex) !== this.termValue) return false;
    this.log.commitTo(quorumMatchIndex);
    return true;
  }

  private broadcastAppend(progress: Map<NodeId, Progress>): void {
    for (const id of progress.keys()) if (id !== this.config.id) this.sendAppend(progress, id, true);
  }

  private broadcastHeartbeat(progress: Map<NodeId, Progress>): void {
    for (const [id, follower] of progress) {
      if (id === this.config.id) continue;
      const commitIndex = Math.min(follower.matchIndex, this.log.commitIndex());
      this.send({ type: 'Heartbeat', from: this.config.id, to: id, term: this.termValue, commitIndex });
    }
  }

  /** Sends the follower what it needs next, if it is not paused. Returns whether something was sent. */
  private sendAppend(progress: Map<NodeId, Progress>, to: NodeId, sendIfEmpty: boolean): boolean {
    const follower = progress.get(to);
    if (follower === undefined || follower.isPaused()) return false;
    assert(follower.nextIndex <= this.log.lastIndex() + 1, 'raft: nextIndex beyond the log');
    const prevLogIndex = follower.nextIndex - 1;
    const prevLogTerm = this.log.term(prevLogIndex);
    if (prevLogTerm === undefined) {
      // The follower needs entries we compacted: send the snapshot instead, but
      // only to a follower we heard from lately (it may be down).
      if (!follower.recentActive) return false;
      const snapshot = this.log.snapshot();
      assert(snapshot !== null, 'raft: compacted log without a snapshot');
      follower.becomeSnapshot(snapshot.index);
      this.send({ type: 'InstallSnapshot', from: this.config.id, to, term: this.termValue, snapshot });
      return true;
    }
    const entries = this.log.slice(follower.nextIndex, this.log.lastIndex() + 1, this.config.maxEntriesPerAppend);
    if (entries.length === 0 && !sendIfEmpty) return false;
    this.send({
      type: 'AppendEntries',
      from: this.config.id,
      to,
      term: this.termValue,
      prevLogIndex,
      prevLogTerm,
      entries,
      leaderCommit: this.log.commitIndex(),
    });
    const last = entries[entries.length - 1];
    if (last !== undefined) follower.sentEntries(last.index);
    else follower.sentProbe();
    return true;
  }

  private handleAppendEntriesReply(progress: Map<NodeId, Progress>, msg: AppendEntriesReply): void {
    if (msg.success) {
      this.handleAppendSuccess(progress, msg.from, msg.matchIndex);
      return;
    }
    const follower = progress.get(msg.from);
    if (follower === undefined) return;
    follower.recentActive = true;
    // Skip back over the follower's divergent term in one step when we can.
    const matchHint = msg.hintTerm > 0 ? this.log.findConflictByTerm(msg.hintIndex, msg.hintTerm).index : msg.hintIndex;
    if (follower.maybeDecreaseTo(msg.rejectedIndex, matchHint)) {
      if (follower.state === 'Replicate') follower.becomeProbe();
      this.sendAppend(progress, msg.from, true);
    }
  }

  /** The follower's log matches ours up to `matchIndex` (an append or snapshot acknowledgement). */
  private handleAppendSuccess(progress: Map<NodeId, Progress>, from: NodeId, matchIndex: number): void {
    const follower = progress.get(from);
    if (follower === undefined) return;
    follower.recentActive = true;
    assert(matchIndex <= this.log.lastIndex(), 'raft: follower matched beyond the leader log');
    const wasPaused = follower.isPaused();
    if (!follower.maybeUpdate(matchIndex)) return;
    if (follower.state === 'Probe') {
      follower.becomeReplicate();
    } else if (follower.state === 'Snapshot' && follower.matchIndex >= follower.pendingSnapshotIndex) {
      follower.becomeProbe();
      follower.becomeReplicate();
    }
    if (this.maybeCommit(progress)) {
      // Tell everyone the new commit index (and send what they still need).
      this.broadcastAppend(progress);
    } else if (wasPaused) {
      this.sendAppend(progress, from, true);
    }
    // Stream as much as flow control allows.
    while (this.sendAppend(progress, from, false));
    const leader = this.roleState;
    assert(leader.type === 'Leader', 'raft: append success handled by a non-leader');
    if (leader.transfer?.target === from && follower.matchIndex === this.log.lastIndex()) {
      this.send({ type: 'TimeoutNow', from: this.config.id, to: from, term: this.termValue });
      if (leader.removed) {
        this.becomeFollower(this.termValue, null);
        return;
      }
    }
    // A commit or a learner's progress may move a voter change on (and may end this leadership).
    this.advanceVoterChange(leader);
    if (this.roleState === leader) this.maybeHandOver(leader);
  }

  /**
   * Whether this node may start an election: it is a voter of the
   * configuration in force, or that configuration removed it by an entry not
   * known to be committed and it was a voter of the one before. Without the
   * second case a removal whose entry only the removed node holds could never
   * commit: that node would not campaign, and the others, whose logs are
   * behind its, could not win its vote. Safe: it wins only with a majority of
   * the configuration in force, which overlaps every majority of the one
   * before (single-server changes); as leader it is a removed leader and
   * hands over once the removal commits.
   */
  private mayCampaign(): boolean {
    if (this.isVoter) return true;
    const lastConfigIndex = this.log.lastConfigIndex();
    if (lastConfigIndex === 0 || lastConfigIndex <= this.log.commitIndex()) return false;
    return isVoterOf(this.membershipAt(lastConfigIndex - 1), this.config.id);
  }

  /**
   * Vote requests from `from` are ignored: our configuration in force is
   * committed (as far as we know) and does not make it a voter. An
   * uncommitted configuration of ours may be truncated, so it excludes no one:
   * a candidate that a newer leader's log makes a voter may need our vote
   * (thesis §4.1 grants votes to candidates outside the configuration for the
   * same reason).
   */
  private excludedByCommittedConfig(from: NodeId): boolean {
    if (isVoterOf(this.membershipValue, from)) return false;
    return this.log.lastConfigIndex() <= this.log.commitIndex();
  }

  /** A leader that is no voter of the configuration in force, once that configuration committed, hands over and steps down. */
  private maybeHandOver(leader: LeaderState): void {
    if (leader.removed || this.isVoter || this.log.lastConfigIndex() > this.log.commitIndex()) return;
    this.handOverAfterRemoval(leader);
  }

  // -------------------------------------------------------------------------
  // Membership

  /** The configuration in force at `index`: the last Config entry at or before it, else the snapshot's, else the bootstrap. */
  private membershipAt(index: number): Membership {
    const configIndex = this.log.configIndexAtOrBefore(index);
    if (configIndex > 0) {
      const decoded = decodeMembership(this.log.entry(configIndex)!.data);
      // Input is trusted: the shell validated the entry before it was stepped, or this leader wrote it.
      assert(typeof decoded !== 'string', `raft: config entry ${configIndex}: ${String(decoded)}`);
      return decoded;
    }
    const snapshot = this.log.snapshot();
    if (snapshot !== null && index >= snapshot.index) return makeMembership(snapshot.voters, snapshot.learners ?? []);
    return makeMembership(this.config.voters);
  }

  /** After the log changed at its end: the configuration in force follows, and a leader's progress follows it. */
  private refreshMembership(): void {
    const next = this.membershipAt(this.log.lastIndex());
    if (sameMembership(next, this.membershipValue)) return;
    this.membershipValue = next;
    if (this.roleState.type === 'Leader') this.syncProgress(this.roleState.progress);
  }

  /** Progress for every member in force (new ones start probing at our end), none for former ones; always this node's. */
  private syncProgress(progress: Map<NodeId, Progress>): void {
    const nextIndex = this.log.lastIndex() + 1;
    for (const id of [...this.membershipValue.voters, ...this.membershipValue.learners]) {
      if (!progress.has(id)) progress.set(id, new Progress(0, nextIndex, this.config.maxInflightAppends));
    }
    for (const id of [...progress.keys()]) {
      if (id !== this.config.id && !isMemberOf(this.membershipValue, id)) progress.delete(id);
    }
  }

  /**
   * Starts a single-server change (module header). The outcome comes out in
   * Ready.voterChanges; the result here says only whether it started.
   */
  changeVoters(change: VoterChange): VoterChangeResult {
    const leader = this.roleState;
    if (leader.type !== 'Leader') return { type: 'NotLeader', leaderId: this.leaderIdValue };
    if (leader.transfer !== null) return { type: 'LeadershipTransferInProgress', transferTarget: leader.transfer.target };
    const membership = this.membershipValue;
    const { id } = change;
    if (change.type === 'AddVoter' && isVoterOf(membership, id)) return { type: 'DuplicateVoter' };
    if (change.type === 'RemoveVoter' && !isMemberOf(membership, id)) return { type: 'VoterNotFound' };
    if (change.type === 'RemoveVoter' && isVoterOf(membership, id) && membership.voters.length === 1) return { type: 'LastVoter' };
    if (leader.voterChange !== null || leader.removed) return { type: 'ChangeInProgress' };
    if (this.log.lastConfigIndex() > this.log.commitIndex() || this.log.commitIndex() < leader.termStartIndex) return { type: 'ChangeInProgress' };
    const uncommittedCount = this.log.lastIndex() - this.log.commitIndex();
    if (uncommittedCount >= this.config.maxUncommittedEntries) return { type: 'TooManyUncommitted', uncommittedCount };
    const pending: PendingVoterChange = { change, phase: 'Removing', configIndex: 0, elapsedTicks: 0 };
    leader.voterChange = pending;
    if (change.type === 'RemoveVoter') {
      const next = makeMembership(
        membership.voters.filter((voter) => voter !== id),
        membership.learners.filter((learner) => learner !== id),
      );
      pending.configIndex = this.appendConfig(leader, next);
    } else if (membership.learners.includes(id)) {
      // Already a learner (an earlier AddVoter timed out, say): catch it up and promote it.
      pending.phase = 'CatchingUp';
      pending.configIndex = this.log.lastConfigIndex();
    } else {
      pending.phase = 'AddingLearner';
      pending.configIndex = this.appendConfig(leader, makeMembership(membership.voters, [...membership.learners, id]));
    }
    this.advanceVoterChange(leader);
    return { type: 'Started' };
  }

  private appendConfig(leader: LeaderState, next: Membership): number {
    const entry = this.appendAsLeader(leader.progress, encodeMembership(next), 'Config');
    this.broadcastAppend(leader.progress);
    return entry.index;
  }

  /**
   * Moves the voter change on as far as it can go now: called after the
   * change starts, after every append acknowledgement and on every tick. May
   * end the leadership (a leader whose own removal committed steps down).
   */
  private advanceVoterChange(leader: LeaderState): void {
    const pending = leader.voterChange;
    if (pending === null) return;
    const committed = this.log.commitIndex() >= pending.configIndex;
    const id = pending.change.id;
    // The learner entry committed: the learner may already be caught up, so go on at once.
    if (pending.phase === 'AddingLearner' && committed) pending.phase = 'CatchingUp';
    switch (pending.phase) {
      case 'AddingLearner':
        break;
      case 'CatchingUp': {
        const learner = leader.progress.get(id);
        const caughtUp =
          learner !== undefined &&
          learner.matchIndex >= pending.configIndex &&
          this.log.lastIndex() - learner.matchIndex <= this.config.learnerCaughtUpLagEntriesMax;
        if (caughtUp) {
          const membership = this.membershipValue;
          pending.phase = 'Promoting';
          pending.configIndex = this.appendConfig(leader, makeMembership([...membership.voters, id], membership.learners.filter((l) => l !== id)));
          if (this.log.commitIndex() >= pending.configIndex) this.finishVoterChange(leader, 'Committed');
          return;
        }
        break;
      }
      case 'Promoting':
        if (committed) {
          this.finishVoterChange(leader, 'Committed');
          return;
        }
        break;
      case 'Removing':
        if (committed) {
          this.finishVoterChange(leader, 'Committed');
          if (!this.isVoter) this.handOverAfterRemoval(leader);
          return;
        }
        break;
      default:
        assertNever(pending.phase, 'voter change phase');
    }
    if (pending.elapsedTicks < this.config.voterCatchUpTicksMax) return;
    const wasCatchingUp = pending.phase === 'CatchingUp';
    this.finishVoterChange(leader, 'TimedOut');
    if (wasCatchingUp) {
      // The learner never caught up: take it out again, so the configuration is as before the AddVoter.
      const membership = this.membershipValue;
      this.appendConfig(leader, makeMembership(membership.voters, membership.learners.filter((l) => l !== id)));
    }
  }

  private finishVoterChange(leader: LeaderState, outcome: VoterChangeOutcome['outcome']): void {
    const pending = leader.voterChange;
    assert(pending !== null, 'raft: no voter change to finish');
    leader.voterChange = null;
    this.voterChangeOutcomes.push({ change: pending.change, outcome, membership: this.membershipValue });
  }

  /**
   * This leader's removal committed: hand leadership to the most caught-up
   * voter (TimeoutNow at once when it holds our whole log, else a transfer
   * that catches it up first), then step down. Proposals stop meanwhile.
   */
  private handOverAfterRemoval(leader: LeaderState): void {
    leader.removed = true;
    let target: NodeId | null = null;
    let best = -1;
    for (const voter of this.membershipValue.voters) {
      const matchIndex = leader.progress.get(voter)?.matchIndex ?? 0;
      if (matchIndex > best) {
        best = matchIndex;
        target = voter;
      }
    }
    if (target === null) {
      this.becomeFollower(this.termValue, null);
      return;
    }
    if (best === this.log.lastIndex()) {
      this.send({ type: 'TimeoutNow', from: this.config.id, to: target, term: this.termValue });
      this.becomeFollower(this.termValue, null);
      return;
    }
    leader.transfer = { target, elapsedTicks: 0 };
    this.sendAppend(leader.progress, target, true);
  }

  private handleHeartbeatReply(progress: Map<NodeId, Progress>, from: NodeId): void {
    const follower = progress.get(from);
    if (follower === undefined) return;
    follower.recentActive = true;
    follower.onHeartbeatReply();
    if (follower.matchIndex < this.log.lastIndex() || follower.state === 'Probe') this.sendAppend(progress, from, true);
  }

  private send(msg: Message): void {
    this.outbox.push(msg);
  }
}

function sameHardState(a: HardState, b: HardState): boolean {
  return a.term === b.term && a.votedFor === b.votedFor && a.commitIndex === b.commitIndex;
}

function sameSoftState(a: SoftState, b: SoftState): boolean {
  return a.role === b.role && a.leaderId === b.leaderId && a.term === b.term;
}
