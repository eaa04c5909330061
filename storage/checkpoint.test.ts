import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { nodeFileIo } from './file-io.ts';
import { readCheckpoint, readOffsetCheckpoint, writeCheckpoint, writeOffsetCheckpoint } from './checkpoint.ts';
import { makeTempDir, removeDir } from './testing.ts';

let dir: string;
beforeEach(() => {
  dir = makeTempDir();
});
afterEach(() => removeDir(dir));

describe('checkpoint files', () => {
  it("round-trips Kafka's text format and replaces atomically", () => {
    writeCheckpoint(nodeFileIo, dir, 'leader-epoch-checkpoint', [
      [0, 0],
      [3, 120],
    ]);
    expect(fs.readFileSync(path.join(dir, 'leader-epoch-checkpoint'), 'utf8')).toBe('0\n2\n0 0\n3 120\n');
    expect(readCheckpoint(nodeFileIo, dir, 'leader-epoch-checkpoint', 2)).toEqual([
      [0, 0],
      [3, 120],
    ]);
    writeOffsetCheckpoint(nodeFileIo, dir, 'hw', 42);
    writeOffsetCheckpoint(nodeFileIo, dir, 'hw', 43);
    expect(readOffsetCheckpoint(nodeFileIo, dir, 'hw')).toBe(43);
    expect(fs.readdirSync(dir).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });

  it.each([
    ['missing', null],
    ['empty', ''],
    ['wrong version', '1\n1\n5\n'],
    ['count lies', '0\n2\n5\n'],
    ['not a number', '0\n1\nfive\n'],
    ['wrong field count', '0\n1\n5 6\n'],
  ])('reads a %s file as missing', (_name, text) => {
    if (text !== null) fs.writeFileSync(path.join(dir, 'x'), text);
    expect(readOffsetCheckpoint(nodeFileIo, dir, 'x')).toBeNull();
  });
});
