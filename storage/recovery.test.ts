import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ManualClock } from '../runtime/clock.ts';
import { PartitionLog } from './log.ts';
import { batchHeaders, makeBatch, makeTempDir, removeDir } from './testing.ts';

// Goal: after any crash the log holds exactly the whole, valid batches that
// precede the damage. Method: build a log, copy its files as a crash would
// leave them (cut at a random byte, a flipped byte, a lost index), reopen.

let dir: string;
beforeEach(() => {
  dir = makeTempDir();
});
afterEach(() => removeDir(dir));

const config = { segmentBytesMax: 3000, indexIntervalBytes: 150 };

/** Appends batches and returns [baseOffset, lastOffset, filePosition-in-segment, segmentBase] for each. */
async function buildLog(logDir: string, batchCount: number, seedTag: number, flushBeforeCrash = false): Promise<{ base: number; last: number; sizeBytes: number }[]> {
  const log = PartitionLog.open({ dir: logDir, clock: new ManualClock(), config });
  const batches: { base: number; last: number; sizeBytes: number }[] = [];
  for (let i = 0; i < batchCount; i++) {
    const batch = makeBatch(1 + ((i * 7 + seedTag) % 5), { tag: `b${i}`, valueBytes: 20 + ((i * 13 + seedTag) % 150) });
    const r = log.append(batch, { leaderEpoch: 1 });
    batches.push({ base: r.baseOffset, last: r.lastOffset, sizeBytes: batch.length });
  }
  if (flushBeforeCrash) await log.flush();
  // No close: the state a crash leaves (data in the page cache, no clean-shutdown marker).
  log.abandon();
  return batches;
}

function readAll(log: PartitionLog): number[] {
  const bases: number[] = [];
  let at = log.logStartOffset;
  for (let guard = 0; at < log.logEndOffset && guard < 10_000; guard++) {
    const hs = batchHeaders(log.read(at, 1 << 20));
    bases.push(...hs.map((h) => h.baseOffset));
    at = hs[hs.length - 1]!.lastOffset + 1;
  }
  return bases;
}

function segmentFiles(logDir: string): string[] {
  return fs.readdirSync(logDir).filter((f) => f.endsWith('.log')).sort();
}

describe('recovery', () => {
  it('cut a segment file at a random byte: exactly the whole batches before the cut remain, indexes rebuilt', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 5, max: 40 }), fc.nat(), fc.nat(), fc.boolean(), async (batchCount, segmentPick, cutPick, flushBeforeCrash) => {
        const runDir = makeTempDir();
        try {
          const batches = await buildLog(runDir, batchCount, batchCount, flushBeforeCrash);
          const files = segmentFiles(runDir);
          const victim = files[segmentPick % files.length]!;
          const victimBase = Number(victim.slice(0, 20));
          const victimPath = path.join(runDir, victim);
          const size = fs.statSync(victimPath).size;
          const cut = size === 0 ? 0 : cutPick % size;
          fs.truncateSync(victimPath, cut);
          // Expected: batches of earlier segments, plus whole batches of the victim that end at or before the cut.
          // A cut exactly at a batch boundary leaves a valid (shorter) segment: as in Kafka, later segments
          // then survive (what was lost was never flushed; replication repairs it). A cut inside a batch is a
          // tear: everything after it goes.
          const expected: number[] = [];
          const nextFile = files.find((f) => Number(f.slice(0, 20)) > victimBase);
          const nextBase = nextFile === undefined ? Infinity : Number(nextFile.slice(0, 20));
          let pos = 0;
          let torn = false;
          for (const b of batches) {
            if (b.base < victimBase) {
              expected.push(b.base);
              continue;
            }
            if (b.base >= nextBase) {
              if (!torn) expected.push(b.base);
              continue;
            }
            if (pos + b.sizeBytes <= cut) expected.push(b.base);
            else if (pos < cut) torn = true;
            pos += b.sizeBytes;
          }
          const log = PartitionLog.open({ dir: runDir, clock: new ManualClock(), config });
          try {
            expect(readAll(log)).toEqual(expected);
            const last = batches.find((b) => b.base === expected[expected.length - 1]);
            expect(log.logEndOffset).toBe(last === undefined ? 0 : last.last + 1);
            // After a tear later segments are gone; the log keeps appending where it ends.
            if (torn) expect(segmentFiles(runDir).every((f) => Number(f.slice(0, 20)) <= victimBase)).toBe(true);
            const next = log.append(makeBatch(1), { leaderEpoch: 1 });
            expect(next.baseOffset).toBe(log.logEndOffset - 1);
            // The rebuilt index answers reads at every surviving offset.
            for (const b of batches.filter((x) => expected.includes(x.base))) {
              expect(batchHeaders(log.read(b.last, 1))[0]!.baseOffset).toBe(b.base);
            }
          } finally {
            await log.close();
          }
        } finally {
          removeDir(runDir);
        }
      }),
      { numRuns: 30, examples: [[10, 0, 0, false]] },
    );
  });

  it('a flipped byte anywhere the CRC or length checks cover cuts the log exactly at that batch', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 3, max: 25 }), fc.nat(), fc.integer({ min: 1, max: 255 }), async (batchCount, pick, xor) => {
        const runDir = makeTempDir();
        try {
          const batches = await buildLog(runDir, batchCount, pick % 5);
          const first = path.join(runDir, segmentFiles(runDir)[0]!);
          const bytes = fs.readFileSync(first);
          // Locate the batches of the first segment and pick a byte outside baseOffset/leaderEpoch
          // (the 12 bytes Kafka's format leaves outside the CRC; see recovery.ts).
          const inFirst: { base: number; start: number; size: number }[] = [];
          let pos = 0;
          for (const b of batches) {
            if (pos + b.sizeBytes > bytes.length) break;
            inFirst.push({ base: b.base, start: pos, size: b.sizeBytes });
            pos += b.sizeBytes;
          }
          const victim = inFirst[pick % inFirst.length]!;
          const covered = [...Array(victim.size).keys()].filter((i) => !(i < 8 || (i >= 12 && i < 16)));
          const at = victim.start + covered[pick % covered.length]!;
          bytes[at] = bytes[at]! ^ xor;
          fs.writeFileSync(first, bytes);
          const log = PartitionLog.open({ dir: runDir, clock: new ManualClock(), config });
          try {
            expect(readAll(log)).toEqual(inFirst.filter((b) => b.start < victim.start).map((b) => b.base));
            expect(log.openReport.problems.length).toBe(1);
          } finally {
            await log.close();
          }
        } finally {
          removeDir(runDir);
        }
      }),
      { numRuns: 30 },
    );
  });

  it('a flipped byte inside a batch (bad CRC) cuts the log at that batch', async () => {
    const batches = await buildLog(dir, 12, 3);
    const first = path.join(dir, segmentFiles(dir)[0]!);
    const bytes = fs.readFileSync(first);
    const victimPos = batches[0]!.sizeBytes + batches[1]!.sizeBytes + 70; // inside the third batch's records
    bytes[victimPos] = bytes[victimPos]! ^ 0x55;
    fs.writeFileSync(first, bytes);
    const log = PartitionLog.open({ dir, clock: new ManualClock(), config });
    expect(readAll(log)).toEqual([batches[0]!.base, batches[1]!.base]);
    expect(log.openReport.problems.join()).toMatch(/CRC/);
    await log.close();
  });

  it('trusts nothing after the recovery point but reuses good index files below it; rebuilds damaged ones', async () => {
    const log = PartitionLog.open({ dir, clock: new ManualClock(), config });
    for (let i = 0; i < 40; i++) log.append(makeBatch(3, { valueBytes: 60 }), { leaderEpoch: 0 });
    await log.flush();
    await new Promise((r) => setTimeout(r, 20)); // roll flushes run in the background
    const expected = readAll(log);
    await log.close();
    expect(fs.existsSync(path.join(dir, 'clean-shutdown'))).toBe(true);

    // Clean restart: nothing is scanned.
    const clean = PartitionLog.open({ dir, clock: new ManualClock(), config });
    expect(clean.openReport.cleanShutdown).toBe(true);
    expect(clean.openReport.scannedFromOffset).toBe(Infinity);
    expect(readAll(clean)).toEqual(expected);
    const summaries = clean.segmentSummaries();
    await clean.close();

    // Damage an index of an early segment and drop the clean-shutdown marker: that index is rebuilt.
    fs.unlinkSync(path.join(dir, 'clean-shutdown'));
    const firstIndex = path.join(dir, '00000000000000000000.index');
    fs.writeFileSync(firstIndex, Buffer.from([1, 2, 3]));
    fs.rmSync(path.join(dir, String(summaries[1]!.baseOffset).padStart(20, '0') + '.timeindex'));
    const again = PartitionLog.open({ dir, clock: new ManualClock(), config });
    expect(again.openReport.cleanShutdown).toBe(false);
    expect(readAll(again)).toEqual(expected);
    expect(again.segmentSummaries()).toEqual(summaries);
    expect(fs.statSync(firstIndex).size % 8).toBe(0);
    await again.close();
  });

  it('deletes debris of interrupted operations (.tmp, .cleaned, orphan indexes)', async () => {
    const log = PartitionLog.open({ dir, clock: new ManualClock(), config });
    log.append(makeBatch(2), { leaderEpoch: 0 });
    await log.close();
    fs.writeFileSync(path.join(dir, 'recovery-point-offset-checkpoint.tmp'), 'garbage');
    fs.writeFileSync(path.join(dir, '00000000000000000000.log.cleaned'), 'garbage');
    fs.writeFileSync(path.join(dir, '00000000000000000099.index'), 'garbage');
    const reopened = PartitionLog.open({ dir, clock: new ManualClock(), config });
    expect(reopened.logEndOffset).toBe(2);
    expect(fs.readdirSync(dir).filter((f) => /tmp|cleaned|0099/.test(f))).toEqual([]);
    await reopened.close();
  });

  it('a damaged checkpoint reads as missing and recovery falls back to scanning everything', async () => {
    const log = PartitionLog.open({ dir, clock: new ManualClock(), config });
    for (let i = 0; i < 10; i++) log.append(makeBatch(2, { valueBytes: 100 }), { leaderEpoch: 2 });
    log.setHighWatermark(20);
    await log.close();
    fs.unlinkSync(path.join(dir, 'clean-shutdown'));
    fs.writeFileSync(path.join(dir, 'recovery-point-offset-checkpoint'), '0\n1\nnot-a-number\n');
    const reopened = PartitionLog.open({ dir, clock: new ManualClock(), config });
    expect(reopened.openReport.scannedFromOffset).toBe(0);
    expect(reopened.logEndOffset).toBe(20);
    expect(reopened.highWatermark).toBe(20);
    expect(reopened.leaderEpochCache.entries()).toEqual([{ leaderEpoch: 2, startOffset: 0 }]);
    await reopened.close();
  });
});
