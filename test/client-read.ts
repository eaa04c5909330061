/**
 * Test helper: reads a partition back from its leader through the client's
 * own connection (Fetch to `/fetch`, up to the high watermark), so producer
 * tests can check where every record really is. Not a test file itself; the
 * real consumer is issue #7.
 */
import type { Fetch, FetchReply } from '../protocol/apis/data.ts';
import { decodeBatches } from '../protocol/record-batch/index.ts';
import type { Kactus } from '../client/index.ts';

export type StoredRecord = { offset: number; key: string | null; value: string | null; headers: Record<string, string | null>; timestamp: number; producerId: number; producerEpoch: number; baseSequence: number; /** The batch's codec id. */ compression: number };

export async function readPartition(kactus: Kactus, topic: string, partition: number): Promise<StoredRecord[]> {
  const { connection, metadata } = await kactus.context();
  const out: StoredRecord[] = [];
  let fetchOffset = 0;
  for (let round = 0; round < 10_000; round += 1) {
    await metadata.refresh([topic]);
    const { leader } = await metadata.leaderFor(topic, partition);
    const reply = await connection.ask<Fetch, FetchReply>(leader, '/fetch', (replyTo) => ({
      type: 'Fetch', replicaId: -1, maxWaitMs: 0, minBytes: 1, maxBytes: 8 << 20, isolationLevel: 0,
      partitions: [{ topic, partition, fetchOffset, partitionMaxBytes: 8 << 20, currentLeaderEpoch: -1, lastFetchedEpoch: -1 }], replyTo,
    }), 5_000);
    const p = reply.partitions[0]!;
    if (p.errorCode !== 0) throw new Error(`fetch ${topic}-${partition} at ${fetchOffset}: error ${p.errorCode}`);
    if (p.records === null) return out;
    const decoded = decodeBatches(Buffer.from(p.records));
    if (!decoded.ok) throw new Error(decoded.message);
    for (const batch of decoded.value) {
      for (const r of batch.records) {
        if (r.offset < fetchOffset) continue;
        out.push({
          offset: r.offset,
          key: r.key?.toString() ?? null,
          value: r.value?.toString() ?? null,
          headers: Object.fromEntries(r.headers.map((h) => [h.key, h.value === null ? null : Buffer.from(h.value).toString()])),
          timestamp: r.timestamp,
          producerId: batch.header.producerId,
          producerEpoch: batch.header.producerEpoch,
          baseSequence: batch.header.baseSequence,
          compression: batch.header.compression,
        });
        fetchOffset = r.offset + 1;
      }
    }
    if (fetchOffset >= p.highWatermark) return out;
  }
  return out;
}
