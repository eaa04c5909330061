/**
 * One consumer group's coordinator logic, pure: Kafka's classic group
 * protocol (JoinGroup v5+, SyncGroup, Heartbeat, LeaveGroup v3+) and the
 * group's committed offsets. One `GroupState` per group; the group actor holds
 * it and calls `step(state, input, nowMs)` for every input.
 *
 * States (Kafka's GroupState): Empty (no members; offsets may exist),
 * PreparingRebalance (waiting for members to (re)join), CompletingRebalance
 * (joined; waiting for the leader's SyncGroup), Stable, Dead (deleted or
 * unloaded: every request gets COORDINATOR_NOT_AVAILABLE or
 * GROUP_ID_NOT_FOUND; the shell drops it).
 *
 *   Empty --join--> PreparingRebalance --all joined / deadline--> CompletingRebalance
 *   CompletingRebalance --leader sync persisted--> Stable
 *   Stable | CompletingRebalance --join with new metadata, leave, expiry--> PreparingRebalance
 *   PreparingRebalance --completes with no member--> Empty
 *   Empty --DeleteGroup--> Dead;  any --Unload--> Dead
 *
 * How the shell drives it (the order matters, as in etcd's Ready):
 * 1. For each request, `step(state, input, nowMs)`; carry out the effects in
 *    order. `Reply` goes to its target now. `PersistGroupMetadata` and
 *    `PersistOffsets` carry records for `__consumer_offsets` (encode with
 *    offsets-records.ts, append as one batch, acks=all); when the append is
 *    acknowledged or fails, feed `PersistCompleted{persistId, errorCode}` back.
 *    Replies that depend on a write (offset commits, the SyncGroup replies of
 *    a new generation, a static member's rejoin, DeleteGroup) are emitted only
 *    then. Writes of one group complete in the order they were issued.
 * 2. Time is data: every deadline (member session expiry, rebalance timeout,
 *    initial rebalance delay, MEMBER_ID_REQUIRED expiry, SyncGroup timeout)
 *    is a number in the state. Call `step(state, {type: 'Tick'}, nowMs)` at
 *    `nextDeadlineMs(state)` (a `ScheduleDeadline` effect says when it
 *    changes) or on an interval.
 * 3. Identity is an input: a JoinGroup carries `memberIdSuffix`, a fresh
 *    unique string (a UUID from the shell's seeded Rng); the member id is
 *    `${clientId}-${memberIdSuffix}` as in Kafka.
 * 4. A request for a group the coordinator does not know goes to
 *    `emptyGroup(groupId)`: the logic answers as Kafka answers for a missing
 *    group. Drop a state when `isDisposable(state)`.
 * 5. On losing the `__consumer_offsets` partition, `Unload`: parked requests
 *    get NOT_COORDINATOR. While loading, the shell answers
 *    COORDINATOR_LOAD_IN_PROGRESS itself, then `loadGroups` (offsets-records.ts).
 * 6. Every offsets.retention.check.interval.ms, `ExpireOffsets{retentionMs}`
 *    to each group: old offsets get tombstones, and an Empty group left with
 *    none is deleted (Dead, then disposable), so groups do not pile up.
 *
 * Kafka rules kept (GroupCoordinator.scala / GroupMetadataManager.java):
 * - A JoinGroup without a member id gets MEMBER_ID_REQUIRED and a new id that
 *   stays pending for the session timeout; static members (group.instance.id)
 *   skip that step. The first member to join is the leader; a leader that does
 *   not rejoin is replaced by a member that did.
 * - The protocol type must match the group's; the protocol (assignor) is
 *   chosen among those every member supports, by votes of each member's
 *   first choice (ties: the leader's order). No common protocol:
 *   INCONSISTENT_GROUP_PROTOCOL.
 * - The join phase ends when every member and no pending member has joined,
 *   or at the rebalance timeout (the largest of the members'); dynamic members
 *   that did not rejoin are removed then, static ones stay until their session
 *   expires. An Empty group's first rebalance waits
 *   group.initial.rebalance.delay.ms, extended while new members keep coming
 *   (up to the rebalance timeout).
 * - A member awaiting a join or sync reply is kept alive by it; otherwise it
 *   is removed when its session timeout passes without a heartbeat (or join,
 *   sync, commit). A new member awaiting its first join reply is dropped after
 *   newMemberJoinTimeoutMs. Members that do not send SyncGroup within the
 *   rebalance timeout after the join phase are removed (KIP-814 era Kafka).
 * - Fencing: a request whose group.instance.id maps to another member id gets
 *   FENCED_INSTANCE_ID; unknown member or instance UNKNOWN_MEMBER_ID; a wrong
 *   generation ILLEGAL_GENERATION.
 * - Static rejoin (unknown member id, known instance id): the old member is
 *   replaced by the new id at once, its parked requests get
 *   FENCED_INSTANCE_ID; in a Stable group whose selected protocol and
 *   subscribed topics do not change, no rebalance: the group metadata is
 *   written and the member gets the current generation (and, via SyncGroup,
 *   its old assignment). Kafka compares only the selected protocol; we also
 *   compare the decoded subscription's topic set for protocol type
 *   "consumer" (bytes otherwise), so a restarted member with a new
 *   subscription triggers the rebalance it needs.
 * - group.max.size: new members beyond it get GROUP_MAX_SIZE_REACHED (a
 *   static member replacing itself is not a new member).
 * - Offset commits: generation -1 without member id is a standalone commit,
 *   allowed only when the group is Empty (or unknown); otherwise the member
 *   and generation must match; during CompletingRebalance
 *   REBALANCE_IN_PROGRESS. Per partition: offset a safe integer >= 0 else
 *   INVALID_COMMIT_OFFSET_SIZE, metadata over offsetMetadataBytesMax UTF-8
 *   bytes OFFSET_METADATA_TOO_LARGE. Committed offsets become visible once
 *   written.
 * - DeleteGroup only when Empty (NON_EMPTY_GROUP otherwise): tombstones for
 *   the group and every offset, then Dead.
 * - OffsetDelete (the new coordinator's OffsetMetadataManager.deleteOffsets):
 *   unknown or Dead group GROUP_ID_NOT_FOUND; a group with members that is
 *   not a consumer group NON_EMPTY_GROUP; partitions of a topic the members
 *   subscribe to GROUP_SUBSCRIBED_TO_TOPIC (the top-level code stays NONE);
 *   every other partition NONE, with a tombstone where an offset is
 *   committed or being written. The offsets leave the state when the
 *   tombstones are written, so the reply and a reload agree.
 * - Transactional offset commits (Kafka's storeOffsets with a producer id,
 *   GroupMetadata.pendingTransactionalOffsetCommits, handleTxnCompletion):
 *   `TxnOffsetCommit` checks the member and generation only when they are
 *   given (memberId '' and generation -1: a producer that is no member, any
 *   group phase, as Kafka allows), validates each partition as OffsetCommit
 *   does, refuses a fenced epoch (PRODUCER_FENCED, from
 *   actors/txn-coordinator/txn-offsets.ts) before writing, then
 *   `PersistTxnOffsets` (one transactional batch of that producer id and
 *   epoch). Once written the offsets are staged per producer id
 *   (`stagedTxnOffsets`) and the reply is NONE; a failed write stages
 *   nothing. Staged offsets are invisible to OffsetFetch (with requireStable
 *   a partition with one answers UNSTABLE_OFFSET_COMMIT, KIP-447).
 *   `CompleteTxnOffsets` (the transaction's marker is in the partition's log)
 *   makes them committed on COMMIT (no write: the records are in the log
 *   already) and drops them on ABORT; only a marker above the staged epoch
 *   decides them (txn-offsets.ts: KIP-890 markers carry epoch + 1). A marker
 *   that arrives while that producer's write is still in flight is
 *   remembered on the write and applied when it completes (the write is in
 *   the log before the marker: the partition fences a write older than the
 *   marker's epoch). Committed
 *   offsets take effect at the marker's place in the log, in memory and on a
 *   reload alike (Kafka orders by the commit record's offset instead; the two
 *   differ only for a plain and a transactional commit of the same partition
 *   racing each other, which Kafka's clients never do).
 * - DeleteGroup with staged transactional offsets or a transactional write
 *   in flight: NON_EMPTY_GROUP (Kafka would drop them, but their commit
 *   marker, after the tombstones in the log, would bring them back on a
 *   reload); retention does not delete such a group either.
 *
 * Invariants (asserted after every step): Empty and Dead-by-delete groups
 * have no members; Stable and CompletingRebalance groups have members, a
 * leader among them and a protocol; `staticMembers` is exactly the instance
 * ids of the members; a pending member id is never a member id.
 *
 * Imports: protocol/errors.ts, runtime/assert.ts, this folder and the pure
 * actors/txn-coordinator/txn-offsets.ts only. No I/O,
 * no timers, no clock, no randomness.
 */
import { ErrorCode } from '../../protocol/errors.ts';
import { assert, assertNever } from '../../runtime/assert.ts';
import { consumerProtocolType, decodeSubscription } from '../../protocol/consumer/consumer-protocol.ts';
import { completeTxnOffsets, hasPendingOffset, noStagedTxnOffsets, stageTxnOffsets, type StagedTxnOffsets, type TxnOffset } from '../txn-coordinator/txn-offsets.ts';
import type { GroupMetadataRecord, GroupMetadataValue, OffsetCommitValue, OffsetsTopicRecord } from './offsets-records.ts';

// ---------------------------------------------------------------- config

export type GroupConfig = {
  /** group.min.session.timeout.ms */
  readonly sessionTimeoutMsMin: number;
  /** group.max.session.timeout.ms */
  readonly sessionTimeoutMsMax: number;
  /** group.initial.rebalance.delay.ms */
  readonly initialRebalanceDelayMs: number;
  /** group.max.size (Kafka's default is unbounded; we bound it). */
  readonly groupSizeMax: number;
  /** How long a new member may wait for its first join reply (Kafka's NewMemberJoinTimeoutMs). */
  readonly newMemberJoinTimeoutMs: number;
  /** offset.metadata.max.bytes */
  readonly offsetMetadataBytesMax: number;
};

export const groupConfigDefault: GroupConfig = Object.freeze({
  sessionTimeoutMsMin: 6_000,
  sessionTimeoutMsMax: 1_800_000,
  initialRebalanceDelayMs: 3_000,
  groupSizeMax: 1_000,
  newMemberJoinTimeoutMs: 300_000,
  offsetMetadataBytesMax: 4_096,
});

function checkConfig(config: GroupConfig): void {
  assert(config.sessionTimeoutMsMin > 0, 'group config: sessionTimeoutMsMin > 0');
  assert(config.sessionTimeoutMsMin <= config.sessionTimeoutMsMax, 'group config: session timeout bounds ordered');
  assert(config.initialRebalanceDelayMs >= 0, 'group config: initialRebalanceDelayMs >= 0');
  assert(config.groupSizeMax >= 1, 'group config: groupSizeMax >= 1');
  assert(config.newMemberJoinTimeoutMs > 0, 'group config: newMemberJoinTimeoutMs > 0');
  assert(config.offsetMetadataBytesMax >= 0, 'group config: offsetMetadataBytesMax >= 0');
}
checkConfig(groupConfigDefault);

// ---------------------------------------------------------------- state

export type GroupPhase = 'Empty' | 'PreparingRebalance' | 'CompletingRebalance' | 'Stable' | 'Dead';

/** Where a reply goes: the shell's reference for the waiting request (a runtime Ref is one). */
export type ReplyTarget = { readonly node: string; readonly path: string };

/** One protocol (assignor) a member supports, with its metadata (the subscription for "consumer"). */
export type ProtocolOffer = { readonly name: string; readonly metadata: Uint8Array };

export type GroupMember = {
  readonly memberId: string;
  readonly groupInstanceId: string | null;
  readonly clientId: string;
  readonly clientHost: string;
  readonly sessionTimeoutMs: number;
  readonly rebalanceTimeoutMs: number;
  /** In the member's order of preference. */
  readonly protocols: readonly ProtocolOffer[];
  /** This generation's assignment (empty until the leader's sync is written). */
  readonly assignment: Uint8Array;
  /** A parked JoinGroup, answered when the join phase completes. */
  readonly joinReplyTo: ReplyTarget | null;
  /** A parked SyncGroup, answered when the leader's assignment is written. */
  readonly syncReplyTo: ReplyTarget | null;
  /** Joined but has not received a join reply yet. */
  readonly isNew: boolean;
  /** Session expiry; null while a parked join/sync keeps the member alive. */
  readonly heartbeatDeadlineMs: number | null;
};

export type CommittedOffset = OffsetCommitValue;

type InitialDelay = { readonly delayMs: number; readonly remainingMs: number };

type CommitResult = { readonly topic: string; readonly partition: number; errorCode: number };
type CommitWrite = { readonly topic: string; readonly partition: number; readonly value: CommittedOffset };

type PendingPersist =
  | { readonly kind: 'SyncAssignment'; readonly generationId: number; readonly assignments: ReadonlyMap<string, Uint8Array> }
  | {
      readonly kind: 'StaticReplace';
      readonly generationId: number;
      readonly groupInstanceId: string;
      readonly oldMember: GroupMember;
      readonly newMemberId: string;
      readonly leaderIdBefore: string | null;
      readonly wasPendingSync: boolean;
    }
  | { readonly kind: 'EmptyGeneration' }
  | { readonly kind: 'OffsetCommit'; readonly replyTo: ReplyTarget; readonly results: readonly CommitResult[]; readonly writes: readonly CommitWrite[] }
  | { readonly kind: 'DeleteGroup'; readonly replyTo: ReplyTarget }
  | { readonly kind: 'Expire' }
  /** Tombstones for `deleted`; the offsets leave the state when they are written. */
  | { readonly kind: 'OffsetDelete'; readonly replyTo: ReplyTarget; readonly results: readonly CommitResult[]; readonly deleted: readonly { readonly topic: string; readonly partition: number }[] }
  | {
      readonly kind: 'TxnOffsetCommit';
      readonly replyTo: ReplyTarget;
      readonly results: readonly CommitResult[];
      readonly producerId: number;
      readonly producerEpoch: number;
      readonly offsets: readonly TxnOffset[];
      /** As the request's: false, the transaction's marker keeps producerEpoch (transaction version 1). */
      readonly bumpEpochOnEnd: boolean;
      /** The producer's marker reached the log while this write was in flight: applied when it completes. */
      readonly marker: 'commit' | 'abort' | null;
    };

export type GroupState = {
  readonly groupId: string;
  readonly config: GroupConfig;
  readonly phase: GroupPhase;
  /** When the group entered `phase` (Kafka's currentStateTimestamp); null if unknown (loaded from offsets only). */
  readonly stateSinceMs: number | null;
  readonly generationId: number;
  readonly protocolType: string | null;
  readonly protocolName: string | null;
  readonly leaderId: string | null;
  /** In join order (the order a new leader is picked in). */
  readonly members: ReadonlyMap<string, GroupMember>;
  /** group.instance.id -> member id. */
  readonly staticMembers: ReadonlyMap<string, string>;
  /** Member ids handed out with MEMBER_ID_REQUIRED -> expiry. */
  readonly pendingMembers: ReadonlyMap<string, number>;
  /** Members that have not sent SyncGroup in this generation. */
  readonly pendingSyncMembers: ReadonlySet<string>;
  /** PreparingRebalance: when the join phase ends. */
  readonly rebalanceDeadlineMs: number | null;
  /** PreparingRebalance from Empty: Kafka's InitialDelayedJoin (null: a plain DelayedJoin). */
  readonly initialDelay: InitialDelay | null;
  readonly newMemberAdded: boolean;
  /** CompletingRebalance/Stable: when members still in pendingSyncMembers are removed. */
  readonly syncDeadlineMs: number | null;
  /** topic -> partition -> committed offset (written ones only). */
  readonly offsets: ReadonlyMap<string, ReadonlyMap<number, CommittedOffset>>;
  /** Transactional offsets written but not yet decided by their transaction's marker, per producer id. */
  readonly stagedTxnOffsets: StagedTxnOffsets;
  readonly pendingPersists: ReadonlyMap<number, PendingPersist>;
  readonly nextPersistId: number;
};

type Draft = {
  -readonly [K in keyof GroupState]: GroupState[K];
} & {
  members: Map<string, GroupMember>;
  staticMembers: Map<string, string>;
  pendingMembers: Map<string, number>;
  pendingSyncMembers: Set<string>;
  pendingPersists: Map<number, PendingPersist>;
};

export function emptyGroup(groupId: string, config: GroupConfig = groupConfigDefault): GroupState {
  checkConfig(config);
  const state: GroupState = {
    groupId,
    config,
    phase: 'Empty',
    stateSinceMs: null,
    generationId: 0,
    protocolType: null,
    protocolName: null,
    leaderId: null,
    members: new Map(),
    staticMembers: new Map(),
    pendingMembers: new Map(),
    pendingSyncMembers: new Set(),
    rebalanceDeadlineMs: null,
    initialDelay: null,
    newMemberAdded: false,
    syncDeadlineMs: null,
    offsets: new Map(),
    stagedTxnOffsets: noStagedTxnOffsets,
    pendingPersists: new Map(),
    nextPersistId: 1,
  };
  return Object.freeze(state);
}

/** True for a group Kafka would not have: nothing joined, committed or written. */
export function isUnknownGroup(g: GroupState): boolean {
  return (
    g.phase === 'Empty' &&
    g.generationId === 0 &&
    g.protocolType === null &&
    g.members.size === 0 &&
    g.pendingMembers.size === 0 &&
    g.offsets.size === 0 &&
    g.stagedTxnOffsets.size === 0 &&
    g.pendingPersists.size === 0
  );
}

/** The shell may forget this state (a later request starts from `emptyGroup`). */
export function isDisposable(g: GroupState): boolean {
  return (g.phase === 'Dead' && g.pendingPersists.size === 0) || isUnknownGroup(g);
}

/** The earliest deadline in the state, or null: when the shell should Tick next. */
export function nextDeadlineMs(g: GroupState): number | null {
  let next: number | null = null;
  const consider = (t: number | null): void => {
    if (t !== null && (next === null || t < next)) next = t;
  };
  for (const deadline of g.pendingMembers.values()) consider(deadline);
  for (const member of g.members.values()) consider(member.heartbeatDeadlineMs);
  consider(g.rebalanceDeadlineMs);
  consider(g.syncDeadlineMs);
  return next;
}

// ---------------------------------------------------------------- inputs

export type JoinGroup = {
  readonly type: 'JoinGroup';
  readonly groupId: string;
  /** '' on the first join (Kafka's UNKNOWN_MEMBER_ID). */
  readonly memberId: string;
  readonly groupInstanceId: string | null;
  readonly clientId: string;
  readonly clientHost: string;
  readonly sessionTimeoutMs: number;
  readonly rebalanceTimeoutMs: number;
  /** "consumer" for consumers. */
  readonly protocolType: string;
  readonly protocols: readonly ProtocolOffer[];
  readonly reason: string | null;
  /** Supplied by the shell (not the client): a fresh unique string for a new member id. */
  readonly memberIdSuffix: string;
  readonly replyTo: ReplyTarget;
};

export type SyncGroup = {
  readonly type: 'SyncGroup';
  readonly groupId: string;
  readonly memberId: string;
  readonly groupInstanceId: string | null;
  readonly generationId: number;
  /** Optional checks (SyncGroup v5+); null skips them. */
  readonly protocolType: string | null;
  readonly protocolName: string | null;
  /** The leader's assignment; empty from followers. */
  readonly assignments: readonly { readonly memberId: string; readonly assignment: Uint8Array }[];
  readonly replyTo: ReplyTarget;
};

export type Heartbeat = {
  readonly type: 'Heartbeat';
  readonly groupId: string;
  readonly memberId: string;
  readonly groupInstanceId: string | null;
  readonly generationId: number;
  readonly replyTo: ReplyTarget;
};

export type LeaveGroup = {
  readonly type: 'LeaveGroup';
  readonly groupId: string;
  /** memberId '' with a groupInstanceId removes that static member (admin removal, KIP-345). */
  readonly members: readonly { readonly memberId: string; readonly groupInstanceId: string | null; readonly reason: string | null }[];
  readonly replyTo: ReplyTarget;
};

export type OffsetCommit = {
  readonly type: 'OffsetCommit';
  readonly groupId: string;
  /** '' and generation -1 for a standalone (non-group) commit. */
  readonly memberId: string;
  readonly groupInstanceId: string | null;
  readonly generationId: number;
  readonly offsets: readonly {
    readonly topic: string;
    readonly partition: number;
    readonly offset: number;
    /** -1 when unknown. */
    readonly leaderEpoch: number;
    readonly metadata: string | null;
  }[];
  readonly replyTo: ReplyTarget;
};

export type OffsetFetch = {
  readonly type: 'OffsetFetch';
  readonly groupId: string;
  /** null: every committed offset of the group. */
  readonly partitions: readonly { readonly topic: string; readonly partition: number }[] | null;
  /** KIP-447: a partition with an undecided transactional offset answers UNSTABLE_OFFSET_COMMIT (absent: false). */
  readonly requireStable?: boolean;
  readonly replyTo: ReplyTarget;
};

/** TxnOffsetCommit (protocol/apis/txn.ts): offsets of a transaction, visible once it commits. */
export type TxnOffsetCommit = {
  readonly type: 'TxnOffsetCommit';
  readonly transactionalId: string;
  readonly groupId: string;
  readonly producerId: number;
  readonly producerEpoch: number;
  /** '' and generation -1 for a producer that is not a group member: no member check then. */
  readonly memberId: string;
  readonly groupInstanceId: string | null;
  readonly generationId: number;
  readonly offsets: readonly { readonly topic: string; readonly partition: number; readonly offset: number; readonly metadata: string | null }[];
  /** How the transaction ends (protocol/apis/txn.ts); absent is true, the native protocol's transaction version 2. */
  readonly bumpEpochOnEnd?: boolean;
  readonly replyTo: ReplyTarget;
};

/**
 * The marker (producerId, producerEpoch, result) of a transaction is in this
 * group's `__consumer_offsets` partition: its staged offsets become committed
 * (commit) or vanish (abort). Nothing is written.
 */
export type CompleteTxnOffsets = { readonly type: 'CompleteTxnOffsets'; readonly producerId: number; readonly producerEpoch: number; readonly result: 'commit' | 'abort' };

export type DescribeGroup = { readonly type: 'DescribeGroup'; readonly groupId: string; readonly replyTo: ReplyTarget };
export type DeleteGroup = { readonly type: 'DeleteGroup'; readonly groupId: string; readonly replyTo: ReplyTarget };

/**
 * Deletes the committed offsets of `partitions` (Kafka's OffsetDelete,
 * OffsetMetadataManager.deleteOffsets): refused per partition with
 * GROUP_SUBSCRIBED_TO_TOPIC for a topic an active consumer group's members
 * subscribe to; the others answer NONE, whether an offset was committed or
 * not, and get a tombstone when one was (or is being written).
 */
export type OffsetDelete = {
  readonly type: 'OffsetDelete';
  readonly groupId: string;
  readonly partitions: readonly { readonly topic: string; readonly partition: number }[];
  readonly replyTo: ReplyTarget;
};

/**
 * Periodic (offsets.retention.check.interval.ms): drop offsets older than
 * offsets.retention.minutes, Kafka's cleanupGroupMetadata. An Empty group's
 * offsets expire `retentionMs` after it became Empty; a Stable consumer
 * group's offsets of topics no member subscribes to, and a standalone group's
 * offsets, `retentionMs` after their commit. An Empty group left with no
 * offsets is deleted (Dead, with a group tombstone). Partitions with a commit
 * being written are kept. As in Kafka the removal is immediate and the
 * tombstones are written after; nothing waits on them.
 */
export type ExpireOffsets = { readonly type: 'ExpireOffsets'; readonly retentionMs: number };

/** Internal inputs from the shell: time passed, a write finished, the partition moved away. */
export type Tick = { readonly type: 'Tick' };
export type PersistCompleted = { readonly type: 'PersistCompleted'; readonly persistId: number; readonly errorCode: number };
export type Unload = { readonly type: 'Unload' };

export type GroupInput =
  | JoinGroup
  | SyncGroup
  | Heartbeat
  | LeaveGroup
  | OffsetCommit
  | OffsetFetch
  | TxnOffsetCommit
  | CompleteTxnOffsets
  | DescribeGroup
  | DeleteGroup
  | OffsetDelete
  | ExpireOffsets
  | Tick
  | PersistCompleted
  | Unload;

// ---------------------------------------------------------------- replies and effects

export type JoinGroupReply = {
  readonly type: 'JoinGroupReply';
  readonly errorCode: number;
  readonly generationId: number;
  readonly protocolType: string | null;
  readonly protocolName: string | null;
  /** The leader's member id ('' on errors). */
  readonly leader: string;
  readonly skipAssignment: boolean;
  readonly memberId: string;
  /** Every member with its metadata for the selected protocol: for the leader only. */
  readonly members: readonly { readonly memberId: string; readonly groupInstanceId: string | null; readonly metadata: Uint8Array }[];
};

export type SyncGroupReply = {
  readonly type: 'SyncGroupReply';
  readonly errorCode: number;
  readonly protocolType: string | null;
  readonly protocolName: string | null;
  readonly assignment: Uint8Array;
};

export type HeartbeatReply = { readonly type: 'HeartbeatReply'; readonly errorCode: number };

export type LeaveGroupReply = {
  readonly type: 'LeaveGroupReply';
  readonly errorCode: number;
  readonly members: readonly { readonly memberId: string; readonly groupInstanceId: string | null; readonly errorCode: number }[];
};

export type OffsetCommitReply = {
  readonly type: 'OffsetCommitReply';
  readonly results: readonly { readonly topic: string; readonly partition: number; readonly errorCode: number }[];
};

export type OffsetFetchReply = {
  readonly type: 'OffsetFetchReply';
  readonly errorCode: number;
  readonly offsets: readonly {
    readonly topic: string;
    readonly partition: number;
    /** -1 when nothing is committed. */
    readonly offset: number;
    readonly leaderEpoch: number;
    readonly metadata: string;
    readonly errorCode: number;
  }[];
};

export type DescribeGroupReply = {
  readonly type: 'DescribeGroupReply';
  readonly errorCode: number;
  readonly groupId: string;
  readonly state: GroupPhase;
  readonly protocolType: string;
  readonly protocol: string;
  /** Metadata and assignment are filled only in Stable (as Kafka's summary does). */
  readonly members: readonly {
    readonly memberId: string;
    readonly groupInstanceId: string | null;
    readonly clientId: string;
    readonly clientHost: string;
    readonly metadata: Uint8Array;
    readonly assignment: Uint8Array;
  }[];
};

export type DeleteGroupReply = { readonly type: 'DeleteGroupReply'; readonly groupId: string; readonly errorCode: number };

/** A group-level error has no results (Kafka's OffsetDeleteResponse then carries no topics). */
export type OffsetDeleteReply = {
  readonly type: 'OffsetDeleteReply';
  readonly errorCode: number;
  readonly results: readonly { readonly topic: string; readonly partition: number; readonly errorCode: number }[];
};

/**
 * As protocol/apis/txn.ts TxnOffsetCommitResponse. As in Kafka's response every
 * error of the logic is per partition (member and generation errors too) and
 * `errorCode` is NONE; the shell's own refusals (routing, validation, bounds)
 * set `errorCode` as well.
 */
export type TxnOffsetCommitReply = {
  readonly type: 'TxnOffsetCommitReply';
  readonly errorCode: number;
  readonly errorMessage: string | null;
  readonly results: readonly { readonly topic: string; readonly partition: number; readonly errorCode: number }[];
};

export type GroupReply =
  | JoinGroupReply
  | SyncGroupReply
  | HeartbeatReply
  | LeaveGroupReply
  | OffsetCommitReply
  | OffsetFetchReply
  | TxnOffsetCommitReply
  | DescribeGroupReply
  | DeleteGroupReply
  | OffsetDeleteReply;

export type GroupEffect =
  | { readonly type: 'Reply'; readonly to: ReplyTarget; readonly reply: GroupReply }
  /** Append `records` to __consumer_offsets, then feed PersistCompleted{persistId}. */
  | { readonly type: 'PersistGroupMetadata'; readonly persistId: number; readonly groupId: string; readonly records: readonly OffsetsTopicRecord[] }
  | { readonly type: 'PersistOffsets'; readonly persistId: number; readonly groupId: string; readonly records: readonly OffsetsTopicRecord[] }
  /** As PersistOffsets, as ONE transactional batch of (producerId, producerEpoch), base sequence -1. */
  | {
      readonly type: 'PersistTxnOffsets';
      readonly persistId: number;
      readonly groupId: string;
      readonly records: readonly OffsetsTopicRecord[];
      readonly producerId: number;
      readonly producerEpoch: number;
    }
  /** The next deadline changed: Tick at `atMs` (optional if the shell ticks on an interval). */
  | { readonly type: 'ScheduleDeadline'; readonly atMs: number };

// ---------------------------------------------------------------- step

type Ctx = { readonly g: Draft; readonly fx: GroupEffect[]; readonly nowMs: number };

const noBytes = new Uint8Array(0);

export function step(state: GroupState, input: GroupInput, nowMs: number): [GroupState, GroupEffect[]] {
  assert(Number.isFinite(nowMs), 'group: nowMs is finite');
  if ('groupId' in input) assert(input.groupId === state.groupId, 'group: input routed to its own group');
  const c: Ctx = { g: draft(state), fx: [], nowMs };
  switch (input.type) {
    case 'JoinGroup':
      handleJoinGroup(c, input);
      break;
    case 'SyncGroup':
      handleSyncGroup(c, input);
      break;
    case 'Heartbeat':
      handleHeartbeat(c, input);
      break;
    case 'LeaveGroup':
      handleLeaveGroup(c, input);
      break;
    case 'OffsetCommit':
      handleOffsetCommit(c, input);
      break;
    case 'OffsetFetch':
      handleOffsetFetch(c, input);
      break;
    case 'TxnOffsetCommit':
      handleTxnOffsetCommit(c, input);
      break;
    case 'CompleteTxnOffsets':
      handleCompleteTxnOffsets(c, input);
      break;
    case 'DescribeGroup':
      handleDescribeGroup(c, input);
      break;
    case 'DeleteGroup':
      handleDeleteGroup(c, input);
      break;
    case 'OffsetDelete':
      handleOffsetDelete(c, input);
      break;
    case 'ExpireOffsets':
      handleExpireOffsets(c, input);
      break;
    case 'Tick':
      handleTick(c);
      break;
    case 'PersistCompleted':
      handlePersistCompleted(c, input);
      break;
    case 'Unload':
      handleUnload(c);
      break;
    default:
      assertNever(input, 'group input');
  }
  const next = Object.freeze({ ...c.g }) as GroupState;
  checkInvariants(next);
  const before = nextDeadlineMs(state);
  const after = nextDeadlineMs(next);
  if (after !== null && after !== before) c.fx.push({ type: 'ScheduleDeadline', atMs: after });
  return [next, c.fx];
}

function draft(g: GroupState): Draft {
  return {
    ...g,
    members: new Map(g.members),
    staticMembers: new Map(g.staticMembers),
    pendingMembers: new Map(g.pendingMembers),
    pendingSyncMembers: new Set(g.pendingSyncMembers),
    pendingPersists: new Map(g.pendingPersists),
  };
}

function checkInvariants(g: GroupState): void {
  if (g.phase === 'Empty') assert(g.members.size === 0, 'group: an Empty group has no members');
  if (g.phase === 'Stable' || g.phase === 'CompletingRebalance') {
    assert(g.members.size > 0, `group: a ${g.phase} group has members`);
    assert(g.leaderId !== null && g.members.has(g.leaderId), `group: a ${g.phase} group's leader is a member`);
    assert(g.protocolName !== null, `group: a ${g.phase} group has a protocol`);
  }
  if (g.phase !== 'PreparingRebalance') assert(g.rebalanceDeadlineMs === null, 'group: a join deadline only while preparing');
  let staticCount = 0;
  for (const member of g.members.values()) {
    if (member.groupInstanceId === null) continue;
    staticCount += 1;
    assert(g.staticMembers.get(member.groupInstanceId) === member.memberId, 'group: static member map matches members');
  }
  assert(staticCount === g.staticMembers.size, 'group: no stale static member entries');
  for (const pending of g.pendingMembers.keys()) assert(!g.members.has(pending), 'group: a pending member is not a member');
}

function transition(c: Ctx, phase: GroupPhase): void {
  c.g.phase = phase;
  c.g.stateSinceMs = c.nowMs;
}

function reply(c: Ctx, to: ReplyTarget, message: GroupReply): void {
  c.fx.push({ type: 'Reply', to, reply: message });
}

function joinError(errorCode: number, memberId: string): JoinGroupReply {
  return { type: 'JoinGroupReply', errorCode, generationId: -1, protocolType: null, protocolName: null, leader: '', skipAssignment: false, memberId, members: [] };
}

function syncReply(g: Draft, errorCode: number, assignment: Uint8Array): SyncGroupReply {
  return {
    type: 'SyncGroupReply',
    errorCode,
    protocolType: errorCode === ErrorCode.NONE ? g.protocolType : null,
    protocolName: errorCode === ErrorCode.NONE ? g.protocolName : null,
    assignment,
  };
}

function metadataFor(member: GroupMember, protocolName: string | null): Uint8Array {
  return member.protocols.find((p) => p.name === protocolName)?.metadata ?? noBytes;
}

function joinSuccess(g: Draft, memberId: string, leader: string, includeMembers: boolean): JoinGroupReply {
  return {
    type: 'JoinGroupReply',
    errorCode: ErrorCode.NONE,
    generationId: g.generationId,
    protocolType: g.protocolType,
    protocolName: g.protocolName,
    leader,
    skipAssignment: false,
    memberId,
    members: includeMembers
      ? [...g.members.values()].map((m) => ({ memberId: m.memberId, groupInstanceId: m.groupInstanceId, metadata: metadataFor(m, g.protocolName) }))
      : [],
  };
}

function updateMember(g: Draft, memberId: string, change: Partial<GroupMember>): GroupMember {
  const member = g.members.get(memberId);
  assert(member !== undefined, 'group: updating a member that exists');
  const next = { ...member, ...change };
  g.members.set(memberId, next);
  return next;
}

/** Kafka's completeAndScheduleNextHeartbeatExpiration. */
function touch(c: Ctx, memberId: string): void {
  const member = c.g.members.get(memberId);
  if (member === undefined || member.isNew) return;
  updateMember(c.g, memberId, { heartbeatDeadlineMs: c.nowMs + member.sessionTimeoutMs });
}

/** Kafka's validateCurrentMember. */
function validateCurrentMember(g: Draft, memberId: string, groupInstanceId: string | null): number {
  if (groupInstanceId !== null) {
    const current = g.staticMembers.get(groupInstanceId);
    if (current === undefined) return ErrorCode.UNKNOWN_MEMBER_ID;
    if (current !== memberId) return ErrorCode.FENCED_INSTANCE_ID;
    return ErrorCode.NONE;
  }
  return g.members.has(memberId) ? ErrorCode.NONE : ErrorCode.UNKNOWN_MEMBER_ID;
}

function isInt(x: number, min: number, max: number): boolean {
  return Number.isSafeInteger(x) && x >= min && x <= max;
}

// ---------------------------------------------------------------- JoinGroup

function handleJoinGroup(c: Ctx, req: JoinGroup): void {
  const g = c.g;
  const fail = (errorCode: number, memberId: string = req.memberId): void => reply(c, req.replyTo, joinError(errorCode, memberId));
  if (g.phase === 'Dead') return fail(ErrorCode.COORDINATOR_NOT_AVAILABLE);
  if (g.groupId.length === 0) return fail(ErrorCode.INVALID_GROUP_ID);
  if (!isInt(req.sessionTimeoutMs, g.config.sessionTimeoutMsMin, g.config.sessionTimeoutMsMax)) return fail(ErrorCode.INVALID_SESSION_TIMEOUT);
  if (!isInt(req.rebalanceTimeoutMs, 1, Number.MAX_SAFE_INTEGER)) return fail(ErrorCode.INVALID_REQUEST);
  if (req.groupInstanceId === '') return fail(ErrorCode.INVALID_REQUEST);
  if (req.protocolType.length === 0 || req.protocols.length === 0) return fail(ErrorCode.INCONSISTENT_GROUP_PROTOCOL);

  const isUnknownMember = req.memberId === '';
  const replacesStaticMember = isUnknownMember && req.groupInstanceId !== null && g.staticMembers.has(req.groupInstanceId);
  if (!replacesStaticMember && !acceptJoiningMember(g, req.memberId)) {
    if (!isUnknownMember && g.members.has(req.memberId)) {
      removeMemberAndUpdateGroup(c, req.memberId);
    }
    return fail(ErrorCode.GROUP_MAX_SIZE_REACHED, '');
  }
  if (!supportsProtocols(g, req.protocolType, req.protocols)) return fail(ErrorCode.INCONSISTENT_GROUP_PROTOCOL);

  if (isUnknownMember) joinNewMember(c, req);
  else joinCurrentMember(c, req);
  maybeCompleteJoin(c);
}

/** Kafka's acceptJoiningMember: new members up to group.max.size. */
function acceptJoiningMember(g: Draft, memberId: string): boolean {
  switch (g.phase) {
    case 'Empty':
    case 'Dead':
      return true;
    case 'PreparingRebalance': {
      const member = g.members.get(memberId);
      if (member !== undefined && member.joinReplyTo !== null) return true;
      let awaiting = 0;
      for (const m of g.members.values()) if (m.joinReplyTo !== null) awaiting += 1;
      return awaiting < g.config.groupSizeMax;
    }
    case 'CompletingRebalance':
    case 'Stable':
      return g.members.has(memberId) || g.members.size < g.config.groupSizeMax;
    default:
      return assertNever(g.phase, 'group phase');
  }
}

/** Kafka's supportsProtocols: any type and protocol for an Empty group, else the group's type and a protocol every member supports. */
function supportsProtocols(g: Draft, protocolType: string, protocols: readonly ProtocolOffer[]): boolean {
  if (g.phase === 'Empty') return protocolType.length > 0 && protocols.length > 0;
  if (g.protocolType !== protocolType) return false;
  const members = [...g.members.values()];
  return protocols.some((offer) => members.every((m) => m.protocols.some((p) => p.name === offer.name)));
}

function freshMemberId(g: Draft, clientId: string, suffix: string): string {
  const base = `${clientId}-${suffix}`;
  let candidate = base;
  for (let n = 1; g.members.has(candidate) || g.pendingMembers.has(candidate); n++) candidate = `${base}-${n}`;
  return candidate;
}

function joinNewMember(c: Ctx, req: JoinGroup): void {
  const g = c.g;
  const newMemberId = freshMemberId(g, req.clientId, req.memberIdSuffix);
  if (req.groupInstanceId !== null) {
    const oldMemberId = g.staticMembers.get(req.groupInstanceId);
    if (oldMemberId !== undefined) replaceStaticMember(c, req, req.groupInstanceId, oldMemberId, newMemberId);
    else addMemberAndRebalance(c, req, newMemberId);
    return;
  }
  // KIP-394: the member learns its id first, and must come back with it.
  g.pendingMembers.set(newMemberId, c.nowMs + req.sessionTimeoutMs);
  reply(c, req.replyTo, joinError(ErrorCode.MEMBER_ID_REQUIRED, newMemberId));
}

function joinCurrentMember(c: Ctx, req: JoinGroup): void {
  const g = c.g;
  const fail = (errorCode: number): void => reply(c, req.replyTo, joinError(errorCode, req.memberId));
  if (g.pendingMembers.has(req.memberId)) {
    // Only dynamic members are handed pending ids; a static one claiming one is a confused client.
    if (req.groupInstanceId !== null) return fail(ErrorCode.INVALID_REQUEST);
    g.pendingMembers.delete(req.memberId);
    return addMemberAndRebalance(c, req, req.memberId);
  }
  const memberError = validateCurrentMember(g, req.memberId, req.groupInstanceId);
  if (memberError !== ErrorCode.NONE) return fail(memberError);
  const member = g.members.get(req.memberId)!;
  switch (g.phase) {
    case 'PreparingRebalance':
      return updateMemberAndRebalance(c, member, req);
    case 'CompletingRebalance':
      if (sameProtocols(member.protocols, req.protocols)) {
        // A retried join of this generation: answer it again.
        touch(c, member.memberId);
        return reply(c, req.replyTo, joinSuccess(g, member.memberId, g.leaderId!, g.leaderId === member.memberId));
      }
      return updateMemberAndRebalance(c, member, req);
    case 'Stable':
      if (g.leaderId === member.memberId || !sameProtocols(member.protocols, req.protocols)) {
        return updateMemberAndRebalance(c, member, req);
      }
      touch(c, member.memberId);
      return reply(c, req.replyTo, joinSuccess(g, member.memberId, g.leaderId!, false));
    case 'Empty':
    case 'Dead':
      return fail(ErrorCode.UNKNOWN_MEMBER_ID);
    default:
      return assertNever(g.phase, 'group phase');
  }
}

function sameProtocols(a: readonly ProtocolOffer[], b: readonly ProtocolOffer[]): boolean {
  return a.length === b.length && a.every((p, i) => p.name === b[i]!.name && bytesEqual(p.metadata, b[i]!.metadata));
}

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function copyProtocols(protocols: readonly ProtocolOffer[]): ProtocolOffer[] {
  return protocols.map((p) => ({ name: p.name, metadata: new Uint8Array(p.metadata) }));
}

function addMemberAndRebalance(c: Ctx, req: JoinGroup, memberId: string): void {
  const g = c.g;
  const member: GroupMember = {
    memberId,
    groupInstanceId: req.groupInstanceId,
    clientId: req.clientId,
    clientHost: req.clientHost,
    sessionTimeoutMs: req.sessionTimeoutMs,
    rebalanceTimeoutMs: req.rebalanceTimeoutMs,
    protocols: copyProtocols(req.protocols),
    assignment: noBytes,
    joinReplyTo: req.replyTo,
    syncReplyTo: null,
    isNew: true,
    heartbeatDeadlineMs: c.nowMs + g.config.newMemberJoinTimeoutMs,
  };
  if (g.phase === 'PreparingRebalance' && g.generationId === 0) g.newMemberAdded = true;
  if (g.members.size === 0) g.protocolType = req.protocolType;
  g.members.set(memberId, member);
  if (req.groupInstanceId !== null) g.staticMembers.set(req.groupInstanceId, memberId);
  if (g.leaderId === null || !g.members.has(g.leaderId)) g.leaderId = memberId;
  maybePrepareRebalance(c);
}

function updateMemberAndRebalance(c: Ctx, member: GroupMember, req: JoinGroup): void {
  // A second join while one is parked supersedes it; answer the first so nothing waits forever.
  if (member.joinReplyTo !== null) reply(c, member.joinReplyTo, joinError(ErrorCode.REBALANCE_IN_PROGRESS, member.memberId));
  updateMember(c.g, member.memberId, {
    protocols: copyProtocols(req.protocols),
    sessionTimeoutMs: req.sessionTimeoutMs,
    rebalanceTimeoutMs: req.rebalanceTimeoutMs,
    joinReplyTo: req.replyTo,
    heartbeatDeadlineMs: member.isNew ? member.heartbeatDeadlineMs : c.nowMs + req.sessionTimeoutMs,
  });
  maybePrepareRebalance(c);
}

/** A static member restarted with a new member id: it takes the old member's place (Kafka's updateStaticMemberAndRebalance). */
function replaceStaticMember(c: Ctx, req: JoinGroup, groupInstanceId: string, oldMemberId: string, newMemberId: string): void {
  const g = c.g;
  const oldMember = g.members.get(oldMemberId);
  assert(oldMember !== undefined, 'group: a static member id maps to a member');
  const leaderIdBefore = g.leaderId;
  // Fence the old incarnation's parked requests at once.
  if (oldMember.joinReplyTo !== null) reply(c, oldMember.joinReplyTo, joinError(ErrorCode.FENCED_INSTANCE_ID, oldMemberId));
  if (oldMember.syncReplyTo !== null) reply(c, oldMember.syncReplyTo, syncReply(g, ErrorCode.FENCED_INSTANCE_ID, noBytes));
  const newMember: GroupMember = {
    ...oldMember,
    memberId: newMemberId,
    clientId: req.clientId,
    clientHost: req.clientHost,
    sessionTimeoutMs: req.sessionTimeoutMs,
    rebalanceTimeoutMs: req.rebalanceTimeoutMs,
    protocols: copyProtocols(req.protocols),
    joinReplyTo: req.replyTo,
    syncReplyTo: null,
    heartbeatDeadlineMs: oldMember.isNew ? oldMember.heartbeatDeadlineMs : c.nowMs + req.sessionTimeoutMs,
  };
  g.members.delete(oldMemberId);
  g.members.set(newMemberId, newMember);
  g.staticMembers.set(groupInstanceId, newMemberId);
  if (g.leaderId === oldMemberId) g.leaderId = newMemberId;
  const wasPendingSync = g.pendingSyncMembers.delete(oldMemberId);
  if (wasPendingSync) g.pendingSyncMembers.add(newMemberId);

  switch (g.phase) {
    case 'Stable':
      if (selectProtocol(g) === g.protocolName && subscriptionUnchanged(g, oldMember, newMember)) {
        // No rebalance: write the new member id, then give it the current generation.
        persist(c, 'PersistGroupMetadata', [groupMetadataRecord(g, null, c.nowMs)], {
          kind: 'StaticReplace',
          generationId: g.generationId,
          groupInstanceId,
          oldMember,
          newMemberId,
          leaderIdBefore,
          wasPendingSync,
        });
      } else {
        prepareRebalance(c);
      }
      return;
    case 'CompletingRebalance':
      prepareRebalance(c);
      return;
    case 'PreparingRebalance':
      return; // it simply counts as rejoined
    case 'Empty':
    case 'Dead':
      assert(false, `group: a static member exists in a ${g.phase} group`);
      return;
    default:
      assertNever(g.phase, 'group phase');
  }
}

function subscriptionUnchanged(g: Draft, before: GroupMember, after: GroupMember): boolean {
  const a = before.protocols.find((p) => p.name === g.protocolName)?.metadata;
  const b = after.protocols.find((p) => p.name === g.protocolName)?.metadata;
  if (a === undefined || b === undefined) return false;
  if (g.protocolType === consumerProtocolType) {
    const da = decodeSubscription(a);
    const db = decodeSubscription(b);
    if (da.ok && db.ok) {
      const ta = new Set(da.value.topics);
      const tb = new Set(db.value.topics);
      return ta.size === tb.size && [...ta].every((t) => tb.has(t));
    }
  }
  return bytesEqual(a, b);
}

// ---------------------------------------------------------------- rebalance

function rebalanceTimeoutMs(g: Draft): number {
  let max = 0;
  for (const m of g.members.values()) max = Math.max(max, m.rebalanceTimeoutMs);
  return max;
}

function maybePrepareRebalance(c: Ctx): void {
  const phase = c.g.phase;
  if (phase === 'Stable' || phase === 'CompletingRebalance' || phase === 'Empty') prepareRebalance(c);
}

function prepareRebalance(c: Ctx): void {
  const g = c.g;
  if (g.phase === 'CompletingRebalance') resetAndPropagateAssignmentError(c, ErrorCode.REBALANCE_IN_PROGRESS);
  g.pendingSyncMembers.clear();
  g.syncDeadlineMs = null;
  const timeoutMs = rebalanceTimeoutMs(g);
  if (g.phase === 'Empty') {
    const delayMs = g.config.initialRebalanceDelayMs;
    g.initialDelay = { delayMs, remainingMs: Math.max(timeoutMs - delayMs, 0) };
    g.rebalanceDeadlineMs = c.nowMs + delayMs;
  } else {
    g.initialDelay = null;
    g.rebalanceDeadlineMs = c.nowMs + timeoutMs;
  }
  transition(c, 'PreparingRebalance');
  maybeCompleteJoin(c);
}

/** Answer parked SyncGroups with `errorCode` and forget this generation's assignment. */
function resetAndPropagateAssignmentError(c: Ctx, errorCode: number): void {
  const g = c.g;
  for (const member of [...g.members.values()]) {
    if (member.syncReplyTo !== null) reply(c, member.syncReplyTo, syncReply(g, errorCode, noBytes));
    updateMember(g, member.memberId, {
      assignment: noBytes,
      syncReplyTo: null,
      heartbeatDeadlineMs: member.syncReplyTo !== null ? c.nowMs + member.sessionTimeoutMs : member.heartbeatDeadlineMs,
    });
  }
}

function hasAllMembersJoined(g: Draft): boolean {
  if (g.pendingMembers.size > 0) return false;
  for (const m of g.members.values()) if (m.joinReplyTo === null) return false;
  return true;
}

/** Kafka's DelayedJoin.tryComplete (the initial delay never completes early). */
function maybeCompleteJoin(c: Ctx): void {
  const g = c.g;
  if (g.phase === 'PreparingRebalance' && g.initialDelay === null && hasAllMembersJoined(g)) completeJoin(c);
}

function removeMemberRaw(g: Draft, memberId: string): void {
  const member = g.members.get(memberId);
  if (member === undefined) return;
  g.members.delete(memberId);
  if (member.groupInstanceId !== null && g.staticMembers.get(member.groupInstanceId) === memberId) g.staticMembers.delete(member.groupInstanceId);
  g.pendingSyncMembers.delete(memberId);
  if (g.leaderId === memberId) g.leaderId = g.members.keys().next().value ?? null;
}

/** Kafka's removeMemberAndUpdateGroup: leave, expiry, admin removal. */
function removeMemberAndUpdateGroup(c: Ctx, memberId: string): void {
  const g = c.g;
  const member = g.members.get(memberId);
  if (member === undefined) return;
  if (member.joinReplyTo !== null) reply(c, member.joinReplyTo, joinError(ErrorCode.UNKNOWN_MEMBER_ID, memberId));
  if (member.syncReplyTo !== null) reply(c, member.syncReplyTo, syncReply(g, ErrorCode.UNKNOWN_MEMBER_ID, noBytes));
  removeMemberRaw(g, memberId);
  switch (g.phase) {
    case 'Stable':
    case 'CompletingRebalance':
      prepareRebalance(c);
      return;
    case 'PreparingRebalance':
      maybeCompleteJoin(c);
      return;
    case 'Empty':
    case 'Dead':
      return;
    default:
      assertNever(g.phase, 'group phase');
  }
}

function maybeElectNewJoinedLeader(g: Draft): boolean {
  if (g.leaderId === null) return false;
  const leader = g.members.get(g.leaderId);
  if (leader !== undefined && leader.joinReplyTo !== null) return true;
  for (const m of g.members.values()) {
    if (m.joinReplyTo !== null) {
      g.leaderId = m.memberId;
      return true;
    }
  }
  return false;
}

/** The protocol every member supports that most members list first; ties go to the leader's order. */
function selectProtocol(g: Draft): string {
  const members = [...g.members.values()];
  const leader = (g.leaderId !== null ? g.members.get(g.leaderId) : undefined) ?? members[0];
  assert(leader !== undefined, 'group: selecting a protocol needs members');
  const candidates = leader.protocols.map((p) => p.name).filter((name) => members.every((m) => m.protocols.some((p) => p.name === name)));
  assert(candidates.length > 0, 'group: members share a protocol (checked at join)');
  const votes = new Map<string, number>(candidates.map((name) => [name, 0]));
  for (const m of members) {
    const choice = m.protocols.find((p) => votes.has(p.name));
    if (choice !== undefined) votes.set(choice.name, votes.get(choice.name)! + 1);
  }
  let best = candidates[0]!;
  for (const name of candidates) if (votes.get(name)! > votes.get(best)!) best = name;
  return best;
}

/** Kafka's onCompleteJoin: the join phase ends; the next generation starts. */
function completeJoin(c: Ctx): void {
  const g = c.g;
  for (const member of [...g.members.values()]) {
    if (member.joinReplyTo === null && member.groupInstanceId === null) removeMemberRaw(g, member.memberId);
  }
  g.rebalanceDeadlineMs = null;
  g.initialDelay = null;
  g.newMemberAdded = false;
  if (!maybeElectNewJoinedLeader(g) && g.members.size > 0) {
    // Only static members that did not rejoin remain: wait another round for them or their expiry.
    g.rebalanceDeadlineMs = c.nowMs + rebalanceTimeoutMs(g);
    return;
  }
  g.generationId += 1;
  if (g.members.size === 0) {
    g.protocolName = null;
    g.leaderId = null;
    transition(c, 'Empty');
    persist(c, 'PersistGroupMetadata', [groupMetadataRecord(g, null, c.nowMs)], { kind: 'EmptyGeneration' });
    return;
  }
  g.protocolName = selectProtocol(g);
  transition(c, 'CompletingRebalance');
  const leaderId = g.leaderId!;
  for (const member of [...g.members.values()]) {
    if (member.joinReplyTo === null) continue; // a static member that did not rejoin
    reply(c, member.joinReplyTo, joinSuccess(g, member.memberId, leaderId, member.memberId === leaderId));
    updateMember(g, member.memberId, { joinReplyTo: null, isNew: false, heartbeatDeadlineMs: c.nowMs + member.sessionTimeoutMs });
  }
  g.pendingSyncMembers = new Set(g.members.keys());
  g.syncDeadlineMs = c.nowMs + rebalanceTimeoutMs(g);
}

// ---------------------------------------------------------------- SyncGroup, Heartbeat, LeaveGroup

function handleSyncGroup(c: Ctx, req: SyncGroup): void {
  const g = c.g;
  const fail = (errorCode: number): void => reply(c, req.replyTo, syncReply(g, errorCode, noBytes));
  if (g.phase === 'Dead') return fail(ErrorCode.COORDINATOR_NOT_AVAILABLE);
  const memberError = validateCurrentMember(g, req.memberId, req.groupInstanceId);
  if (memberError !== ErrorCode.NONE) return fail(memberError);
  if (req.generationId !== g.generationId) return fail(ErrorCode.ILLEGAL_GENERATION);
  if (req.protocolType !== null && req.protocolType !== g.protocolType) return fail(ErrorCode.INCONSISTENT_GROUP_PROTOCOL);
  if (req.protocolName !== null && req.protocolName !== g.protocolName) return fail(ErrorCode.INCONSISTENT_GROUP_PROTOCOL);
  const member = g.members.get(req.memberId)!;
  switch (g.phase) {
    case 'Empty':
      return fail(ErrorCode.UNKNOWN_MEMBER_ID);
    case 'PreparingRebalance':
      return fail(ErrorCode.REBALANCE_IN_PROGRESS);
    case 'CompletingRebalance': {
      if (member.syncReplyTo !== null) reply(c, member.syncReplyTo, syncReply(g, ErrorCode.REBALANCE_IN_PROGRESS, noBytes));
      updateMember(g, member.memberId, { syncReplyTo: req.replyTo, heartbeatDeadlineMs: null });
      g.pendingSyncMembers.delete(member.memberId);
      if (g.leaderId !== member.memberId) return; // followers wait for the leader's assignment
      const alreadyWriting = [...g.pendingPersists.values()].some((p) => p.kind === 'SyncAssignment' && p.generationId === g.generationId);
      if (alreadyWriting) return;
      const assignments = new Map<string, Uint8Array>();
      for (const entry of req.assignments) {
        if (g.members.has(entry.memberId)) assignments.set(entry.memberId, new Uint8Array(entry.assignment));
      }
      for (const memberId of g.members.keys()) if (!assignments.has(memberId)) assignments.set(memberId, noBytes);
      persist(c, 'PersistGroupMetadata', [groupMetadataRecord(g, assignments, c.nowMs)], {
        kind: 'SyncAssignment',
        generationId: g.generationId,
        assignments,
      });
      return;
    }
    case 'Stable':
      g.pendingSyncMembers.delete(member.memberId);
      if (g.pendingSyncMembers.size === 0) g.syncDeadlineMs = null;
      touch(c, member.memberId);
      return reply(c, req.replyTo, syncReply(g, ErrorCode.NONE, member.assignment));
    default:
      return assertNever(g.phase, 'group phase');
  }
}

function handleHeartbeat(c: Ctx, req: Heartbeat): void {
  const g = c.g;
  const answer = (errorCode: number): void => reply(c, req.replyTo, { type: 'HeartbeatReply', errorCode });
  if (g.phase === 'Dead') return answer(ErrorCode.COORDINATOR_NOT_AVAILABLE);
  const memberError = validateCurrentMember(g, req.memberId, req.groupInstanceId);
  if (memberError !== ErrorCode.NONE) return answer(memberError);
  if (req.generationId !== g.generationId) return answer(ErrorCode.ILLEGAL_GENERATION);
  switch (g.phase) {
    case 'Empty':
      return answer(ErrorCode.UNKNOWN_MEMBER_ID);
    case 'PreparingRebalance':
      touch(c, req.memberId);
      return answer(ErrorCode.REBALANCE_IN_PROGRESS);
    case 'CompletingRebalance':
    case 'Stable':
      touch(c, req.memberId);
      return answer(ErrorCode.NONE);
    default:
      return assertNever(g.phase, 'group phase');
  }
}

function handleLeaveGroup(c: Ctx, req: LeaveGroup): void {
  const g = c.g;
  if (g.phase === 'Dead') {
    return reply(c, req.replyTo, { type: 'LeaveGroupReply', errorCode: ErrorCode.COORDINATOR_NOT_AVAILABLE, members: [] });
  }
  const results = req.members.map((leaving) => {
    const result = (errorCode: number): { memberId: string; groupInstanceId: string | null; errorCode: number } => ({
      memberId: leaving.memberId,
      groupInstanceId: leaving.groupInstanceId,
      errorCode,
    });
    if (leaving.memberId === '') {
      // Administrative removal by group.instance.id.
      const current = leaving.groupInstanceId === null ? undefined : g.staticMembers.get(leaving.groupInstanceId);
      if (current === undefined) return result(ErrorCode.UNKNOWN_MEMBER_ID);
      removeMemberAndUpdateGroup(c, current);
      return result(ErrorCode.NONE);
    }
    if (g.pendingMembers.has(leaving.memberId)) {
      g.pendingMembers.delete(leaving.memberId);
      maybeCompleteJoin(c);
      return result(ErrorCode.NONE);
    }
    const memberError = validateCurrentMember(g, leaving.memberId, leaving.groupInstanceId);
    if (memberError !== ErrorCode.NONE) return result(memberError);
    removeMemberAndUpdateGroup(c, leaving.memberId);
    return result(ErrorCode.NONE);
  });
  reply(c, req.replyTo, { type: 'LeaveGroupReply', errorCode: ErrorCode.NONE, members: results });
}

// ---------------------------------------------------------------- offsets

function utf8Length(s: string): number {
  let bytes = 0;
  for (let i = 0; i < s.length; i++) {
    const code = s.charCodeAt(i);
    if (code < 0x80) bytes += 1;
    else if (code < 0x800) bytes += 2;
    else if (code >= 0xd800 && code <= 0xdbff && i + 1 < s.length && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      bytes += 4;
      i += 1;
    } else bytes += 3;
  }
  return bytes;
}

function validateCommitEntry(g: Draft, entry: OffsetCommit['offsets'][number]): number {
  if (typeof entry.topic !== 'string' || entry.topic.length === 0) return ErrorCode.UNKNOWN_TOPIC_OR_PARTITION;
  if (!isInt(entry.partition, 0, 2_147_483_647)) return ErrorCode.UNKNOWN_TOPIC_OR_PARTITION;
  if (!isInt(entry.offset, 0, Number.MAX_SAFE_INTEGER)) return ErrorCode.INVALID_COMMIT_OFFSET_SIZE;
  if (!isInt(entry.leaderEpoch, -1, 2_147_483_647)) return ErrorCode.INVALID_REQUEST;
  if (entry.metadata !== null && (typeof entry.metadata !== 'string' || utf8Length(entry.metadata) > g.config.offsetMetadataBytesMax)) {
    return ErrorCode.OFFSET_METADATA_TOO_LARGE;
  }
  return ErrorCode.NONE;
}

/** Kafka's validateOffsetCommit + the state check of doCommitOffsets. */
function commitGroupError(g: Draft, req: OffsetCommit): number {
  if (g.phase === 'Dead') return ErrorCode.COORDINATOR_NOT_AVAILABLE;
  if (isUnknownGroup(g) && req.generationId >= 0) return ErrorCode.ILLEGAL_GENERATION;
  if (req.generationId >= 0 || req.memberId !== '' || req.groupInstanceId !== null) {
    const memberError = validateCurrentMember(g, req.memberId, req.groupInstanceId);
    if (memberError !== ErrorCode.NONE) return memberError;
    if (req.generationId !== g.generationId) return ErrorCode.ILLEGAL_GENERATION;
  } else if (g.phase !== 'Empty') {
    return ErrorCode.UNKNOWN_MEMBER_ID; // only members commit to a group with members
  }
  if (g.phase === 'CompletingRebalance') return ErrorCode.REBALANCE_IN_PROGRESS;
  return ErrorCode.NONE;
}

function handleOffsetCommit(c: Ctx, req: OffsetCommit): void {
  const g = c.g;
  const groupError = commitGroupError(g, req);
  if (groupError !== ErrorCode.NONE) {
    return reply(c, req.replyTo, {
      type: 'OffsetCommitReply',
      results: req.offsets.map((o) => ({ topic: o.topic, partition: o.partition, errorCode: groupError })),
    });
  }
  if (g.members.has(req.memberId)) touch(c, req.memberId);
  const results: CommitResult[] = [];
  const writes: CommitWrite[] = [];
  for (const entry of req.offsets) {
    const errorCode = validateCommitEntry(g, entry);
    results.push({ topic: entry.topic, partition: entry.partition, errorCode });
    if (errorCode !== ErrorCode.NONE) continue;
    writes.push({
      topic: entry.topic,
      partition: entry.partition,
      value: { offset: entry.offset, leaderEpoch: entry.leaderEpoch, metadata: entry.metadata ?? '', commitTimestampMs: c.nowMs },
    });
  }
  if (writes.length === 0) return reply(c, req.replyTo, { type: 'OffsetCommitReply', results });
  const records: OffsetsTopicRecord[] = writes.map((w) => ({
    key: { type: 'OffsetCommit', group: g.groupId, topic: w.topic, partition: w.partition },
    value: w.value,
  }));
  persist(c, 'PersistOffsets', records, { kind: 'OffsetCommit', replyTo: req.replyTo, results, writes });
}

function handleOffsetFetch(c: Ctx, req: OffsetFetch): void {
  const g = c.g;
  const notCommitted = { offset: -1, leaderEpoch: -1, metadata: '' };
  const unstable = (topic: string, partition: number): boolean => req.requireStable === true && hasPendingOffset(g.stagedTxnOffsets, topic, partition);
  let offsets: OffsetFetchReply['offsets'];
  if (req.partitions === null) {
    offsets = [...g.offsets.entries()]
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .flatMap(([topic, byPartition]) =>
        [...byPartition.entries()]
          .sort(([a], [b]) => a - b)
          .map(([partition, v]) =>
            unstable(topic, partition)
              ? { topic, partition, ...notCommitted, errorCode: ErrorCode.UNSTABLE_OFFSET_COMMIT }
              : { topic, partition, offset: v.offset, leaderEpoch: v.leaderEpoch, metadata: v.metadata, errorCode: ErrorCode.NONE },
          ),
      );
  } else {
    offsets = req.partitions.map(({ topic, partition }) => {
      if (typeof topic !== 'string' || topic.length === 0 || !isInt(partition, 0, 2_147_483_647)) {
        return { topic, partition, ...notCommitted, errorCode: ErrorCode.UNKNOWN_TOPIC_OR_PARTITION };
      }
      if (unstable(topic, partition)) return { topic, partition, ...notCommitted, errorCode: ErrorCode.UNSTABLE_OFFSET_COMMIT };
      const v = g.offsets.get(topic)?.get(partition);
      return v === undefined
        ? { topic, partition, ...notCommitted, errorCode: ErrorCode.NONE }
        : { topic, partition, offset: v.offset, leaderEpoch: v.leaderEpoch, metadata: v.metadata, errorCode: ErrorCode.NONE };
    });
  }
  reply(c, req.replyTo, { type: 'OffsetFetchReply', errorCode: ErrorCode.NONE, offsets });
}

function applyOffsets(g: Draft, writes: readonly CommitWrite[]): void {
  const offsets = new Map(g.offsets);
  const copied = new Set<string>();
  for (const w of writes) {
    if (!copied.has(w.topic)) {
      offsets.set(w.topic, new Map(offsets.get(w.topic) ?? []));
      copied.add(w.topic);
    }
    (offsets.get(w.topic) as Map<number, CommittedOffset>).set(w.partition, w.value);
  }
  g.offsets = offsets;
}

// ---------------------------------------------------------------- transactional offsets

/** Kafka's validateOffsetCommit with isTransactional: the member is checked only when one is named. */
function txnCommitGroupError(g: Draft, req: TxnOffsetCommit): number {
  if (g.phase === 'Dead') return ErrorCode.COORDINATOR_NOT_AVAILABLE;
  if (isUnknownGroup(g) && req.generationId >= 0) return ErrorCode.ILLEGAL_GENERATION;
  if (req.generationId >= 0 || req.memberId !== '' || req.groupInstanceId !== null) {
    const memberError = validateCurrentMember(g, req.memberId, req.groupInstanceId);
    if (memberError !== ErrorCode.NONE) return memberError;
    if (req.generationId !== g.generationId) return ErrorCode.ILLEGAL_GENERATION;
  }
  return ErrorCode.NONE;
}

function txnReply(c: Ctx, to: ReplyTarget, errorCode: number, results: readonly CommitResult[]): void {
  reply(c, to, { type: 'TxnOffsetCommitReply', errorCode, errorMessage: null, results: results.map((r) => ({ topic: r.topic, partition: r.partition, errorCode: r.errorCode })) });
}

function handleTxnOffsetCommit(c: Ctx, req: TxnOffsetCommit): void {
  const g = c.g;
  const groupError = txnCommitGroupError(g, req);
  if (groupError !== ErrorCode.NONE) {
    return txnReply(c, req.replyTo, ErrorCode.NONE, req.offsets.map((o) => ({ topic: o.topic, partition: o.partition, errorCode: groupError })));
  }
  const producerError = !isInt(req.producerId, 0, Number.MAX_SAFE_INTEGER)
    ? ErrorCode.INVALID_PRODUCER_ID_MAPPING
    : !isInt(req.producerEpoch, 0, 32_767)
      ? ErrorCode.INVALID_PRODUCER_EPOCH
      : ErrorCode.NONE;
  if (producerError !== ErrorCode.NONE) {
    return txnReply(c, req.replyTo, ErrorCode.NONE, req.offsets.map((o) => ({ topic: o.topic, partition: o.partition, errorCode: producerError })));
  }
  if (g.members.has(req.memberId)) touch(c, req.memberId);
  const results: CommitResult[] = [];
  const offsets: TxnOffset[] = [];
  for (const entry of req.offsets) {
    const errorCode = validateCommitEntry(g, { ...entry, leaderEpoch: -1 });
    results.push({ topic: entry.topic, partition: entry.partition, errorCode });
    if (errorCode === ErrorCode.NONE) {
      offsets.push({ topic: entry.topic, partition: entry.partition, offset: entry.offset, leaderEpoch: -1, metadata: entry.metadata ?? '', commitTimestampMs: c.nowMs });
    }
  }
  if (offsets.length === 0) return txnReply(c, req.replyTo, ErrorCode.NONE, results);
  // Refuse what staging would refuse (a fenced epoch, too many partitions) before writing anything.
  const bumpEpochOnEnd = req.bumpEpochOnEnd ?? true;
  const trial = stageTxnOffsets(g.stagedTxnOffsets, req.producerId, req.producerEpoch, offsets, bumpEpochOnEnd);
  if (trial.results.some((r) => r.errorCode !== ErrorCode.NONE)) {
    const refused = new Map(trial.results.map((r) => [`${r.topic}\u0000${r.partition}`, r.errorCode]));
    return txnReply(
      c,
      req.replyTo,
      ErrorCode.NONE,
      results.map((r) => (r.errorCode === ErrorCode.NONE ? { ...r, errorCode: refused.get(`${r.topic}\u0000${r.partition}`) ?? ErrorCode.UNKNOWN_SERVER_ERROR } : r)),
    );
  }
  const records: OffsetsTopicRecord[] = offsets.map((o) => ({
    key: { type: 'OffsetCommit', group: g.groupId, topic: o.topic, partition: o.partition },
    value: { offset: o.offset, leaderEpoch: o.leaderEpoch, metadata: o.metadata, commitTimestampMs: o.commitTimestampMs },
  }));
  const persistId = g.nextPersistId;
  g.nextPersistId += 1;
  g.pendingPersists.set(persistId, {
    kind: 'TxnOffsetCommit',
    replyTo: req.replyTo,
    results,
    producerId: req.producerId,
    producerEpoch: req.producerEpoch,
    offsets,
    bumpEpochOnEnd,
    marker: null,
  });
  c.fx.push({ type: 'PersistTxnOffsets', persistId, groupId: g.groupId, records, producerId: req.producerId, producerEpoch: req.producerEpoch });
}

function commitTxnOffsets(g: Draft, committed: readonly TxnOffset[]): void {
  if (committed.length === 0) return;
  applyOffsets(
    g,
    committed.map((o) => ({
      topic: o.topic,
      partition: o.partition,
      value: { offset: o.offset, leaderEpoch: o.leaderEpoch, metadata: o.metadata, commitTimestampMs: o.commitTimestampMs },
    })),
  );
}

function handleCompleteTxnOffsets(c: Ctx, input: CompleteTxnOffsets): void {
  const g = c.g;
  if (g.phase === 'Dead') return;
  assert(input.result === 'commit' || input.result === 'abort', 'group: a marker is commit or abort');
  const done = completeTxnOffsets(g.stagedTxnOffsets, input.producerId, input.producerEpoch, input.result === 'commit' ? 'COMMIT' : 'ABORT');
  g.stagedTxnOffsets = done.staged;
  commitTxnOffsets(g, done.committed);
  // Writes of this producer still in flight are in the log before the marker: they get its result when they complete
  // (one at the marker's epoch too when its transaction ends without a bump, as completeTxnOffsets decides).
  for (const [persistId, p] of g.pendingPersists) {
    const ended = p.kind === 'TxnOffsetCommit' && (p.producerEpoch < input.producerEpoch || (p.producerEpoch === input.producerEpoch && !p.bumpEpochOnEnd));
    if (p.kind === 'TxnOffsetCommit' && p.producerId === input.producerId && ended && p.marker === null) {
      g.pendingPersists.set(persistId, { ...p, marker: input.result });
    }
  }
}

function hasTxnOffsets(g: Draft): boolean {
  if (g.stagedTxnOffsets.size > 0) return true;
  for (const p of g.pendingPersists.values()) if (p.kind === 'TxnOffsetCommit') return true;
  return false;
}

// ---------------------------------------------------------------- describe, delete

function handleDescribeGroup(c: Ctx, req: DescribeGroup): void {
  const g = c.g;
  if (g.phase === 'Dead' || isUnknownGroup(g)) {
    return reply(c, req.replyTo, {
      type: 'DescribeGroupReply',
      errorCode: ErrorCode.GROUP_ID_NOT_FOUND,
      groupId: g.groupId,
      state: 'Dead',
      protocolType: '',
      protocol: '',
      members: [],
    });
  }
  reply(c, req.replyTo, describe(g));
}

/** DescribeGroups for one group (also what ListGroups needs: groupId, protocolType, state). */
export function describe(g: GroupState): DescribeGroupReply {
  const stable = g.phase === 'Stable';
  return {
    type: 'DescribeGroupReply',
    errorCode: ErrorCode.NONE,
    groupId: g.groupId,
    state: g.phase,
    protocolType: g.protocolType ?? '',
    protocol: g.protocolName ?? '',
    members: [...g.members.values()].map((m) => ({
      memberId: m.memberId,
      groupInstanceId: m.groupInstanceId,
      clientId: m.clientId,
      clientHost: m.clientHost,
      metadata: stable ? metadataFor(m, g.protocolName) : noBytes,
      assignment: stable ? m.assignment : noBytes,
    })),
  };
}

export type GroupListing = { readonly groupId: string; readonly protocolType: string; readonly state: GroupPhase };

/** ListGroups' entry for this group; null for a group Kafka would not list (unknown or Dead). */
export function listing(g: GroupState): GroupListing | null {
  if (g.phase === 'Dead' || isUnknownGroup(g)) return null;
  return { groupId: g.groupId, protocolType: g.protocolType ?? '', state: g.phase };
}

function handleDeleteGroup(c: Ctx, req: DeleteGroup): void {
  const g = c.g;
  const answer = (errorCode: number): void => reply(c, req.replyTo, { type: 'DeleteGroupReply', groupId: g.groupId, errorCode });
  if (g.phase === 'Dead' || isUnknownGroup(g)) return answer(ErrorCode.GROUP_ID_NOT_FOUND);
  if (g.phase !== 'Empty') return answer(ErrorCode.NON_EMPTY_GROUP);
  if (hasTxnOffsets(g)) return answer(ErrorCode.NON_EMPTY_GROUP); // see the header: a transaction still holds offsets of it
  // Tombstones for every offset, committed or being written (those writes land first), then the group.
  const partitions = new Map<string, { topic: string; partition: number }>();
  for (const [topic, byPartition] of g.offsets) for (const partition of byPartition.keys()) partitions.set(`${topic}\u0000${partition}`, { topic, partition });
  for (const p of g.pendingPersists.values()) {
    if (p.kind === 'OffsetCommit') for (const w of p.writes) partitions.set(`${w.topic}\u0000${w.partition}`, { topic: w.topic, partition: w.partition });
  }
  const records: OffsetsTopicRecord[] = [...partitions.values()].map(({ topic, partition }) => ({
    key: { type: 'OffsetCommit', group: g.groupId, topic, partition },
    value: null,
  }));
  records.push({ key: { type: 'GroupMetadata', group: g.groupId }, value: null });
  transition(c, 'Dead');
  g.pendingMembers.clear();
  persist(c, 'PersistGroupMetadata', records, { kind: 'DeleteGroup', replyTo: req.replyTo });
}

/** Topics the members subscribe to (consumer protocol), or null if any subscription does not decode. */
function subscribedTopics(g: Draft): Set<string> | null {
  const topics = new Set<string>();
  for (const m of g.members.values()) {
    const decoded = decodeSubscription(metadataFor(m, g.protocolName));
    if (!decoded.ok) return null;
    for (const t of decoded.value.topics) topics.add(t);
  }
  return topics;
}

/**
 * The topics OffsetDelete must keep (Kafka's ClassicGroup.isSubscribedToTopic):
 * none for an Empty group, a group that is not a consumer group, or one whose
 * protocol is not selected yet (Kafka's set is the last generation's: empty
 * after Empty); otherwise the union of the members' subscriptions for the
 * selected protocol, members without that protocol (new since the last
 * generation) left out. A subscription that does not decode makes every
 * topic subscribed ('all'), as Kafka's orElse(usesConsumerGroupProtocol).
 * Kafka keeps the set of the last generation; this reads the members' latest
 * metadata, which differs only while a member that changed its subscription
 * rejoins.
 */
function offsetDeleteSubscription(g: Draft): ReadonlySet<string> | 'all' {
  const topics = new Set<string>();
  if (g.phase === 'Empty' || g.protocolType !== consumerProtocolType || g.protocolName === null) return topics;
  for (const m of g.members.values()) {
    const offer = m.protocols.find((p) => p.name === g.protocolName);
    if (offer === undefined) continue;
    const decoded = decodeSubscription(offer.metadata);
    if (!decoded.ok) return 'all';
    for (const t of decoded.value.topics) topics.add(t);
  }
  return topics;
}

/**
 * Kafka's OffsetMetadataManager.deleteOffsets with ClassicGroup.validateOffsetDelete:
 * an unknown or Dead group is GROUP_ID_NOT_FOUND; a group with members that is
 * not a consumer group NON_EMPTY_GROUP (both without results, as Kafka's
 * error response has no topics). Tombstones go to the log and the offsets
 * leave the state when they are written (so a reload agrees); a partition
 * with a commit still being written gets one too (that write lands first).
 * Staged transactional offsets are not touched: their marker decides them,
 * live and on a reload alike (Kafka's tombstone would drop them as well).
 */
function handleOffsetDelete(c: Ctx, req: OffsetDelete): void {
  const g = c.g;
  const answer = (errorCode: number, results: readonly CommitResult[]): void =>
    reply(c, req.replyTo, { type: 'OffsetDeleteReply', errorCode, results: results.map((r) => ({ topic: r.topic, partition: r.partition, errorCode: r.errorCode })) });
  if (g.phase === 'Dead' || isUnknownGroup(g)) return answer(ErrorCode.GROUP_ID_NOT_FOUND, []);
  if (g.phase !== 'Empty' && g.protocolType !== consumerProtocolType) return answer(ErrorCode.NON_EMPTY_GROUP, []);
  const subscribed = offsetDeleteSubscription(g);
  const writing = new Set<string>();
  for (const p of g.pendingPersists.values()) {
    if (p.kind === 'OffsetCommit') for (const w of p.writes) writing.add(`${w.topic}\u0000${w.partition}`);
  }
  const results: CommitResult[] = [];
  const deleted: { topic: string; partition: number }[] = [];
  const seen = new Set<string>();
  for (const { topic, partition } of req.partitions) {
    if (subscribed === 'all' || subscribed.has(topic)) {
      results.push({ topic, partition, errorCode: ErrorCode.GROUP_SUBSCRIBED_TO_TOPIC });
      continue;
    }
    results.push({ topic, partition, errorCode: ErrorCode.NONE });
    const key = `${topic}\u0000${partition}`;
    if (seen.has(key)) continue;
    seen.add(key);
    if (g.offsets.get(topic)?.has(partition) === true || writing.has(key)) deleted.push({ topic, partition });
  }
  if (deleted.length === 0) return answer(ErrorCode.NONE, results);
  const records: OffsetsTopicRecord[] = deleted.map(({ topic, partition }) => ({ key: { type: 'OffsetCommit', group: g.groupId, topic, partition }, value: null }));
  persist(c, 'PersistOffsets', records, { kind: 'OffsetDelete', replyTo: req.replyTo, results, deleted });
}

/** Removes `partitions` from the committed offsets. */
function removeOffsets(g: Draft, partitions: readonly { readonly topic: string; readonly partition: number }[]): void {
  const offsets = new Map(g.offsets);
  for (const { topic, partition } of partitions) {
    const before = offsets.get(topic);
    if (before === undefined || !before.has(partition)) continue;
    const byPartition = new Map(before);
    byPartition.delete(partition);
    if (byPartition.size === 0) offsets.delete(topic);
    else offsets.set(topic, byPartition);
  }
  g.offsets = offsets;
}

function handleExpireOffsets(c: Ctx, input: ExpireOffsets): void {
  const g = c.g;
  if (g.phase === 'Dead' || isUnknownGroup(g)) return;
  assert(Number.isFinite(input.retentionMs) && input.retentionMs >= 0, 'group: retentionMs is a non-negative number');
  const writing = new Set<string>();
  for (const p of g.pendingPersists.values()) {
    if (p.kind === 'OffsetCommit') for (const w of p.writes) writing.add(`${w.topic}\u0000${w.partition}`);
  }
  let baseMs: ((v: CommittedOffset) => number) | null = null;
  let keepTopics = new Set<string>();
  if (g.protocolType !== null && g.phase === 'Empty') {
    const since = g.stateSinceMs;
    baseMs = (v) => since ?? v.commitTimestampMs;
  } else if (g.protocolType === consumerProtocolType && g.phase === 'Stable') {
    const topics = subscribedTopics(g);
    if (topics !== null) {
      baseMs = (v) => v.commitTimestampMs;
      keepTopics = topics;
    }
  } else if (g.protocolType === null) {
    baseMs = (v) => v.commitTimestampMs;
  }
  const expired: { topic: string; partition: number }[] = [];
  if (baseMs !== null) {
    for (const [topic, byPartition] of g.offsets) {
      if (keepTopics.has(topic)) continue;
      for (const [partition, v] of byPartition) {
        if (writing.has(`${topic}\u0000${partition}`)) continue;
        if (c.nowMs - baseMs(v) >= input.retentionMs) expired.push({ topic, partition });
      }
    }
  }
  const records: OffsetsTopicRecord[] = expired.map(({ topic, partition }) => ({
    key: { type: 'OffsetCommit', group: g.groupId, topic, partition },
    value: null,
  }));
  if (expired.length > 0) removeOffsets(g, expired);
  const groupGone = g.phase === 'Empty' && g.offsets.size === 0 && writing.size === 0 && g.pendingMembers.size === 0 && !hasTxnOffsets(g);
  if (groupGone) {
    records.push({ key: { type: 'GroupMetadata', group: g.groupId }, value: null });
    transition(c, 'Dead');
  }
  if (records.length > 0) persist(c, groupGone ? 'PersistGroupMetadata' : 'PersistOffsets', records, { kind: 'Expire' });
}

// ---------------------------------------------------------------- persistence

function persist(c: Ctx, type: 'PersistGroupMetadata' | 'PersistOffsets', records: readonly OffsetsTopicRecord[], pending: PendingPersist): void {
  const g = c.g;
  const persistId = g.nextPersistId;
  g.nextPersistId += 1;
  g.pendingPersists.set(persistId, pending);
  c.fx.push({ type, persistId, groupId: g.groupId, records });
}

/** The group's metadata record: members with their metadata for the selected protocol and their assignment. */
function groupMetadataRecord(g: Draft, assignments: ReadonlyMap<string, Uint8Array> | null, nowMs: number): GroupMetadataRecord {
  const value: GroupMetadataValue = {
    protocolType: g.protocolType,
    generationId: g.generationId,
    protocol: g.members.size > 0 ? g.protocolName : null,
    leader: g.members.size > 0 ? g.leaderId : null,
    currentStateTimestampMs: g.stateSinceMs ?? nowMs,
    members: [...g.members.values()].map((m) => ({
      memberId: m.memberId,
      groupInstanceId: m.groupInstanceId,
      clientId: m.clientId,
      clientHost: m.clientHost,
      sessionTimeoutMs: m.sessionTimeoutMs,
      rebalanceTimeoutMs: m.rebalanceTimeoutMs,
      subscription: metadataFor(m, g.protocolName),
      assignment: assignments?.get(m.memberId) ?? m.assignment,
    })),
  };
  return { key: { type: 'GroupMetadata', group: g.groupId }, value };
}

/** Kafka's storeGroup error mapping. */
function groupWriteError(errorCode: number): number {
  switch (errorCode) {
    case ErrorCode.UNKNOWN_TOPIC_OR_PARTITION:
    case ErrorCode.NOT_ENOUGH_REPLICAS:
    case ErrorCode.NOT_ENOUGH_REPLICAS_AFTER_APPEND:
      return ErrorCode.COORDINATOR_NOT_AVAILABLE;
    case ErrorCode.NOT_LEADER_OR_FOLLOWER:
    case ErrorCode.KAFKA_STORAGE_ERROR:
      return ErrorCode.NOT_COORDINATOR;
    case ErrorCode.REQUEST_TIMED_OUT:
      return ErrorCode.REBALANCE_IN_PROGRESS;
    case ErrorCode.MESSAGE_TOO_LARGE:
    case ErrorCode.RECORD_LIST_TOO_LARGE:
    case ErrorCode.INVALID_FETCH_SIZE:
      return ErrorCode.UNKNOWN_SERVER_ERROR;
    default:
      return errorCode;
  }
}

/** The new coordinator's mapping of a failed write (CoordinatorOperationExceptionHelper), for OffsetDelete. */
function coordinatorWriteError(errorCode: number): number {
  switch (errorCode) {
    case ErrorCode.UNKNOWN_TOPIC_OR_PARTITION:
    case ErrorCode.NOT_ENOUGH_REPLICAS:
    case ErrorCode.NOT_ENOUGH_REPLICAS_AFTER_APPEND:
    case ErrorCode.REQUEST_TIMED_OUT:
      return ErrorCode.COORDINATOR_NOT_AVAILABLE;
    case ErrorCode.NOT_LEADER_OR_FOLLOWER:
    case ErrorCode.KAFKA_STORAGE_ERROR:
      return ErrorCode.NOT_COORDINATOR;
    case ErrorCode.MESSAGE_TOO_LARGE:
    case ErrorCode.RECORD_LIST_TOO_LARGE:
    case ErrorCode.INVALID_FETCH_SIZE:
      return ErrorCode.UNKNOWN_SERVER_ERROR;
    default:
      return errorCode;
  }
}

/** Kafka's storeOffsets error mapping. */
function offsetWriteError(errorCode: number): number {
  switch (errorCode) {
    case ErrorCode.UNKNOWN_TOPIC_OR_PARTITION:
    case ErrorCode.NOT_ENOUGH_REPLICAS:
    case ErrorCode.NOT_ENOUGH_REPLICAS_AFTER_APPEND:
      return ErrorCode.COORDINATOR_NOT_AVAILABLE;
    case ErrorCode.NOT_LEADER_OR_FOLLOWER:
    case ErrorCode.KAFKA_STORAGE_ERROR:
      return ErrorCode.NOT_COORDINATOR;
    case ErrorCode.MESSAGE_TOO_LARGE:
    case ErrorCode.RECORD_LIST_TOO_LARGE:
    case ErrorCode.INVALID_FETCH_SIZE:
      return ErrorCode.INVALID_COMMIT_OFFSET_SIZE;
    default:
      return errorCode;
  }
}

function handlePersistCompleted(c: Ctx, input: PersistCompleted): void {
  const g = c.g;
  const pending = g.pendingPersists.get(input.persistId);
  if (pending === undefined) return; // answered already (Unload) or not ours
  g.pendingPersists.delete(input.persistId);
  const ok = input.errorCode === ErrorCode.NONE;
  switch (pending.kind) {
    case 'SyncAssignment': {
      if (g.phase !== 'CompletingRebalance' || g.generationId !== pending.generationId) return; // the group moved on
      if (!ok) {
        resetAndPropagateAssignmentError(c, groupWriteError(input.errorCode));
        prepareRebalance(c);
        return;
      }
      for (const member of [...g.members.values()]) {
        const assignment = pending.assignments.get(member.memberId) ?? noBytes;
        if (member.syncReplyTo !== null) reply(c, member.syncReplyTo, syncReply(g, ErrorCode.NONE, assignment));
        updateMember(g, member.memberId, {
          assignment,
          syncReplyTo: null,
          heartbeatDeadlineMs: member.syncReplyTo !== null ? c.nowMs + member.sessionTimeoutMs : member.heartbeatDeadlineMs,
        });
      }
      transition(c, 'Stable');
      if (g.pendingSyncMembers.size === 0) g.syncDeadlineMs = null;
      return;
    }
    case 'StaticReplace': {
      const member = g.members.get(pending.newMemberId);
      const stillReplaced = member !== undefined && g.staticMembers.get(pending.groupInstanceId) === pending.newMemberId;
      if (ok) {
        if (stillReplaced && member.joinReplyTo !== null && g.phase === 'Stable' && g.generationId === pending.generationId) {
          // The old leader id stays in the reply so the restarted member does not think it must assign.
          reply(c, member.joinReplyTo, joinSuccess(g, member.memberId, pending.leaderIdBefore ?? '', false));
          // The parked join kept it alive (a Tick may have cleared its deadline): its session starts again now.
          updateMember(g, member.memberId, { joinReplyTo: null, heartbeatDeadlineMs: c.nowMs + member.sessionTimeoutMs });
        }
        return;
      }
      if (!stillReplaced) return;
      if (member.joinReplyTo !== null) reply(c, member.joinReplyTo, joinError(groupWriteError(input.errorCode), member.memberId));
      // A SyncGroup the new incarnation parked meanwhile is answered too: that member id is gone.
      if (member.syncReplyTo !== null) reply(c, member.syncReplyTo, syncReply(g, groupWriteError(input.errorCode), noBytes));
      // Revert: the old incarnation is the member again.
      g.members.delete(pending.newMemberId);
      g.members.set(pending.oldMember.memberId, {
        ...pending.oldMember,
        joinReplyTo: null,
        syncReplyTo: null,
        heartbeatDeadlineMs: member.heartbeatDeadlineMs ?? c.nowMs + pending.oldMember.sessionTimeoutMs,
      });
      g.staticMembers.set(pending.groupInstanceId, pending.oldMember.memberId);
      if (g.leaderId === pending.newMemberId) g.leaderId = pending.oldMember.memberId;
      if (g.pendingSyncMembers.delete(pending.newMemberId) || pending.wasPendingSync) {
        if (g.phase === 'Stable' || g.phase === 'CompletingRebalance') g.pendingSyncMembers.add(pending.oldMember.memberId);
      }
      return;
    }
    case 'EmptyGeneration':
    case 'Expire':
      return; // nothing waits on it (Kafka logs a failure and moves on)
    case 'OffsetCommit': {
      if (ok) applyOffsets(g, pending.writes);
      const written = ok ? ErrorCode.NONE : offsetWriteError(input.errorCode);
      reply(c, pending.replyTo, {
        type: 'OffsetCommitReply',
        results: pending.results.map((r) => ({ topic: r.topic, partition: r.partition, errorCode: r.errorCode === ErrorCode.NONE ? written : r.errorCode })),
      });
      return;
    }
    case 'TxnOffsetCommit': {
      let results = pending.results;
      if (!ok) {
        const written = offsetWriteError(input.errorCode);
        results = results.map((r) => (r.errorCode === ErrorCode.NONE ? { ...r, errorCode: written } : r));
      } else if (pending.marker !== null) {
        // The transaction ended while this write was in flight (see handleCompleteTxnOffsets).
        if (pending.marker === 'commit') commitTxnOffsets(g, pending.offsets);
      } else {
        const staged = stageTxnOffsets(g.stagedTxnOffsets, pending.producerId, pending.producerEpoch, pending.offsets, pending.bumpEpochOnEnd);
        g.stagedTxnOffsets = staged.staged;
        // A newer epoch staged meanwhile fences this one (a reload of the log decides the same way).
        const byKey = new Map(staged.results.map((r) => [`${r.topic}\u0000${r.partition}`, r.errorCode]));
        results = results.map((r) => (r.errorCode === ErrorCode.NONE ? { ...r, errorCode: byKey.get(`${r.topic}\u0000${r.partition}`) ?? ErrorCode.NONE } : r));
      }
      txnReply(c, pending.replyTo, ErrorCode.NONE, results);
      return;
    }
    case 'OffsetDelete': {
      if (!ok) return reply(c, pending.replyTo, { type: 'OffsetDeleteReply', errorCode: coordinatorWriteError(input.errorCode), results: [] });
      removeOffsets(g, pending.deleted);
      reply(c, pending.replyTo, { type: 'OffsetDeleteReply', errorCode: ErrorCode.NONE, results: pending.results });
      return;
    }
    case 'DeleteGroup': {
      if (ok) {
        g.offsets = new Map();
        reply(c, pending.replyTo, { type: 'DeleteGroupReply', groupId: g.groupId, errorCode: ErrorCode.NONE });
      } else {
        if (g.phase === 'Dead') transition(c, 'Empty');
        reply(c, pending.replyTo, { type: 'DeleteGroupReply', groupId: g.groupId, errorCode: groupWriteError(input.errorCode) });
      }
      return;
    }
    default:
      assertNever(pending, 'pending persist');
  }
}

// ---------------------------------------------------------------- time, unload

function handleTick(c: Ctx): void {
  const g = c.g;
  const now = c.nowMs;
  if (g.phase === 'Dead') return;

  // Member ids handed out with MEMBER_ID_REQUIRED that never came back.
  let pendingExpired = false;
  for (const [memberId, deadlineMs] of [...g.pendingMembers]) {
    if (deadlineMs <= now) {
      g.pendingMembers.delete(memberId);
      pendingExpired = true;
    }
  }
  if (pendingExpired) maybeCompleteJoin(c);

  // Session expiry.
  for (const memberId of [...g.members.keys()]) {
    const member = g.members.get(memberId);
    if (member === undefined || member.heartbeatDeadlineMs === null || member.heartbeatDeadlineMs > now) continue;
    const keptAlive = !member.isNew && (member.joinReplyTo !== null || member.syncReplyTo !== null);
    if (keptAlive) updateMember(g, memberId, { heartbeatDeadlineMs: null });
    else removeMemberAndUpdateGroup(c, memberId);
  }

  // End of the join phase (rebalance timeout or initial delay).
  if (g.phase === 'PreparingRebalance' && g.rebalanceDeadlineMs !== null && g.rebalanceDeadlineMs <= now) {
    const initial = g.initialDelay;
    if (initial !== null && g.newMemberAdded && initial.remainingMs > 0) {
      // Kafka's InitialDelayedJoin: members keep arriving, wait another delay (bounded by the rebalance timeout).
      g.newMemberAdded = false;
      const delayMs = Math.min(g.config.initialRebalanceDelayMs, initial.remainingMs);
      g.initialDelay = { delayMs, remainingMs: Math.max(initial.remainingMs - initial.delayMs, 0) };
      g.rebalanceDeadlineMs = now + delayMs;
    } else {
      completeJoin(c);
    }
  }

  // Members that never sent SyncGroup after the join phase.
  if ((g.phase === 'CompletingRebalance' || g.phase === 'Stable') && g.syncDeadlineMs !== null && g.syncDeadlineMs <= now) {
    g.syncDeadlineMs = null;
    if (g.pendingSyncMembers.size > 0) {
      for (const memberId of [...g.pendingSyncMembers]) {
        const member = g.members.get(memberId);
        if (member?.syncReplyTo) reply(c, member.syncReplyTo, syncReply(g, ErrorCode.UNKNOWN_MEMBER_ID, noBytes));
        removeMemberRaw(g, memberId);
      }
      if (g.members.size === 0) {
        // Nobody left: let the join phase complete into Empty.
        transition(c, 'PreparingRebalance');
        g.initialDelay = null;
        g.rebalanceDeadlineMs = now;
        maybeCompleteJoin(c);
      } else {
        prepareRebalance(c);
      }
    }
  }
}

function handleUnload(c: Ctx): void {
  const g = c.g;
  for (const member of [...g.members.values()]) {
    if (member.joinReplyTo !== null) reply(c, member.joinReplyTo, joinError(ErrorCode.NOT_COORDINATOR, member.memberId));
    if (member.syncReplyTo !== null) reply(c, member.syncReplyTo, syncReply(g, ErrorCode.NOT_COORDINATOR, noBytes));
    updateMember(g, member.memberId, { joinReplyTo: null, syncReplyTo: null, heartbeatDeadlineMs: null });
  }
  for (const pending of g.pendingPersists.values()) {
    if (pending.kind === 'OffsetCommit') {
      reply(c, pending.replyTo, {
        type: 'OffsetCommitReply',
        results: pending.results.map((r) => ({ topic: r.topic, partition: r.partition, errorCode: r.errorCode === ErrorCode.NONE ? ErrorCode.NOT_COORDINATOR : r.errorCode })),
      });
    } else if (pending.kind === 'TxnOffsetCommit') {
      txnReply(
        c,
        pending.replyTo,
        ErrorCode.NONE,
        pending.results.map((r) => ({ ...r, errorCode: r.errorCode === ErrorCode.NONE ? ErrorCode.NOT_COORDINATOR : r.errorCode })),
      );
    } else if (pending.kind === 'DeleteGroup') {
      reply(c, pending.replyTo, { type: 'DeleteGroupReply', groupId: g.groupId, errorCode: ErrorCode.NOT_COORDINATOR });
    } else if (pending.kind === 'OffsetDelete') {
      reply(c, pending.replyTo, { type: 'OffsetDeleteReply', errorCode: ErrorCode.NOT_COORDINATOR, results: [] });
    }
  }
  g.pendingPersists.clear();
  g.stagedTxnOffsets = noStagedTxnOffsets;
  g.pendingMembers.clear();
  g.pendingSyncMembers.clear();
  g.rebalanceDeadlineMs = null;
  g.initialDelay = null;
  g.syncDeadlineMs = null;
  transition(c, 'Dead');
}

// ---------------------------------------------------------------- loading

/**
 * Rebuilds a group from what `__consumer_offsets` holds for it (see
 * offsets-records.ts `loadGroups`): Stable with its members if the last
 * metadata record has members (each gets a fresh session from `nowMs`), Empty
 * otherwise; `stagedTxnOffsets` are the transactional offsets whose marker the
 * log does not hold yet. Parked requests and pending ids do not survive a failover; the
 * members find out through their next heartbeat or commit. A group over
 * groupSizeMax rebalances at once, as in Kafka.
 */
export function restoreGroup(
  groupId: string,
  metadata: GroupMetadataValue | null,
  offsets: ReadonlyMap<string, ReadonlyMap<number, CommittedOffset>>,
  nowMs: number,
  config: GroupConfig = groupConfigDefault,
  stagedTxnOffsets: StagedTxnOffsets = noStagedTxnOffsets,
): GroupState {
  const base = { ...emptyGroup(groupId, config), stagedTxnOffsets };
  if (metadata === null) return Object.freeze({ ...base, offsets });
  const members = new Map<string, GroupMember>();
  const staticMembers = new Map<string, string>();
  for (const m of metadata.members) {
    members.set(m.memberId, {
      memberId: m.memberId,
      groupInstanceId: m.groupInstanceId,
      clientId: m.clientId,
      clientHost: m.clientHost,
      sessionTimeoutMs: m.sessionTimeoutMs,
      rebalanceTimeoutMs: m.rebalanceTimeoutMs,
      protocols: metadata.protocol === null ? [] : [{ name: metadata.protocol, metadata: m.subscription }],
      assignment: m.assignment,
      joinReplyTo: null,
      syncReplyTo: null,
      isNew: false,
      heartbeatDeadlineMs: nowMs + m.sessionTimeoutMs,
    });
    if (m.groupInstanceId !== null) staticMembers.set(m.groupInstanceId, m.memberId);
  }
  const hasMembers = members.size > 0;
  const restored: GroupState = Object.freeze({
    ...base,
    phase: hasMembers ? 'Stable' : 'Empty',
    stateSinceMs: metadata.currentStateTimestampMs,
    generationId: metadata.generationId,
    protocolType: metadata.protocolType,
    protocolName: hasMembers ? metadata.protocol : null,
    leaderId: hasMembers ? metadata.leader : null,
    members,
    staticMembers,
    offsets,
  });
  checkInvariants(restored);
  if (members.size <= config.groupSizeMax) return restored;
  const c: Ctx = { g: draft(restored), fx: [], nowMs };
  prepareRebalance(c);
  return Object.freeze({ ...c.g }) as GroupState;
}
