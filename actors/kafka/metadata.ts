/**
 * Kafka's Metadata API over the native Metadata reply: pure translation.
 *
 * Owns: `metadataTopicsRequested` (which topics a Kafka Metadata request
 * names, by version) and `kafkaMetadataBody` (the native reply as Kafka's
 * response body for the listener the request came in on).
 *
 * Kafka's rules kept here:
 * - Brokers are listed with the address of the listener the request arrived
 *   on; a broker without that listener is left out (Kafka's "endpoints of the
 *   listener the request arrived on"), and a partition led by such a broker
 *   answers LEADER_NOT_AVAILABLE, so the client waits instead of dialling the
 *   wrong protocol.
 * - v0: an empty topic list means all topics. v1+: null means all, [] none.
 * - v10+ may name a topic by id only (name null): it is looked up by id.
 * - Authorized operations are not computed (no ACLs yet, #19): Kafka's
 *   "not requested" value, -2^31.
 */
import { ErrorCode } from '../../protocol/errors.ts';
import { zeroUuid, type KafkaValue } from '../../protocol/kafka/codec.ts';
import type { MetadataResponse } from '../controller/metadata/index.ts';

/** Kafka's INT32_MIN: authorized operations were not asked for (or are not computed). */
export const authorizedOperationsOmitted = -2_147_483_648;

export type RequestedTopics = { readonly names: string[] | null; readonly ids: string[] };

/** The topics a Metadata request asks for: names (null = all) and ids to look up. */
export function metadataTopicsRequested(version: number, body: KafkaValue): RequestedTopics {
  const topics = body.topics as { name: string | null; topicId?: string }[] | null;
  if (topics === null || (version === 0 && topics.length === 0)) return { names: null, ids: [] };
  const names: string[] = [];
  const ids: string[] = [];
  for (const topic of topics) {
    if (topic.name !== null && topic.name !== undefined) names.push(topic.name);
    else if (topic.topicId !== undefined && topic.topicId !== zeroUuid) ids.push(topic.topicId);
  }
  return { names: ids.length > 0 ? null : names, ids };
}

export function kafkaMetadataBody(response: MetadataResponse, listenerName: string, requested: RequestedTopics): KafkaValue {
  const brokers = response.brokers.flatMap((b) => {
    const endpoint = b.listeners.find((l) => l.name === listenerName);
    return endpoint === undefined ? [] : [{ nodeId: b.brokerId, host: endpoint.host, port: endpoint.port, rack: b.rack }];
  });
  const reachable = new Set(brokers.map((b) => b.nodeId));
  let topics = response.topics;
  if (requested.ids.length > 0) {
    const byId = new Map(response.topics.filter((t) => t.topicId !== null).map((t) => [t.topicId!, t]));
    topics = requested.ids.map(
      (id) =>
        byId.get(id) ?? { errorCode: ErrorCode.UNKNOWN_TOPIC_ID, errorMessage: `Topic id ${id} does not exist`, name: '', topicId: id, isInternal: false, partitions: [] },
    );
  }
  return {
    throttleTimeMs: 0,
    brokers,
    clusterId: null,
    controllerId: response.controllerId,
    topics: topics.map((t) => ({
      errorCode: t.errorCode,
      name: t.name,
      topicId: t.topicId ?? zeroUuid,
      isInternal: t.isInternal,
      partitions: t.partitions.map((p) => ({
        errorCode: p.errorCode === 0 && p.leader >= 0 && !reachable.has(p.leader) ? ErrorCode.LEADER_NOT_AVAILABLE : p.errorCode,
        partitionIndex: p.partition,
        leaderId: p.leader,
        leaderEpoch: p.leaderEpoch,
        replicaNodes: [...p.replicas],
        isrNodes: [...p.isr],
        offlineReplicas: [...p.offlineReplicas],
      })),
      topicAuthorizedOperations: authorizedOperationsOmitted,
    })),
    clusterAuthorizedOperations: authorizedOperationsOmitted,
  };
}
