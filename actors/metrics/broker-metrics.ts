/**
 * A broker's metrics: one prom-client Registry per broker node, served at
 * /metrics by the HTTP listener (Prometheus text format) and read by the web
 * console. Every metric is listed, with its type, labels and meaning, in the
 * README ("Metrics"); `metricNames` here is that list, and a test checks both
 * agree.
 *
 * Owns: `BrokerMetrics` (the registry, the hot-path meters, the scrape-time
 * collectors), `brokerMetricsLimits`, `requestDurationBucketsSeconds`.
 *
 * Two kinds of metric, by what they cost:
 * 1. Counters moved on the hot path (requests, bytes and records per topic,
 *    produce and fetch errors, ISR changes) are plain number fields of small
 *    objects that the caller looks up once and keeps (a replica actor keeps
 *    its topic's meter for its whole life; a request type's series is looked
 *    up in one Map per request). An increment is an integer add: nothing
 *    allocates, nothing hashes labels (prom-client's `labels()` builds and
 *    hashes a label object on every call). The prom-client counters are
 *    filled from those fields when scraped (`collect`). Request latency is a
 *    prom-client histogram child, created once per series and observed once
 *    per request: per request (a whole record batch), never per record.
 * 2. Gauges of state (partition offsets and sizes, under-replicated and
 *    offline partitions, the Raft term, consumer lag, mailbox depths,
 *    connections) are computed when scraped, from what the actors already
 *    keep: the partition registry and each leader's published ISR
 *    (PartitionView.leaderIsr), the controller client's and the controller's
 *    status readers, the group coordinator's offsets, the node's mailboxes.
 *    Nothing is updated per record or per message for them.
 *
 * `enabled: false` (metrics.enabled=false): the hot path gets no-op stand-ins
 * (one shared throwaway meter, no request observer, the Kafka handler not
 * wrapped) and the registry holds nothing; bench:produce measures the
 * difference.
 *
 * Bounds: series per label set (`brokerMetricsLimits`): topics with their own
 * series (more share `topic="*"`, which no topic can be named), partitions and
 * group offsets reported per scrape, actors whose mailbox is reported, and the
 * time a scrape waits for the leaders' high watermarks (consumer lag of
 * partitions led elsewhere).
 *
 * Must not be imported by runtime/, protocol/ or storage/; it reads actors'
 * state only through their status readers, never by messages.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { errorName } from '../../protocol/errors.ts';
import type { FetchReply, ListOffsets, ListOffsetsReply } from '../../protocol/apis/data.ts';
import type { Node } from '../../runtime/node.ts';
import type { RequestObserver, RequestTimer } from '../../runtime/request-observer.ts';
import type { BrokerConfig } from '../broker/config.ts';
import { readiness } from '../broker/readiness.ts';
import { controllerClientStatus } from '../controller/client.ts';
import { controllerDescription } from '../controller/actor.ts';
import { groupCommittedOffsets } from '../group-coordinator/actor.ts';
import type { KafkaRequestHandler } from '../kafka/listener.ts';
import type { PartitionView } from '../partition/registry.ts';
import { topicByName } from '../controller/metadata/index.ts';

export const brokerMetricsLimits = {
  /** Topics with their own traffic series; the bytes and records of further topics are counted under topic="*". */
  topicsLabelledMax: 10_000,
  /** Request types with their own series, per listener and origin (the protocols declare far fewer). */
  requestTypesMax: 512,
  /** Partitions whose offsets and size are reported per scrape (hosted partitions beyond it are left out). */
  partitionSeriesMax: 10_000,
  /** Group offsets whose lag is reported per scrape. */
  groupLagSeriesMax: 10_000,
  /** Actors whose mailbox depth is reported: the deepest ones. */
  mailboxActorsReported: 10,
  /** How long a scrape waits for the high watermarks of partitions led by other brokers (consumer lag). */
  lagAskTimeoutMs: 2_000,
} as const;

/** Request latency buckets: a local Metadata answers in well under a millisecond, a long-polled Fetch waits up to its maxWaitMs. */
export const requestDurationBucketsSeconds = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30] as const;

/** The prefix of every metric name (collectDefaultMetrics's too). */
export const metricsPrefix = 'kactus_';

/** A topic's traffic through this broker, as plain counters (see the header: kind 1). */
export type TopicMeter = {
  /** Batch bytes appended as leader from producers (Kafka's BytesInPerSec). */
  bytesIn: number;
  /** Records in those batches. */
  recordsIn: number;
  /** Record bytes answered to consumers' fetches (BytesOutPerSec). */
  bytesOutConsumers: number;
  /** Record bytes answered to followers' fetches (ReplicationBytesOutPerSec). */
  bytesOutFollowers: number;
};

/** A leader's ISR as it published it on its PartitionView (the replica actor writes it; null when not leading). */
export type LeaderIsr = { readonly isrSize: number; readonly replicaCount: number; readonly minInsyncReplicas: number };

type RequestSeries = { count: number; readonly timer: RequestTimer };
type Listener = 'native' | 'kafka';
type Origin = 'client' | 'peer';

/** Every metric this module registers, without the prefix (the README table lists exactly these). */
export const metricNames = [
  'requests_total',
  'request_duration_seconds',
  'topic_bytes_in_total',
  'topic_records_in_total',
  'topic_bytes_out_total',
  'produce_errors_total',
  'fetch_errors_total',
  'isr_shrinks_total',
  'isr_expands_total',
  'partitions',
  'partitions_led',
  'partitions_under_replicated',
  'partitions_under_min_isr',
  'partitions_offline',
  'partition_log_start_offset',
  'partition_log_end_offset',
  'partition_high_watermark',
  'partition_log_size_bytes',
  'consumer_group_committed_offset',
  'consumer_group_lag_offsets',
  'controller_active',
  'raft_term',
  'raft_commit_index',
  'raft_applied_index',
  'raft_leader_id',
  'metadata_offset',
  'metadata_committed_offset',
  'metadata_lag_entries',
  'broker_ready',
  'actors',
  'actor_mailbox_depth',
  'actor_mailbox_depth_max',
  'connections',
] as const;

export type BrokerMetricsOptions = {
  /** metrics.enabled: false makes every hot-path call a no-op and registers nothing. */
  readonly enabled: boolean;
};

/** What the broker node hands the metrics once it has started (broker-node.ts). */
export type NodeSources = {
  readonly node: Node;
  readonly config: BrokerConfig;
  /** Open connections of the Kafka listeners, all together. */
  readonly kafkaConnections: () => number;
};

export class BrokerMetrics {
  /** The prom-client registry /metrics serves (empty when disabled). */
  readonly registry = new Registry();
  readonly enabled: boolean;
  /** For the runtime Node (NodeOptions.requestObserver): native-listener requests. Undefined when disabled. */
  readonly requestObserver: RequestObserver | undefined;

  private readonly topics = new Map<string, TopicMeter>();
  private readonly overflowTopic: TopicMeter = newTopicMeter();
  /** Where a disabled instance's hot path writes (nothing reads it). */
  private readonly sink: TopicMeter = newTopicMeter();
  private readonly requestSeries = new Map<string, RequestSeries>();
  private readonly produceErrorCounts = new Map<number, number>();
  private readonly fetchErrorCounts = new Map<string, number>();
  private isrShrinkCount = 0;
  private isrExpandCount = 0;
  private nodeSources: NodeSources | undefined;
  private partitionSource: (() => readonly PartitionView[]) | undefined;
  private duration: Histogram<'listener' | 'request' | 'origin'> | undefined;

  constructor(options: BrokerMetricsOptions) {
    this.enabled = options.enabled;
    this.requestObserver = this.enabled ? { received: (_path, type, origin, asked) => this.received('native', type, origin, asked) } : undefined;
    if (this.enabled) this.register();
  }

  // ------------------------------------------------------------ hot path (kind 1)

  /** The meter of `topic`: look it up once and keep it (a replica actor for its life, a fetch answer per partition). */
  topic(topic: string): TopicMeter {
    if (!this.enabled) return this.sink;
    const meter = this.topics.get(topic);
    if (meter !== undefined) return meter;
    if (this.topics.size >= brokerMetricsLimits.topicsLabelledMax) return this.overflowTopic;
    const created = newTopicMeter();
    this.topics.set(topic, created);
    return created;
  }

  /** A produce answered with an error (per batch: a produce carries one). */
  produceError(errorCode: number): void {
    if (!this.enabled || errorCode === 0) return;
    this.produceErrorCounts.set(errorCode, (this.produceErrorCounts.get(errorCode) ?? 0) + 1);
  }

  /** A fetch answer leaving the fetch server: record bytes per topic, and the error of each partition that has one. */
  fetchAnswered(reply: FetchReply, follower: boolean): void {
    if (!this.enabled) return;
    if (reply.errorCode !== 0) this.fetchError(reply.errorCode, follower);
    for (const p of reply.partitions) {
      if (p.errorCode !== 0) this.fetchError(p.errorCode, follower);
      const bytes = p.records?.length ?? 0;
      if (bytes === 0) continue;
      const meter = this.topic(p.topic);
      if (follower) meter.bytesOutFollowers += bytes;
      else meter.bytesOutConsumers += bytes;
    }
  }

  /** A leader's committed ISR changed from `before` to `after`: a shrink if it lost members, an expand if it gained some (both can happen at once). */
  isrChanged(before: readonly number[], after: readonly number[]): void {
    if (!this.enabled) return;
    if (before.some((id) => !after.includes(id))) this.isrShrinkCount += 1;
    if (after.some((id) => !before.includes(id))) this.isrExpandCount += 1;
  }

  /** The Kafka listener's handler, counted and timed per API (unchanged when disabled). */
  instrumentKafkaHandler(handler: KafkaRequestHandler): KafkaRequestHandler {
    if (!this.enabled) return handler;
    return async (request) => {
      const timer = this.received('kafka', request.api.name, 'client', true);
      const startedMs = performance.now();
      try {
        return await handler(request);
      } finally {
        timer?.answered((performance.now() - startedMs) / 1000);
      }
    };
  }

  private fetchError(errorCode: number, follower: boolean): void {
    const key = `${follower ? 'follower' : 'consumer'}:${errorCode}`;
    this.fetchErrorCounts.set(key, (this.fetchErrorCounts.get(key) ?? 0) + 1);
  }

  /** One request: its series (created once per listener, type and origin) counted, and its timer for an ask. */
  private received(listener: Listener, type: string, origin: Origin, asked: boolean): RequestTimer | undefined {
    const key = `${listener}\u0000${origin}\u0000${type}`;
    let series = this.requestSeries.get(key);
    if (series === undefined) {
      if (this.requestSeries.size >= brokerMetricsLimits.requestTypesMax) return undefined;
      const child = this.duration!.labels(listener, type, origin);
      series = { count: 0, timer: { answered: (seconds) => child.observe(seconds) } };
      this.requestSeries.set(key, series);
    }
    series.count += 1;
    return asked ? series.timer : undefined;
  }

  // ------------------------------------------------------------ sources (kind 2)

  /** The node, its config and its Kafka listeners: called once by startBrokerNode. */
  bindNode(sources: NodeSources): void {
    this.nodeSources = sources;
  }

  /** The hosted partitions (the data plane's registry): called once by startDataPlane. */
  bindPartitions(partitions: () => readonly PartitionView[]): void {
    this.partitionSource = partitions;
  }

  /** The Prometheus text of every metric (what /metrics answers). */
  async text(): Promise<string> {
    return this.registry.metrics();
  }

  // ------------------------------------------------------------ registration

  private register(): void {
    const registers = [this.registry];
    const p = metricsPrefix;
    collectDefaultMetrics({ register: this.registry, prefix: p });

    // Requests.
    const requestsSpec = { name: `${p}requests_total`, help: 'Requests received, by listener (native, kafka), request type (a native message type or a Kafka API name) and origin (client, or peer broker)', labelNames: ['listener', 'request', 'origin'], registers };
    this.duration = new Histogram({ name: `${p}request_duration_seconds`, help: 'Time from a request\'s arrival to its answer leaving (long-polled fetches include their wait), by listener, request type and origin', labelNames: ['listener', 'request', 'origin'], buckets: [...requestDurationBucketsSeconds], registers });
    const series = this.requestSeries;
    counterFrom(requestsSpec, () => [...series].map(([key, s]) => {
      const [listener, origin, request] = key.split('\u0000') as [string, string, string];
      return [{ listener, request, origin }, s.count];
    }));

    // Traffic per topic.
    const meters = (): [string, TopicMeter][] => [...this.topics, ...(sum(this.overflowTopic) > 0 ? [['*', this.overflowTopic] as [string, TopicMeter]] : [])];
    counterFrom(({ name: `${p}topic_bytes_in_total`, help: 'Record batch bytes appended as leader from producers, by topic', labelNames: ['topic'], registers }), () => meters().map(([topic, m]) => [{ topic }, m.bytesIn]));
    counterFrom(({ name: `${p}topic_records_in_total`, help: 'Records appended as leader from producers, by topic', labelNames: ['topic'], registers }), () => meters().map(([topic, m]) => [{ topic }, m.recordsIn]));
    counterFrom(({ name: `${p}topic_bytes_out_total`, help: 'Record bytes answered to fetches, by topic and reader (consumer, follower)', labelNames: ['topic', 'reader'], registers }), () =>
      meters().flatMap(([topic, m]) => [[{ topic, reader: 'consumer' }, m.bytesOutConsumers], [{ topic, reader: 'follower' }, m.bytesOutFollowers]] as [Record<string, string>, number][]),
    );
    counterFrom(({ name: `${p}produce_errors_total`, help: 'Produce requests answered with an error, by Kafka error name', labelNames: ['error'], registers }), () => [...this.produceErrorCounts].map(([code, n]) => [{ error: errorName(code) }, n]));
    counterFrom(({ name: `${p}fetch_errors_total`, help: 'Fetch answer partitions (or whole answers) with an error, by Kafka error name and reader (consumer, follower)', labelNames: ['error', 'reader'], registers }), () =>
      [...this.fetchErrorCounts].map(([key, n]) => {
        const [reader, code] = key.split(':') as [string, string];
        return [{ error: errorName(Number(code)), reader }, n];
      }),
    );
    counterFrom(({ name: `${p}isr_shrinks_total`, help: 'Committed ISR changes of partitions led here that removed a replica', registers }), () => [[{}, this.isrShrinkCount]]);
    counterFrom(({ name: `${p}isr_expands_total`, help: 'Committed ISR changes of partitions led here that added a replica', registers }), () => [[{}, this.isrExpandCount]]);

    // Partitions, from the registry and the leaders' published ISRs.
    const views = (): readonly PartitionView[] => this.partitionSource?.() ?? [];
    const leaders = (): (PartitionView & { leaderIsr: LeaderIsr })[] => views().filter((v): v is PartitionView & { leaderIsr: LeaderIsr } => v.role === 'leader' && v.leaderIsr !== null);
    gaugeFrom(({ name: `${p}partitions`, help: 'Partition replicas hosted on this broker (leaders and followers)', registers }), () => [[{}, views().length]]);
    gaugeFrom(({ name: `${p}partitions_led`, help: 'Partitions this broker leads (Kafka\'s LeaderCount)', registers }), () => [[{}, leaders().length]]);
    gaugeFrom(({ name: `${p}partitions_under_replicated`, help: 'Partitions led here whose ISR is smaller than their replica set', registers }), () => [[{}, leaders().filter((v) => v.leaderIsr.isrSize < v.leaderIsr.replicaCount).length]]);
    gaugeFrom(({ name: `${p}partitions_under_min_isr`, help: 'Partitions led here whose ISR is smaller than min.insync.replicas (acks=all writes are refused)', registers }), () => [[{}, leaders().filter((v) => v.leaderIsr.isrSize < v.leaderIsr.minInsyncReplicas).length]]);
    gaugeFrom(({ name: `${p}partitions_offline`, help: 'Partitions without a leader in the committed metadata; reported by the active controller, 0 elsewhere', registers }), () => [[{}, this.offlinePartitions()]]);
    const perPartition = (name: string, help: string, value: (v: PartitionView) => number): void => {
      gaugeFrom(({ name: `${p}${name}`, help, labelNames: ['topic', 'partition'], registers }), () =>
        views().slice(0, brokerMetricsLimits.partitionSeriesMax).map((v) => [{ topic: v.topic, partition: String(v.partition) }, value(v)]),
      );
    };
    perPartition('partition_log_start_offset', 'First offset of each hosted partition\'s log', (v) => v.log.logStartOffset);
    perPartition('partition_log_end_offset', 'Log end offset of each hosted partition (the next offset to be written)', (v) => v.log.logEndOffset);
    perPartition('partition_high_watermark', 'High watermark of each hosted partition (what consumers may read up to)', (v) => v.log.highWatermark);
    perPartition('partition_log_size_bytes', 'Bytes of each hosted partition\'s segments on disk', (v) => v.log.sizeBytes);

    // Consumer groups coordinated here.
    gaugeFrom(({ name: `${p}consumer_group_committed_offset`, help: 'Committed offset of each group coordinated by this broker, by group, topic and partition', labelNames: ['group', 'topic', 'partition'], registers }), () =>
      this.groupOffsets().map((o) => [{ group: o.groupId, topic: o.topic, partition: String(o.partition) }, o.offset]),
    );
    const groupLags = (): ReturnType<BrokerMetrics['groupLags']> => this.groupLags();
    new Gauge({
      name: `${p}consumer_group_lag_offsets`,
      help: 'High watermark minus committed offset of each group coordinated by this broker, by group, topic and partition (partitions whose leader did not answer in time are left out)',
      labelNames: ['group', 'topic', 'partition'],
      registers,
      async collect() {
        const lags = await groupLags();
        this.reset();
        for (const [labels, value] of lags) this.set(labels, value);
      },
    });

    // Controller and metadata.
    const description = (): ReturnType<typeof controllerDescription> => (this.nodeSources === undefined ? null : controllerDescription(this.nodeSources.node));
    const status = (): ReturnType<typeof controllerClientStatus> => (this.nodeSources === undefined ? null : controllerClientStatus(this.nodeSources.node));
    const whenController = (value: (d: NonNullable<ReturnType<typeof controllerDescription>>) => number) => (): [Record<string, string>, number][] => {
      const d = description();
      return d === null ? [] : [[{}, value(d)]];
    };
    gaugeFrom(({ name: `${p}controller_active`, help: '1 on the active controller (the Raft leader that has applied its term\'s first entry), else 0; only on brokers that run a controller', registers }), whenController((d) => (d.active ? 1 : 0)));
    gaugeFrom(({ name: `${p}raft_term`, help: 'Current Raft term of this broker\'s controller', registers }), whenController((d) => d.term));
    gaugeFrom(({ name: `${p}raft_commit_index`, help: 'Raft commit index of this broker\'s controller', registers }), whenController((d) => d.commitIndex));
    gaugeFrom(({ name: `${p}raft_applied_index`, help: 'Last metadata log entry this broker\'s controller applied', registers }), whenController((d) => d.appliedIndex));
    gaugeFrom(({ name: `${p}raft_leader_id`, help: 'The Raft leader this broker\'s controller knows of (-1: none)', registers }), whenController((d) => d.leaderId ?? -1));
    const whenStatus = (value: (s: NonNullable<ReturnType<typeof controllerClientStatus>>) => number) => (): [Record<string, string>, number][] => {
      const s = status();
      return s === null ? [] : [[{}, value(s)]];
    };
    gaugeFrom(({ name: `${p}metadata_offset`, help: 'Last metadata log offset replayed into this broker\'s image', registers }), whenStatus((s) => s.position));
    gaugeFrom(({ name: `${p}metadata_committed_offset`, help: 'Committed metadata log offset, as the controller last said in a fetch answer (-1: none yet)', registers }), whenStatus((s) => s.committedOffsetHeard));
    gaugeFrom(({ name: `${p}metadata_lag_entries`, help: 'Metadata log entries this broker\'s image is behind the committed offset last heard', registers }), whenStatus((s) => Math.max(0, s.committedOffsetHeard - s.position)));
    gaugeFrom(({ name: `${p}broker_ready`, help: '1 when /ready answers 200 (registered, unfenced, metadata caught up), else 0', registers }), () => {
      const sources = this.nodeSources;
      return sources === undefined ? [] : [[{}, readiness(controllerClientStatus(sources.node), sources.config).ready ? 1 : 0]];
    });

    // The runtime: actors, mailboxes, connections.
    const mailboxes = (): ReturnType<Node['mailboxDepths']> | undefined => this.nodeSources?.node.mailboxDepths(brokerMetricsLimits.mailboxActorsReported);
    gaugeFrom(({ name: `${p}actors`, help: 'Live actors on this broker node', registers }), () => {
      const m = mailboxes();
      return m === undefined ? [] : [[{}, m.actors]];
    });
    gaugeFrom(({ name: `${p}actor_mailbox_depth`, help: `Messages waiting in the mailboxes of the (at most ${brokerMetricsLimits.mailboxActorsReported}) busiest actors, by actor path`, labelNames: ['actor'], registers }), () =>
      (mailboxes()?.deepest ?? []).filter((a) => a.depth > 0).map((a) => [{ actor: a.path }, a.depth]),
    );
    gaugeFrom(({ name: `${p}actor_mailbox_depth_max`, help: 'Messages waiting in the deepest mailbox of this node', registers }), () => {
      const m = mailboxes();
      return m === undefined ? [] : [[{}, m.deepest[0]?.depth ?? 0]];
    });
    gaugeFrom(({ name: `${p}connections`, help: 'Open connections by listener (native, kafka) and kind (client, peer; pending: native handshake not done)', labelNames: ['listener', 'kind'], registers }), () => {
      const sources = this.nodeSources;
      if (sources === undefined) return [];
      const native = sources.node.connectionCounts();
      return [
        [{ listener: 'native', kind: 'client' }, native.client],
        [{ listener: 'native', kind: 'peer' }, native.peer],
        [{ listener: 'native', kind: 'pending' }, native.pending],
        [{ listener: 'kafka', kind: 'client' }, sources.kafkaConnections()],
      ];
    });
  }

  /** Partitions without a leader in the committed image, counted on the active controller only (Kafka's OfflinePartitionsCount). */
  private offlinePartitions(): number {
    const sources = this.nodeSources;
    if (sources === undefined || controllerDescription(sources.node)?.active !== true) return 0;
    const image = controllerClientStatus(sources.node)?.image;
    if (image === undefined) return 0;
    let offline = 0;
    for (const topic of image.topicsById.values()) for (const partition of topic.partitions) if (partition.leader < 0) offline += 1;
    return offline;
  }

  private groupOffsets(): ReturnType<typeof groupCommittedOffsets> {
    return this.nodeSources === undefined ? [] : groupCommittedOffsets(this.nodeSources.node, brokerMetricsLimits.groupLagSeriesMax);
  }

  /**
   * Lag of every committed offset coordinated here: the partition's high watermark (this broker's log when
   * it leads the partition, else a ListOffsets asked of the leader, all leaders at once, bounded by
   * lagAskTimeoutMs) minus the committed offset, never below 0.
   */
  private async groupLags(): Promise<[Record<string, string>, number][]> {
    const offsets = this.groupOffsets();
    const sources = this.nodeSources;
    if (offsets.length === 0 || sources === undefined) return [];
    const { node } = sources;
    const image = controllerClientStatus(node)?.image;
    const highWatermarks = new Map<string, number>();
    const remote = new Map<number, Map<string, { topic: string; partition: number }>>();
    const localViews = new Map((this.partitionSource?.() ?? []).map((v) => [v.key, v]));
    for (const o of offsets) {
      const key = `${o.topic}-${o.partition}`;
      if (highWatermarks.has(key)) continue;
      const local = localViews.get(key);
      if (local !== undefined && local.role === 'leader') {
        highWatermarks.set(key, local.log.highWatermark);
        continue;
      }
      const topic = image === undefined ? undefined : topicByName(image, o.topic);
      const leader = topic?.partitions[o.partition]?.leader ?? -1;
      if (leader < 0 || leader === sources.config.brokerId) continue;
      const wanted = remote.get(leader) ?? new Map<string, { topic: string; partition: number }>();
      wanted.set(key, { topic: o.topic, partition: o.partition });
      remote.set(leader, wanted);
    }
    await Promise.all(
      [...remote].map(async ([leader, wanted]) => {
        try {
          const reply = await node.ask<ListOffsets, ListOffsetsReply>(
            { node: String(leader), path: '/fetch' },
            (replyTo) => ({ type: 'ListOffsets', isolationLevel: 0, partitions: [...wanted.values()].map((w) => ({ ...w, timestamp: -1 })), replyTo }),
            { timeoutMs: brokerMetricsLimits.lagAskTimeoutMs },
          );
          for (const p of reply.partitions) if (p.errorCode === 0 && p.offset >= 0) highWatermarks.set(`${p.topic}-${p.partition}`, p.offset);
        } catch {
          // That leader did not answer in time: its partitions' lag is left out of this scrape.
        }
      }),
    );
    const out: [Record<string, string>, number][] = [];
    for (const o of offsets) {
      const highWatermark = highWatermarks.get(`${o.topic}-${o.partition}`);
      if (highWatermark !== undefined) out.push([{ group: o.groupId, topic: o.topic, partition: String(o.partition) }, Math.max(0, highWatermark - o.offset)]);
    }
    return out;
  }
}

function newTopicMeter(): TopicMeter {
  return { bytesIn: 0, recordsIn: 0, bytesOutConsumers: 0, bytesOutFollowers: 0 };
}

function sum(meter: TopicMeter): number {
  return meter.bytesIn + meter.recordsIn + meter.bytesOutConsumers + meter.bytesOutFollowers;
}

type MetricSpec = { name: string; help: string; labelNames?: readonly string[]; registers: Registry[] };
type Values = () => [Record<string, string>, number][];

/** A counter whose values are read from plain fields when scraped (reset, then each total added). */
function counterFrom(spec: MetricSpec, values: Values): Counter {
  return new Counter({
    ...spec,
    labelNames: spec.labelNames ?? [],
    collect() {
      this.reset();
      for (const [labels, value] of values()) this.inc(labels, value);
    },
  });
}

/** A gauge computed when scraped. */
function gaugeFrom(spec: MetricSpec, values: Values): Gauge {
  return new Gauge({
    ...spec,
    labelNames: spec.labelNames ?? [],
    collect() {
      this.reset();
      for (const [labels, value] of values()) this.set(labels, value);
    },
  });
}
