/**
 * The transaction coordinator's logic stays pure (STYLE rules 1 and 2): its
 * modules import only protocol/errors.ts, runtime/assert.ts, the hash of
 * actors/group-coordinator/offsets-records.ts, msgpackr and each other, and
 * never read the clock, draw random numbers or set timers. Method: scan their
 * source text.
 */
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const folder = import.meta.dirname;
const allowedOutside = new Set([
  resolve(folder, '../../protocol/errors.ts'),
  resolve(folder, '../../runtime/assert.ts'),
  resolve(folder, '../group-coordinator/offsets-records.ts'),
]);

const pureModules = ['txn-logic.ts', 'txn-records.ts', 'txn-offsets.ts'];

describe('txn coordinator purity', () => {
  it.each(pureModules)('%s imports only what it may, and no clock, randomness or timers', (name) => {
    const file = join(folder, name);
    const source = readFileSync(file, 'utf8');
    for (const match of source.matchAll(/^\s*import\s[^'"]*['"]([^'"]+)['"]/gm)) {
      const specifier = match[1]!;
      if (specifier === 'msgpackr') continue;
      expect(specifier.startsWith('.'), `${specifier} is a relative import`).toBe(true);
      const target = resolve(file, '..', specifier);
      expect(target.startsWith(folder + '/') || allowedOutside.has(target), `${specifier} is inside the folder or allowed`).toBe(true);
    }
    const code = source.replace(/\/\*[\s\S]*?\*\//g, '').replace(/\/\/.*$/gm, '');
    for (const banned of ['Date.now', 'new Date', 'Math.random', 'setTimeout', 'setInterval', 'performance.now', 'process.']) {
      expect(code.includes(banned), `${banned} in ${file}`).toBe(false);
    }
  });
});
