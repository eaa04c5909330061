/**
 * The partitions hosted by one broker node: their logs on disk and a small
 * shared view of each one's role, for the actors of this node only.
 *
 * Owns: opening/creating/deleting partition logs under `<dataDir>/<topic>-<p>`,
 * and one `PartitionView` per hosted partition.
 *
 * Why a shared in-process view rather than messages: the read path (fetch
 * server), the leader's write path (the replica actor) and the follower's
 * write path (the fetcher) all touch the same log, as Kafka's Partition
 * object is shared by its request handlers and fetcher threads. Asking the
 * replica actor for every read would put every consumer fetch through one
 * mailbox. The discipline that keeps this safe (JS runs one handler at a time):
 * - Only the broker actor writes `role`, `leaderEpoch` and `leaderId`, when
 *   it applies a metadata change, before it tells anyone about it.
 * - A log has one writer at a time: the replica actor while `role` is
 *   'leader', the fetcher while it is 'follower'. Each checks the view (role
 *   and epoch) in the same synchronous step as its append, so a writer that
 *   lost its role cannot append.
 * - Readers read synchronously and keep nothing between messages.
 *
 * The leader's ISR summary (`leaderIsr`) is published here by the replica
 * actor for the metrics to read when scraped, by the same single-writer rule.
 *
 * The replication throttles live here too, for the same reason: the fetch
 * server (leader side) and every fetcher (follower side, one per leader) must
 * share one budget per broker, across all partitions. The broker actor writes
 * the rates (from each metadata image) and each view's throttled replicas
 * (from each ReplicaChange); the fetch server and fetchers read them and
 * spend the budget (replication-quota.ts holds the arithmetic).
 */
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { PartitionLog } from '../../storage/log.ts';
import type { LogConfig } from '../../storage/config.ts';
import type { Clock } from '../../runtime/clock.ts';
import { emptyTxnIndex, type TxnIndex } from './txn-index.ts';
import type { ProducerStates } from './producer-state.ts';
import { ReplicationQuota } from '../fetch/replication-quota.ts';

export type PartitionRole = 'leader' | 'follower' | 'offline';

export type PartitionView = {
  readonly topic: string;
  readonly partition: number;
  readonly key: string;
  readonly log: PartitionLog;
  role: PartitionRole;
  leaderEpoch: number;
  leaderId: number;
  /** Open and aborted transactions; maintained by the replica actor while it leads (txn-index.ts). */
  txns: TxnIndex;
  /**
   * The leader's idempotent-producer state (producer-state.ts), published by the replica actor when it becomes
   * leader at `leaderEpoch` and mutated in place by it; /broker reads it for DescribeProducers only while the
   * view's role is leader at that same epoch (the map of an earlier term is stale). null: never led here.
   */
  producers: { readonly leaderEpoch: number; readonly states: ProducerStates } | null;
  /** Leading: the followers whose fetches the leader throttle applies to (being added, not in the ISR). Written by the broker actor. */
  leaderThrottledReplicas: ReadonlySet<number>;
  /** Following: this broker is being added and is not in the ISR, so its fetches are under the follower throttle. Written by the broker actor. */
  followerThrottled: boolean;
  /**
   * Leading: the committed ISR's size, the replica count and min.insync.replicas, as the replica actor last
   * applied them (null while it does not lead). Written by the replica actor only; read by the metrics when
   * scraped (under-replicated and under-min-ISR partitions), so nothing is computed per message for them.
   */
  leaderIsr: { readonly isrSize: number; readonly replicaCount: number; readonly minInsyncReplicas: number } | null;
};

/** One broker's two replication throttles (leader.replication.throttled.rate, follower.replication.throttled.rate). */
export type ReplicationQuotas = { readonly leader: ReplicationQuota; readonly follower: ReplicationQuota };

export const noThrottledReplicas: ReadonlySet<number> = new Set();

export function partitionKey(topic: string, partition: number): string {
  return `${topic}-${partition}`;
}

export class PartitionRegistry {
  private readonly views = new Map<string, PartitionView>();
  /** Unthrottled until the broker actor applies an image that sets a rate. */
  readonly replicationQuotas: ReplicationQuotas = { leader: new ReplicationQuota(), follower: new ReplicationQuota() };

  constructor(
    private readonly dataDir: string,
    /** Also the time base of replicationQuotas: every user of the quotas reads this one clock. */
    readonly clock: Clock,
  ) {
    mkdirSync(dataDir, { recursive: true });
  }

  get(topic: string, partition: number): PartitionView | undefined {
    return this.views.get(partitionKey(topic, partition));
  }

  getByKey(key: string): PartitionView | undefined {
    return this.views.get(key);
  }

  /** Opens (recovering) or creates the partition's log. */
  open(topic: string, partition: number, config: Partial<LogConfig>): PartitionView {
    const key = partitionKey(topic, partition);
    const existing = this.views.get(key);
    if (existing) return existing;
    const log = PartitionLog.open({ dir: join(this.dataDir, key), config, clock: this.clock });
    const view: PartitionView = { topic, partition, key, log, role: 'offline', leaderEpoch: -1, leaderId: -1, txns: emptyTxnIndex(), producers: null, leaderThrottledReplicas: noThrottledReplicas, followerThrottled: false, leaderIsr: null };
    this.views.set(key, view);
    return view;
  }

  /** Closes the log; with `deleteData` removes its directory too (topic deleted or replica moved). */
  async close(topic: string, partition: number, deleteData: boolean): Promise<void> {
    const key = partitionKey(topic, partition);
    const view = this.views.get(key);
    if (view === undefined) return;
    this.views.delete(key);
    view.role = 'offline';
    await view.log.close();
    if (deleteData) rmSync(join(this.dataDir, key), { recursive: true, force: true });
  }

  all(): PartitionView[] {
    return [...this.views.values()];
  }

  async closeAll(): Promise<void> {
    const views = [...this.views.values()];
    this.views.clear();
    for (const view of views) {
      view.role = 'offline';
      await view.log.close().catch(() => undefined);
    }
  }
}
