/**
 * A transactional producer and a read_committed reader written against the
 * wire API only (protocol/apis/txn.ts, protocol/apis/data.ts), for tests of
 * the coordinator and the partitions that must not depend on the client
 * library: find the coordinator, ask it with bounded retries of retriable
 * answers, produce a transactional batch to a partition leader, and read a
 * partition back as read_committed (aborted records dropped, markers never
 * returned) or read_uncommitted.
 */
import type { Node } from '../../runtime/node.ts';
import { ErrorCode } from '../../protocol/errors.ts';
import { decodeBatches, encodeBatch } from '../../protocol/record-batch/index.ts';

export type Reply = { type: string; errorCode?: number } & Record<string, unknown>;

export type TxnWire = {
  client: Node;
  brokerIds: readonly number[];
  /** The current leader of topic-partition (from metadata). */
  leaderOf(topic: string, partition: number): Promise<number> | number;
};

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

export const askActor = (client: Node, brokerId: number, path: string, message: Record<string, unknown>, timeoutMs = 10_000): Promise<Reply> =>
  client.ask<unknown, Reply>({ node: String(brokerId), path }, (replyTo) => ({ ...message, replyTo }), { timeoutMs });

const coordinatorRetriable = new Set<number>([ErrorCode.NOT_COORDINATOR, ErrorCode.COORDINATOR_NOT_AVAILABLE, ErrorCode.COORDINATOR_LOAD_IN_PROGRESS, ErrorCode.CONCURRENT_TRANSACTIONS, ErrorCode.REQUEST_TIMED_OUT]);

/** The top-level error code of a coordinator reply (the first partition's for AddPartitionsToTxn). */
export function replyCode(reply: Reply): number {
  if (typeof reply.errorCode === 'number') return reply.errorCode;
  return (reply.results as { errorCode: number }[] | undefined)?.[0]?.errorCode ?? ErrorCode.NONE;
}

/** FindTxnCoordinator through the brokers in turn (bounded); the coordinator's broker id. */
export async function findTxnCoordinator(w: TxnWire, transactionalId: string, timeoutMs = 30_000): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  for (let attempt = 0; ; attempt += 1) {
    const via = w.brokerIds[attempt % w.brokerIds.length]!;
    const found = await askActor(w.client, via, '/transactions', { type: 'FindTxnCoordinator', transactionalId }, 3_000).catch(() => null);
    if (found !== null && found.errorCode === ErrorCode.NONE) return found.nodeId as number;
    if (Date.now() > deadline) throw new Error(`no transaction coordinator for ${transactionalId} within ${timeoutMs} ms`);
    await sleep(100);
  }
}

/** Asks the coordinator of `transactionalId`, finding it again and retrying retriable answers (bounded). */
export async function askTxn(w: TxnWire, transactionalId: string, message: Record<string, unknown>, timeoutMs = 30_000): Promise<Reply> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const coordinator = await findTxnCoordinator(w, transactionalId, Math.max(1_000, deadline - Date.now()));
    const reply = await askActor(w.client, coordinator, '/transactions', { ...message, transactionalId }, 5_000).catch((err: Error) => ({ type: 'AskFailed', errorCode: ErrorCode.REQUEST_TIMED_OUT, reason: err.message }) as Reply);
    if (!coordinatorRetriable.has(replyCode(reply)) || Date.now() > deadline) return reply;
    await sleep(100);
  }
}

export async function produceTxn(
  w: TxnWire,
  target: { topic: string; partition: number },
  producer: { transactionalId: string; producerId: number; producerEpoch: number },
  baseSequence: number,
  values: string[],
): Promise<Reply> {
  const batch = encodeBatch({
    records: values.map((v) => ({ key: null, value: Buffer.from(v), timestamp: Date.now() })),
    producerId: producer.producerId,
    producerEpoch: producer.producerEpoch,
    baseSequence,
    isTransactional: true,
  });
  const leader = await w.leaderOf(target.topic, target.partition);
  return askActor(w.client, leader, '/broker', { type: 'Produce', ...target, acks: -1, timeoutMs: 5_000, batch, transactionalId: producer.transactionalId });
}

export type PartitionRead = {
  /** Values a consumer at this isolation level is handed, in offset order. */
  values: string[];
  aborted: { producerId: number; firstOffset: number }[];
  lastStableOffset: number;
  highWatermark: number;
  controlBatches: number;
};

/** Reads a whole (small) partition from offset 0 at one isolation level, as a consumer would hand it over. */
export async function readPartition(w: TxnWire, topic: string, partition: number, isolationLevel: 0 | 1): Promise<PartitionRead> {
  const leader = await w.leaderOf(topic, partition);
  const reply = await askActor(w.client, leader, '/fetch', { type: 'Fetch', replicaId: -1, maxWaitMs: 0, minBytes: 0, maxBytes: 64 * 1024 * 1024, isolationLevel, partitions: [{ topic, partition, fetchOffset: 0, partitionMaxBytes: 64 * 1024 * 1024 }] });
  const p = (reply.partitions as Record<string, unknown>[] | undefined)?.[0];
  if (p === undefined || p.errorCode !== ErrorCode.NONE) throw new Error(`fetch ${topic}-${partition} from ${leader}: ${JSON.stringify(p ?? reply)}`);
  const aborted = ((p.abortedTransactions as PartitionRead['aborted'] | null) ?? []).slice();
  const values: string[] = [];
  let controlBatches = 0;
  if (p.records) {
    const decoded = decodeBatches(Buffer.from(p.records as Uint8Array));
    if (!decoded.ok) throw new Error(decoded.message);
    // Kafka's consumer: a producer's batches from an aborted transaction's first offset up to its abort marker are dropped.
    const abortedOpen = new Set<number>();
    const pending = [...aborted].sort((a, b) => a.firstOffset - b.firstOffset);
    for (const batch of decoded.value) {
      const h = batch.header;
      while (isolationLevel === 1 && pending.length > 0 && pending[0]!.firstOffset <= h.lastOffset) abortedOpen.add(pending.shift()!.producerId);
      if (h.isControl) {
        controlBatches += 1;
        abortedOpen.delete(h.producerId);
        continue;
      }
      if (isolationLevel === 1 && h.isTransactional && abortedOpen.has(h.producerId)) continue;
      for (const r of batch.records) values.push(r.value!.toString());
    }
  }
  return { values, aborted, lastStableOffset: p.lastStableOffset as number, highWatermark: p.highWatermark as number, controlBatches };
}

/** Polls `probe` every 100 ms until it returns a value (bounded). */
export async function eventually<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${lastError ? `: ${String((lastError as Error).message)}` : ''}`);
    await sleep(100);
  }
}
