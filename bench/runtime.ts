/**
 * `npm run bench:runtime`: the runtime between two processes over ws on
 * 127.0.0.1. Prints one JSON line:
 *   tellPerSec           small tells ({ type: 'N', n } each) to one actor, flow-controlled by
 *                        acks so the far mailbox never overflows (no message refused)
 *   askRoundTripsPerSec  asks one at a time
 *   askP50Ms, askP99Ms   their round-trip latency
 *   payloadMBps          tells of a 1 MiB Buffer ({ type: 'Blob', bytes }), flow-controlled the same way
 * Flow control: send a window, then an Ack ask that is answered after the
 * window was handled (mailboxes are FIFO); two windows in flight.
 * The two nodes are peers: they share a cluster secret (KACTUS_CLUSTER_SECRET
 * if set, else a fresh one passed to the child), and the far actors take their
 * messages from peers (runtime/protocol.ts).
 */
import { randomBytes } from 'node:crypto';
import { Node } from '../runtime/node.ts';
import { createLogger } from '../runtime/logger.ts';
import type { Ref } from '../runtime/ref.ts';
import { percentile, startScript } from './support/child.ts';
import { freePortOnLoopback } from './support/ports.ts';

type Ack = { type: 'Ack'; replyTo: Ref<number> };
type N = { type: 'N'; n: number };
type Blob = { type: 'Blob'; bytes: Uint8Array };
type Ping = { type: 'Ping'; replyTo: Ref<number> };

const secretText = process.env.KACTUS_CLUSTER_SECRET?.trim() || randomBytes(24).toString('hex');
const port = await freePortOnLoopback();
const { child } = await startScript('bench/support/runtime-peer.ts', [String(port)], 'ready', 20_000, { KACTUS_CLUSTER_SECRET: secretText });
const node = await Node.start({ nodeId: 'bench', logger: createLogger({ node: 'bench' }, 'warn', 2), peers: { 'bench-peer': `ws://127.0.0.1:${port}` }, clusterSecret: Buffer.from(secretText, 'utf8') });
const sink: Ref<N | Ack> = { node: 'bench-peer', path: '/sink' };
const blob: Ref<Blob | Ack> = { node: 'bench-peer', path: '/blob' };
const echo: Ref<Ping> = { node: 'bench-peer', path: '/echo' };

async function windowed<M>(target: Ref<M | Ack>, windows: number, windowSize: number, makeMessage: () => M, windowsInFlight = 2): Promise<number> {
  const startMs = performance.now();
  const inFlight: Promise<number>[] = [];
  for (let w = 0; w < windows; w += 1) {
    for (let i = 0; i < windowSize; i += 1) {
      const refusal = node.tell(target, makeMessage());
      if (refusal !== 0) throw new Error(`tell refused with code ${refusal}`);
    }
    inFlight.push(node.ask<M | Ack, number>(target, (replyTo) => ({ type: 'Ack', replyTo }), { timeoutMs: 60_000 }));
    if (inFlight.length >= windowsInFlight) await inFlight.shift();
  }
  await Promise.all(inFlight);
  return (performance.now() - startMs) / 1000;
}

// Warm up the link and JIT.
const one: N = { type: 'N', n: 1 };
await windowed(sink, 20, 2_000, () => one);

const tellWindows = 250;
const tellWindowSize = 4_000;
const tellSeconds = await windowed(sink, tellWindows, tellWindowSize, () => one);
const tellPerSec = Math.round((tellWindows * tellWindowSize) / tellSeconds);

const askCount = 10_000;
const latenciesMs: number[] = [];
const askStartMs = performance.now();
for (let i = 0; i < askCount; i += 1) {
  const t0 = performance.now();
  await node.ask(echo, (replyTo: Ref<number>): Ping => ({ type: 'Ping', replyTo }));
  latenciesMs.push(performance.now() - t0);
}
const askSeconds = (performance.now() - askStartMs) / 1000;
latenciesMs.sort((a, b) => a - b);

const payload = Buffer.alloc(1024 * 1024, 7);
const payloadWindows = 100;
const payloadWindowSize = 8;
const blobMessage: Blob = { type: 'Blob', bytes: payload };
const payloadSeconds = await windowed(blob, payloadWindows, payloadWindowSize, () => blobMessage, 2);
const payloadMBps = (payloadWindows * payloadWindowSize * payload.length) / (1024 * 1024) / payloadSeconds;

process.stdout.write(
  `${JSON.stringify({
    tellPerSec,
    askRoundTripsPerSec: Math.round(askCount / askSeconds),
    askP50Ms: Number(percentile(latenciesMs, 50).toFixed(3)),
    askP99Ms: Number(percentile(latenciesMs, 99).toFixed(3)),
    payloadMBps: Math.round(payloadMBps),
  })}\n`,
);
await node.stop();
child.kill('SIGTERM');
