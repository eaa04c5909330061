/**
 * describeLogDirs (Kafka Admin describeLogDirs, the kafka-log-dirs tool):
 * what each broker stores, asked of every broker named (default: every
 * broker in the metadata) at `/broker` DescribeLogDirs. Per broker: its log
 * directory and, per hosted partition, the bytes on disk, log start and end
 * offsets, high watermark and role. One broker that fails fails the call, as
 * in Kafka's admin; a link failure or timeout is retried (retry.ts).
 *
 * Replies are untrusted: validated into CORRUPT_MESSAGE naming the field.
 */
import type { Ref } from '../runtime/ref.ts';
import { array, int, int32, object, string } from '../protocol/validate.ts';
import type { LogDirPartition } from '../protocol/apis/log-dirs.ts';
import { ErrorCode, KactusError } from './errors.ts';
import type { Connection } from './connection.ts';
import type { MetadataCache } from './metadata-cache.ts';
import { withRetry, type RetryPolicy } from './retry.ts';
import { checkReply } from './replies.ts';

export type BrokerLogDir = { brokerId: number; logDir: string; partitions: LogDirPartition[] };

type Deps = { connection: Connection; metadata: MetadataCache; requestTimeoutMs: number; retry: RetryPolicy };

/** Partitions one broker may report (a broker hosts far fewer). */
const partitionsMax = 1_000_000;
const offset = int(-1, Number.MAX_SAFE_INTEGER);

const describeLogDirsReply = object({
  type: string(64),
  errorCode: int32,
  errorMessage: string(10_000),
  brokerId: int32,
  logDir: string(4_096),
  partitions: array(object({ topic: string(249), partition: int32, sizeBytes: int(0, Number.MAX_SAFE_INTEGER), logStartOffset: offset, logEndOffset: offset, highWatermark: offset, role: string(16) }), partitionsMax),
});

export async function describeLogDirs(deps: Deps, brokerIds: readonly number[] | undefined): Promise<BrokerLogDir[]> {
  await deps.metadata.refresh(null);
  const asked = brokerIds ?? deps.connection.brokerIds();
  return Promise.all(
    asked.map((brokerId) =>
      withRetry(async () => {
        const raw = await deps.connection.node.ask<unknown, unknown>({ node: String(brokerId), path: '/broker' }, (replyTo: Ref<unknown>) => ({ type: 'DescribeLogDirs', topics: null, replyTo }), { timeoutMs: deps.requestTimeoutMs });
        // An error answer has no partitions; a good one no error fields: fill the other's in before checking.
        const reply = checkReply(describeLogDirsReply, { errorCode: ErrorCode.NONE, errorMessage: '', brokerId, logDir: '', partitions: [], ...(raw as object) }, `DescribeLogDirs reply from broker ${brokerId}`);
        if (reply.type !== 'DescribeLogDirsReply') throw new KactusError(reply.errorCode === ErrorCode.NONE ? ErrorCode.UNKNOWN_SERVER_ERROR : reply.errorCode, `describeLogDirs on broker ${brokerId}: ${reply.errorMessage || reply.type}`);
        return { brokerId: reply.brokerId, logDir: reply.logDir, partitions: reply.partitions };
      }, deps.retry),
    ),
  );
}
