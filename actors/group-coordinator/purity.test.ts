/**
 * The group coordinator's logic stays pure (STYLE rule 1 and 2): its modules
 * import only protocol/errors.ts, runtime/assert.ts, msgpackr and each other,
 * and never read the clock, draw random numbers or set timers. Method: scan
 * the source text of every non-test module in this folder.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const folder = import.meta.dirname;
const allowedOutside = new Set([resolve(folder, '../../protocol/errors.ts'), resolve(folder, '../../runtime/assert.ts')]);

function modules(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return modules(path);
    return name.endsWith('.ts') && !name.endsWith('.test.ts') ? [path] : [];
  });
}

describe('group coordinator purity', () => {
  const files = modules(folder);

  it('finds the modules', () => {
    expect(files.map((f) => relative(folder, f)).sort()).toContain('group-logic.ts');
  });

  it.each(files.map((f) => [relative(folder, f), f]))('%s imports only what it may, and no clock, randomness or timers', (_name, file) => {
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
