/**
 * The transaction coordinator's nact shell: `/transactions` on every broker
 * node, around the pure per-transactional-id logic of txn-logic.ts and the
 * `__transaction_state` records of txn-records.ts.
 *
 * Owns: the TxnState of every transactional id whose `__transaction_state`
 * partition this broker leads; the loads of those partitions; the writes to
 * them; the marker writes to partition leaders; a small pool of producer ids
 * (taken one at a time from the local `/broker`, which holds the block the
 * controller handed out); FindTxnCoordinator (creating `__transaction_state`
 * on first use); the read-only DescribeTransactions and ListTransactions
 * (KIP-664), answered at once from the committed state (txn-logic.ts's
 * describeTxn / txnListMatcher), never stepped, never written.
 *
 * Structure: like `/groups` (actors/group-coordinator/actor.ts), one actor
 * holds every id in a Map (a step is microseconds; one mailbox orders loads,
 * requests and resignations). The network may send it only
 * transactionsProtocol (the runtime refuses every other type from a remote
 * origin before this actor runs), so what this node's broker and controller
 * client say (TxnLocalMessage), timers and adapted asks are recognised by
 * their type: the network cannot forge them.
 *
 * The loop (txn-logic.ts's header): route (NOT_COORDINATOR,
 * COORDINATOR_LOAD_IN_PROGRESS), `step`, then the effects in order:
 * `Reply` now; `PersistTxnState` as one record batch Produce (acks -1) to the
 * local replica of our partition, answered by `PersistCompleted`;
 * `WriteTxnMarkers` as one WriteTxnMarker per partition to its leader's
 * `/broker`, answered by `MarkersWritten` / `MarkersFailed`;
 * `ProducerIdTaken` pops the pool. A tick every tickIntervalMs steps ids whose
 * deadline passed (transaction timeouts, marker retries, expiry) and
 * reconciles the partitions we lead with the registry.
 *
 * Failover: a new leader of a `__transaction_state` partition replays it
 * (`loadTransactions`) and ticks every id once, so an id found in
 * PrepareCommit/PrepareAbort writes its markers again (markers are idempotent
 * at the partitions) and completes: a transaction is never left split.
 *
 * Supervision (restartWithBackoff): a bug restarts `/transactions` empty; it
 * reloads what it leads from the registry. Late answers of the old
 * incarnation carry its id and are ignored; clients retry.
 */
import { randomUUID } from 'node:crypto';
import { ErrorCode, errorName, toErrorCode } from '../../protocol/errors.ts';
import type { Produce, ProduceReply, WriteTxnMarker } from '../../protocol/apis/data.ts';
import {
  validateTxnCoordinatorRequest,
  type DescribeTransactionsResponse,
  type ListTransactionsRequest,
  type ListTransactionsResponse,
  type TransactionListing,
  type TxnCoordinatorReply,
  type TxnCoordinatorRequest,
} from '../../protocol/apis/txn.ts';
import { isInvalid, printable } from '../../protocol/validate.ts';
import { encodeBatch } from '../../protocol/record-batch/index.ts';
import type { ActorContext, Behaviour, Node } from '../../runtime/node.ts';
import type { Ref } from '../../runtime/ref.ts';
import type { RemoteProtocol } from '../../runtime/protocol.ts';
import type { Clock } from '../../runtime/clock.ts';
import { assert } from '../../runtime/assert.ts';
import type { PartitionRegistry } from '../partition/registry.ts';
import { emptyImage, topicByName, type MetadataImage } from '../controller/metadata/index.ts';
import { nodeIdOf, type BrokerConfig } from '../broker/config.ts';
import { becomeLeader, initialCoordinatorState, loadCompleted, resign, type CoordinatorState } from '../group-coordinator/coordinator-logic.ts';
import { askCreateInternalTopic, coordinatorFor, liveBrokerCount, planLeadership, readLoadChunk } from '../coordinator-shell.ts';
import { describeTxn, emptyTxn, isDisposable, nextDeadlineMs, step, txnConfigDefault, txnListMatcher, type TxnConfig, type TxnEffect, type TxnInput, type TxnState } from './txn-logic.ts';
import { coordinatorPartitionFor, decodeRecord, encodeRecord, loadTransactions, transactionStateTopic, type TopicPartition, type TxnRecord } from './txn-records.ts';

const MiB = 1024 * 1024;

/** The shell's bounds and periods. */
export const txnCoordinatorLimits = Object.freeze({
  /** Transactional ids held per broker; a request that would add one more gets COORDINATOR_NOT_AVAILABLE. */
  txnsMax: 100_000,
  /** Requests waiting for a producer id from `/broker`; past it, COORDINATOR_NOT_AVAILABLE. */
  waitingForIdsMax: 10_000,
  /** Producer ids kept ready (each InitProducerId of a new id takes one). */
  producerIdPoolTarget: 16,
  /** How often deadlines are checked. */
  tickIntervalMs: 100,
  /** How often the led partitions are compared with the registry. */
  reconcileIntervalMs: 1_000,
  /** Bytes of a partition's log read per load message. */
  loadChunkBytesMax: 1 * MiB,
  loadRetryBackoffMs: 500,
  /** Produce timeout (acks=all) of one state write, and of one marker write. */
  writeTimeoutMs: 5_000,
  /** Extra time an ask waits beyond the write's own timeout. */
  replySlackMs: 2_000,
  /** The controller call that creates __transaction_state. */
  createTopicAskTimeoutMs: 35_000,
  /** segment.bytes of __transaction_state (Kafka's default for it). */
  topicSegmentBytes: 100 * MiB,
  /** transaction.state.log.replication.factor (Kafka's default), capped by the live brokers. */
  topicReplicationFactor: 3,
});

export type TxnCoordinatorDeps = {
  config: Pick<BrokerConfig, 'brokerId' | 'transactionStateLogNumPartitions' | 'offsetsTopicNumPartitions'>;
  registry: PartitionRegistry;
  clock: Clock;
  controllerClient: Ref<unknown>;
  /** The local `/broker`: hands out producer ids from the controller's blocks. */
  broker: Ref<unknown>;
  /** Overrides of the logic's config (tests: short expiry, small epochs). */
  txnConfig?: Partial<TxnConfig>;
};

/** What the broker and the controller client tell `/transactions` (local only: not in transactionsProtocol). */
export type TxnLocalMessage =
  | { type: 'TxnStatePartitionLed'; partition: number; leaderEpoch: number }
  | { type: 'TxnStatePartitionResigned'; partition: number }
  | { type: 'MetadataImageUpdated'; image: MetadataImage; previous: MetadataImage };

type Internal =
  | TxnLocalMessage
  | { type: 'Tick'; incarnation: string }
  | { type: 'LoadChunk'; incarnation: string; partition: number; loadId: number }
  | { type: 'PersistDone'; incarnation: string; transactionalId: string; entryId: number; persistId: number; errorCode: number }
  | { type: 'MarkerDone'; incarnation: string; transactionalId: string; entryId: number; producerId: number; producerEpoch: number; result: 'COMMIT' | 'ABORT'; partition: TopicPartition; errorCode: number }
  | { type: 'ProducerIdArrived'; incarnation: string; producerId: number; errorCode: number }
  | { type: 'TopicCreated'; incarnation: string; errorCode: number; errorMessage: string };

/** The types of Internal: none is in transactionsProtocol, so only this node's own code can send them. */
const internalTypes: ReadonlySet<string> = new Set<Internal['type']>([
  'TxnStatePartitionLed',
  'TxnStatePartitionResigned',
  'MetadataImageUpdated',
  'Tick',
  'LoadChunk',
  'PersistDone',
  'MarkerDone',
  'ProducerIdArrived',
  'TopicCreated',
]);

function isInternal(message: unknown): message is Internal {
  return typeof message === 'object' && message !== null && typeof (message as { type?: unknown }).type === 'string' && internalTypes.has((message as { type: string }).type);
}

export type TxnCoordinatorMessage = Internal | TxnCoordinatorRequest;

type Entry = { state: TxnState; readonly entryId: number; readonly partition: number; deadlineMs: number | null };
type LoadJob = { partition: number; leaderEpoch: number; loadId: number; nextOffset: number; endOffset: number; records: TxnRecord[]; skipped: number; startedMs: number };
/** A request that needs a fresh producer id and waits for the pool. */
type WaitingForId = Extract<TxnCoordinatorRequest, { type: 'InitProducerId' | 'EndTxn' }>;

type ShellState = {
  readonly incarnation: string;
  coordinator: CoordinatorState;
  image: MetadataImage;
  txns: Map<string, Entry>;
  loads: Map<number, LoadJob>;
  producerIdPool: number[];
  idsRequested: number;
  waitingForIds: WaitingForId[];
  creatingTopic: boolean;
  nextEntryId: number;
  nextLoadId: number;
  lastReconcileMs: number;
};

export const txnEvents = Object.freeze({
  loadStarted: 'transactions.partition_load_started',
  loaded: 'transactions.partition_loaded',
  loadFailed: 'transactions.partition_load_failed',
  unloaded: 'transactions.partition_unloaded',
  badRequest: 'transactions.invalid_request',
  createTopic: 'transactions.state_topic_create',
  markerFailed: 'transactions.marker_failed',
  refusedBound: 'transactions.refused_by_bound',
});

export type TxnCoordinatorRefs = { transactions: Ref<TxnCoordinatorMessage> };

/**
 * What the network may send `/transactions` (runtime/protocol.ts): the producer's API from anyone;
 * VerifyPartitionsInTxn only from brokers (a partition leader checking a transactional write, KIP-890).
 */
export const transactionsProtocol: RemoteProtocol = {
  client: { FindTxnCoordinator: true, InitProducerId: true, AddPartitionsToTxn: true, AddOffsetsToTxn: true, EndTxn: true, DescribeTransactions: true, ListTransactions: true },
  peer: { VerifyPartitionsInTxn: true },
};

/** Spawns `/transactions` (top-level, no children). Give the broker its ref: it tells it TxnLocalMessage. */
export function spawnTxnCoordinator(node: Node, deps: TxnCoordinatorDeps): TxnCoordinatorRefs {
  return { transactions: node.spawn('transactions', txnCoordinatorBehaviour(deps)) };
}

/** The reply a refused request gets (routing, bounds, bad input). */
function refusal(request: { type: string; partitions?: readonly TopicPartition[] }, errorCode: number, errorMessage: string): Record<string, unknown> | null {
  switch (request.type) {
    case 'FindTxnCoordinator':
      return { type: 'FindCoordinatorReply', errorCode, errorMessage, nodeId: -1, host: '', port: -1 };
    case 'InitProducerId':
      return { type: 'InitProducerIdReply', errorCode, errorMessage, producerId: -1, producerEpoch: -1 };
    case 'AddPartitionsToTxn':
    case 'VerifyPartitionsInTxn': {
      const partitions = Array.isArray(request.partitions) ? request.partitions.slice(0, 10_000) : [];
      return { type: `${request.type}Reply`, errorMessage, results: partitions.map((p: unknown) => partitionOf(p, errorCode)) };
    }
    case 'AddOffsetsToTxn':
      return { type: 'AddOffsetsToTxnReply', errorCode, errorMessage };
    case 'EndTxn':
      return { type: 'EndTxnReply', errorCode, errorMessage, producerId: -1, producerEpoch: -1 };
    case 'DescribeTransactions':
      return { type: 'DescribeTransactionsReply', errorCode, errorMessage, transactionStates: [] };
    case 'ListTransactions':
      return { type: 'ListTransactionsReply', errorCode, errorMessage, unknownStateFilters: [], transactionStates: [] };
    default:
      return null;
  }
}

/** One partition of an untrusted request, as a refusal names it: never converted with String()/Number() (a `{ toString: 0 }` throws). */
function partitionOf(p: unknown, errorCode: number): { topic: string; partition: number; errorCode: number } {
  const { topic, partition } = typeof p === 'object' && p !== null ? (p as { topic?: unknown; partition?: unknown }) : {};
  return { topic: typeof topic === 'string' ? topic.slice(0, 249) : '', partition: typeof partition === 'number' && Number.isInteger(partition) ? partition : -1, errorCode };
}

function replyTargetOf(raw: unknown): Ref<unknown> | null {
  const to = typeof raw === 'object' && raw !== null ? (raw as { replyTo?: unknown }).replyTo : undefined;
  if (typeof to !== 'object' || to === null) return null;
  const { node, path } = to as { node?: unknown; path?: unknown };
  return typeof node === 'string' && typeof path === 'string' ? { node, path } : null;
}

export function txnCoordinatorBehaviour(deps: TxnCoordinatorDeps): Behaviour<ShellState, TxnCoordinatorMessage> {
  const { registry, clock, config } = deps;
  const L = txnCoordinatorLimits;
  // AddOffsetsToTxn names the group's __consumer_offsets partition: the count must be the brokers'.
  const txnConfig: TxnConfig = { ...txnConfigDefault, offsetsTopicPartitionCount: config.offsetsTopicNumPartitions, ...deps.txnConfig };

  const tellSelf = (ctx: ActorContext<TxnCoordinatorMessage>, message: Internal): void => {
    if (ctx.node.tell(ctx.self, message) !== 0) ctx.scheduleOnce(L.tickIntervalMs, message);
  };

  // ------------------------------------------------------------ stepping an id

  const runStep = (s: ShellState, ctx: ActorContext<TxnCoordinatorMessage>, entry: Entry, input: TxnInput): void => {
    const nowMs = clock.nowMs();
    const [next, effects] = step(entry.state, input, nowMs);
    entry.state = next;
    for (const effect of effects) runEffect(s, ctx, entry, effect, nowMs);
    entry.deadlineMs = nextDeadlineMs(next);
    const id = next.transactionalId;
    if (isDisposable(next)) {
      if (s.txns.get(id) === entry) s.txns.delete(id);
    } else if (!s.txns.has(id)) {
      s.txns.set(id, entry);
    }
  };

  const runEffect = (s: ShellState, ctx: ActorContext<TxnCoordinatorMessage>, entry: Entry, effect: TxnEffect, nowMs: number): void => {
    switch (effect.type) {
      case 'Reply':
        ctx.node.tell(effect.to as Ref<unknown>, { errorMessage: null, ...effect.reply });
        return;
      case 'PersistTxnState':
        persist(s, ctx, entry, effect.persistId, effect.record, nowMs);
        return;
      case 'WriteTxnMarkers':
        for (const partition of effect.partitions) writeMarker(s, ctx, entry, effect.producerId, effect.producerEpoch, effect.result, partition);
        return;
      case 'ProducerIdTaken': {
        const at = s.producerIdPool.indexOf(effect.producerId);
        if (at >= 0) s.producerIdPool.splice(at, 1);
        refillProducerIds(s, ctx);
        return;
      }
      case 'ScheduleDeadline':
        return; // the tick reads entry.deadlineMs
    }
  };

  const persist = (s: ShellState, ctx: ActorContext<TxnCoordinatorMessage>, entry: Entry, persistId: number, record: TxnRecord, nowMs: number): void => {
    const encoded = encodeRecord(record);
    const batch = encodeBatch({ records: [{ key: encoded.key, value: encoded.value, timestamp: nowMs }] });
    const { incarnation } = s;
    const transactionalId = entry.state.transactionalId;
    const entryId = entry.entryId;
    const partition = entry.partition;
    const done = (errorCode: number): void => tellSelf(ctx, { type: 'PersistDone', incarnation, transactionalId, entryId, persistId, errorCode });
    ctx.node
      .ask<Produce, ProduceReply>(
        { node: ctx.node.nodeId, path: `/replicas/${transactionStateTopic}-${partition}` },
        (replyTo) => ({ type: 'Produce', topic: transactionStateTopic, partition, acks: -1, timeoutMs: L.writeTimeoutMs, batch, replyTo }),
        { timeoutMs: L.writeTimeoutMs + L.replySlackMs },
      )
      .then(
        (reply) => done(typeof reply.errorCode === 'number' ? reply.errorCode : ErrorCode.UNKNOWN_SERVER_ERROR),
        (err: unknown) => done(toErrorCode(err) === ErrorCode.BROKER_NOT_AVAILABLE ? ErrorCode.NOT_LEADER_OR_FOLLOWER : toErrorCode(err)),
      );
  };

  const writeMarker = (
    s: ShellState,
    ctx: ActorContext<TxnCoordinatorMessage>,
    entry: Entry,
    producerId: number,
    producerEpoch: number,
    result: 'COMMIT' | 'ABORT',
    partition: TopicPartition,
  ): void => {
    const { incarnation } = s;
    const transactionalId = entry.state.transactionalId;
    const entryId = entry.entryId;
    const done = (errorCode: number): void =>
      tellSelf(ctx, { type: 'MarkerDone', incarnation, transactionalId, entryId, producerId, producerEpoch, result, partition, errorCode });
    const topic = topicByName(s.image, partition.topic);
    if (topic === undefined || partition.partition >= topic.partitions.length) {
      // The topic was deleted: nobody can read the transaction there any more (Kafka drops such partitions too).
      done(ErrorCode.NONE);
      return;
    }
    const leaderId = topic.partitions[partition.partition]?.leader ?? -1;
    const leader = leaderId >= 0 ? s.image.brokers.get(leaderId) : undefined;
    if (leader === undefined || leader.fenced) {
      done(ErrorCode.LEADER_NOT_AVAILABLE);
      return;
    }
    if (leaderId !== config.brokerId) ctx.node.addPeer(nodeIdOf(leaderId), ctx.node.peerUrl(leader.host, leader.port));
    const coordinatorEpoch = s.coordinator.partitions.get(entry.partition)?.leaderEpoch ?? -1;
    ctx.node
      .ask<WriteTxnMarker, ProduceReply>(
        { node: nodeIdOf(leaderId), path: '/broker' },
        (replyTo) => ({
          type: 'WriteTxnMarker',
          topic: partition.topic,
          partition: partition.partition,
          producerId,
          producerEpoch,
          result: result === 'COMMIT' ? 'commit' : 'abort',
          coordinatorEpoch,
          timeoutMs: L.writeTimeoutMs,
          replyTo,
        }),
        { timeoutMs: L.writeTimeoutMs + L.replySlackMs },
      )
      .then(
        (reply) => done(typeof reply.errorCode === 'number' ? reply.errorCode : ErrorCode.UNKNOWN_SERVER_ERROR),
        (err: unknown) => done(toErrorCode(err)),
      );
  };

  const newEntry = (s: ShellState, state: TxnState): Entry => {
    s.nextEntryId += 1;
    return { state, entryId: s.nextEntryId, partition: coordinatorPartitionFor(state.transactionalId, s.coordinator.partitionCount), deadlineMs: nextDeadlineMs(state) };
  };

  // ------------------------------------------------------------ producer ids

  const refillProducerIds = (s: ShellState, ctx: ActorContext<TxnCoordinatorMessage>): void => {
    const { incarnation } = s;
    while (s.producerIdPool.length + s.idsRequested < L.producerIdPoolTarget) {
      s.idsRequested += 1;
      ctx.node
        .ask<unknown, { errorCode?: number; producerId?: number }>(deps.broker, (replyTo) => ({ type: 'InitProducerId', transactionalId: null, transactionTimeoutMs: 0, replyTo }), { timeoutMs: 35_000 })
        .then(
          (reply) => tellSelf(ctx, { type: 'ProducerIdArrived', incarnation, producerId: typeof reply.producerId === 'number' ? reply.producerId : -1, errorCode: reply.errorCode ?? ErrorCode.UNKNOWN_SERVER_ERROR }),
          (err: unknown) => tellSelf(ctx, { type: 'ProducerIdArrived', incarnation, producerId: -1, errorCode: toErrorCode(err) }),
        );
    }
  };

  // ------------------------------------------------------------ partitions

  const unloadPartition = (s: ShellState, ctx: ActorContext<TxnCoordinatorMessage>, partition: number): void => {
    s.loads.delete(partition);
    let count = 0;
    for (const entry of [...s.txns.values()]) {
      if (entry.partition !== partition) continue;
      runStep(s, ctx, entry, { type: 'Unload' });
      if (s.txns.get(entry.state.transactionalId) === entry) s.txns.delete(entry.state.transactionalId);
      count += 1;
    }
    s.coordinator = resign(s.coordinator, partition);
    ctx.log.info({ partition, transactionalIds: count }, txnEvents.unloaded);
  };

  const startLoad = (s: ShellState, ctx: ActorContext<TxnCoordinatorMessage>, partition: number, leaderEpoch: number): void => {
    const current = s.coordinator.partitions.get(partition);
    if (current !== undefined && current.leaderEpoch === leaderEpoch) return;
    if (current !== undefined) unloadPartition(s, ctx, partition);
    s.coordinator = becomeLeader(s.coordinator, partition, leaderEpoch);
    beginRead(s, ctx, partition, leaderEpoch);
  };

  const beginRead = (s: ShellState, ctx: ActorContext<TxnCoordinatorMessage>, partition: number, leaderEpoch: number): void => {
    const view = registry.get(transactionStateTopic, partition);
    s.nextLoadId += 1;
    const job: LoadJob = {
      partition,
      leaderEpoch,
      loadId: s.nextLoadId,
      nextOffset: view?.log.logStartOffset ?? 0,
      endOffset: view?.log.logEndOffset ?? 0,
      records: [],
      skipped: 0,
      startedMs: clock.monotonicMs(),
    };
    s.loads.set(partition, job);
    ctx.log.info({ partition, leaderEpoch, from: job.nextOffset, to: job.endOffset }, txnEvents.loadStarted);
    tellSelf(ctx, { type: 'LoadChunk', incarnation: s.incarnation, partition, loadId: job.loadId });
  };

  const loadChunk = (s: ShellState, ctx: ActorContext<TxnCoordinatorMessage>, partition: number, loadId: number): void => {
    const job = s.loads.get(partition);
    if (job === undefined || job.loadId !== loadId) return;
    const view = registry.get(transactionStateTopic, partition);
    if (view === undefined || view.role !== 'leader' || view.leaderEpoch !== job.leaderEpoch) {
      s.loads.delete(partition);
      ctx.log.info({ partition, leaderEpoch: job.leaderEpoch }, `${txnEvents.loadFailed}: no longer the leader at this epoch`);
      return;
    }
    const chunk = readLoadChunk(view, job.nextOffset, job.endOffset, L.loadChunkBytesMax);
    if (chunk.type === 'ReadFailed' || chunk.type === 'Undecodable') {
      // Never coordinate from a log we cannot read: stay Loading (retriable for clients) and read it again later.
      ctx.log.warn({ partition, offset: job.nextOffset, reason: chunk.reason }, `${txnEvents.loadFailed}: retrying`);
      s.loads.delete(partition);
      s.coordinator = resign(s.coordinator, partition);
      ctx.scheduleOnce(L.loadRetryBackoffMs, { type: 'TxnStatePartitionLed', partition, leaderEpoch: job.leaderEpoch });
      return;
    }
    if (chunk.type === 'Batches') {
      for (const batch of chunk.batches) {
        if (!batch.header.isControl) {
          for (const record of batch.records) {
            if (record.offset < job.nextOffset || record.key === null) continue;
            const parsed = decodeRecord(record.key, record.value);
            if (parsed.ok) job.records.push(parsed.value);
            else job.skipped += 1;
          }
        }
        job.nextOffset = Math.max(job.nextOffset, batch.header.lastOffset + 1);
      }
      if (job.nextOffset < job.endOffset) {
        tellSelf(ctx, { type: 'LoadChunk', incarnation: s.incarnation, partition, loadId });
        return;
      }
    }
    finishLoad(s, ctx, job);
  };

  const finishLoad = (s: ShellState, ctx: ActorContext<TxnCoordinatorMessage>, job: LoadJob): void => {
    s.loads.delete(job.partition);
    const loaded = loadTransactions(job.records, { nowMs: clock.nowMs(), config: txnConfig });
    const entries: Entry[] = [];
    for (const [transactionalId, state] of loaded) {
      const entry = newEntry(s, state);
      s.txns.set(transactionalId, entry);
      entries.push(entry);
    }
    s.coordinator = loadCompleted(s.coordinator, job.partition, job.leaderEpoch);
    if (job.skipped > 0) ctx.log.warn({ partition: job.partition, skipped: job.skipped }, `${txnEvents.loaded}: undecodable records skipped`);
    ctx.log.info({ partition: job.partition, leaderEpoch: job.leaderEpoch, transactionalIds: loaded.size, records: job.records.length, durationMs: Math.round(clock.monotonicMs() - job.startedMs) }, txnEvents.loaded);
    // A Prepare* id writes its markers again now: what the previous coordinator started is finished.
    for (const entry of entries) if (s.txns.get(entry.state.transactionalId) === entry) runStep(s, ctx, entry, { type: 'Tick' });
  };

  const reconcile = (s: ShellState, ctx: ActorContext<TxnCoordinatorMessage>, onlyPartition?: number): void => {
    const plan = planLeadership(registry, transactionStateTopic, s.coordinator, s.loads, onlyPartition);
    for (const partition of plan.unload) unloadPartition(s, ctx, partition);
    for (const { partition, leaderEpoch } of plan.load) startLoad(s, ctx, partition, leaderEpoch);
    for (const { partition, leaderEpoch } of plan.resume) beginRead(s, ctx, partition, leaderEpoch);
  };

  // ------------------------------------------------------------ time

  const tick = (s: ShellState, ctx: ActorContext<TxnCoordinatorMessage>): void => {
    const nowMs = clock.nowMs();
    const due: Entry[] = [];
    for (const entry of s.txns.values()) if (entry.deadlineMs !== null && entry.deadlineMs <= nowMs) due.push(entry);
    for (const entry of due) if (s.txns.get(entry.state.transactionalId) === entry) runStep(s, ctx, entry, { type: 'Tick' });
    const monotonicMs = clock.monotonicMs();
    if (monotonicMs - s.lastReconcileMs >= L.reconcileIntervalMs) {
      s.lastReconcileMs = monotonicMs;
      reconcile(s, ctx);
    }
    ctx.scheduleOnce(L.tickIntervalMs, { type: 'Tick', incarnation: s.incarnation });
  };

  // ------------------------------------------------------------ requests

  const findCoordinator = (s: ShellState, ctx: ActorContext<TxnCoordinatorMessage>, transactionalId: string): TxnCoordinatorReply => {
    const { answer, missing } = coordinatorFor(s.image, transactionStateTopic, transactionalId, coordinatorPartitionFor);
    if (missing) createTopic(s, ctx);
    return answer;
  };

  const createTopic = (s: ShellState, ctx: ActorContext<TxnCoordinatorMessage>): void => {
    const live = liveBrokerCount(s.image);
    if (s.creatingTopic || live === 0) return; // with no live broker yet, a later FindTxnCoordinator asks again
    s.creatingTopic = true;
    const replicationFactor = Math.min(L.topicReplicationFactor, live);
    ctx.log.info({ partitions: config.transactionStateLogNumPartitions, replicationFactor }, txnEvents.createTopic);
    const { incarnation } = s;
    const configs = [
      { name: 'cleanup.policy', value: 'compact' },
      { name: 'segment.bytes', value: String(L.topicSegmentBytes) },
      // Kafka's transaction.state.log.min.isr default: a state write survives one broker's loss.
      { name: 'min.insync.replicas', value: String(Math.min(2, replicationFactor)) },
    ];
    void askCreateInternalTopic(ctx.node, deps.controllerClient, { name: transactionStateTopic, partitions: config.transactionStateLogNumPartitions, replicationFactor, configs }, L.createTopicAskTimeoutMs).then(
      ({ errorCode, errorMessage }) => tellSelf(ctx, { type: 'TopicCreated', incarnation, errorCode, errorMessage }),
    );
  };

  const routeError = (s: ShellState, transactionalId: string): number => {
    if (transactionalId.length === 0) return ErrorCode.INVALID_REQUEST;
    const load = s.coordinator.partitions.get(coordinatorPartitionFor(transactionalId, s.coordinator.partitionCount));
    if (load === undefined) return ErrorCode.NOT_COORDINATOR;
    if (load.status === 'Loading') return ErrorCode.COORDINATOR_LOAD_IN_PROGRESS;
    return ErrorCode.NONE;
  };

  const handleRequest = (s: ShellState, ctx: ActorContext<TxnCoordinatorMessage>, request: Exclude<TxnCoordinatorRequest, { type: 'FindTxnCoordinator' | 'DescribeTransactions' | 'ListTransactions' }>): void => {
    const refuse = (errorCode: number, message: string): void => {
      const reply = refusal(request, errorCode, message);
      if (reply !== null) ctx.node.tell(request.replyTo, reply);
    };
    const routing = routeError(s, request.transactionalId);
    if (routing !== ErrorCode.NONE) return refuse(routing, `broker ${config.brokerId}: ${errorName(routing)} for transactional id ${request.transactionalId}`);
    let entry = s.txns.get(request.transactionalId);
    if (entry === undefined && s.txns.size >= L.txnsMax) {
      ctx.log.warn({ txns: s.txns.size, txnsMax: L.txnsMax }, txnEvents.refusedBound);
      return refuse(ErrorCode.COORDINATOR_NOT_AVAILABLE, `broker ${config.brokerId} holds ${s.txns.size} transactional ids (txnsMax)`);
    }
    if (request.type === 'InitProducerId' || request.type === 'EndTxn') {
      const freshProducerId = s.producerIdPool[0];
      if (freshProducerId === undefined) {
        if (s.waitingForIds.length >= L.waitingForIdsMax) return refuse(ErrorCode.COORDINATOR_NOT_AVAILABLE, `broker ${config.brokerId}: ${L.waitingForIdsMax} requests wait for producer ids`);
        s.waitingForIds.push(request);
        refillProducerIds(s, ctx);
        return;
      }
      entry ??= newEntry(s, emptyTxn(request.transactionalId, txnConfig));
      runStep(s, ctx, entry, { ...request, freshProducerId });
      return;
    }
    entry ??= newEntry(s, emptyTxn(request.transactionalId, txnConfig));
    runStep(s, ctx, entry, request);
  };

  // ------------------------------------------------------------ reads (KIP-664): the committed state, no step, no write

  const describeTransactions = (s: ShellState, transactionalIds: readonly string[]): DescribeTransactionsResponse => ({
    type: 'DescribeTransactionsReply',
    errorCode: ErrorCode.NONE,
    errorMessage: null,
    transactionStates: transactionalIds.map((transactionalId) => {
      const routing = routeError(s, transactionalId);
      const description = routing === ErrorCode.NONE ? describeTxn(s.txns.get(transactionalId)?.state) : { ...describeTxn(undefined), errorCode: routing };
      return { transactionalId, ...description, topics: description.topics.map((t) => ({ topic: t.topic, partitions: [...t.partitions] })) };
    }),
  });

  /** Kafka's answer: COORDINATOR_LOAD_IN_PROGRESS while any partition it leads is loading, else the matching ids it holds. */
  const listTransactions = (s: ShellState, request: ListTransactionsRequest): ListTransactionsResponse => {
    const matcher = txnListMatcher(request, clock.nowMs());
    const loading = [...s.coordinator.partitions.values()].some((p) => p.status === 'Loading');
    if (loading) {
      return { type: 'ListTransactionsReply', errorCode: ErrorCode.COORDINATOR_LOAD_IN_PROGRESS, errorMessage: `broker ${config.brokerId} is loading ${transactionStateTopic}`, unknownStateFilters: [], transactionStates: [] };
    }
    const transactionStates: TransactionListing[] = [];
    for (const entry of s.txns.values()) {
      const t = entry.state;
      if (matcher.matches(t)) transactionStates.push({ transactionalId: t.transactionalId, producerId: t.meta!.producerId, transactionState: t.meta!.state });
    }
    return { type: 'ListTransactionsReply', errorCode: ErrorCode.NONE, errorMessage: null, unknownStateFilters: [...matcher.unknownStateFilters], transactionStates };
  };

  const handleWire = (s: ShellState, ctx: ActorContext<TxnCoordinatorMessage>, raw: unknown): void => {
    const request = validateTxnCoordinatorRequest(raw);
    if (isInvalid(request)) {
      const type = typeof raw === 'object' && raw !== null ? printable((raw as { type?: unknown }).type) : printable(raw);
      ctx.log.warn({ type, reason: request.errorMessage }, txnEvents.badRequest);
      const to = replyTargetOf(raw);
      const reply = to === null ? null : refusal({ type, partitions: (raw as { partitions?: TopicPartition[] }).partitions ?? [] }, request.errorCode, request.errorMessage);
      if (to !== null && reply !== null) ctx.node.tell(to, reply);
      return;
    }
    switch (request.type) {
      case 'FindTxnCoordinator':
        ctx.node.tell(request.replyTo, findCoordinator(s, ctx, request.transactionalId));
        return;
      case 'DescribeTransactions':
        ctx.node.tell(request.replyTo, describeTransactions(s, request.transactionalIds));
        return;
      case 'ListTransactions':
        ctx.node.tell(request.replyTo, listTransactions(s, request));
        return;
      default:
        handleRequest(s, ctx, request);
    }
  };

  const handleInternal = (s: ShellState, ctx: ActorContext<TxnCoordinatorMessage>, msg: Internal): void => {
    switch (msg.type) {
      case 'TxnStatePartitionLed':
      case 'TxnStatePartitionResigned':
        if (Number.isSafeInteger(msg.partition) && msg.partition >= 0) reconcile(s, ctx, msg.partition);
        return;
      case 'MetadataImageUpdated': {
        if (msg.image.appliedOffset < s.image.appliedOffset) return;
        s.image = msg.image;
        const count = topicByName(msg.image, transactionStateTopic)?.partitions.length;
        if (count !== undefined) {
          s.creatingTopic = false;
          if (count !== s.coordinator.partitionCount) {
            ctx.log.warn({ configured: s.coordinator.partitionCount, actual: count }, `${transactionStateTopic} has a partition count other than transaction.state.log.num.partitions; using the topic's`);
            for (const partition of [...s.coordinator.partitions.keys()]) unloadPartition(s, ctx, partition);
            s.coordinator = initialCoordinatorState(count);
            reconcile(s, ctx);
          }
        }
        return;
      }
      case 'TopicCreated':
        if (msg.incarnation !== s.incarnation) return;
        if (msg.errorCode !== ErrorCode.NONE && msg.errorCode !== ErrorCode.TOPIC_ALREADY_EXISTS) {
          ctx.log.warn({ errorCode: msg.errorCode, reason: msg.errorMessage }, `${txnEvents.createTopic}: failed, a later FindTxnCoordinator retries`);
          s.creatingTopic = false;
        }
        return;
      case 'Tick':
        if (msg.incarnation === s.incarnation) tick(s, ctx);
        return;
      case 'LoadChunk':
        if (msg.incarnation === s.incarnation) loadChunk(s, ctx, msg.partition, msg.loadId);
        return;
      case 'PersistDone': {
        if (msg.incarnation !== s.incarnation) return;
        const entry = s.txns.get(msg.transactionalId);
        if (entry === undefined || entry.entryId !== msg.entryId || entry.state.pending?.persistId !== msg.persistId) return;
        runStep(s, ctx, entry, { type: 'PersistCompleted', persistId: msg.persistId, errorCode: msg.errorCode });
        return;
      }
      case 'MarkerDone': {
        if (msg.incarnation !== s.incarnation) return;
        const entry = s.txns.get(msg.transactionalId);
        if (entry === undefined || entry.entryId !== msg.entryId) return;
        const job = entry.state.markers;
        if (job === null || job.producerId !== msg.producerId || job.producerEpoch !== msg.producerEpoch || job.result !== msg.result) return;
        // A partition that already holds a newer epoch of this producer has seen the end of this transaction.
        const written = msg.errorCode === ErrorCode.NONE || msg.errorCode === ErrorCode.INVALID_PRODUCER_EPOCH;
        if (!written) ctx.log.info({ transactionalId: msg.transactionalId, topic: msg.partition.topic, partition: msg.partition.partition, error: errorName(msg.errorCode) }, txnEvents.markerFailed);
        const base = { producerId: msg.producerId, producerEpoch: msg.producerEpoch, result: msg.result, partitions: [msg.partition] };
        runStep(s, ctx, entry, written ? { type: 'MarkersWritten', ...base } : { type: 'MarkersFailed', ...base, errorCode: msg.errorCode });
        return;
      }
      case 'ProducerIdArrived': {
        if (msg.incarnation !== s.incarnation) return;
        s.idsRequested = Math.max(0, s.idsRequested - 1);
        if (msg.errorCode === ErrorCode.NONE && msg.producerId >= 0) s.producerIdPool.push(msg.producerId);
        else {
          ctx.log.warn({ error: errorName(msg.errorCode) }, 'transactions.producer_id_unavailable');
          const waiting = s.waitingForIds.splice(0);
          for (const request of waiting) {
            const reply = refusal(request, ErrorCode.COORDINATOR_NOT_AVAILABLE, `no producer ids: ${errorName(msg.errorCode)}`);
            if (reply !== null) ctx.node.tell(request.replyTo, reply);
          }
          return;
        }
        const waiting = s.waitingForIds.splice(0);
        for (const request of waiting) handleRequest(s, ctx, request);
        return;
      }
    }
  };

  return {
    accepts: transactionsProtocol,
    init: (ctx) => {
      assert(config.transactionStateLogNumPartitions >= 1, 'transaction.state.log.num.partitions >= 1');
      const s: ShellState = {
        incarnation: randomUUID(),
        coordinator: initialCoordinatorState(config.transactionStateLogNumPartitions),
        image: emptyImage,
        txns: new Map(),
        loads: new Map(),
        producerIdPool: [],
        idsRequested: 0,
        waitingForIds: [],
        creatingTopic: false,
        nextEntryId: 0,
        nextLoadId: 0,
        lastReconcileMs: Number.NEGATIVE_INFINITY,
      };
      ctx.node.tell(ctx.self, { type: 'Tick', incarnation: s.incarnation });
      // Also after a restart: the client answers every subscribe with its current image (and keeps one subscription per ref).
      ctx.node.tell(deps.controllerClient, { type: 'SubscribeMetadata', subscriber: ctx.self });
      return s;
    },
    receive: (s, msg, ctx) => {
      if (isInternal(msg)) {
        handleInternal(s, ctx, msg);
        return s;
      }
      handleWire(s, ctx, msg);
      return s;
    },
  };
}

export { coordinatorPartitionFor, transactionStateTopic } from './txn-records.ts';
