/**
 * Resource exhaustion at the network boundary (issue #15), against one real
 * broker process: connections that ask for Fetch replies and never read;
 * thousands of connect/hello/close cycles with fresh node ids; hellos whose
 * listen URL points at a listener of ours (a reflector, if the broker dialled
 * it); raw TCP connections that never finish the HTTP upgrade. Goal: the
 * broker's RSS stays under 500 MB through all of them (two waves of
 * non-reading clients included), a non-reading client is muted and then cut
 * off, fresh ids do not grow the broker (a second wave of them no more than a
 * little over the first), the broker dials nothing, idle sockets are closed, and a well-behaved client is served
 * throughout. RSS is read from /proc (Linux).
 */
import { readFileSync } from 'node:fs';
import { connect, createServer, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Kactus } from '../../client/index.ts';
import { startTestCluster, type TestCluster } from '../support/cluster.ts';
import { freePort, killAllChildren } from '../support/processes.ts';
import { rawClient, type RawClient } from '../support/raw-client.ts';

const MiB = 1024 * 1024;
const rssBytesMax = 500 * MiB;
let cluster: TestCluster;
let kactus: Kactus;
const topic = 'exhaust';

function rssBytes(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const match = /VmRSS:\s+(\d+) kB/.exec(status);
  return Number(match?.[1] ?? 0) * 1024;
}

const brokerPid = (): number => cluster.brokers[0]!.child!.pid;
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

async function served(): Promise<void> {
  const metadata = await kactus.admin().describeCluster();
  expect(metadata.brokers.length).toBe(1);
}

/** Eight clients that ask for 16 MiB fetches four at a time and never read, until the broker cuts them off (bounded: 45 s). */
async function nonReadingWave(): Promise<{ peakBytes: number; rounds: number; closedCodes: number[] }> {
  const hogs: RawClient[] = [];
  for (let i = 0; i < 8; i += 1) {
    const hog = await rawClient(cluster.brokers[0]!.url);
    await hog.helloAsClient();
    hog.socket.pause(); // never read again
    hogs.push(hog);
  }
  let peakBytes = 0;
  const deadlineMs = Date.now() + 45_000;
  let round = 0;
  while (Date.now() < deadlineMs && hogs.some((h) => h.isOpen())) {
    for (const hog of hogs) {
      for (let i = 0; i < 4; i += 1) {
        hog.send({ kind: 3, targetPath: '/fetch', replyToPath: `/temp/hog-${round}-${i}`, message: { type: 'Fetch', replicaId: -1, maxWaitMs: 0, minBytes: 0, maxBytes: 16 * MiB, isolationLevel: 0, partitions: [{ topic, partition: 0, fetchOffset: 0, partitionMaxBytes: 16 * MiB, currentLeaderEpoch: -1, lastFetchedEpoch: -1 }], replyTo: { node: hog.nodeId, path: `/temp/hog-${round}-${i}` } } });
      }
    }
    round += 1;
    await sleep(250);
    peakBytes = Math.max(peakBytes, rssBytes(brokerPid()));
    if (process.env.EXHAUSTION_TRACE) console.log(`round ${round} rss ${(rssBytes(brokerPid()) / MiB).toFixed(0)} MiB open ${hogs.filter((h) => h.isOpen()).length}`);
    if (round % 8 === 0) await served();
  }
  const closedCodes = await Promise.all(hogs.map((h) => Promise.race([h.closed.then((c) => c.code), sleep(5_000).then(() => -1)])));
  for (const hog of hogs) hog.close();
  return { peakBytes, rounds: round, closedCodes };
}

let baselineBytes = 0;

beforeAll(async () => {
  cluster = await startTestCluster(1);
  kactus = new Kactus({ brokers: [cluster.brokers[0]!.url], clientId: 'exhaustion-test', requestTimeoutMs: 15_000 });
  await kactus.admin().createTopics({ topics: [{ topic, numPartitions: 1, replicationFactor: 1 }] });
  // 32 MiB to fetch: 64 sends of 16 records of 32 KiB.
  const producer = kactus.producer({ acks: 'all' });
  const value = Buffer.alloc(32 * 1024, 7);
  for (let i = 0; i < 64; i += 1) await producer.send({ topic, messages: Array.from({ length: 16 }, () => ({ value })) });
  await sleep(500);
  baselineBytes = rssBytes(brokerPid());
}, 90_000);

afterAll(async () => {
  await kactus?.close().catch(() => undefined);
  await killAllChildren();
  await cluster?.cleanup();
});

describe('resource exhaustion', () => {
  // First, while the broker is near its baseline: after the non-reading waves its RSS is full of
  // garbage not yet collected, whose collection (or not) would swamp a 60 MiB bound either way.
  it('2 x 5,000 connect/hello/close cycles with fresh node ids do not grow the broker', async () => {
    const cycles = 5_000;
    const parallel = 20;
    const wave = async (): Promise<number> => {
      let done = 0;
      const startedMs = Date.now();
      await Promise.all(
        Array.from({ length: parallel }, async () => {
          while (done < cycles) {
            done += 1;
            const raw = await rawClient(cluster.brokers[0]!.url);
            await raw.helloAsClient();
            raw.close();
          }
        }),
      );
      await sleep(3_000); // past downAfterMs: the departed clients are forgotten
      await served();
      return Date.now() - startedMs;
    };
    const before = rssBytes(brokerPid());
    const firstMs = await wave();
    const afterFirst = rssBytes(brokerPid());
    const secondMs = await wave();
    const afterSecond = rssBytes(brokerPid());
    console.log(`exhaustion: ${cycles} hello cycles twice (${firstMs}, ${secondMs} ms); RSS ${(before / MiB).toFixed(0)} -> ${(afterFirst / MiB).toFixed(0)} -> ${(afterSecond / MiB).toFixed(0)} MiB`);
    // The first wave grows the heap to its working size; a leak (an entry per id) would grow it again by as much.
    expect(afterFirst).toBeLessThan(before + 100 * MiB);
    expect(afterSecond).toBeLessThan(afterFirst + 40 * MiB);
  }, 120_000);

  it('eight clients that ask for Fetch replies and never read: muted, then cut off; RSS under 500 MB through two waves', async () => {
    const first = await nonReadingWave();
    console.log(`exhaustion: non-reading clients: baseline ${(baselineBytes / MiB).toFixed(0)} MiB, peak ${(first.peakBytes / MiB).toFixed(0)} MiB, ${first.rounds} rounds, close codes ${first.closedCodes.join(',')}`);
    expect(first.peakBytes).toBeLessThan(rssBytesMax);
    expect(first.closedCodes.every((code) => code !== -1), 'every non-reading client was disconnected').toBe(true);
    // What the attack cost is freed (the queues are dropped with the links), but V8 collects the
    // dropped 16 MiB buffers lazily and keeps the pages it grew to: RSS does not go back to the
    // baseline at once (measured: 130 -> 290 MiB after a wave, falling later). So the check is that a
    // second wave, on top of the first one's leftovers, still stays under the bound.
    await served();
    const afterFirstBytes = rssBytes(brokerPid());
    const second = await nonReadingWave();
    await served();
    const afterSecondBytes = rssBytes(brokerPid());
    console.log(`exhaustion: after the first wave ${(afterFirstBytes / MiB).toFixed(0)} MiB; second wave peak ${(second.peakBytes / MiB).toFixed(0)} MiB, after ${(afterSecondBytes / MiB).toFixed(0)} MiB`);
    expect(second.peakBytes).toBeLessThan(rssBytesMax);
    expect(afterSecondBytes).toBeLessThan(rssBytesMax);
  }, 150_000);

  it('a hello\'s listen URL is never dialled (no reflector)', async () => {
    const port = await freePort();
    let dialled = 0;
    const trap = createServer((socket) => {
      dialled += 1;
      socket.destroy();
    });
    await new Promise<void>((resolve) => trap.listen(port, '127.0.0.1', resolve));
    try {
      for (let i = 0; i < 200; i += 1) {
        const raw = await rawClient(cluster.brokers[0]!.url);
        raw.send({ kind: 0, nodeId: `reflect-${i}`, incarnation: `r-${i}`, listenUrl: `ws://127.0.0.1:${port}`, role: 'client', challenge: Buffer.alloc(32, 3), proof: null });
        // Make the broker want to reach us: an ask whose reply it must send.
        raw.send({ kind: 3, targetPath: '/broker', replyToPath: '/temp/1', message: { type: 'Metadata', topics: null, replyTo: { node: `reflect-${i}`, path: '/temp/1' } } });
        raw.close();
      }
      await sleep(3_000);
      expect(dialled).toBe(0);
    } finally {
      trap.close();
    }
  }, 60_000);

  it('raw TCP connections that never finish the HTTP upgrade are closed', async () => {
    const url = new URL(cluster.brokers[0]!.url);
    const sockets: Socket[] = [];
    const closed: Promise<number>[] = [];
    const startedMs = Date.now();
    for (let i = 0; i < 50; i += 1) {
      const socket = connect(Number(url.port), url.hostname);
      socket.on('error', () => {});
      if (i % 2 === 1) socket.write('GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n'); // a header that never ends
      sockets.push(socket);
      closed.push(new Promise((resolve) => socket.once('close', () => resolve(Date.now() - startedMs))));
    }
    const closedAfterMs = await Promise.all(closed.map((p) => Promise.race([p, sleep(20_000).then(() => -1)])));
    for (const socket of sockets) socket.destroy();
    console.log(`exhaustion: idle sockets closed after ${Math.min(...closedAfterMs)}-${Math.max(...closedAfterMs)} ms`);
    expect(closedAfterMs.every((ms) => ms >= 0)).toBe(true);
    await served();
  }, 60_000);
});
