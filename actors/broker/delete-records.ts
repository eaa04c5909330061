/**
 * DeleteRecords as `/broker` serves it: each asked partition goes to its
 * replica actor on this broker (the leader moves its log start and answers
 * once every live replica's log start got there, actors/partition/
 * delete-records.ts), and the answers are gathered into one reply in request
 * order, duplicates included.
 *
 * Owns: `deleteRecordsReply` and the local messages between `/broker` and a
 * replica for it (`DeleteRecordsPartition`, `DeleteRecordsPartitionReply`).
 * Kafka's answers kept (KafkaApis.handleDeleteRecordsRequest,
 * ReplicaManager.deleteRecordsOnLocalLog):
 * - a topic or partition the metadata does not know: UNKNOWN_TOPIC_OR_PARTITION;
 * - a known partition this broker does not host, or hosts as a follower:
 *   NOT_LEADER_OR_FOLLOWER (the replica actor says so for the latter);
 * - every partition waits at most the request's timeout, and the reply goes
 *   out when the last one is answered (Kafka's DelayedDeleteRecords answers
 *   the request as a whole too).
 * The internal-topic refusal happens before this, in brokerProtocol's guard.
 *
 * Never awaited inside the broker's handler: the broker starts the asks and
 * returns; the promise tells the reply (STYLE.md rule 10).
 */
import { ErrorCode, toErrorCode } from '../../protocol/errors.ts';
import type { DeleteRecords, DeleteRecordsPartitionResult, DeleteRecordsReply } from '../../protocol/apis/delete-records.ts';
import type { Ref } from '../../runtime/ref.ts';
import { topicByName, type MetadataImage } from '../controller/metadata/index.ts';
import { partitionKey } from '../partition/registry.ts';

/** `/broker` -> the partition's replica actor (local only). */
export type DeleteRecordsPartition = { type: 'DeleteRecordsPartition'; offset: number; timeoutMs: number; replyTo: Ref<DeleteRecordsPartitionReply> };
export type DeleteRecordsPartitionReply = { type: 'DeleteRecordsPartitionReply'; errorCode: number; errorMessage: string | null; lowWatermark: number };

/** Beyond the request's own timeout, how long `/broker` waits for a replica actor (which answers at its deadline itself). */
export const deleteRecordsAskSlackMs = 2_000;

export type DeleteRecordsDeps = {
  brokerId: number;
  image: MetadataImage;
  /** This broker's replica actor of the partition, if it hosts it. */
  replicaOf: (key: string) => Ref<unknown> | undefined;
  ask: (replica: Ref<unknown>, message: (replyTo: Ref<DeleteRecordsPartitionReply>) => DeleteRecordsPartition, timeoutMs: number) => Promise<unknown>;
};

const isReply = (value: unknown): value is DeleteRecordsPartitionReply => {
  const r = value as Partial<DeleteRecordsPartitionReply> | null;
  return typeof r === 'object' && r !== null && r.type === 'DeleteRecordsPartitionReply' && Number.isInteger(r.errorCode) && Number.isSafeInteger(r.lowWatermark);
};

export async function deleteRecordsReply(request: DeleteRecords, deps: DeleteRecordsDeps): Promise<DeleteRecordsReply> {
  const partitions = await Promise.all(
    request.partitions.map(async ({ topic, partition, offset }): Promise<DeleteRecordsPartitionResult> => {
      const failed = (errorCode: number, errorMessage: string): DeleteRecordsPartitionResult => ({ topic, partition, errorCode, errorMessage, lowWatermark: -1 });
      const known = topicByName(deps.image, topic);
      if (known === undefined || partition >= known.partitions.length) return failed(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, `${topic}-${partition} does not exist`);
      const replica = deps.replicaOf(partitionKey(topic, partition));
      if (replica === undefined) return failed(ErrorCode.NOT_LEADER_OR_FOLLOWER, `broker ${deps.brokerId} does not host ${topic}-${partition}`);
      try {
        const reply = await deps.ask(replica, (replyTo) => ({ type: 'DeleteRecordsPartition', offset, timeoutMs: request.timeoutMs, replyTo }), request.timeoutMs + deleteRecordsAskSlackMs);
        if (!isReply(reply)) return failed(ErrorCode.UNKNOWN_SERVER_ERROR, `${topic}-${partition}: malformed answer of the replica`);
        return { topic, partition, errorCode: reply.errorCode, errorMessage: reply.errorCode === ErrorCode.NONE ? null : reply.errorMessage, lowWatermark: reply.lowWatermark };
      } catch (err) {
        const code = toErrorCode(err);
        return failed(code === ErrorCode.UNKNOWN_SERVER_ERROR ? ErrorCode.REQUEST_TIMED_OUT : code, `${topic}-${partition}: ${String((err as Error).message)}`);
      }
    }),
  );
  return { type: 'DeleteRecordsReply', partitions };
}
