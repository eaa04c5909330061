/**
 * The sender: turns closed batches into Produce requests to partition
 * leaders, and their replies into completed or retried batches.
 *
 * Owns: `Delivery` (a batch on its way: encoded bytes, sequence, attempts,
 * deadline) and `Sender` (per-partition queues, per-broker in-flight counts,
 * retries, delivery timeouts, the fault hook).
 *
 * Encoding: a batch is encoded once, as RecordBatch v2, the first time it is
 * sent; a retry sends the same bytes. With idempotence its sequence number is
 * taken at that moment (so sequences follow the partition's batch order); if
 * the producer id changed since (IdempotenceState.generation), the header is
 * stamped again in place (idempotence.ts), never re-encoded.
 *
 * Bounds: at most `maxInFlightRequestsPerBroker` Produce requests per broker
 * (one batch per request); per partition, that many with idempotence (the
 * broker's sequence check keeps them in order) and one without (the only way
 * a retry cannot overtake a later batch). Retries are bounded by retriesMax
 * and by the delivery timeout, whichever comes first.
 *
 * Ordering within a partition, with retries (the numbered scenario):
 *   1. Batches 1..5 of partition P are in flight; 2 fails retriably (say the
 *      leader moved).
 *   2. P becomes `recovering`: nothing more is sent for P until every in-flight
 *      batch of P has answered. 3..5 fail too (the new leader, or the old one
 *      answering OUT_OF_ORDER_SEQUENCE_NUMBER since 2 is missing) or succeed
 *      if the broker did take them after 2 (impossible: a broker appends in
 *      sequence order, so 3 cannot be taken while 2 is not).
 *   3. Failed batches go back into P's queue sorted by their ordinal (their
 *      order of creation), so the resend starts with 2, then 3, ... with the
 *      same sequences, and the broker's dedupe answers any it already has with
 *      the original offsets.
 * Without idempotence one batch per partition is in flight, so step 2 cannot
 * arise; a lost reply may then duplicate a batch (at-least-once), as in Kafka.
 *
 * Idempotence failures: a sequenced batch that fails for good (or
 * UNKNOWN_PRODUCER_ID, INVALID_PRODUCER_EPOCH, or an OUT_OF_ORDER_SEQUENCE_NUMBER
 * with no earlier batch pending) makes the sender pause, wait for its
 * in-flight requests to end, and ask the producer for a new producer id;
 * unacknowledged batches are then stamped again in order (idempotence.ts),
 * except those in doubt (`Delivery.inDoubt`: an attempt got no definite
 * answer), which are resent under their old id and sequence, so a leader
 * that holds one answers it as a duplicate; UNKNOWN_PRODUCER_ID shows the
 * leader holds nothing of that id (stamp anew), OUT_OF_ORDER_SEQUENCE_NUMBER
 * leaves it undecidable (the batch fails, indeterminate).
 *
 * Transactions (transaction.ts): with `transactional` set, batches are
 * encoded with the transactional attribute and Produce carries the
 * transactional id; `partitionGate` is asked before a partition's batches go
 * ('wait': they stay queued, in order, until the partition is in the
 * transaction and `run()` is called; an error: they fail with it);
 * PRODUCER_FENCED / INVALID_PRODUCER_EPOCH fail the batch and call `onFatal`
 * (no retry, no new producer id: the producer is fenced). `dropQueued` fails
 * every batch not on the wire (an abort).
 *
 * Metrics and tracing (../metrics.ts, ../diagnostics.ts): with a registry,
 * each batch's encoded size and record count are observed once (its first
 * encoding), each Produce request's duration and error when it answers, the
 * records of a batch counted as sent when it is acknowledged or as failed
 * (by error) when it fails for good, and each retry by its cause. The
 * records-sent counter child is kept on the partition queue, so an ack costs
 * one add. The tracing channels get a context per request only when
 * subscribed.
 *
 * Fault hook (tests): `faults.dropProduceResponses = n` discards the next n
 * successful Produce answers as if the network lost them: the broker has the
 * batch, the sender does not know, and retries it.
 */
import type { Logger } from '../../runtime/logger.ts';
import { traceRange, tracing, wallMsOf } from '../../runtime/trace.ts';
import type { Ref } from '../../runtime/ref.ts';
import { isInvalid } from '../../protocol/validate.ts';
import { produceReplyValidator } from '../replies.ts';
import type { Produce, ProduceReply } from '../../protocol/apis/data.ts';
import { Compression, encodeBatch } from '../../protocol/record-batch/index.ts';
import { ErrorCode, KactusError, partitionError } from '../errors.ts';
import type { Connection } from '../connection.ts';
import type { MetadataCache } from '../metadata-cache.ts';
import type { ProducerConfig } from '../options.ts';
import { backoffMs, retryPolicyDefault, type RetryPolicy } from '../retry.ts';
import type { ProducerMetrics } from '../metrics.ts';
import { producerRequestChannel, producerRetryChannel, nextOperationId, type ProducerRequestContext, type ProducerRetryEvent } from '../diagnostics.ts';
import type { ProducerBatch } from './accumulator.ts';
import { stampProducerState, type IdempotenceState } from './idempotence.ts';

/** Extra time the client waits for a Produce answer beyond the broker's own timeout (network, queues). */
export const produceAnswerSlackMs = 2_000;

/**
 * Answers that say the leader did not append the batch (anything else leaves it in doubt).
 * NOT_LEADER_OR_FOLLOWER is not one: a leader that resigns answers its parked acks=all requests with it,
 * and those batches are in its log and may be in the new leader's (chaos seed 4: such a batch, stamped
 * again after a producer-id reset, was stored twice, at adjacent offsets).
 */
const definiteRefusals = new Set<number>([
  ErrorCode.LEADER_NOT_AVAILABLE,
  ErrorCode.UNKNOWN_TOPIC_OR_PARTITION,
  ErrorCode.NOT_ENOUGH_REPLICAS,
  ErrorCode.FENCED_LEADER_EPOCH,
  ErrorCode.UNKNOWN_LEADER_EPOCH,
  ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER,
  ErrorCode.UNKNOWN_PRODUCER_ID,
  ErrorCode.INVALID_PRODUCER_EPOCH,
  ErrorCode.PRODUCER_FENCED,
  ErrorCode.INVALID_TXN_STATE,
  ErrorCode.MESSAGE_TOO_LARGE,
  ErrorCode.RECORD_LIST_TOO_LARGE,
  ErrorCode.CORRUPT_MESSAGE,
  ErrorCode.INVALID_RECORD,
  ErrorCode.THROTTLING_QUOTA_EXCEEDED,
  ErrorCode.KAFKA_STORAGE_ERROR,
]);

export class Delivery {
  bytes: Buffer | undefined;
  baseSequence = -1;
  generation = -1;
  attempts = 0;
  /**
   * An attempt ended without a definite answer (a timeout, a lost link): the leader may hold
   * the batch. It is resent under its own producer id and sequence (the leader then answers a
   * copy it holds as a duplicate), never stamped again under a new one (it would be stored twice).
   */
  inDoubt = false;
  /** Completed or failed: a late answer (after abort) is ignored. */
  done = false;
  /** performance.now() when the last attempt went out (read only when tracing, runtime/trace.ts). */
  sentAtMs = 0;
  readonly deadlineMs: number;
  constructor(
    readonly batch: ProducerBatch,
    deliveryTimeoutMs: number,
  ) {
    this.deadlineMs = batch.createdAtMs + deliveryTimeoutMs;
  }
  get ordinal(): number {
    return this.batch.ordinal;
  }
}

class PartitionQueue {
  readonly queue: Delivery[] = [];
  readonly inFlight: Delivery[] = [];
  recovering = false;
  retryAtMs = 0;
  /** The leader whose answer (or silence) made this partition wait for retryAtMs; -1: none. */
  failedLeader = -1;
  constructor(
    readonly topic: string,
    readonly partition: number,
    readonly key: string,
    /** The records-sent counter of the topic (metrics on), looked up once. */
    readonly sent: { inc(count: number): void } | undefined,
  ) {}

  /** Puts a delivery back in creation order. */
  requeue(delivery: Delivery): void {
    let i = this.queue.length;
    while (i > 0 && this.queue[i - 1]!.ordinal > delivery.ordinal) i -= 1;
    this.queue.splice(i, 0, delivery);
  }

  hasEarlierThan(delivery: Delivery): boolean {
    return this.queue.some((d) => d.ordinal < delivery.ordinal) || this.inFlight.some((d) => d.ordinal < delivery.ordinal);
  }
}

export type SenderDeps = {
  connection: Connection;
  metadata: MetadataCache;
  config: ProducerConfig;
  /** Present when the producer is idempotent. */
  idempotence: IdempotenceState | undefined;
  log: Logger;
  /** The Kactus clientId (tracing contexts); default 'kactus'. */
  clientId?: string;
  /** Present when the app passed a metrics registry. */
  metrics?: ProducerMetrics | undefined;
  nowMs: () => number;
  random: () => number;
  /** A delivery ended (completed or failed): its bytes leave the buffer. */
  onDone: (delivery: Delivery) => void;
  /** The sender needs a new producer id; call `producerIdReady()` once it is set. */
  requestProducerId: () => void;
  /** Transactional producers only (see the module comment). */
  transactional?: {
    transactionalId: string;
    partitionGate: (topic: string, partition: number) => 'ready' | 'wait' | KactusError;
    onFatal: (error: KactusError) => void;
    fatalCodes: ReadonlySet<number>;
  };
};

/** One batch in this many has its encoding CPU time measured (Sender.stats.encodeCpuMs is the scaled estimate). */
const encodeCpuSampleEvery = 16;

type ReplyLike = { errorCode: number; errorMessage: string | null; baseOffset: number; logAppendTimeMs: number };

export class Sender {
  private readonly partitions = new Map<string, PartitionQueue>();
  /** Partitions with queued batches, in service order. */
  private readonly active = new Set<PartitionQueue>();
  private readonly brokerInFlight = new Map<number, number>();
  private readonly retry: RetryPolicy;
  private readonly perPartitionInFlightMax: number;
  private pendingCount = 0;
  private inFlightCount = 0;
  private running = false;
  private rerun = false;
  private paused = false;
  private wakeTimer: NodeJS.Timeout | undefined;
  private wakeAtMs = Infinity;
  private idleWaiters: (() => void)[] = [];
  private dropsLeft: number;
  private closed = false;
  /** Counters for tests and the benchmark. */
  readonly stats = { requests: 0, retries: 0, droppedResponses: 0, producerIdResets: 0, encodedBytes: 0, encodeCpuMs: 0, requestMsTotal: 0 };

  constructor(private readonly deps: SenderDeps) {
    const c = deps.config;
    this.retry = { ...retryPolicyDefault, retriesMax: c.retriesMax, backoffMsInitial: c.retryBackoffMs, backoffMsMax: c.retryBackoffMsMax };
    this.perPartitionInFlightMax = deps.idempotence ? c.maxInFlightRequestsPerBroker : 1;
    this.dropsLeft = c.faults.dropProduceResponses;
  }

  /** Batches queued or in flight. */
  get pending(): number {
    return this.pendingCount;
  }

  /** Takes closed batches (in close order) and sends what it can. */
  enqueue(batches: readonly ProducerBatch[]): void {
    for (const batch of batches) {
      const key = `${batch.topic}\u0000${batch.partition}`;
      let pq = this.partitions.get(key);
      if (pq === undefined) {
        pq = new PartitionQueue(batch.topic, batch.partition, key, this.deps.metrics?.sentCounter(batch.topic));
        this.partitions.set(key, pq);
      }
      pq.queue.push(new Delivery(batch, this.deps.config.deliveryTimeoutMs));
      this.active.add(pq);
      this.pendingCount += 1;
    }
  }

  /** Resolves when nothing is queued or in flight. */
  whenIdle(): Promise<void> {
    if (this.pendingCount === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** The producer set a new producer id: stamp again and resume. */
  producerIdReady(): void {
    this.paused = false;
    this.run();
  }

  /** Sends every batch that may be sent now. Re-entrant calls fold into the running one. */
  run(): void {
    if (this.closed) return;
    if (this.running) {
      this.rerun = true;
      return;
    }
    this.running = true;
    try {
      do {
        this.rerun = false;
        this.pass();
      } while (this.rerun);
    } finally {
      this.running = false;
    }
  }

  private pass(): void {
    const nowMs = this.deps.nowMs();
    if (this.paused) {
      // Waiting for a new producer id; expire what has waited too long meanwhile.
      for (const pq of this.active) this.expireQueued(pq, nowMs);
      return;
    }
    const served: PartitionQueue[] = [];
    for (const pq of this.active) {
      this.expireQueued(pq, nowMs);
      if (pq.queue.length === 0) {
        this.active.delete(pq);
        continue;
      }
      // A leader the runtime holds down counts as none: a send to it would fail unsent.
      const cachedLeader = this.deps.metadata.leaderOf(pq.topic, pq.partition);
      const leader = cachedLeader !== undefined && this.deps.connection.isDown(cachedLeader) ? undefined : cachedLeader;
      // The backoff is for the leader that failed; metadata naming another one ends it (Kafka's KIP-951).
      if (nowMs < pq.retryAtMs && (leader === undefined || leader === pq.failedLeader)) {
        this.wakeAt(pq.retryAtMs);
        continue;
      }
      if (pq.recovering && pq.inFlight.length > 0) continue;
      const gate = this.deps.transactional?.partitionGate(pq.topic, pq.partition) ?? 'ready';
      if (gate === 'wait') continue;
      if (gate !== 'ready') {
        for (const delivery of pq.queue.splice(0)) this.fail(delivery, partitionError(gate.code, pq.topic, pq.partition, gate.message, gate));
        continue;
      }
      if (leader === undefined) {
        pq.retryAtMs = nowMs + this.deps.config.retryBackoffMs;
        pq.failedLeader = cachedLeader ?? -1;
        this.wakeAt(pq.retryAtMs);
        this.deps.metadata.refresh([pq.topic]).then(
          () => this.run(),
          () => undefined,
        );
        continue;
      }
      let sent = false;
      while (pq.queue.length > 0 && pq.inFlight.length < this.perPartitionInFlightMax && (this.brokerInFlight.get(leader) ?? 0) < this.deps.config.maxInFlightRequestsPerBroker) {
        const delivery = pq.queue.shift()!;
        pq.recovering = false;
        this.dispatch(pq, delivery, leader);
        sent = true;
        if (this.paused) return;
      }
      if (sent) served.push(pq);
    }
    // Rotate: partitions just served go to the back, so one busy partition cannot starve the others of broker slots.
    for (const pq of served) {
      if (this.active.delete(pq) && pq.queue.length > 0) this.active.add(pq);
    }
  }

  private expireQueued(pq: PartitionQueue, nowMs: number): void {
    while (pq.queue.length > 0 && pq.queue[0]!.deadlineMs <= nowMs) {
      const delivery = pq.queue.shift()!;
      this.fail(delivery, this.timeoutError(pq, delivery, nowMs, undefined));
    }
  }

  private timeoutError(pq: PartitionQueue, delivery: Delivery, nowMs: number, last: KactusError | undefined): KactusError {
    const waited = Math.round(nowMs - delivery.batch.createdAtMs);
    return partitionError(ErrorCode.REQUEST_TIMED_OUT, pq.topic, pq.partition, `${delivery.batch.recordCount} record(s) expired: ${waited} ms passed since the batch was created (deliveryTimeoutMs ${this.deps.config.deliveryTimeoutMs}) after ${delivery.attempts} attempt(s)${last ? `; last error: ${last.message}` : ''}`, last);
  }

  private encode(pq: PartitionQueue, delivery: Delivery): Buffer {
    const idempotence = this.deps.idempotence;
    if (delivery.bytes === undefined) {
      const batch = delivery.batch;
      // CPU time, not wall time: a busy machine must not make encoding look slow. Sampled (one batch in
      // encodeCpuSampleEvery, scaled up): process.cpuUsage() twice per batch cost 3% of perf produce's CPU.
      const sampled = this.stats.requests % encodeCpuSampleEvery === 0;
      const cpuBefore = sampled ? process.cpuUsage() : undefined;
      if (idempotence) {
        delivery.baseSequence = idempotence.take(pq.key, batch.recordCount);
        delivery.generation = idempotence.generation;
      }
      delivery.bytes = encodeBatch({
        records: batch.records,
        compression: Compression[this.deps.config.compression],
        ...(idempotence ? { producerId: idempotence.producerId, producerEpoch: idempotence.producerEpoch, baseSequence: delivery.baseSequence } : {}),
        ...(this.deps.transactional ? { isTransactional: true } : {}),
      });
      if (cpuBefore !== undefined) {
        const cpu = process.cpuUsage(cpuBefore);
        this.stats.encodeCpuMs += (encodeCpuSampleEvery * (cpu.user + cpu.system)) / 1_000;
      }
      this.stats.encodedBytes += delivery.bytes.length;
      this.deps.metrics?.batchEncoded(delivery.bytes.length, batch.recordCount);
    } else if (idempotence && delivery.generation !== idempotence.generation && !delivery.inDoubt) {
      // A batch in doubt keeps its old producer id and sequence: the leader answers a copy it holds as a duplicate.
      delivery.baseSequence = idempotence.take(pq.key, delivery.batch.recordCount);
      delivery.generation = idempotence.generation;
      stampProducerState(delivery.bytes, idempotence.producerId, idempotence.producerEpoch, delivery.baseSequence);
    }
    return delivery.bytes;
  }

  private dispatch(pq: PartitionQueue, delivery: Delivery, leader: number): void {
    const config = this.deps.config;
    const bytes = this.encode(pq, delivery);
    delivery.attempts += 1;
    if (delivery.attempts > 1) this.stats.retries += 1;
    this.stats.requests += 1;
    const { connection } = this.deps;
    if (config.acks === 0) {
      const replyTo = { node: connection.node.nodeId, path: '/temp/acks-0' };
      const refusal = connection.tell<Produce>(leader, '/broker', { type: 'Produce', topic: pq.topic, partition: pq.partition, acks: 0, timeoutMs: config.requestTimeoutMs, batch: bytes, replyTo });
      pq.inFlight.push(delivery);
      this.onReply(pq, delivery, leader, refusal === 0 ? { errorCode: 0, errorMessage: null, baseOffset: -1, logAppendTimeMs: -1 } : { errorCode: refusal, errorMessage: 'the link to the broker refused the request', baseOffset: -1, logAppendTimeMs: -1 }, false);
      return;
    }
    pq.inFlight.push(delivery);
    this.brokerInFlight.set(leader, (this.brokerInFlight.get(leader) ?? 0) + 1);
    this.inFlightCount += 1;
    const sentAtMs = performance.now();
    delivery.sentAtMs = sentAtMs;
    const metrics = this.deps.metrics;
    metrics?.requestStarted();
    const ask = (): Promise<unknown> => connection.ask<Produce, unknown>(leader, '/broker', (replyTo) => ({ type: 'Produce', topic: pq.topic, partition: pq.partition, acks: config.acks, timeoutMs: config.requestTimeoutMs, batch: bytes, ...(this.deps.transactional ? { transactionalId: this.deps.transactional.transactionalId } : {}), replyTo: replyTo as Ref<ProduceReply> }), config.requestTimeoutMs + produceAnswerSlackMs);
    (producerRequestChannel.hasSubscribers ? this.tracedAsk(ask, pq, delivery, leader, bytes.length) : ask())
      .then(
        (raw) => {
          const durationMs = performance.now() - sentAtMs;
          this.stats.requestMsTotal += durationMs;
          const reply = produceReplyValidator(raw, 'ProduceReply');
          const answer = isInvalid(reply) ? { errorCode: ErrorCode.CORRUPT_MESSAGE, errorMessage: `malformed answer: ${reply.errorMessage}`, baseOffset: -1, logAppendTimeMs: -1 } : reply;
          metrics?.requestEnded(durationMs, answer.errorCode);
          this.onReply(pq, delivery, leader, answer, true);
        },
        (err: unknown) => {
          metrics?.requestEnded(performance.now() - sentAtMs, err instanceof KactusError ? err.code : ErrorCode.UNKNOWN_SERVER_ERROR);
          if (!(err instanceof KactusError)) {
            this.afterInFlight(pq, delivery, leader, true);
            if (!delivery.done) this.fail(delivery, err instanceof Error ? err : new Error(String(err)));
            this.run();
            return;
          }
          this.onReply(pq, delivery, leader, { errorCode: err.code, errorMessage: err.message, baseOffset: -1, logAppendTimeMs: -1 }, true);
        },
      );
  }

  /** The Produce ask inside the kactus:producer:request tracing channel (only called when it has subscribers). */
  private tracedAsk(ask: () => Promise<unknown>, pq: PartitionQueue, delivery: Delivery, leader: number, sizeBytes: number): Promise<unknown> {
    const context: ProducerRequestContext = { operationId: nextOperationId(), clientId: this.deps.clientId ?? 'kactus', broker: leader, topic: pq.topic, partition: pq.partition, recordCount: delivery.batch.recordCount, sizeBytes, attempt: delivery.attempts };
    let raw: unknown;
    // tracePromise sets context.result to what the function resolves with: the answer's code and offset.
    const traced = producerRequestChannel.tracePromise(async () => {
      raw = await ask();
      const reply = raw as Partial<ReplyLike> | null;
      return { errorCode: typeof reply?.errorCode === 'number' ? reply.errorCode : ErrorCode.CORRUPT_MESSAGE, baseOffset: typeof reply?.baseOffset === 'number' ? reply.baseOffset : -1 };
    }, context);
    return traced.then(() => raw);
  }

  private afterInFlight(pq: PartitionQueue, delivery: Delivery, leader: number, counted: boolean): void {
    const i = pq.inFlight.indexOf(delivery);
    if (i >= 0) pq.inFlight.splice(i, 1);
    if (counted) {
      this.brokerInFlight.set(leader, (this.brokerInFlight.get(leader) ?? 1) - 1);
      this.inFlightCount -= 1;
    }
  }

  private onReply(pq: PartitionQueue, delivery: Delivery, leader: number, reply: ReplyLike, counted: boolean): void {
    this.afterInFlight(pq, delivery, leader, counted);
    if (delivery.done) return; // aborted while in flight
    let errorCode = reply.errorCode;
    let errorMessage = reply.errorMessage;
    if (errorCode === ErrorCode.NONE && this.dropsLeft > 0 && counted) {
      this.dropsLeft -= 1;
      this.stats.droppedResponses += 1;
      errorCode = ErrorCode.NETWORK_EXCEPTION;
      errorMessage = 'produce answer dropped by the fault hook';
    }
    if (errorCode === ErrorCode.NONE || (errorCode === ErrorCode.DUPLICATE_SEQUENCE_NUMBER && this.deps.idempotence)) {
      this.complete(pq, delivery, reply.baseOffset, reply.logAppendTimeMs);
    } else {
      this.onError(pq, delivery, leader, errorCode, errorMessage);
    }
    if (this.paused && this.inFlightCount === 0 && !this.resetRequested) {
      this.resetRequested = true;
      this.deps.requestProducerId();
    }
    this.run();
  }

  private resetRequested = false;

  private onError(pq: PartitionQueue, delivery: Delivery, leader: number, errorCode: number, errorMessage: string | null): void {
    const error = partitionError(errorCode, pq.topic, pq.partition, `${errorMessage ?? ''} (broker ${leader}, attempt ${delivery.attempts})`.trim());
    const staleGeneration = this.deps.idempotence !== undefined && delivery.generation >= 0 && delivery.generation !== this.deps.idempotence.generation;
    if (staleGeneration && delivery.inDoubt && errorCode === ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER) {
      // The resend of a batch in doubt under its old id, refused as out of order: either a batch before it is
      // missing, or it was written and later batches of that id pushed it out of the five the leader remembers
      // (the chaos run of seed 5 stored three records twice that way). Which one cannot be told: fail it as
      // indeterminate rather than stamp it under the new id, which would store it twice in the second case.
      this.fail(
        delivery,
        partitionError(
          ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER,
          pq.topic,
          pq.partition,
          `${delivery.batch.recordCount} record(s) may or may not have been written: an attempt got no definite answer and the leader cannot tell any more (broker ${leader}, attempt ${delivery.attempts})`,
        ),
      );
      return;
    }
    if (staleGeneration && errorCode === ErrorCode.UNKNOWN_PRODUCER_ID) {
      // The resend of a batch in doubt under its old id: the leader holds nothing of that id. Stamp it under the new id now.
      delivery.inDoubt = false;
    } else if (!definiteRefusals.has(errorCode)) {
      delivery.inDoubt = true;
    }
    // When the refresh names a new leader, the wait below ends early (pass()).
    this.deps.metadata.onError(pq.topic, errorCode)?.then(
      () => this.run(),
      () => undefined,
    );
    const idempotent = this.deps.idempotence !== undefined;
    const transactional = this.deps.transactional;
    if (transactional !== undefined && transactional.fatalCodes.has(errorCode)) {
      // Fenced: another producer has our transactional id with a newer epoch. Never retried, never re-stamped.
      this.fail(delivery, error);
      transactional.onFatal(error);
      return;
    }
    const nowMs = this.deps.nowMs();
    let retriable = error.retriable;
    if (idempotent) {
      const sequenceBroken = !staleGeneration && (errorCode === ErrorCode.UNKNOWN_PRODUCER_ID || errorCode === ErrorCode.INVALID_PRODUCER_EPOCH || (errorCode === ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER && !pq.hasEarlierThan(delivery)));
      if (errorCode === ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER || errorCode === ErrorCode.INVALID_PRODUCER_EPOCH) retriable = true;
      if (staleGeneration && errorCode === ErrorCode.UNKNOWN_PRODUCER_ID) retriable = true;
      if (sequenceBroken) this.pauseForNewProducerId(`${error.message}`);
    }
    if (retriable && delivery.attempts <= this.retry.retriesMax && nowMs < delivery.deadlineMs && !this.closed) {
      pq.requeue(delivery);
      pq.recovering = true;
      pq.retryAtMs = Math.max(pq.retryAtMs, nowMs + backoffMs(delivery.attempts - 1, this.retry, this.deps.random()));
      pq.failedLeader = leader;
      this.active.add(pq);
      this.deps.metrics?.retried(pq.topic, errorCode);
      if (producerRetryChannel.hasSubscribers) {
        const event: ProducerRetryEvent = { clientId: this.deps.clientId ?? 'kactus', topic: pq.topic, partition: pq.partition, errorCode, attempt: delivery.attempts, recordCount: delivery.batch.recordCount, backoffMs: Math.max(0, Math.round(pq.retryAtMs - nowMs)) };
        producerRetryChannel.publish(event);
      }
      this.deps.log.debug({ topic: pq.topic, partition: pq.partition, errorCode, attempt: delivery.attempts }, 'producer.batch_retry');
      return;
    }
    const final = retriable && nowMs >= delivery.deadlineMs ? this.timeoutError(pq, delivery, nowMs, error) : error;
    this.fail(delivery, final);
    // A batch of an older producer id failing says nothing about the current id's sequences.
    if (idempotent && delivery.generation >= 0 && !staleGeneration) this.pauseForNewProducerId(`a sequenced batch failed: ${final.message}`);
  }

  private pauseForNewProducerId(reason: string): void {
    if (this.paused) return;
    this.paused = true;
    this.resetRequested = false;
    this.stats.producerIdResets += 1;
    this.deps.log.warn({ reason }, 'producer.producer_id_reset');
    if (this.inFlightCount === 0) {
      this.resetRequested = true;
      queueMicrotask(() => this.deps.requestProducerId());
    }
  }

  private complete(pq: PartitionQueue, delivery: Delivery, baseOffset: number, logAppendTimeMs: number): void {
    const batch = delivery.batch;
    if (tracing && baseOffset >= 0) {
      const partition = `${pq.topic}-${pq.partition}`;
      const lastOffset = baseOffset + batch.recordCount - 1;
      traceRange('client.batch_created', partition, baseOffset, lastOffset, wallMsOf(batch.createdAtMs));
      traceRange('client.request_sent', partition, baseOffset, lastOffset, wallMsOf(delivery.sentAtMs));
      traceRange('client.acked', partition, baseOffset, lastOffset);
    }
    for (let i = 0; i < batch.records.length; i += 1) {
      const record = batch.records[i]!;
      batch.owners[i]!.complete(batch.ownerIndexes[i]!, pq.topic, pq.partition, baseOffset < 0 ? -1 : baseOffset + i, logAppendTimeMs >= 0 ? logAppendTimeMs : record.timestamp);
    }
    if (!delivery.done) pq.sent?.inc(batch.recordCount);
    this.finished(delivery);
  }

  private fail(delivery: Delivery, error: Error): void {
    if (!delivery.done) this.deps.metrics?.recordsFailed(delivery.batch.topic, delivery.batch.recordCount, error);
    for (const owner of delivery.batch.owners) owner.fail(error);
    this.finished(delivery);
  }

  private finished(delivery: Delivery): void {
    if (delivery.done) return;
    delivery.done = true;
    this.pendingCount -= 1;
    this.deps.onDone(delivery);
    if (this.pendingCount === 0) for (const resolve of this.idleWaiters.splice(0)) resolve();
  }

  private wakeAt(atMs: number): void {
    if (atMs >= this.wakeAtMs || this.closed) return;
    if (this.wakeTimer) clearTimeout(this.wakeTimer);
    this.wakeAtMs = atMs;
    this.wakeTimer = setTimeout(() => {
      this.wakeTimer = undefined;
      this.wakeAtMs = Infinity;
      this.run();
    }, Math.max(0, atMs - this.deps.nowMs()));
  }

  /** Fails every batch not yet on the wire (a transaction abort); batches in flight finish as they will. */
  dropQueued(error: KactusError): void {
    for (const pq of this.partitions.values()) {
      for (const delivery of pq.queue.splice(0)) this.fail(delivery, partitionError(error.code, pq.topic, pq.partition, error.message, error));
      pq.recovering = false;
      pq.retryAtMs = 0;
    }
  }

  /** Fails everything queued or in flight (close gave up waiting) and stops; late answers are ignored. */
  abort(error: KactusError): void {
    for (const pq of this.partitions.values()) {
      for (const delivery of pq.queue.splice(0)) this.fail(delivery, error);
      for (const delivery of pq.inFlight) this.fail(delivery, error);
    }
    this.close();
  }

  close(): void {
    this.closed = true;
    if (this.wakeTimer) clearTimeout(this.wakeTimer);
  }
}
