/**
 * How `kactus cluster up` starts a broker process: `process.execPath` with
 * these arguments, then actors/broker-main's own flags.
 *
 * The mode follows the running code: from the TypeScript sources (the
 * repository, through tsx) the broker runs actors/broker-main.ts through the
 * repository's tsx loader; from the compiled package (dist/, plain node) it
 * runs dist/actors/broker-main.js with plain node: no tsx, no loader path,
 * nothing an installed package does not ship.
 */
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = fileURLToPath(import.meta.url);
/** The repository root (sources) or dist/ (compiled): the folder holding cli/ and actors/. */
const root = join(dirname(here), '..');

export const runningFromSources = here.endsWith('.ts');

export function brokerProcessArgs(): string[] {
  if (runningFromSources) return ['--import', join(root, 'node_modules', 'tsx', 'dist', 'loader.mjs'), join(root, 'actors', 'broker-main.ts')];
  return [join(root, 'actors', 'broker-main.js')];
}
