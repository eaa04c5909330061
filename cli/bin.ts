/**
 * The `kactus` command's process: runs cli/main.ts with the arguments and
 * exits with its code once stdout has drained (a client's timers or sockets
 * left behind must not keep a finished command alive). A closed stdout pipe
 * (EPIPE: `kactus consume t | head -1`) ends it quietly.
 *
 * Reached through cli/kactus.mjs (the package's bin): in the repository it
 * runs this file's TypeScript through tsx; in an installed package it runs
 * the compiled dist/cli/bin.js with plain node.
 */
import { main } from './main.ts';

process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(0);
  throw err;
});
const code = await main(process.argv.slice(2));
process.exitCode = code;
process.stdout.write('', () => process.exit(code));
