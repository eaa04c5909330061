/**
 * `npm run bench:producer`: one Kactus producer sending 100-byte records with
 * acks=all (idempotent, the defaults: 16 KiB batches, 5 ms linger, 5 requests
 * in flight per broker) to a 3-broker RF 3 cluster of real broker processes
 * (actors/broker-main.ts via bench/support/cluster.ts) on this machine.
 *
 * Two runs, keyed (10,000 distinct keys, murmur2) and keyless (sticky), each
 * for BENCH_SECONDS (default 8) after a 1 s warm-up, with a bounded window of
 * outstanding send() calls (BENCH_LANES concurrent senders, each awaiting its
 * send of BENCH_MESSAGES_PER_SEND records before the next). Latency is per
 * send() call, from the call to its resolution.
 *
 * A third run repeats the keyless load with 256 KiB batches and 20 ms linger.
 *
 * Prints one JSON line: per run records/s, MB/s (record values+keys), p50/p99
 * send latency, requests, mean batch bytes, mean Produce round trip; plus
 * where the CPU went (producer process, each broker process, and the
 * producer's share spent encoding batches), from which `bottleneck` names the
 * limit: a saturated process, or, with CPU to spare everywhere, the acks=all
 * round trip (then throughput = bytes in flight / round trip, and latency is
 * mostly queueing behind the in-flight limit).
 */
import { readFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { Kactus, type ProducerOptions, type RecordMetadata } from '../client/index.ts';
import { percentile } from './support/child.ts';
import { startProcessCluster } from './support/cluster.ts';

const recordBytes = 100;
const partitions = 6;
const seconds = Number(process.env.BENCH_SECONDS ?? 8);
const warmupMs = 1_000;
const lanes = Number(process.env.BENCH_LANES ?? 400);
const messagesPerSend = Number(process.env.BENCH_MESSAGES_PER_SEND ?? 50);
const keyCount = 10_000;

const value = Buffer.alloc(recordBytes, 'x');
const keys = Array.from({ length: keyCount }, (_, i) => Buffer.from(`key-${String(i).padStart(6, '0')}`));

/** CPU seconds (user + system) a process has used, from /proc (Linux). */
function cpuSecondsOf(pid: number): number {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in clock ticks (100/s)
  } catch {
    return Number.NaN;
  }
}

/** Busy and total CPU time of the whole machine, from /proc/stat (Linux), in clock ticks. */
function machineCpuTicks(): { busy: number; total: number } {
  try {
    const fields = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
    const idle = (fields[3] ?? 0) + (fields[4] ?? 0);
    const total = fields.reduce((a, b) => a + b, 0);
    return { busy: total - idle, total };
  } catch {
    return { busy: Number.NaN, total: Number.NaN };
  }
}

const cluster = await startProcessCluster(3);
const kactus = new Kactus({ brokers: cluster.brokers.map((b) => b.url), clientId: 'bench-producer' });
try {
  const admin = kactus.admin();
  await admin.createTopics({ topics: [{ topic: 'bench-keyed', numPartitions: partitions, replicationFactor: 3 }, { topic: 'bench-keyless', numPartitions: partitions, replicationFactor: 3 }] });

  const run = async (topic: string, keyed: boolean, options: ProducerOptions = {}) => {
    const producer = kactus.producer({ acks: 'all', ...options });
    let stop = false;
    let measuring = false;
    let records = 0;
    let nextKey = 0;
    const latenciesMs: number[] = [];
    const lane = async (): Promise<void> => {
      while (!stop) {
        const messages = new Array<{ key: Buffer | null; value: Buffer }>(messagesPerSend);
        for (let i = 0; i < messagesPerSend; i += 1) {
          messages[i] = { key: keyed ? keys[nextKey++ % keyCount]! : null, value };
        }
        const t0 = performance.now();
        const results: RecordMetadata[] = await producer.send({ topic, messages });
        if (measuring) {
          latenciesMs.push(performance.now() - t0);
          records += results.length;
        }
      }
    };
    const running = Array.from({ length: lanes }, lane);
    await new Promise((r) => setTimeout(r, warmupMs));
    const statsBefore = { ...producer.stats! };
    const cpuBefore = process.cpuUsage();
    const brokerCpuBefore = cluster.brokers.map((b) => cpuSecondsOf(b.child.pid!));
    const machineBefore = machineCpuTicks();
    measuring = true;
    const startMs = performance.now();
    await new Promise((r) => setTimeout(r, seconds * 1_000));
    measuring = false;
    const elapsedS = (performance.now() - startMs) / 1_000;
    const cpu = process.cpuUsage(cpuBefore);
    const brokerCpu = cluster.brokers.map((b, i) => (cpuSecondsOf(b.child.pid!) - brokerCpuBefore[i]!) / elapsedS);
    const machineAfter = machineCpuTicks();
    const machineBusy = (machineAfter.busy - machineBefore.busy) / Math.max(1, machineAfter.total - machineBefore.total);
    const stats = producer.stats!;
    stop = true;
    await Promise.all(running);
    await producer.close();
    latenciesMs.sort((a, b) => a - b);
    const requests = stats.requests - statsBefore.requests;
    const producerCpuCores = (cpu.user + cpu.system) / 1e6 / elapsedS;
    const encodeShare = (stats.encodeCpuMs - statsBefore.encodeCpuMs) / 1_000 / elapsedS / Math.max(producerCpuCores, 1e-9);
    const recordWireBytes = recordBytes + (keyed ? keys[0]!.length : 0);
    return {
      records,
      recordsPerSec: Math.round(records / elapsedS),
      MBps: Number(((records * recordWireBytes) / (1024 * 1024) / elapsedS).toFixed(1)),
      p50Ms: Number(percentile(latenciesMs, 50).toFixed(2)),
      p99Ms: Number(percentile(latenciesMs, 99).toFixed(2)),
      requests,
      meanBatchBytes: Math.round((stats.encodedBytes - statsBefore.encodedBytes) / Math.max(1, requests)),
      meanRequestMs: Number(((stats.requestMsTotal - statsBefore.requestMsTotal) / Math.max(1, requests)).toFixed(1)),
      retries: stats.retries - statsBefore.retries,
      producerCpuCores: Number(producerCpuCores.toFixed(2)),
      /** CPU time of the whole producer process per record (client node, ws, msgpack included): 1e6 / this = its ceiling on one core. */
      producerCpuUsPerRecord: Number(((cpu.user + cpu.system) / Math.max(1, records)).toFixed(2)),
      encodeShareOfProducerCpu: Number(encodeShare.toFixed(3)),
      /** Records the encoder handles per CPU-second: far above recordsPerSec means encoding is not the limit. */
      encodeRecordsPerCoreSec: Math.round(records / Math.max(1e-9, (stats.encodeCpuMs - statsBefore.encodeCpuMs) / 1_000)),
      brokerCpuCores: brokerCpu.map((c) => Number(c.toFixed(2))),
      /** Share of the whole machine's CPU that was busy (all processes, ours and others'). */
      machineCpuBusy: Number(machineBusy.toFixed(2)),
    };
  };

  const keyedRun = await run('bench-keyed', true);
  const keylessRun = await run('bench-keyless', false);
  // The same keyless load with 256 KiB batches: more bytes per round trip when the round trip is the limit.
  const largeBatchesRun = await run('bench-keyless', false, { batchSizeBytes: 256 * 1024, lingerMs: 20 });
  const bottleneckOf = (r: typeof keyedRun): string => {
    const busiestBroker = Math.max(...r.brokerCpuCores);
    if (r.producerCpuCores >= 0.9 && r.producerCpuCores >= busiestBroker) return `producer process CPU (${r.producerCpuCores} cores; encoding ${Math.round(r.encodeShareOfProducerCpu * 100)}% of it)`;
    if (busiestBroker >= 0.9) return `broker process CPU (busiest ${busiestBroker} cores)`;
    const ours = r.producerCpuCores + r.brokerCpuCores.reduce((a, b) => a + b, 0);
    if (r.machineCpuBusy >= 0.9 && ours < 0.8 * cpus().length) {
      return `machine CPU saturated by other work (${Math.round(r.machineCpuBusy * 100)}% busy, of which this benchmark's 4 processes ${ours.toFixed(2)} of ${cpus().length} cores): rerun on an idle machine`;
    }
    if (ours < 0.8 * cpus().length) {
      return `acks=all round trip on the brokers (${r.meanRequestMs} ms per Produce request with CPU idle: producer ${r.producerCpuCores}, brokers ${r.brokerCpuCores.join('/')} cores; throughput = bytes in flight / round trip)`;
    }
    return `machine CPU shared by ${cluster.brokers.length + 1} processes on ${cpus().length} cores (producer ${r.producerCpuCores}, brokers ${r.brokerCpuCores.join('/')})`;
  };
  process.stdout.write(
    `${JSON.stringify({
      bench: 'producer',
      recordBytes,
      acks: 'all',
      idempotent: true,
      replicationFactor: 3,
      partitions,
      brokers: cluster.brokers.length,
      lanes,
      messagesPerSend,
      seconds,
      keyed: keyedRun,
      keyless: keylessRun,
      keylessLargeBatches: { batchSizeBytes: 256 * 1024, lingerMs: 20, ...largeBatchesRun },
      bottleneck: { keyed: bottleneckOf(keyedRun), keyless: bottleneckOf(keylessRun), keylessLargeBatches: bottleneckOf(largeBatchesRun) },
    })}\n`,
  );
} finally {
  await kactus.close().catch(() => undefined);
  await cluster.stop();
}
