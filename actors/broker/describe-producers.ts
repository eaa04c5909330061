/**
 * DescribeProducers (KIP-664) as `/broker` answers it: the active producers of
 * each asked partition this broker leads, read synchronously from the
 * partitions' shared views (registry.ts), so a describe never waits in a
 * replica actor's mailbox behind produce traffic.
 *
 * Owns: `describeProducersReply`. Kafka's answers kept
 * (KafkaApis.handleDescribeProducersRequest, ReplicaManager.activeProducerState):
 * - a topic or partition the metadata does not know: UNKNOWN_TOPIC_OR_PARTITION;
 * - a known partition this broker does not host: NOT_LEADER_OR_FOLLOWER;
 * - hosted but not led here (follower, offline, or a leader that has not yet
 *   rebuilt its producer state for its epoch): NOT_LEADER_OR_FOLLOWER. Kafka's
 *   followers answer from their own producer state; ours keep none (only a
 *   leader checks sequences), and Kafka's admin client asks the leader anyway.
 * Partitions are answered in request order, duplicates included, as Kafka does.
 *
 * Imports: the partition registry and producer state, the metadata image,
 * protocol types. No I/O: the caller tells the reply.
 */
import { ErrorCode } from '../../protocol/errors.ts';
import type { DescribeProducersRequest, DescribeProducersResponse, DescribeProducersPartition } from '../../protocol/apis/txn.ts';
import { topicByName, type MetadataImage } from '../controller/metadata/index.ts';
import { describeProducers } from '../partition/producer-state.ts';
import type { PartitionRegistry } from '../partition/registry.ts';

export function describeProducersReply(request: Pick<DescribeProducersRequest, 'topics'>, registry: PartitionRegistry, image: MetadataImage, brokerId: number): DescribeProducersResponse {
  const refused = (partition: number, errorCode: number, errorMessage: string): DescribeProducersPartition => ({ partition, errorCode, errorMessage, activeProducers: [] });
  return {
    type: 'DescribeProducersReply',
    topics: request.topics.map(({ topic, partitions }) => {
      const known = topicByName(image, topic);
      return {
        topic,
        partitions: partitions.map((partition): DescribeProducersPartition => {
          if (known === undefined || partition >= known.partitions.length) return refused(partition, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, `${topic}-${partition} does not exist`);
          const view = registry.get(topic, partition);
          if (view === undefined) return refused(partition, ErrorCode.NOT_LEADER_OR_FOLLOWER, `broker ${brokerId} does not host ${topic}-${partition}`);
          const producers = view.producers;
          if (view.role !== 'leader' || producers === null || producers.leaderEpoch !== view.leaderEpoch) {
            return refused(partition, ErrorCode.NOT_LEADER_OR_FOLLOWER, `broker ${brokerId} does not lead ${topic}-${partition}`);
          }
          return { partition, errorCode: ErrorCode.NONE, errorMessage: null, activeProducers: describeProducers(producers.states, view.txns.ongoing) };
        }),
      };
    }),
  };
}
