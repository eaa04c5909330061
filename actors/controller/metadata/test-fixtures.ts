/**
 * Test fixtures for the metadata logic: build images the way the controller
 * would (generate, then replay), so tests never hand-write an image that
 * replay could not have produced. Used by *.test.ts in this folder only.
 */
import { assert } from '../../../runtime/assert.ts';
import { generateBrokerHeartbeat, generateRegisterBroker } from './brokers.ts';
import { emptyImage, partitionOf, replayBatch, type MetadataImage, type PartitionState } from './image.ts';
import type { ConfigEntry, ControlResult } from './records.ts';
import { generateCreateTopics } from './topics.ts';

export interface BrokerSpec {
  readonly brokerId: number;
  readonly rack?: string | null;
}

/** Registers and unfences brokers (ids or specs), in order. */
export function clusterImage(brokers: readonly (number | BrokerSpec)[], image: MetadataImage = emptyImage): MetadataImage {
  let next = image;
  for (const entry of brokers) {
    const spec = typeof entry === 'number' ? { brokerId: entry } : entry;
    next = registerAndUnfence(next, spec.brokerId, `incarnation-${spec.brokerId}-${next.brokerEpochMax + 1}`, spec.rack ?? null);
  }
  return next;
}

export function registerAndUnfence(image: MetadataImage, brokerId: number, incarnationId: string, rack: string | null = null): MetadataImage {
  const registered = generateRegisterBroker(
    image,
    { type: 'RegisterBroker', brokerId, incarnationId, host: 'localhost', port: 9000 + brokerId, rack },
    { nowMs: 0, sessionTimeoutMs: 3_000, lastHeartbeatMs: undefined },
  );
  assert(registered.reply.errorCode === 0, `register ${brokerId}: ${registered.reply.errorMessage}`);
  const afterRegister = replayBatch(image, registered.records);
  const heartbeat = generateBrokerHeartbeat(afterRegister, {
    type: 'BrokerHeartbeat',
    brokerId,
    brokerEpoch: registered.reply.brokerEpoch,
    wantFence: false,
  });
  assert(heartbeat.reply.errorCode === 0, `unfence ${brokerId}: ${heartbeat.reply.errorMessage}`);
  return replayBatch(afterRegister, heartbeat.records);
}

export function withTopic(
  image: MetadataImage,
  name: string,
  numPartitions: number,
  replicationFactor: number,
  configs: readonly ConfigEntry[] = [],
): MetadataImage {
  const result = generateCreateTopics(image, {
    type: 'CreateTopics',
    topics: [{ name, numPartitions, replicationFactor, assignments: null, configs }],
    validateOnly: false,
  });
  const topic = result.reply.topics[0];
  assert(topic !== undefined && topic.errorCode === 0, `create ${name}: ${topic?.errorMessage}`);
  return replayBatch(image, result.records);
}

export function apply<R>(image: MetadataImage, result: ControlResult<R>): MetadataImage {
  return replayBatch(image, result.records);
}

export function partitionState(image: MetadataImage, topic: string, partition: number): PartitionState {
  const state = partitionOf(image, topic, partition);
  assert(state !== undefined, `no partition ${topic}-${partition}`);
  return state;
}

export function brokerEpochOf(image: MetadataImage, brokerId: number): number {
  const broker = image.brokers.get(brokerId);
  assert(broker !== undefined, `no broker ${brokerId}`);
  return broker.brokerEpoch;
}
