/**
 * MetadataStore: what a voter's Raft core finds after a restart, including
 * after crashes at the awkward moments. Method: write through the store into a
 * fresh temp dir, then damage or half-finish files by hand the way a crash
 * would leave them, reopen, and compare what recovery hands back.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { mkdtemp, readFile, rm, stat, truncate, writeFile, appendFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  MetadataStore,
  StoreCorruptError,
  encodeHardState,
  encodeSnapshot,
  hardStateFileName,
  logFileName,
  metadataDirName,
  snapshotFileName,
  writeAtomically,
} from './store.ts';
import type { Entry } from './raft/types.ts';

const dirs: string[] = [];
const stores: MetadataStore[] = [];
afterEach(async () => {
  await Promise.all(stores.splice(0).map((s) => s.close()));
  await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })));
});

async function freshDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'kactus-store-'));
  dirs.push(dir);
  return dir;
}

async function openStore(dataDir: string) {
  const opened = await MetadataStore.open(dataDir);
  stores.push(opened.store);
  return opened;
}

async function reopen(dataDir: string, store: MetadataStore) {
  await store.close();
  return openStore(dataDir);
}

const entry = (index: number, term: number, text = `e${index}t${term}`): Entry => ({ index, term, data: new TextEncoder().encode(text) });
const entries = (from: number, to: number, term: number): Entry[] => Array.from({ length: to - from + 1 }, (_, i) => entry(from + i, term));
const summary = (list: readonly Entry[]) => list.map((e) => [e.index, e.term, new TextDecoder().decode(e.data)]);

describe('metadata store', () => {
  it('starts empty and keeps appended entries and the hard state across a reopen', async () => {
    const dir = await freshDir();
    const { store, recovered } = await openStore(dir);
    expect(recovered).toMatchObject({ hardState: { term: 0, votedFor: null, commitIndex: 0 }, snapshot: null, entries: [], truncatedBytes: 0 });
    await store.persist({ hardState: { term: 1, votedFor: 2, commitIndex: 0 }, entriesToPersist: entries(1, 3, 1) });
    await store.persist({ hardState: { term: 1, votedFor: 2, commitIndex: 2 }, entriesToPersist: entries(4, 5, 1) });
    const again = await reopen(dir, store);
    expect(again.recovered.hardState).toEqual({ term: 1, votedFor: 2, commitIndex: 2 });
    expect(summary(again.recovered.entries)).toEqual(summary(entries(1, 5, 1)));
    expect(again.store.lastIndex).toBe(5);
  });

  it('writes a commit index alone lazily (flushCommitIndex), a term or vote at once', async () => {
    const dir = await freshDir();
    const { store } = await openStore(dir);
    const hardStatePath = join(dir, metadataDirName, hardStateFileName);
    const durableCommitIndex = async () => Number((await readFile(hardStatePath)).readBigUInt64BE(24));
    const durableTerm = async () => Number((await readFile(hardStatePath)).readBigUInt64BE(8));
    await store.persist({ hardState: { term: 1, votedFor: 1, commitIndex: 0 }, entriesToPersist: entries(1, 3, 1) });
    await store.persist({ hardState: { term: 1, votedFor: 1, commitIndex: 3 }, entriesToPersist: [] });
    expect(await durableTerm()).toBe(1);
    expect(await durableCommitIndex()).toBe(0);
    await store.flushCommitIndex();
    expect(await durableCommitIndex()).toBe(3);
  });

  it('cuts a conflicting suffix and appends the replacement', async () => {
    const dir = await freshDir();
    const { store } = await openStore(dir);
    await store.persist({ hardState: { term: 1, votedFor: 1, commitIndex: 0 }, entriesToPersist: entries(1, 5, 1) });
    await store.persist({ hardState: { term: 2, votedFor: null, commitIndex: 3 }, entriesToPersist: [entry(4, 2, 'new4')] });
    expect(store.lastIndex).toBe(4);
    await store.persist({ entriesToPersist: [entry(5, 2, 'new5')] });
    const again = await reopen(dir, store);
    expect(summary(again.recovered.entries)).toEqual([...summary(entries(1, 3, 1)), [4, 2, 'new4'], [5, 2, 'new5']]);
    expect(again.recovered.hardState).toEqual({ term: 2, votedFor: null, commitIndex: 3 });
  });

  it('cuts a torn tail (a frame half written) and goes on appending after it', async () => {
    const dir = await freshDir();
    const { store } = await openStore(dir);
    await store.persist({ hardState: { term: 1, votedFor: null, commitIndex: 0 }, entriesToPersist: entries(1, 3, 1) });
    await store.close();
    const logPath = join(dir, metadataDirName, logFileName);
    const sizeBytes = (await stat(logPath)).size;
    await truncate(logPath, sizeBytes - 5);
    const { store: second, recovered } = await openStore(dir);
    expect(summary(recovered.entries)).toEqual(summary(entries(1, 2, 1)));
    expect(recovered.truncatedBytes).toBeGreaterThan(0);
    expect((await stat(logPath)).size).toBeLessThan(sizeBytes - 5);
    await second.persist({ entriesToPersist: [entry(3, 1, 'again')] });
    const third = await reopen(dir, second);
    expect(summary(third.recovered.entries)).toEqual([...summary(entries(1, 2, 1)), [3, 1, 'again']]);
    expect(third.recovered.truncatedBytes).toBe(0);
  });

  it('cuts at a frame whose CRC fails and at garbage after the last frame', async () => {
    const dir = await freshDir();
    const { store } = await openStore(dir);
    await store.persist({ hardState: { term: 1, votedFor: null, commitIndex: 0 }, entriesToPersist: entries(1, 3, 1) });
    await store.close();
    const logPath = join(dir, metadataDirName, logFileName);
    await appendFile(logPath, Buffer.from('garbage that is not a frame at all'));
    let { store: s, recovered } = await openStore(dir);
    expect(summary(recovered.entries)).toEqual(summary(entries(1, 3, 1)));
    await s.close();
    const bytes = await readFile(logPath);
    bytes[bytes.length - 1] = bytes[bytes.length - 1]! ^ 0xff; // flip a data byte of entry 3
    await writeFile(logPath, bytes);
    ({ store: s, recovered } = await openStore(dir));
    expect(summary(recovered.entries)).toEqual(summary(entries(1, 2, 1)));
  });

  it('lowers a commit index that ran ahead of the recovered log', async () => {
    const dir = await freshDir();
    const { store } = await openStore(dir);
    await store.persist({ hardState: { term: 1, votedFor: null, commitIndex: 3 }, entriesToPersist: entries(1, 3, 1) });
    await store.close();
    const logPath = join(dir, metadataDirName, logFileName);
    await truncate(logPath, (await stat(logPath)).size - 1);
    const { recovered } = await openStore(dir);
    expect(recovered.hardState.commitIndex).toBe(2);
  });

  it('replaces the hard state atomically: a leftover temp file is ignored, a corrupt file is refused', async () => {
    const dir = await freshDir();
    const { store } = await openStore(dir);
    await store.persist({ hardState: { term: 7, votedFor: 3, commitIndex: 0 }, entriesToPersist: [] });
    await store.close();
    const hardStatePath = join(dir, metadataDirName, hardStateFileName);
    // A crash after writing the temp file but before the rename.
    await writeFile(`${hardStatePath}.tmp`, Buffer.from('half a hard state'));
    const { store: second, recovered } = await openStore(dir);
    expect(recovered.hardState).toEqual({ term: 7, votedFor: 3, commitIndex: 0 });
    await expect(stat(`${hardStatePath}.tmp`)).rejects.toThrow();
    await second.close();
    const bytes = await readFile(hardStatePath);
    bytes[12] = bytes[12]! ^ 0x01;
    await writeFile(hardStatePath, bytes);
    await expect(MetadataStore.open(dir)).rejects.toBeInstanceOf(StoreCorruptError);
  });

  it('compacts: the snapshot is durable and the log keeps only what follows it', async () => {
    const dir = await freshDir();
    const { store } = await openStore(dir);
    await store.persist({ hardState: { term: 2, votedFor: 1, commitIndex: 5 }, entriesToPersist: [...entries(1, 3, 1), ...entries(4, 6, 2)] });
    const logPath = join(dir, metadataDirName, logFileName);
    const sizeBefore = (await stat(logPath)).size;
    await store.compact({ index: 4, term: 2, voters: [1, 2, 3], data: new Uint8Array([9, 8, 7]) });
    expect(store.firstIndex).toBe(5);
    expect((await stat(logPath)).size).toBeLessThan(sizeBefore);
    await store.persist({ hardState: { term: 2, votedFor: 1, commitIndex: 6 }, entriesToPersist: [entry(7, 2)] });
    const again = await reopen(dir, store);
    expect(again.recovered.snapshot).toMatchObject({ index: 4, term: 2, voters: [1, 2, 3] });
    expect([...again.recovered.snapshot!.data]).toEqual([9, 8, 7]);
    expect(summary(again.recovered.entries)).toEqual(summary([...entries(5, 6, 2), entry(7, 2)]));
    expect(again.recovered.hardState.commitIndex).toBe(6);
    // Compacting everything leaves an empty log that appends continue.
    await again.store.compact({ index: 7, term: 2, voters: [1, 2, 3], data: new Uint8Array([1]) });
    await again.store.persist({ entriesToPersist: [entry(8, 2)] });
    const last = await reopen(dir, again.store);
    expect(summary(last.recovered.entries)).toEqual(summary([entry(8, 2)]));
  });

  it('installs a snapshot from the leader: the old log is replaced, later appends follow it', async () => {
    const dir = await freshDir();
    const { store } = await openStore(dir);
    await store.persist({ hardState: { term: 1, votedFor: null, commitIndex: 1 }, entriesToPersist: entries(1, 3, 1) });
    await store.persist({
      hardState: { term: 3, votedFor: null, commitIndex: 10 },
      snapshotToPersist: { index: 10, term: 3, voters: [1, 2, 3], data: new Uint8Array([5]) },
      entriesToPersist: [],
    });
    await store.persist({ entriesToPersist: [entry(11, 3)] });
    const again = await reopen(dir, store);
    expect(again.recovered.snapshot).toMatchObject({ index: 10, term: 3 });
    expect(summary(again.recovered.entries)).toEqual(summary([entry(11, 3)]));
    expect(again.recovered.hardState).toEqual({ term: 3, votedFor: null, commitIndex: 10 });
  });

  it('after a crash between the snapshot and the log rewrite, keeps the entries after a matching snapshot and drops a diverged log', async () => {
    const dir = await freshDir();
    const { store } = await openStore(dir);
    await store.persist({ hardState: { term: 2, votedFor: null, commitIndex: 3 }, entriesToPersist: [...entries(1, 2, 1), ...entries(3, 5, 2)] });
    await store.close();
    const metaDir = join(dir, metadataDirName);
    // Our own compaction at 3 (the log holds entry 3 of term 2): entries 4 and 5 stay.
    await writeAtomically(metaDir, snapshotFileName, [encodeSnapshot({ index: 3, term: 2, voters: [1], data: new Uint8Array() })]);
    let { store: s, recovered } = await openStore(dir);
    expect(summary(recovered.entries)).toEqual(summary(entries(4, 5, 2)));
    await s.close();
    // A snapshot from a leader whose entry 5 has another term: nothing of our log can stay.
    await writeAtomically(metaDir, snapshotFileName, [encodeSnapshot({ index: 5, term: 3, voters: [1], data: new Uint8Array() })]);
    await writeAtomically(metaDir, hardStateFileName, [encodeHardState({ term: 3, votedFor: null, commitIndex: 5 })]);
    ({ store: s, recovered } = await openStore(dir));
    expect(recovered.entries).toEqual([]);
    expect(recovered.snapshot).toMatchObject({ index: 5, term: 3 });
    expect(s.lastIndex).toBe(5);
  });
});

describe('metadata store: the voter set (#17)', () => {
  it('keeps Config entries as Config across a reopen, and a snapshot its learners', async () => {
    const dir = await freshDir();
    const { store } = await openStore(dir);
    const config: Entry = { index: 2, term: 1, data: new Uint8Array([1, 0, 1, 0, 0, 0, 1, 0, 0]), kind: 'Config' };
    await store.persist({ hardState: { term: 1, votedFor: 1, commitIndex: 0 }, entriesToPersist: [entry(1, 1), config, entry(3, 1)] });
    const again = await reopen(dir, store);
    expect(again.recovered.entries.map((e) => e.kind ?? 'Data')).toEqual(['Data', 'Config', 'Data']);
    expect(again.recovered.entries[1]!.data).toEqual(config.data);
    await again.store.persist({ hardState: { term: 1, votedFor: 1, commitIndex: 3 }, entriesToPersist: [] });
    await again.store.compact({ index: 2, term: 1, voters: [1, 2], learners: [4], data: new Uint8Array([7]) });
    const third = await reopen(dir, again.store);
    expect(third.recovered.snapshot).toMatchObject({ index: 2, voters: [1, 2], learners: [4], data: new Uint8Array([7]) });
    expect(summary(third.recovered.entries)).toEqual([[3, 1, 'e3t1']]);
  });

  it('reads a log of the old frame format (KRL1, no kind byte) as Data entries and rewrites it', async () => {
    const dir = await freshDir();
    const metaDir = join(dir, metadataDirName);
    const { store } = await openStore(dir);
    await store.close();
    // A KRL1 header and one 24-byte-header frame, as the previous version wrote them.
    const { crc32c } = await import('../../protocol/crc32c.ts');
    const header = Buffer.alloc(32);
    header.writeUInt32BE(0x4b524c31, 0);
    header.writeUInt32BE(crc32c(header.subarray(8)), 4);
    const data = Buffer.from('old');
    const frame = Buffer.alloc(24 + data.length);
    frame.writeUInt32BE(16 + data.length, 0);
    frame.writeBigUInt64BE(1n, 8);
    frame.writeBigUInt64BE(1n, 16);
    data.copy(frame, 24);
    frame.writeUInt32BE(crc32c(frame.subarray(8)), 4);
    await writeFile(join(metaDir, logFileName), Buffer.concat([header, frame]));
    await writeAtomically(metaDir, hardStateFileName, [encodeHardState({ term: 1, votedFor: null, commitIndex: 1 })]);
    const opened = await openStore(dir);
    expect(summary(opened.recovered.entries)).toEqual([[1, 1, 'old']]);
    expect((await readFile(join(metaDir, logFileName))).readUInt32BE(0)).toBe(0x4b524c32);
    await opened.store.persist({ entriesToPersist: [entry(2, 1)] });
    const again = await reopen(dir, opened.store);
    expect(summary(again.recovered.entries)).toEqual([[1, 1, 'old'], [2, 1, 'e2t1']]);
  });
});
