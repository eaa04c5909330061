/**
 * The partition replica actor, one per hosted partition at
 * `/replicas/<topic>-<partition>`: the nact shell around leader-logic.ts.
 *
 * As leader it appends produce batches (the log validates header and CRC and
 * writes synchronously, so an append that returns is in the page cache),
 * tracks followers from the fetch server's reports, moves the high watermark,
 * answers parked acks=all requests, and asks the controller to change the ISR.
 * As follower it does nothing on the hot path: the fetcher for its leader
 * appends (single-writer rule in registry.ts). The broker actor tells it its
 * role from the committed metadata.
 *
 * DeleteRecords (from `/broker`, delete-records.ts in this folder holds the
 * rules): as leader it moves the log's start (checkpointed at once, so it
 * survives a restart), deletes the segments wholly below it, and answers once
 * the low watermark (the smallest log start over the live replicas, which
 * followers report in their fetches) reaches the new start, or at the
 * request's deadline (checked on every tick).
 *
 * Effects run in this order: append (durable enough for acks=1), state
 * change, replies, then high-watermark publication to the log and a wake-up
 * of the fetch server's long polls.
 *
 * Supervision: a failed assert or unexpected error restarts the actor with
 * backoff (restartWithBackoff); on restart it asks the broker for its role
 * again (`ReplicaRestarted`). A storage error (KAFKA_STORAGE_ERROR) is not a
 * crash: the log is offline, produce gets the code, and the broker is told.
 */
import { ErrorCode, KactusError, toErrorCode } from '../../protocol/errors.ts';
import type { Produce, ProduceReply, WriteTxnMarker } from '../../protocol/apis/data.ts';
import { encodeEndTxnMarker } from '../../protocol/record-batch/control.ts';
import { rebuildTxnIndex, recordBatch as recordTxnBatch } from './txn-index.ts';
import type { ActorContext, Behaviour } from '../../runtime/node.ts';
import type { Ref } from '../../runtime/ref.ts';
import { describeType } from '../../runtime/protocol.ts';
import { assertNever } from '../../runtime/assert.ts';
import type { Clock } from '../../runtime/clock.ts';
import {
  becomeLeader,
  checkProduce,
  onAlterPartitionFailed,
  onAppended,
  onFollowerFetch,
  onLeaderConfig,
  onLogStartOffset,
  onPartitionChanged,
  onTick,
  resign,
  type LeaderEffect,
  type LeaderState,
} from './leader-logic.ts';
import type { PartitionView } from './registry.ts';
import { checkBatch, checkMarker, rebuildFromLog, recordBatch, type ProducerStates } from './producer-state.ts';
import { batchHeaderBytes, readBatchHeader } from '../../protocol/record-batch/header.ts';
import { deletes } from '../../storage/config.ts';
import type { DeleteRecordsPartition, DeleteRecordsPartitionReply } from '../broker/delete-records.ts';
import { traceRange, tracing } from '../../runtime/trace.ts';
import type { BrokerMetrics } from '../metrics/broker-metrics.ts';
import { awaitLowWatermark, deleteRecordsTarget, invalidLowWatermark, lowWatermark, resignDeleteRecords, settleDeleteRecords, type DeleteRecordsAnswer, type DeleteRecordsWaiting } from './delete-records.ts';

export type BecomeLeaderCommand = {
  type: 'BecomeLeader';
  topicId: string;
  leaderEpoch: number;
  partitionEpoch: number;
  replicas: readonly number[];
  isr: readonly number[];
  minInsyncReplicas: number;
  /** The broker's replica.lag.time.max.ms now (a dynamic config); absent: the one it started with. */
  replicaLagTimeMaxMs?: number;
  brokerEpoch: number;
};

export type ReplicaMessage =
  | Produce
  | WriteTxnMarker
  | BecomeLeaderCommand
  | { type: 'BecomeFollower'; leaderId: number; leaderEpoch: number }
  /** A leader's settings changed (topic or dynamic broker configs); ignored unless leading. */
  | { type: 'LeaderConfigChanged'; minInsyncReplicas: number; replicaLagTimeMaxMs: number }
  /** logStartOffset: the follower's, as its fetch carried it (-1 or absent: not told). */
  | { type: 'FollowerFetched'; replicaId: number; fetchOffset: number; logStartOffset?: number }
  | DeleteRecordsPartition
  | { type: 'StopReplica' }
  | ReplicaInternal;

/** Messages only this actor sends itself (timers, adapted replies). */
type ReplicaInternal =
  | { type: 'Tick' }
  | { type: 'AlterPartitionReply'; errorCode: number; topics?: readonly { partitions: readonly { errorCode: number }[] }[] }
  | { type: 'ControllerCallFailed'; errorCode: number; errorMessage: string };

export type ReplicaDeps = {
  brokerId: number;
  view: PartitionView;
  clock: Clock;
  replicaLagTimeMaxMs: number;
  /** The node's controller client: ControllerCall goes there. */
  controllerClient: Ref<unknown>;
  /** The node's fetch server: wake-ups for long polls. */
  fetchServer: Ref<unknown>;
  /** The broker actor: told when this actor restarted, so it re-sends the role. */
  broker: Ref<unknown>;
  /** Whether a broker may join an ISR now (registered, not fenced, in the broker's latest metadata). */
  isrEligible?: (brokerId: number) => boolean;
  /** The broker's metrics: bytes and records in, produce errors, ISR changes (absent: not counted). */
  metrics?: BrokerMetrics;
};

type ReplicaState =
  | { type: 'Idle' }
  | { type: 'Follower'; leaderId: number; leaderEpoch: number }
  | {
      type: 'Leader';
      leader: LeaderState;
      topicId: string;
      brokerEpoch: number;
      tickScheduled: boolean;
      producers: ProducerStates;
      /** Each follower's log start as its last fetch reported it, this term (for the low watermark). */
      followerLogStartOffsets: Map<number, number>;
      /** DeleteRecords requests waiting for the low watermark. */
      deleteRecords: DeleteRecordsWaiting<Ref<DeleteRecordsPartitionReply>>;
    };

/** Bytes read per step when a new leader rebuilds producer state from its log. */
export const producerStateRebuildChunkBytes = 1024 * 1024;
/**
 * How much of the log's tail a new leader scans for producer state. Retries
 * only matter within the delivery timeout, so the tail holds every batch a
 * producer may still retry; a producer seen only before it is treated as new
 * (any sequence accepted, as Kafka does after retention removed its batches).
 */
export const producerStateRebuildBytesMax = 256 * 1024 * 1024;

/** The offset to start the rebuild from: the base of the oldest segment within the byte bound. */
function rebuildStartOffset(log: PartitionView['log']): number {
  const segments = log.segmentSummaries();
  let bytes = 0;
  let start = log.logStartOffset;
  for (let i = segments.length - 1; i >= 0; i -= 1) {
    const segment = segments[i]!;
    bytes += segment.sizeBytes;
    start = Math.max(segment.baseOffset, log.logStartOffset);
    if (bytes >= producerStateRebuildBytesMax) break;
  }
  return start;
}

/** How often a leader checks follower lag and parked-request deadlines. */
export const leaderTickMs = 100;
/** acks=all requests waiting for the high watermark, per partition; past it a produce is refused (retriable). */
export const parkedProducesMax = 10_000;

export function replicaBehaviour(deps: ReplicaDeps): Behaviour<ReplicaState, ReplicaMessage> {
  const { view, clock, metrics } = deps;
  // Looked up once for this replica's life: the hot path only adds to its fields.
  const meter = metrics?.topic(view.topic);

  const produceError = (msg: Produce, errorCode: number, errorMessage: string | null): ProduceReply => ({
    type: 'ProduceReply',
    topic: msg.topic,
    partition: msg.partition,
    errorCode,
    errorMessage,
    baseOffset: -1,
    logAppendTimeMs: -1,
    logStartOffset: -1,
  });

  /** A produce refused before its append: counted by error, answered unless acks=0. */
  const refuse = (ctx: ActorContext<ReplicaMessage>, msg: Produce, errorCode: number, errorMessage: string | null): void => {
    metrics?.produceError(errorCode);
    if (msg.acks !== 0) ctx.node.tell(msg.replyTo, produceError(msg, errorCode, errorMessage));
  };

  /** A reply the leader logic decided (acks, timeouts, NOT_LEADER on resignation): an error is counted. */
  const reply = (ctx: ActorContext<ReplicaMessage>, effect: LeaderEffect & { type: 'Reply' }): void => {
    if (effect.reply.errorCode !== ErrorCode.NONE) metrics?.produceError(effect.reply.errorCode);
    ctx.node.tell(effect.to, effect.reply);
  };

  /** What the metrics read of a leader when scraped (registry.ts): its committed ISR against its replicas and min ISR. */
  const publishIsr = (leader: LeaderState | null): void => {
    view.leaderIsr = leader === null ? null : { isrSize: leader.isr.length, replicaCount: leader.replicas.length, minInsyncReplicas: leader.minInsyncReplicas };
  };

  const runEffects = (ctx: ActorContext<ReplicaMessage>, state: ReplicaState & { type: 'Leader' }, effects: LeaderEffect[]): void => {
    for (const effect of effects) {
      switch (effect.type) {
        case 'Reply':
          reply(ctx, effect);
          break;
        case 'HighWatermarkAdvanced':
          if (tracing) traceRange('leader.hw_advanced', view.key, view.log.highWatermark, effect.highWatermark - 1);
          view.log.setHighWatermark(effect.highWatermark);
          ctx.node.tell(deps.fetchServer, { type: 'PartitionAdvanced', key: view.key });
          break;
        case 'AlterPartition':
          ctx.node.tell(deps.controllerClient, {
            type: 'ControllerCall',
            command: {
              type: 'AlterPartition',
              brokerId: deps.brokerId,
              brokerEpoch: state.brokerEpoch,
              topics: [{ topicId: state.topicId, partitions: [{ partition: view.partition, leaderEpoch: effect.leaderEpoch, partitionEpoch: effect.partitionEpoch, newIsr: effect.isr.map((brokerId) => ({ brokerId, brokerEpoch: -1 })) }] }],
            },
            replyTo: ctx.self,
          });
          ctx.log.info({ isr: effect.isr, leaderEpoch: effect.leaderEpoch }, 'partition.isr_change_requested');
          break;
        default:
          assertNever(effect, 'leader effect');
      }
    }
  };

  const scheduleTick = (ctx: ActorContext<ReplicaMessage>, state: ReplicaState & { type: 'Leader' }): ReplicaState => {
    if (state.tickScheduled) return state;
    ctx.scheduleOnce(leaderTickMs, { type: 'Tick' });
    return { ...state, tickScheduled: true };
  };

  const resignIfLeader = (ctx: ActorContext<ReplicaMessage>, state: ReplicaState): void => {
    if (state.type !== 'Leader') return;
    for (const effect of resign(state.leader)) if (effect.type === 'Reply') reply(ctx, effect);
    publishIsr(null);
    answerDeletes(ctx, resignDeleteRecords(state.deleteRecords), `broker ${deps.brokerId} no longer leads ${view.key}`);
  };

  const answerDeletes = (ctx: ActorContext<ReplicaMessage>, answers: readonly DeleteRecordsAnswer<Ref<DeleteRecordsPartitionReply>>[], errorMessage: string | null = null): void => {
    for (const a of answers) {
      const message = a.errorCode === ErrorCode.NONE ? null : (errorMessage ?? `${view.key}: the replicas' log starts did not reach the requested offset in time`);
      ctx.node.tell(a.replyTo, { type: 'DeleteRecordsPartitionReply', errorCode: a.errorCode, errorMessage: message, lowWatermark: a.lowWatermark });
    }
  };

  /** Kafka's lowWatermarkIfLeader: the smallest log start over this log and the followers on live brokers. */
  const lowWatermarkOf = (state: ReplicaState & { type: 'Leader' }): number =>
    lowWatermark(view.log.logStartOffset, deps.brokerId, state.leader.replicas, state.followerLogStartOffsets, deps.isrEligible ?? (() => true));

  /** Answers the waiting DeleteRecords the low watermark reached, or whose deadline passed. */
  const settleDeletes = (ctx: ActorContext<ReplicaMessage>, state: ReplicaState & { type: 'Leader' }): ReplicaState & { type: 'Leader' } => {
    if (state.deleteRecords.length === 0) return state;
    const [deleteRecords, answers] = settleDeleteRecords(state.deleteRecords, lowWatermarkOf(state), clock.nowMs());
    if (answers.length === 0) return state;
    answerDeletes(ctx, answers);
    return { ...state, deleteRecords };
  };

  return {
    init: (ctx) => {
      // After a supervision restart the broker re-sends our role; until then this actor leads nothing.
      publishIsr(null);
      ctx.node.tell(deps.broker, { type: 'ReplicaRestarted', key: view.key });
      return { type: 'Idle' };
    },

    receive: (state, msg, ctx) => {
      switch (msg.type) {
        case 'Produce': {
          const receivedAtMs = tracing ? performance.timeOrigin + performance.now() : 0;
          if (state.type !== 'Leader' || view.role !== 'leader' || view.leaderEpoch !== state.leader.leaderEpoch) {
            refuse(ctx, msg, ErrorCode.NOT_LEADER_OR_FOLLOWER, `broker ${deps.brokerId} does not lead ${view.key}`);
            return state;
          }
          if (msg.acks === -1 && state.leader.parked.length >= parkedProducesMax) {
            refuse(ctx, msg, ErrorCode.THROTTLING_QUOTA_EXCEEDED, `${view.key}: ${parkedProducesMax} acks=all requests already wait for replication`);
            return state;
          }
          const refusal = checkProduce(state.leader, msg.acks);
          if (refusal !== ErrorCode.NONE) {
            refuse(ctx, msg, refusal, `${view.key}: ISR ${state.leader.isr.join(',')} is smaller than min.insync.replicas ${state.leader.minInsyncReplicas}`);
            return state;
          }
          const bytes = Buffer.from(msg.batch.buffer, msg.batch.byteOffset, msg.batch.byteLength);
          if (bytes.length < batchHeaderBytes) {
            refuse(ctx, msg, ErrorCode.CORRUPT_MESSAGE, `${view.key}: ${bytes.length} bytes is shorter than a batch header`);
            return state;
          }
          const header = readBatchHeader(bytes, 0);
          if (header.sizeBytes !== bytes.length) {
            refuse(ctx, msg, ErrorCode.INVALID_RECORD, `${view.key}: a produce request carries exactly one record batch`);
            return state;
          }
          if (header.isControl) {
            refuse(ctx, msg, ErrorCode.INVALID_RECORD, `${view.key}: producers may not write control batches`);
            return state;
          }
          const check = checkBatch(state.producers, header);
          if (check.type === 'Refuse') {
            refuse(ctx, msg, check.errorCode, `${view.key}: ${check.errorMessage}`);
            return state;
          }
          let appended: { baseOffset: number; lastOffset: number; logAppendTime: number };
          if (check.type === 'Duplicate') {
            // A retry of a batch we have: answer with its original offsets once they are committed.
            appended = { baseOffset: check.baseOffset, lastOffset: check.lastOffset, logAppendTime: -1 };
          } else {
            try {
              appended = view.log.append(bytes, { leaderEpoch: state.leader.leaderEpoch });
            } catch (err) {
              const errorCode = toErrorCode(err);
              if (errorCode === ErrorCode.UNKNOWN_SERVER_ERROR) throw err; // a bug: let supervision handle it
              refuse(ctx, msg, errorCode, (err as KactusError).message);
              if (errorCode === ErrorCode.KAFKA_STORAGE_ERROR) ctx.log.error({ err }, 'partition.log_offline');
              return state;
            }
            recordBatch(state.producers, header, appended.baseOffset, appended.lastOffset);
            recordTxnBatch(view.txns, header, appended.baseOffset, appended.lastOffset, null);
            if (meter !== undefined) {
              meter.bytesIn += bytes.length;
              meter.recordsIn += header.recordCount;
            }
            if (tracing) {
              traceRange('leader.received', view.key, appended.baseOffset, appended.lastOffset, receivedAtMs);
              traceRange('leader.appended', view.key, appended.baseOffset, appended.lastOffset);
            }
          }
          const nowMs = clock.nowMs();
          const [leader, effects] = onAppended(state.leader, {
            baseOffset: appended.baseOffset,
            lastOffset: appended.lastOffset,
            logAppendTimeMs: appended.logAppendTime,
            logEndOffset: view.log.logEndOffset,
            acks: msg.acks,
            deadlineMs: nowMs + msg.timeoutMs,
            replyTo: msg.replyTo,
          });
          const next = { ...state, leader };
          runEffects(ctx, next, effects);
          // Followers long-poll on the log end offset too.
          if (!effects.some((e) => e.type === 'HighWatermarkAdvanced')) ctx.node.tell(deps.fetchServer, { type: 'PartitionAdvanced', key: view.key });
          return next;
        }

        case 'WriteTxnMarker': {
          const reply = (errorCode: number, errorMessage: string | null): void => {
            ctx.node.tell(msg.replyTo, { type: 'ProduceReply', topic: msg.topic, partition: msg.partition, errorCode, errorMessage, baseOffset: -1, logAppendTimeMs: -1, logStartOffset: -1 });
          };
          if (state.type !== 'Leader' || view.role !== 'leader' || view.leaderEpoch !== state.leader.leaderEpoch) {
            reply(ErrorCode.NOT_LEADER_OR_FOLLOWER, `broker ${deps.brokerId} does not lead ${view.key}`);
            return state;
          }
          const markerCheck = checkMarker(state.producers, msg.producerId, msg.producerEpoch, msg.coordinatorEpoch);
          if (markerCheck.type === 'Refuse') {
            reply(markerCheck.errorCode, `${view.key}: ${markerCheck.errorMessage}`);
            if (markerCheck.errorCode === ErrorCode.TRANSACTION_COORDINATOR_FENCED) ctx.log.warn({ producerId: msg.producerId, coordinatorEpoch: msg.coordinatorEpoch }, 'partition.marker_from_fenced_coordinator');
            return state;
          }
          const bytes = encodeEndTxnMarker({ producerId: msg.producerId, producerEpoch: msg.producerEpoch, type: msg.result, coordinatorEpoch: msg.coordinatorEpoch, timestamp: clock.nowMs() });
          let appended;
          try {
            appended = view.log.append(bytes, { leaderEpoch: state.leader.leaderEpoch });
          } catch (err) {
            const errorCode = toErrorCode(err);
            if (errorCode === ErrorCode.UNKNOWN_SERVER_ERROR) throw err;
            reply(errorCode, (err as KactusError).message);
            return state;
          }
          const markerHeader = readBatchHeader(bytes, 0);
          recordTxnBatch(view.txns, markerHeader, appended.baseOffset, appended.lastOffset, msg.result);
          // KIP-890: the marker's epoch is the producer's from now on; a delayed batch of the ended transaction is refused.
          recordBatch(state.producers, markerHeader, appended.baseOffset, appended.lastOffset, msg.coordinatorEpoch);
          const [leader, effects] = onAppended(state.leader, {
            baseOffset: appended.baseOffset,
            lastOffset: appended.lastOffset,
            logAppendTimeMs: appended.logAppendTime,
            logEndOffset: view.log.logEndOffset,
            acks: -1,
            deadlineMs: clock.nowMs() + msg.timeoutMs,
            replyTo: msg.replyTo,
          });
          const next = { ...state, leader };
          runEffects(ctx, next, effects);
          ctx.node.tell(deps.fetchServer, { type: 'PartitionAdvanced', key: view.key });
          return next;
        }

        case 'BecomeLeader': {
          const nowMs = clock.nowMs();
          if (state.type === 'Leader' && state.leader.leaderEpoch === msg.leaderEpoch) {
            // Same epoch: an ISR change committed (ours or the controller's), or a reassignment changed the replicas.
            const [leader, effects] = onPartitionChanged(state.leader, msg.isr, msg.partitionEpoch, msg.replicas, nowMs);
            const next = { ...state, leader: onLeaderConfig(leader, msg.minInsyncReplicas, msg.replicaLagTimeMaxMs ?? leader.lagTimeMaxMs) };
            metrics?.isrChanged(state.leader.isr, next.leader.isr);
            publishIsr(next.leader);
            runEffects(ctx, next, effects);
            return next;
          }
          resignIfLeader(ctx, state);
          const leader = becomeLeader({
            brokerId: deps.brokerId,
            topic: view.topic,
            partition: view.partition,
            leaderEpoch: msg.leaderEpoch,
            partitionEpoch: msg.partitionEpoch,
            replicas: msg.replicas,
            isr: msg.isr,
            minInsyncReplicas: msg.minInsyncReplicas,
            lagTimeMaxMs: msg.replicaLagTimeMaxMs ?? deps.replicaLagTimeMaxMs,
            logEndOffset: view.log.logEndOffset,
            logStartOffset: view.log.logStartOffset,
            highWatermark: view.log.highWatermark,
            nowMs,
          });
          ctx.log.info({ leaderEpoch: msg.leaderEpoch, isr: msg.isr, logEndOffset: leader.logEndOffset, highWatermark: leader.highWatermark }, 'partition.became_leader');
          try {
            view.log.assignLeaderEpochStart(msg.leaderEpoch);
          } catch (err) {
            ctx.log.error({ err }, 'partition.epoch_start_not_recorded');
          }
          // With a single-member ISR the high watermark is the log end at once.
          const [advanced, effects] = onPartitionChanged(leader, msg.isr, msg.partitionEpoch);
          const log = view.log;
          const producers = rebuildFromLog((from) => log.read(from, producerStateRebuildChunkBytes), rebuildStartOffset(log), log.logEndOffset);
          view.txns = rebuildTxnIndex((from) => log.read(from, producerStateRebuildChunkBytes), log.logStartOffset, log.logEndOffset);
          // Read by /broker for DescribeProducers (registry.ts: readers check the role and this epoch).
          view.producers = { leaderEpoch: msg.leaderEpoch, states: producers };
          const next = scheduleTick(ctx, { type: 'Leader', leader: advanced, topicId: msg.topicId, brokerEpoch: msg.brokerEpoch, tickScheduled: false, producers, followerLogStartOffsets: new Map(), deleteRecords: [] });
          publishIsr(advanced);
          runEffects(ctx, next as ReplicaState & { type: 'Leader' }, effects);
          return next;
        }

        case 'LeaderConfigChanged': {
          if (state.type !== 'Leader') return state;
          const leader = onLeaderConfig(state.leader, msg.minInsyncReplicas, msg.replicaLagTimeMaxMs);
          publishIsr(leader);
          return { ...state, leader };
        }

        case 'BecomeFollower':
          resignIfLeader(ctx, state);
          if (state.type !== 'Follower' || state.leaderEpoch !== msg.leaderEpoch) {
            ctx.log.info({ leaderId: msg.leaderId, leaderEpoch: msg.leaderEpoch }, 'partition.became_follower');
          }
          return { type: 'Follower', leaderId: msg.leaderId, leaderEpoch: msg.leaderEpoch };

        case 'StopReplica':
          resignIfLeader(ctx, state);
          return { type: 'Idle' };

        case 'FollowerFetched': {
          if (state.type !== 'Leader') return state;
          if (tracing) traceRange(`leader.follower_confirmed.${msg.replicaId}`, view.key, Math.max(0, state.leader.followers.get(msg.replicaId)?.logEndOffset ?? 0), msg.fetchOffset - 1);
          const [leader, effects] = onFollowerFetch(state.leader, msg.replicaId, msg.fetchOffset, clock.nowMs(), deps.isrEligible?.(msg.replicaId) ?? true);
          const next = { ...state, leader };
          runEffects(ctx, next, effects);
          if (typeof msg.logStartOffset === 'number' && msg.logStartOffset >= 0 && state.leader.replicas.includes(msg.replicaId)) {
            next.followerLogStartOffsets.set(msg.replicaId, msg.logStartOffset);
            return settleDeletes(ctx, next);
          }
          return next;
        }

        case 'DeleteRecordsPartition': {
          const refuse = (errorCode: number, errorMessage: string): ReplicaState => {
            ctx.node.tell(msg.replyTo, { type: 'DeleteRecordsPartitionReply', errorCode, errorMessage, lowWatermark: invalidLowWatermark });
            return state;
          };
          if (state.type !== 'Leader' || view.role !== 'leader' || view.leaderEpoch !== state.leader.leaderEpoch) return refuse(ErrorCode.NOT_LEADER_OR_FOLLOWER, `broker ${deps.brokerId} does not lead ${view.key}`);
          if (view.log.isOffline) return refuse(ErrorCode.KAFKA_STORAGE_ERROR, `${view.key}: the log is offline`);
          const target = deleteRecordsTarget({ requestedOffset: msg.offset, highWatermark: view.log.highWatermark, deleteEnabled: deletes(view.log.config), key: view.key });
          if (target.type === 'Refuse') return refuse(target.errorCode, target.errorMessage);
          const before = view.log.logStartOffset;
          try {
            // The log checkpoints the new start before it returns (durable), then retention deletes the whole segments below it.
            view.log.advanceLogStartOffset(target.offset);
            if (view.log.logStartOffset !== before) view.log.enforceRetention();
          } catch (err) {
            const errorCode = toErrorCode(err);
            if (errorCode === ErrorCode.UNKNOWN_SERVER_ERROR) throw err; // a bug: let supervision handle it
            return refuse(errorCode, (err as KactusError).message);
          }
          if (view.log.logStartOffset !== before) ctx.log.info({ from: before, to: view.log.logStartOffset, segments: view.log.segmentCount }, 'partition.log_start_advanced');
          const leader = onLogStartOffset(state.leader, view.log.logStartOffset);
          const [deleteRecords, answers] = awaitLowWatermark(state.deleteRecords, { requestedOffset: target.offset, timeoutMs: msg.timeoutMs, replyTo: msg.replyTo }, lowWatermarkOf(state), clock.nowMs());
          answerDeletes(ctx, answers);
          return { ...state, leader, deleteRecords };
        }

        case 'Tick': {
          if (state.type !== 'Leader') return state;
          view.log.maybeFlush();
          const [leader, effects] = onTick(state.leader, clock.nowMs());
          const next = settleDeletes(ctx, { ...state, leader, tickScheduled: false });
          runEffects(ctx, next, effects);
          return scheduleTick(ctx, next);
        }

        case 'AlterPartitionReply': {
          if (state.type !== 'Leader') return state;
          const partitionError = msg.topics?.[0]?.partitions[0]?.errorCode ?? ErrorCode.NONE;
          if (msg.errorCode === ErrorCode.NONE && partitionError === ErrorCode.NONE) return state; // takes effect with the metadata
          ctx.log.warn({ errorCode: msg.errorCode, partitionError }, 'partition.isr_change_refused');
          return { ...state, leader: onAlterPartitionFailed(state.leader) };
        }

        case 'ControllerCallFailed':
          if (state.type !== 'Leader') return state;
          ctx.log.warn({ errorCode: msg.errorCode, reason: msg.errorMessage }, 'partition.isr_change_failed');
          return { ...state, leader: onAlterPartitionFailed(state.leader) };

        default:
          // Local only (no `accepts`): an unknown message is a bug elsewhere; log it without reading into it (assertNever
          // would JSON.stringify it), keep serving.
          ctx.log.warn({ type: describeType(msg) }, 'partition.unknown_message');
          return state;
      }
    },
  };
}
