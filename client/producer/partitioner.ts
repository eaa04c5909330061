/**
 * Partition choice for records sent without an explicit partition. Pure:
 * no I/O and no clock; randomness is a parameter.
 *
 * Owns: `createPartitioner(option, random)` and the three strategies.
 *
 * - Keyed records (every strategy but a custom function): Kafka's default,
 *   `toPositive(murmur2(key)) % partitionCount` (protocol/murmur2.ts), so a
 *   key lands on the partition a Java producer would pick. Availability is
 *   ignored for keyed records, as in Kafka: a key must not move.
 * - Keyless, 'default' (sticky, KIP-480): every keyless record of a topic
 *   goes to one partition until a batch for it is closed (full, or sent at
 *   linger); then the next keyless record picks a new partition at random,
 *   different from the last when there is more than one, preferring
 *   partitions that have a leader. Fewer, fuller batches than round-robin.
 * - Keyless, 'round-robin': partition n, n+1, ... per topic, over the
 *   available partitions when any (Kafka's RoundRobinPartitioner).
 * - A custom function gets { topic, partitionCount, key, value } and must
 *   return an integer in [0, partitionCount): anything else is a KactusError
 *   (INVALID_PARTITIONS) naming the topic, never a silent misroute.
 *
 * The producer tells the partitioner about closed batches with
 * `onBatchClosed(topic, partition)`.
 */
import { ErrorCode, KactusError } from '../../protocol/errors.ts';
import { partitionForKey } from '../../protocol/murmur2.ts';
import type { PartitionerOption } from '../options.ts';

export interface Partitioner {
  /**
   * The partition of a record without an explicit one. `available` lists the
   * partitions that have a leader now (may be empty when unknown).
   */
  partition(topic: string, key: Buffer | null, value: Buffer | null, partitionCount: number, available: readonly number[]): number;
  /** A batch for (topic, partition) was closed: the sticky partitioner moves on if it was its partition. */
  onBatchClosed(topic: string, partition: number): void;
  /**
   * True for the sticky partitioner: a keyless record that would not fit in
   * its partition's open batch closes that batch and is partitioned again
   * (Kafka's abortOnNewBatch), so it starts the next partition's batch
   * instead of leaving a one-record batch behind.
   */
  readonly repartitionsOnFullBatch: boolean;
}

/** Kafka's keyed choice: the same partition as the Java producer's default partitioner. */
export function keyedPartition(key: Uint8Array, partitionCount: number): number {
  return partitionForKey(key, partitionCount);
}

/**
 * A partition chosen uniformly at random among `available` (all `partitionCount` when it is empty), other than
 * `avoid` when there is another: uniform over the others, so no partition is favoured after a move.
 */
function pickRandom(partitionCount: number, available: readonly number[], avoid: number, random: () => number): number {
  const fromAvailable = available.length > 0;
  const count = fromAvailable ? available.length : partitionCount;
  const at = (i: number): number => (fromAvailable ? available[i]! : i);
  const avoidIndex = fromAvailable ? available.indexOf(avoid) : avoid >= 0 && avoid < partitionCount ? avoid : -1;
  if (avoidIndex < 0 || count === 1) return at(Math.floor(random() * count));
  const i = Math.floor(random() * (count - 1));
  return at(i >= avoidIndex ? i + 1 : i);
}

export class StickyPartitioner implements Partitioner {
  readonly repartitionsOnFullBatch = true;
  private readonly sticky = new Map<string, number>();
  /** Topics whose sticky partition must change before the next keyless record. */
  private readonly moveOn = new Set<string>();
  constructor(private readonly random: () => number) {}

  partition(topic: string, key: Buffer | null, _value: Buffer | null, partitionCount: number, available: readonly number[]): number {
    if (key !== null) return keyedPartition(key, partitionCount);
    const current = this.sticky.get(topic);
    if (current !== undefined && current < partitionCount && !this.moveOn.has(topic)) return current;
    const next = pickRandom(partitionCount, available.filter((p) => p < partitionCount), current ?? -1, this.random);
    this.sticky.set(topic, next);
    this.moveOn.delete(topic);
    return next;
  }

  onBatchClosed(topic: string, partition: number): void {
    if (this.sticky.get(topic) === partition) this.moveOn.add(topic);
  }
}

export class RoundRobinPartitioner implements Partitioner {
  readonly repartitionsOnFullBatch = false;
  private readonly counters = new Map<string, number>();

  partition(topic: string, key: Buffer | null, _value: Buffer | null, partitionCount: number, available: readonly number[]): number {
    if (key !== null) return keyedPartition(key, partitionCount);
    const n = this.counters.get(topic) ?? 0;
    this.counters.set(topic, (n + 1) % 2_147_483_647);
    const usable = available.filter((p) => p < partitionCount);
    return usable.length > 0 ? usable[n % usable.length]! : n % partitionCount;
  }

  onBatchClosed(): void {}
}

export class CustomPartitioner implements Partitioner {
  readonly repartitionsOnFullBatch = false;
  constructor(private readonly choose: Extract<PartitionerOption, (...args: never[]) => unknown>) {}

  partition(topic: string, key: Buffer | null, value: Buffer | null, partitionCount: number): number {
    const p = this.choose({ topic, partitionCount, key, value });
    if (!Number.isInteger(p) || p < 0 || p >= partitionCount) {
      throw new KactusError(ErrorCode.INVALID_PARTITIONS, `the custom partitioner returned ${String(p)} for topic "${topic}", which has partitions 0..${partitionCount - 1}`);
    }
    return p;
  }

  onBatchClosed(): void {}
}

export function createPartitioner(option: PartitionerOption, random: () => number = Math.random): Partitioner {
  if (option === 'default') return new StickyPartitioner(random);
  if (option === 'round-robin') return new RoundRobinPartitioner();
  return new CustomPartitioner(option);
}
