/**
 * Chaos demo: kill a broker in the middle of a stream and show that nothing
 * acknowledged was lost.
 *
 * What it shows: with replication factor 3, min.insync.replicas=2 and
 * acks=all, a record the cluster acknowledged is on at least two brokers, so
 * SIGKILLing one broker (no clean shutdown, no flush) loses none of them. The
 * controller fences the dead broker and a surviving in-sync replica takes
 * over each partition it led. Sends that were in flight when the broker died
 * are retried by the (idempotent) producer, or fail after deliveryTimeoutMs:
 * those were never acknowledged, and the demo counts them apart (some of
 * their records may still have been written; none is written twice).
 *
 * How: the demo starts its OWN 3-broker cluster (`kactus broker` x3 as child
 * processes, free ports, a temp data dir), because it must only ever kill a
 * process it started: `npm start`'s cluster is left alone, and it need not be
 * running. It produces keyed records with acks=all for a few seconds,
 * SIGKILLs the broker leading partition 0 partway through, then reads every
 * partition back from the earliest offset and checks each acknowledged
 * record is there at the offset it was acknowledged at. It prints the counts
 * (acknowledged, read back, lost: 0) and stops its brokers and removes its
 * data dir, also on Ctrl-C or failure. Exit code 0 when nothing was lost.
 *
 * Run: npx tsx examples/chaos-demo.ts [--seconds 6]
 * (LOG_LEVEL=warn shows the client's view of the failover.)
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { Kactus } from '../client/index.ts'; // in your app: from 'kactus'

const topic = 'chaos-demo';
const partitions = 3;
const secondsArg = process.argv.indexOf('--seconds');
const seconds = secondsArg > 0 ? Number(process.argv[secondsArg + 1]) : 6;
if (!Number.isInteger(seconds) || seconds < 2 || seconds > 600) {
  console.error('usage: npx tsx examples/chaos-demo.ts [--seconds 2..600]');
  process.exit(2);
}
const produceMs = 1_000 * seconds;
/** The broker is killed this far into the produce phase. */
const killAtMs = Math.floor(produceMs / 3);
/** Records per send, and sends awaiting acknowledgement at once. */
const recordsPerSend = 50;
const inflightSendsMax = 8;

const kactusCommand = join(dirname(fileURLToPath(import.meta.url)), '..', 'cli', 'kactus.mjs');
const dataDir = mkdtempSync(join(tmpdir(), 'kactus-chaos-demo-'));
const log = (text: string): void => console.log(`[${((performance.now() - startedMs) / 1000).toFixed(1).padStart(5)} s] ${text}`);
const startedMs = performance.now();

// ---- our own cluster: three `kactus broker` processes we started, and may kill

type Broker = { id: number; port: number; process: ChildProcess | null };

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer().once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

const brokers: Broker[] = [];
for (let id = 1; id <= 3; id += 1) brokers.push({ id, port: await freePort(), process: null });
const quorum = brokers.map((b) => `${b.id}@127.0.0.1:${b.port}`).join(',');

function startBroker(broker: Broker): Promise<void> {
  const child = spawn(process.execPath, [kactusCommand, 'broker', '--node-id', String(broker.id), '--listen', `127.0.0.1:${broker.port}`, '--controller-quorum', quorum, '--data', join(dataDir, `broker-${broker.id}`), '--set', 'offsets.topic.num.partitions=3'], {
    stdio: ['ignore', 'pipe', 'ignore'],
    env: { ...process.env, LOG_LEVEL: 'silent' },
  });
  broker.process = child;
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`broker ${broker.id} did not start within 30 s`)), 30_000);
    createInterface({ input: child.stdout! }).on('line', (line) => {
      if (line.includes('"event":"ready"')) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.once('exit', (code, signal) => {
      broker.process = null;
      clearTimeout(timer);
      reject(new Error(`broker ${broker.id} exited (${code ?? signal}) before it was ready`));
    });
  });
}

/** Stops what we started: SIGTERM, then SIGKILL after 5 s; by pid, only our own children. */
async function stopBrokers(): Promise<void> {
  await Promise.all(
    brokers.map(
      (b) =>
        new Promise<void>((resolve) => {
          const child = b.process;
          if (child === null || child.exitCode !== null || child.signalCode !== null) return resolve();
          const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
          child.once('exit', () => {
            clearTimeout(timer);
            resolve();
          });
          child.kill('SIGTERM');
        }),
    ),
  );
  rmSync(dataDir, { recursive: true, force: true });
}

for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => void stopBrokers().then(() => process.exit(130)));

async function main(): Promise<number> {
  log(`starting 3 brokers on 127.0.0.1:${brokers.map((b) => b.port).join(',')} (data in ${dataDir})`);
  await Promise.all(brokers.map(startBroker));
  const bootstrap = brokers.map((b) => `ws://127.0.0.1:${b.port}`).join(',');
  const kactus = new Kactus({
    brokers: bootstrap.split(','),
    clientId: 'chaos-demo',
    logger: pino({ level: process.env.LOG_LEVEL ?? 'error' }, pino.destination(2)),
  });
  const admin = kactus.admin();
  // Listening is not yet registered: wait until the controller counts all three as live (unfenced).
  for (let waitedMs = 0; (await admin.describeCluster()).brokers.length < 3; waitedMs += 100) {
    if (waitedMs > 30_000) throw new Error('the brokers did not all register within 30 s');
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  log('3 brokers up and registered');
  await admin.createTopics({ topics: [{ topic, numPartitions: partitions, replicationFactor: 3, configs: { 'min.insync.replicas': '2' } }] });
  const [described] = await admin.describeTopics({ topics: [topic] });
  const victim = described!.partitions.find((p) => p.partition === 0)!.leader;
  log(`topic ${topic}: ${partitions} partitions, replication factor 3, min.insync.replicas=2; broker ${victim} leads partition 0`);

  // ---- produce with acks=all; remember where each acknowledged record landed
  // Idempotent by default. A produce request in flight to the killed broker is given up after
  // requestTimeoutMs (default 30 s) and retried at the new leader; a send not acknowledged within
  // deliveryTimeoutMs fails and counts as not acknowledged. Short ones keep the demo short.
  const producer = kactus.producer({ acks: 'all', requestTimeoutMs: 3_000, deliveryTimeoutMs: 15_000 });
  const acked = new Map<string, { partition: number; offset: number }>();
  let failedSends = 0;
  let next = 0;
  let killed = false;
  const inflight = new Set<Promise<void>>();
  const produceStartMs = performance.now();
  log(`producing for ${produceMs / 1000} s; broker ${victim} gets SIGKILL after ${killAtMs / 1000} s`);
  while (performance.now() - produceStartMs < produceMs) {
    if (!killed && performance.now() - produceStartMs >= killAtMs) {
      killed = true;
      const broker = brokers.find((b) => b.id === victim)!;
      broker.process?.kill('SIGKILL');
      log(`SIGKILL broker ${victim} (pid ${broker.process?.pid}) with ${acked.size} records acknowledged so far`);
    }
    const first = next;
    next += recordsPerSend;
    const messages = Array.from({ length: recordsPerSend }, (_, i) => ({ key: `k-${(first + i) % 100}`, value: `r-${first + i}` }));
    const sent: Promise<void> = producer.send({ topic, messages }).then(
      (results) => results.forEach((r, i) => acked.set(messages[i]!.value, { partition: r.partition, offset: r.offset })),
      () => void (failedSends += 1), // not acknowledged: the demo claims nothing about these
    );
    inflight.add(sent);
    void sent.finally(() => inflight.delete(sent));
    if (inflight.size >= inflightSendsMax) await Promise.race(inflight);
  }
  await Promise.all(inflight);
  await producer.close();
  log(`produced: ${next} records attempted, ${acked.size} acknowledged, ${failedSends} sends failed (not acknowledged)`);

  // ---- read every partition back from the earliest offset, up to its end, on the surviving brokers
  const ends = await admin.listOffsets({ topic, partitions: [...Array(partitions).keys()], at: 'latest' });
  const total = ends.reduce((sum, e) => sum + e.offset, 0);
  log(`reading back ${total} records (log end offsets ${ends.map((e) => e.offset).join(', ')})`);
  // Read back with `kactus consume` (no consumer group: it fetches every partition from the earliest offset).
  const found = new Map<string, { partition: number; offset: number }>();
  const reader = spawn(process.execPath, [kactusCommand, 'consume', topic, '--from-beginning', '--max-messages', String(total), '--timeout-ms', '20000', '--format', 'json', '--bootstrap', bootstrap], { stdio: ['ignore', 'pipe', 'inherit'] });
  createInterface({ input: reader.stdout! }).on('line', (line) => {
    const record = JSON.parse(line) as { partition: number; offset: number; value: string };
    found.set(record.value, { partition: record.partition, offset: record.offset });
  });
  const readerCode = await new Promise<number | null>((resolve) => reader.once('close', resolve));
  if (readerCode !== 0) throw new Error(`kactus consume exited with ${readerCode}`);

  const lost = [...acked].filter(([value, at]) => {
    const where = found.get(value);
    return where === undefined || where.partition !== at.partition || where.offset !== at.offset;
  });
  log(`acknowledged: ${acked.size}   read back: ${found.size} of ${total}   lost: ${lost.length}   (duplicates: ${total - found.size})`);
  if (lost.length > 0) log(`LOST: ${lost.slice(0, 10).map(([v, at]) => `${v}@${at.partition}:${at.offset}`).join(' ')}${lost.length > 10 ? ' ...' : ''}`);
  else log('nothing acknowledged was lost');
  await kactus.close();
  return lost.length === 0 ? 0 : 1;
}

let code = 1;
try {
  code = await main();
} catch (err) {
  console.error(`chaos-demo: ${err instanceof Error ? err.message : String(err)}`);
} finally {
  await stopBrokers();
}
process.exit(code);
