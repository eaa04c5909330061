/**
 * The group coordinator's nact shell: `/groups` on every broker node, around
 * the pure logic of group-logic.ts (one GroupState per group),
 * coordinator-logic.ts (which `__consumer_offsets` partitions this broker
 * leads and loads) and offsets-records.ts (the records).
 *
 * Owns: every GroupState of the groups whose offsets partition this broker
 * leads; the loads of those partitions; the writes to them; FindCoordinator
 * (from the metadata image, creating `__consumer_offsets` on first use).
 *
 * Structure (why one actor): every group lives in one Map in this actor's
 * state, not in a child actor per group. nact copies an actor's children per
 * message, a group's step is microseconds, and one mailbox gives a total order
 * between a partition's load, its groups' requests and its resignation for
 * free. The cost is that one slow group step delays the others; step is
 * O(members of that group) and group.max.size bounds that.
 *
 * Who may send what: the network only the wire API (groupsProtocol, every
 * request validated with actor-messages.ts); the runtime refuses every other
 * type from a remote origin before this actor runs (runtime/protocol.ts). So
 * the local messages (`OffsetsPartitionLed` and the rest of
 * GroupsLocalMessage from this node's broker and controller client, timers,
 * adapted asks) are recognised by their type: a peer can never forge
 * `OffsetsPartitionLed`, a metadata image, or a write's completion.
 *
 * The order the shell follows (group-logic.ts's header):
 * 1. Route: `routeError` (NOT_COORDINATOR, COORDINATOR_LOAD_IN_PROGRESS,
 *    INVALID_GROUP_ID); then the shell's own bounds (groupsMax,
 *    persistsInFlightMax, parkedRequestsMax) answer COORDINATOR_NOT_AVAILABLE.
 * 2. `step(state, input, nowMs)` with `clock.nowMs()`; a JoinGroup gets a fresh
 *    `memberIdSuffix` (randomUUID).
 * 3. Effects in order: `Reply` is told now; `Persist*` is encoded as ONE
 *    record batch and sent as a Produce (acks -1) to the local replica actor
 *    `/replicas/__consumer_offsets-<p>` by an ask (the runtime's correlation
 *    ids); the answer is adapted into `PersistDone` and fed back as
 *    `PersistCompleted` strictly in issue order per group (a reply that
 *    arrives early waits for the ones issued before it). `ScheduleDeadline`
 *    is covered by the tick below.
 * 4. A state that `isDisposable` is dropped (a later request starts from
 *    `emptyGroup`).
 * Every persist completes: by the replica's answer, the ask's timeout, or the
 * tick's sweep of writes older than persistGiveUpMs (REQUEST_TIMED_OUT).
 *
 * Time: a `Tick` every tickIntervalMs steps at most tickGroupsMax groups whose
 * `nextDeadlineMs` has passed or whose offsets retention check is due (every
 * offsetsRetentionCheckIntervalMs, `ExpireOffsets` for each group, spread over
 * ticks; if more work is due, the next tick comes at once), sweeps overdue
 * writes, and every reconcileIntervalMs compares the registry with what we lead.
 *
 * Loading: `OffsetsPartitionLed{partition, leaderEpoch}` (repeats for the same
 * epoch are ignored) marks the partition Loading and reads its log through
 * the registry, from the log start to the log end offset seen when the load
 * began (the new leader's log holds every committed record; nothing else
 * writes to it while it loads, since its groups answer
 * COORDINATOR_LOAD_IN_PROGRESS), at most loadChunkBytesMax per message so
 * other partitions' requests interleave; then `loadGroups`, install, Active.
 * `OffsetsPartitionResigned` `Unload`s each group of the partition (parked
 * requests get NOT_COORDINATOR) and drops them. The broker's messages are a
 * fast path: the registry views (role 'leader' and leaderEpoch of
 * `__consumer_offsets-*`) are the truth, re-read at start and every
 * reconcileIntervalMs, so a restart or a lost message heals by itself.
 *
 * Transactions (Kafka's storeOffsets with a producer id, handleTxnCompletion):
 * a TxnOffsetCommit's offsets are written as ONE transactional batch of the
 * request's producer id and epoch with base sequence -1 (a coordinator's
 * write: the partition checks only the epoch) and staged in the group once
 * written (group-logic.ts). When the transaction coordinator's marker is
 * written into a partition this broker leads, the broker tells
 * `/groups` `TxnMarkerWritten{partition, producerId, producerEpoch,
 * result}`; every group of that partition then gets `CompleteTxnOffsets`
 * (commit: the staged offsets become committed, with no write; abort: they
 * are dropped). A load replays transactional batches and control batches
 * with offsets-records.ts `replayOffsetsLog`; markers told while the
 * partition loads are kept (at most loadMarkersMax) and applied after it,
 * except those the load read from the log itself (matched by producer id,
 * epoch and result), so no marker is applied twice.
 *
 * Supervision (restartWithBackoff, the default): a failed assert or bug
 * restarts `/groups` with an empty state; it re-derives the partitions it
 * leads from the registry and reloads them from the log (the committed state
 * is there). Parked requests of the old incarnation are lost (clients time
 * out and retry); late answers to its writes and its timers carry the old
 * incarnation id and are ignored.
 */
import { randomUUID } from 'node:crypto';
import { ErrorCode, errorName, toErrorCode } from '../../protocol/errors.ts';
import type { ProduceReply, Produce } from '../../protocol/apis/data.ts';
import { isInvalid, printable } from '../../protocol/validate.ts';
import { decodeControlRecord, encodeBatch, noSequence } from '../../protocol/record-batch/index.ts';
import { askCreateInternalTopic, coordinatorFor, liveBrokerCount, planLeadership, readLoadChunk } from '../coordinator-shell.ts';
import type { ActorContext, Behaviour, Node } from '../../runtime/node.ts';
import type { Ref } from '../../runtime/ref.ts';
import type { RemoteProtocol } from '../../runtime/protocol.ts';
import type { Clock } from '../../runtime/clock.ts';
import { assert } from '../../runtime/assert.ts';
import type { PartitionRegistry } from '../partition/registry.ts';
import { emptyImage, topicByName, type MetadataImage } from '../controller/metadata/index.ts';
import type { BrokerConfig } from '../broker/config.ts';
import { becomeLeader, initialCoordinatorState, listGroups, loadCompleted, resign, routeError, type CoordinatorState } from './coordinator-logic.ts';
import {
  emptyGroup,
  groupConfigDefault,
  isDisposable,
  nextDeadlineMs,
  step,
  type GroupConfig,
  type GroupEffect,
  type GroupInput,
  type GroupState,
} from './group-logic.ts';
import { coordinatorPartitionFor, decodeRecord, encodeRecord, replayOffsetsLog, type OffsetsLogEntry, type OffsetsTopicRecord } from './offsets-records.ts';
import { errorReplyFor, replyTargetOf, validateWireRequest, wireRequestTypes, type FindCoordinatorReply, type GroupRequest, type WireReply, type WireRequest } from './actor-messages.ts';

const MiB = 1024 * 1024;

export const offsetsTopic = '__consumer_offsets';

/** The shell's bounds and periods. */
export const groupCoordinatorLimits = Object.freeze({
  /** Groups held per broker; a request that would create one more gets COORDINATOR_NOT_AVAILABLE. */
  groupsMax: 10_000,
  /** Writes to __consumer_offsets in flight per broker; past it, requests that may write get COORDINATOR_NOT_AVAILABLE. */
  persistsInFlightMax: 4_096,
  /** Parked JoinGroup/SyncGroup requests per broker; past it, new ones get COORDINATOR_NOT_AVAILABLE. */
  parkedRequestsMax: 20_000,
  /** How often deadlines are checked. */
  tickIntervalMs: 100,
  /** Groups stepped with Tick per tick message. */
  tickGroupsMax: 1_000,
  /** How often the led partitions are compared with the registry. */
  reconcileIntervalMs: 1_000,
  /** Bytes of a partition's log read per load message. */
  loadChunkBytesMax: 1 * MiB,
  /** Wait before retrying a load that failed to read. */
  loadRetryBackoffMs: 500,
  /** Produce timeout (acks=all) of one write. */
  persistTimeoutMs: 5_000,
  /** Extra time the ask waits for the replica's answer beyond the produce timeout. */
  persistReplySlackMs: 2_000,
  /** A write unanswered for this long is completed with REQUEST_TIMED_OUT by the tick. */
  persistGiveUpMs: 10_000,
  /** The controller call that creates __consumer_offsets (the controller client retries within 30 s). */
  createTopicAskTimeoutMs: 35_000,
  /** offsets.retention.minutes (Kafka's default, 7 days), in ms: ExpireOffsets' retention. */
  offsetsRetentionMs: 7 * 24 * 60 * 60 * 1000,
  /** offsets.retention.check.interval.ms: how often every group is stepped with ExpireOffsets. */
  offsetsRetentionCheckIntervalMs: 600_000,
  /** segment.bytes of __consumer_offsets (Kafka's default for it). */
  offsetsTopicSegmentBytes: 100 * MiB,
  /** Transaction markers told while one partition loads, kept to apply after it; past it the load restarts (the log holds them). */
  loadMarkersMax: 10_000,
});
assert(groupCoordinatorLimits.persistGiveUpMs > groupCoordinatorLimits.persistTimeoutMs + groupCoordinatorLimits.persistReplySlackMs, 'a write is given up only after its ask timed out');
assert(groupCoordinatorLimits.tickGroupsMax >= 1, 'a tick steps at least one group');

export type GroupCoordinatorDeps = {
  config: Pick<BrokerConfig, 'brokerId' | 'offsetsTopicNumPartitions' | 'offsetsTopicReplicationFactor' | 'groupInitialRebalanceDelayMs'>;
  registry: PartitionRegistry;
  clock: Clock;
  controllerClient: Ref<unknown>;
  /** Overrides of the group logic's config (tests use short session timeouts). */
  groupConfig?: Partial<GroupConfig>;
  /** Overrides of offsets retention (tests): defaults groupCoordinatorLimits.offsetsRetention*. */
  offsetsRetention?: { retentionMs: number; checkIntervalMs: number };
};

/** What the broker and the controller client tell `/groups` (local only: not in groupsProtocol). */
export type GroupsLocalMessage =
  | { type: 'OffsetsPartitionLed'; partition: number; leaderEpoch: number }
  | { type: 'OffsetsPartitionResigned'; partition: number }
  | { type: 'MetadataImageUpdated'; image: MetadataImage; previous: MetadataImage }
  /** A transaction's end marker was written into `__consumer_offsets-<partition>`, which this broker leads. */
  | { type: 'TxnMarkerWritten'; partition: number; producerId: number; producerEpoch: number; result: 'commit' | 'abort' };

type TxnMarker = Extract<GroupsLocalMessage, { type: 'TxnMarkerWritten' }>;

/** Internal messages: from this node's broker and controller client, timers and adapted asks; never from the network. */
type Internal =
  | GroupsLocalMessage
  | { type: 'Tick'; incarnation: string }
  | { type: 'LoadChunk'; incarnation: string; partition: number; loadId: number }
  | { type: 'PersistDone'; incarnation: string; groupId: string; entryId: number; persistId: number; errorCode: number }
  | { type: 'OffsetsTopicCreated'; incarnation: string; errorCode: number; errorMessage: string };

/** The types of Internal: none is in groupsProtocol, so only this node's own code can send them. */
const internalTypes: ReadonlySet<string> = new Set<Internal['type']>([
  'OffsetsPartitionLed',
  'OffsetsPartitionResigned',
  'MetadataImageUpdated',
  'TxnMarkerWritten',
  'Tick',
  'LoadChunk',
  'PersistDone',
  'OffsetsTopicCreated',
]);

function isInternal(message: unknown): message is Internal {
  return typeof message === 'object' && message !== null && typeof (message as { type?: unknown }).type === 'string' && internalTypes.has((message as { type: string }).type);
}

export type GroupsMessage = Internal | WireRequest;

type GroupEntry = {
  state: GroupState;
  /** Unique within an incarnation: a late write answer for a dropped and re-created group is ignored. */
  readonly entryId: number;
  readonly partition: number;
  /** Writes not yet fed back, in issue order. */
  inflight: { persistId: number; issuedMs: number }[];
  /** Answers that arrived before an earlier write's: persistId -> errorCode. */
  early: Map<number, number>;
  deadlineMs: number | null;
  /** Parked JoinGroup/SyncGroup requests of this group. */
  parked: number;
};

type LoadJob = {
  partition: number;
  leaderEpoch: number;
  loadId: number;
  nextOffset: number;
  endOffset: number;
  entries: OffsetsLogEntry[];
  /** `${producerId}:${producerEpoch}:${result}` of the markers this load read from the log. */
  markersRead: Set<string>;
  startedMs: number;
  skipped: number;
};

const markerKey = (m: { producerId: number; producerEpoch: number; result: 'commit' | 'abort' }): string => `${m.producerId}:${m.producerEpoch}:${m.result}`;

type ShellState = {
  readonly incarnation: string;
  coordinator: CoordinatorState;
  image: MetadataImage;
  groups: Map<string, GroupEntry>;
  loads: Map<number, LoadJob>;
  /** Per loading partition: the transaction markers told during its load, applied after it. */
  markersWhileLoading: Map<number, TxnMarker[]>;
  /** `${entryId}:${persistId}` of writes whose answer has not been handled. */
  persistsInFlight: Set<string>;
  parkedRequests: number;
  creatingOffsetsTopic: boolean;
  nextEntryId: number;
  nextLoadId: number;
  lastReconcileMs: number;
  lastExpiryMs: number;
  /** Groups still to be stepped with ExpireOffsets in this retention check (a few per tick). */
  expiring: string[];
};

/** Stable event names of this component's logs. */
export const groupsEvents = Object.freeze({
  loadStarted: 'groups.partition_load_started',
  loaded: 'groups.partition_loaded',
  loadFailed: 'groups.partition_load_failed',
  unloaded: 'groups.partition_unloaded',
  badRequest: 'groups.invalid_request',
  createTopic: 'groups.offsets_topic_create',
  persistGivenUp: 'groups.persist_given_up',
  refusedBound: 'groups.refused_by_bound',
});

export type GroupCoordinatorRefs = { groups: Ref<GroupsMessage> };

/** What the network may send `/groups`: the wire API, from clients and peers alike (runtime/protocol.ts). */
export const groupsProtocol: RemoteProtocol = { client: Object.fromEntries([...wireRequestTypes].map((type) => [type, true] as const)) };

/** One committed offset of a group this coordinator holds (for the consumer lag metric). */
export type GroupCommittedOffset = { readonly groupId: string; readonly topic: string; readonly partition: number; readonly offset: number };

/** Per node: how to read its coordinator's committed offsets (set at the actor's init). */
const offsetReaders = new WeakMap<Node, () => GroupCommittedOffset[]>();

/**
 * Every committed offset of the groups `node`'s `/groups` coordinates now (the groups whose
 * `__consumer_offsets` partition it leads and has loaded), at most `limit`; [] when it runs none.
 * O(committed offsets): call it per scrape, not per request.
 */
export function groupCommittedOffsets(node: Node, limit = Number.MAX_SAFE_INTEGER): GroupCommittedOffset[] {
  const offsets = offsetReaders.get(node)?.() ?? [];
  return offsets.length > limit ? offsets.slice(0, limit) : offsets;
}

function committedOffsetsOf(s: ShellState): GroupCommittedOffset[] {
  const out: GroupCommittedOffset[] = [];
  for (const [groupId, entry] of s.groups) {
    for (const [topic, partitions] of entry.state.offsets) for (const [partition, committed] of partitions) out.push({ groupId, topic, partition, offset: committed.offset });
  }
  return out;
}

/** Spawns `/groups` (top-level, no children). Give the broker its ref: it tells it GroupsLocalMessage. */
export function spawnGroupCoordinator(node: Node, deps: GroupCoordinatorDeps): GroupCoordinatorRefs {
  return { groups: node.spawn('groups', groupCoordinatorBehaviour(deps)) };
}

export function groupCoordinatorBehaviour(deps: GroupCoordinatorDeps): Behaviour<ShellState, GroupsMessage> {
  const { registry, clock, config } = deps;
  const L = groupCoordinatorLimits;
  const groupConfig: GroupConfig = { ...groupConfigDefault, initialRebalanceDelayMs: config.groupInitialRebalanceDelayMs, ...deps.groupConfig };
  const retention = deps.offsetsRetention ?? { retentionMs: L.offsetsRetentionMs, checkIntervalMs: L.offsetsRetentionCheckIntervalMs };
  assert(retention.retentionMs >= 0 && retention.checkIntervalMs > 0, 'offsets retention: non-negative retention, positive check interval');

  const tellSelf = (ctx: ActorContext<GroupsMessage>, message: Internal): void => {
    if (ctx.node.tell(ctx.self, message) !== 0) ctx.scheduleOnce(L.tickIntervalMs, message);
  };
  const replicaRef = (ctx: ActorContext<GroupsMessage>, partition: number): Ref<Produce> => ({ node: ctx.node.nodeId, path: `/replicas/${offsetsTopic}-${partition}` });

  // ------------------------------------------------------------ stepping a group

  const countParked = (g: GroupState): number => {
    let n = 0;
    for (const m of g.members.values()) {
      if (m.joinReplyTo !== null) n += 1;
      if (m.syncReplyTo !== null) n += 1;
    }
    return n;
  };

  const runStep = (s: ShellState, ctx: ActorContext<GroupsMessage>, entry: GroupEntry, input: GroupInput): void => {
    const nowMs = clock.nowMs();
    const [next, effects] = step(entry.state, input, nowMs);
    entry.state = next;
    for (const effect of effects) runEffect(s, ctx, entry, effect, nowMs);
    const parked = countParked(next);
    s.parkedRequests += parked - entry.parked;
    entry.parked = parked;
    entry.deadlineMs = nextDeadlineMs(next);
    const groupId = next.groupId;
    if (isDisposable(next)) {
      if (s.groups.get(groupId) === entry) {
        s.groups.delete(groupId);
        s.parkedRequests -= entry.parked;
        entry.parked = 0;
      }
    } else if (!s.groups.has(groupId)) {
      s.groups.set(groupId, entry);
    }
  };

  const runEffect = (s: ShellState, ctx: ActorContext<GroupsMessage>, entry: GroupEntry, effect: GroupEffect, nowMs: number): void => {
    switch (effect.type) {
      case 'Reply':
        ctx.node.tell(effect.to as Ref<unknown>, effect.reply);
        return;
      case 'PersistGroupMetadata':
      case 'PersistOffsets':
        persist(s, ctx, entry, effect.persistId, effect.records, nowMs, null);
        return;
      case 'PersistTxnOffsets':
        persist(s, ctx, entry, effect.persistId, effect.records, nowMs, { producerId: effect.producerId, producerEpoch: effect.producerEpoch });
        return;
      case 'ScheduleDeadline':
        return; // the tick reads entry.deadlineMs
    }
  };

  /** `txn`: a transactional batch of that producer (TxnOffsetCommit), base sequence -1 (the partition checks only the epoch). */
  const persist = (
    s: ShellState,
    ctx: ActorContext<GroupsMessage>,
    entry: GroupEntry,
    persistId: number,
    records: readonly OffsetsTopicRecord[],
    nowMs: number,
    txn: { producerId: number; producerEpoch: number } | null,
  ): void => {
    const batch = encodeBatch({
      records: records.map((r) => {
        const encoded = encodeRecord(r);
        return { key: encoded.key, value: encoded.value, timestamp: nowMs };
      }),
      ...(txn === null ? {} : { isTransactional: true, producerId: txn.producerId, producerEpoch: txn.producerEpoch, baseSequence: noSequence }),
    });
    entry.inflight.push({ persistId, issuedMs: nowMs });
    const key = `${entry.entryId}:${persistId}`;
    s.persistsInFlight.add(key);
    const { incarnation } = s;
    const groupId = entry.state.groupId;
    const entryId = entry.entryId;
    const partition = entry.partition;
    const done = (errorCode: number): void => tellSelf(ctx, { type: 'PersistDone', incarnation, groupId, entryId, persistId, errorCode });
    ctx.node
      .ask<Produce, ProduceReply>(
        replicaRef(ctx, partition),
        (replyTo) => ({ type: 'Produce', topic: offsetsTopic, partition, acks: -1, timeoutMs: L.persistTimeoutMs, batch, replyTo }),
        { timeoutMs: L.persistTimeoutMs + L.persistReplySlackMs },
      )
      .then(
        (reply) => done(typeof reply.errorCode === 'number' ? reply.errorCode : ErrorCode.UNKNOWN_SERVER_ERROR),
        // No replica actor here: this broker does not host (lead) the partition any more.
        (err: unknown) => done(toErrorCode(err) === ErrorCode.BROKER_NOT_AVAILABLE ? ErrorCode.NOT_LEADER_OR_FOLLOWER : toErrorCode(err)),
      );
  };

  /** Feeds the answers of `entry`'s writes back in issue order. */
  const drainCompletions = (s: ShellState, ctx: ActorContext<GroupsMessage>, entry: GroupEntry): void => {
    while (entry.inflight.length > 0) {
      const head = entry.inflight[0]!;
      const errorCode = entry.early.get(head.persistId);
      if (errorCode === undefined) return;
      entry.inflight.shift();
      entry.early.delete(head.persistId);
      s.persistsInFlight.delete(`${entry.entryId}:${head.persistId}`);
      runStep(s, ctx, entry, { type: 'PersistCompleted', persistId: head.persistId, errorCode });
    }
  };

  const newEntry = (s: ShellState, state: GroupState): GroupEntry => {
    s.nextEntryId += 1;
    return {
      state,
      entryId: s.nextEntryId,
      partition: coordinatorPartitionFor(state.groupId, s.coordinator.partitionCount),
      inflight: [],
      early: new Map(),
      deadlineMs: nextDeadlineMs(state),
      parked: countParked(state),
    };
  };

  // ------------------------------------------------------------ partitions

  const unloadPartition = (s: ShellState, ctx: ActorContext<GroupsMessage>, partition: number): void => {
    s.loads.delete(partition);
    s.markersWhileLoading.delete(partition);
    let count = 0;
    for (const entry of [...s.groups.values()]) {
      if (entry.partition !== partition) continue;
      runStep(s, ctx, entry, { type: 'Unload' });
      if (s.groups.get(entry.state.groupId) === entry) {
        s.groups.delete(entry.state.groupId);
        s.parkedRequests -= entry.parked;
      }
      for (const w of entry.inflight) s.persistsInFlight.delete(`${entry.entryId}:${w.persistId}`);
      count += 1;
    }
    s.coordinator = resign(s.coordinator, partition);
    ctx.log.info({ partition, groups: count }, groupsEvents.unloaded);
  };

  const startLoad = (s: ShellState, ctx: ActorContext<GroupsMessage>, partition: number, leaderEpoch: number): void => {
    const current = s.coordinator.partitions.get(partition);
    if (current !== undefined && current.leaderEpoch === leaderEpoch) return; // a repeat (ISR-only change)
    if (current !== undefined) unloadPartition(s, ctx, partition);
    s.coordinator = becomeLeader(s.coordinator, partition, leaderEpoch);
    beginRead(s, ctx, partition, leaderEpoch, clock.monotonicMs());
  };

  const beginRead = (s: ShellState, ctx: ActorContext<GroupsMessage>, partition: number, leaderEpoch: number, startedMs: number): void => {
    const view = registry.get(offsetsTopic, partition);
    s.nextLoadId += 1;
    const job: LoadJob = {
      partition,
      leaderEpoch,
      loadId: s.nextLoadId,
      nextOffset: view?.log.logStartOffset ?? 0,
      endOffset: view?.log.logEndOffset ?? 0,
      entries: [],
      markersRead: new Set(),
      startedMs,
      skipped: 0,
    };
    s.loads.set(partition, job);
    ctx.log.info({ partition, leaderEpoch, from: job.nextOffset, to: job.endOffset }, groupsEvents.loadStarted);
    tellSelf(ctx, { type: 'LoadChunk', incarnation: s.incarnation, partition, loadId: job.loadId });
  };

  const loadChunk = (s: ShellState, ctx: ActorContext<GroupsMessage>, partition: number, loadId: number): void => {
    const job = s.loads.get(partition);
    if (job === undefined || job.loadId !== loadId) return;
    const view = registry.get(offsetsTopic, partition);
    if (view === undefined || view.role !== 'leader' || view.leaderEpoch !== job.leaderEpoch) {
      // Leadership moved on: the broker's next message (or reconciliation) says what to do.
      s.loads.delete(partition);
      ctx.log.info({ partition, leaderEpoch: job.leaderEpoch }, `${groupsEvents.loadFailed}: no longer the leader at this epoch`);
      return;
    }
    const chunk = readLoadChunk(view, job.nextOffset, job.endOffset, L.loadChunkBytesMax);
    if (chunk.type === 'ReadFailed') {
      ctx.log.warn({ partition, offset: job.nextOffset, reason: chunk.reason }, `${groupsEvents.loadFailed}: read failed, retrying`);
      s.loads.delete(partition);
      s.nextLoadId += 1;
      const retryId = s.nextLoadId;
      s.loads.set(partition, {
        ...job,
        loadId: retryId,
        nextOffset: view.log.logStartOffset,
        endOffset: view.log.logEndOffset,
        entries: [],
        markersRead: new Set(),
        skipped: 0,
      });
      ctx.scheduleOnce(L.loadRetryBackoffMs, { type: 'LoadChunk', incarnation: s.incarnation, partition, loadId: retryId });
      return;
    }
    if (chunk.type === 'Undecodable') {
      // Never serve groups from a log we cannot read: stay Loading (retriable for clients) and retry.
      ctx.log.error({ partition, offset: job.nextOffset, reason: chunk.reason }, `${groupsEvents.loadFailed}: undecodable batch`);
      ctx.scheduleOnce(L.loadRetryBackoffMs, { type: 'LoadChunk', incarnation: s.incarnation, partition, loadId });
      return;
    }
    if (chunk.type === 'Batches') {
      for (const batch of chunk.batches) {
        const header = batch.header;
        if (header.isControl) {
          // A transaction's end marker (one record); other control records are not ours.
          const record = batch.records[0];
          if (header.isTransactional && record !== undefined && record.offset >= job.nextOffset) {
            const marker = decodeControlRecord(record);
            if (marker.ok) {
              const m = { type: 'TxnMarker', producerId: header.producerId, producerEpoch: header.producerEpoch, result: marker.value.type } as const;
              job.entries.push(m);
              job.markersRead.add(markerKey(m));
            } else {
              job.skipped += 1;
            }
          }
        } else {
          const records: OffsetsTopicRecord[] = [];
          for (const record of batch.records) {
            if (record.offset < job.nextOffset || record.key === null) continue;
            const parsed = decodeRecord(record.key, record.value);
            if (parsed.ok) records.push(parsed.value);
            else job.skipped += 1;
          }
          if (header.isTransactional) {
            if (records.length > 0) job.entries.push({ type: 'TxnOffsets', producerId: header.producerId, producerEpoch: header.producerEpoch, records });
          } else {
            for (const record of records) job.entries.push({ type: 'Record', record });
          }
        }
        job.nextOffset = Math.max(job.nextOffset, header.lastOffset + 1);
      }
      if (job.nextOffset < job.endOffset) {
        tellSelf(ctx, { type: 'LoadChunk', incarnation: s.incarnation, partition, loadId });
        return;
      }
    }
    finishLoad(s, ctx, job);
  };

  const finishLoad = (s: ShellState, ctx: ActorContext<GroupsMessage>, job: LoadJob): void => {
    s.loads.delete(job.partition);
    const replayed = replayOffsetsLog(job.entries, { nowMs: clock.nowMs(), config: groupConfig });
    const loaded = replayed.groups;
    job.skipped += replayed.skipped;
    for (const [groupId, state] of loaded) {
      const existing = s.groups.get(groupId);
      if (existing !== undefined) s.parkedRequests -= existing.parked;
      const entry = newEntry(s, state);
      s.parkedRequests += entry.parked;
      s.groups.set(groupId, entry);
    }
    s.coordinator = loadCompleted(s.coordinator, job.partition, job.leaderEpoch);
    // Markers written while the load read the log: those past what it read decide the staged offsets now.
    const told = s.markersWhileLoading.get(job.partition) ?? [];
    s.markersWhileLoading.delete(job.partition);
    for (const marker of told) if (!job.markersRead.has(markerKey(marker))) completeTxn(s, ctx, marker);
    if (job.skipped > 0) ctx.log.warn({ partition: job.partition, skipped: job.skipped }, `${groupsEvents.loaded}: undecodable records skipped`);
    ctx.log.info({ partition: job.partition, leaderEpoch: job.leaderEpoch, groups: loaded.size, entries: job.entries.length, durationMs: Math.round(clock.monotonicMs() - job.startedMs) }, groupsEvents.loaded);
  };

  /** A transaction's marker is in `marker.partition`'s log: every group there with its offsets staged or in flight learns the result. */
  const completeTxn = (s: ShellState, ctx: ActorContext<GroupsMessage>, marker: TxnMarker): void => {
    for (const entry of [...s.groups.values()]) {
      if (entry.partition !== marker.partition) continue;
      if (!entry.state.stagedTxnOffsets.has(marker.producerId) && entry.state.pendingPersists.size === 0) continue;
      if (s.groups.get(entry.state.groupId) !== entry) continue;
      runStep(s, ctx, entry, { type: 'CompleteTxnOffsets', producerId: marker.producerId, producerEpoch: marker.producerEpoch, result: marker.result });
    }
  };

  const txnMarkerWritten = (s: ShellState, ctx: ActorContext<GroupsMessage>, marker: TxnMarker): void => {
    const valid =
      Number.isSafeInteger(marker.partition) &&
      marker.partition >= 0 &&
      Number.isSafeInteger(marker.producerId) &&
      marker.producerId >= 0 &&
      Number.isSafeInteger(marker.producerEpoch) &&
      marker.producerEpoch >= 0 &&
      (marker.result === 'commit' || marker.result === 'abort');
    if (!valid) {
      ctx.log.warn({ partition: marker.partition, producerId: marker.producerId }, `${groupsEvents.badRequest}: a malformed TxnMarkerWritten`);
      return;
    }
    const status = s.coordinator.partitions.get(marker.partition)?.status;
    if (status === 'Active') return completeTxn(s, ctx, marker);
    // Not ours (the load of a later leadership reads the marker from the log) or loading (keep it for the end of the load).
    if (status !== 'Loading') return;
    const told = s.markersWhileLoading.get(marker.partition) ?? [];
    s.markersWhileLoading.set(marker.partition, told);
    told.push(marker);
    if (told.length > L.loadMarkersMax) {
      // Too many to keep: read the log again to its new end, which holds them all.
      ctx.log.warn({ partition: marker.partition, markers: told.length }, `${groupsEvents.loadStarted}: markers piled up while loading, reloading`);
      s.markersWhileLoading.delete(marker.partition);
      const current = s.coordinator.partitions.get(marker.partition)!;
      beginRead(s, ctx, marker.partition, current.leaderEpoch, clock.monotonicMs());
    }
  };

  /** The registry is the truth about which partitions this broker leads (see the header). */
  const reconcile = (s: ShellState, ctx: ActorContext<GroupsMessage>, onlyPartition?: number): void => {
    const plan = planLeadership(registry, offsetsTopic, s.coordinator, s.loads, onlyPartition);
    for (const partition of plan.unload) unloadPartition(s, ctx, partition);
    for (const { partition, leaderEpoch } of plan.load) startLoad(s, ctx, partition, leaderEpoch);
    for (const { partition, leaderEpoch } of plan.resume) beginRead(s, ctx, partition, leaderEpoch, clock.monotonicMs());
  };

  // ------------------------------------------------------------ time

  const tick = (s: ShellState, ctx: ActorContext<GroupsMessage>): void => {
    const nowMs = clock.nowMs();
    const due: GroupEntry[] = [];
    let more = false;
    for (const entry of s.groups.values()) {
      if (entry.inflight.length > 0 && nowMs - entry.inflight[0]!.issuedMs >= L.persistGiveUpMs) {
        for (const w of entry.inflight) if (nowMs - w.issuedMs >= L.persistGiveUpMs && !entry.early.has(w.persistId)) entry.early.set(w.persistId, ErrorCode.REQUEST_TIMED_OUT);
        ctx.log.warn({ group: entry.state.groupId, partition: entry.partition }, groupsEvents.persistGivenUp);
        drainCompletions(s, ctx, entry);
      }
      if (entry.deadlineMs !== null && entry.deadlineMs <= nowMs) {
        if (due.length < L.tickGroupsMax) due.push(entry);
        else more = true;
      }
    }
    for (const entry of due) {
      if (s.groups.get(entry.state.groupId) !== entry) continue;
      runStep(s, ctx, entry, { type: 'Tick' });
    }
    const monotonicMs = clock.monotonicMs();
    // Offsets retention: every group once per check interval, at most the rest of this tick's budget.
    if (s.expiring.length === 0 && monotonicMs - s.lastExpiryMs >= retention.checkIntervalMs) {
      s.lastExpiryMs = monotonicMs;
      s.expiring = [...s.groups.keys()];
    }
    let budget = L.tickGroupsMax - due.length;
    while (s.expiring.length > 0 && budget > 0) {
      budget -= 1;
      const entry = s.groups.get(s.expiring.pop()!);
      if (entry === undefined || s.coordinator.partitions.get(entry.partition)?.status !== 'Active') continue;
      runStep(s, ctx, entry, { type: 'ExpireOffsets', retentionMs: retention.retentionMs });
    }
    if (s.expiring.length > 0) more = true;
    if (monotonicMs - s.lastReconcileMs >= L.reconcileIntervalMs) {
      s.lastReconcileMs = monotonicMs;
      reconcile(s, ctx);
    }
    ctx.scheduleOnce(more ? 0 : L.tickIntervalMs, { type: 'Tick', incarnation: s.incarnation });
  };

  // ------------------------------------------------------------ requests

  const answer = (ctx: ActorContext<GroupsMessage>, to: { node: string; path: string }, reply: WireReply): void => {
    ctx.node.tell(to as Ref<unknown>, reply);
  };

  const offsetsPartitionCount = (s: ShellState): number => topicByName(s.image, offsetsTopic)?.partitions.length ?? config.offsetsTopicNumPartitions;

  const findCoordinator = (s: ShellState, ctx: ActorContext<GroupsMessage>, key: string): FindCoordinatorReply => {
    const { answer, missing } = coordinatorFor(s.image, offsetsTopic, key, coordinatorPartitionFor);
    if (missing) createOffsetsTopic(s, ctx);
    return answer;
  };

  const createOffsetsTopic = (s: ShellState, ctx: ActorContext<GroupsMessage>): void => {
    const live = liveBrokerCount(s.image);
    if (s.creatingOffsetsTopic || live === 0) return; // with no live broker yet, a later FindCoordinator asks again
    s.creatingOffsetsTopic = true;
    const replicationFactor = Math.min(config.offsetsTopicReplicationFactor, live);
    ctx.log.info({ partitions: config.offsetsTopicNumPartitions, replicationFactor }, groupsEvents.createTopic);
    const { incarnation } = s;
    const configs = [
      { name: 'cleanup.policy', value: 'compact' },
      { name: 'segment.bytes', value: String(L.offsetsTopicSegmentBytes) },
    ];
    void askCreateInternalTopic(ctx.node, deps.controllerClient, { name: offsetsTopic, partitions: config.offsetsTopicNumPartitions, replicationFactor, configs }, L.createTopicAskTimeoutMs).then(
      ({ errorCode, errorMessage }) => tellSelf(ctx, { type: 'OffsetsTopicCreated', incarnation, errorCode, errorMessage }),
    );
  };

  /** Writes may follow from these requests: they wait while too many writes are in flight. */
  const mayWrite = new Set(['JoinGroup', 'SyncGroup', 'LeaveGroup', 'OffsetCommit', 'TxnOffsetCommit', 'DeleteGroup', 'OffsetDelete']);
  /** Requests that may park (be answered later). */
  const mayPark = new Set(['JoinGroup', 'SyncGroup']);
  /** Requests that may create a group. */
  const mayCreate = new Set(['JoinGroup', 'OffsetCommit', 'TxnOffsetCommit']);

  const handleGroupRequest = (s: ShellState, ctx: ActorContext<GroupsMessage>, request: GroupRequest): void => {
    const refuse = (errorCode: number, message: string): void => {
      const reply = errorReplyFor(request.type, request, errorCode, message);
      if (reply !== null) answer(ctx, request.replyTo, reply);
    };
    const routing = routeError(s.coordinator, request.groupId, request.type);
    if (routing !== ErrorCode.NONE) return refuse(routing, `broker ${config.brokerId}: ${errorName(routing)} for group ${request.groupId}`);
    let entry = s.groups.get(request.groupId);
    if (entry === undefined && mayCreate.has(request.type) && s.groups.size >= L.groupsMax) {
      ctx.log.warn({ groups: s.groups.size, groupsMax: L.groupsMax }, groupsEvents.refusedBound);
      return refuse(ErrorCode.COORDINATOR_NOT_AVAILABLE, `broker ${config.brokerId} holds ${s.groups.size} groups (groupsMax)`);
    }
    if (mayWrite.has(request.type) && s.persistsInFlight.size >= L.persistsInFlightMax) {
      return refuse(ErrorCode.COORDINATOR_NOT_AVAILABLE, `broker ${config.brokerId} has ${s.persistsInFlight.size} writes in flight (persistsInFlightMax)`);
    }
    if (mayPark.has(request.type) && s.parkedRequests >= L.parkedRequestsMax) {
      return refuse(ErrorCode.COORDINATOR_NOT_AVAILABLE, `broker ${config.brokerId} has ${s.parkedRequests} parked requests (parkedRequestsMax)`);
    }
    entry ??= newEntry(s, emptyGroup(request.groupId, groupConfig));
    const input: GroupInput = request.type === 'JoinGroup' ? { ...request, memberIdSuffix: randomUUID() } : request;
    runStep(s, ctx, entry, input);
  };

  const handleWire = (s: ShellState, ctx: ActorContext<GroupsMessage>, raw: unknown): void => {
    const request = validateWireRequest(raw);
    if (isInvalid(request)) {
      const type = typeof raw === 'object' && raw !== null ? printable((raw as { type?: unknown }).type) : printable(raw);
      ctx.log.warn({ type, reason: request.errorMessage }, groupsEvents.badRequest);
      const to = replyTargetOf(raw);
      const reply = to === null ? null : errorReplyFor(type, raw, request.errorCode, request.errorMessage);
      if (to !== null && reply !== null) answer(ctx, to, reply);
      return;
    }
    switch (request.type) {
      case 'FindCoordinator':
        answer(ctx, request.replyTo, findCoordinator(s, ctx, request.key));
        return;
      case 'ListGroups': {
        const listed = listGroups(s.coordinator, [...s.groups.values()].map((e) => e.state));
        answer(ctx, request.replyTo, { type: 'ListGroupsReply', errorCode: listed.errorCode, groups: listed.groups });
        return;
      }
      default:
        handleGroupRequest(s, ctx, request);
    }
  };

  const handleInternal = (s: ShellState, ctx: ActorContext<GroupsMessage>, msg: Internal): void => {
    switch (msg.type) {
      case 'OffsetsPartitionLed':
      case 'OffsetsPartitionResigned':
        // A hint to look at the registry now: the view says whether and at which epoch we lead.
        if (Number.isSafeInteger(msg.partition) && msg.partition >= 0) reconcile(s, ctx, msg.partition);
        return;
      case 'MetadataImageUpdated': {
        if (msg.image.appliedOffset < s.image.appliedOffset) return; // images only move forward
        s.image = msg.image;
        const count = topicByName(msg.image, offsetsTopic)?.partitions.length;
        if (count !== undefined) {
          s.creatingOffsetsTopic = false;
          if (count !== s.coordinator.partitionCount) {
            ctx.log.warn({ configured: s.coordinator.partitionCount, actual: count }, `${offsetsTopic} has a partition count other than offsets.topic.num.partitions; using the topic's`);
            for (const partition of [...s.coordinator.partitions.keys()]) unloadPartition(s, ctx, partition);
            s.coordinator = initialCoordinatorState(count);
            reconcile(s, ctx);
          }
        }
        return;
      }
      case 'TxnMarkerWritten':
        txnMarkerWritten(s, ctx, msg);
        return;
      case 'OffsetsTopicCreated':
        if (msg.incarnation !== s.incarnation) return;
        if (msg.errorCode !== ErrorCode.NONE && msg.errorCode !== ErrorCode.TOPIC_ALREADY_EXISTS) {
          ctx.log.warn({ errorCode: msg.errorCode, reason: msg.errorMessage }, `${groupsEvents.createTopic}: failed, a later FindCoordinator retries`);
          s.creatingOffsetsTopic = false;
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
        const key = `${msg.entryId}:${msg.persistId}`;
        const entry = s.groups.get(msg.groupId);
        if (entry === undefined || entry.entryId !== msg.entryId || !entry.inflight.some((w) => w.persistId === msg.persistId)) {
          s.persistsInFlight.delete(key);
          return;
        }
        if (!entry.early.has(msg.persistId)) entry.early.set(msg.persistId, msg.errorCode);
        drainCompletions(s, ctx, entry);
        return;
      }
    }
  };

  return {
    accepts: groupsProtocol,
    init: (ctx) => {
      const s: ShellState = {
        incarnation: randomUUID(),
        coordinator: initialCoordinatorState(config.offsetsTopicNumPartitions),
        image: emptyImage,
        groups: new Map(),
        loads: new Map(),
        markersWhileLoading: new Map(),
        persistsInFlight: new Set(),
        parkedRequests: 0,
        creatingOffsetsTopic: false,
        nextEntryId: 0,
        nextLoadId: 0,
        lastReconcileMs: Number.NEGATIVE_INFINITY,
        lastExpiryMs: clock.monotonicMs(),
        expiring: [],
      };
      // The first tick reconciles with the registry at once: after a restart, the partitions we lead are reloaded.
      ctx.node.tell(ctx.self, { type: 'Tick', incarnation: s.incarnation });
      // Also after a restart: the client answers every subscribe with its current image (and keeps one subscription per ref).
      ctx.node.tell(deps.controllerClient, { type: 'SubscribeMetadata', subscriber: ctx.self });
      // The handlers mutate `s` in place, so the reader sees the live groups; a restart replaces it with the new state.
      offsetReaders.set(ctx.node, () => committedOffsetsOf(s));
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

/** For tests and tools: the partition of `__consumer_offsets` that coordinates `groupId`. */
export { coordinatorPartitionFor } from './offsets-records.ts';
