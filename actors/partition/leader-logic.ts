/**
 * The partition leader's replication logic, pure: follower positions, the ISR,
 * the high watermark, and the purgatory of acks=all produce requests.
 *
 * Inputs are data (an append that happened, a follower's fetch, a tick, an
 * ISR change committed by the controller) and time comes in as `nowMs`; the
 * outputs are the new state and effects the actor carries out (replies, an
 * AlterPartition to the controller, a high-watermark checkpoint). No I/O.
 *
 * Rules (Kafka's Partition.scala, KIP-497):
 * - The high watermark is the minimum log end offset over the ISR, the
 *   leader's own included. It never moves backwards. A follower whose
 *   position this leader has not seen yet (no fetch in this leader epoch)
 *   holds it where it is.
 * - While an ISR expansion is in flight the leader counts the follower as in
 *   the ISR for the high watermark (the "maximal ISR"), so a commit never
 *   depends on an ISR the controller has not accepted; a shrink counts only
 *   once committed. One AlterPartition is in flight at a time.
 * - A follower is caught up when a fetch asks for the leader's log end offset
 *   (as it was at that fetch or the previous one). A follower not caught up
 *   for lagTimeMaxMs leaves the ISR; one whose position reaches the high
 *   watermark rejoins.
 * - acks=all: refused with NOT_ENOUGH_REPLICAS before the append when the ISR
 *   is smaller than min.insync.replicas; parked until the high watermark
 *   passes the batch; answered NOT_ENOUGH_REPLICAS_AFTER_APPEND if the ISR
 *   shrank below the minimum meanwhile, REQUEST_TIMED_OUT at its deadline.
 *   The purgatory is ordered by offset: appends are, so completing is a scan
 *   from the front.
 */
import { ErrorCode } from '../../protocol/errors.ts';
import { assert } from '../../runtime/assert.ts';

export type FollowerPosition = {
  /** -1 until the follower fetched in this leader epoch. */
  logEndOffset: number;
  lastCaughtUpTimeMs: number;
  /** The leader's log end offset when this follower last fetched. */
  lastFetchLeaderLogEndOffset: number;
  lastFetchTimeMs: number;
};

export type ParkedProduce = {
  /** The high watermark must reach this (last offset + 1). */
  requiredOffset: number;
  baseOffset: number;
  logAppendTimeMs: number;
  deadlineMs: number;
  replyTo: { node: string; path: string };
  topic: string;
  partition: number;
};

export type LeaderState = {
  readonly brokerId: number;
  readonly topic: string;
  readonly partition: number;
  readonly leaderEpoch: number;
  readonly partitionEpoch: number;
  readonly replicas: readonly number[];
  /** The ISR as committed by the controller. */
  readonly isr: readonly number[];
  /** An AlterPartition in flight, if any. */
  readonly pendingIsr: readonly number[] | null;
  readonly minInsyncReplicas: number;
  readonly lagTimeMaxMs: number;
  readonly logEndOffset: number;
  readonly logStartOffset: number;
  readonly highWatermark: number;
  readonly followers: ReadonlyMap<number, FollowerPosition>;
  readonly parked: readonly ParkedProduce[];
};

export type ProduceReplyData = {
  type: 'ProduceReply';
  topic: string;
  partition: number;
  errorCode: number;
  errorMessage: string | null;
  baseOffset: number;
  logAppendTimeMs: number;
  logStartOffset: number;
};

export type LeaderEffect =
  | { type: 'Reply'; to: { node: string; path: string }; reply: ProduceReplyData }
  | { type: 'AlterPartition'; isr: number[]; leaderEpoch: number; partitionEpoch: number }
  | { type: 'HighWatermarkAdvanced'; highWatermark: number };

export type BecomeLeaderInput = {
  brokerId: number;
  topic: string;
  partition: number;
  leaderEpoch: number;
  partitionEpoch: number;
  replicas: readonly number[];
  isr: readonly number[];
  minInsyncReplicas: number;
  lagTimeMaxMs: number;
  logEndOffset: number;
  logStartOffset: number;
  /** The checkpointed (or follower-time) high watermark. */
  highWatermark: number;
  nowMs: number;
};

export function becomeLeader(input: BecomeLeaderInput): LeaderState {
  assert(input.isr.includes(input.brokerId), 'a leader is in its own ISR');
  const followers = new Map<number, FollowerPosition>();
  for (const replica of input.replicas) {
    if (replica === input.brokerId) continue;
    // A new leader gives every follower a fresh lag window (Kafka resets lastCaughtUpTime too).
    followers.set(replica, { logEndOffset: -1, lastCaughtUpTimeMs: input.nowMs, lastFetchLeaderLogEndOffset: -1, lastFetchTimeMs: input.nowMs });
  }
  return {
    brokerId: input.brokerId,
    topic: input.topic,
    partition: input.partition,
    leaderEpoch: input.leaderEpoch,
    partitionEpoch: input.partitionEpoch,
    replicas: input.replicas,
    isr: input.isr,
    pendingIsr: null,
    minInsyncReplicas: input.minInsyncReplicas,
    lagTimeMaxMs: input.lagTimeMaxMs,
    logEndOffset: input.logEndOffset,
    logStartOffset: input.logStartOffset,
    highWatermark: Math.min(input.highWatermark, input.logEndOffset),
    followers,
    parked: [],
  };
}

/** Error code for a produce before it is appended (0 = go ahead). */
export function checkProduce(state: LeaderState, acks: number): number {
  if (acks === -1 && state.isr.length < state.minInsyncReplicas) return ErrorCode.NOT_ENOUGH_REPLICAS;
  return ErrorCode.NONE;
}

/** The set the high watermark is computed over: the committed ISR, plus members of an expansion in flight. */
function maximalIsr(state: LeaderState): readonly number[] {
  if (state.pendingIsr === null) return state.isr;
  const union = new Set([...state.isr, ...state.pendingIsr]);
  return [...union];
}

function computeHighWatermark(state: LeaderState): number {
  let candidate = state.logEndOffset;
  for (const member of maximalIsr(state)) {
    if (member === state.brokerId) continue;
    const position = state.followers.get(member);
    if (position === undefined || position.logEndOffset < 0) return state.highWatermark;
    candidate = Math.min(candidate, position.logEndOffset);
  }
  return Math.max(state.highWatermark, candidate);
}

function replyFor(parked: ParkedProduce, errorCode: number, logStartOffset: number): LeaderEffect {
  return {
    type: 'Reply',
    to: parked.replyTo,
    reply: {
      type: 'ProduceReply',
      topic: parked.topic,
      partition: parked.partition,
      errorCode,
      errorMessage: null,
      baseOffset: errorCode === ErrorCode.NONE || errorCode === ErrorCode.NOT_ENOUGH_REPLICAS_AFTER_APPEND ? parked.baseOffset : -1,
      logAppendTimeMs: parked.logAppendTimeMs,
      logStartOffset,
    },
  };
}

/** Moves the high watermark and completes what it passed. */
function advance(state: LeaderState, effects: LeaderEffect[]): LeaderState {
  const highWatermark = computeHighWatermark(state);
  let next = state;
  if (highWatermark > state.highWatermark) {
    next = { ...state, highWatermark };
    effects.push({ type: 'HighWatermarkAdvanced', highWatermark });
  }
  if (next.parked.length === 0 || next.parked[0]!.requiredOffset > next.highWatermark) return next;
  let done = 0;
  const underMinIsr = next.isr.length < next.minInsyncReplicas;
  while (done < next.parked.length && next.parked[done]!.requiredOffset <= next.highWatermark) {
    const parked = next.parked[done]!;
    effects.push(replyFor(parked, underMinIsr ? ErrorCode.NOT_ENOUGH_REPLICAS_AFTER_APPEND : ErrorCode.NONE, next.logStartOffset));
    done += 1;
  }
  return { ...next, parked: next.parked.slice(done) };
}

export type AppendedInput = {
  baseOffset: number;
  lastOffset: number;
  logAppendTimeMs: number;
  logEndOffset: number;
  acks: number;
  deadlineMs: number;
  replyTo: { node: string; path: string };
};

/** After the actor appended a batch: acks=1 answers now, acks=all parks, acks=0 answers nothing. */
export function onAppended(state: LeaderState, input: AppendedInput): [LeaderState, LeaderEffect[]] {
  assert(input.logEndOffset >= state.logEndOffset, 'the log end offset never moves back on a leader');
  assert(input.lastOffset < input.logEndOffset, 'the appended batch is below the log end offset');
  const effects: LeaderEffect[] = [];
  let next: LeaderState = { ...state, logEndOffset: input.logEndOffset };
  const parked: ParkedProduce = {
    requiredOffset: input.lastOffset + 1,
    baseOffset: input.baseOffset,
    logAppendTimeMs: input.logAppendTimeMs,
    deadlineMs: input.deadlineMs,
    replyTo: input.replyTo,
    topic: state.topic,
    partition: state.partition,
  };
  if (input.acks === 1) effects.push(replyFor(parked, ErrorCode.NONE, next.logStartOffset));
  if (input.acks === -1) next = { ...next, parked: [...next.parked, parked] };
  return [advance(next, effects), effects];
}

/**
 * A follower fetched from `fetchOffset`: it has everything before it.
 * `isrEligible`: the follower is registered and not fenced in this broker's
 * metadata (KIP-841: the controller refuses such an ISR member with
 * INELIGIBLE_REPLICA, so asking would only be refused again on every fetch).
 */
export function onFollowerFetch(state: LeaderState, replicaId: number, fetchOffset: number, nowMs: number, isrEligible = true): [LeaderState, LeaderEffect[]] {
  const previous = state.followers.get(replicaId);
  if (previous === undefined) return [state, []]; // not a replica of this partition
  const caughtUpNow = fetchOffset >= state.logEndOffset;
  const caughtUpAtLastFetch = previous.lastFetchLeaderLogEndOffset >= 0 && fetchOffset >= previous.lastFetchLeaderLogEndOffset;
  const position: FollowerPosition = {
    logEndOffset: Math.min(fetchOffset, state.logEndOffset),
    lastCaughtUpTimeMs: caughtUpNow ? nowMs : caughtUpAtLastFetch ? Math.max(previous.lastCaughtUpTimeMs, previous.lastFetchTimeMs) : previous.lastCaughtUpTimeMs,
    lastFetchLeaderLogEndOffset: state.logEndOffset,
    lastFetchTimeMs: nowMs,
  };
  const followers = new Map(state.followers);
  followers.set(replicaId, position);
  const effects: LeaderEffect[] = [];
  let next = advance({ ...state, followers }, effects);
  if (isrEligible) next = maybeExpandIsr(next, replicaId, effects);
  return [next, effects];
}

function maybeExpandIsr(state: LeaderState, replicaId: number, effects: LeaderEffect[]): LeaderState {
  if (state.pendingIsr !== null || state.isr.includes(replicaId)) return state;
  const position = state.followers.get(replicaId);
  if (position === undefined || position.logEndOffset < state.highWatermark) return state;
  const isr = [...state.isr, replicaId].sort((a, b) => state.replicas.indexOf(a) - state.replicas.indexOf(b));
  effects.push({ type: 'AlterPartition', isr, leaderEpoch: state.leaderEpoch, partitionEpoch: state.partitionEpoch });
  return { ...state, pendingIsr: isr };
}

/** Periodic: shrink the ISR of laggards, time out parked produce requests. */
export function onTick(state: LeaderState, nowMs: number): [LeaderState, LeaderEffect[]] {
  const effects: LeaderEffect[] = [];
  let next = state;
  if (state.pendingIsr === null) {
    const laggards = state.isr.filter((member) => {
      if (member === state.brokerId) return false;
      const position = state.followers.get(member);
      return position !== undefined && nowMs - position.lastCaughtUpTimeMs > state.lagTimeMaxMs;
    });
    if (laggards.length > 0) {
      const isr = state.isr.filter((member) => !laggards.includes(member));
      effects.push({ type: 'AlterPartition', isr, leaderEpoch: state.leaderEpoch, partitionEpoch: state.partitionEpoch });
      next = { ...next, pendingIsr: isr };
    }
  }
  if (next.parked.some((p) => p.deadlineMs <= nowMs)) {
    const expired = next.parked.filter((p) => p.deadlineMs <= nowMs);
    for (const parked of expired) effects.push(replyFor(parked, ErrorCode.REQUEST_TIMED_OUT, next.logStartOffset));
    next = { ...next, parked: next.parked.filter((p) => p.deadlineMs > nowMs) };
  }
  return [next, effects];
}

/**
 * The controller committed a partition change (ours or another's) in the same
 * leader epoch: a new ISR, and during a reassignment a new replica list. A
 * replica being added gets a fresh position (-1: not fetched yet) and lag
 * window; a removed one is forgotten (it is no longer in the ISR either, so
 * the high watermark never waits for it).
 */
export function onPartitionChanged(state: LeaderState, isr: readonly number[], partitionEpoch: number, replicas: readonly number[] = state.replicas, nowMs = 0): [LeaderState, LeaderEffect[]] {
  const effects: LeaderEffect[] = [];
  let followers = state.followers;
  if (replicas !== state.replicas && !(replicas.length === state.replicas.length && replicas.every((id, i) => id === state.replicas[i]))) {
    const next = new Map<number, FollowerPosition>();
    for (const replica of replicas) {
      if (replica === state.brokerId) continue;
      next.set(replica, state.followers.get(replica) ?? { logEndOffset: -1, lastCaughtUpTimeMs: nowMs, lastFetchLeaderLogEndOffset: -1, lastFetchTimeMs: nowMs });
    }
    followers = next;
  }
  const next = advance({ ...state, replicas, followers, isr, partitionEpoch, pendingIsr: null }, effects);
  return [next, effects];
}

/** Our AlterPartition was refused or lost: forget it; the next tick or fetch tries again. */
export function onAlterPartitionFailed(state: LeaderState): LeaderState {
  return { ...state, pendingIsr: null };
}

/**
 * min.insync.replicas or replica.lag.time.max.ms changed (a config altered at run time). Neither moves the high
 * watermark (the ISR alone does); the next produce is checked against the new minimum and the next tick
 * measures lag with the new bound.
 */
export function onLeaderConfig(state: LeaderState, minInsyncReplicas: number, lagTimeMaxMs: number): LeaderState {
  if (state.minInsyncReplicas === minInsyncReplicas && state.lagTimeMaxMs === lagTimeMaxMs) return state;
  return { ...state, minInsyncReplicas, lagTimeMaxMs };
}

export function onLogStartOffset(state: LeaderState, logStartOffset: number): LeaderState {
  return { ...state, logStartOffset };
}

/** Leadership lost: every parked request learns it. */
export function resign(state: LeaderState): LeaderEffect[] {
  return state.parked.map((parked) => replyFor(parked, ErrorCode.NOT_LEADER_OR_FOLLOWER, state.logStartOffset));
}
