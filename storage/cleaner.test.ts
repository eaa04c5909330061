import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { decodeBatches } from '../protocol/record-batch/codec.ts';
import { Compression } from '../protocol/record-batch/header.ts';
import { encodeEndTxnMarker } from '../protocol/record-batch/control.ts';
import { ManualClock } from '../runtime/clock.ts';
import { planCleaning } from './cleaner.ts';
import { PartitionLog } from './log.ts';
import { makeBatch, makeTempDir, removeDir } from './testing.ts';

// Goal: compaction keeps the newest record per key, never moves offsets, and
// drops tombstones only after delete.retention.ms. Method: real logs with a
// ManualClock, table cases, and a fast-check run against a key -> newest model.

let dir: string;
beforeEach(() => {
  dir = makeTempDir();
});
afterEach(() => removeDir(dir));

const dayMs = 24 * 60 * 60 * 1000;
const config = { cleanupPolicy: 'compact' as const, segmentBytesMax: 1500, indexIntervalBytes: 100, minCleanableDirtyRatio: 0 };

/** All records of the log as [offset, key, value|null]. */
function records(log: PartitionLog): [number, string | null, string | null][] {
  const out: [number, string | null, string | null][] = [];
  let at = log.logStartOffset;
  for (let guard = 0; at < log.logEndOffset && guard < 10_000; guard++) {
    const bytes = log.read(at, 1 << 20);
    if (bytes.length === 0) break;
    const decoded = decodeBatches(bytes);
    if (!decoded.ok) throw new Error(decoded.message);
    for (const b of decoded.value) {
      for (const r of b.records) out.push([r.offset, r.key?.toString() ?? null, r.value?.toString() ?? null]);
      at = b.header.lastOffset + 1;
    }
  }
  return out;
}

describe('cleaner planner', () => {
  const segs = [
    { baseOffset: 0, nextBaseOffset: 10, sizeBytes: 100 },
    { baseOffset: 10, nextBaseOffset: 20, sizeBytes: 100 },
    { baseOffset: 20, nextBaseOffset: 30, sizeBytes: 100 },
  ];
  const input = { firstDirtyOffset: 10, firstUncleanableOffset: 30, minCleanableDirtyRatio: 0.5, deleteHorizonDue: false, force: false };
  it('cleans up to the first uncleanable offset when the dirty ratio is reached', () => {
    expect(planCleaning(segs, input)).toMatchObject({ segmentCount: 3, cleanUpToOffset: 30, dirtyBytes: 200, cleanBytes: 100 });
    expect(planCleaning(segs, { ...input, firstUncleanableOffset: 25 })).toMatchObject({ segmentCount: 2, cleanUpToOffset: 20 });
  });
  it('skips when too little is dirty, unless forced or a tombstone horizon is due', () => {
    expect(planCleaning(segs, { ...input, firstDirtyOffset: 20 })).toBeNull();
    expect(planCleaning(segs, { ...input, firstDirtyOffset: 20, force: true })).not.toBeNull();
    expect(planCleaning(segs, { ...input, firstDirtyOffset: 30, deleteHorizonDue: true })).not.toBeNull();
    expect(planCleaning(segs, { ...input, firstUncleanableOffset: 5 })).toBeNull();
  });
});

describe('compaction on a log with a fake clock', () => {
  it('keeps the newest record per key in closed segments, keeps offsets, and leaves the active segment alone', async () => {
    const clock = new ManualClock();
    const log = PartitionLog.open({ dir, clock, config });
    for (let round = 0; round < 6; round++) {
      log.append(makeBatch(4, { keys: ['a', 'b', 'c', `u${round}`], values: [`a${round}`, `b${round}`, `c${round}`, 'x'], valueBytes: 40 }), { leaderEpoch: 0 });
    }
    log.setHighWatermark(log.logEndOffset);
    const before = records(log);
    const activeBase = log.segmentSummaries().at(-1)!.baseOffset;
    const result = log.clean();
    expect(result).not.toBeNull();
    expect(result!.recordsRemoved).toBeGreaterThan(0);
    const after = records(log);
    // Every record kept is unchanged at its offset; a record goes only if a newer one with its key exists.
    const byOffset = new Map(before.map((r) => [r[0], r]));
    for (const r of after) expect(byOffset.get(r[0])).toEqual(r);
    for (const r of before) {
      const kept = after.some((x) => x[0] === r[0]);
      // The key map covers the cleanable range only (below the active segment), as in Kafka.
      const newer = before.some((x) => x[1] === r[1] && x[0] > r[0] && x[0] < activeBase);
      if (r[0] >= activeBase) expect(kept).toBe(true);
      else expect(kept).toBe(!newer);
    }
    expect(log.logEndOffset).toBe(24);
    // Appends continue at the same offsets; reopening sees the same cleaned log.
    expect(log.append(makeBatch(1, { keys: ['a'] }), { leaderEpoch: 0 }).baseOffset).toBe(24);
    await log.close();
    const reopened = PartitionLog.open({ dir, clock, config });
    expect(records(reopened).slice(0, after.length)).toEqual(after);
    await reopened.close();
  });

  it('rewrites a batch of every codec with its own codec, keeping the newest record per key', async () => {
    // One batch per segment (rolled by age after each), so every batch but the last is cleanable.
    const clock = new ManualClock();
    const log = PartitionLog.open({ dir, clock, config: { ...config, segmentRollMs: 1_000 } });
    const codecs = [Compression.none, Compression.gzip, Compression.snappy, Compression.lz4, Compression.zstd];
    for (const c of codecs) {
      log.append(makeBatch(3, { keys: [`k${c}`, `k${c}`, `only${c}`], values: ['old', 'new', 'kept'], valueBytes: 200, compression: c }), { leaderEpoch: 0 });
      clock.advance(2_000);
      log.maybeRoll();
    }
    log.append(makeBatch(1, { keys: ['last'] }), { leaderEpoch: 0 });
    log.setHighWatermark(log.logEndOffset);
    expect(log.clean()?.recordsRemoved).toBe(codecs.length);
    const cleaned = codecs.map((_, i) => {
      const decoded = decodeBatches(log.read(3 * i, 1 << 20)); // a read stops at its segment's end: here, one batch
      if (!decoded.ok) throw new Error(decoded.message);
      return decoded.value[0]!;
    });
    expect(cleaned.map((b) => b.header.compression)).toEqual(codecs);
    // In each, the older record of its key went; the newer one and the other key stayed, at their offsets.
    expect(cleaned.map((b) => b.records.map((r) => [r.offset, r.key?.toString(), r.value?.subarray(0, 4).toString()]))).toEqual(
      codecs.map((c, i) => [[3 * i + 1, `k${c}`, 'newa'], [3 * i + 2, `only${c}`, 'kept']]),
    );
    await log.close();
  });

  it('keeps tombstones for delete.retention.ms after the first cleaning, then drops them', async () => {
    const clock = new ManualClock();
    const log = PartitionLog.open({ dir, clock, config: { ...config, deleteRetentionMs: dayMs } });
    log.append(makeBatch(2, { keys: ['k', 'j'], values: ['v1', 'j1'], valueBytes: 200 }), { leaderEpoch: 0 });
    log.append(makeBatch(1, { keys: ['k'], values: [null] }), { leaderEpoch: 0 }); // tombstone for k
    for (let i = 0; i < 12; i++) log.append(makeBatch(1, { keys: [`f${i}`], valueBytes: 200 }), { leaderEpoch: 0 });
    log.setHighWatermark(log.logEndOffset);
    log.clean();
    let now = records(log);
    expect(now.filter((r) => r[1] === 'k')).toEqual([[2, 'k', null]]); // value gone, tombstone kept
    clock.advance(dayMs - 1);
    log.clean({ force: true });
    expect(records(log).filter((r) => r[1] === 'k')).toEqual([[2, 'k', null]]);
    clock.advance(2);
    expect(log.clean()).not.toBeNull(); // the due horizon alone triggers a pass
    now = records(log);
    expect(now.filter((r) => r[1] === 'k')).toEqual([]);
    expect(now.filter((r) => r[1] === 'j')).toEqual([[1, 'j', 'j1'.padEnd(200, 'a')]]);
    await log.close();
  });

  it('never compacts transactional batches or control markers, and keeps an idempotent producer\'s last batch', async () => {
    const clock = new ManualClock();
    const log = PartitionLog.open({ dir, clock, config });
    log.append(makeBatch(1, { keys: ['t'], values: ['txn-old'], isTransactional: true, producerId: 9, producerEpoch: 0, baseSequence: 0, valueBytes: 300 }), { leaderEpoch: 0 });
    log.append(encodeEndTxnMarker({ type: 'commit', coordinatorEpoch: 1, producerId: 9, producerEpoch: 0, timestamp: 1 }), { leaderEpoch: 0 });
    log.append(makeBatch(1, { keys: ['p'], values: ['p0'], producerId: 5, producerEpoch: 0, baseSequence: 0, valueBytes: 300 }), { leaderEpoch: 0 });
    log.append(makeBatch(1, { keys: ['p'], values: ['p1'], producerId: 5, producerEpoch: 0, baseSequence: 1, valueBytes: 300 }), { leaderEpoch: 0 });
    log.append(makeBatch(1, { keys: ['t'], values: ['plain-new'], valueBytes: 300 }), { leaderEpoch: 0 });
    for (let i = 0; i < 8; i++) log.append(makeBatch(1, { keys: [`f${i}`], valueBytes: 300 }), { leaderEpoch: 0 });
    log.setHighWatermark(log.logEndOffset);
    log.clean();
    const after = records(log);
    expect(after.find((r) => r[0] === 0)?.[2]).toMatch(/^txn-old/); // transactional: untouched
    expect(after.find((r) => r[0] === 1)).toBeDefined(); // the commit marker
    expect(after.find((r) => r[0] === 2)).toBeUndefined(); // p0 superseded by p1
    expect(after.find((r) => r[0] === 3)?.[2]).toMatch(/^p1/);
    await log.close();
  });

  it('property: after cleaning, the newest value of every key is unchanged and offsets never move', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.array(fc.tuple(fc.integer({ min: 0, max: 6 }), fc.option(fc.integer({ min: 0, max: 99 }), { nil: null, freq: 5 })), { minLength: 1, maxLength: 5 }), {
          minLength: 1,
          maxLength: 30,
        }),
        async (batches) => {
          const runDir = makeTempDir();
          const clock = new ManualClock();
          const log = PartitionLog.open({ dir: runDir, clock, config });
          try {
            for (const b of batches) {
              log.append(makeBatch(b.length, { keys: b.map(([k]) => `k${k}`), values: b.map(([, v]) => (v === null ? null : `v${v}`)), valueBytes: 30 }), { leaderEpoch: 0 });
            }
            log.setHighWatermark(log.logEndOffset);
            const before = records(log);
            const newest = new Map<string, [number, string | null]>();
            for (const [offset, key, value] of before) newest.set(key!, [offset, value]);
            log.clean({ force: true });
            clock.advance(2 * dayMs);
            log.clean({ force: true });
            const after = records(log);
            const afterByOffset = new Map(after.map((r) => [r[0], r]));
            const activeBase = log.segmentSummaries().at(-1)!.baseOffset;
            for (const [key, [offset, value]] of newest) {
              const kept = afterByOffset.get(offset);
              if (value === null && offset < activeBase) expect(kept).toBeUndefined(); // tombstone past its horizon
              else expect(kept).toEqual([offset, key, value === null ? null : value.padEnd(30, 'a')]);
            }
            for (let i = 1; i < after.length; i++) expect(after[i]![0]).toBeGreaterThan(after[i - 1]![0]);
          } finally {
            await log.close();
            removeDir(runDir);
          }
        },
      ),
      { numRuns: 30 },
    );
  });
});
