/**
 * The fetch server, one per broker node at `/fetch`: the read path for
 * consumers and followers (Fetch), ListOffsets and OffsetForLeaderEpoch.
 *
 * Reads go straight to the partition logs through the registry (see
 * registry.ts for why and for the single-writer discipline); answers carry
 * the log's raw batch bytes, never decoded records. Consumers read up to the
 * high watermark, followers up to the log end offset. A follower's fetch
 * offset is its log end offset: it is reported to the leader's replica
 * actor, which moves the high watermark.
 *
 * Long poll: a fetch that finds fewer than minBytes waits (parked) until a
 * partition it asks for advances (`PartitionAdvanced` from the replica actor)
 * or maxWaitMs passes, then answers with whatever is there. Parked fetches
 * are bounded (parkedFetchesMax); past it a fetch is answered at once.
 *
 * Divergence (KIP-320): a follower sends the epoch of its last fetched batch;
 * if the leader's log has that epoch ending before the follower's fetch
 * offset, or does not have it, the answer carries `divergingEpoch` and no
 * records, and the follower truncates.
 *
 * Replication throttle (leader side, Kafka's `shouldLeaderThrottle`): bytes
 * served to followers a reassignment is adding that are not in the ISR yet
 * (`view.leaderThrottledReplicas`), across all partitions of this broker,
 * are spent from one budget (`registry.replicationQuotas.leader`, at
 * `leader.replication.throttled.rate`). While it is exhausted those
 * partitions answer with no records and no error (the follower asks again);
 * the other partitions of the same fetch are read as usual, and ISR
 * followers and consumers are never throttled. A follower fetch that comes
 * back empty only because of the throttle parks as any empty fetch does, but
 * no longer than until the budget is back, so the move neither spins nor
 * waits a whole maxWaitMs for tokens that are already there.
 */
import { ErrorCode, KactusError } from '../../protocol/errors.ts';
import {
  earliestTimestamp,
  latestTimestamp,
  validateFetch,
  validateListOffsets,
  validateOffsetForLeaderEpoch,
  type Fetch,
  type FetchPartitionReply,
  type FetchReply,
  type ListOffsetsReply,
  type OffsetForLeaderEpochReply,
} from '../../protocol/apis/data.ts';
import { isInvalid } from '../../protocol/validate.ts';
import type { Behaviour, ActorContext } from '../../runtime/node.ts';
import type { Ref } from '../../runtime/ref.ts';
import { describeType, type RemoteProtocol } from '../../runtime/protocol.ts';
import { partitionKey, type PartitionRegistry, type PartitionView } from '../partition/registry.ts';
import { abortedBetween, lastStableOffset } from '../partition/txn-index.ts';
import { traceRange, tracing } from '../../runtime/trace.ts';
import type { BrokerMetrics } from '../metrics/broker-metrics.ts';

export const fetchServerLimits = {
  /** Fetches waiting for data at once; past it a fetch is answered immediately. */
  parkedFetchesMax: 10_000,
} as const;

export type FetchServerMessage =
  | { type: 'Fetch' }
  | { type: 'ListOffsets' }
  | { type: 'OffsetForLeaderEpoch' }
  | { type: 'PartitionAdvanced'; key: string }
  | { type: 'FetchExpired'; fetchId: number };

type Parked = { fetchId: number; request: Fetch; keys: string[]; cancelTimer: () => void };

type FetchServerState = {
  nextFetchId: number;
  parked: Map<number, Parked>;
  /** Partition key -> ids of parked fetches that wait on it. */
  waitingOn: Map<string, Set<number>>;
};

export type FetchServerDeps = {
  registry: PartitionRegistry;
  /** Where follower positions go: the replica actor of a partition. */
  replicaRef: (key: string) => Ref<unknown>;
  /** The broker's metrics: bytes out per topic and fetch errors, counted per answer (absent: not counted). */
  metrics?: BrokerMetrics;
};

function partitionError(topic: string, partition: number, errorCode: number): FetchPartitionReply {
  return { topic, partition, errorCode, highWatermark: -1, lastStableOffset: -1, logStartOffset: -1, records: null, divergingEpoch: null };
}

/** Checks that this node leads the partition in the epoch the requester expects. */
function leaderCheck(view: PartitionView | undefined, currentLeaderEpoch: number): number {
  if (view === undefined || view.role !== 'leader') return ErrorCode.NOT_LEADER_OR_FOLLOWER;
  if (view.log.isOffline) return ErrorCode.KAFKA_STORAGE_ERROR;
  if (currentLeaderEpoch >= 0 && currentLeaderEpoch < view.leaderEpoch) return ErrorCode.FENCED_LEADER_EPOCH;
  if (currentLeaderEpoch > view.leaderEpoch) return ErrorCode.UNKNOWN_LEADER_EPOCH;
  return ErrorCode.NONE;
}

/**
 * What the network may send `/fetch` (runtime/protocol.ts). A Fetch with replicaId >= 0 is a
 * follower's: it moves that follower's position, the ISR and the high watermark, so only broker N's
 * own authenticated link may send it for replicaId N. Consumers (replicaId < 0) may come from anyone.
 * PartitionAdvanced and FetchExpired are this node's own.
 */
export const fetchServerProtocol: RemoteProtocol = {
  client: {
    Fetch: (message, origin) => {
      const replicaId = message.replicaId;
      if (typeof replicaId !== 'number' || !Number.isInteger(replicaId)) return 'Fetch needs an integer replicaId';
      if (replicaId < 0) return null;
      return origin.kind === 'peer' && origin.nodeId === String(replicaId) ? null : `a follower fetch for replica ${replicaId} comes only from broker ${replicaId}'s own link`;
    },
    ListOffsets: true,
    OffsetForLeaderEpoch: true,
  },
};

export function fetchServerBehaviour(deps: FetchServerDeps): Behaviour<FetchServerState, FetchServerMessage> {
  const { registry } = deps;

  const leaderQuota = registry.replicationQuotas.leader;

  /**
   * Reads every partition of a fetch; returns the reply, how many record bytes it holds, and whether
   * the leader throttle held back a partition that had records to send.
   */
  const readFetch = (request: Fetch, reportPositions: boolean, ctx: ActorContext<FetchServerMessage>): { reply: FetchReply; bytes: number; anyError: boolean; throttled: boolean } => {
    const isFollower = request.replicaId >= 0;
    const nowMs = registry.clock.monotonicMs();
    let throttled = false;
    // What the link to the asker can still take (a client that does not read has little or none):
    // read no more than that, so a non-reading client cannot make the broker read and pack replies
    // that could only be dropped (issue #15: 8 such clients took the broker to 3.8 GB).
    const sendBudgetBytes = ctx.node.sendBudgetBytes(request.replyTo.node);
    if (sendBudgetBytes <= 0) {
      return { reply: { type: 'FetchReply', errorCode: ErrorCode.THROTTLING_QUOTA_EXCEEDED, errorMessage: 'the replies already queued for this connection are not read', partitions: [] }, bytes: 0, anyError: true, throttled: false };
    }
    let remainingBytes = Math.min(request.maxBytes, sendBudgetBytes);
    let bytes = 0;
    let anyError = false;
    const partitions: FetchPartitionReply[] = [];
    for (const p of request.partitions) {
      const view = registry.get(p.topic, p.partition);
      const errorCode = leaderCheck(view, p.currentLeaderEpoch);
      if (errorCode !== ErrorCode.NONE || view === undefined) {
        anyError = true;
        partitions.push(partitionError(p.topic, p.partition, errorCode));
        continue;
      }
      const log = view.log;
      if (isFollower && p.lastFetchedEpoch >= 0) {
        const end = log.endOffsetForEpoch(p.lastFetchedEpoch);
        if (end.leaderEpoch !== p.lastFetchedEpoch || end.endOffset < p.fetchOffset) {
          anyError = true;
          partitions.push({ topic: p.topic, partition: p.partition, errorCode: ErrorCode.NONE, highWatermark: log.highWatermark, lastStableOffset: log.highWatermark, logStartOffset: log.logStartOffset, records: null, divergingEpoch: { epoch: end.leaderEpoch, endOffset: end.endOffset } });
          continue;
        }
      }
      const highWatermark = log.highWatermark;
      const stableOffset = lastStableOffset(view.txns, highWatermark);
      const readCommitted = !isFollower && request.isolationLevel === 1;
      const maxOffset = isFollower ? log.logEndOffset : readCommitted ? stableOffset : highWatermark;
      if (p.fetchOffset < log.logStartOffset || p.fetchOffset > log.logEndOffset) {
        anyError = true;
        partitions.push({ ...partitionError(p.topic, p.partition, ErrorCode.OFFSET_OUT_OF_RANGE), highWatermark, logStartOffset: log.logStartOffset });
        continue;
      }
      // Only now is fetchOffset a position in our log: a diverging or out-of-range follower holds other
      // records there, and counting them would move the high watermark or the ISR over data it lacks (Kafka
      // does not update a follower's state on either).
      if (isFollower && reportPositions) ctx.node.tell(deps.replicaRef(view.key), { type: 'FollowerFetched', replicaId: request.replicaId, fetchOffset: p.fetchOffset, logStartOffset: p.logStartOffset ?? -1 });
      let records: Buffer | null = null;
      // A replica being added that is not in the ISR, while the budget is spent: nothing this round (not an error).
      const throttledReplica = isFollower && view.leaderThrottledReplicas.has(request.replicaId);
      const heldBack = throttledReplica && p.fetchOffset < maxOffset && leaderQuota.isExceeded(nowMs);
      if (heldBack) throttled = true;
      if (!heldBack && remainingBytes > 0 && p.fetchOffset < maxOffset) {
        try {
          records = log.read(p.fetchOffset, Math.min(p.partitionMaxBytes, remainingBytes), { maxOffset });
        } catch (err) {
          anyError = true;
          partitions.push(partitionError(p.topic, p.partition, err instanceof KactusError ? err.code : ErrorCode.UNKNOWN_SERVER_ERROR));
          continue;
        }
        remainingBytes -= records.length;
        bytes += records.length;
        if (throttledReplica) leaderQuota.record(records.length, nowMs);
      }
      const returned = records && records.length > 0 ? records : null;
      // Parked fetches are read again (reportPositions false) when their partition advances: that answer is a woken one.
      if (tracing && returned !== null) traceRange(`leader.fetch_answered.${isFollower ? request.replicaId : 'consumer'}${reportPositions ? '' : '.woken'}`, view.key, p.fetchOffset, maxOffset - 1);
      const abortedTransactions = readCommitted && returned !== null ? abortedBetween(view.txns, p.fetchOffset, maxOffset) : null;
      partitions.push({ topic: p.topic, partition: p.partition, errorCode: ErrorCode.NONE, highWatermark, lastStableOffset: stableOffset, logStartOffset: log.logStartOffset, records: returned, divergingEpoch: null, abortedTransactions });
    }
    return { reply: { type: 'FetchReply', errorCode: ErrorCode.NONE, partitions }, bytes, anyError, throttled };
  };

  /** A fetch answer leaves: counted once here (a parked fetch is read several times but answered once). */
  const answer = (ctx: ActorContext<FetchServerMessage>, request: Fetch, reply: FetchReply): void => {
    deps.metrics?.fetchAnswered(reply, request.replicaId >= 0);
    ctx.node.tell(request.replyTo, reply);
  };

  const unpark = (state: FetchServerState, parked: Parked): void => {
    state.parked.delete(parked.fetchId);
    parked.cancelTimer();
    for (const key of parked.keys) {
      const waiting = state.waitingOn.get(key);
      waiting?.delete(parked.fetchId);
      if (waiting?.size === 0) state.waitingOn.delete(key);
    }
  };

  return {
    accepts: fetchServerProtocol,
    init: () => ({ nextFetchId: 1, parked: new Map(), waitingOn: new Map() }),
    receive: (state, msg, ctx) => {
      switch (msg.type) {
        case 'Fetch': {
          const request = validateFetch(msg);
          if (isInvalid(request)) {
            const replyTo = (msg as { replyTo?: Ref<FetchReply> }).replyTo;
            if (replyTo && typeof replyTo.node === 'string') ctx.node.tell(replyTo, { type: 'FetchReply', errorCode: request.errorCode, errorMessage: request.errorMessage, partitions: [] });
            ctx.log.warn({ reason: request.errorMessage }, 'fetch.invalid_request');
            return state;
          }
          const { reply, bytes, anyError, throttled } = readFetch(request, true, ctx);
          if (anyError || bytes >= Math.max(1, request.minBytes) || request.maxWaitMs === 0 || state.parked.size >= fetchServerLimits.parkedFetchesMax) {
            answer(ctx, request, reply);
            return state;
          }
          const fetchId = state.nextFetchId;
          const keys = request.partitions.map((p) => partitionKey(p.topic, p.partition));
          // Held back by the throttle: answer (reading again) once the budget is back, if that is sooner.
          const waitMs = throttled ? Math.min(request.maxWaitMs, leaderQuota.waitMs(registry.clock.monotonicMs())) : request.maxWaitMs;
          const cancelTimer = ctx.scheduleOnce(waitMs, { type: 'FetchExpired', fetchId });
          state.parked.set(fetchId, { fetchId, request, keys, cancelTimer });
          for (const key of keys) {
            const waiting = state.waitingOn.get(key) ?? new Set<number>();
            waiting.add(fetchId);
            state.waitingOn.set(key, waiting);
          }
          return { ...state, nextFetchId: fetchId + 1 };
        }

        case 'PartitionAdvanced': {
          const waiting = state.waitingOn.get(msg.key);
          if (waiting === undefined) return state;
          for (const fetchId of [...waiting]) {
            const parked = state.parked.get(fetchId);
            if (parked === undefined) continue;
            const { reply, bytes, anyError } = readFetch(parked.request, false, ctx);
            if (anyError || bytes >= Math.max(1, parked.request.minBytes)) {
              unpark(state, parked);
              answer(ctx, parked.request, reply);
            }
          }
          return state;
        }

        case 'FetchExpired': {
          const parked = state.parked.get(msg.fetchId);
          if (parked === undefined) return state;
          unpark(state, parked);
          answer(ctx, parked.request, readFetch(parked.request, false, ctx).reply);
          return state;
        }

        case 'ListOffsets': {
          const request = validateListOffsets(msg);
          if (isInvalid(request)) {
            ctx.log.warn({ reason: request.errorMessage }, 'list_offsets.invalid_request');
            return state;
          }
          const partitions: ListOffsetsReply['partitions'] = request.partitions.map((p) => {
            const view = registry.get(p.topic, p.partition);
            const errorCode = leaderCheck(view, -1);
            if (errorCode !== ErrorCode.NONE || view === undefined) return { topic: p.topic, partition: p.partition, errorCode, offset: -1, timestamp: -1, leaderEpoch: -1 };
            const log = view.log;
            if (p.timestamp === earliestTimestamp) return { topic: p.topic, partition: p.partition, errorCode, offset: log.logStartOffset, timestamp: -1, leaderEpoch: view.leaderEpoch };
            if (p.timestamp === latestTimestamp) {
              const latest = request.isolationLevel === 1 ? lastStableOffset(view.txns, log.highWatermark) : log.highWatermark;
              return { topic: p.topic, partition: p.partition, errorCode, offset: latest, timestamp: -1, leaderEpoch: view.leaderEpoch };
            }
            const found = log.offsetForTimestamp(p.timestamp);
            if (found === null || found.offset >= log.highWatermark) return { topic: p.topic, partition: p.partition, errorCode, offset: -1, timestamp: -1, leaderEpoch: view.leaderEpoch };
            return { topic: p.topic, partition: p.partition, errorCode, offset: found.offset, timestamp: found.timestamp, leaderEpoch: view.leaderEpoch };
          });
          ctx.node.tell(request.replyTo, { type: 'ListOffsetsReply', partitions });
          return state;
        }

        case 'OffsetForLeaderEpoch': {
          const request = validateOffsetForLeaderEpoch(msg);
          if (isInvalid(request)) {
            ctx.log.warn({ reason: request.errorMessage }, 'offset_for_leader_epoch.invalid_request');
            return state;
          }
          const partitions: OffsetForLeaderEpochReply['partitions'] = request.partitions.map((p) => {
            const view = registry.get(p.topic, p.partition);
            const errorCode = leaderCheck(view, p.currentLeaderEpoch ?? -1);
            if (errorCode !== ErrorCode.NONE || view === undefined) return { topic: p.topic, partition: p.partition, errorCode, leaderEpoch: -1, endOffset: -1 };
            const end = view.log.endOffsetForEpoch(p.leaderEpoch);
            return { topic: p.topic, partition: p.partition, errorCode, leaderEpoch: end.leaderEpoch, endOffset: end.endOffset };
          });
          ctx.node.tell(request.replyTo, { type: 'OffsetForLeaderEpochReply', partitions });
          return state;
        }

        default:
          // The runtime admits only fetchServerProtocol from the network; anything else is a local bug: log it, keep serving.
          ctx.log.warn({ type: describeType(msg) }, 'fetch.unknown_message');
          return state;
      }
    },
  };
}
