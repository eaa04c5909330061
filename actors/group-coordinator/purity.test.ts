/**
 * The group coordinator's logic stays pure (STYLE rule 1 and 2): its pure
 * modules (listed below; the actor shell files beside them are not) import
 * only protocol/errors.ts, runtime/assert.ts, actors/txn-coordinator/txn-offsets.ts,
 * msgpackr and each other, and
 * never read the clock, draw random numbers or set timers. Method: scan their
 * source text.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const folder = import.meta.dirname;
/** The consumer protocol and assignors live in protocol/consumer (the client runs them too). */
const consumerFolder = resolve(folder, '../../protocol/consumer');
const allowedOutside = new Set([
  resolve(folder, '../../protocol/errors.ts'),
  resolve(folder, '../../runtime/assert.ts'),
  // The pure staging of transactional offsets, shared with the transaction coordinator.
  resolve(folder, '../txn-coordinator/txn-offsets.ts'),
]);
const isAllowed = (target: string): boolean => target.startsWith(folder + '/') || target.startsWith(consumerFolder + '/') || allowedOutside.has(target);

const pureModules = [
  'group-logic.ts',
  'offsets-records.ts',
  'coordinator-logic.ts',
  '../txn-coordinator/txn-offsets.ts',
  '../../protocol/consumer/consumer-protocol.ts',
  '../../protocol/consumer/assignors/types.ts',
  '../../protocol/consumer/assignors/range.ts',
  '../../protocol/consumer/assignors/round-robin.ts',
  '../../protocol/consumer/assignors/cooperative-sticky.ts',
  '../../protocol/consumer/assignors/index.ts',
];

function modules(dir: string): string[] {
  return pureModules.map((name) => resolve(dir, name));
}

describe('group coordinator purity', () => {
  const files = modules(folder);

  it('every assignor module is listed', () => {
    const assignors = readdirSync(join(consumerFolder, 'assignors')).filter((n) => n.endsWith('.ts') && !n.endsWith('.test.ts'));
    for (const name of assignors) expect(pureModules).toContain(`../../protocol/consumer/assignors/${name}`);
  });

  it.each(files.map((f) => [relative(folder, f), f]))('%s imports only what it may, and no clock, randomness or timers', (_name, file) => {
    const source = readFileSync(file, 'utf8');
    for (const match of source.matchAll(/^\s*import\s[^'"]*['"]([^'"]+)['"]/gm)) {
      const specifier = match[1]!;
      if (specifier === 'msgpackr') continue;
      expect(specifier.startsWith('.'), `${specifier} is a relative import`).toBe(true);
      const target = resolve(file, '..', specifier);
      expect(isAllowed(target), `${specifier} is inside the folder or allowed`).toBe(true);
    }
    const code = source.replace(/\/\*[\s\S]*?\*\//g, '').replace(/\/\/.*$/gm, '');
    for (const banned of ['Date.now', 'new Date', 'Math.random', 'setTimeout', 'setInterval', 'performance.now', 'process.']) {
      expect(code.includes(banned), `${banned} in ${file}`).toBe(false);
    }
  });
});
