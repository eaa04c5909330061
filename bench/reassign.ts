/**
 * `npm run bench:reassign`: replica-move throughput with and without a
 * replication throttle (issue #17), on a 3-broker cluster of real broker
 * processes on this machine (bench/support/cluster.ts).
 *
 * Setup: topic `move` (1 partition, replicas 1,2) filled with BENCH_MOVE_MB
 * (default 300) MiB of opaque 256 KiB batches, acks=all; topic `steady`
 * (1 partition, RF 3, replicas 1,2,3, led by broker 1 like `move`).
 *
 * Runs, one JSON line each:
 *   no-move      the steady producer alone for BENCH_BASELINE_SECONDS (3)
 *   unthrottled  move-0 reassigned 1,2 -> 1,3: broker 3 copies it from offset 0
 *   throttled    leader and follower throttles set cluster-wide to
 *                BENCH_THROTTLE_MBPS (10) MB/s (10^6 bytes) through AlterConfigs,
 *                then move-0 reassigned back 1,3 -> 1,2 (broker 2 deleted its copy
 *                when it was removed, so it copies everything again)
 * During each, the steady producer sends one acks=all batch of 10 x 100-byte
 * records at a time to steady-0, BENCH_STEADY_PAUSE_MS (5) apart; its latency
 * is per request (p50/p99 over the move). The move's time runs from the
 * AlterPartitionReassignments reply to the first ListPartitionReassignments
 * (polled every 50 ms) that no longer lists it; moveMBps = partition bytes /
 * that time (MiB/s, like the other benches' MBps).
 */
import { encodeBatch } from '../protocol/record-batch/index.ts';
import type { Produce, ProduceReply } from '../protocol/apis/data.ts';
import { percentile } from './support/child.ts';
import { startProcessCluster, waitForLeaders, type ProcessCluster } from './support/cluster.ts';

const MiB = 1024 * 1024;
const moveBytesTarget = Number(process.env.BENCH_MOVE_MB ?? 300) * MiB;
const throttleBytesPerSec = Number(process.env.BENCH_THROTTLE_MBPS ?? 10) * 1_000_000;
const baselineSeconds = Number(process.env.BENCH_BASELINE_SECONDS ?? 3);
const steadyPauseMs = Number(process.env.BENCH_STEADY_PAUSE_MS ?? 5);
/** Batches of the fill in flight at once. */
const fillInFlight = 8;
/** A move that has not completed by then is reported as such (bounded wait). */
const moveTimeoutMs = Number(process.env.BENCH_MOVE_TIMEOUT_MS ?? 120_000);

const fillRecordBytes = 1_000;
const fillBatch = encodeBatch({ records: Array.from({ length: Math.floor((256 * 1024) / (fillRecordBytes + 12)) }, () => ({ key: null, value: Buffer.alloc(fillRecordBytes, 'm'), timestamp: Date.now() })) });
const steadyBatch = encodeBatch({ records: Array.from({ length: 10 }, () => ({ key: null, value: Buffer.alloc(100, 's'), timestamp: Date.now() })) });

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function produce(cluster: ProcessCluster, topic: string, batch: Buffer): Promise<ProduceReply> {
  return cluster.client.ask<Produce, ProduceReply>({ node: '1', path: '/broker' }, (replyTo) => ({ type: 'Produce', topic, partition: 0, acks: -1, timeoutMs: 30_000, batch, replyTo }), { timeoutMs: 60_000 });
}

async function adminOk(cluster: ProcessCluster, command: Record<string, unknown>): Promise<unknown> {
  const reply = await cluster.admin<{ type: string; results?: { errorCode: number }[]; topics?: { errorCode: number }[] }>(command);
  const failed = [...(reply.results ?? []), ...(reply.topics ?? [])].find((r) => r.errorCode !== 0);
  if (reply.type === 'ControllerCallFailed' || failed !== undefined) throw new Error(`${String(command.type)} failed: ${JSON.stringify(reply)}`);
  return reply;
}

/** The steady producer: one acks=all request at a time until `stop` resolves; latencies in ms. */
function steadyProducer(cluster: ProcessCluster): { stop(): Promise<{ latenciesMs: number[]; failed: number }> } {
  let running = true;
  const latenciesMs: number[] = [];
  let failed = 0;
  const loop = (async () => {
    while (running) {
      const t0 = performance.now();
      const reply = await produce(cluster, 'steady', steadyBatch).catch(() => undefined);
      latenciesMs.push(performance.now() - t0);
      if (reply === undefined || reply.errorCode !== 0) failed += 1;
      await sleep(steadyPauseMs);
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      return { latenciesMs, failed };
    },
  };
}

function summary(latenciesMs: number[], failed: number) {
  const sorted = [...latenciesMs].sort((a, b) => a - b);
  return { steadyAcks: sorted.length - failed, steadyFailed: failed, steadyP50Ms: Number(percentile(sorted, 50).toFixed(2)), steadyP99Ms: Number(percentile(sorted, 99).toFixed(2)), steadyMaxMs: Number((sorted.at(-1) ?? 0).toFixed(2)) };
}

async function move(cluster: ProcessCluster, config: string, replicas: number[], movedBytes: number): Promise<void> {
  const steady = steadyProducer(cluster);
  await sleep(200); // the producer is in its stride before the move starts
  await adminOk(cluster, { type: 'AlterPartitionReassignments', reassignments: [{ topic: 'move', partition: 0, replicas }] });
  const startMs = performance.now();
  let completed = false;
  while (performance.now() - startMs < moveTimeoutMs) {
    const listed = (await cluster.admin<{ reassignments: unknown[] }>({ type: 'ListPartitionReassignments', topics: null })).reassignments;
    if (listed.length === 0) {
      completed = true;
      break;
    }
    await sleep(50);
  }
  const seconds = (performance.now() - startMs) / 1000;
  const { latenciesMs, failed } = await steady.stop();
  process.stdout.write(
    `${JSON.stringify({ config, completed, movedMB: Number((movedBytes / MiB).toFixed(1)), seconds: Number(seconds.toFixed(2)), moveMBps: Number((movedBytes / MiB / seconds).toFixed(1)), ...summary(latenciesMs, failed) })}\n`,
  );
}

const cluster = await startProcessCluster(3);
try {
  await adminOk(cluster, {
    type: 'CreateTopics',
    validateOnly: false,
    topics: [
      { name: 'move', numPartitions: -1, replicationFactor: -1, assignments: [{ partition: 0, brokerIds: [1, 2] }], configs: [] },
      { name: 'steady', numPartitions: -1, replicationFactor: -1, assignments: [{ partition: 0, brokerIds: [1, 2, 3] }], configs: [] },
    ],
  });
  await waitForLeaders(cluster.client, 'move', 1, 2);
  await waitForLeaders(cluster.client, 'steady', 1, 3);

  // Fill move-0.
  const batches = Math.ceil(moveBytesTarget / fillBatch.length);
  let sent = 0;
  const fillStartMs = performance.now();
  await Promise.all(
    Array.from({ length: fillInFlight }, async () => {
      while (sent < batches) {
        sent += 1;
        const reply = await produce(cluster, 'move', fillBatch);
        if (reply.errorCode !== 0) throw new Error(`fill: produce error ${reply.errorCode}`);
      }
    }),
  );
  const movedBytes = sent * fillBatch.length;
  const fillSeconds = (performance.now() - fillStartMs) / 1000;
  process.stderr.write(`filled move-0 with ${(movedBytes / MiB).toFixed(0)} MiB in ${fillSeconds.toFixed(1)} s\n`);

  const baseline = steadyProducer(cluster);
  await sleep(baselineSeconds * 1000);
  const base = await baseline.stop();
  process.stdout.write(`${JSON.stringify({ config: 'no-move', seconds: baselineSeconds, ...summary(base.latenciesMs, base.failed) })}\n`);

  await move(cluster, 'unthrottled', [1, 3], movedBytes);

  await adminOk(cluster, {
    type: 'AlterConfigs',
    validateOnly: false,
    resources: [
      {
        resourceType: 'broker',
        resourceName: '',
        ops: [
          { name: 'leader.replication.throttled.rate', op: 'SET', value: String(throttleBytesPerSec) },
          { name: 'follower.replication.throttled.rate', op: 'SET', value: String(throttleBytesPerSec) },
        ],
      },
    ],
  });
  await sleep(500); // every broker applies the new image
  await move(cluster, `throttled-${throttleBytesPerSec / 1_000_000}MBps`, [1, 2], movedBytes);
} finally {
  await cluster.stop();
}
