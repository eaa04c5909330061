/**
 * The producer: `send`, `sendBatch`, `flush`, `close`, and for a producer
 * with a `transactionalId`: `initTransactions` and `transaction()` (the
 * transaction's requests and states live in transaction.ts).
 *
 * Owns: checking and converting user records (before anything is sent),
 * the FIFO of sends waiting for the producer id, topic metadata or buffer
 * space, partition choice, handing records to the accumulator, the linger
 * timer, the buffer bound, and InitProducerId.
 *
 * A send's life:
 *   1. checked synchronously: topic names (INVALID_TOPIC_EXCEPTION), records
 *      (INVALID_RECORD: values must be Buffer, string or null), sizes
 *      (MESSAGE_TOO_LARGE over maxRequestSizeBytes), explicit partitions.
 *      A bad send is refused whole and nothing of it is sent.
 *   2. queued FIFO until the producer has an id (idempotence), the topics'
 *      metadata is known, and the buffer has room (bufferBytesMax); waiting
 *      past deliveryTimeoutMs fails it with REQUEST_TIMED_OUT. Later sends
 *      never overtake earlier ones, so order per partition is send order.
 *   3. each record gets a partition (explicit, keyed murmur2, or the
 *      partitioner's) and joins that partition's open batch (accumulator.ts);
 *      closed batches go to the sender (sender.ts).
 *   4. it resolves with every record's { topic, partition, offset, timestamp }
 *      once all its batches are acknowledged, or rejects with the first
 *      failure (a KactusError naming the topic and partition).
 *
 * Memory is bounded twice by bufferBytesMax: the estimated bytes of records
 * in the accumulator and the sender (accepted, not yet acknowledged or
 * failed), and the bytes of sends waiting to enter it. A send that would
 * push the waiting sends past the bound is refused at once with
 * THROTTLING_QUOTA_EXCEEDED (retriable): JavaScript cannot block the caller
 * the way Kafka's send() blocks for max.block.ms, and an unbounded queue
 * would grow without end under a caller that never awaits.
 *
 * A transactional producer sends only inside a transaction: `send` is
 * refused with INVALID_TXN_STATE when none is open (and with PRODUCER_FENCED
 * once fenced); while one is open, `send` and the transaction's `send` are
 * the same thing. Its InitProducerId goes to the transaction coordinator.
 *
 * Metrics (../metrics.ts) are opened in start() from this producer's
 * `metrics` option or else the client's; records that fail before they reach
 * the sender (a send that waited too long, an aborted transaction's unsent
 * records) are counted as failed here, the rest in the sender. Each send()
 * runs inside the kactus:producer:send tracing channel when it has
 * subscribers (../diagnostics.ts).
 */
import type { Logger } from '../../runtime/logger.ts';
import type { Ref } from '../../runtime/ref.ts';
import type { RecordHeader, RecordInput } from '../../protocol/record-batch/index.ts';
import { ErrorCode, KactusError, PartitionError, asKactusError } from '../errors.ts';
import type { ClientContext, Closeable } from '../kactus.ts';
import type { ProducerConfig } from '../options.ts';
import { withRetry } from '../retry.ts';
import { checkReply, initProducerIdReplyValidator } from '../replies.ts';
import type { RawValue, Serializer } from '../serde.ts';
import { checkTopicName } from '../topic-name.ts';
import { openProducerMetrics, type ProducerMetrics } from '../metrics.ts';
import { nextOperationId, producerSendChannel, publishInstance, type ProducerSendContext } from '../diagnostics.ts';
import { Accumulator, batchOverheadBytes, estimateRecordBytes, type ProducerBatch, type RecordOwner } from './accumulator.ts';
import { IdempotenceState } from './idempotence.ts';
import { createPartitioner, type Partitioner } from './partitioner.ts';
import { Sender, type Delivery } from './sender.ts';
import { TransactionManager, type Transaction } from './transaction.ts';
import { fatalTxnCodes } from './transaction-state.ts';

export type MessageValue = Buffer | Uint8Array | string | null;

/** K and V: what the producer's serializers take (bytes or text without them); null is sent as null (a tombstone). */
export type ProducerMessage<K = RawValue, V = RawValue> = {
  key?: K | null;
  value: V | null;
  headers?: Record<string, MessageValue> | readonly { key: string; value: MessageValue }[];
  /** Explicit partition; otherwise keyed murmur2 or the partitioner. */
  partition?: number;
  /** Create time in epoch ms; default: when send() was called. */
  timestamp?: number;
};

export type ProducerRecord<K = RawValue, V = RawValue> = { topic: string; messages: readonly ProducerMessage<K, V>[] };

export type RecordMetadata = { topic: string; partition: number; offset: number; timestamp: number };

/** The InitProducerId exchange with `/broker` (being added broker-side). */
type InitProducerId = { type: 'InitProducerId'; transactionalId: null; transactionTimeoutMs: number; replyTo: Ref<InitProducerIdReply> };
type InitProducerIdReply = { type: 'InitProducerIdReply'; errorCode: number; errorMessage?: string | null; producerId: number; producerEpoch: number };

/** transaction.timeout.ms sent with InitProducerId (unused without transactions). */
const transactionTimeoutMsDefault = 60_000;
/** Records in one send() call. */
export const sendRecordsMax = 1_000_000;

type Prepared = { topic: string; partition: number | undefined; record: RecordInput; sizeBytes: number };

/** One send() call: its records' results, resolved when all are acknowledged. */
class SendHandle implements RecordOwner {
  readonly results: RecordMetadata[];
  private remaining: number;
  private settled = false;
  /** Metadata was refreshed once because an explicit partition was beyond the cached count. */
  refreshedForPartition = false;
  readonly promise: Promise<RecordMetadata[]>;
  private resolve!: (value: RecordMetadata[]) => void;
  private reject!: (error: Error) => void;

  constructor(
    readonly prepared: Prepared[],
    readonly totalBytes: number,
    readonly acceptedAtMs: number,
  ) {
    this.results = new Array<RecordMetadata>(prepared.length);
    this.remaining = prepared.length;
    this.promise = new Promise((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
    });
    if (this.remaining === 0) this.settle();
  }

  complete(index: number, topic: string, partition: number, offset: number, timestamp: number): void {
    this.results[index] = { topic, partition, offset, timestamp };
    this.remaining -= 1;
    if (this.remaining === 0) this.settle();
  }

  fail(error: Error): void {
    if (this.settled) return;
    this.settled = true;
    this.reject(error);
  }

  private settle(): void {
    if (this.settled) return;
    this.settled = true;
    this.resolve(this.results);
  }
}

/** The FIFO of sends not yet in the accumulator, with their bytes (bounded by bufferBytesMax). */
class SendQueue {
  private readonly items: SendHandle[] = [];
  private head = 0;
  bytes = 0;
  get length(): number {
    return this.items.length - this.head;
  }
  first(): SendHandle | undefined {
    return this.items[this.head];
  }
  push(handle: SendHandle): void {
    this.items.push(handle);
    this.bytes += handle.totalBytes;
  }
  shift(): SendHandle | undefined {
    const handle = this.items[this.head];
    if (handle === undefined) return undefined;
    this.head += 1;
    this.bytes -= handle.totalBytes;
    if (this.head > 1_024 && this.head * 2 > this.items.length) {
      this.items.splice(0, this.head);
      this.head = 0;
    }
    return handle;
  }
  /** Removes and returns the sends matching `predicate`, keeping the others in order. */
  removeWhere(predicate: (handle: SendHandle) => boolean): SendHandle[] {
    const kept: SendHandle[] = [];
    const removed: SendHandle[] = [];
    for (let i = this.head; i < this.items.length; i += 1) (predicate(this.items[i]!) ? removed : kept).push(this.items[i]!);
    this.items.length = 0;
    this.items.push(...kept);
    this.head = 0;
    this.bytes = kept.reduce((sum, h) => sum + h.totalBytes, 0);
    return removed;
  }
  drain(): SendHandle[] {
    return this.removeWhere(() => true);
  }
}

function toBuffer(value: unknown, what: string, topic: string): Buffer | null {
  if (value === null) return null;
  if (typeof value === 'string') return Buffer.from(value, 'utf8');
  if (Buffer.isBuffer(value)) return value;
  if (value instanceof Uint8Array) return Buffer.from(value.buffer, value.byteOffset, value.byteLength);
  throw new KactusError(ErrorCode.INVALID_RECORD, `topic "${topic}": ${what} must be a Buffer, a string or null, got ${value === undefined ? 'undefined' : Array.isArray(value) ? 'an array' : typeof value}`);
}

/** The serializer's bytes for a non-null `data` (null is sent as null); a serializer that throws fails the send. */
function serialized(serializer: Serializer<unknown> | null, data: unknown, what: string, topic: string): unknown {
  if (serializer === null || data === null || data === undefined) return data;
  try {
    return serializer(data, topic);
  } catch (err) {
    throw new KactusError(ErrorCode.INVALID_RECORD, `topic "${topic}": ${what}: the serializer failed: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
}

function toHeaders(value: ProducerMessage['headers'], topic: string, index: number): RecordHeader[] | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'object') throw new KactusError(ErrorCode.INVALID_RECORD, `topic "${topic}": messages[${index}].headers must be an object or an array of { key, value }`);
  const entries: [string, unknown][] = Array.isArray(value) ? (value as { key: unknown; value: unknown }[]).map((h) => [h?.key as string, h?.value]) : Object.entries(value);
  if (entries.length === 0) return undefined;
  return entries.map(([key, v]) => {
    if (typeof key !== 'string') throw new KactusError(ErrorCode.INVALID_RECORD, `topic "${topic}": messages[${index}] has a header whose key is not a string`);
    return { key, value: toBuffer(v, `messages[${index}].headers.${key}`, topic) };
  });
}

export class Producer<K = RawValue, V = RawValue> {
  private readonly accumulator: Accumulator;
  private readonly partitioner: Partitioner;
  private readonly idempotence: IdempotenceState | undefined;
  private readonly waiting = new SendQueue();
  private context: ClientContext | undefined;
  private sender: Sender | undefined;
  private starting: Promise<void> | undefined;
  private startError: KactusError | undefined;
  private bufferedBytes = 0;
  private lingerTimer: NodeJS.Timeout | undefined;
  private lingerAtMs = Infinity;
  private immediate: NodeJS.Immediate | undefined;
  private pumpTimer: NodeJS.Timeout | undefined;
  /** Topics whose metadata is being fetched for waiting sends. */
  private readonly fetching = new Set<string>();
  private closing: Promise<void> | undefined;
  /** Set when the producer can no longer send (a new producer id could not be had): every send is refused with it. */
  private fatalError: KactusError | undefined;
  private closed = false;
  private log: Logger | undefined;
  /** Present when config.transactionalId is set (created with the client context). */
  private txn: TransactionManager | undefined;
  /** Present (after start) when this producer or its client has a metrics registry. */
  private metrics: ProducerMetrics | undefined;

  constructor(
    readonly config: ProducerConfig,
    private readonly openContext: () => Promise<ClientContext>,
    private readonly onClosed: (producer: Closeable) => void,
    /** The Kactus clientId (metric labels, tracing contexts). */
    private readonly clientId = 'kactus',
  ) {
    this.accumulator = new Accumulator(config.batchSizeBytes, config.lingerMs);
    this.partitioner = createPartitioner(config.partitioner);
    this.idempotence = config.idempotent ? new IdempotenceState() : undefined;
    publishInstance({ type: 'producer', clientId, instance: this });
  }

  /** Counters for tests and benchmarks. */
  get stats(): Sender['stats'] | undefined {
    return this.sender?.stats;
  }

  /** The producer id and epoch (idempotence), -1 before InitProducerId or without idempotence. */
  get producerId(): { producerId: number; producerEpoch: number } {
    return { producerId: this.idempotence?.producerId ?? -1, producerEpoch: this.idempotence?.producerEpoch ?? -1 };
  }

  /** Sends records to one topic; resolves with each record's partition and offset, in the order given. */
  send(record: ProducerRecord<K, V>): Promise<RecordMetadata[]> {
    if (producerSendChannel.hasSubscribers) return this.traced([record], () => this.sendNow(record));
    return this.sendNow(record);
  }

  private sendNow(record: ProducerRecord<K, V>): Promise<RecordMetadata[]> {
    if (this.config.transactionalId !== null) return this.sendInTransaction(this.txn?.txnSeq ?? -1, [record]);
    return this.accept([record]);
  }

  /** `send` inside the kactus:producer:send tracing channel (called only when it has subscribers). */
  private traced(records: readonly ProducerRecord<K, V>[], send: () => Promise<RecordMetadata[]>): Promise<RecordMetadata[]> {
    let recordCount = 0;
    for (const r of records) recordCount += Array.isArray(r?.messages) ? r.messages.length : 0;
    const context: ProducerSendContext = { operationId: nextOperationId(), clientId: this.clientId, records, recordCount };
    return producerSendChannel.tracePromise(send, context);
  }

  /** Sends records to several topics as one call. */
  sendBatch(batch: { topicMessages: readonly ProducerRecord<K, V>[] }): Promise<RecordMetadata[]> {
    if (producerSendChannel.hasSubscribers && Array.isArray(batch?.topicMessages)) return this.traced(batch.topicMessages, () => this.sendBatchNow(batch));
    return this.sendBatchNow(batch);
  }

  private sendBatchNow(batch: { topicMessages: readonly ProducerRecord<K, V>[] }): Promise<RecordMetadata[]> {
    if (typeof batch !== 'object' || batch === null || !Array.isArray(batch.topicMessages)) {
      return Promise.reject(new KactusError(ErrorCode.INVALID_REQUEST, 'sendBatch takes { topicMessages: [{ topic, messages }] }'));
    }
    if (this.config.transactionalId !== null) return this.sendInTransaction(this.txn?.txnSeq ?? -1, batch.topicMessages);
    return this.accept(batch.topicMessages);
  }

  /**
   * Transactional producers: finds the transaction coordinator and gets the
   * producer id (fencing any older producer with the same transactional id,
   * and finishing its open transaction). transaction() does it when needed;
   * call it first to fence zombies before consuming (exactly-once pipelines).
   */
  async initTransactions(): Promise<void> {
    if (this.config.transactionalId === null) throw new KactusError(ErrorCode.INVALID_CONFIG, 'initTransactions() needs a transactional producer: kactus.producer({ transactionalId })');
    if (this.closing || this.closed) throw new KactusError(ErrorCode.BROKER_NOT_AVAILABLE, 'the producer is closed');
    const fatal = this.txn?.fatalError;
    if (fatal) throw fatal;
    await this.start();
    const after = this.txn?.fatalError;
    if (after) throw after;
  }

  /**
   * Opens a transaction: `{ send, sendOffsets, commit, abort }`. One at a
   * time per producer (a second is refused with INVALID_TXN_STATE until the
   * first ends). See transaction.ts for what each step sends.
   */
  async transaction(): Promise<Transaction<ProducerRecord<K, V>>> {
    if (this.config.transactionalId === null) {
      throw new KactusError(ErrorCode.INVALID_CONFIG, 'transaction() needs a transactional producer: create it with kactus.producer({ transactionalId: "..." })');
    }
    await this.initTransactions();
    return this.txn!.begin<ProducerRecord<K, V>>((txnSeq, record) => this.sendInTransaction(txnSeq, [record]));
  }

  private sendInTransaction(txnSeq: number, records: readonly ProducerRecord<K, V>[]): Promise<RecordMetadata[]> {
    const txn = this.txn;
    if (txn === undefined) return Promise.reject(new KactusError(ErrorCode.INVALID_TXN_STATE, 'a transactional producer sends inside a transaction: await producer.transaction() first'));
    const refusal = txn.check({ type: 'send', txnSeq });
    if (refusal) return Promise.reject(refusal);
    const promise = this.accept(records);
    // The transaction learns of a failed send here (so commit refuses); the caller's promise is marked handled,
    // because commit() reports the failure even when the caller never awaits the send.
    promise.catch((err: unknown) => {
      if (txn.txnSeq === txnSeq) txn.abortable(asKactusError(err, 'transactional send'));
    });
    return promise;
  }

  private accept(records: readonly ProducerRecord<K, V>[]): Promise<RecordMetadata[]> {
    if (this.closing || this.closed) return Promise.reject(new KactusError(ErrorCode.BROKER_NOT_AVAILABLE, 'the producer is closed'));
    if (this.fatalError) return Promise.reject(new KactusError(this.fatalError.code, `the producer failed and must be closed: ${this.fatalError.message}`, { cause: this.fatalError }));
    let handle: SendHandle;
    try {
      handle = this.prepare(records);
    } catch (err) {
      return Promise.reject(asKactusError(err, 'send'));
    }
    if (this.waiting.length > 0 && this.waiting.bytes + handle.totalBytes > this.config.bufferBytesMax) {
      // Sends already wait for buffer space (or metadata) with a full buffer's worth of records: refuse rather than grow.
      return Promise.reject(new KactusError(ErrorCode.THROTTLING_QUOTA_EXCEEDED, `${this.waiting.length} sends (${this.waiting.bytes} bytes) already wait for buffer space or metadata (bufferBytesMax ${this.config.bufferBytesMax}): await earlier sends before sending more`));
    }
    this.waiting.push(handle);
    this.pump();
    return handle.promise;
  }

  /** Step 1 of the module comment: check and convert everything, or throw. */
  private prepare(records: readonly ProducerRecord<K, V>[]): SendHandle {
    const nowMs = Date.now();
    const prepared: Prepared[] = [];
    let totalBytes = 0;
    const requestMax = this.config.maxRequestSizeBytes;
    const { key: keySerializer, value: valueSerializer } = this.config.serializers;
    for (const topicRecord of records) {
      if (typeof topicRecord !== 'object' || topicRecord === null) throw new KactusError(ErrorCode.INVALID_REQUEST, 'send takes { topic, messages: [...] }');
      const topic = checkTopicName(topicRecord.topic);
      const messages = topicRecord.messages;
      if (!Array.isArray(messages)) throw new KactusError(ErrorCode.INVALID_REQUEST, `topic "${topic}": messages must be an array`);
      if (prepared.length + messages.length > sendRecordsMax) throw new KactusError(ErrorCode.INVALID_REQUEST, `one send may carry at most ${sendRecordsMax} records`);
      for (let i = 0; i < messages.length; i += 1) {
        const m = messages[i] as ProducerMessage<K, V>;
        if (typeof m !== 'object' || m === null) throw new KactusError(ErrorCode.INVALID_RECORD, `topic "${topic}": messages[${i}] must be an object { key?, value, headers?, partition?, timestamp? }`);
        const value = toBuffer(serialized(valueSerializer, m.value, `messages[${i}].value`, topic), `messages[${i}].value`, topic);
        const key = m.key === undefined ? null : toBuffer(serialized(keySerializer, m.key, `messages[${i}].key`, topic), `messages[${i}].key`, topic);
        const headers = toHeaders(m.headers, topic, i);
        let partition = m.partition;
        if (partition !== undefined && partition !== null) {
          if (!Number.isInteger(partition) || partition < 0) throw new KactusError(ErrorCode.INVALID_PARTITIONS, `topic "${topic}": messages[${i}].partition must be a non-negative integer, got ${String(partition)}`);
        } else partition = undefined;
        const timestamp = m.timestamp ?? nowMs;
        if (!Number.isSafeInteger(timestamp) || timestamp < 0) throw new KactusError(ErrorCode.INVALID_TIMESTAMP, `topic "${topic}": messages[${i}].timestamp must be epoch milliseconds, got ${String(timestamp)}`);
        const sizeBytes = estimateRecordBytes(key, value, headers);
        if (sizeBytes + batchOverheadBytes > requestMax) {
          throw new PartitionError(ErrorCode.MESSAGE_TOO_LARGE, topic, partition ?? -1, `messages[${i}] is ${sizeBytes + batchOverheadBytes} bytes when encoded, over maxRequestSizeBytes ${requestMax}`);
        }
        const record: RecordInput = headers ? { key, value, headers, timestamp } : { key, value, timestamp };
        prepared.push({ topic, partition, record, sizeBytes });
        totalBytes += sizeBytes;
      }
    }
    return new SendHandle(prepared, totalBytes, performance.now());
  }

  /** Opens the client context, the sender, and (idempotence) the producer id. Once. */
  private start(): Promise<void> {
    if (this.starting === undefined) {
      this.starting = (async () => {
        const context = await this.openContext();
        this.context = context;
        this.log = context.connection.log.child({ component: 'producer' });
        this.metrics ??= await openProducerMetrics(this.config.metrics ?? context.config.metrics, this.clientId);
        const transactionalId = this.config.transactionalId;
        if (transactionalId !== null && this.txn === undefined) {
          this.txn = new TransactionManager({
            transactionalId,
            transactionTimeoutMs: this.config.transactionTimeoutMs,
            connection: context.connection,
            retry: { ...context.retry, backoffMsInitial: this.config.retryBackoffMs, backoffMsMax: this.config.retryBackoffMsMax },
            requestTimeoutMs: this.config.requestTimeoutMs,
            deliveryTimeoutMs: this.config.deliveryTimeoutMs,
            idempotence: this.idempotence!,
            log: this.log,
            hooks: {
              dropUnsent: (error) => this.dropUnsent(error),
              flush: () => this.flush(),
              whenIdle: () => this.sender?.whenIdle() ?? Promise.resolve(),
              failEverything: (error) => this.failEverything(error),
              resumeSender: () => this.sender?.producerIdReady(),
              runSender: () => this.sender?.run(),
            },
          });
        }
        const txn = this.txn;
        this.sender = new Sender({
          connection: context.connection,
          metadata: context.metadata,
          config: this.config,
          idempotence: this.idempotence,
          log: this.log,
          clientId: this.clientId,
          metrics: this.metrics,
          nowMs: () => performance.now(),
          random: Math.random,
          onDone: (delivery) => this.onDelivered(delivery),
          ...(txn
            ? {
                transactional: {
                  transactionalId: transactionalId!,
                  partitionGate: (topic: string, partition: number) => txn.refusal(topic, partition) ?? (txn.partitionReady(topic, partition) ? 'ready' : 'wait'),
                  onFatal: (error: KactusError) => void txn.fail(error.code, error.message),
                  fatalCodes: fatalTxnCodes,
                },
              }
            : {}),
          requestProducerId: () => {
            if (txn) {
              txn.onSequenceBroken('a sequenced batch failed for good');
              return;
            }
            this.initProducerId().then(
              () => this.sender?.producerIdReady(),
              (err: unknown) => this.failEverything(asKactusError(err, 'InitProducerId')),
            );
          },
        });
        if (txn) await txn.initProducerId();
        else if (this.idempotence) await this.initProducerId();
      })();
      this.starting.then(
        () => this.pump(),
        (err: unknown) => {
          this.startError = asKactusError(err, 'producer start');
          this.starting = undefined; // the next send tries again
          for (const handle of this.waiting.drain()) this.failWaiting(handle, this.startError);
        },
      );
    }
    return this.starting;
  }

  private async initProducerId(): Promise<void> {
    const context = this.context!;
    const { connection } = context;
    const deadlineMs = Date.now() + this.config.deliveryTimeoutMs;
    const reply = await withRetry(
      async () => {
        const brokerId = connection.pickBroker();
        const raw = await connection.ask<InitProducerId, unknown>(brokerId, '/broker', (replyTo) => ({ type: 'InitProducerId', transactionalId: null, transactionTimeoutMs: transactionTimeoutMsDefault, replyTo: replyTo as Ref<InitProducerIdReply> }), this.config.requestTimeoutMs);
        const answer = checkReply(initProducerIdReplyValidator, raw, `InitProducerId reply from broker ${brokerId}`);
        if (answer.errorCode !== 0) throw new KactusError(answer.errorCode, `InitProducerId via broker ${brokerId}: ${answer.errorMessage ?? 'refused'}`);
        return answer;
      },
      context.retry,
      { deadlineMs },
    );
    this.idempotence!.reset(reply.producerId, reply.producerEpoch);
    this.log?.info({ producerId: reply.producerId, producerEpoch: reply.producerEpoch }, 'producer.producer_id');
  }

  /** Moves waiting sends into the accumulator while they may go (step 2 of the module comment). */
  private pump(): void {
    if (this.waiting.length === 0) return;
    if (this.sender === undefined || this.idempotence?.hasProducerId === false) {
      void this.start().catch(() => undefined);
      if (this.sender === undefined || this.idempotence?.hasProducerId === false) return;
    }
    const sender = this.sender;
    const metadata = this.context!.metadata;
    const nowMs = performance.now();
    let appended = false;
    while (this.waiting.length > 0) {
      const handle = this.waiting.first()!;
      if (nowMs - handle.acceptedAtMs >= this.config.deliveryTimeoutMs) {
        this.waiting.shift();
        this.failWaiting(handle, new KactusError(ErrorCode.REQUEST_TIMED_OUT, `send waited ${Math.round(nowMs - handle.acceptedAtMs)} ms (deliveryTimeoutMs ${this.config.deliveryTimeoutMs}) for topic metadata or buffer space (topics: ${[...new Set(handle.prepared.map((p) => p.topic))].join(', ')})`));
        continue;
      }
      let missing: string | undefined;
      let beyond: string | undefined;
      for (const p of handle.prepared) {
        const meta = metadata.cached(p.topic);
        if (meta === undefined) {
          missing = p.topic;
          break;
        }
        if (p.partition !== undefined && p.partition >= meta.partitions.length) beyond = p.topic;
      }
      if (missing !== undefined) {
        this.fetchTopic(missing);
        break;
      }
      if (beyond !== undefined && !handle.refreshedForPartition) {
        // The topic may have grown since the cache was filled (createPartitions): look once before refusing.
        handle.refreshedForPartition = true;
        metadata.refresh([beyond]).then(
          () => this.pump(),
          () => this.pump(),
        );
        break;
      }
      if (this.bufferedBytes > 0 && this.bufferedBytes + handle.totalBytes > this.config.bufferBytesMax) {
        this.schedulePump(this.config.deliveryTimeoutMs - (nowMs - handle.acceptedAtMs));
        break;
      }
      this.waiting.shift();
      try {
        this.appendAll(handle, nowMs);
        appended = true;
      } catch (err) {
        this.failWaiting(handle, asKactusError(err, 'send'));
      }
    }
    if (appended) {
      this.scheduleLinger();
      sender.run();
    }
  }

  private appendAll(handle: SendHandle, nowMs: number): void {
    const metadata = this.context!.metadata;
    // Check explicit partitions against the partition counts before appending anything.
    for (const p of handle.prepared) {
      if (p.partition === undefined) continue;
      const count = metadata.cached(p.topic)!.partitions.length;
      if (p.partition >= count) throw new PartitionError(ErrorCode.INVALID_PARTITIONS, p.topic, p.partition, `out of range: the topic has partitions 0..${count - 1}`);
    }
    // Partitioners that cannot depend on batch state choose for every record first, so a custom
    // function that throws or answers out of range refuses the whole send before any record is appended.
    const chosen = this.partitioner.repartitionsOnFullBatch ? undefined : this.choosePartitions(handle);
    this.bufferedBytes += handle.totalBytes;
    const nowWallMs = Date.now();
    const closed: ProducerBatch[] = [];
    let topic = '';
    let partitionCount = 0;
    let available: number[] = [];
    for (let i = 0; i < handle.prepared.length; i += 1) {
      const p = handle.prepared[i]!;
      if (p.topic !== topic) {
        topic = p.topic;
        const meta = metadata.cached(topic)!;
        metadata.track(topic, nowWallMs);
        partitionCount = meta.partitions.length;
        available = meta.partitions.filter((x) => x.leader >= 0).map((x) => x.partition);
      }
      let partition = p.partition ?? chosen?.[i] ?? this.partitioner.partition(topic, p.record.key as Buffer | null, p.record.value as Buffer | null, partitionCount, available);
      if (p.partition === undefined && p.record.key === null && this.partitioner.repartitionsOnFullBatch && !this.accumulator.fits(topic, partition, p.sizeBytes)) {
        const full = this.accumulator.closeOpen(topic, partition);
        if (full) closed.push(full);
        this.partitioner.onBatchClosed(topic, partition);
        partition = this.partitioner.partition(topic, null, p.record.value as Buffer | null, partitionCount, available);
      }
      const batches = this.accumulator.append(topic, partition, p.record, p.sizeBytes, handle, i, nowMs);
      for (const b of batches) {
        this.partitioner.onBatchClosed(b.topic, b.partition);
        closed.push(b);
      }
    }
    if (closed.length > 0) this.sender!.enqueue(closed);
  }

  private choosePartitions(handle: SendHandle): (number | undefined)[] {
    const metadata = this.context!.metadata;
    const byTopic = new Map<string, { count: number; available: number[] }>();
    return handle.prepared.map((p) => {
      if (p.partition !== undefined) return p.partition;
      let topic = byTopic.get(p.topic);
      if (topic === undefined) {
        const meta = metadata.cached(p.topic)!;
        topic = { count: meta.partitions.length, available: meta.partitions.filter((x) => x.leader >= 0).map((x) => x.partition) };
        byTopic.set(p.topic, topic);
      }
      return this.partitioner.partition(p.topic, p.record.key as Buffer | null, p.record.value as Buffer | null, topic.count, topic.available);
    });
  }

  private fetchTopic(topic: string): void {
    if (this.fetching.has(topic)) return;
    this.fetching.add(topic);
    const context = this.context!;
    const oldest = this.waiting.first()?.acceptedAtMs ?? performance.now();
    const deadlineMs = Date.now() + Math.max(0, this.config.deliveryTimeoutMs - (performance.now() - oldest));
    withRetry(() => context.metadata.topic(topic), { ...context.retry, retriesMax: Number.MAX_SAFE_INTEGER }, { deadlineMs, cancelled: () => this.closed }).then(
      () => {
        this.fetching.delete(topic);
        this.pump();
      },
      (err: unknown) => {
        this.fetching.delete(topic);
        const error = asKactusError(err, `metadata of topic ${topic}`);
        // Fail the waiting sends that need this topic; the others go on.
        for (const handle of this.waiting.removeWhere((h) => h.prepared.some((p) => p.topic === topic))) this.failWaiting(handle, error);
        this.pump();
      },
    );
  }

  private schedulePump(delayMs: number): void {
    if (this.pumpTimer) return;
    this.pumpTimer = setTimeout(() => {
      this.pumpTimer = undefined;
      this.pump();
    }, Math.max(1, Math.min(delayMs, 1_000)));
  }

  private scheduleLinger(): void {
    if (this.accumulator.openBatchCount === 0) return;
    if (this.config.lingerMs === 0) {
      this.immediate ??= setImmediate(() => {
        this.immediate = undefined;
        this.drain(false);
      });
      return;
    }
    const atMs = this.accumulator.nextLingerDeadlineMs()!;
    if (this.lingerTimer !== undefined && this.lingerAtMs <= atMs) return;
    if (this.lingerTimer) clearTimeout(this.lingerTimer);
    this.lingerAtMs = atMs;
    this.lingerTimer = setTimeout(() => {
      this.lingerTimer = undefined;
      this.lingerAtMs = Infinity;
      this.drain(false);
    }, Math.max(0, atMs - performance.now()));
  }

  private drain(all: boolean): void {
    const batches = all ? this.accumulator.drainAll() : this.accumulator.drainExpired(performance.now());
    for (const b of batches) this.partitioner.onBatchClosed(b.topic, b.partition);
    if (batches.length > 0) {
      this.sender!.enqueue(batches);
      this.sender!.run();
    }
    this.scheduleLinger();
  }

  private onDelivered(delivery: Delivery): void {
    const batch = delivery.batch;
    this.bufferedBytes -= batch.sizeBytes - batchOverheadBytes;
    if (this.waiting.length > 0) this.pump();
  }

  /** Fails a send that never reached the accumulator, counting its records as failed (metrics on). */
  private failWaiting(handle: SendHandle, error: Error): void {
    const metrics = this.metrics;
    if (metrics !== undefined) {
      // A failure path, not the hot one: the records are counted per topic here.
      const byTopic = new Map<string, number>();
      for (const p of handle.prepared) byTopic.set(p.topic, (byTopic.get(p.topic) ?? 0) + 1);
      for (const [topic, count] of byTopic) metrics.recordsFailed(topic, count, error);
    }
    handle.fail(error);
  }

  /** A transaction abort: fails every send not yet on the wire; what is in flight finishes as it will. */
  private dropUnsent(error: KactusError): void {
    for (const handle of this.waiting.drain()) this.failWaiting(handle, error);
    for (const batch of this.accumulator.abortAll()) {
      this.bufferedBytes -= batch.sizeBytes - batchOverheadBytes;
      this.metrics?.recordsFailed(batch.topic, batch.recordCount, error);
      for (const owner of batch.owners) owner.fail(error);
    }
    this.sender?.dropQueued(error);
  }

  /** Fails everything pending and makes the producer refuse further sends (its sender is stopped). */
  private failEverything(error: KactusError): void {
    this.fatalError ??= error;
    for (const handle of this.waiting.drain()) this.failWaiting(handle, error);
    for (const batch of this.accumulator.abortAll()) {
      this.metrics?.recordsFailed(batch.topic, batch.recordCount, error);
      for (const owner of batch.owners) owner.fail(error);
    }
    this.sender?.abort(error);
  }

  /** Sends everything accepted so far now (ignoring linger) and resolves when all of it is acknowledged or failed. */
  async flush(): Promise<void> {
    for (;;) {
      while (this.waiting.length > 0) {
        if (this.startError && this.sender === undefined) return;
        await new Promise((resolve) => setTimeout(resolve, 1));
        this.pump();
      }
      if (this.sender === undefined) return;
      this.drain(true);
      await this.sender.whenIdle();
      if (this.waiting.length === 0 && this.accumulator.openBatchCount === 0 && this.sender.pending === 0) return;
    }
  }

  /**
   * Aborts an open transaction (transactional producers), flushes, then
   * releases the producer. Further sends are refused.
   * Idempotent. With `timeoutMs`, records not acknowledged by then fail with
   * REQUEST_TIMED_OUT instead of waiting out their delivery timeout.
   */
  close(options: { timeoutMs?: number } = {}): Promise<void> {
    if (this.closing === undefined) {
      this.closing = (async () => {
        let timer: NodeJS.Timeout | undefined;
        try {
          const flushed = (this.txn === undefined ? Promise.resolve() : this.txn.abortIfOpen()).then(() => this.flush()).then(() => true);
          const timedOut = options.timeoutMs === undefined ? flushed : Promise.race([flushed, new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), options.timeoutMs)))]);
          if (!(await timedOut)) this.failEverything(new KactusError(ErrorCode.REQUEST_TIMED_OUT, `the producer closed after ${options.timeoutMs} ms with records not yet acknowledged`));
        } finally {
          if (timer) clearTimeout(timer);
          this.closed = true;
          if (this.lingerTimer) clearTimeout(this.lingerTimer);
          if (this.pumpTimer) clearTimeout(this.pumpTimer);
          if (this.immediate) clearImmediate(this.immediate);
          this.sender?.close();
          this.txn?.close();
          this.onClosed(this);
        }
      })();
    }
    return this.closing;
  }
}
