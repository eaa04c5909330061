/**
 * The Metadata reply (brokers, active controller, topics and partitions),
 * built from an image. Brokers answer clients with it; so may the controller.
 *
 * Owns: `buildMetadataResponse`, `MetadataRequest`, `MetadataResponse`,
 * `internalTopicNames`.
 *
 * Rules (Kafka's KRaft metadata cache):
 * - `brokers` lists active (unfenced) brokers only: a client must not be sent
 *   to a fenced one.
 * - A partition without a leader has errorCode LEADER_NOT_AVAILABLE and
 *   leader -1; clients retry after a refresh.
 * - `offlineReplicas` are replicas whose broker is fenced or unregistered.
 * - A requested topic that does not exist answers UNKNOWN_TOPIC_OR_PARTITION
 *   (INVALID_TOPIC_EXCEPTION if its name is illegal); `topics: null` lists all
 *   topics, sorted by name. Requested names are answered once each, in the
 *   order first asked.
 * Auto-creation on Metadata is the broker's decision (a CreateTopics to the
 * controller), not this function's.
 */
import { ErrorCode } from '../../../protocol/errors.ts';
import { activeBrokers, topicByName, topicsSortedByName, type MetadataImage, type TopicImage } from './image.ts';
import { noLeader } from './records.ts';
import { validateTopicName } from './topics.ts';

export const internalTopicNames: ReadonlySet<string> = new Set(['__consumer_offsets', '__transaction_state']);

export interface MetadataRequest {
  /** null = all topics. */
  readonly topics: readonly string[] | null;
}

export interface MetadataBroker {
  readonly brokerId: number;
  readonly host: string;
  readonly port: number;
  readonly rack: string | null;
  /** The broker's other listeners (the Kafka listener); answers through them use these addresses. */
  readonly listeners: readonly { readonly name: string; readonly host: string; readonly port: number }[];
}

export interface MetadataPartition {
  readonly errorCode: number;
  readonly partition: number;
  readonly leader: number;
  readonly leaderEpoch: number;
  readonly replicas: readonly number[];
  readonly isr: readonly number[];
  readonly offlineReplicas: readonly number[];
}

export interface MetadataTopic {
  readonly errorCode: number;
  readonly errorMessage: string | null;
  readonly name: string;
  /** null for a topic that does not exist. */
  readonly topicId: string | null;
  readonly isInternal: boolean;
  readonly partitions: readonly MetadataPartition[];
}

export interface MetadataResponse {
  readonly brokers: readonly MetadataBroker[];
  /** The active controller's node id, -1 when unknown (no Raft leader). */
  readonly controllerId: number;
  readonly topics: readonly MetadataTopic[];
}

export function buildMetadataResponse(
  image: MetadataImage,
  request: MetadataRequest,
  controllerId: number,
): MetadataResponse {
  const brokers = activeBrokers(image).map((b) => ({ brokerId: b.brokerId, host: b.host, port: b.port, rack: b.rack, listeners: b.listeners }));
  const topics =
    request.topics === null
      ? topicsSortedByName(image).map((t) => describeTopic(image, t))
      : [...new Set(request.topics)].map((name) => {
          const topic = topicByName(image, name);
          if (topic !== undefined) return describeTopic(image, topic);
          const nameProblem = validateTopicName(name);
          return {
            errorCode: nameProblem === null ? ErrorCode.UNKNOWN_TOPIC_OR_PARTITION : ErrorCode.INVALID_TOPIC_EXCEPTION,
            errorMessage: nameProblem ?? `Topic ${name} does not exist`,
            name,
            topicId: null,
            isInternal: internalTopicNames.has(name),
            partitions: [],
          };
        });
  return { brokers, controllerId, topics };
}

function describeTopic(image: MetadataImage, topic: TopicImage): MetadataTopic {
  const isOffline = (id: number) => image.brokers.get(id)?.fenced !== false;
  return {
    errorCode: 0,
    errorMessage: null,
    name: topic.name,
    topicId: topic.topicId,
    isInternal: internalTopicNames.has(topic.name),
    partitions: topic.partitions.map((p) => ({
      errorCode: p.leader === noLeader ? ErrorCode.LEADER_NOT_AVAILABLE : 0,
      partition: p.partition,
      leader: p.leader,
      leaderEpoch: p.leaderEpoch,
      replicas: p.replicas,
      isr: p.isr,
      offlineReplicas: p.replicas.filter(isOffline),
    })),
  };
}
