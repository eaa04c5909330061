/**
 * MetadataStore: durable storage for one voter's Raft core, under
 * `<dataDir>/__cluster_metadata/`.
 *
 * Owns three files and the order in which they change:
 *
 *   raft-log.bin     header, then entry frames, append-only except for a
 *                    suffix cut on conflict and an atomic rewrite on compaction
 *   hard-state.bin   term, vote, commit index; replaced atomically
 *   snapshot.bin     the latest snapshot (index, term, voters, image bytes); replaced atomically
 *
 * Byte layouts (big-endian):
 *
 *   raft-log.bin header (32 bytes):
 *     0  u32 magic 'KRL2'   4  u32 crc32c of bytes 8..32
 *     8  u64 baseIndex     16  u64 baseTerm   24  u64 reserved (0)
 *   The entries that follow start at baseIndex + 1: (baseIndex, baseTerm) is
 *   the snapshot position the log continues (0, 0 for a log from the start).
 *
 *   entry frame (25-byte header + data):
 *     0  u32 length of the rest (17 + data bytes)
 *     4  u32 crc32c of bytes 8..end (index, term, kind, data)
 *     8  u64 index   16  u64 term   24  u8 kind (0 Data, 1 Config)   25  data
 *
 *   A 'KRL1' log (written before Config entries existed: frames without the
 *   kind byte, all Data) is read and rewritten as 'KRL2' on open.
 *
 *   hard-state.bin (32 bytes):
 *     0  u32 magic 'KHS1'   4  u32 crc32c of bytes 8..32
 *     8  u64 term   16  i64 votedFor (-1 = none)   24  u64 commitIndex
 *
 *   snapshot.bin:
 *     0  u32 magic 'KSN2'   4  u32 crc32c of bytes 8..end
 *     8  u64 index   16  u64 term   24  u32 voter count n   28  n x u32 voter
 *     28+4n  u32 learner count m   32+4n  m x u32 learner
 *     32+4n+4m  data (the msgpack image, to the end of the file)
 *   ('KSN1', read still, has no learner count: no learners.)
 *
 * Atomic replacement: write `<name>.tmp`, fsync it, rename over `<name>`,
 * fsync the directory. A crash leaves the old file or the new one, never a
 * mix; leftover .tmp files are deleted on open.
 *
 * Persist order for one Raft Ready (raft.ts; all durable before any message
 * of that Ready is sent):
 *   1. a changed term or vote, with the commit index already durable (so a
 *      vote is on disk before anything depends on it, and the commit index
 *      never runs ahead of the entries on disk);
 *   2. a snapshot received from the leader, then the log rewritten to follow it
 *      (empty);
 *   3. entries: cut the persisted suffix at the first new index, append every
 *      frame in one gathered write, one fdatasync (group commit: everything
 *      the core produced while the previous Ready was being written goes in
 *      this one);
 *   4. the commit index is only remembered as safe to write (its entries are
 *      now durable and, being committed, final). It is written lazily, by
 *      `flushCommitIndex` (the caller's timer, and before close) or with the
 *      next term or vote change: raft.ts allows it (Ready.mustSync), and it
 *      keeps one atomic file replacement off every commit. Writing it any
 *      earlier could leave a commit index ahead of divergent entries on disk.
 *
 * Recovery on open: read the log, stop at the first frame that is short, fails
 * its CRC, or does not continue the index sequence, and cut the file there (a
 * torn tail from a crash mid-append). Then reconcile with the snapshot: a log
 * whose base is the snapshot's position is used as is; an older log keeps only
 * the entries after the snapshot, and only if it holds the snapshot's own
 * entry (else it diverged, and the snapshot replaced it); a log beyond the
 * snapshot is corruption. A commit index beyond the recovered log is lowered
 * to it (and logged): only entries lost in a crash before their ack can be
 * missing, and a follower relearns the commit index from the leader. A
 * hard state or snapshot that fails its CRC is refused: silently forgetting a
 * vote could make this node vote twice in one term.
 *
 * The voter set survives restarts without a file of its own: the snapshot
 * records the configuration at its index, and the Config entries after it are
 * in the recovered log, which Raft.restore replays (raft/log.ts indexes them).
 *
 * I/O: async fs/promises only (fdatasync through FileHandle.datasync), one
 * operation at a time through an internal queue; the first I/O error fails
 * the store for good (fail-stop: the caller reopens, which recovers).
 *
 * Imports: node fs, protocol/crc32c.ts, runtime/assert.ts, the Raft types.
 */
import { mkdir, open, readdir, readFile, rename, rm, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { crc32c } from '../../protocol/crc32c.ts';
import { assert } from '../../runtime/assert.ts';
import type { Logger } from '../../runtime/logger.ts';
import type { Entry, HardState, Snapshot } from './raft/types.ts';

export const metadataDirName = '__cluster_metadata';
export const logFileName = 'raft-log.bin';
export const hardStateFileName = 'hard-state.bin';
export const snapshotFileName = 'snapshot.bin';

export const storeLimits = {
  /** A frame claiming more than this is treated as corruption (the tail is cut there). */
  entryBytesMax: 64 * 1024 * 1024,
  /** Largest snapshot file accepted on open. */
  snapshotBytesMax: 1024 * 1024 * 1024,
  /** Voters in a snapshot. */
  votersMax: 64,
} as const;

const logMagicV1 = 0x4b524c31; // 'KRL1': frames without a kind byte
const logMagic = 0x4b524c32; // 'KRL2'
const hardStateMagic = 0x4b485331; // 'KHS1'
const snapshotMagicV1 = 0x4b534e31; // 'KSN1': no learners
const snapshotMagic = 0x4b534e32; // 'KSN2'
const logHeaderBytes = 32;
const frameHeaderBytes = 25;
const frameHeaderBytesV1 = 24;
const kindCodes = { Data: 0, Config: 1 } as const;
const hardStateBytes = 32;

export type RecoveredState = {
  readonly hardState: HardState;
  readonly snapshot: Snapshot | null;
  readonly entries: readonly Entry[];
  /** Bytes cut from the end of the log (a torn or corrupt tail). */
  readonly truncatedBytes: number;
};

/** What one Ready asks to persist. */
export type PersistRequest = {
  readonly hardState?: HardState;
  readonly snapshotToPersist?: Snapshot;
  readonly entriesToPersist: readonly Entry[];
};

export class StoreCorruptError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StoreCorruptError';
  }
}

export class MetadataStore {
  readonly dir: string;
  private log: FileHandle;
  private readonly logger: Logger | undefined;
  /** Position after which the log's entries start. */
  private baseIndex: number;
  private baseTerm: number;
  /** Byte offset of the frame of entry baseIndex + 1 + i. */
  private positions: number[];
  private terms: number[];
  private endBytes: number;
  private durableHardState: HardState;
  /** The highest commit index whose entries are durable (and, being committed, final): safe to write. */
  private safeCommitIndex: number;
  private queue: Promise<void> = Promise.resolve();
  private failure: Error | undefined;
  private closed = false;

  private constructor(dir: string, log: FileHandle, logger: Logger | undefined, state: {
    baseIndex: number;
    baseTerm: number;
    positions: number[];
    terms: number[];
    endBytes: number;
    hardState: HardState;
  }) {
    this.dir = dir;
    this.log = log;
    this.logger = logger;
    this.baseIndex = state.baseIndex;
    this.baseTerm = state.baseTerm;
    this.positions = state.positions;
    this.terms = state.terms;
    this.endBytes = state.endBytes;
    this.durableHardState = state.hardState;
    this.safeCommitIndex = state.hardState.commitIndex;
  }

  /** Opens (creating if needed) the store under `<dataDir>/__cluster_metadata` and recovers what it holds. */
  static async open(dataDir: string, logger?: Logger): Promise<{ store: MetadataStore; recovered: RecoveredState }> {
    const dir = join(dataDir, metadataDirName);
    await mkdir(dir, { recursive: true });
    for (const name of await readdir(dir)) if (name.endsWith('.tmp')) await rm(join(dir, name), { force: true });

    const hardState = await readHardState(join(dir, hardStateFileName));
    const snapshot = await readSnapshot(join(dir, snapshotFileName));
    const parsed = await readLog(join(dir, logFileName));

    let { baseIndex, baseTerm, entries, positions } = parsed;
    let truncatedBytes = 0;
    // A log of the old frame format is rewritten in the current one (same entries, all Data).
    let rewrite = parsed.missing || parsed.formatVersion === 1;
    const snapshotIndex = snapshot?.index ?? 0;
    const snapshotTerm = snapshot?.term ?? 0;
    if (baseIndex > snapshotIndex) {
      throw new StoreCorruptError(`raft log starts after index ${baseIndex}, beyond the snapshot at ${snapshotIndex}`);
    }
    if (parsed.validBytes < parsed.fileBytes) truncatedBytes = parsed.fileBytes - parsed.validBytes;
    if (baseIndex < snapshotIndex || baseTerm !== snapshotTerm) {
      // The snapshot is newer than the log's base: keep what follows it, if the log holds the snapshot's own entry.
      const at = entries.findIndex((e) => e.index === snapshotIndex);
      const holdsSnapshotEntry = at >= 0 && entries[at]!.term === snapshotTerm;
      const kept = holdsSnapshotEntry ? entries.slice(at + 1) : [];
      logger?.info({ baseIndex, snapshotIndex, kept: kept.length, dropped: entries.length - kept.length }, 'store.log_rebased_on_snapshot');
      entries = kept;
      baseIndex = snapshotIndex;
      baseTerm = snapshotTerm;
      rewrite = true;
    }
    if (truncatedBytes > 0) logger?.warn({ truncatedBytes, keptEntries: entries.length }, 'store.torn_tail_cut');

    let endBytes: number;
    if (rewrite) {
      const body = entries.map(encodeFrame);
      await writeAtomically(dir, logFileName, [encodeLogHeader(baseIndex, baseTerm), ...body]);
      positions = [];
      let at = logHeaderBytes;
      for (const frame of body) {
        positions.push(at);
        at += frame.length;
      }
      endBytes = at;
    } else {
      endBytes = parsed.validBytes;
    }
    const log = await open(join(dir, logFileName), 'r+');
    if (!rewrite && truncatedBytes > 0) {
      await log.truncate(endBytes);
      await log.datasync();
    }

    const lastIndex = baseIndex + entries.length;
    let recoveredHardState = hardState;
    if (hardState.commitIndex > lastIndex) {
      logger?.warn({ commitIndex: hardState.commitIndex, lastIndex }, 'store.commit_index_lowered_to_log');
      recoveredHardState = { ...hardState, commitIndex: lastIndex };
    }
    const lastTerm = entries.length > 0 ? entries[entries.length - 1]!.term : baseTerm;
    if (lastTerm > recoveredHardState.term) {
      // Cannot happen with the persist order above (term before entries); refuse rather than guess a vote.
      throw new StoreCorruptError(`raft log holds term ${lastTerm}, beyond the persisted term ${recoveredHardState.term}`);
    }
    const store = new MetadataStore(dir, log, logger, {
      baseIndex,
      baseTerm,
      positions,
      terms: entries.map((e) => e.term),
      endBytes,
      hardState: recoveredHardState,
    });
    return { store, recovered: { hardState: recoveredHardState, snapshot, entries, truncatedBytes } };
  }

  /** The last index durable in the log (the base when it holds no entries). */
  get lastIndex(): number {
    return this.baseIndex + this.positions.length;
  }

  get firstIndex(): number {
    return this.baseIndex + 1;
  }

  get hardState(): HardState {
    return this.durableHardState;
  }

  /** Persists one Ready's hard state, snapshot and entries, in the order of the module header. */
  persist(request: PersistRequest): Promise<void> {
    return this.enqueue(async () => {
      const next = request.hardState;
      const previous = this.durableHardState;
      if (next !== undefined && (next.term !== previous.term || next.votedFor !== previous.votedFor)) {
        await this.writeHardState({ term: next.term, votedFor: next.votedFor, commitIndex: this.safeCommitIndex });
      }
      if (request.snapshotToPersist !== undefined) {
        await this.writeSnapshot(request.snapshotToPersist);
        await this.rewriteLog(request.snapshotToPersist.index, request.snapshotToPersist.term, Buffer.alloc(0), [], []);
      }
      if (request.entriesToPersist.length > 0) await this.append(request.entriesToPersist);
      // Every entry up to this Ready's commit index is now durable and final: the commit index may be written.
      if (next !== undefined && next.commitIndex > this.safeCommitIndex) {
        assert(next.commitIndex <= this.lastIndex, 'store: commit index beyond the durable log');
        this.safeCommitIndex = next.commitIndex;
      }
    });
  }

  /**
   * Writes the latest safe commit index if it moved (raft.ts: a commit index
   * alone may be persisted lazily). The caller flushes on a timer and before
   * closing; a restart with an older commit index re-learns it from the leader.
   */
  flushCommitIndex(): Promise<void> {
    return this.enqueue(async () => {
      const durable = this.durableHardState;
      if (this.safeCommitIndex <= durable.commitIndex) return;
      await this.writeHardState({ ...durable, commitIndex: this.safeCommitIndex });
    });
  }

  /**
   * Compaction: makes `snapshot` durable, then rewrites the log to hold only
   * the entries after it. A crash in between leaves the old log, which
   * recovery reconciles with the new snapshot.
   */
  compact(snapshot: Snapshot): Promise<void> {
    return this.enqueue(async () => {
      assert(snapshot.index > this.baseIndex, 'store: compaction must move past the log base');
      assert(snapshot.index <= this.lastIndex, 'store: compaction beyond the durable log');
      await this.writeSnapshot(snapshot);
      const keepFrom = snapshot.index + 1 - this.firstIndex;
      const startBytes = this.positions[keepFrom] ?? this.endBytes;
      const tail = Buffer.alloc(this.endBytes - startBytes);
      if (tail.length > 0) await this.log.read(tail, 0, tail.length, startBytes);
      const tailPositions = this.positions.slice(keepFrom).map((p) => p - startBytes);
      await this.rewriteLog(snapshot.index, snapshot.term, tail, tailPositions, this.terms.slice(keepFrom));
    });
  }

  /** Flushes the commit index, waits for queued operations and closes the log file. Idempotent. */
  close(): Promise<void> {
    if (this.closed) return this.queue;
    void this.flushCommitIndex().catch(() => undefined);
    this.closed = true;
    const closing = this.queue.then(
      () => this.log.close(),
      () => this.log.close(),
    );
    this.queue = closing.catch(() => undefined);
    return closing.catch(() => undefined);
  }

  // ---------------------------------------------------------------- internals

  private enqueue(op: () => Promise<void>): Promise<void> {
    if (this.closed) return Promise.reject(new Error('store: closed'));
    const run = async (): Promise<void> => {
      if (this.failure !== undefined) throw this.failure;
      try {
        await op();
      } catch (err) {
        this.failure = err as Error;
        this.logger?.error({ err }, 'store.failed');
        throw err;
      }
    };
    const result = this.queue.then(run);
    this.queue = result.catch(() => undefined);
    return result;
  }

  private async append(entries: readonly Entry[]): Promise<void> {
    const first = entries[0]!;
    assert(first.index > this.baseIndex, 'store: append below the log base');
    assert(first.index <= this.lastIndex + 1, 'store: append leaves a gap');
    if (first.index <= this.lastIndex) {
      // A conflicting suffix is being replaced: cut it first. Never a committed entry.
      assert(first.index > this.safeCommitIndex, 'store: truncation of committed entries');
      const keep = first.index - this.firstIndex;
      this.endBytes = this.positions[keep]!;
      this.positions.length = keep;
      this.terms.length = keep;
      await this.log.truncate(this.endBytes);
    }
    const frames = entries.map(encodeFrame);
    const batch = Buffer.concat(frames);
    let at = this.endBytes;
    for (const [i, frame] of frames.entries()) {
      assert(entries[i]!.index === first.index + i, 'store: appended entries must be contiguous');
      this.positions.push(at);
      this.terms.push(entries[i]!.term);
      at += frame.length;
    }
    await writeFully(this.log, batch, this.endBytes);
    this.endBytes = at;
    await this.log.datasync();
  }

  /**
   * Replaces the log, atomically, with a header for (baseIndex, baseTerm) and
   * `frames` (whole frames; `positions` are their offsets within it).
   */
  private async rewriteLog(baseIndex: number, baseTerm: number, frames: Buffer, positions: number[], terms: number[]): Promise<void> {
    assert(positions.length === terms.length, 'store: one term per kept frame');
    await writeAtomically(this.dir, logFileName, [encodeLogHeader(baseIndex, baseTerm), frames]);
    const previous = this.log;
    this.log = await open(join(this.dir, logFileName), 'r+');
    await previous.close();
    this.baseIndex = baseIndex;
    this.baseTerm = baseTerm;
    this.positions = positions.map((p) => p + logHeaderBytes);
    this.terms = terms;
    this.endBytes = logHeaderBytes + frames.length;
  }

  private async writeHardState(hardState: HardState): Promise<void> {
    await writeAtomically(this.dir, hardStateFileName, [encodeHardState(hardState)]);
    this.durableHardState = hardState;
  }

  private async writeSnapshot(snapshot: Snapshot): Promise<void> {
    await writeAtomically(this.dir, snapshotFileName, [encodeSnapshot(snapshot)]);
  }
}

// ---------------------------------------------------------------- encoding

function writeU64(buffer: Buffer, value: number, at: number): void {
  assert(Number.isSafeInteger(value) && value >= 0, `store: ${value} is not a u64 we write`);
  buffer.writeBigUInt64BE(BigInt(value), at);
}

function readU64(buffer: Buffer, at: number): number {
  const value = buffer.readBigUInt64BE(at);
  if (value > BigInt(Number.MAX_SAFE_INTEGER)) throw new StoreCorruptError(`store: u64 ${value} beyond 2^53`);
  return Number(value);
}

export function encodeFrame(entry: Entry): Buffer {
  const frame = Buffer.allocUnsafe(frameHeaderBytes + entry.data.length);
  frame.writeUInt32BE(frameHeaderBytes - 8 + entry.data.length, 0);
  writeU64(frame, entry.index, 8);
  writeU64(frame, entry.term, 16);
  frame.writeUInt8(kindCodes[entry.kind ?? 'Data'], 24);
  frame.set(entry.data, frameHeaderBytes);
  frame.writeUInt32BE(crc32c(frame.subarray(8)), 4);
  return frame;
}

function encodeLogHeader(baseIndex: number, baseTerm: number): Buffer {
  const header = Buffer.alloc(logHeaderBytes);
  header.writeUInt32BE(logMagic, 0);
  writeU64(header, baseIndex, 8);
  writeU64(header, baseTerm, 16);
  header.writeUInt32BE(crc32c(header.subarray(8)), 4);
  return header;
}

export function encodeHardState(hardState: HardState): Buffer {
  const bytes = Buffer.alloc(hardStateBytes);
  bytes.writeUInt32BE(hardStateMagic, 0);
  writeU64(bytes, hardState.term, 8);
  bytes.writeBigInt64BE(BigInt(hardState.votedFor ?? -1), 16);
  writeU64(bytes, hardState.commitIndex, 24);
  bytes.writeUInt32BE(crc32c(bytes.subarray(8)), 4);
  return bytes;
}

export function encodeSnapshot(snapshot: Snapshot): Buffer {
  const learners = snapshot.learners ?? [];
  const learnersAt = 28 + 4 * snapshot.voters.length;
  const headerBytes = learnersAt + 4 + 4 * learners.length;
  const bytes = Buffer.allocUnsafe(headerBytes + snapshot.data.length);
  bytes.writeUInt32BE(snapshotMagic, 0);
  writeU64(bytes, snapshot.index, 8);
  writeU64(bytes, snapshot.term, 16);
  bytes.writeUInt32BE(snapshot.voters.length, 24);
  snapshot.voters.forEach((voter, i) => bytes.writeUInt32BE(voter, 28 + 4 * i));
  bytes.writeUInt32BE(learners.length, learnersAt);
  learners.forEach((learner, i) => bytes.writeUInt32BE(learner, learnersAt + 4 + 4 * i));
  bytes.set(snapshot.data, headerBytes);
  bytes.writeUInt32BE(crc32c(bytes.subarray(8)), 4);
  return bytes;
}

// ---------------------------------------------------------------- reading

async function readOptional(path: string): Promise<Buffer | undefined> {
  try {
    return await readFile(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

async function readHardState(path: string): Promise<HardState> {
  const bytes = await readOptional(path);
  if (bytes === undefined) return { term: 0, votedFor: null, commitIndex: 0 };
  if (bytes.length !== hardStateBytes || bytes.readUInt32BE(0) !== hardStateMagic) throw new StoreCorruptError(`${path}: not a hard-state file`);
  if (bytes.readUInt32BE(4) !== crc32c(bytes.subarray(8))) throw new StoreCorruptError(`${path}: CRC mismatch`);
  const votedFor = Number(bytes.readBigInt64BE(16));
  return { term: readU64(bytes, 8), votedFor: votedFor < 0 ? null : votedFor, commitIndex: readU64(bytes, 24) };
}

async function readSnapshot(path: string): Promise<Snapshot | null> {
  const bytes = await readOptional(path);
  if (bytes === undefined) return null;
  const magic = bytes.length >= 4 ? bytes.readUInt32BE(0) : 0;
  if (bytes.length < 28 || bytes.length > storeLimits.snapshotBytesMax || (magic !== snapshotMagic && magic !== snapshotMagicV1)) {
    throw new StoreCorruptError(`${path}: not a snapshot file`);
  }
  if (bytes.readUInt32BE(4) !== crc32c(bytes.subarray(8))) throw new StoreCorruptError(`${path}: CRC mismatch`);
  const voterCount = bytes.readUInt32BE(24);
  if (voterCount > storeLimits.votersMax || 28 + 4 * voterCount > bytes.length) throw new StoreCorruptError(`${path}: bad voter count ${voterCount}`);
  const voters: number[] = [];
  for (let i = 0; i < voterCount; i += 1) voters.push(bytes.readUInt32BE(28 + 4 * i));
  let dataAt = 28 + 4 * voterCount;
  const learners: number[] = [];
  if (magic === snapshotMagic) {
    if (dataAt + 4 > bytes.length) throw new StoreCorruptError(`${path}: no learner count`);
    const learnerCount = bytes.readUInt32BE(dataAt);
    if (voterCount + learnerCount > storeLimits.votersMax || dataAt + 4 + 4 * learnerCount > bytes.length) {
      throw new StoreCorruptError(`${path}: bad learner count ${learnerCount}`);
    }
    for (let i = 0; i < learnerCount; i += 1) learners.push(bytes.readUInt32BE(dataAt + 4 + 4 * i));
    dataAt += 4 + 4 * learnerCount;
  }
  const data = new Uint8Array(bytes.subarray(dataAt));
  return { index: readU64(bytes, 8), term: readU64(bytes, 16), voters, learners, data };
}

type ParsedLog = {
  missing: boolean;
  /** 1: 'KRL1' frames (no kind byte); 2: the current format. */
  formatVersion: 1 | 2;
  baseIndex: number;
  baseTerm: number;
  entries: Entry[];
  positions: number[];
  /** Bytes up to the end of the last good frame. */
  validBytes: number;
  fileBytes: number;
};

/** Parses the log; stops at the first frame that is torn, corrupt, or out of sequence. */
export async function readLog(path: string): Promise<ParsedLog> {
  const bytes = await readOptional(path);
  if (bytes === undefined) return { missing: true, formatVersion: 2, baseIndex: 0, baseTerm: 0, entries: [], positions: [], validBytes: 0, fileBytes: 0 };
  const magic = bytes.length >= logHeaderBytes ? bytes.readUInt32BE(0) : 0;
  if (magic !== logMagic && magic !== logMagicV1) throw new StoreCorruptError(`${path}: not a raft log`);
  const formatVersion = magic === logMagic ? 2 : 1;
  const headerBytes = formatVersion === 2 ? frameHeaderBytes : frameHeaderBytesV1;
  if (bytes.readUInt32BE(4) !== crc32c(bytes.subarray(8, logHeaderBytes))) throw new StoreCorruptError(`${path}: header CRC mismatch`);
  const baseIndex = readU64(bytes, 8);
  const baseTerm = readU64(bytes, 16);
  const entries: Entry[] = [];
  const positions: number[] = [];
  let at = logHeaderBytes;
  let previousTerm = baseTerm;
  while (at + headerBytes <= bytes.length) {
    const rest = bytes.readUInt32BE(at);
    if (rest < headerBytes - 8 || rest - (headerBytes - 8) > storeLimits.entryBytesMax || at + 8 + rest > bytes.length) break;
    const body = bytes.subarray(at + 8, at + 8 + rest);
    if (bytes.readUInt32BE(at + 4) !== crc32c(body)) break;
    const index = Number(bytes.readBigUInt64BE(at + 8));
    const term = Number(bytes.readBigUInt64BE(at + 16));
    if (index !== baseIndex + 1 + entries.length || term < previousTerm) break;
    const kindCode = formatVersion === 2 ? bytes.readUInt8(at + 24) : kindCodes.Data;
    if (kindCode !== kindCodes.Data && kindCode !== kindCodes.Config) break; // corrupt despite its CRC: treat as a torn tail
    const data = new Uint8Array(bytes.subarray(at + headerBytes, at + 8 + rest));
    entries.push(kindCode === kindCodes.Config ? { index, term, data, kind: 'Config' } : { index, term, data });
    positions.push(at);
    previousTerm = term;
    at += 8 + rest;
  }
  return { missing: false, formatVersion, baseIndex, baseTerm, entries, positions, validBytes: at, fileBytes: bytes.length };
}

// ---------------------------------------------------------------- file helpers

async function writeFully(file: FileHandle, bytes: Buffer, position: number): Promise<void> {
  let written = 0;
  while (written < bytes.length) {
    const { bytesWritten } = await file.write(bytes, written, bytes.length - written, position + written);
    written += bytesWritten;
  }
}

/** temp file, fsync, rename over the target, fsync the directory. */
export async function writeAtomically(dir: string, name: string, chunks: readonly Uint8Array[]): Promise<void> {
  const target = join(dir, name);
  const temp = `${target}.tmp`;
  const file = await open(temp, 'w');
  try {
    await writeFully(file, Buffer.concat(chunks), 0);
    await file.sync();
  } finally {
    await file.close();
  }
  await rename(temp, target);
  const directory = await open(dir, 'r');
  try {
    await directory.sync();
  } finally {
    await directory.close();
  }
}
