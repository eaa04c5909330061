#!/usr/bin/env node
// The `kactus` command: registers tsx so the TypeScript sources run as they are
// (no build step), then hands over to cli/main.ts. It exits with main's code
// once stdout has drained: a client's timers or sockets left behind must not
// keep a finished command alive. A closed stdout pipe (EPIPE) ends it quietly.
import { register } from 'tsx/esm/api';

register();
// A reader that went away (`kactus consume t | head -1`) is not an error: stop quietly.
process.stdout.on('error', (err) => {
  if (err.code === 'EPIPE') process.exit(0);
  throw err;
});
const { main } = await import('./main.ts');
const code = await main(process.argv.slice(2));
process.exitCode = code;
process.stdout.write('', () => process.exit(code));
