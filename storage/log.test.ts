import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ErrorCode, KactusError } from '../protocol/errors.ts';
import { decodeBatches } from '../protocol/record-batch/codec.ts';
import { Compression, field } from '../protocol/record-batch/header.ts';
import { crc32c } from '../protocol/crc32c.ts';
import { ManualClock } from '../runtime/clock.ts';
import { PartitionLog } from './log.ts';
import { batchHeaders, faultyFileIo, makeBatch, makeTempDir, removeDir } from './testing.ts';

// Goal: the partition log's contract (offsets, reads of whole batches, refusals,
// truncation, rolls, flush, faults). Method: real files in a temp dir, a
// ManualClock, a model-based fast-check run, and a fault-injecting FileIo.

let dir: string;
const logs: PartitionLog[] = [];
function open(options: Partial<Parameters<typeof PartitionLog.open>[0]> = {}): PartitionLog {
  const log = PartitionLog.open({ dir, clock: new ManualClock(), ...options });
  logs.push(log);
  return log;
}

beforeEach(() => {
  dir = makeTempDir();
});
afterEach(async () => {
  for (const log of logs.splice(0)) await log.close().catch(() => {});
  removeDir(dir);
});

function expectCode(fn: () => unknown, code: number): void {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(KactusError);
    expect((err as KactusError).code).toBe(code);
    return;
  }
  throw new Error(`expected error code ${code}`);
}

describe('partition log: append and read', () => {
  it('assigns offsets, stamps the leader epoch, and reads whole batches back', () => {
    const log = open();
    expect(log.logEndOffset).toBe(0);
    const a = log.append(makeBatch(3, { tag: 'a' }), { leaderEpoch: 4 });
    const b = log.append(makeBatch(2, { tag: 'b' }), { leaderEpoch: 4 });
    expect(a).toEqual({ baseOffset: 0, lastOffset: 2, logAppendTime: -1 });
    expect(b).toEqual({ baseOffset: 3, lastOffset: 4, logAppendTime: -1 });
    expect(log.logEndOffset).toBe(5);
    const all = log.read(0, 1 << 20);
    const decoded = decodeBatches(all);
    if (!decoded.ok) throw new Error(decoded.message);
    expect(decoded.value.map((x) => x.header.partitionLeaderEpoch)).toEqual([4, 4]);
    expect(decoded.value.flatMap((x) => x.records.map((r) => `${r.offset}:${r.value}`))).toEqual(['0:a-0', '1:a-1', '2:a-2', '3:b-0', '4:b-1']);
    // A read inside a batch starts at that batch; at the end it is empty.
    expect(batchHeaders(log.read(4, 1)).map((h) => h.baseOffset)).toEqual([3]);
    expect(log.read(5, 100).length).toBe(0);
    expect(log.endOffsetForEpoch(4)).toEqual({ leaderEpoch: 4, endOffset: 5 });
  });

  it('returns at least one batch even when it is larger than maxBytes, and honours maxOffset', () => {
    const log = open();
    log.append(makeBatch(5, { valueBytes: 500 }), { leaderEpoch: 0 });
    log.append(makeBatch(5, { valueBytes: 500 }), { leaderEpoch: 0 });
    expect(batchHeaders(log.read(0, 10)).map((h) => h.baseOffset)).toEqual([0]);
    expect(batchHeaders(log.read(0, 1 << 20)).map((h) => h.baseOffset)).toEqual([0, 5]);
    expect(batchHeaders(log.read(0, 1 << 20, { maxOffset: 5 })).map((h) => h.baseOffset)).toEqual([0]);
    expect(log.read(0, 1 << 20, { maxOffset: 3 }).length).toBe(0);
  });

  it('refuses offsets outside [logStart, logEnd] with OFFSET_OUT_OF_RANGE', () => {
    const log = open();
    log.append(makeBatch(2), { leaderEpoch: 0 });
    expectCode(() => log.read(3, 100), ErrorCode.OFFSET_OUT_OF_RANGE);
    expectCode(() => log.read(-1, 100), ErrorCode.OFFSET_OUT_OF_RANGE);
  });

  it('appends several batches given in one buffer as one write, of every codec', () => {
    const log = open();
    const compressed = [Compression.gzip, Compression.snappy, Compression.lz4, Compression.zstd].map((compression) => makeBatch(1, { compression }));
    const r = log.append(Buffer.concat([makeBatch(2), makeBatch(3), ...compressed]), { leaderEpoch: 1 });
    expect(r).toEqual({ baseOffset: 0, lastOffset: 8, logAppendTime: -1 });
    expect(batchHeaders(log.read(0, 1 << 20)).map((h) => [h.baseOffset, h.lastOffset, h.compression])).toEqual([[0, 1, 0], [2, 4, 0], [5, 5, 1], [6, 6, 2], [7, 7, 3], [8, 8, 4]]);
  });

  it('stamps LogAppendTime from the injected clock and keeps the CRC valid', () => {
    const clock = new ManualClock(5_000_000);
    const log = open({ clock, config: { messageTimestampType: 'LogAppendTime' } });
    const r = log.append(makeBatch(2, { timestamp: 1 }), { leaderEpoch: 0 });
    expect(r.logAppendTime).toBe(5_000_000);
    const decoded = decodeBatches(log.read(0, 1 << 20));
    if (!decoded.ok) throw new Error(decoded.message);
    expect(decoded.value[0]!.records.map((x) => x.timestamp)).toEqual([5_000_000, 5_000_000]);
  });

  it('refuses bad CRC, wrong magic, lying length, oversize and unsupported codecs, appending nothing', () => {
    const log = open({ config: { messageBytesMax: 2000 } });
    log.append(makeBatch(1), { leaderEpoch: 0 });
    const before = log.read(0, 1 << 20);
    const badCrc = makeBatch(2);
    badCrc[badCrc.length - 1] = badCrc[badCrc.length - 1]! ^ 0xff;
    expectCode(() => log.append(badCrc, { leaderEpoch: 0 }), ErrorCode.CORRUPT_MESSAGE);
    const badMagic = makeBatch(2);
    badMagic[field.magic] = 1;
    expectCode(() => log.append(badMagic, { leaderEpoch: 0 }), ErrorCode.CORRUPT_MESSAGE);
    const lying = makeBatch(2);
    lying.writeInt32BE(lying.length + 100, field.batchLength);
    expectCode(() => log.append(lying, { leaderEpoch: 0 }), ErrorCode.CORRUPT_MESSAGE);
    // A good batch followed by a bad one: the good one is not appended either.
    expectCode(() => log.append(Buffer.concat([makeBatch(1), badCrc]), { leaderEpoch: 0 }), ErrorCode.CORRUPT_MESSAGE);
    expectCode(() => log.append(makeBatch(10, { valueBytes: 300 }), { leaderEpoch: 0 }), ErrorCode.MESSAGE_TOO_LARGE);
    const unknownCodec = makeBatch(1);
    unknownCodec.writeInt16BE(5, field.attributes);
    unknownCodec.writeUInt32BE(crc32c(unknownCodec.subarray(field.attributes)), field.crc);
    expectCode(() => log.append(unknownCodec, { leaderEpoch: 0 }), ErrorCode.CORRUPT_MESSAGE);
    expectCode(() => log.append(Buffer.alloc(0), { leaderEpoch: 0 }), ErrorCode.CORRUPT_MESSAGE);
    expect(log.logEndOffset).toBe(1);
    expect(log.read(0, 1 << 20).equals(before)).toBe(true);
    expect(log.isOffline).toBe(false);
  });

  it('appends as follower keeping offsets and epochs, and refuses offsets that go back', async () => {
    const leader = open();
    leader.append(makeBatch(2), { leaderEpoch: 1 });
    leader.append(makeBatch(3), { leaderEpoch: 2 });
    const fetched = leader.read(0, 1 << 20);
    const followerDir = makeTempDir();
    try {
      const follower = PartitionLog.open({ dir: followerDir, clock: new ManualClock() });
      expect(follower.appendAsFollower(Buffer.from(fetched))).toEqual({ baseOffset: 0, lastOffset: 4, logAppendTime: -1 });
      expect(follower.leaderEpochCache.entries()).toEqual([
        { leaderEpoch: 1, startOffset: 0 },
        { leaderEpoch: 2, startOffset: 2 },
      ]);
      expect(follower.endOffsetForEpoch(1)).toEqual({ leaderEpoch: 1, endOffset: 2 });
      expectCode(() => follower.appendAsFollower(Buffer.from(fetched)), ErrorCode.CORRUPT_MESSAGE);
      expect(follower.logEndOffset).toBe(5);
      await follower.close();
    } finally {
      removeDir(followerDir);
    }
  });

  it('rolls by size and by segment.ms, naming files by 20-digit base offset', () => {
    const clock = new ManualClock();
    const log = open({ clock, config: { segmentBytesMax: 4096, segmentRollMs: 60_000 } });
    for (let i = 0; i < 10; i++) log.append(makeBatch(4, { valueBytes: 200 }), { leaderEpoch: 0 });
    expect(log.segmentCount).toBeGreaterThan(2);
    for (const s of log.segmentSummaries()) expect(s.sizeBytes).toBeLessThanOrEqual(4096);
    const before = log.segmentCount;
    log.append(makeBatch(1), { leaderEpoch: 0 });
    clock.advance(60_001);
    log.append(makeBatch(1), { leaderEpoch: 0 });
    expect(log.segmentCount).toBe(before + 1);
    const files = fs.readdirSync(dir).filter((f) => f.endsWith('.log'));
    expect(files).toContain('00000000000000000000.log');
    expect(files.every((f) => /^\d{20}\.log$/.test(f))).toBe(true);
    // Reads across segments return one segment's batches at a time, in order.
    const offsets: number[] = [];
    let at = 0;
    for (let guard = 0; at < log.logEndOffset && guard < 100; guard++) {
      const hs = batchHeaders(log.read(at, 1 << 20));
      offsets.push(...hs.map((h) => h.baseOffset));
      at = hs[hs.length - 1]!.lastOffset + 1;
    }
    expect(at).toBe(log.logEndOffset);
    expect(offsets).toEqual(Array.from({ length: 12 }, (_, i) => (i < 10 ? i * 4 : 40 + (i - 10))));
  });

  it('flush group-commits concurrent requests and moves the recovery point', async () => {
    const log = open();
    log.append(makeBatch(3), { leaderEpoch: 0 });
    const flushes = [log.flush(), log.flush(), log.flush()];
    log.append(makeBatch(3), { leaderEpoch: 0 });
    const later = log.flush();
    await Promise.all([...flushes, later]);
    expect(log.recoveryPoint).toBe(6);
    await log.flush(); // nothing dirty: resolves at once
  });

  it('finds offsets by timestamp through the time index', () => {
    const log = open({ config: { indexIntervalBytes: 100 } });
    for (let i = 0; i < 20; i++) log.append(makeBatch(3, { timestamp: 1000 + i * 10, valueBytes: 50 }), { leaderEpoch: 0 });
    expect(log.offsetForTimestamp(0)).toEqual({ offset: 0, timestamp: 1000 });
    expect(log.offsetForTimestamp(1055)).toEqual({ offset: 18, timestamp: 1060 });
    expect(log.offsetForTimestamp(1190)).toEqual({ offset: 57, timestamp: 1190 });
    expect(log.offsetForTimestamp(5000)).toBeNull();
  });

  it('truncates to an offset for a follower, dropping later segments and epochs', () => {
    const log = open({ config: { segmentBytesMax: 2048 } });
    for (let e = 0; e < 3; e++) for (let i = 0; i < 5; i++) log.append(makeBatch(2, { valueBytes: 100 }), { leaderEpoch: e });
    expect(log.logEndOffset).toBe(30);
    log.setHighWatermark(30);
    log.truncateTo(13); // inside the batch [12, 13]: the whole batch goes
    expect(log.logEndOffset).toBe(12);
    expect(log.highWatermark).toBe(12);
    expect(log.leaderEpochCache.entries()).toEqual([
      { leaderEpoch: 0, startOffset: 0 },
      { leaderEpoch: 1, startOffset: 10 },
    ]);
    const r = log.append(makeBatch(1), { leaderEpoch: 3 });
    expect(r.baseOffset).toBe(12);
    expect(batchHeaders(log.read(10, 1 << 20)).map((h) => h.baseOffset)).toContain(12);
    log.truncateFullyAndStartAt(100);
    expect([log.logStartOffset, log.logEndOffset]).toEqual([100, 100]);
    expect(log.append(makeBatch(1), { leaderEpoch: 4 }).baseOffset).toBe(100);
  });
});

describe('partition log: property test against a model', () => {
  it('random appends, reads at random offsets, truncations and rolls agree with a list of batches', async () => {
    type Op = { type: 'append'; count: number; valueBytes: number } | { type: 'read'; at: number; maxBytes: number } | { type: 'truncate'; at: number } | { type: 'reopen' };
    const opArb: fc.Arbitrary<Op> = fc.oneof(
      { weight: 5, arbitrary: fc.record({ type: fc.constant('append' as const), count: fc.integer({ min: 1, max: 8 }), valueBytes: fc.integer({ min: 0, max: 200 }) }) },
      { weight: 4, arbitrary: fc.record({ type: fc.constant('read' as const), at: fc.nat(), maxBytes: fc.integer({ min: 1, max: 3000 }) }) },
      { weight: 1, arbitrary: fc.record({ type: fc.constant('truncate' as const), at: fc.nat() }) },
      { weight: 1, arbitrary: fc.constant({ type: 'reopen' as const }) },
    );
    await fc.assert(
      fc.asyncProperty(fc.array(opArb, { minLength: 1, maxLength: 30 }), fc.integer({ min: 1, max: 3 }), async (ops, sizeChoice) => {
        const runDir = makeTempDir();
        const config = { segmentBytesMax: [2048, 4096, 16384][sizeChoice - 1]!, indexIntervalBytes: 200 };
        let log = PartitionLog.open({ dir: runDir, clock: new ManualClock(), config });
        try {
          // Model: batches as [baseOffset, lastOffset, bytes].
          const model: { base: number; last: number; bytes: Buffer }[] = [];
          let tag = 0;
          for (const op of ops) {
            if (op.type === 'append') {
              const batch = makeBatch(op.count, { tag: `t${tag++}`, valueBytes: op.valueBytes });
              const r = log.append(batch, { leaderEpoch: 0 });
              const expectedBase = model.length === 0 ? 0 : model[model.length - 1]!.last + 1;
              expect(r.baseOffset).toBe(expectedBase);
              model.push({ base: r.baseOffset, last: r.lastOffset, bytes: Buffer.from(batch) });
            } else if (op.type === 'read') {
              const leo = model.length === 0 ? 0 : model[model.length - 1]!.last + 1;
              expect(log.logEndOffset).toBe(leo);
              const at = leo === 0 ? 0 : op.at % (leo + 1);
              const got = log.read(at, op.maxBytes);
              if (at === leo) {
                expect(got.length).toBe(0);
                continue;
              }
              const firstIndex = model.findIndex((b) => b.last >= at);
              const hs = batchHeaders(got);
              expect(hs.length).toBeGreaterThan(0);
              expect(hs[0]!.baseOffset).toBe(model[firstIndex]!.base);
              expect(got.subarray(0, hs[0]!.sizeBytes).equals(model[firstIndex]!.bytes)).toBe(true);
              if (hs.length > 1) expect(got.length).toBeLessThanOrEqual(op.maxBytes);
              hs.forEach((h, i) => expect(h.baseOffset).toBe(model[firstIndex + i]!.base));
            } else if (op.type === 'truncate') {
              const leo = log.logEndOffset;
              const at = leo === 0 ? 0 : op.at % (leo + 1);
              log.truncateTo(at);
              while (model.length > 0 && model[model.length - 1]!.last >= at) model.pop();
              expect(log.logEndOffset).toBe(model.length === 0 ? 0 : model[model.length - 1]!.last + 1);
            } else {
              await log.close();
              log = PartitionLog.open({ dir: runDir, clock: new ManualClock(), config });
              expect(log.logEndOffset).toBe(model.length === 0 ? 0 : model[model.length - 1]!.last + 1);
            }
          }
        } finally {
          await log.close().catch(() => {});
          removeDir(runDir);
        }
      }),
      { numRuns: 40 },
    );
  });
});

describe('partition log: I/O faults', () => {
  it('a failed write (disk full) takes the log offline; nothing half-written is served, even after reopen', async () => {
    const plan: { writeBytesBeforeFailure?: number } = {};
    const log = open({ io: faultyFileIo(plan) });
    log.append(makeBatch(3, { valueBytes: 100 }), { leaderEpoch: 0 });
    await log.flush();
    const good = Buffer.from(log.read(0, 1 << 20));
    plan.writeBytesBeforeFailure = 0;
    expectCode(() => log.append(makeBatch(3, { valueBytes: 100 }), { leaderEpoch: 0 }), ErrorCode.KAFKA_STORAGE_ERROR);
    expect(log.isOffline).toBe(true);
    expectCode(() => log.read(0, 100), ErrorCode.KAFKA_STORAGE_ERROR);
    expectCode(() => log.append(makeBatch(1), { leaderEpoch: 0 }), ErrorCode.KAFKA_STORAGE_ERROR);
    await expect(log.flush()).rejects.toMatchObject({ code: ErrorCode.KAFKA_STORAGE_ERROR });
    await log.close();
    // Simulate the worst case: the partial write reached the file anyway.
    const segmentPath = path.join(dir, '00000000000000000000.log');
    fs.appendFileSync(segmentPath, makeBatch(3, { valueBytes: 100 }).subarray(0, 90));
    const reopened = open();
    expect(reopened.logEndOffset).toBe(3);
    expect(reopened.read(0, 1 << 20).equals(good)).toBe(true);
    expect(reopened.openReport.truncatedBytes).toBe(90);
  });

  it('a failed fdatasync (EIO) takes the log offline and rejects the flush', async () => {
    const plan: { failFdatasync?: boolean } = { failFdatasync: true };
    const log = open({ io: faultyFileIo(plan) });
    log.append(makeBatch(1), { leaderEpoch: 0 });
    await expect(log.flush()).rejects.toMatchObject({ code: ErrorCode.KAFKA_STORAGE_ERROR });
    expect(log.isOffline).toBe(true);
    expect(log.recoveryPoint).toBe(0);
  });
});

describe('partition log: flush policy, segment.ms, fencing', () => {
  it('flush.messages starts fsyncs by itself and the recovery point follows', async () => {
    const log = open({ config: { flushIntervalMessages: 5 } });
    log.append(makeBatch(3), { leaderEpoch: 0 });
    await new Promise((r) => setTimeout(r, 30));
    expect(log.recoveryPoint).toBe(0);
    log.append(makeBatch(3), { leaderEpoch: 0 });
    for (let i = 0; i < 100 && log.recoveryPoint < 6; i++) await new Promise((r) => setTimeout(r, 5));
    expect(log.recoveryPoint).toBe(6);
  });

  it('flush.ms is checked on append and by maybeFlush() with the injected clock', async () => {
    const clock = new ManualClock();
    const log = open({ clock, config: { flushIntervalMs: 1000 } });
    log.append(makeBatch(1), { leaderEpoch: 0 });
    log.maybeFlush();
    await new Promise((r) => setTimeout(r, 20));
    expect(log.recoveryPoint).toBe(0);
    clock.advance(1000);
    log.maybeFlush();
    for (let i = 0; i < 100 && log.recoveryPoint < 1; i++) await new Promise((r) => setTimeout(r, 5));
    expect(log.recoveryPoint).toBe(1);
  });

  it('maybeRoll() rolls a segment older than segment.ms without an append', () => {
    const clock = new ManualClock();
    const log = open({ clock, config: { segmentRollMs: 10_000 } });
    log.maybeRoll();
    expect(log.segmentCount).toBe(1); // an empty segment never rolls
    log.append(makeBatch(2), { leaderEpoch: 0 });
    clock.advance(10_001);
    log.maybeRoll();
    expect(log.segmentSummaries().map((s) => s.baseOffset)).toEqual([0, 2]);
  });

  it('refuses an append in an older leader epoch with FENCED_LEADER_EPOCH', () => {
    const log = open();
    log.append(makeBatch(1), { leaderEpoch: 5 });
    expectCode(() => log.append(makeBatch(1), { leaderEpoch: 4 }), ErrorCode.FENCED_LEADER_EPOCH);
    expect(log.append(makeBatch(1), { leaderEpoch: 6 }).baseOffset).toBe(1);
    expect(log.leaderEpochCache.entries()).toEqual([
      { leaderEpoch: 5, startOffset: 0 },
      { leaderEpoch: 6, startOffset: 1 },
    ]);
  });
});

describe('partition log: checkpoints', () => {
  it('checkpoint() writes only the values that moved, and a reopen starts from them', async () => {
    const log = open();
    log.append(makeBatch(5), { leaderEpoch: 0 });
    await log.flush();
    log.setHighWatermark(5);
    // The high watermark moved (and the recovery point, which open() wrote at 0): both written, the start had no file.
    expect(log.checkpoint()).toBe(3);
    // Nothing moved: no file, no fsync (a broker with thousands of idle partitions must not stall on its tick).
    expect(log.checkpoint()).toBe(0);
    log.advanceLogStartOffset(2); // writes its checkpoint itself, before it answers
    expect(log.checkpoint()).toBe(0);
    log.append(makeBatch(1), { leaderEpoch: 0 });
    log.setHighWatermark(6);
    expect(log.checkpoint()).toBe(1);
    const read = (name: string): string => fs.readFileSync(path.join(dir, name), 'utf8');
    expect(read('replication-offset-checkpoint')).toBe('0\n1\n6\n');
    expect(read('log-start-offset-checkpoint')).toBe('0\n1\n2\n');
    // A crash now (no close): the reopened log starts from what the checkpoints say.
    const reopened = PartitionLog.open({ dir, clock: new ManualClock() });
    logs.push(reopened);
    expect(reopened.highWatermark).toBe(6);
    expect(reopened.logStartOffset).toBe(2);
    expect(reopened.checkpoint()).toBe(0);
  });
});

describe('partition log: header walk', () => {
  it('visits batch headers from an offset without decoding, across segments', () => {
    const log = open({ config: { segmentBytesMax: 1024 } });
    for (let i = 0; i < 12; i++) {
      log.append(makeBatch(2, { valueBytes: 100, producerId: 70 + (i % 2), producerEpoch: 1, baseSequence: i * 2, isTransactional: i === 5 }), { leaderEpoch: 0 });
    }
    expect(log.segmentCount).toBeGreaterThan(2);
    const seen: [number, number, number, boolean][] = [];
    log.forEachBatchHeader(9, (h) => {
      seen.push([h.baseOffset, h.producerId, h.baseSequence, h.isTransactional]);
    });
    expect(seen[0]).toEqual([8, 70, 8, false]); // the batch holding offset 9
    expect(seen.length).toBe(8);
    expect(seen.find((x) => x[0] === 10)).toEqual([10, 71, 10, true]);
    let count = 0;
    log.forEachBatchHeader(0, () => ++count < 3);
    expect(count).toBe(3);
  });
});

describe('partition log: flushes racing with appends, truncation, rolls and retention', () => {
  it('keeps recoveryPoint <= logEnd, resolves every flush, and ends durable and consistent', async () => {
    type Op = 'append' | 'flush' | 'truncate' | 'tick' | 'retention';
    await fc.assert(
      fc.asyncProperty(fc.array(fc.tuple(fc.constantFrom<Op>('append', 'append', 'append', 'flush', 'flush', 'truncate', 'tick', 'retention'), fc.nat()), { minLength: 5, maxLength: 60 }), async (ops) => {
        const runDir = makeTempDir();
        const clock = new ManualClock();
        const config = { segmentBytesMax: 2048, retentionBytes: 4096, retentionMs: -1 };
        const log = PartitionLog.open({ dir: runDir, clock, config });
        const pending: Promise<void>[] = [];
        try {
          for (const [op, n] of ops) {
            if (op === 'append') log.append(makeBatch(1 + (n % 4), { valueBytes: 150 }), { leaderEpoch: 0 });
            else if (op === 'flush') pending.push(log.flush());
            else if (op === 'truncate') log.truncateTo(Math.max(log.logStartOffset, log.logEndOffset - (n % 6)));
            else if (op === 'tick') await new Promise((r) => setImmediate(r));
            else {
              log.setHighWatermark(log.logEndOffset);
              log.enforceRetention();
            }
            expect(log.recoveryPoint).toBeLessThanOrEqual(log.logEndOffset);
            expect(log.highWatermark).toBeLessThanOrEqual(log.logEndOffset);
            expect(log.logStartOffset).toBeLessThanOrEqual(log.logEndOffset);
          }
          await Promise.all(pending);
          await log.flush();
          expect(log.recoveryPoint).toBe(log.logEndOffset);
          expect(log.isOffline).toBe(false);
          const snapshot = log.logStartOffset < log.logEndOffset ? Buffer.from(log.read(log.logStartOffset, 1 << 20)) : Buffer.alloc(0);
          const [start, end] = [log.logStartOffset, log.logEndOffset];
          log.abandon();
          const reopened = PartitionLog.open({ dir: runDir, clock, config });
          expect([reopened.logStartOffset, reopened.logEndOffset]).toEqual([start, end]);
          if (start < end) expect(reopened.read(start, 1 << 20).equals(snapshot)).toBe(true);
          await reopened.close();
        } finally {
          removeDir(runDir);
        }
      }),
      { numRuns: 25 },
    );
  });
});
