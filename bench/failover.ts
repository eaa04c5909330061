/**
 * `npm run bench:failover`: how long acks=all writes stop when a partition
 * leader's broker process is SIGKILLed (#20, item 5).
 *
 * 3 broker processes (every one a controller voter), a topic of 6 partitions,
 * RF 3, min.insync.replicas=2. One idempotent acks=all producer (the client
 * API) sends one record per partition every BENCH_INTERVAL_MS (default 10)
 * without waiting for earlier sends, so a stall shows as a gap between acks
 * rather than as a slower rate. BENCH_KILLS times (default 20): the leader of
 * partition (kill mod 6) is SIGKILLed; the gap of a partition it led is the
 * time from its last ack before the kill to its first ack after; the kill's
 * gap is the longest of them. Meanwhile a metadata poll of a surviving broker
 * (every 20 ms) notes when each such partition shows a new leader, which
 * splits the gap in two: detection + fence + election + propagation to that
 * broker, then the client's own part (noticing, metadata refresh, retry). The
 * killed broker is then restarted and the next kill waits for a full ISR.
 *
 * Prints one JSON line: the configuration, every kill (victim, whether it was
 * the active controller, partitions it led, gap, time to a new leader) and
 * p50 / p99 / max of the gaps.
 */
import { Kactus } from '../client/index.ts';
import { percentile } from './support/child.ts';
import { metadata, startProcessCluster, waitForLeaders } from './support/cluster.ts';

const kills = Number(process.env.BENCH_KILLS ?? 20);
const intervalMs = Number(process.env.BENCH_INTERVAL_MS ?? 10);
const partitions = 6;
const topic = 'bench-failover';
/** A kill whose partitions have not all been acked again by then counts as this gap (and is reported as stuck). */
const stuckAfterMs = 30_000;
const inFlightPerPartitionMax = 200;

const cluster = await startProcessCluster(3);
const kactus = new Kactus({ brokers: cluster.brokers.map((b) => b.url), clientId: 'bench-failover' });
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
try {
  const admin = kactus.admin();
  await admin.createTopics({ topics: [{ topic, numPartitions: partitions, replicationFactor: 3, configs: { 'min.insync.replicas': '2' } }] });
  await waitForLeaders(cluster.client, topic, partitions, 3);
  const producer = kactus.producer({ acks: 'all' });

  const ackTimes: number[][] = Array.from({ length: partitions }, () => []);
  const inFlight = new Array<number>(partitions).fill(0);
  let errors = 0;
  let lastError = '';
  let sent = 0;
  let stop = false;
  const value = Buffer.alloc(100, 'x');
  const pacer = setInterval(() => {
    if (stop) return;
    for (let partition = 0; partition < partitions; partition += 1) {
      if (inFlight[partition]! >= inFlightPerPartitionMax) continue;
      inFlight[partition]! += 1;
      sent += 1;
      producer.send({ topic, messages: [{ partition, value }] }).then(
        () => {
          inFlight[partition]! -= 1;
          ackTimes[partition]!.push(performance.now());
        },
        (err: unknown) => {
          inFlight[partition]! -= 1;
          errors += 1;
          lastError = (err as Error).message;
        },
      );
    }
  }, intervalMs);

  const leadersNow = async (fromBroker: number): Promise<Map<number, number>> => {
    const answer = await metadata(cluster.client, [topic], fromBroker);
    const found = answer.topics.find((t) => t.name === topic);
    return new Map((found?.partitions ?? []).map((p) => [p.partition, p.leader]));
  };
  const ackAfter = (partition: number, atMs: number): number | undefined => ackTimes[partition]!.find((t) => t > atMs);
  const ackBefore = (partition: number, atMs: number): number | undefined => {
    const times = ackTimes[partition]!;
    for (let i = times.length - 1; i >= 0; i -= 1) if (times[i]! <= atMs) return times[i];
    return undefined;
  };

  await sleep(2_000);
  const results: { kill: number; victim: number; activeController: boolean; partitions: number[]; gapMs: number; newLeaderMs: number; clientMs: number; stuck: boolean }[] = [];
  for (let kill = 0; kill < kills; kill += 1) {
    const leaders = await leadersNow(1 + (kill % 3));
    const victim = leaders.get(kill % partitions)!;
    const controllerId = (await admin.describeCluster()).controllerId;
    const led = [...leaders].filter(([, leader]) => leader === victim).map(([p]) => p);
    const survivor = cluster.brokers.find((b) => b.id !== victim)!.id;
    const killedAtMs = performance.now();
    await cluster.kill(victim);
    const newLeaderAtMs = new Map<number, number>();
    while (performance.now() - killedAtMs < stuckAfterMs) {
      const now = await leadersNow(survivor).catch(() => undefined);
      const seenAtMs = performance.now();
      for (const p of led) if (!newLeaderAtMs.has(p) && now !== undefined && (now.get(p) ?? -1) >= 0 && now.get(p) !== victim) newLeaderAtMs.set(p, seenAtMs);
      if (led.every((p) => newLeaderAtMs.has(p) && ackAfter(p, killedAtMs) !== undefined)) break;
      await sleep(20);
    }
    const gaps = led.map((p) => {
      const after = ackAfter(p, killedAtMs);
      const before = ackBefore(p, killedAtMs) ?? killedAtMs;
      return { gapMs: (after ?? killedAtMs + stuckAfterMs) - before, newLeaderMs: (newLeaderAtMs.get(p) ?? killedAtMs + stuckAfterMs) - killedAtMs, after };
    });
    const worst = gaps.reduce((a, b) => (b.gapMs > a.gapMs ? b : a));
    results.push({
      kill,
      victim,
      activeController: victim === controllerId,
      partitions: led,
      gapMs: Math.round(worst.gapMs),
      newLeaderMs: Math.round(worst.newLeaderMs),
      clientMs: worst.after === undefined ? -1 : Math.round(worst.after - killedAtMs - worst.newLeaderMs),
      stuck: gaps.some((g) => g.after === undefined),
    });
    process.stderr.write(`kill ${kill}: ${JSON.stringify(results.at(-1))}\n`);
    await cluster.restart(victim);
    await waitForLeaders(cluster.client, topic, partitions, 3, 60_000);
    await sleep(1_000);
  }
  stop = true;
  clearInterval(pacer);
  const deadlineMs = performance.now() + 30_000;
  while (inFlight.some((n) => n > 0) && performance.now() < deadlineMs) await sleep(50);
  await producer.close();

  const sorted = (pick: (r: (typeof results)[number]) => number, only = results): number[] => only.map(pick).sort((a, b) => a - b);
  const summary = (only: typeof results) => ({
    kills: only.length,
    gapMs: { p50: percentile(sorted((r) => r.gapMs, only), 50), p99: percentile(sorted((r) => r.gapMs, only), 99), max: Math.max(0, ...only.map((r) => r.gapMs)) },
    newLeaderMs: { p50: percentile(sorted((r) => r.newLeaderMs, only), 50), max: Math.max(0, ...only.map((r) => r.newLeaderMs)) },
  });
  process.stdout.write(
    `${JSON.stringify({
      bench: 'failover',
      brokers: 3,
      partitions,
      replicationFactor: 3,
      minInsyncReplicas: 2,
      acks: 'all',
      idempotent: true,
      sendIntervalMs: intervalMs,
      recordsSent: sent,
      sendErrors: errors,
      ...(errors > 0 ? { lastError } : {}),
      all: summary(results),
      activeControllerKilled: summary(results.filter((r) => r.activeController)),
      otherBrokerKilled: summary(results.filter((r) => !r.activeController)),
      kills: results,
    })}\n`,
  );
} finally {
  await kactus.close().catch(() => undefined);
  await cluster.stop();
}
