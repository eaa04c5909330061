/**
 * What the two coordinator shells (`/groups` over `__consumer_offsets`,
 * `/transactions` over `__transaction_state`) share: each keeps its state
 * in the partitions of a compacted internal topic, serves the keys whose
 * partition this broker leads, and rebuilds them by replaying the partition
 * when it becomes leader.
 *
 * Owns: `coordinatorFor` (FindCoordinator's answer from a metadata image),
 * `askCreateInternalTopic` (the controller call that creates the topic on
 * first use), `planLeadership` (which partitions to unload, load or keep
 * reading, from the registry, which is the truth about what we lead) and
 * `readLoadChunk` (one bounded read of a partition being loaded, decoded).
 * The shells keep their own state, messages and record formats.
 */
import { ErrorCode, toErrorCode } from '../protocol/errors.ts';
import { decodeBatches, type RecordBatch } from '../protocol/record-batch/index.ts';
import type { Node } from '../runtime/node.ts';
import type { Ref } from '../runtime/ref.ts';
import { topicByName, type MetadataImage } from './controller/metadata/index.ts';
import type { PartitionRegistry, PartitionView } from './partition/registry.ts';
import type { CoordinatorState } from './group-coordinator/coordinator-logic.ts';

export type CoordinatorAnswer = { type: 'FindCoordinatorReply'; errorCode: number; errorMessage: string | null; nodeId: number; host: string; port: number };

const noCoordinator = (errorCode: number, errorMessage: string): CoordinatorAnswer => ({ type: 'FindCoordinatorReply', errorCode, errorMessage, nodeId: -1, host: '', port: -1 });

/**
 * The broker leading `key`'s partition of `topic`, or COORDINATOR_NOT_AVAILABLE.
 * `missing` is true when the topic does not exist yet (the caller creates it).
 */
export function coordinatorFor(image: MetadataImage, topic: string, key: string, partitionFor: (key: string, partitionCount: number) => number): { answer: CoordinatorAnswer; missing: boolean } {
  const found = topicByName(image, topic);
  if (found === undefined) return { answer: noCoordinator(ErrorCode.COORDINATOR_NOT_AVAILABLE, `${topic} is being created`), missing: true };
  const partition = partitionFor(key, found.partitions.length);
  const leader = found.partitions[partition]?.leader ?? -1;
  const broker = leader >= 0 ? image.brokers.get(leader) : undefined;
  if (broker === undefined || broker.fenced) return { answer: noCoordinator(ErrorCode.COORDINATOR_NOT_AVAILABLE, `${topic}-${partition} has no live leader`), missing: false };
  return { answer: { type: 'FindCoordinatorReply', errorCode: ErrorCode.NONE, errorMessage: null, nodeId: leader, host: broker.host, port: broker.port }, missing: false };
}

export type InternalTopicSpec = { name: string; partitions: number; replicationFactor: number; configs: { name: string; value: string }[] };

/** Asks the controller (through the node's controller client) to create an internal topic; never rejects. */
export async function askCreateInternalTopic(node: Node, controllerClient: Ref<unknown>, spec: InternalTopicSpec, timeoutMs: number): Promise<{ errorCode: number; errorMessage: string }> {
  type Reply = { type: string; errorCode?: number; errorMessage?: string; topics?: { errorCode: number; errorMessage?: string | null }[] };
  try {
    const reply = await node.ask<unknown, Reply>(
      controllerClient,
      (replyTo) => ({
        type: 'ControllerCall',
        command: {
          type: 'CreateTopics',
          validateOnly: false,
          topics: [{ name: spec.name, numPartitions: spec.partitions, replicationFactor: spec.replicationFactor, assignments: null, configs: spec.configs }],
        },
        replyTo,
      }),
      { timeoutMs },
    );
    const result = reply.type === 'CreateTopicsReply' ? reply.topics?.[0] : undefined;
    const errorCode = result ? result.errorCode : (reply.errorCode ?? ErrorCode.UNKNOWN_SERVER_ERROR);
    // The reply body comes from the controller as it built it: read its fields by type, never convert them.
    const errorMessage = result?.errorMessage ?? reply.errorMessage;
    return { errorCode: typeof errorCode === 'number' ? errorCode : ErrorCode.UNKNOWN_SERVER_ERROR, errorMessage: typeof errorMessage === 'string' ? errorMessage : '' };
  } catch (err) {
    return { errorCode: toErrorCode(err), errorMessage: String((err as Error).message) };
  }
}

/** Unfenced brokers in the image: an internal topic's replication factor is capped by them. */
export function liveBrokerCount(image: MetadataImage): number {
  let live = 0;
  for (const broker of image.brokers.values()) if (!broker.fenced) live += 1;
  return live;
}

export type LeadershipPlan = {
  /** Partitions we hold but no longer lead (at all). */
  unload: number[];
  /** Partitions we lead at an epoch we have not loaded: (re)load them. */
  load: { partition: number; leaderEpoch: number }[];
  /** Partitions still Loading with no read going on (a read stopped early): read again. */
  resume: { partition: number; leaderEpoch: number }[];
};

/** Compares what the registry says we lead of `topic` with what the coordinator holds (optionally one partition). */
export function planLeadership(registry: PartitionRegistry, topic: string, coordinator: CoordinatorState, reading: ReadonlySet<number> | ReadonlyMap<number, unknown>, onlyPartition?: number): LeadershipPlan {
  const leading = new Map<number, number>();
  for (const view of registry.all()) {
    if (view.topic !== topic || view.role !== 'leader') continue;
    if (onlyPartition !== undefined && view.partition !== onlyPartition) continue;
    leading.set(view.partition, view.leaderEpoch);
  }
  const plan: LeadershipPlan = { unload: [], load: [], resume: [] };
  for (const partition of coordinator.partitions.keys()) {
    if (onlyPartition !== undefined && partition !== onlyPartition) continue;
    if (!leading.has(partition)) plan.unload.push(partition);
  }
  for (const [partition, leaderEpoch] of leading) {
    if (partition >= coordinator.partitionCount) continue;
    const current = coordinator.partitions.get(partition);
    if (current === undefined || current.leaderEpoch !== leaderEpoch) plan.load.push({ partition, leaderEpoch });
    else if (current.status === 'Loading' && !reading.has(partition)) plan.resume.push({ partition, leaderEpoch });
  }
  return plan;
}

export type LoadChunk =
  | { type: 'Batches'; batches: RecordBatch[] }
  | { type: 'End' }
  /** The read threw (I/O): start the load again later. */
  | { type: 'ReadFailed'; reason: string }
  /** Bytes we cannot decode: never serve from a log we cannot read; retry later. */
  | { type: 'Undecodable'; reason: string };

/** Reads at most `maxBytes` of `view`'s log from `fromOffset`, below `endOffset`, decoded into batches. */
export function readLoadChunk(view: PartitionView, fromOffset: number, endOffset: number, maxBytes: number): LoadChunk {
  if (fromOffset >= endOffset) return { type: 'End' };
  let bytes: Buffer;
  try {
    bytes = view.log.read(fromOffset, maxBytes, { maxOffset: endOffset });
  } catch (err) {
    return { type: 'ReadFailed', reason: String((err as Error).message) };
  }
  if (bytes.length === 0) return { type: 'End' };
  const decoded = decodeBatches(bytes);
  if (!decoded.ok) return { type: 'Undecodable', reason: decoded.message };
  return { type: 'Batches', batches: decoded.value };
}
