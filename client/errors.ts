/**
 * The client's errors: every failure a user sees is a `KactusError` (from
 * protocol/errors.ts) carrying the Kafka code name (`type`), `retriable`,
 * and a message that names what failed. This module re-exports it and adds
 * the helpers the client layers use to build messages that name the topic
 * and partition, so no layer formats them differently.
 *
 * `PartitionError` is a KactusError that also carries `topic` and
 * `partition` as fields (for programs that route on them); it is still
 * `instanceof KactusError`, so retry logic (retry.ts) treats it the same.
 *
 * Imports: protocol/errors.ts only.
 */
import { ErrorCode, KactusError, errorInfo, isRetriable } from '../protocol/errors.ts';

export { ErrorCode, KactusError, errorInfo, isRetriable };

/** A KactusError about one topic or one partition of it (partition -1: the topic as a whole). */
export class PartitionError extends KactusError {
  readonly topic: string;
  readonly partition: number;
  constructor(code: number, topic: string, partition: number, detail: string, options?: { cause?: unknown }) {
    super(code, `${describePartition(topic, partition)}: ${detail}`, options);
    this.topic = topic;
    this.partition = partition;
  }
}

/** `topic "orders" partition 2`, or `topic "orders"` for partition -1. */
export function describePartition(topic: string, partition: number): string {
  return partition < 0 ? `topic "${topic}"` : `topic "${topic}" partition ${partition}`;
}

/** An error from the wire for one partition, with the broker's message when it sent one. */
export function partitionError(code: number, topic: string, partition: number, detail: string | null | undefined, cause?: unknown): PartitionError {
  return new PartitionError(code, topic, partition, detail && detail.length > 0 ? detail : errorInfo(code).message, cause === undefined ? undefined : { cause });
}

/** Bad input from the program (options, records): never retriable, refused before anything is sent. */
export function invalidInput(code: number, message: string): KactusError {
  return new KactusError(code, message);
}

/** Wraps anything thrown into a KactusError (a KactusError stays as it is). */
export function asKactusError(err: unknown, context: string): KactusError {
  if (err instanceof KactusError) return err;
  return new KactusError(ErrorCode.UNKNOWN_SERVER_ERROR, `${context}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
}
