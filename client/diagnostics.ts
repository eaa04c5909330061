/**
 * The client's node:diagnostics_channel channels, for tracers (OpenTelemetry,
 * APM agents) and anything else that wants to watch a client without being
 * handed it, the way @platformatic/kafka publishes `plt:kafka:*`.
 *
 * Owns: the channel names (`diagnosticsChannels`), their context payloads
 * (the types below: part of the public API), and the operation id counter.
 *
 * An async operation with a beginning and an end is a TracingChannel: a
 * subscriber gets `start` and `end` around the synchronous part, then
 * `asyncStart` / `asyncEnd` when the promise settles, with `result` or
 * `error` set on the same context object (and `error` published first).
 * `tracePromise` also runs the operation inside `start.runStores`, so a
 * tracer that binds an AsyncLocalStorage to `start` sees its span as the
 * current one inside the operation (in run()'s handlers: the handler's code).
 * Events without a duration are plain channels.
 *
 *   kactus:instances            plain    a producer or consumer was created
 *   kactus:producer:send        tracing  one send() / sendBatch() call, until every record is acknowledged
 *   kactus:producer:request     tracing  one Produce request (one batch) to a partition leader
 *   kactus:producer:retry       plain    a batch goes back to its queue after a retriable error
 *   kactus:consumer:fetch       tracing  one Fetch request to a partition leader (a long poll)
 *   kactus:consumer:rebalance   tracing  one (re)join: JoinGroup, SyncGroup, and the assignment taking effect
 *   kactus:consumer:commit      tracing  one offset commit (coordinator lookups and retries included)
 *   kactus:consumer:process     tracing  one eachMessage / eachBatch handler call of run()
 *
 * Cost: every site tests `hasSubscribers` first and builds nothing when it
 * is false, so an untraced client pays one property read per operation.
 * Contexts hold references (the records passed to send, the batch handed to
 * the handler), never copies; a subscriber must not change them.
 *
 * Imports: node:diagnostics_channel, and types only.
 */
import { channel, tracingChannel, type Channel, type TracingChannel } from 'node:diagnostics_channel';
import type { TopicPartition } from './consumer/types.ts';

export const diagnosticsChannels = {
  instances: 'kactus:instances',
  producerSend: 'kactus:producer:send',
  producerRequest: 'kactus:producer:request',
  producerRetry: 'kactus:producer:retry',
  consumerFetch: 'kactus:consumer:fetch',
  consumerRebalance: 'kactus:consumer:rebalance',
  consumerCommit: 'kactus:consumer:commit',
  consumerProcess: 'kactus:consumer:process',
} as const;

/** Fields every tracing context has. `error` is set when the operation failed, `result` when it succeeded. */
type Traced<Result> = { readonly operationId: number; readonly clientId: string; result?: Result; error?: unknown };

export type InstanceEvent = { readonly type: 'producer' | 'consumer'; readonly clientId: string; readonly instance: object };

export type ProducerSendContext = Traced<readonly { topic: string; partition: number; offset: number; timestamp: number }[]> & {
  /** What was passed to send() (one record) or sendBatch() (its topicMessages). */
  readonly records: readonly { topic: string; messages: readonly unknown[] }[];
  readonly recordCount: number;
};

export type ProducerRequestContext = Traced<{ errorCode: number; baseOffset: number }> & {
  readonly broker: number;
  readonly topic: string;
  readonly partition: number;
  readonly recordCount: number;
  readonly sizeBytes: number;
  /** 1 for the first send of the batch, 2 for its first retry, ... */
  readonly attempt: number;
};

export type ProducerRetryEvent = { readonly clientId: string; readonly topic: string; readonly partition: number; readonly errorCode: number; readonly attempt: number; readonly recordCount: number; readonly backoffMs: number };

export type ConsumerFetchContext = Traced<{ errorCode: number; partitions: { topic: string; partition: number; errorCode: number; highWatermark: number; recordsBytes: number }[] }> & {
  readonly groupId: string;
  readonly broker: number;
  readonly maxBytes: number;
  readonly partitions: readonly { topic: string; partition: number; fetchOffset: number }[];
};

export type ConsumerRebalanceContext = Traced<{ generationId: number; memberId: string; protocol: string | null; assigned: readonly TopicPartition[]; revoked: readonly TopicPartition[] }> & {
  readonly groupId: string;
  /** '' on the first join. */
  readonly memberId: string;
  readonly reason: string;
};

export type ConsumerCommitContext = Traced<void> & {
  readonly groupId: string;
  readonly memberId: string;
  readonly generationId: number;
  readonly offsets: readonly { topic: string; partition: number; offset: number }[];
};

export type ConsumerProcessContext = Traced<void> & {
  readonly groupId: string;
  readonly topic: string;
  readonly partition: number;
  /** eachMessage: the record's offset; eachBatch: the batch's first offset (-1 when empty). */
  readonly offset: number;
  readonly mode: 'message' | 'batch';
  /** The record (eachMessage) or batch (eachBatch) handed to the handler. */
  readonly payload: unknown;
};

export const instancesChannel: Channel = channel(diagnosticsChannels.instances);
export const producerSendChannel: TracingChannel<unknown, ProducerSendContext> = tracingChannel(diagnosticsChannels.producerSend);
export const producerRequestChannel: TracingChannel<unknown, ProducerRequestContext> = tracingChannel(diagnosticsChannels.producerRequest);
export const producerRetryChannel: Channel = channel(diagnosticsChannels.producerRetry);
export const consumerFetchChannel: TracingChannel<unknown, ConsumerFetchContext> = tracingChannel(diagnosticsChannels.consumerFetch);
export const consumerRebalanceChannel: TracingChannel<unknown, ConsumerRebalanceContext> = tracingChannel(diagnosticsChannels.consumerRebalance);
export const consumerCommitChannel: TracingChannel<unknown, ConsumerCommitContext> = tracingChannel(diagnosticsChannels.consumerCommit);
export const consumerProcessChannel: TracingChannel<unknown, ConsumerProcessContext> = tracingChannel(diagnosticsChannels.consumerProcess);

let lastOperationId = 0;

/** A process-wide id, so a tracer can tell concurrent operations of one channel apart. */
export function nextOperationId(): number {
  lastOperationId += 1;
  return lastOperationId;
}

/** Publishes a producer's or consumer's creation (APM agents find clients this way). */
export function publishInstance(event: InstanceEvent): void {
  if (instancesChannel.hasSubscribers) instancesChannel.publish(event);
}
