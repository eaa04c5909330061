/**
 * DescribeLogDirs as `/broker` answers it (protocol/apis/log-dirs.ts): each
 * hosted partition's bytes on disk (its segments' sizes) and offsets, read
 * synchronously from the partitions' shared views (registry.ts). A partition
 * asked for that this broker does not host is left out, as Kafka leaves it
 * out; one broker has one log directory (log.dirs takes one path).
 *
 * Imports: the partition registry, protocol types. No I/O: the caller tells the reply.
 */
import type { DescribeLogDirs, DescribeLogDirsReply, LogDirPartition } from '../../protocol/apis/log-dirs.ts';
import type { PartitionRegistry, PartitionView } from '../partition/registry.ts';

function describe(view: PartitionView): LogDirPartition {
  let sizeBytes = 0;
  for (const segment of view.log.segmentSummaries()) sizeBytes += segment.sizeBytes;
  return { topic: view.topic, partition: view.partition, sizeBytes, logStartOffset: view.log.logStartOffset, logEndOffset: view.log.logEndOffset, highWatermark: view.log.highWatermark, role: view.role };
}

export function describeLogDirsReply(request: Pick<DescribeLogDirs, 'topics'>, registry: PartitionRegistry, brokerId: number, logDir: string): DescribeLogDirsReply {
  const views: PartitionView[] = [];
  if (request.topics === null) views.push(...registry.all());
  else
    for (const { topic, partitions } of request.topics)
      for (const partition of partitions) {
        const view = registry.get(topic, partition);
        if (view !== undefined) views.push(view);
      }
  const partitions = views.map(describe).sort((a, b) => a.topic.localeCompare(b.topic) || a.partition - b.partition);
  return { type: 'DescribeLogDirsReply', brokerId, logDir, partitions };
}
