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
 * - Voters are fixed by configuration: no membership changes.
 */
import { assert, assertNever } from '../../../runtime/assert.ts';
import type { Rng } from '../../../runtime/rng.ts';
import { RaftLog } from './log.ts';
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

/** A read-only view of a follower's progress, for tests and status pages. */
export type ProgressView = { readonly state: ProgressState; readonly matchIndex: number; readonly nextIndex: number };

type VoteTally = Map<NodeId, boolean>;

/** The role with the data only that role has. Transitions go through become*(), which assert their source role. */
type RoleState =
  | { readonly type: 'Follower' }
  | { readonly type: 'PreCandidate'; readonly votes: VoteTally }
  | { readonly type: 'Candidate'; readonly votes: VoteTally }
  | { readonly type: 'Leader'; readonly progress: Map<NodeId, Progress>; transfer: LeadershipTransfer | null };

type LeadershipTransfer = { readonly target: NodeId; elapsedTicks: number };
type LeaderState = Extract<RoleState, { type: 'Leader' }>;

const emptyHardState: HardState = { term: 0, votedFor: null, commitIndex: 0 };
const emptyPayload = new Uint8Array(0);

export class Raft {
  readonly config: RaftConfig;
  private readonly rng: Rng;
  private readonly log: RaftLog;
  private readonly quorum: number;
  private readonly isVoter: boolean;

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
    this.quorum = quorumSize(config.voters.length);
    this.isVoter = config.voters.includes(config.id);
    this.log = new RaftLog(persisted.snapshot ?? null, persisted.entries, persisted.hardState.commitIndex);
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

  /** Start an election now (as if the election timer fired). No-op for a leader or a non-voter. */
  campaign(): void {
    if (this.roleState.type === 'Leader' || !this.isVoter) return;
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
    if (follower === undefined) return { type: 'NotAVoter' };
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
    const snapshot: Snapshot = { index, term, voters: [...this.config.voters], data };
    this.log.compact(snapshot);
    return snapshot;
  }

  /**
   * A message from a peer. Messages for another node are a routing bug;
   * messages from outside the voter set (a misconfigured node) are dropped.
   */
  step(msg: Message): void {
    assert(msg.to === this.config.id, 'raft: message routed to the wrong node');
    if (msg.from === this.config.id || !this.config.voters.includes(msg.from)) return;

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
        if (this.roleState.type === 'Follower' && this.isVoter) this.campaignAs('Candidate', true);
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
    for (const voter of this.config.voters) {
      progress.set(voter, new Progress(0, nextIndex, this.config.maxInflightAppends));
    }
    this.roleState = { type: 'Leader', progress, transfer: null };
    this.leaderIdValue = this.config.id;
    this.resetTimers();
    const self = progress.get(this.config.id);
    if (self !== undefined) {
      self.maybeUpdate(this.log.lastIndex());
      self.becomeReplicate();
    }
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
    if (this.isVoter && this.electionElapsedTicks >= this.randomizedElectionTicks) {
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
      if (leader.transfer.elapsedTicks >= this.config.electionTicks) leader.transfer = null; // give up, take proposals again
    }
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
    for (const [id, follower] of progress) if (id === this.config.id || follower.recentActive) activeCount += 1;
    return activeCount >= this.quorum;
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
    for (const voter of this.config.voters) {
      if (voter === this.config.id) continue;
      const header = { from: this.config.id, to: voter, term: voteTerm, lastLogIndex, lastLogTerm };
      if (role === 'PreCandidate') this.send({ type: 'PreVote', ...header });
      else this.send({ type: 'RequestVote', ...header, leadershipTransfer });
    }
  }

  /** Records a vote; moves on when the election is decided. Returns true if decided. */
  private poll(votes: VoteTally, from: NodeId, granted: boolean): boolean {
    if (!this.config.voters.includes(from)) return false;
    if (!votes.has(from)) votes.set(from, granted);
    let grantedCount = 0;
    let rejectedCount = 0;
    for (const vote of votes.values()) {
      if (vote) grantedCount += 1;
      else rejectedCount += 1;
    }
    if (grantedCount >= this.quorum) {
      if (this.roleState.type === 'PreCandidate') this.campaignAs('Candidate');
      else this.becomeLeader();
      return true;
    }
    if (rejectedCount >= this.quorum) {
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
    this.send({ ...reply, matchIndex: snapshot.index });
  }

  // -------------------------------------------------------------------------
  // Leader side of replication

  private appendAsLeader(progress: Map<NodeId, Progress>, data: Uint8Array): Entry {
    const entry: Entry = { index: this.log.lastIndex() + 1, term: this.termValue, data };
    this.log.truncateAndAppend([entry]);
    const self = progress.get(this.config.id);
    if (self !== undefined) self.maybeUpdate(entry.index);
    this.maybeCommit(progress);
    return entry;
  }

  /** Advances the commit index to the highest index of this term held by a quorum. */
  private maybeCommit(progress: Map<NodeId, Progress>): boolean {
    const matchIndexes: number[] = [];
    for (const voter of this.config.voters) matchIndexes.push(progress.get(voter)!.matchIndex);
    matchIndexes.sort((a, b) => b - a);
    const quorumMatchIndex = matchIndexes[this.quorum - 1]!;
    if (quorumMatchIndex <= this.log.commitIndex()) return false;
    // Figure 8: never commit an entry of an earlier term by counting replicas.
    if (this.log.term(quorumMatchIndex) !== this.termValue) return false;
    this.log.commitTo(quorumMatchIndex);
    return true;
  }

  private broadcastAppend(progress: Map<NodeId, Progress>): void {
    for (const voter of this.config.voters) if (voter !== this.config.id) this.sendAppend(progress, voter, true);
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
    const transferTarget = this.roleState.type === 'Leader' ? this.roleState.transfer?.target : undefined;
    if (transferTarget === from && follower.matchIndex === this.log.lastIndex()) {
      this.send({ type: 'TimeoutNow', from: this.config.id, to: from, term: this.termValue });
    }
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
