/**
 * Ping-pong across two processes: the runtime in one screen.
 *
 * Run: npx tsx examples/ping-pong.ts
 * This process is node "ping"; it starts node "pong" as a second process (this
 * same file with --pong), runs 10,000 asks against pong's actor over ws and
 * prints the round-trip p50/p99, then SIGKILLs pong and prints how long death
 * watch took to tell ping's watcher (`Terminated`, reason node-down).
 */
import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { Node, type Terminated } from '../runtime/node.ts';
import { createLogger } from '../runtime/logger.ts';
import type { Ref } from '../runtime/ref.ts';

type Ping = { type: 'Ping'; seq: number; replyTo: Ref<Pong> };
type Pong = { type: 'Pong'; seq: number };

if (process.argv.includes('--pong')) {
  // The pong process: one actor that answers every ping.
  const port = Number(process.argv[process.argv.indexOf('--pong') + 1]);
  const node = await Node.start({ nodeId: 'pong', listen: { host: '127.0.0.1', port }, logger: createLogger({ node: 'pong' }, 'warn', 2) });
  node.stopOnSignals();
  node.spawn<null, Ping>('ponger', {
    init: () => null,
    receive: (state, ping, ctx) => (ctx.node.tell(ping.replyTo, { type: 'Pong', seq: ping.seq }), state),
  });
  process.stdout.write('ready\n');
} else {
  const port = await new Promise<number>((resolve) => {
    const probe = createServer().listen(0, '127.0.0.1', () => {
      const address = probe.address();
      probe.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
  const pong = spawn(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url), '--pong', String(port)], { stdio: ['ignore', 'pipe', 'inherit'] });
  process.once('exit', () => pong.kill('SIGKILL'));
  await new Promise<void>((resolve) => createInterface({ input: pong.stdout! }).once('line', () => resolve()));

  const node = await Node.start({ nodeId: 'ping', logger: createLogger({ node: 'ping' }, process.env.LOG_LEVEL ?? 'warn'), peers: { pong: `ws://127.0.0.1:${port}` } });
  const ponger: Ref<Ping> = { node: 'pong', path: '/ponger' };

  const roundTripsMs: number[] = [];
  for (let seq = 0; seq < 10_000; seq += 1) {
    const startMs = performance.now();
    await node.ask<Ping, Pong>(ponger, (replyTo) => ({ type: 'Ping', seq, replyTo }));
    roundTripsMs.push(performance.now() - startMs);
  }
  roundTripsMs.sort((a, b) => a - b);
  const at = (p: number) => roundTripsMs[Math.min(roundTripsMs.length - 1, Math.floor(p * roundTripsMs.length))]!.toFixed(3);
  console.log(`10,000 asks ping -> pong over ws: p50 ${at(0.5)} ms, p99 ${at(0.99)} ms`);

  // A watcher on ping learns of pong's death from the failure detector.
  let killedAtMs = 0;
  const terminated = new Promise<number>((resolve) => {
    const watcher = node.spawn<null, Terminated>('watcher', {
      init: () => null,
      receive: (state, msg) => (resolve(performance.now() - killedAtMs), console.log(`watcher got Terminated(${msg.reason}) for ${msg.ref.node}${msg.ref.path}`), state),
    });
    node.watch(watcher, ponger);
  });
  await new Promise((resolve) => setTimeout(resolve, 300));
  killedAtMs = performance.now();
  pong.kill('SIGKILL');
  console.log(`SIGKILLed pong (pid ${pong.pid}); death watch fired after ${(await terminated).toFixed(0)} ms (down after ${node.limits.downAfterMs} ms of silence)`);
  await node.stop();
}
