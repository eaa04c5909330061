/**
 * Raft types: the data that crosses the boundary of the pure Raft core
 * (raft.ts). Messages between voters, log entries, the hard state the caller
 * persists, snapshots of the metadata image, and the `Ready` batch of work the
 * core hands to its caller.
 *
 * Owns: only type definitions and the configuration defaults with their
 * asserted relationships. Imports nothing but runtime/assert.ts.
 *
 * Invariants and conventions:
 * - Terms and indexes are plain `number`s (safe integers; a metadata log does
 *   not approach 2^53 entries). Index 0 / term 0 mean "before the first entry".
 * - Every message carries `from`, `to` and `term` (the sender's current term,
 *   except a granted `PreVoteReply`, which echoes the pre-vote's future term).
 * - Entry payloads are opaque `Uint8Array`s. A zero-length payload is the
 *   no-op entry a new leader appends at the start of its term (Raft §5.4.2:
 *   only entries of the current term are committed by counting replicas);
 *   applications skip it. Proposals must therefore be non-empty.
 * - An entry's `kind` says who reads its payload: absent (or 'Data') = the
 *   application (opaque to Raft); 'Config' = Raft itself (a Membership encoded
 *   by membership.ts). Applications skip Config entries as they skip no-ops,
 *   so the payload boundary stays clean: the application never has to tell a
 *   configuration from its own records by looking inside the bytes.
 * - Messages may hold references to entries and snapshot bytes the core keeps;
 *   treat everything in a `Ready` as read-only.
 */
import { assert } from '../../../runtime/assert.ts';

/** A voter's id: the broker id of the node that hosts it. */
export type NodeId = number;

/** Who reads an entry's payload: the application ('Data', the default when absent) or Raft ('Config'). */
export type EntryKind = 'Data' | 'Config';

export type Entry = {
  readonly index: number;
  readonly term: number;
  /** Opaque to Raft when kind is Data. Empty Data = the leader's no-op entry at the start of a term. */
  readonly data: Uint8Array;
  /** Absent = 'Data'. A 'Config' entry's data is a Membership (membership.ts), read by Raft. */
  readonly kind?: EntryKind;
};

/**
 * A configuration of the quorum (etcd's ConfState): `voters` elect and count
 * for commit; `learners` (etcd's learners, KRaft's observers that the leader
 * replicates to) receive the log but neither vote nor count. Disjoint, sorted.
 */
export type Membership = {
  readonly voters: readonly NodeId[];
  readonly learners: readonly NodeId[];
};

/**
 * What must be durable before any message of the same Ready is sent: a vote
 * must survive a crash (or a restarted node could vote twice in one term), and
 * so must the term. `commitIndex` is persisted so a restart re-applies exactly
 * the committed prefix without waiting for the leader.
 */
export type HardState = {
  readonly term: number;
  readonly votedFor: NodeId | null;
  readonly commitIndex: number;
};

/**
 * The application's state (the metadata image) as of `index`, which has
 * `term`. Entries up to and including `index` are discarded from the log once
 * the snapshot exists. `voters` (and `learners`, absent = none) record the
 * configuration in force at `index`: the last Config entry at or before it, or
 * the bootstrap voters when the log had none. A node restored from the
 * snapshot starts from that configuration.
 */
export type Snapshot = {
  readonly index: number;
  readonly term: number;
  readonly voters: readonly NodeId[];
  readonly learners?: readonly NodeId[];
  readonly data: Uint8Array;
};

export type Role = 'Follower' | 'PreCandidate' | 'Candidate' | 'Leader';

/** Volatile state, reported on change so the shell can log transitions. */
export type SoftState = {
  readonly role: Role;
  readonly leaderId: NodeId | null;
  readonly term: number;
};

// ---------------------------------------------------------------------------
// Messages. One discriminated union on `type`. Requests are imperatives
// (RequestVote), a reply is `<Request>Reply`.

type Header = { readonly from: NodeId; readonly to: NodeId; readonly term: number };

/**
 * Candidate asks for a vote in `term`. Granted only to an up-to-date log.
 * `leadershipTransfer`: the candidate campaigns because the leader told it to
 * (TimeoutNow), so voters answer even while they hold the old leader's lease.
 */
export type RequestVote = Header & {
  readonly type: 'RequestVote';
  readonly lastLogIndex: number;
  readonly lastLogTerm: number;
  readonly leadershipTransfer: boolean;
};
export type RequestVoteReply = Header & { readonly type: 'RequestVoteReply'; readonly granted: boolean };

/**
 * Pre-vote (Raft thesis §9.6): "would you vote for me in `term`?", where
 * `term` is the sender's term + 1. Neither side changes its term or vote, so a
 * node that was partitioned away cannot disrupt a healthy leader by rejoining
 * with an inflated term.
 */
export type PreVote = Header & {
  readonly type: 'PreVote';
  readonly lastLogIndex: number;
  readonly lastLogTerm: number;
};
/** A granted reply carries the pre-vote's term; a rejection the voter's own term. */
export type PreVoteReply = Header & { readonly type: 'PreVoteReply'; readonly granted: boolean };

/**
 * Replicate `entries` after (`prevLogIndex`, `prevLogTerm`). `leaderCommit` is
 * the leader's commit index; the follower commits up to
 * min(leaderCommit, index of the last entry this message proved to match).
 */
export type AppendEntries = Header & {
  readonly type: 'AppendEntries';
  readonly prevLogIndex: number;
  readonly prevLogTerm: number;
  readonly entries: readonly Entry[];
  readonly leaderCommit: number;
};

/**
 * Success: the follower's log matches the leader's up to `matchIndex`.
 * Rejection: the follower has no entry (`rejectedIndex`, leader's prevLogTerm).
 * (`hintIndex`, `hintTerm`) is the follower's last entry at or before
 * min(rejectedIndex, its last index) whose term is <= the rejected prevLogTerm:
 * the leader can skip a whole divergent term per round trip (fast
 * backtracking) instead of one index.
 */
export type AppendEntriesReply =
  | (Header & { readonly type: 'AppendEntriesReply'; readonly success: true; readonly matchIndex: number })
  | (Header & {
      readonly type: 'AppendEntriesReply';
      readonly success: false;
      readonly rejectedIndex: number;
      readonly hintIndex: number;
      readonly hintTerm: number;
    });

/**
 * Leader's liveness signal, every `heartbeatTicks`. `commitIndex` is
 * min(leader commit, the follower's known matchIndex) so it never asks a
 * follower to commit an entry not known to match the leader's.
 */
export type Heartbeat = Header & { readonly type: 'Heartbeat'; readonly commitIndex: number };
export type HeartbeatReply = Header & { readonly type: 'HeartbeatReply' };

/** Sent when the follower needs entries the leader has compacted away. */
export type InstallSnapshot = Header & { readonly type: 'InstallSnapshot'; readonly snapshot: Snapshot };
/** `matchIndex`: the follower's log now matches the leader's up to here. */
export type InstallSnapshotReply = Header & { readonly type: 'InstallSnapshotReply'; readonly matchIndex: number };

/**
 * Leadership transfer (thesis §3.10): the leader, having brought the target's
 * log up to date and stopped taking proposals, tells it to campaign at once.
 */
export type TimeoutNow = Header & { readonly type: 'TimeoutNow' };

export type Message =
  | RequestVote
  | RequestVoteReply
  | PreVote
  | PreVoteReply
  | AppendEntries
  | AppendEntriesReply
  | Heartbeat
  | HeartbeatReply
  | InstallSnapshot
  | InstallSnapshotReply
  | TimeoutNow;

export type MessageType = Message['type'];

// ---------------------------------------------------------------------------
// Ready: the batch of work the core hands out. See raft.ts for the order in
// which the caller must carry it out.

export type Ready = {
  /** Present when role, leader or term changed since the last Ready. Log it; never persist it. */
  readonly softState?: SoftState;
  /** Present when it changed since the last Ready. Persist before sending. */
  readonly hardState?: HardState;
  /** A snapshot received from the leader: persist it (replacing the whole log), restore the image from it. */
  readonly snapshotToPersist?: Snapshot;
  /**
   * Append to the persisted log, first discarding any persisted entries at or
   * after `entriesToPersist[0].index` (a conflicting suffix being replaced).
   */
  readonly entriesToPersist: readonly Entry[];
  /** Send after everything above is durable. Delivery may fail, repeat or reorder. */
  readonly messages: readonly Message[];
  /** Apply to the state machine in order, after persisting. Skip empty (no-op) payloads. */
  readonly committedEntries: readonly Entry[];
  /**
   * Voter changes (changeVoters) that finished on this leader since the last
   * Ready: answer the operator. 'Committed' is reported once the final
   * configuration entry committed; 'TimedOut' when a learner did not catch up
   * within voterCatchUpTicksMax (it is removed again); 'Aborted' when this node
   * stopped leading first (the change may still commit under the next leader).
   */
  readonly voterChanges?: readonly VoterChangeOutcome[];
  /**
   * Whether the persistence step needs an fsync before sending: true when the
   * term or vote changed or entries or a snapshot are to be persisted. A change
   * of commitIndex alone may be written lazily (a lower persisted commit index
   * is always safe: it is re-learned from the leader).
   */
  readonly mustSync: boolean;
};

// ---------------------------------------------------------------------------
// Voter changes (single-server changes, Raft thesis §4.1; Kafka KIP-853)

export type VoterChange = { readonly type: 'AddVoter'; readonly id: NodeId } | { readonly type: 'RemoveVoter'; readonly id: NodeId };

export type VoterChangeOutcome = {
  readonly change: VoterChange;
  readonly outcome: 'Committed' | 'TimedOut' | 'Aborted';
  /** The configuration the change left in force on this node. */
  readonly membership: Membership;
};

// ---------------------------------------------------------------------------
// Configuration

export type RaftConfig = {
  /** This node's id; it campaigns only while it is a voter of the configuration in force. */
  readonly id: NodeId;
  /**
   * The bootstrap voter set (Kafka's controller.quorum.bootstrap.servers): in
   * force only while neither the snapshot nor the log holds a configuration.
   * A node that is not in it starts as an observer.
   */
  readonly voters: readonly NodeId[];
  /**
   * Ticks without hearing from a leader before a follower campaigns; the actual
   * timeout is drawn uniformly from [electionTicks, 2 * electionTicks) on every
   * reset so that split votes resolve. Also the leader's check-quorum period.
   */
  readonly electionTicks: number;
  /** A leader sends heartbeats every `heartbeatTicks`. */
  readonly heartbeatTicks: number;
  /** Bound on the entries carried by one AppendEntries. */
  readonly maxEntriesPerAppend: number;
  /** Bound on unacknowledged AppendEntries per follower in the replicate state (flow control). */
  readonly maxInflightAppends: number;
  /** A leader refuses proposals while this many entries are appended but not committed. */
  readonly maxUncommittedEntries: number;
  /** Bound on the committed entries handed out in one Ready (the rest come in the next). */
  readonly maxCommittedEntriesPerReady: number;
  /** Run a pre-vote round before bumping the term (thesis §9.6). */
  readonly preVote: boolean;
  /**
   * A leader steps down when it has not heard from a majority within an
   * election timeout, and a follower that heard from a leader within the
   * election timeout ignores vote requests (the leader lease).
   */
  readonly checkQuorum: boolean;
  /** A learner counts as caught up when its matchIndex is within this many entries of the leader's last index. */
  readonly learnerCaughtUpLagEntriesMax: number;
  /** An AddVoter whose learner has not caught up within this many ticks fails (TimedOut) and the learner is removed. */
  readonly voterCatchUpTicksMax: number;
};

export const raftConfigDefaults = {
  electionTicks: 10,
  heartbeatTicks: 1,
  maxEntriesPerAppend: 64,
  maxInflightAppends: 16,
  maxUncommittedEntries: 1024,
  maxCommittedEntriesPerReady: 1024,
  preVote: true,
  checkQuorum: true,
  learnerCaughtUpLagEntriesMax: 32,
  voterCatchUpTicksMax: 200,
} as const satisfies Omit<RaftConfig, 'id' | 'voters'>;

export type RaftConfigInput = Pick<RaftConfig, 'id' | 'voters'> & Partial<Omit<RaftConfig, 'id' | 'voters'>>;

/** Fills defaults and asserts the relationships between the bounds. */
export function makeRaftConfig(input: RaftConfigInput): RaftConfig {
  const config: RaftConfig = { ...raftConfigDefaults, ...input, voters: [...input.voters] };
  assert(Number.isSafeInteger(config.id), 'raft: id must be an integer');
  assert(config.voters.length >= 1, 'raft: at least one voter');
  assert(new Set(config.voters).size === config.voters.length, 'raft: voters must be distinct');
  assert(config.heartbeatTicks >= 1, 'raft: heartbeatTicks >= 1');
  assert(config.electionTicks > config.heartbeatTicks, 'raft: electionTicks > heartbeatTicks');
  assert(config.maxEntriesPerAppend >= 1, 'raft: maxEntriesPerAppend >= 1');
  assert(config.maxInflightAppends >= 1, 'raft: maxInflightAppends >= 1');
  assert(config.maxUncommittedEntries >= 1, 'raft: maxUncommittedEntries >= 1');
  assert(config.maxCommittedEntriesPerReady >= 1, 'raft: maxCommittedEntriesPerReady >= 1');
  assert(config.learnerCaughtUpLagEntriesMax >= 0, 'raft: learnerCaughtUpLagEntriesMax >= 0');
  assert(config.voterCatchUpTicksMax > config.electionTicks, 'raft: voterCatchUpTicksMax > electionTicks');
  return config;
}

/** Votes needed to win, and acknowledgements needed to commit: a strict majority. */
export function quorumSize(voterCount: number): number {
  return Math.floor(voterCount / 2) + 1;
}
