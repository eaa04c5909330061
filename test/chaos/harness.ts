/**
 * The chaos harness: `runChaos(options) -> ChaosResult`.
 *
 * One run, in order (every step bounded in time):
 *   1. start a real 3-broker cluster of processes (actors/broker-main.ts via
 *      test/support/cluster.ts: free ports on 127.0.0.1, one data dir each,
 *      every broker a controller voter, KACTUS_FAULT_INJECTION=1 so each
 *      has `/fault-control`); with `net: 'netns'` (opt-in, root) each broker
 *      in its own network namespace instead (netns.ts), torn down in `finally`;
 *   2. create the topic: `partitions` (6+) partitions, RF 3,
 *      min.insync.replicas 2;
 *   3. start the workloads (`workloads`, default producers and consumers;
 *      workloads.ts, txn-workload.ts): idempotent acks=all producers
 *      writing unique values to keyed records, a consumer group reading and
 *      committing everything, an observer of the group's committed offsets;
 *      opt-in `txn`: a transactional producer committing and aborting, and a
 *      read_committed consumer group;
 *   4. for `durationMs`: quiet, fault, hold, heal, repeat (nemeses.ts), one
 *      fault at a time (with `hostile` on, a slow hostile client also sends
 *      through the whole schedule, hostile.ts), drawn from the seeded Rng; each enabled nemesis comes
 *      once (in a seeded order) before any comes twice, and the schedule
 *      runs past `durationMs` (at most 60 s) until each has struck once;
 *   5. heal everything, stop the producers (pending sends get a bounded
 *      wait, then count as indeterminate), let the cluster settle (every
 *      partition led, ISR 3);
 *   6. read every partition back (final-read), let the consumers drain to the
 *      end, close them (final commit), fetch the committed offsets once more;
 *   7. check the history (checker.ts) and write the JSON report (report.ts)
 *      plus the harness's own findings (`harness`), and the history itself
 *      next to it, so the run can be re-checked or shrunk later.
 *
 * Exit code: non-zero on any anomaly (report.ts), and also on a harness
 * finding that is a failure of the system under test: a crashed actor that
 * supervision did not bring back, a broker that would not restart, a
 * partition that could not be read back, a cluster that did not settle, an
 * exception thrown out of client code (recorded, so the run still ends with
 * a report instead of a dead process).
 *
 * Processes: the brokers are children of this process (processes.ts); every
 * one is SIGKILLed by its handle in `finally`, whatever happened.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { Kactus } from '../../client/index.ts';
import { seededRng } from '../../runtime/rng.ts';
import { startTestCluster, type TestCluster } from '../support/cluster.ts';
import { killAllChildren } from '../support/processes.ts';
import { check, type Report } from './checker.ts';
import { FAULT_KINDS, type FaultKind } from './history.ts';
import { ChaosContext, NEMESES, type ActiveFault, type ControllerFailover, type CrashCheck } from './nemeses.ts';
import { LiveRecorder } from './recorder.ts';
import { buildRunReport, exitCodeFor, summaryLine, type RunReport } from './report.ts';
import { DEFAULT_WORKLOADS, TxnProducerWorker, readCommittedExpected, type WorkloadName } from './txn-workload.ts';
import { ConsumerWorker, OffsetsObserver, ProducerWorker, clientLogger, finalRead } from './workloads.ts';
import { NetnsNetwork, startNetnsCluster, type NetMode } from './netns.ts';
import { HostileClient, hostileBackgroundFramesPerSecond, type HostileStats } from './hostile.ts';

export type ChaosOptions = {
  seed: number;
  durationMs: number;
  nemeses: readonly FaultKind[];
  /** Partitions of the workload topic (at least 6). */
  partitions?: number;
  producers?: number;
  consumers?: number;
  /** Sends per second per producer. */
  ratePerSecond?: number;
  /**
   * Which workloads run (default DEFAULT_WORKLOADS: producers and consumers).
   * `txn` adds a transactional producer and a read_committed consumer group
   * (txn-workload.ts).
   */
  workloads?: readonly WorkloadName[];
  /** Transactions per second the transactional producer starts at most (default 5). */
  txnPerSecond?: number;
  /** Sends pending per producer and partition. */
  inFlightPerPartitionMax?: number;
  /**
   * The producers' delivery timeout (default 8 s): short, so faults show as
   * failed (indeterminate) sends, failover times, and producer id resets.
   */
  deliveryTimeoutMs?: number;
  /** Quiet time between faults, drawn from [min, max] ms. */
  quietMs?: readonly [number, number];
  /** How long a fault holds before it is healed, drawn from [min, max] ms. */
  holdMs?: readonly [number, number];
  /** Where to write the report (JSON); the history goes to `<report>.history.json`. Null: write nothing. */
  reportPath?: string | null;
  /** Broker processes' LOG_LEVEL (their logs go to their stderr, kept in memory). */
  brokerLogLevel?: string;
  /**
   * 'loopback' (default): brokers on 127.0.0.1, partitions through
   * `/fault-control`. 'netns' (opt-in, root): each broker in its own network
   * namespace, partitions cut on real links with tc (netns.ts).
   */
  net?: NetMode;
  log?: (line: string) => void;
};

export type HarnessFindings = {
  /** Epoch ms of the run's time 0 (history atMs 0), to line the broker logs (pino `time`) up with the history. */
  startedAtEpochMs: number;
  wallMs: number;
  clusterStartMs: number;
  settleMs: number | null;
  consumersDrained: boolean;
  crashChecks: CrashCheck[];
  controllerFailovers: ControllerFailover[];
  restarts: { broker: number; attempts: number; ok: boolean }[];
  producers: { name: string; invoked: number; ok: number; failed: number; replaced: number }[];
  consumers: { name: string; reads: number; resubscribes: number; errors: number }[];
  offsetsObserver: { fetches: number; failures: number };
  workloads: WorkloadName[];
  /** Where the brokers ran: 127.0.0.1, or one network namespace each (`--net netns`). */
  net: NetMode;
  /**
   * The hostile nemesis (`hostile`): what it sent over all its faults, and (`background`) what its slow
   * companion sent through the whole schedule, during the other faults too (null when it was not enabled).
   */
  hostile: (HostileStats & { background: HostileStats }) | null;
  /** The transactional workload (`txn`): its producer's counts and its read_committed group's. */
  txn: { producer: TxnProducerWorker['stats']; reader: { reads: number; resubscribes: number; errors: number }; readerDrained: boolean } | null;
  finalRead: { records: number; unread: number[] };
  /** Failures of the system under test that are not history anomalies (see the module comment). */
  problems: string[];
};

export type ChaosRunReport = RunReport & { harness: HarnessFindings };

export type ChaosResult = { report: ChaosRunReport; checked: Report; exitCode: 0 | 1; summary: string; reportPath: string | null; historyPath: string | null };

export const partitionsMin = 6;
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Broker settings for chaos: small internal topics, no rebalance delay, min ISR 2 by default. */
export const chaosBrokerSettings = [
  'offsets.topic.num.partitions=3',
  'transaction.state.log.num.partitions=3',
  'group.initial.rebalance.delay.ms=0',
  'min.insync.replicas=2',
  'default.replication.factor=3',
  // A follower that stops fetching leaves the ISR after this (Kafka: 30 s): faults hold for seconds.
  'replica.lag.time.max.ms=10000',
];

function draw(rng: { int(a: number, b: number): number }, range: readonly [number, number]): number {
  return range[0] >= range[1] ? range[0] : rng.int(range[0], range[1] + 1);
}

/** The order faults come in: every enabled nemesis once (seeded shuffle), then seeded picks. */
export function nemesisOrder(rng: { int(a: number, b: number): number }, enabled: readonly FaultKind[], count: number): FaultKind[] {
  const first = [...enabled];
  for (let i = first.length - 1; i > 0; i--) {
    const j = rng.int(0, i + 1);
    [first[i], first[j]] = [first[j]!, first[i]!];
  }
  const order = first.slice(0, count);
  while (order.length < count) order.push(enabled[rng.int(0, enabled.length)]!);
  return order;
}

export async function runChaos(options: ChaosOptions): Promise<ChaosResult> {
  const wallStartMs = Date.now();
  const log = options.log ?? ((line: string) => process.stderr.write(`[chaos] ${line}\n`));
  const partitions = Math.max(partitionsMin, options.partitions ?? 6);
  const nemeses = [...new Set(options.nemeses)];
  for (const kind of nemeses) if (!FAULT_KINDS.includes(kind)) throw new Error(`unknown nemesis ${kind}`);
  const quietMs = options.quietMs ?? [2_000, 6_000];
  const holdMs = options.holdMs ?? [3_000, 8_000];
  const rng = seededRng(options.seed);
  const recorder = new LiveRecorder();
  const startedAtEpochMs = Date.now();
  const topic = 'chaos';
  const group = 'chaos-group';
  const txnGroup = 'chaos-txn-readers';
  const workloads = [...new Set(options.workloads ?? DEFAULT_WORKLOADS)];
  const withTxn = workloads.includes('txn');
  const problems: string[] = [];

  // A client bug that throws out of a timer would end the process and lose the run: record it as a problem instead.
  let uncaught = 0;
  const onUncaught = (err: unknown): void => {
    uncaught += 1;
    if (uncaught <= 5) {
      const text = err instanceof Error ? (err.stack ?? err.message) : String(err);
      problems.push(`uncaught exception in the harness process (client code) at ${Math.round(recorder.nowMs())} ms: ${text.slice(0, 1_500)}`);
      log(`uncaught exception: ${text.slice(0, 1_500)}`);
    }
  };
  process.on('uncaughtException', onUncaught);

  let cluster: TestCluster | undefined;
  const net: NetMode = options.net ?? 'loopback';
  let network: NetnsNetwork | null = null;
  const producers: ProducerWorker[] = [];
  const consumers: ConsumerWorker[] = [];
  let observer: OffsetsObserver | undefined;
  let txnProducer: TxnProducerWorker | undefined;
  let txnReader: ConsumerWorker | undefined;
  let hostileBackground: HostileClient | undefined;
  try {
    log(`seed ${options.seed}, ${options.durationMs} ms, nemeses ${nemeses.join(',') || '(none)'}, workloads ${workloads.join(',')}: starting 3 brokers`);
    const brokerEnv = { KACTUS_FAULT_INJECTION: '1', LOG_LEVEL: options.brokerLogLevel ?? process.env.CHAOS_BROKER_LOG_LEVEL ?? 'warn' };
    if (net === 'netns') {
      network = await NetnsNetwork.setUp(options.seed, 3);
      log(`net netns: bridge ${network.plan.bridge} ${network.plan.bridgeAddress}/24, namespaces ${network.plan.brokers.map((b) => `${b.ns} ${b.address}`).join(', ')}`);
      cluster = await startNetnsCluster(network, chaosBrokerSettings, { env: brokerEnv });
    } else {
      cluster = await startTestCluster(3, chaosBrokerSettings, { env: brokerEnv });
    }
    const clusterStartMs = Date.now() - wallStartMs;
    for (const b of cluster.brokers) {
      const ready = b.child?.lines.find((l) => l.event === 'ready');
      if (ready?.faultInjection !== true) throw new Error(`broker ${b.id} started without fault injection (ready line: ${JSON.stringify(ready)})`);
    }
    const brokers = cluster.brokers.map((b) => b.url);
    const logDir = options.reportPath ? `${options.reportPath.replace(/\.json$/, '')}.logs` : null;
    const ctx = new ChaosContext(cluster, recorder, rng, topic, group, log, logDir, network);
    ctx.partitions = partitions;

    const admin = new Kactus({ brokers, clientId: 'chaos-admin', requestTimeoutMs: 10_000, logger: clientLogger('admin') });
    try {
      await admin.admin().createTopics({ topics: [{ topic, numPartitions: partitions, replicationFactor: 3, configs: { 'min.insync.replicas': '2' } }] });
    } finally {
      await admin.close({ timeoutMs: 1_000 }).catch(() => undefined);
    }
    await cluster.waitForLeaders(topic, partitions, 3, 60_000);
    log(`topic ${topic}: ${partitions} partitions, RF 3, min.insync.replicas 2; cluster up in ${clusterStartMs} ms`);

    const seen = new Set<string>();
    const consumerCount = workloads.includes('consumers') ? (options.consumers ?? 2) : 0;
    for (let i = 0; i < consumerCount; i++) consumers.push(new ConsumerWorker({ name: `c${i}`, brokers, topic, group, recorder, seen, log }));
    if (consumerCount > 0) observer = new OffsetsObserver({ brokers, topic, partitions, group, intervalMs: 2_000, recorder });
    const txnSeen = new Set<string>();
    if (withTxn) {
      txnReader = new ConsumerWorker({ name: 'rc0', brokers, topic, group: txnGroup, recorder, seen: txnSeen, isolation: 'read_committed', log });
      txnProducer = new TxnProducerWorker({ name: 't0', brokers, topic, partitions, txnPerSecond: options.txnPerSecond ?? 5, deliveryTimeoutMs: options.deliveryTimeoutMs ?? 8_000, transactionTimeoutMs: 15_000, seed: options.seed * 1_000 + 999, recorder, log });
    }
    const producerCount = workloads.includes('producers') ? (options.producers ?? 2) : 0;
    for (let i = 0; i < producerCount; i++) {
      producers.push(new ProducerWorker({ name: `p${i}`, brokers, topic, keys: 60, partitions, ratePerSecond: options.ratePerSecond ?? 50, inFlightPerPartitionMax: options.inFlightPerPartitionMax ?? 5, deliveryTimeoutMs: options.deliveryTimeoutMs ?? 8_000, seed: options.seed * 1_000 + i, recorder, log }));
    }
    for (const c of consumers) c.start();
    txnReader?.start();
    observer?.start();
    const activeFromMs = recorder.nowMs();
    for (const p of producers) p.start();
    // With `hostile` on, a slow hostile client also runs through the whole fault schedule, so forged messages
    // arrive during kills, pauses, partitions and failovers too, not only in the hostile nemesis's own turns.
    hostileBackground = nemeses.includes('hostile')
      ? new HostileClient(() => cluster!.brokers.filter((b) => b.child !== null).map((b) => ({ id: b.id, url: b.url })), options.seed * 7_919 + 1, 1_000_000, ctx.hostileBackground, { topic, partitions }, hostileBackgroundFramesPerSecond)
      : undefined;
    hostileBackground?.start();
    txnProducer?.start();

    // The fault schedule.
    const endAtMs = Date.now() + options.durationMs;
    const faultsMax = Math.max(nemeses.length, Math.ceil(options.durationMs / 1_000));
    const order = nemeses.length === 0 ? [] : nemesisOrder(rng, nemeses, faultsMax);
    // Every enabled nemesis strikes at least once: past the end, the schedule goes on (at most
    // coverGraceMs more) only while some nemesis has not struck yet.
    const coverGraceMs = 60_000;
    const struck = new Set<FaultKind>();
    let active: ActiveFault | null = null;
    for (const planned of order) {
      const covered = nemeses.every((n) => struck.has(n));
      const stopAtMs = covered ? endAtMs : endAtMs + coverGraceMs;
      if (Date.now() >= stopAtMs) break;
      if (covered || Date.now() < endAtMs) await sleep(Math.min(draw(rng, quietMs), Math.max(0, stopAtMs - Date.now())));
      if (Date.now() >= stopAtMs) break;
      const kind = Date.now() >= endAtMs ? (nemeses.find((n) => !struck.has(n)) ?? planned) : planned;
      active = await NEMESES[kind].start(ctx).catch((err: unknown) => {
        log(`nemesis ${kind} failed to start: ${String(err)}`);
        return null;
      });
      if (active === null) {
        await sleep(500);
        continue;
      }
      struck.add(kind);
      await sleep(draw(rng, holdMs));
      await active.heal().catch((err: unknown) => log(`nemesis ${kind} failed to heal: ${String(err)}`));
      active = null;
    }
    const remaining = endAtMs - Date.now();
    if (remaining > 0) await sleep(remaining);

    // Heal, stop the producers, settle.
    log('healing everything');
    await hostileBackground?.stop();
    await ctx.healAll();
    await Promise.all([...producers.map((p) => p.stop(25_000)), txnProducer?.stop(25_000)]);
    const activeToMs = recorder.nowMs();
    const settleStart = Date.now();
    let settleMs: number | null = null;
    try {
      await cluster.waitForLeaders(topic, partitions, 3, 60_000);
      settleMs = Date.now() - settleStart;
    } catch (err) {
      const meta = await cluster.metadata([topic]).catch(() => undefined);
      const state = meta?.topics[0]?.partitions.map((p) => `${p.partition}: leader ${p.leader} epoch ${p.leaderEpoch} isr [${p.isr.join(',')}]`).join('; ');
      problems.push(`the cluster did not settle (every partition led, ISR 3) within 60 s: ${state ?? String(err).slice(0, 300)}`);
    }
    log(`settled in ${settleMs ?? 'never'} ms; reading back`);

    const read = await finalRead({ brokers, topic, partitions, recorder, log });
    if (read.unread.length > 0) problems.push(`partitions never read back: ${read.unread.join(',')}`);

    // Let the group catch up to the end, then close it (final commit) and fetch its offsets once more.
    const finalValues = new Set<string>();
    for (const e of recorder.events) if (e.type === 'final-read') for (const r of e.records) finalValues.add(r.value);
    // The read_committed group owes every non-transactional and committed-transaction value of the final log.
    const txnExpected = withTxn ? readCommittedExpected(recorder.events, topic) : new Set<string>();
    const drainDeadline = Date.now() + 60_000;
    let groupDrained = consumers.length === 0;
    let txnReaderDrained = !withTxn;
    const missingOf = (expected: Set<string>, delivered: Set<string>): string[] => {
      const missing: string[] = [];
      for (const v of expected) if (!delivered.has(v)) missing.push(v);
      return missing;
    };
    while (Date.now() < drainDeadline && !(groupDrained && txnReaderDrained)) {
      if (!groupDrained) groupDrained = missingOf(finalValues, seen).length === 0;
      if (!txnReaderDrained) txnReaderDrained = missingOf(txnExpected, txnSeen).length === 0;
      if (!(groupDrained && txnReaderDrained)) await sleep(250);
    }
    const consumersDrained = groupDrained && txnReaderDrained;
    if (!groupDrained) log('the consumer group did not drain within 60 s (unseen is then judged on committed offsets only)');
    if (!txnReaderDrained) {
      const missing = missingOf(txnExpected, txnSeen);
      // Committed data a read_committed reader cannot reach a minute after settling: a stuck last stable offset or a reader bug.
      problems.push(`the read_committed group ${txnGroup} did not deliver ${missing.length} of ${txnExpected.size} committed or non-transactional values within 60 s (e.g. ${missing.slice(0, 5).join(', ')})`);
    }
    await Promise.all([...consumers.map((c) => c.close(10_000)), txnReader?.close(10_000)]);
    if (observer) {
      await observer.stop();
      for (let attempt = 0; attempt < 10 && !(await observer.fetchOnce()); attempt++) await sleep(500);
    }

    if (uncaught > 5) problems.push(`${uncaught} uncaught exceptions in all (the first 5 are listed)`);
    for (const check of ctx.crashChecks) if (check.existed && check.cameBack === false) problems.push(`crashed actor ${check.path} on broker ${check.node} did not come back`);
    for (const restart of ctx.restarts) if (!restart.ok) problems.push(`broker ${restart.broker} did not restart`);
    problems.push(...ctx.hostileProblems);

    // Judge and report.
    const history = recorder.history();
    const checked = check(history, { consumersDrained, activeFromMs, activeToMs });
    const runReport = buildRunReport(checked, { seed: options.seed, durationMs: options.durationMs, clusterSize: 3, nemeses });
    const report: ChaosRunReport = {
      ...runReport,
      harness: {
        startedAtEpochMs,
        wallMs: Date.now() - wallStartMs,
        clusterStartMs,
        settleMs,
        consumersDrained,
        crashChecks: ctx.crashChecks,
        controllerFailovers: ctx.controllerFailovers,
        restarts: ctx.restarts,
        producers: producers.map((p, i) => ({ name: `p${i}`, ...p.stats })),
        consumers: consumers.map((c, i) => ({ name: `c${i}`, ...c.stats })),
        offsetsObserver: observer ? { ...observer.stats } : { fetches: 0, failures: 0 },
        workloads,
        net,
        hostile: nemeses.includes('hostile') ? { ...ctx.hostile, background: { ...ctx.hostileBackground } } : null,
        txn: txnProducer && txnReader ? { producer: { ...txnProducer.stats }, reader: { ...txnReader.stats }, readerDrained: txnReaderDrained } : null,
        finalRead: read,
        problems,
      },
    };
    const exitCode: 0 | 1 = exitCodeFor(runReport) === 0 && problems.length === 0 ? 0 : 1;
    let summary = summaryLine(runReport);
    if (nemeses.includes('hostile')) summary += `; hostile: ${ctx.hostile.frames} frames (${ctx.hostile.forged} forged internal messages, ${ctx.hostile.forgedHellos} forged hellos) in ${ctx.hostile.faults} faults, ${ctx.hostile.sessions} sessions, and ${ctx.hostileBackground.frames} (${ctx.hostileBackground.forged} forged) in the background`;
    if (problems.length > 0) summary += `; harness problems: ${problems.join('; ')}`;
    let reportPath: string | null = null;
    let historyPath: string | null = null;
    if (options.reportPath) {
      reportPath = options.reportPath;
      historyPath = reportPath.replace(/\.json$/, '') + '.history.json';
      mkdirSync(dirname(reportPath), { recursive: true });
      writeFileSync(reportPath, `${JSON.stringify(report, null, 2)}\n`);
      writeFileSync(historyPath, JSON.stringify(history));
    }
    log(summary);
    return { report, checked, exitCode, summary, reportPath, historyPath };
  } finally {
    process.off('uncaughtException', onUncaught);
    await hostileBackground?.stop();
    await Promise.all([...producers.map((p) => p.close()), txnProducer?.close()]);
    await Promise.all([...consumers.map((c) => c.close(2_000)), txnReader?.close(2_000)]);
    await observer?.close();
    await killAllChildren();
    await cluster?.cleanup().catch(() => undefined);
    if (network !== null) {
      await network.heal().catch(() => undefined);
      await network.tearDown();
      log(`net netns: deleted ${network.created.map((r) => r.name).join(', ')}`);
    }
  }
}
