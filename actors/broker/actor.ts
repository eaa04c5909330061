/**
 * The broker actor, one per node at `/broker`: the request router for
 * clients, and the one that turns committed metadata into replica roles.
 *
 * Requests it serves: Metadata (from the current image), DescribeProducers
 * (KIP-664, from the partition views: describe-producers.ts), DescribeLogDirs
 * (sizes and offsets of the hosted partitions, also from the views), DeleteRecords
 * (each partition to its replica actor, answers gathered: delete-records.ts),
 * Produce (validated,
 * then forwarded unchanged to the partition's replica actor, which answers
 * the client directly), and admin commands (CreateTopics, DeleteTopics,
 * CreatePartitions, DescribeConfigs, AlterConfigs, ElectLeaders), forwarded
 * to the active controller through the node's controller client. Reads
 * (Fetch, ListOffsets, OffsetForLeaderEpoch) go to `/fetch` directly.
 *
 * Metadata: it subscribes to the controller client; for every new image it
 * computes `diffForBroker` and applies each change in one handler, in this
 * order: update the partition's shared view (so writers that lost their role
 * stop at once, registry.ts), then tell the replica actor its role, then move
 * the partition between fetchers. Replica actors live under `/replicas` and
 * fetchers under `/fetchers`; their refs are kept here in state (nact copies
 * an actor's children per message: `/replicas` and `/fetchers` handle none).
 *
 * Transactions: InitProducerId with a transactional id goes to the local
 * `/transactions`; a transactional batch whose producer has no open
 * transaction in the partition yet waits while the producer's coordinator
 * confirms the partition is in the transaction (KIP-890 part 1,
 * VerifyPartitionsInTxn), so a stray or late write cannot open a transaction
 * nobody will end; WriteTxnMarker goes to the replica, and for
 * `__consumer_offsets` the group coordinator is told once the marker is
 * written (the transaction's offsets become visible or are dropped).
 *
 * Hot path cost: one validation and one local tell per produce batch
 * (transactional ones: a header read and a map lookup more).
 *
 * Who may send what: the network only brokerProtocol; the runtime refuses
 * every other type from a remote origin before this actor runs. The local
 * messages (images, adapted controller replies, timers) are still checked
 * for shape where it is cheap (a malformed one is logged and dropped), so a
 * bug elsewhere costs that message, not a restart.
 *
 * Supervision (restartWithBackoff, the default): a restart starts from an
 * empty state while `/replicas/<key>` and `/fetchers/<leaderId>` (children
 * of the idle supervisors, not of `/broker`) live on. So init adopts them:
 * it tells every existing fetcher to drop its partitions (the next image
 * adds back those it should pull), `ensureReplica` / `ensureFetcher` take a
 * live actor at the path instead of spawning, and once the first image after
 * the restart is applied, the adopted replicas and fetchers it did not claim
 * are stopped (and their logs closed, not deleted). Timers carry the
 * incarnation of the init that scheduled them: a restarted actor ignores its
 * predecessor's chain instead of running two.
 *
 * Replication throttles (reassignment catch-up traffic): on every image it
 * sets the two rates of `effectiveBrokerThrottles` on the registry's shared
 * quotas (a config change takes effect on the next fetch, no restart), and
 * on every BecomeLeader / BecomeFollower it writes which replicas of the
 * partition are throttled into its view (`isThrottledReplica`: being added,
 * not in the ISR). The fetch server and the fetchers apply them.
 */
import type { SecurityView } from '../security/view.ts';
import { AclOperation, AclResourceType, clusterResourceName } from '../security/acl-authorizer.ts';
import { ErrorCode, errorName } from '../../protocol/errors.ts';
import { validateProduce, validateWriteTxnMarker, type Produce, type ProduceReply, type WriteTxnMarker } from '../../protocol/apis/data.ts';
import { isInvalid } from '../../protocol/validate.ts';
import { array, boolean, object, optional, ref, string } from '../../protocol/validate.ts';
import type { ActorContext, Behaviour } from '../../runtime/node.ts';
import type { Ref } from '../../runtime/ref.ts';
import { describeType, type RemoteProtocol } from '../../runtime/protocol.ts';
import type { Clock } from '../../runtime/clock.ts';
import { brokerConfigOverride, buildMetadataResponse, diffForBroker, effectiveBrokerThrottles, effectiveTopicConfig, emptyImage, isBrokerActive, topicByName, type MetadataImage, type MetadataResponse, type ReplicaChange } from '../controller/metadata/index.ts';
import { isThrottledReplica } from '../fetch/replication-quota.ts';
import { replicaBehaviour, type ReplicaMessage } from '../partition/actor.ts';
import { noThrottledReplicas, partitionKey, type PartitionRegistry } from '../partition/registry.ts';
import { fetcherBehaviour, type FetcherMessage } from '../fetch/fetcher.ts';
import { nodeIdOf, staticBrokerConfigValues, type BrokerConfig } from './config.ts';
import { withStaticBrokerConfigs, type DescribeConfigsReply, type StaticBrokerConfigs } from '../controller/metadata/configs.ts';
import { readBatchHeader, batchHeaderBytes } from '../../protocol/record-batch/header.ts';
import { coordinatorPartitionFor } from '../txn-coordinator/txn-records.ts';
import { validateDescribeProducers, type DescribeProducersRequest, type VerifyPartitionsInTxnRequest, type VerifyPartitionsInTxnResponse } from '../../protocol/apis/txn.ts';
import { describeProducersReply } from './describe-producers.ts';
import { deleteRecordsReply } from './delete-records.ts';
import type { BrokerMetrics } from '../metrics/broker-metrics.ts';
import { validateDeleteRecords, type DeleteRecords } from '../../protocol/apis/delete-records.ts';
import { validateDescribeLogDirs, type DescribeLogDirs } from '../../protocol/apis/log-dirs.ts';
import { describeLogDirsReply } from './describe-log-dirs.ts';
import type { LogConfig } from '../../storage/config.ts';

/** Admin commands a client may send; everything else is for brokers and controllers only. */
export const clientAdminCommands = new Set([
  'CreateTopics',
  'DeleteTopics',
  'CreatePartitions',
  'DescribeConfigs',
  'AlterConfigs',
  'ElectLeaders',
  'AlterPartitionReassignments',
  'ListPartitionReassignments',
  'UnregisterBroker',
  'AlterUserScramCredentials',
  'DescribeUserScramCredentials',
  'CreateAcls',
  'DescribeAcls',
  'DeleteAcls',
]);

/**
 * What the network may send `/broker` (runtime/protocol.ts); every other message type (metadata
 * images, adapted controller replies, timers) is this node's own. Admin carries only the commands
 * of clientAdminCommands, from anyone: the one allow-list for admin calls. Peers (other brokers'
 * transaction coordinators, and operator tools holding the cluster secret) may also write
 * transaction markers and pause or resume a fetcher (fault injection in tests).
 */
export const brokerProtocol: RemoteProtocol = {
  client: {
    Metadata: true,
    // Kafka: "Cannot append to internal topic" (only the coordinators, on this node, write them).
    Produce: (message) =>
      typeof message.topic === 'string' && internalTopics.has(message.topic) ? { errorCode: ErrorCode.INVALID_TOPIC_EXCEPTION, why: `a client cannot produce to the internal topic ${message.topic}` } : null,
    InitProducerId: true,
    // KIP-664: read-only, answered from the shared partition views (describe-producers.ts).
    DescribeProducers: true,
    // Kafka's DescribeLogDirs: read-only, from the partition views (describe-log-dirs.ts).
    DescribeLogDirs: true,
    // Kafka: "Cannot delete records of internal topic" (the coordinators' logs are theirs to trim).
    DeleteRecords: (message) => {
      const named = Array.isArray(message.partitions) ? (message.partitions as { topic?: unknown }[]).find((p) => typeof p?.topic === 'string' && internalTopics.has(p.topic)) : undefined;
      return named === undefined ? null : { errorCode: ErrorCode.INVALID_TOPIC_EXCEPTION, why: `a client cannot delete records of the internal topic ${String(named.topic)}` };
    },
    Admin: (message) => {
      const command = message.command as { type?: unknown } | null | undefined;
      if (typeof command !== 'object' || command === null || typeof command.type !== 'string') return 'Admin needs a command with a type';
      if (!clientAdminCommands.has(command.type)) return `${command.type.slice(0, 64)} is not an admin command`;
      const internal = internalTopicNamed(command as Record<string, unknown>);
      return internal === null || command.type === 'DescribeConfigs' ? null : { errorCode: ErrorCode.INVALID_TOPIC_EXCEPTION, why: `${command.type} may not change the internal topic ${internal}` };
    },
  },
  peer: { Produce: true, WriteTxnMarker: true, PauseFetcher: true, ResumeFetcher: true },
};

/** The topics only the coordinators write, and no client deletes, repartitions or reconfigures. */
export const internalTopics: ReadonlySet<string> = new Set(['__consumer_offsets', '__transaction_state']);

/** The first internal topic an admin command names (topics, topics[].name, resources[].resourceName), or null. */
function internalTopicNamed(command: Record<string, unknown>): string | null {
  const names: unknown[] = [];
  for (const item of Array.isArray(command.topics) ? command.topics : []) names.push(typeof item === 'object' && item !== null ? (item as { name?: unknown }).name : item);
  for (const item of Array.isArray(command.resources) ? command.resources : []) if (typeof item === 'object' && item !== null) names.push((item as { resourceName?: unknown }).resourceName);
  for (const name of names) if (typeof name === 'string' && internalTopics.has(name)) return name;
  return null;
}

export type BrokerMessage =
  | { type: 'Metadata'; topics: string[] | null; allowAutoTopicCreation?: boolean; replyTo: Ref<unknown> }
  | { type: 'Admin'; command: { type: string }; replyTo: Ref<unknown> }
  | { type: 'MetadataImageUpdated'; image: MetadataImage; previous: MetadataImage; activeControllerId?: number }
  | { type: 'ReplicaRestarted'; key: string }
  | { type: 'FetcherRestarted'; leaderId: number }
  | { type: 'PauseFetcher'; leaderId: number; replyTo?: Ref<unknown> }
  | { type: 'ResumeFetcher'; leaderId: number; replyTo?: Ref<unknown> }
  | { type: 'Housekeeping'; incarnation: number }
  | { type: 'CheckpointHighWatermarks'; incarnation: number }
  /** The next slice of a checkpoint pass (local only, like the tick). */
  | { type: 'ContinueCheckpoints'; incarnation: number }
  | Produce
  | WriteTxnMarker
  | DescribeProducersRequest
  | DeleteRecords
  | DescribeLogDirs
  | { type: 'InitProducerId'; transactionalId: string | null; transactionTimeoutMs: number; replyTo: Ref<unknown> }
  | { type: 'AllocateProducerIdsReply'; errorCode: number; producerIdStart: number; producerIdLength: number }
  | { type: 'CreateTopicsReply'; topics?: readonly { name: string; errorCode: number }[] }
  | { type: 'ControllerCallFailed'; errorCode?: number; errorMessage?: string }
  | { type: 'TxnVerified'; key: string; errorCode: number; errorMessage: string };

/** How long /broker waits for the controller's DescribeConfigs answer (the controller client's call bound, and slack). */
const describeConfigsWaitMs = 35_000;

/** The controller client's answer has the shape withStaticBrokerConfigs reads (it came over our own node, but check). */
function isDescribeConfigsReply(reply: unknown): reply is DescribeConfigsReply {
  const results = (reply as { results?: unknown }).results;
  return Array.isArray(results) && results.every((r) => typeof r === 'object' && r !== null && Array.isArray((r as { configs?: unknown }).configs));
}

type BrokerState = {
  /** Which init made this state (1, 2, ... per restart): timers carry it, so a predecessor's timer chain dies out. */
  incarnation: number;
  /**
   * After a restart: the replica and fetcher paths that were alive when init ran, not yet claimed by an
   * image. Once the first image is applied, the unclaimed ones are stopped. Null when there is nothing to adopt.
   */
  adoptable: Set<string> | null;
  image: MetadataImage;
  /** The active controller as the controller client last reported it; -1 unknown. */
  activeControllerId: number;
  replicas: Map<string, Ref<ReplicaMessage>>;
  fetchers: Map<number, Ref<FetcherMessage>>;
  /** Partition key -> the leader whose fetcher has it. */
  fetchingFrom: Map<string, number>;
  /** Topics we asked the controller to create (auto-create), so we ask once. */
  autoCreating: Set<string>;
  /** The block of producer ids this broker hands out (from the controller), [next, end). */
  producerIds: { next: number; end: number };
  /** InitProducerId requests waiting for a block; bounded by initProducerIdWaitingMax. */
  waitingForProducerIds: Ref<unknown>[];
  allocatingProducerIds: boolean;
  /**
   * Transactional produces waiting for the coordinator to confirm their partition is in the
   * transaction (KIP-890 part 1), per `${partition key}:${producerId}`, in arrival order (a
   * producer's batches to one partition stay in order). Bounded by txnVerificationsWaitingMax.
   */
  verifying: Map<string, Produce[]>;
  verifyingCount: number;
  /** Partition keys the running checkpoint pass has still to visit (empty: no pass running). */
  checkpointPass: string[];
};

/** Transactional produces that may wait for verification with their coordinator. */
export const txnVerificationsWaitingMax = 10_000;
/** How long a verification may take before the produce is answered with a retriable error. */
export const txnVerificationTimeoutMs = 5_000;
/** Coordinator errors a producer should retry: answered as NOT_ENOUGH_REPLICAS (retriable), as Kafka does for KIP-890. */
const retriableVerificationErrors = new Set<number>([
  ErrorCode.NOT_COORDINATOR,
  ErrorCode.COORDINATOR_NOT_AVAILABLE,
  ErrorCode.COORDINATOR_LOAD_IN_PROGRESS,
  ErrorCode.CONCURRENT_TRANSACTIONS,
  ErrorCode.REQUEST_TIMED_OUT,
  ErrorCode.BROKER_NOT_AVAILABLE,
  ErrorCode.NETWORK_EXCEPTION,
]);

/** InitProducerId requests that may wait for a new block of ids. */
export const initProducerIdWaitingMax = 10_000;

export type BrokerDeps = {
  config: BrokerConfig;
  registry: PartitionRegistry;
  clock: Clock;
  controllerClient: Ref<unknown>;
  fetchServer: Ref<unknown>;
  replicasParent: Ref<unknown>;
  fetchersParent: Ref<unknown>;
  /**
   * The node's group coordinator (`/groups`), told when this broker starts or
   * stops leading a partition of `__consumer_offsets`:
   *   { type: 'OffsetsPartitionLed', partition, leaderEpoch }   (after the replica is leader)
   *   { type: 'OffsetsPartitionResigned', partition }
   * Likewise `/transactions` for `__transaction_state` (TxnStatePartitionLed/Resigned).
   * Told directly: those types are local-only in groupsProtocol / transactionsProtocol.
   */
  groupCoordinator?: Ref<unknown>;
  transactionCoordinator?: Ref<unknown>;
  /** ACLs: Metadata shows a caller only the topics it may Describe, and auto-creates only where it may Create. */
  security?: SecurityView;
  /** The dynamic log.level (null: none set, back to the level the process started with). */
  setLogLevel?: (level: string | null) => void;
  /** The broker's metrics, handed to every replica it spawns; produce refusals here are counted too. */
  metrics?: BrokerMetrics;
};

export const offsetsTopicName = '__consumer_offsets';
export const transactionStateTopicName = '__transaction_state';

/** replica.high.watermark.checkpoint.interval.ms: how often high watermarks (and log starts) are checkpointed. */
export const highWatermarkCheckpointIntervalMs = 5_000;
/**
 * The longest one slice of a checkpoint pass may hold the event loop (each
 * moved value is a synchronous file write with fsyncs): a pass over thousands
 * of busy partitions goes on in later slices, with every other message
 * (Raft, heartbeats, requests) served in between.
 */
export const checkpointSliceMs = 20;

/** A local message's image: the cheap shape checks (the controller client builds it; a bug must not crash us). */
function isImage(value: unknown): value is MetadataImage {
  if (typeof value !== 'object' || value === null) return false;
  const image = value as Partial<Record<keyof MetadataImage, unknown>>;
  return typeof image.appliedOffset === 'number' && image.brokers instanceof Map && image.topicsById instanceof Map && image.topicIdsByName instanceof Map;
}

const isErrorCode = (value: unknown): value is number => typeof value === 'number' && Number.isInteger(value);

/** The topics of a CreateTopicsReply that the controller refused, or null when the reply is malformed. */
function refusedTopics(value: unknown): string[] | null {
  const topics = value === undefined ? [] : value;
  if (!Array.isArray(topics)) return null;
  const refused: string[] = [];
  for (const topic of topics) {
    if (typeof topic !== 'object' || topic === null) return null;
    const { name, errorCode } = topic as { name?: unknown; errorCode?: unknown };
    if (typeof name !== 'string' || !isErrorCode(errorCode)) return null;
    if (errorCode !== ErrorCode.NONE) refused.push(name);
  }
  return refused;
}

/**
 * A Metadata answer as `may` (Describe on the topic) lets the caller see it, Kafka's way: a listing of
 * all topics leaves the others out; a topic asked for by name is answered TOPIC_AUTHORIZATION_FAILED.
 */
function describableMetadata(response: MetadataResponse, listing: boolean, may: (topic: string) => boolean): MetadataResponse {
  const topics = listing
    ? response.topics.filter((t) => may(t.name))
    : response.topics.map((t) => (may(t.name) ? t : { ...t, errorCode: ErrorCode.TOPIC_AUTHORIZATION_FAILED, topicId: null, partitions: [] }));
  return { ...response, topics };
}

/** The runtime's stamp of who asked (runtime/protocol.ts Caller); absent on this node's own messages. */
const callerValidator = optional(object({ principal: string(1_024), host: string(1_024) }), null as unknown as { principal: string; host: string });
const validateMetadata = object({ topics: optional(array(string(249), 10_000), null as unknown as string[]), allowAutoTopicCreation: optional(boolean, true), caller: callerValidator, replyTo: ref });
const validateAdmin = object({ command: object({ type: string(64) }), replyTo: ref });

/** A dynamic broker config (this broker's, else the cluster default) as a number, else `fallback` (the static config). */
function dynamicNumber(image: MetadataImage, brokerId: number, name: string, fallback: number): number {
  const value = brokerConfigOverride(image, brokerId, name);
  return value === undefined ? fallback : Number(value);
}

/** A topic's log settings: its own config, else the dynamic broker default, else this broker's static config. */
function logConfigFor(image: MetadataImage, topic: string, config: BrokerConfig): Partial<LogConfig> {
  const topicImage = topicByName(image, topic);
  const topicConfig = effectiveTopicConfig(topicImage?.configs ?? new Map());
  const policy = topicConfig.cleanupPolicy;
  const own = (name: string): boolean => topicImage?.configs.has(name) ?? false;
  const retentionBytes = own('retention.bytes') ? topicConfig.retentionBytes : dynamicNumber(image, config.brokerId, 'log.retention.bytes', topicConfig.retentionBytes);
  return {
    segmentBytesMax: own('segment.bytes') ? topicConfig.segmentBytes : dynamicNumber(image, config.brokerId, 'log.segment.bytes', config.logSegmentBytes),
    segmentRollMs: topicConfig.segmentMs,
    retentionMs: own('retention.ms') ? topicConfig.retentionMs : dynamicNumber(image, config.brokerId, 'log.retention.ms', config.logRetentionMs),
    // Kafka takes any negative retention.bytes for "unbounded".
    retentionBytes: retentionBytes < 0 ? -1 : retentionBytes,
    cleanupPolicy: policy.includes('compact') && policy.includes('delete') ? 'compact,delete' : policy.includes('compact') ? 'compact' : 'delete',
    deleteRetentionMs: topicConfig.deleteRetentionMs,
    messageBytesMax: topicImage?.configs.has('max.message.bytes') ? topicConfig.maxMessageBytes : config.messageMaxBytes,
    indexIntervalBytes: topicConfig.indexIntervalBytes,
    messageTimestampType: topicConfig.messageTimestampType,
    minCleanableDirtyRatio: topicConfig.minCleanableDirtyRatio,
    flushIntervalMessages: config.logFlushIntervalMessages >= Number.MAX_SAFE_INTEGER ? Infinity : config.logFlushIntervalMessages,
  };
}

function minInsyncReplicasFor(image: MetadataImage, topic: string, config: BrokerConfig): number {
  const topicImage = topicByName(image, topic);
  if (topicImage?.configs.has('min.insync.replicas')) return effectiveTopicConfig(topicImage.configs).minInsyncReplicas;
  return dynamicNumber(image, config.brokerId, 'min.insync.replicas', config.minInsyncReplicas);
}

function replicaLagTimeMaxMsFor(image: MetadataImage, config: BrokerConfig): number {
  return dynamicNumber(image, config.brokerId, 'replica.lag.time.max.ms', config.replicaLagTimeMaxMs);
}

/** Whether a topic's or the broker's configs differ between two images (the open logs and leaders then hear of it). */
function configsChanged(previous: MetadataImage, image: MetadataImage, topic: string): boolean {
  return !sameEntries(topicByName(previous, topic)?.configs, topicByName(image, topic)?.configs);
}

function sameEntries(a: ReadonlyMap<string, string> | undefined, b: ReadonlyMap<string, string> | undefined): boolean {
  if (a === b) return true;
  if ((a?.size ?? 0) !== (b?.size ?? 0)) return false;
  for (const [key, value] of a ?? []) if (b?.get(key) !== value) return false;
  return true;
}

function brokerConfigsChanged(previous: MetadataImage, image: MetadataImage, brokerId: number): boolean {
  return !sameEntries(previous.brokerConfigs.get(''), image.brokerConfigs.get('')) || !sameEntries(previous.brokerConfigs.get(String(brokerId)), image.brokerConfigs.get(String(brokerId)));
}

export function brokerBehaviour(deps: BrokerDeps): Behaviour<BrokerState, BrokerMessage> {
  const { config, registry } = deps;
  const brokerId = config.brokerId;
  const staticConfigs: StaticBrokerConfigs = { brokerId, values: staticBrokerConfigValues(config) };
  // The newest image this actor applied, for the replicas' ISR eligibility check (read on their turn, not copied).
  let latestImage: MetadataImage = emptyImage;
  /** Counts inits (the first start and every restart): the incarnation timers carry. */
  let incarnation = 0;
  const isrEligible = (id: number): boolean => isBrokerActive(latestImage, id);

  const ensureReplica = (state: BrokerState, ctx: ActorContext<BrokerMessage>, key: string): Ref<ReplicaMessage> => {
    const existing = state.replicas.get(key);
    if (existing) return existing;
    const path = `${deps.replicasParent.path}/${key}`;
    if (ctx.node.hasActor(path)) {
      // Alive from before this actor's restart: adopt it (the role we tell it next is idempotent).
      const adopted: Ref<ReplicaMessage> = { node: ctx.node.nodeId, path };
      state.adoptable?.delete(path);
      state.replicas.set(key, adopted);
      ctx.log.info({ partition: key }, 'partition.replica_adopted');
      return adopted;
    }
    const view = registry.getByKey(key)!;
    const replicaRef = ctx.node.spawn(
      key,
      replicaBehaviour({
        brokerId,
        view,
        clock: deps.clock,
        replicaLagTimeMaxMs: config.replicaLagTimeMaxMs,
        controllerClient: deps.controllerClient,
        fetchServer: deps.fetchServer,
        broker: ctx.self,
        isrEligible,
        ...(deps.metrics === undefined ? {} : { metrics: deps.metrics }),
      }),
      deps.replicasParent,
    );
    state.replicas.set(key, replicaRef);
    return replicaRef;
  };

  const ensureFetcher = (state: BrokerState, ctx: ActorContext<BrokerMessage>, leaderId: number): Ref<FetcherMessage> => {
    const existing = state.fetchers.get(leaderId);
    if (existing) return existing;
    const leader = state.image.brokers.get(leaderId);
    if (leader) ctx.node.addPeer(nodeIdOf(leaderId), ctx.node.peerUrl(leader.host, leader.port));
    const path = `${deps.fetchersParent.path}/${leaderId}`;
    if (ctx.node.hasActor(path)) {
      // Alive from before this actor's restart, emptied by init: adopt it.
      const adopted: Ref<FetcherMessage> = { node: ctx.node.nodeId, path };
      state.adoptable?.delete(path);
      state.fetchers.set(leaderId, adopted);
      ctx.log.info({ leaderId }, 'fetcher.adopted');
      return adopted;
    }
    const fetcherRef = ctx.node.spawn(
      String(leaderId),
      fetcherBehaviour({
        brokerId,
        leaderId,
        leaderFetchServer: { node: nodeIdOf(leaderId), path: '/fetch' },
        registry,
        replicaFetchWaitMaxMs: config.replicaFetchWaitMaxMs,
        replicaFetchMaxBytes: config.replicaFetchMaxBytes,
        replicaFetchResponseMaxBytes: config.replicaFetchResponseMaxBytes,
        broker: ctx.self,
      }),
      deps.fetchersParent,
    );
    state.fetchers.set(leaderId, fetcherRef);
    return fetcherRef;
  };

  const stopFetching = (state: BrokerState, ctx: ActorContext<BrokerMessage>, key: string): void => {
    const leaderId = state.fetchingFrom.get(key);
    if (leaderId === undefined) return;
    state.fetchingFrom.delete(key);
    const fetcherRef = state.fetchers.get(leaderId);
    if (fetcherRef) ctx.node.tell(fetcherRef, { type: 'RemovePartition', key });
  };

  const becomeLeaderMessage = (state: BrokerState, change: ReplicaChange): ReplicaMessage => ({
    type: 'BecomeLeader',
    topicId: change.topicId,
    leaderEpoch: change.leaderEpoch,
    partitionEpoch: change.partitionEpoch,
    replicas: change.replicas,
    isr: change.isr,
    minInsyncReplicas: minInsyncReplicasFor(state.image, change.topic, config),
    replicaLagTimeMaxMs: replicaLagTimeMaxMsFor(state.image, config),
    brokerEpoch: state.image.brokers.get(brokerId)?.brokerEpoch ?? -1,
  });

  /**
   * Topic configs or dynamic broker configs changed: every open log of the topics concerned takes its new
   * settings, and every partition this broker leads its min.insync.replicas and replica.lag.time.max.ms.
   */
  const applyConfigs = (state: BrokerState, ctx: ActorContext<BrokerMessage>, previous: MetadataImage): void => {
    const brokerWide = brokerConfigsChanged(previous, state.image, brokerId);
    if (brokerWide) deps.setLogLevel?.(brokerConfigOverride(state.image, brokerId, 'log.level') ?? null);
    for (const view of registry.all()) {
      if (!brokerWide && !configsChanged(previous, state.image, view.topic)) continue;
      try {
        view.log.reconfigure(logConfigFor(state.image, view.topic, config));
      } catch (err) {
        ctx.log.error({ err, partition: view.key }, 'partition.reconfigure_failed');
      }
      const replicaRef = state.replicas.get(view.key);
      if (view.role === 'leader' && replicaRef !== undefined) {
        ctx.node.tell(replicaRef, { type: 'LeaderConfigChanged', minInsyncReplicas: minInsyncReplicasFor(state.image, view.topic, config), replicaLagTimeMaxMs: replicaLagTimeMaxMsFor(state.image, config) });
      }
    }
  };

  const applyChange = async (state: BrokerState, ctx: ActorContext<BrokerMessage>, change: ReplicaChange): Promise<void> => {
    const key = partitionKey(change.topic, change.partition);
    switch (change.type) {
      case 'StopReplica': {
        notifyCoordinator(ctx, change, false);
        stopFetching(state, ctx, key);
        const replicaRef = state.replicas.get(key);
        if (replicaRef) {
          ctx.node.tell(replicaRef, { type: 'StopReplica' });
          ctx.node.stopActor(replicaRef);
          state.replicas.delete(key);
        }
        await registry.close(change.topic, change.partition, change.deleted);
        // nact finishes a stop on the next turn (setImmediate): wait for it, so a later change of this diff may spawn the path again.
        await new Promise((resolve) => setImmediate(resolve));
        ctx.log.info({ partition: key, deleted: change.deleted }, 'partition.stopped');
        return;
      }
      case 'BecomeLeader': {
        const view = registry.open(change.topic, change.partition, logConfigFor(state.image, change.topic, config));
        stopFetching(state, ctx, key);
        view.role = 'leader';
        view.leaderEpoch = change.leaderEpoch;
        view.leaderId = brokerId;
        const throttled = change.addingReplicas.filter((id) => isThrottledReplica(change, id));
        view.leaderThrottledReplicas = throttled.length === 0 ? noThrottledReplicas : new Set(throttled);
        view.followerThrottled = false;
        ctx.node.tell(ensureReplica(state, ctx, key), becomeLeaderMessage(state, change));
        notifyCoordinator(ctx, change, true);
        return;
      }
      case 'BecomeFollower': {
        const view = registry.open(change.topic, change.partition, logConfigFor(state.image, change.topic, config));
        view.leaderThrottledReplicas = noThrottledReplicas;
        view.followerThrottled = isThrottledReplica(change, brokerId);
        if (view.role === 'follower' && view.leaderId === change.leader && view.leaderEpoch === change.leaderEpoch && state.fetchingFrom.get(key) === change.leader) {
          // Same leader, same epoch, already fetching from it: only the replica set or the throttle
          // changed (a reassignment), and the view now says so. Re-adding would only re-truncate.
          return;
        }
        view.role = change.leader >= 0 ? 'follower' : 'offline';
        view.leaderEpoch = change.leaderEpoch;
        view.leaderId = change.leader;
        ctx.node.tell(ensureReplica(state, ctx, key), { type: 'BecomeFollower', leaderId: change.leader, leaderEpoch: change.leaderEpoch });
        notifyCoordinator(ctx, change, false);
        stopFetching(state, ctx, key);
        if (change.leader >= 0) {
          ctx.node.tell(ensureFetcher(state, ctx, change.leader), { type: 'AddPartition', topic: change.topic, partition: change.partition, leaderEpoch: change.leaderEpoch });
          state.fetchingFrom.set(key, change.leader);
        }
        return;
      }
    }
  };

  /** Coordinators load their state from the internal topics' partitions this broker leads. */
  const notifyCoordinator = (ctx: ActorContext<BrokerMessage>, change: ReplicaChange, leads: boolean): void => {
    const target = change.topic === offsetsTopicName ? deps.groupCoordinator : change.topic === transactionStateTopicName ? deps.transactionCoordinator : undefined;
    if (target === undefined) return;
    const prefix = change.topic === offsetsTopicName ? 'OffsetsPartition' : 'TxnStatePartition';
    ctx.node.tell(target, leads ? { type: `${prefix}Led`, partition: change.partition, leaderEpoch: change.leaderEpoch } : { type: `${prefix}Resigned`, partition: change.partition });
  };

  /** A transactional data batch whose producer has no open transaction in this partition yet. */
  const needsVerification = (produce: Produce): boolean => {
    const bytes = produce.batch;
    if (bytes.byteLength < batchHeaderBytes) return false; // the replica refuses it
    const header = readBatchHeader(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength), 0);
    if (!header.isTransactional || header.isControl || header.producerId < 0) return false;
    const view = registry.get(produce.topic, produce.partition);
    if (view === undefined || view.role !== 'leader') return false; // the replica answers NOT_LEADER_OR_FOLLOWER
    return !view.txns.ongoing.has(header.producerId);
  };

  const verifyThenProduce = (state: BrokerState, ctx: ActorContext<BrokerMessage>, produce: Produce): void => {
    const bytes = produce.batch;
    const header = readBatchHeader(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength), 0);
    const key = `${partitionKey(produce.topic, produce.partition)}:${header.producerId}`;
    const waiting = state.verifying.get(key);
    if (waiting !== undefined) {
      // Behind a verification of the same producer and partition: keep the order.
      if (state.verifyingCount >= txnVerificationsWaitingMax) {
        if (produce.acks !== 0) ctx.node.tell(produce.replyTo, produceError(produce, ErrorCode.THROTTLING_QUOTA_EXCEEDED, `broker ${brokerId}: ${txnVerificationsWaitingMax} transactional produces wait for verification`));
        return;
      }
      waiting.push(produce);
      state.verifyingCount += 1;
      return;
    }
    const transactionalId = produce.transactionalId as string;
    const txnTopic = topicByName(state.image, transactionStateTopicName);
    const coordinatorId = txnTopic === undefined ? -1 : (txnTopic.partitions[coordinatorPartitionFor(transactionalId, txnTopic.partitions.length)]?.leader ?? -1);
    const coordinator = coordinatorId >= 0 ? state.image.brokers.get(coordinatorId) : undefined;
    if (coordinator === undefined || coordinator.fenced || state.verifyingCount >= txnVerificationsWaitingMax) {
      if (produce.acks !== 0) ctx.node.tell(produce.replyTo, produceError(produce, ErrorCode.NOT_ENOUGH_REPLICAS, `${produce.topic}-${produce.partition}: the transaction coordinator of ${transactionalId} is not available to verify the write`));
      return;
    }
    state.verifying.set(key, [produce]);
    state.verifyingCount += 1;
    if (coordinatorId !== brokerId) ctx.node.addPeer(nodeIdOf(coordinatorId), ctx.node.peerUrl(coordinator.host, coordinator.port));
    const done = (errorCode: number, errorMessage: string): void => {
      ctx.node.tell(ctx.self, { type: 'TxnVerified', key, errorCode, errorMessage });
    };
    ctx.node
      .ask<VerifyPartitionsInTxnRequest, VerifyPartitionsInTxnResponse>(
        { node: nodeIdOf(coordinatorId), path: '/transactions' },
        (replyTo) => ({
          type: 'VerifyPartitionsInTxn',
          transactionalId,
          producerId: header.producerId,
          producerEpoch: header.producerEpoch,
          partitions: [{ topic: produce.topic, partition: produce.partition }],
          replyTo,
        }),
        { timeoutMs: txnVerificationTimeoutMs },
      )
      .then(
        (reply) => {
          const errorCode = reply.results?.[0]?.errorCode;
          done(typeof errorCode === 'number' ? errorCode : ErrorCode.UNKNOWN_SERVER_ERROR, typeof errorCode === 'number' ? `coordinator ${coordinatorId} answered ${errorName(errorCode)}` : 'malformed answer');
        },
        (err: unknown) => done(ErrorCode.REQUEST_TIMED_OUT, String((err as Error).message)),
      );
  };

  const produceError = (msg: Produce, errorCode: number, errorMessage: string): ProduceReply => {
    deps.metrics?.produceError(errorCode);
    return produceErrorReply(msg, errorCode, errorMessage);
  };
  const produceErrorReply = (msg: Produce, errorCode: number, errorMessage: string): ProduceReply => ({
    type: 'ProduceReply',
    topic: msg.topic,
    partition: msg.partition,
    errorCode,
    errorMessage,
    baseOffset: -1,
    logAppendTimeMs: -1,
    logStartOffset: -1,
  });

  /**
   * Checkpoints partitions of the running pass for at most checkpointSliceMs, then leaves the rest to a
   * ContinueCheckpoints of its own: a restarted broker starts from these values, so its high watermark
   * never goes back further than an interval plus the pass's length.
   */
  const checkpointSlice = (ctx: ActorContext<BrokerMessage>, state: BrokerState): BrokerState => {
    const pass = state.checkpointPass;
    const sliceEndMs = registry.clock.monotonicMs() + checkpointSliceMs;
    while (pass.length > 0 && registry.clock.monotonicMs() < sliceEndMs) {
      const view = registry.getByKey(pass.pop()!);
      if (view === undefined || view.log.isOffline) continue; // closed or offline since the pass began
      try {
        view.log.checkpoint();
      } catch (err) {
        ctx.log.warn({ partition: view.key, err }, 'partition.checkpoint_failed');
      }
    }
    if (pass.length > 0) ctx.scheduleOnce(0, { type: 'ContinueCheckpoints', incarnation: state.incarnation });
    return state;
  };

  /** The live children of a supervisor (`/replicas`, `/fetchers`): what a restarted broker may adopt. */
  const childrenOf = (ctx: ActorContext<BrokerMessage>, parent: Ref<unknown>): string[] => {
    const prefix = `${parent.path}/`;
    return ctx.node.actorPaths().filter((path) => path.startsWith(prefix) && !path.slice(prefix.length).includes('/'));
  };

  /** After the first image since a restart: stop the adopted replicas and fetchers that image did not claim. */
  const releaseUnclaimed = async (state: BrokerState, ctx: ActorContext<BrokerMessage>): Promise<void> => {
    const unclaimed = state.adoptable;
    state.adoptable = null;
    if (unclaimed === null || unclaimed.size === 0) return;
    const replicaPrefix = `${deps.replicasParent.path}/`;
    for (const path of unclaimed) {
      ctx.node.stopActor({ node: ctx.node.nodeId, path });
      if (!path.startsWith(replicaPrefix)) continue;
      const view = registry.getByKey(path.slice(replicaPrefix.length));
      if (view !== undefined) await registry.close(view.topic, view.partition, false);
    }
    await new Promise((resolve) => setImmediate(resolve));
    ctx.log.info({ stopped: [...unclaimed] }, 'broker.unclaimed_children_stopped');
  };

  return {
    accepts: brokerProtocol,
    init: (ctx) => {
      incarnation += 1;
      // After a restart the replicas and fetchers of the previous incarnation are still alive: adopt them (see the header).
      const replicaPaths = childrenOf(ctx, deps.replicasParent);
      const fetcherPaths = childrenOf(ctx, deps.fetchersParent);
      for (const path of fetcherPaths) ctx.node.tell<FetcherMessage>({ node: ctx.node.nodeId, path }, { type: 'RemoveAllPartitions' });
      const adoptable = replicaPaths.length + fetcherPaths.length > 0 ? new Set([...replicaPaths, ...fetcherPaths]) : null;
      if (adoptable !== null) ctx.log.info({ replicas: replicaPaths.length, fetchers: fetcherPaths.length, incarnation }, 'broker.adopting_children');
      ctx.node.tell(deps.controllerClient, { type: 'SubscribeMetadata', subscriber: ctx.self });
      ctx.scheduleOnce(config.logRetentionCheckIntervalMs, { type: 'Housekeeping', incarnation });
      ctx.scheduleOnce(highWatermarkCheckpointIntervalMs, { type: 'CheckpointHighWatermarks', incarnation });
      return { incarnation, adoptable, image: emptyImage, activeControllerId: -1, replicas: new Map(), fetchers: new Map(), fetchingFrom: new Map(), autoCreating: new Set(), producerIds: { next: 0, end: 0 }, waitingForProducerIds: [], allocatingProducerIds: false, verifying: new Map(), verifyingCount: 0, checkpointPass: [] };
    },

    receive: async (state, msg, ctx) => {
      switch (msg.type) {
        case 'Produce': {
          const produce = validateProduce(msg);
          if (isInvalid(produce)) {
            const replyTo = (msg as { replyTo?: Ref<ProduceReply> }).replyTo;
            if (replyTo && typeof replyTo.node === 'string' && (msg as { acks?: unknown }).acks !== 0) ctx.node.tell(replyTo, produceError(msg, produce.errorCode, produce.errorMessage));
            ctx.log.warn({ reason: produce.errorMessage }, 'produce.invalid_request');
            return state;
          }
          const replicaRef = state.replicas.get(partitionKey(produce.topic, produce.partition));
          if (replicaRef === undefined) {
            const topic = topicByName(state.image, produce.topic);
            const errorCode = topic === undefined || produce.partition >= topic.partitions.length ? ErrorCode.UNKNOWN_TOPIC_OR_PARTITION : ErrorCode.NOT_LEADER_OR_FOLLOWER;
            if (produce.acks !== 0) ctx.node.tell(produce.replyTo, produceError(produce, errorCode, `broker ${brokerId} does not host ${produce.topic}-${produce.partition}`));
            return state;
          }
          if (typeof produce.transactionalId === 'string' && needsVerification(produce)) {
            verifyThenProduce(state, ctx, produce);
            return state;
          }
          ctx.node.tell(replicaRef, produce);
          return state;
        }

        case 'TxnVerified': {
          const waiting = state.verifying.get(msg.key);
          if (waiting === undefined) return state;
          state.verifying.delete(msg.key);
          state.verifyingCount -= waiting.length;
          for (const produce of waiting) {
            const replicaRef = state.replicas.get(partitionKey(produce.topic, produce.partition));
            if (msg.errorCode === ErrorCode.NONE && replicaRef !== undefined) {
              ctx.node.tell(replicaRef, produce);
            } else if (produce.acks !== 0) {
              const errorCode = msg.errorCode === ErrorCode.NONE ? ErrorCode.NOT_LEADER_OR_FOLLOWER : retriableVerificationErrors.has(msg.errorCode) ? ErrorCode.NOT_ENOUGH_REPLICAS : msg.errorCode;
              ctx.node.tell(produce.replyTo, produceError(produce, errorCode, `${produce.topic}-${produce.partition}: transaction verification: ${msg.errorMessage}`));
            }
          }
          return state;
        }

        case 'WriteTxnMarker': {
          const marker = validateWriteTxnMarker(msg);
          if (isInvalid(marker)) {
            ctx.log.warn({ reason: marker.errorMessage }, 'txn_marker.invalid_request');
            return state;
          }
          const replicaRef = state.replicas.get(partitionKey(marker.topic, marker.partition));
          if (replicaRef === undefined) {
            ctx.node.tell(marker.replyTo, { type: 'ProduceReply', topic: marker.topic, partition: marker.partition, errorCode: ErrorCode.NOT_LEADER_OR_FOLLOWER, errorMessage: `broker ${brokerId} does not host ${marker.topic}-${marker.partition}`, baseOffset: -1, logAppendTimeMs: -1, logStartOffset: -1 });
            return state;
          }
          if (marker.topic === offsetsTopicName && deps.groupCoordinator !== undefined) {
            // The group coordinator makes the transaction's offsets visible (or drops them) once the marker is written.
            const groups = deps.groupCoordinator;
            const original = marker.replyTo;
            ctx.node
              .ask<WriteTxnMarker, ProduceReply>(replicaRef as Ref<WriteTxnMarker>, (replyTo) => ({ ...marker, replyTo }), { timeoutMs: marker.timeoutMs + 2_000 })
              .then(
                (reply) => {
                  if (reply.errorCode === ErrorCode.NONE) {
                    ctx.node.tell(groups, { type: 'TxnMarkerWritten', partition: marker.partition, producerId: marker.producerId, producerEpoch: marker.producerEpoch, result: marker.result });
                  }
                  ctx.node.tell(original, reply);
                },
                (err: unknown) => ctx.node.tell(original, { type: 'ProduceReply', topic: marker.topic, partition: marker.partition, errorCode: ErrorCode.REQUEST_TIMED_OUT, errorMessage: `marker write: ${String((err as Error).message)}`, baseOffset: -1, logAppendTimeMs: -1, logStartOffset: -1 }),
              );
            return state;
          }
          ctx.node.tell(replicaRef, marker);
          return state;
        }

        case 'DescribeProducers': {
          const request = validateDescribeProducers(msg);
          if (isInvalid(request)) {
            ctx.log.warn({ reason: request.errorMessage }, 'describe_producers.invalid_request');
            const replyTo = (msg as { replyTo?: unknown }).replyTo as Ref<unknown> | undefined;
            if (typeof replyTo?.node === 'string' && typeof replyTo.path === 'string') ctx.node.tell(replyTo, { type: 'DescribeProducersError', errorCode: request.errorCode, errorMessage: request.errorMessage });
            return state;
          }
          ctx.node.tell(request.replyTo, describeProducersReply(request, registry, state.image, brokerId));
          return state;
        }

        case 'DescribeLogDirs': {
          const request = validateDescribeLogDirs(msg);
          if (isInvalid(request)) {
            ctx.log.warn({ reason: request.errorMessage }, 'describe_log_dirs.invalid_request');
            const replyTo = ref((msg as { replyTo?: unknown }).replyTo, 'DescribeLogDirs.replyTo');
            if (!isInvalid(replyTo)) ctx.node.tell(replyTo, { type: 'DescribeLogDirsError', errorCode: request.errorCode, errorMessage: request.errorMessage });
            return state;
          }
          ctx.node.tell(request.replyTo, describeLogDirsReply(request, registry, config.brokerId, config.dataDir));
          return state;
        }

        case 'DeleteRecords': {
          const request = validateDeleteRecords(msg);
          if (isInvalid(request)) {
            ctx.log.warn({ reason: request.errorMessage }, 'delete_records.invalid_request');
            const replyTo = ref((msg as { replyTo?: unknown }).replyTo, 'DeleteRecords.replyTo');
            if (!isInvalid(replyTo)) ctx.node.tell(replyTo, { type: 'DeleteRecordsError', errorCode: request.errorCode, errorMessage: request.errorMessage });
            return state;
          }
          // Started here, answered by the promise: the replicas wait for their followers, the broker does not.
          void deleteRecordsReply(request, {
            brokerId,
            image: state.image,
            replicaOf: (key) => state.replicas.get(key),
            ask: (replica, message, timeoutMs) => ctx.node.ask(replica, message, { timeoutMs }),
          }).then((reply) => ctx.node.tell(request.replyTo, reply));
          return state;
        }

        case 'Metadata': {
          const request = validateMetadata(msg, 'Metadata');
          if (isInvalid(request)) {
            ctx.log.warn({ reason: request.errorMessage }, 'metadata.invalid_request');
            return state;
          }
          const caller = request.caller ?? undefined;
          const security = deps.security;
          const unfiltered = buildMetadataResponse(state.image, { topics: request.topics }, state.activeControllerId);
          const response = security === undefined || caller === undefined ? unfiltered : describableMetadata(unfiltered, request.topics === null, (name) => security.allows(caller, AclOperation.DESCRIBE, AclResourceType.TOPIC, name));
          const mayCreate = (name: string): boolean =>
            security === undefined || security.allows(caller, AclOperation.CREATE, AclResourceType.CLUSTER, clusterResourceName) || security.allows(caller, AclOperation.CREATE, AclResourceType.TOPIC, name);
          if (config.autoCreateTopicsEnable && request.allowAutoTopicCreation && request.topics !== null) {
            const missing = response.topics.filter((t) => t.errorCode === ErrorCode.UNKNOWN_TOPIC_OR_PARTITION && !t.name.startsWith('__') && !state.autoCreating.has(t.name) && mayCreate(t.name));
            if (missing.length > 0) {
              for (const t of missing) state.autoCreating.add(t.name);
              ctx.node.tell(deps.controllerClient, {
                type: 'ControllerCall',
                command: { type: 'CreateTopics', validateOnly: false, topics: missing.map((t) => ({ name: t.name, numPartitions: config.numPartitions, replicationFactor: Math.min(config.defaultReplicationFactor, Math.max(1, state.image.brokers.size)), assignments: null, configs: [] })) },
                replyTo: ctx.self,
              });
            }
          }
          ctx.node.tell(request.replyTo, { type: 'MetadataReply', ...response });
          return state;
        }

        case 'Admin': {
          const request = validateAdmin(msg, 'Admin');
          if (isInvalid(request)) {
            ctx.log.warn({ reason: request.errorMessage }, 'admin.invalid_request');
            return state;
          }
          if (!clientAdminCommands.has(request.command.type)) {
            ctx.node.tell(request.replyTo, { type: 'AdminError', errorCode: ErrorCode.INVALID_REQUEST, errorMessage: `${request.command.type} is not an admin command` });
            return state;
          }
          // DescribeConfigs: the controller answers (read-your-writes after an AlterConfigs), and this broker fills in
          // its static config, which the controller does not know, as Kafka's brokers answer from their own.
          if (request.command.type === 'DescribeConfigs' && staticConfigs.values.size > 0) {
            const replyTo = request.replyTo;
            void ctx.node
              .ask<unknown, { type?: unknown }>(deps.controllerClient, (slot) => ({ type: 'ControllerCall', command: (msg as { command: unknown }).command, replyTo: slot }), { timeoutMs: describeConfigsWaitMs })
              .then(
                (reply) => ctx.node.tell(replyTo, reply?.type === 'DescribeConfigsReply' && isDescribeConfigsReply(reply) ? withStaticBrokerConfigs(reply, staticConfigs) : reply),
                (err: unknown) => ctx.node.tell(replyTo, { type: 'AdminError', errorCode: ErrorCode.REQUEST_TIMED_OUT, errorMessage: `DescribeConfigs: no answer from the controller: ${(err as Error).message}` }),
              );
            return state;
          }
          // The controller validates the command itself: it comes from the network either way.
          ctx.node.tell(deps.controllerClient, { type: 'ControllerCall', command: (msg as { command: unknown }).command, replyTo: request.replyTo });
          return state;
        }

        case 'MetadataImageUpdated': {
          if (!isImage(msg.image) || (msg.activeControllerId !== undefined && !isErrorCode(msg.activeControllerId))) {
            ctx.log.warn('broker.malformed_image_update');
            return state;
          }
          // Images only move forward: an older one arriving late must never undo a newer one
          // (diffing backwards would stop, even delete, partitions that still exist).
          if (msg.image.appliedOffset < state.image.appliedOffset) return state;
          const previous = state.image;
          state = { ...state, image: msg.image, activeControllerId: msg.activeControllerId ?? state.activeControllerId };
          latestImage = msg.image;
          const throttles = effectiveBrokerThrottles(msg.image, brokerId);
          const nowMs = registry.clock.monotonicMs();
          registry.replicationQuotas.leader.setRate(throttles.leaderReplicationThrottledRateBytesPerSec, nowMs);
          registry.replicationQuotas.follower.setRate(throttles.followerReplicationThrottledRateBytesPerSec, nowMs);
          for (const change of diffForBroker(previous, msg.image, brokerId)) await applyChange(state, ctx, change);
          applyConfigs(state, ctx, previous);
          for (const name of state.autoCreating) if (topicByName(msg.image, name)) state.autoCreating.delete(name);
          // The empty image (a controller client that has not fetched yet) claims nothing: wait for a real one.
          if (state.adoptable !== null && msg.image.appliedOffset >= 0) await releaseUnclaimed(state, ctx);
          return state;
        }

        case 'ReplicaRestarted': {
          const view = registry.getByKey(msg.key);
          const replicaRef = state.replicas.get(msg.key);
          if (view === undefined || replicaRef === undefined) return state;
          const topic = topicByName(state.image, view.topic);
          const partitionState = topic?.partitions[view.partition];
          if (topic === undefined || partitionState === undefined) return state;
          const change: ReplicaChange = { type: partitionState.leader === brokerId ? 'BecomeLeader' : 'BecomeFollower', topic: topic.name, topicId: topic.topicId, partition: view.partition, leader: partitionState.leader, leaderEpoch: partitionState.leaderEpoch, partitionEpoch: partitionState.partitionEpoch, replicas: partitionState.replicas, isr: partitionState.isr, addingReplicas: partitionState.addingReplicas, deleted: false };
          ctx.node.tell(replicaRef, change.type === 'BecomeLeader' ? becomeLeaderMessage(state, change) : { type: 'BecomeFollower', leaderId: change.leader, leaderEpoch: change.leaderEpoch });
          return state;
        }

        case 'FetcherRestarted': {
          const fetcherRef = state.fetchers.get(msg.leaderId);
          if (fetcherRef === undefined) return state;
          for (const [key, leaderId] of state.fetchingFrom) {
            if (leaderId !== msg.leaderId) continue;
            const view = registry.getByKey(key);
            const partitionState = view === undefined ? undefined : topicByName(state.image, view.topic)?.partitions[view.partition];
            if (view === undefined || partitionState === undefined) continue;
            ctx.node.tell(fetcherRef, { type: 'AddPartition', topic: view.topic, partition: view.partition, leaderEpoch: partitionState.leaderEpoch });
          }
          return state;
        }

        case 'PauseFetcher':
        case 'ResumeFetcher': {
          const fetcherRef = state.fetchers.get(msg.leaderId);
          if (fetcherRef) ctx.node.tell(fetcherRef, { type: msg.type === 'PauseFetcher' ? 'Pause' : 'Resume' });
          if (msg.replyTo) ctx.node.tell(msg.replyTo, { type: `${msg.type}Reply`, found: fetcherRef !== undefined });
          return state;
        }

        case 'Housekeeping': {
          if (msg.incarnation !== state.incarnation) return state; // a timer of an earlier incarnation: its chain ends here
          for (const view of registry.all()) {
            try {
              view.log.enforceRetention();
              view.log.clean();
            } catch (err) {
              ctx.log.warn({ partition: view.key, err }, 'partition.housekeeping_failed');
            }
          }
          ctx.scheduleOnce(config.logRetentionCheckIntervalMs, { type: 'Housekeeping', incarnation: state.incarnation });
          return state;
        }

        case 'CheckpointHighWatermarks': {
          if (msg.incarnation !== state.incarnation) return state;
          ctx.scheduleOnce(highWatermarkCheckpointIntervalMs, { type: 'CheckpointHighWatermarks', incarnation: state.incarnation });
          // A pass still running (thousands of busy partitions) absorbs this tick: it goes on where it is.
          if (state.checkpointPass.length > 0) return state;
          // Visited from the end (pop), so reversed: partitions are checkpointed in the registry's order.
          const pass = registry.all().map((view) => view.key).reverse();
          return checkpointSlice(ctx, { ...state, checkpointPass: pass });
        }

        case 'ContinueCheckpoints':
          if (msg.incarnation !== state.incarnation) return state;
          return checkpointSlice(ctx, state);

        case 'InitProducerId': {
          const replyTo = (msg as { replyTo?: unknown }).replyTo;
          const checked = ref(replyTo, 'InitProducerId.replyTo');
          if (isInvalid(checked)) return state;
          if (msg.transactionalId !== null && msg.transactionalId !== undefined) {
            // The transaction coordinator answers (NOT_COORDINATOR when it is on another broker: FindTxnCoordinator first).
            ctx.node.tell({ node: ctx.node.nodeId, path: '/transactions' }, { type: 'InitProducerId', transactionalId: msg.transactionalId, transactionTimeoutMs: msg.transactionTimeoutMs, producerId: -1, producerEpoch: -1, replyTo: checked });
            return state;
          }
          if (state.producerIds.next < state.producerIds.end) {
            ctx.node.tell(checked, { type: 'InitProducerIdReply', errorCode: ErrorCode.NONE, producerId: state.producerIds.next, producerEpoch: 0 });
            return { ...state, producerIds: { ...state.producerIds, next: state.producerIds.next + 1 } };
          }
          if (state.waitingForProducerIds.length >= initProducerIdWaitingMax) {
            ctx.node.tell(checked, { type: 'InitProducerIdReply', errorCode: ErrorCode.COORDINATOR_NOT_AVAILABLE, errorMessage: 'too many producers waiting for ids', producerId: -1, producerEpoch: -1 });
            return state;
          }
          state.waitingForProducerIds.push(checked);
          if (!state.allocatingProducerIds) {
            ctx.node.tell(deps.controllerClient, { type: 'ControllerCall', command: { type: 'AllocateProducerIds', brokerId, brokerEpoch: state.image.brokers.get(brokerId)?.brokerEpoch ?? -1 }, replyTo: ctx.self });
          }
          return { ...state, allocatingProducerIds: true };
        }

        case 'AllocateProducerIdsReply': {
          // Only the answer to our own call (one at a time) may change the block.
          if (!state.allocatingProducerIds) return state;
          const wellFormed =
            isErrorCode(msg.errorCode) &&
            (msg.errorCode !== ErrorCode.NONE || (Number.isSafeInteger(msg.producerIdStart) && msg.producerIdStart >= 0 && Number.isSafeInteger(msg.producerIdLength) && msg.producerIdLength >= 1 && Number.isSafeInteger(msg.producerIdStart + msg.producerIdLength)));
          if (!wellFormed) {
            ctx.log.warn('broker.malformed_producer_ids_reply');
            msg = { type: 'AllocateProducerIdsReply', errorCode: ErrorCode.UNKNOWN_SERVER_ERROR, producerIdStart: -1, producerIdLength: 0 };
          }
          let { next, end } = state.producerIds;
          if (msg.errorCode === ErrorCode.NONE) {
            next = msg.producerIdStart;
            end = msg.producerIdStart + msg.producerIdLength;
          }
          const waiting: Ref<unknown>[] = [];
          for (const replyTo of state.waitingForProducerIds) {
            if (next < end) ctx.node.tell(replyTo, { type: 'InitProducerIdReply', errorCode: ErrorCode.NONE, producerId: next++, producerEpoch: 0 });
            else if (msg.errorCode !== ErrorCode.NONE) ctx.node.tell(replyTo, { type: 'InitProducerIdReply', errorCode: ErrorCode.COORDINATOR_NOT_AVAILABLE, errorMessage: `no producer ids: ${msg.errorCode}`, producerId: -1, producerEpoch: -1 });
            else waiting.push(replyTo);
          }
          if (waiting.length > 0) ctx.node.tell(deps.controllerClient, { type: 'ControllerCall', command: { type: 'AllocateProducerIds', brokerId, brokerEpoch: state.image.brokers.get(brokerId)?.brokerEpoch ?? -1 }, replyTo: ctx.self });
          return { ...state, producerIds: { next, end }, waitingForProducerIds: waiting, allocatingProducerIds: waiting.length > 0 };
        }

        case 'ControllerCallFailed': {
          // The only calls the broker makes for itself: auto-creation and producer ids. Auto-creation
          // may be asked for again by the next Metadata request.
          state.autoCreating.clear();
          if (!state.allocatingProducerIds) return state;
          const errorCode = isErrorCode(msg.errorCode) ? msg.errorCode : ErrorCode.COORDINATOR_NOT_AVAILABLE;
          const errorMessage = typeof msg.errorMessage === 'string' ? msg.errorMessage : 'controller unavailable';
          for (const replyTo of state.waitingForProducerIds) {
            ctx.node.tell(replyTo, { type: 'InitProducerIdReply', errorCode, errorMessage, producerId: -1, producerEpoch: -1 });
          }
          return { ...state, waitingForProducerIds: [], allocatingProducerIds: false };
        }

        case 'CreateTopicsReply': {
          // Answers to auto-creation. A refused name (say, no unfenced broker yet) may be asked for
          // again by the next Metadata request; a created one shows up in the next image.
          const refused = refusedTopics((msg as { topics?: unknown }).topics);
          if (refused === null) {
            // Malformed: forget every pending auto-creation; the next Metadata request may ask again.
            ctx.log.warn('broker.malformed_create_topics_reply');
            state.autoCreating.clear();
            return state;
          }
          for (const name of refused) state.autoCreating.delete(name);
          return state;
        }

        default:
          ctx.log.warn({ type: describeType(msg) }, 'broker.unknown_message');
          return state;
      }
    },
  };
}
