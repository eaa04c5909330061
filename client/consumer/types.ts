/**
 * The consumer's public data shapes: the record a subscriber receives, the
 * partition names, and the assignment events.
 *
 * A record carries `ack()`: calling it says "this record is finished", which
 * is what makes its offset committable (at-least-once: an offset is committed
 * only once every record before it in its partition is finished). `ack()` is
 * idempotent and a no-op once the partition was revoked or lost (the record
 * belongs to an older assignment; the new owner reads it again).
 *
 * Imports: nothing at run time.
 */

export type TopicPartition = { readonly topic: string; readonly partition: number };

export type RecordHeader = { readonly key: string; readonly value: Buffer | null };

/** K and V are what the consumer's deserializers make of the bytes (Buffer without them); null stays null. */
export interface ConsumerRecord<K = Buffer, V = Buffer> {
  readonly topic: string;
  readonly partition: number;
  readonly offset: number;
  readonly key: K | null;
  readonly value: V | null;
  readonly headers: readonly RecordHeader[];
  /** Create time (or log append time) in epoch ms. */
  readonly timestamp: number;
  /** Marks the record finished: its offset may be committed (see the module comment). */
  ack(): void;
}

/**
 * Assignment changes, in the order they happen. `revoked` comes after the
 * revoked partitions' finished records were committed; `lost` means the
 * member lost them without a chance to commit (session expired, fenced).
 */
export type AssignmentEvent =
  | { readonly type: 'assigned'; readonly partitions: readonly TopicPartition[]; readonly generationId: number }
  | { readonly type: 'revoked'; readonly partitions: readonly TopicPartition[]; readonly generationId: number }
  | { readonly type: 'lost'; readonly partitions: readonly TopicPartition[]; readonly generationId: number };

/** A string key for Maps and Sets (topic names cannot contain NUL). */
export function tpKey(topic: string, partition: number): string {
  return `${topic}\u0000${partition}`;
}

export function tpOf(key: string): TopicPartition {
  const i = key.indexOf('\u0000');
  return { topic: key.slice(0, i), partition: Number(key.slice(i + 1)) };
}

/** Offsets grouped by topic, in first-seen order: KafkaJS's { topic, partitions: [{ partition, offset }] } shape. */
export function offsetsByTopic(offsets: readonly { topic: string; partition: number; offset: number }[]): { topic: string; partitions: { partition: number; offset: number }[] }[] {
  const byTopic = new Map<string, { partition: number; offset: number }[]>();
  for (const o of offsets) {
    let list = byTopic.get(o.topic);
    if (list === undefined) byTopic.set(o.topic, (list = []));
    list.push({ partition: o.partition, offset: o.offset });
  }
  return [...byTopic].map(([topic, partitions]) => ({ topic, partitions }));
}

export function compareTp(a: TopicPartition, b: TopicPartition): number {
  return a.topic < b.topic ? -1 : a.topic > b.topic ? 1 : a.partition - b.partition;
}
