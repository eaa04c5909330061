/**
 * `npm run bench:latency`: where the milliseconds of an acks=all write and
 * its delivery go (#20, item 1).
 *
 * 3 broker processes, a 6-partition topic, RF 3, min.insync.replicas=2, all
 * three replicas in the ISR. One producer (lingerMs 1, acks=all) sends
 * BENCH_RATE records/s (default 5,000) for BENCH_SECONDS (default 10) in 10
 * ms ticks; one consumer (a group of one, at the log end) receives them.
 * Every process runs with KACTUS_TRACE_EVERY=BENCH_TRACE_EVERY (default 25):
 * runtime/trace.ts samples those offsets at each stage it passes, and on
 * exit each process writes its samples. This process joins them per
 * (partition, offset) and prints, as histograms (p50/p90/p99/max ms), the
 * time from one stage to the next:
 *
 *   client.batch_created -> client.request_sent        linger and the sender's queue
 *   -> leader.received                                  the request on the wire (and the broker's routing)
 *   -> leader.appended                                  the leader's append
 *   -> leader.fetch_answered.F                          the follower's parked fetch answered (F: the follower that gated the high watermark)
 *   -> follower.appended                                the answer on the wire, the follower's append
 *   -> follower.next_fetch_sent                         the follower's next fetch leaving
 *   -> leader.follower_confirmed.F                      that fetch on the wire: the leader learns the follower has it
 *   -> leader.hw_advanced                               the high watermark moves past the offset
 *   -> client.acked                                     the parked produce answered, the answer on the wire
 *   leader.hw_advanced -> leader.fetch_answered.consumer   the consumer's parked fetch answered
 *   -> consumer.delivered                               the answer on the wire, decoding, delivery
 *
 * and the whole: created -> acked, created -> delivered. Two checks from the
 * issue come out as figures: hw_advanced -> consumer fetch answered (a parked
 * consumer fetch is woken by the high watermark, not by its timeout) and
 * follower appended -> next fetch sent (the follower asks again at once).
 * Times are wall-clock with microseconds from performance.timeOrigin, one
 * machine, so stages in different processes compare; a small negative gap
 * between processes is clock skew of timeOrigin.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { percentile } from './support/child.ts';

const traceEvery = Number(process.env.BENCH_TRACE_EVERY ?? 25);
const ratePerSec = Number(process.env.BENCH_RATE ?? 5_000);
const seconds = Number(process.env.BENCH_SECONDS ?? 10);
const partitions = 6;
const tickMs = 10;
const topic = 'bench-latency';

// Set before anything loads runtime/trace.ts: it reads them once. The brokers inherit them.
const traceDir = mkdtempSync(join(tmpdir(), 'kactus-trace-'));
process.env.KACTUS_TRACE_EVERY = String(traceEvery);
process.env.KACTUS_TRACE_DIR = traceDir;

const { Kactus } = await import('../client/index.ts');
const { startProcessCluster, waitForLeaders } = await import('./support/cluster.ts');
const { traceRange } = await import('../runtime/trace.ts');

const cluster = await startProcessCluster(3, ['offsets.topic.num.partitions=3', 'group.initial.rebalance.delay.ms=0']);
const kactus = new Kactus({ brokers: cluster.brokers.map((b) => b.url), clientId: 'bench-latency' });
const value = Buffer.alloc(100, 'x');
let sent = 0;
let received = 0;
try {
  await kactus.admin().createTopics({ topics: [{ topic, numPartitions: partitions, replicationFactor: 3, configs: { 'min.insync.replicas': '2' } }] });
  await waitForLeaders(cluster.client, topic, partitions, 3);
  const consumer = kactus.consumer({ groupId: 'bench-latency-group', autoOffsetReset: 'latest', fetchMaxWaitMs: 500 }).subscribe(topic);
  const subscription = consumer.messages$.subscribe((r) => {
    traceRange('consumer.delivered', `${r.topic}-${r.partition}`, r.offset, r.offset);
    received += 1;
    r.ack();
  });
  const assignedDeadlineMs = Date.now() + 30_000;
  while (consumer.assignment().length < partitions || (consumer.stats()?.fetchCount ?? 0) < partitions) {
    if (Date.now() > assignedDeadlineMs) throw new Error('consumer not assigned within 30 s');
    await new Promise((r) => setTimeout(r, 50));
  }
  await new Promise((r) => setTimeout(r, 1_000));
  const producer = kactus.producer({ acks: 'all', lingerMs: 1 });
  const perTick = Math.max(1, Math.round((ratePerSec * tickMs) / 1_000));
  const ticks = Math.round((seconds * 1_000) / tickMs);
  const sends: Promise<unknown>[] = [];
  const beginMs = Date.now();
  for (let t = 0; t < ticks; t += 1) {
    const waitMs = beginMs + t * tickMs - Date.now();
    if (waitMs > 0) await new Promise((r) => setTimeout(r, waitMs));
    sends.push(producer.send({ topic, messages: Array.from({ length: perTick }, () => ({ value })) }));
    sent += perTick;
  }
  await Promise.all(sends);
  const drainDeadlineMs = Date.now() + 30_000;
  while (received < sent && Date.now() < drainDeadlineMs) await new Promise((r) => setTimeout(r, 50));
  subscription.unsubscribe();
  await consumer.close();
  await producer.close();
} finally {
  await kactus.close().catch(() => undefined);
  await cluster.stop(); // graceful: every broker writes its samples on exit
}

// This process's samples are written on its own exit; read them from memory instead.
type Sample = [string, string, number, number];
const files = readdirSync(traceDir).map((f) => JSON.parse(readFileSync(join(traceDir, f), 'utf8')) as { name: string; samples: Sample[]; dropped: number });
const { traceSamples } = await import('../runtime/trace.ts');
files.push({ name: 'client', samples: traceSamples() as Sample[], dropped: 0 });
rmSync(traceDir, { recursive: true, force: true });

/** (partition, offset) -> stage -> earliest time; follower stages are named by the follower's broker. */
const byOffset = new Map<string, Map<string, number>>();
for (const file of files) {
  for (const [stage, partition, offset, atMs] of file.samples) {
    const name = stage.startsWith('follower.') ? `${stage}@${file.name.replace('broker-', '')}` : stage;
    const key = `${partition}@${offset}`;
    let stages = byOffset.get(key);
    if (stages === undefined) byOffset.set(key, (stages = new Map()));
    const before = stages.get(name);
    if (before === undefined || atMs < before) stages.set(name, atMs);
  }
}

const path = ['created', 'request_sent', 'leader_received', 'leader_appended', 'follower_fetch_answered', 'follower_appended', 'follower_next_fetch_sent', 'leader_follower_confirmed', 'hw_advanced', 'acked'] as const;
const gaps = new Map<string, number[]>();
const push = (name: string, ms: number | undefined): void => {
  if (ms === undefined || Number.isNaN(ms)) return;
  const list = gaps.get(name) ?? [];
  list.push(ms);
  gaps.set(name, list);
};
let complete = 0;
for (const stages of byOffset.values()) {
  const at = (name: string): number | undefined => stages.get(name);
  // The follower that gated the high watermark: the one the leader heard from last before it moved.
  const followers = [...stages.keys()].filter((s) => s.startsWith('leader.follower_confirmed.')).map((s) => s.split('.').at(-1)!);
  const gating = followers.sort((a, b) => at(`leader.follower_confirmed.${b}`)! - at(`leader.follower_confirmed.${a}`)!)[0];
  if (gating === undefined) continue;
  const times: Record<(typeof path)[number], number | undefined> = {
    created: at('client.batch_created'),
    request_sent: at('client.request_sent'),
    leader_received: at('leader.received'),
    leader_appended: at('leader.appended'),
    follower_fetch_answered: Math.min(at(`leader.fetch_answered.${gating}`) ?? Infinity, at(`leader.fetch_answered.${gating}.woken`) ?? Infinity),
    follower_appended: at(`follower.appended@${gating}`),
    follower_next_fetch_sent: at(`follower.next_fetch_sent@${gating}`),
    leader_follower_confirmed: at(`leader.follower_confirmed.${gating}`),
    hw_advanced: at('leader.hw_advanced'),
    acked: at('client.acked'),
  };
  if (path.some((p) => times[p] === undefined || !Number.isFinite(times[p]))) continue;
  complete += 1;
  for (let i = 1; i < path.length; i += 1) {
    const from = path[i - 1]!;
    const to = path[i]!;
    push(`${from} -> ${to}`, times[to]! - times[from]!);
  }
  const consumerAnswered = Math.min(at('leader.fetch_answered.consumer') ?? Infinity, at('leader.fetch_answered.consumer.woken') ?? Infinity);
  const delivered = at('consumer.delivered');
  if (Number.isFinite(consumerAnswered) && delivered !== undefined) {
    push('hw_advanced -> consumer_fetch_answered', consumerAnswered - times.hw_advanced!);
    push('consumer_fetch_answered -> delivered', delivered - consumerAnswered);
    push('created -> delivered (end to end)', delivered - times.created!);
    if (at('leader.fetch_answered.consumer.woken') !== undefined) push('consumer fetches woken (count)', 1);
  }
  push('created -> acked (producer)', times.acked! - times.created!);
  if (at(`leader.fetch_answered.${gating}.woken`) !== undefined) push('follower fetches woken (count)', 1);
}

const histogram = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const round = (ms: number): number => Number(ms.toFixed(3));
  return { count: sorted.length, p50Ms: round(percentile(sorted, 50)), p90Ms: round(percentile(sorted, 90)), p99Ms: round(percentile(sorted, 99)), maxMs: round(sorted.at(-1) ?? 0) };
};
const stages: Record<string, unknown> = {};
for (const [name, values] of gaps) stages[name] = name.endsWith('(count)') ? values.length : histogram(values);
process.stdout.write(
  `${JSON.stringify({
    bench: 'latency',
    brokers: 3,
    partitions,
    replicationFactor: 3,
    minInsyncReplicas: 2,
    acks: 'all',
    lingerMs: 1,
    ratePerSec,
    seconds,
    traceEvery,
    recordsSent: sent,
    recordsReceived: received,
    sampledOffsets: byOffset.size,
    sampledWithEveryStage: complete,
    samplesDropped: files.reduce((n, f) => n + f.dropped, 0),
    stages,
  })}\n`,
);
process.exit(0);
