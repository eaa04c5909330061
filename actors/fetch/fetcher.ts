/**
 * The follower fetcher: one per leader node, at `/fetchers/<leaderId>` on a
 * follower node, pulling every partition this node follows on that leader in
 * one long-poll Fetch at a time.
 *
 * Lifecycle of a partition here (KIP-101/279, then KIP-320):
 *   Truncating: ask the leader for the end offset of our latest leader epoch
 *   (OffsetForLeaderEpoch) and truncate our log to the divergence point, so a
 *   replica that was a leader and appended what never replicated drops it.
 *   Fetching: fetch from our log end offset with the epoch of our last batch;
 *   the leader answers records or a `divergingEpoch` (truncate again).
 * The fetcher is the only writer of a follower's log (registry.ts): before
 * every append it checks, in the same synchronous step, that the partition's
 * view still says follower of this leader in this epoch.
 *
 * Failures (leader node down, timeouts) back off with capped exponential
 * delay; the metadata will soon move the partition to a new leader, and the
 * broker actor removes it here and adds it to that leader's fetcher.
 * A fault hook (`Pause`/`Resume`) stops fetching, for tests of ISR shrink.
 *
 * Log start (DeleteRecords, Kafka's ReplicaFetcherThread): every fetch
 * carries our log start, and every answer the leader's; after appending, the
 * follower moves its own start up to the leader's (never past its own high
 * watermark, the log's rule), checkpointed by the log at once, and deletes
 * the segments wholly below it. So records deleted on the leader stay deleted
 * here when this replica leads later, and the leader's low watermark (the
 * smallest start over the replicas) can reach what a client asked.
 *
 * Replication throttle (follower side, Kafka's `shouldFollowerThrottle`):
 * bytes fetched for partitions this broker is adding and that are not in the
 * ISR yet (`view.followerThrottled`) are spent from one budget per broker,
 * shared by every fetcher (`registry.replicationQuotas.follower`, at
 * `follower.replication.throttled.rate`). While it is exhausted those
 * partitions are left out of the next fetch; the others are fetched as usual.
 * When every partition is left out, no fetch goes: a `Retry` is scheduled for
 * when the budget is back (bounded by replicationQuotaLimits), so a
 * throttled fetcher never spins.
 */
import { ErrorCode } from '../../protocol/errors.ts';
import type { Fetch, FetchReply, OffsetForLeaderEpoch, OffsetForLeaderEpochReply } from '../../protocol/apis/data.ts';
import type { Behaviour, ActorContext } from '../../runtime/node.ts';
import type { Ref } from '../../runtime/ref.ts';
import { describeType } from '../../runtime/protocol.ts';
import { partitionKey, type PartitionRegistry, type PartitionView } from '../partition/registry.ts';
import { traceRange, tracing } from '../../runtime/trace.ts';

export type FetcherMessage =
  | { type: 'AddPartition'; topic: string; partition: number; leaderEpoch: number }
  | { type: 'RemovePartition'; key: string }
  /** From a restarted broker adopting this fetcher: forget every partition; the broker adds back those it should pull. */
  | { type: 'RemoveAllPartitions' }
  | { type: 'Pause' }
  | { type: 'Resume' }
  | FetcherInternal;

type FetcherInternal =
  | { type: 'FetchAnswered'; reply: FetchReply; sentKeys: string[] }
  | { type: 'TruncationAnswered'; reply: OffsetForLeaderEpochReply }
  | { type: 'RequestFailed'; errorCode: number; reason: string }
  | { type: 'Retry' };

type Followed = { topic: string; partition: number; key: string; leaderEpoch: number; phase: 'Truncating' | 'Fetching' };

type FetcherState = {
  partitions: Map<string, Followed>;
  inFlight: boolean;
  paused: boolean;
  retryScheduled: boolean;
  backoffMs: number;
};

export type FetcherDeps = {
  brokerId: number;
  leaderId: number;
  /** The leader node's fetch server. */
  leaderFetchServer: Ref<unknown>;
  registry: PartitionRegistry;
  replicaFetchWaitMaxMs: number;
  replicaFetchMaxBytes: number;
  replicaFetchResponseMaxBytes: number;
  /** The broker actor: told `FetcherRestarted` on every start, it re-sends the partitions this fetcher pulls. */
  broker?: Ref<unknown>;
};

/**
 * Where a follower truncates once the leader told it `leader`: the largest
 * epoch the leader has at or below the follower's latest, and where that
 * epoch ends in the leader's log (Kafka's getOffsetTruncationState). The
 * follower's own end of that epoch bounds it too: a follower that led a
 * later epoch the leader never had holds records of it from that end on,
 * at offsets where the leader has other records, and must drop them even
 * when the leader's epoch ends past our log end. When the follower does not
 * know the leader's epoch, it truncates to the end of its own largest epoch
 * below it and asks again (`complete` false).
 */
export function followerTruncation(
  log: { logEndOffset: number; endOffsetForEpoch(epoch: number): { leaderEpoch: number; endOffset: number } },
  leader: { leaderEpoch: number; endOffset: number },
): { offset: number; complete: boolean } {
  const logEnd = log.logEndOffset;
  if (leader.leaderEpoch < 0) return { offset: Math.min(leader.endOffset, logEnd), complete: true };
  const local = log.endOffsetForEpoch(leader.leaderEpoch);
  if (local.leaderEpoch < 0 || local.endOffset < 0) return { offset: Math.min(leader.endOffset, logEnd), complete: true };
  if (local.leaderEpoch !== leader.leaderEpoch) return { offset: Math.min(local.endOffset, logEnd), complete: false };
  return { offset: Math.min(local.endOffset, leader.endOffset, logEnd), complete: true };
}

export const fetcherBackoffMsMin = 50;
export const fetcherBackoffMsMax = 1_000;

export function fetcherBehaviour(deps: FetcherDeps): Behaviour<FetcherState, FetcherMessage> {
  const { registry } = deps;
  const followerQuota = registry.replicationQuotas.follower;

  /** The view, if this fetcher may still write the partition. */
  const writable = (followed: Followed): PartitionView | undefined => {
    const view = registry.getByKey(followed.key);
    if (view === undefined || view.role !== 'follower' || view.leaderId !== deps.leaderId || view.leaderEpoch !== followed.leaderEpoch) return undefined;
    return view;
  };

  const send = (state: FetcherState, ctx: ActorContext<FetcherMessage>): FetcherState => {
    if (state.inFlight || state.paused || state.retryScheduled || state.partitions.size === 0) return state;
    // Only partitions we may still write: one whose role or epoch moved on (its new AddPartition or
    // RemovePartition is on its way) must not hold the others back, nor be asked about in a loop.
    const truncating = [...state.partitions.values()].flatMap((p) => {
      const view = p.phase === 'Truncating' ? writable(p) : undefined;
      return view === undefined ? [] : [{ topic: p.topic, partition: p.partition, leaderEpoch: view.log.leaderEpochCache.latestEpoch() }];
    });
    const timeoutMs = deps.replicaFetchWaitMaxMs + 5_000;
    if (truncating.length > 0) {
      ctx.node
        .ask<OffsetForLeaderEpoch, OffsetForLeaderEpochReply>(deps.leaderFetchServer as Ref<OffsetForLeaderEpoch>, (replyTo) => ({ type: 'OffsetForLeaderEpoch', partitions: truncating, replyTo }), { timeoutMs })
        .then(
          (reply) => ctx.node.tell(ctx.self, { type: 'TruncationAnswered', reply }),
          (err: { code?: number; message?: string }) => ctx.node.tell(ctx.self, { type: 'RequestFailed', errorCode: err.code ?? ErrorCode.UNKNOWN_SERVER_ERROR, reason: err.message ?? String(err) }),
        );
      return { ...state, inFlight: true };
    }
    const sentKeys: string[] = [];
    const partitions: Fetch['partitions'] = [];
    const nowMs = registry.clock.monotonicMs();
    const overQuota = followerQuota.isExceeded(nowMs);
    let heldBack = false;
    for (const p of state.partitions.values()) {
      const view = writable(p);
      if (view === undefined) continue;
      if (overQuota && view.followerThrottled) {
        heldBack = true;
        continue;
      }
      sentKeys.push(p.key);
      if (tracing) {
        traceRange('follower.next_fetch_sent', p.key, lastFetchOffsetSent.get(p.key) ?? view.log.logEndOffset, view.log.logEndOffset - 1);
        lastFetchOffsetSent.set(p.key, view.log.logEndOffset);
      }
      partitions.push({
        topic: p.topic,
        partition: p.partition,
        fetchOffset: view.log.logEndOffset,
        partitionMaxBytes: deps.replicaFetchMaxBytes,
        currentLeaderEpoch: p.leaderEpoch,
        lastFetchedEpoch: view.log.leaderEpochCache.latestEpoch(),
        logStartOffset: view.log.logStartOffset,
      });
    }
    if (partitions.length === 0) {
      if (!heldBack) return state;
      // Only throttled partitions, and no budget: look again when there is some.
      ctx.scheduleOnce(followerQuota.waitMs(nowMs), { type: 'Retry' });
      return { ...state, retryScheduled: true };
    }
    ctx.node
      .ask<Fetch, FetchReply>(
        deps.leaderFetchServer as Ref<Fetch>,
        (replyTo) => ({ type: 'Fetch', replicaId: deps.brokerId, maxWaitMs: deps.replicaFetchWaitMaxMs, minBytes: 1, maxBytes: deps.replicaFetchResponseMaxBytes, isolationLevel: 0, partitions, replyTo }),
        { timeoutMs },
      )
      .then(
        (reply) => ctx.node.tell(ctx.self, { type: 'FetchAnswered', reply, sentKeys }),
        (err: { code?: number; message?: string }) => ctx.node.tell(ctx.self, { type: 'RequestFailed', errorCode: err.code ?? ErrorCode.UNKNOWN_SERVER_ERROR, reason: err.message ?? String(err) }),
      );
    return { ...state, inFlight: true };
  };

  /** Tracing only (runtime/trace.ts): the fetch offset last sent per partition, so a fetch knows which offsets it is the first to confirm. */
  const lastFetchOffsetSent = new Map<string, number>();

  const backOff = (state: FetcherState, ctx: ActorContext<FetcherMessage>): FetcherState => {
    if (state.retryScheduled) return state;
    ctx.scheduleOnce(state.backoffMs, { type: 'Retry' });
    return { ...state, retryScheduled: true, backoffMs: Math.min(fetcherBackoffMsMax, state.backoffMs * 2) };
  };

  return {
    init: (ctx) => {
      // After a supervision restart the partitions are gone from our state: the broker knows them.
      if (deps.broker !== undefined) ctx.node.tell(deps.broker, { type: 'FetcherRestarted', leaderId: deps.leaderId });
      return { partitions: new Map(), inFlight: false, paused: false, retryScheduled: false, backoffMs: fetcherBackoffMsMin };
    },
    receive: (state, msg, ctx) => {
      switch (msg.type) {
        case 'AddPartition': {
          const key = partitionKey(msg.topic, msg.partition);
          const partitions = new Map(state.partitions);
          partitions.set(key, { topic: msg.topic, partition: msg.partition, key, leaderEpoch: msg.leaderEpoch, phase: 'Truncating' });
          return send({ ...state, partitions }, ctx);
        }
        case 'RemovePartition': {
          if (!state.partitions.has(msg.key)) return state;
          const partitions = new Map(state.partitions);
          partitions.delete(msg.key);
          return { ...state, partitions };
        }
        case 'RemoveAllPartitions':
          return state.partitions.size === 0 ? state : { ...state, partitions: new Map() };
        case 'Pause':
          ctx.log.warn({ leaderId: deps.leaderId }, 'fetcher.paused');
          return { ...state, paused: true };
        case 'Resume':
          ctx.log.info({ leaderId: deps.leaderId }, 'fetcher.resumed');
          return send({ ...state, paused: false }, ctx);
        case 'Retry':
          return send({ ...state, retryScheduled: false }, ctx);
        case 'RequestFailed':
          ctx.log.debug({ leaderId: deps.leaderId, errorCode: msg.errorCode, reason: msg.reason }, 'fetcher.request_failed');
          return backOff({ ...state, inFlight: false }, ctx);

        case 'TruncationAnswered': {
          const partitions = new Map(state.partitions);
          let failed = false;
          for (const answer of msg.reply.partitions) {
            const key = partitionKey(answer.topic, answer.partition);
            const followed = partitions.get(key);
            if (followed === undefined) continue;
            const view = writable(followed);
            if (view === undefined) continue;
            if (answer.errorCode !== ErrorCode.NONE) {
              failed = true;
              continue;
            }
            const before = view.log.logEndOffset;
            if (answer.endOffset < 0) {
              // The leader knows no end for our epoch: the divergence check of the first fetch decides.
              partitions.set(key, { ...followed, phase: 'Fetching' });
              continue;
            }
            const target = followerTruncation(view.log, answer);
            view.log.truncateTo(target.offset);
            if (view.log.logEndOffset !== before) {
              ctx.log.info({ partition: key, from: before, to: view.log.logEndOffset, leaderEpoch: answer.leaderEpoch, complete: target.complete }, 'fetcher.truncated');
            }
            // Incomplete: we did not know the leader's epoch; ask again with our new latest epoch.
            if (target.complete) partitions.set(key, { ...followed, phase: 'Fetching' });
          }
          const next = { ...state, partitions, inFlight: false };
          return failed ? backOff(next, ctx) : send(next, ctx);
        }

        case 'FetchAnswered': {
          let failed = false;
          let progressed = false;
          for (const answer of msg.reply.partitions) {
            const key = partitionKey(answer.topic, answer.partition);
            const followed = state.partitions.get(key);
            if (followed === undefined || !msg.sentKeys.includes(key)) continue;
            const view = writable(followed);
            if (view === undefined) continue;
            const log = view.log;
            if (answer.errorCode === ErrorCode.OFFSET_OUT_OF_RANGE) {
              // Behind the leader's log start: start over there. Ahead of its end: truncate to its high watermark.
              if (log.logEndOffset < answer.logStartOffset) log.truncateFullyAndStartAt(answer.logStartOffset);
              else if (answer.highWatermark >= 0) log.truncateTo(answer.highWatermark);
              continue;
            }
            if (answer.errorCode !== ErrorCode.NONE) {
              failed = true;
              continue;
            }
            if (answer.divergingEpoch !== null) {
              const before = log.logEndOffset;
              if (answer.divergingEpoch.endOffset < 0) {
                // The leader knows no end for our epoch (Kafka's fallback): keep what is committed, fetch again after a backoff.
                log.truncateTo(Math.max(log.logStartOffset, Math.min(log.highWatermark, before)));
                ctx.log.warn({ partition: key, from: before, to: log.logEndOffset }, 'fetcher.truncated_to_high_watermark');
                failed = true;
                continue;
              }
              const epochBefore = log.leaderEpochCache.latestEpoch();
              const target = followerTruncation(log, { leaderEpoch: answer.divergingEpoch.epoch, endOffset: answer.divergingEpoch.endOffset });
              log.truncateTo(target.offset);
              if (log.logEndOffset === before && log.leaderEpochCache.latestEpoch() === epochBefore) {
                // Nothing changed, so the next fetch would diverge the same way: back off instead of spinning.
                ctx.log.warn({ partition: key, logEndOffset: before, lastFetchedEpoch: epochBefore, divergingEpoch: answer.divergingEpoch }, 'fetcher.divergence_not_resolved');
                failed = true;
                continue;
              }
              ctx.log.info({ partition: key, from: before, to: log.logEndOffset, leaderEpoch: answer.divergingEpoch.epoch }, 'fetcher.truncated_on_divergence');
              progressed = true;
              continue;
            }
            if (answer.records !== null && answer.records.length > 0) {
              const records = Buffer.from(answer.records.buffer, answer.records.byteOffset, answer.records.byteLength);
              const endBefore = log.logEndOffset;
              log.appendAsFollower(records);
              if (tracing) traceRange('follower.appended', key, endBefore, log.logEndOffset - 1);
              progressed = true;
              if (view.followerThrottled) followerQuota.record(records.length, registry.clock.monotonicMs());
            }
            log.setHighWatermark(Math.min(answer.highWatermark, log.logEndOffset));
            const leaderStart = Math.min(answer.logStartOffset, log.highWatermark);
            if (leaderStart > log.logStartOffset) {
              const before = log.logStartOffset;
              log.advanceLogStartOffset(leaderStart);
              log.enforceRetention();
              ctx.log.info({ partition: key, from: before, to: log.logStartOffset }, 'fetcher.log_start_advanced');
            }
          }
          const next = { ...state, inFlight: false, backoffMs: failed || !progressed ? state.backoffMs : fetcherBackoffMsMin };
          return failed ? backOff(next, ctx) : send(next, ctx);
        }

        default:
          // Local only (no `accepts`): an unknown message is a bug elsewhere; log it without reading into it, keep fetching.
          ctx.log.warn({ type: describeType(msg) }, 'fetcher.unknown_message');
          return state;
      }
    },
  };
}
