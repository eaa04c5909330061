/**
 * Transactions end to end through the client, on a real cluster of three
 * broker processes (RF 3, min.insync.replicas 2, free ports on 127.0.0.1).
 *
 * (a) Atomicity. Goal: a read_committed consumer sees exactly the committed
 *     transactions, each whole; read_uncommitted sees every record written,
 *     never a marker. Method: 40 transactions of 3 records in each of 3
 *     partitions; every odd one aborted after its sends were acknowledged (so
 *     its records are in the log); a final committed sentinel per partition
 *     tells the readers they have read everything.
 * (b) Fencing. Goal: a second producer with the same transactional id fences
 *     the first; the first's later sends, commit and new transactions fail
 *     with PRODUCER_FENCED and nothing it wrote becomes visible. Method: the
 *     first writes and is fenced mid-transaction, then tries again; the second
 *     commits; a read_committed reader sees only the second's records.
 * (c) Exactly-once pipeline under faults. Goal: B read with read_committed
 *     holds every record of A exactly once. Method: 20,000 records in A (3
 *     partitions); a pipeline child (test/fixtures/eos-pipeline.ts, exactlyOnce())
 *     copies A to B; it is SIGKILLed and restarted twice, each time right
 *     after a transaction's output reached B and before its commit, and one
 *     broker is SIGKILLed once (and restarted) while it runs; a read_committed
 *     reader in this process counts B's records; read_uncommitted shows the
 *     aborted leftovers the kills made.
 * Every wait is bounded; afterAll kills every child this file started.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCode, Kactus, KactusError, type ConsumerRecord, type Producer } from '../client/index.ts';
import { startTestCluster, type TestCluster } from './support/cluster.ts';
import { killAllChildren, startChild, until, type Child } from './support/processes.ts';
import { kactusCli } from './support/kactus-cli.ts';

let cluster: TestCluster;
let kactus: Kactus;
const pipelineChildren: Child[] = [];

beforeAll(async () => {
  cluster = await startTestCluster(3, ['transaction.state.log.num.partitions=3', 'offsets.topic.num.partitions=3', 'group.initial.rebalance.delay.ms=0']);
  kactus = new Kactus({ brokers: cluster.brokers.map((b) => b.url), clientId: 'txn-test', requestTimeoutMs: 5_000 });
}, 60_000);

afterEach(async () => {
  for (const child of pipelineChildren.splice(0)) child.process.kill('SIGKILL');
});

afterAll(async () => {
  await kactus?.close({ timeoutMs: 5_000 }).catch(() => undefined);
  await killAllChildren();
  await cluster?.cleanup();
}, 30_000);

async function createTopic(topic: string, partitions: number): Promise<void> {
  await kactus.admin().createTopics({ topics: [{ topic, numPartitions: partitions, replicationFactor: 3, configs: { 'min.insync.replicas': '2' } }] });
  await cluster.waitForLeaders(topic, partitions, 3);
}

type Read = { partition: number; offset: number; value: string };

/** Reads `topic` from the start with a fresh group until `done(records)` or the timeout (then rejects). */
async function read(topic: string, isolationLevel: 'read_committed' | 'read_uncommitted', done: (records: Read[]) => boolean, timeoutMs: number, graceMs = 0): Promise<Read[]> {
  const client = new Kactus({ brokers: cluster.brokers.filter((b) => b.child !== null).map((b) => b.url), clientId: `reader-${isolationLevel}`, requestTimeoutMs: 5_000 });
  const consumer = client.consumer({ groupId: `reader-${topic}-${isolationLevel}-${Date.now()}`, isolationLevel, autoOffsetReset: 'earliest', autoCommit: false, ackMode: 'onDelivery', fetchMaxWaitMs: 100, heartbeatIntervalMs: 500, sessionTimeoutMs: 6_000 }).subscribe([topic]);
  const records: Read[] = [];
  let failure: unknown;
  const sub = consumer.messages$.subscribe({
    next: (r: ConsumerRecord) => void records.push({ partition: r.partition, offset: r.offset, value: r.value === null ? '<null>' : r.value.toString() }),
    error: (err: unknown) => (failure = err),
  });
  try {
    await until(() => failure !== undefined || done(records), timeoutMs, `${isolationLevel} read of ${topic} (${records.length} records so far)`);
    if (failure !== undefined) throw failure;
    if (graceMs > 0) await new Promise((resolve) => setTimeout(resolve, graceMs));
    return [...records];
  } finally {
    sub.unsubscribe();
    await client.close({ timeoutMs: 5_000 }).catch(() => undefined);
  }
}

const sentinelsSeen = (records: Read[], partitions: number): boolean => new Set(records.filter((r) => r.value.startsWith('sentinel')).map((r) => r.partition)).size === partitions;

describe('transactions through the client (real processes)', () => {
  it('(a) atomicity: read_committed sees exactly the committed transactions, whole; read_uncommitted sees everything, markers excluded', async () => {
    const topic = 'txn-atomic';
    await createTopic(topic, 3);
    const startedMs = Date.now();
    const producer = kactus.producer({ transactionalId: 'atomic-tx', lingerMs: 1 });
    const transactions = 40;
    const committed = new Set<string>();
    const written = new Set<string>();
    for (let t = 0; t < transactions; t += 1) {
      const txn = await producer.transaction();
      const values: string[] = [];
      const sends = [0, 1, 2].map((partition) => {
        const messages = [0, 1, 2].map((j) => ({ value: `t${t}-p${partition}-${j}`, partition }));
        values.push(...messages.map((m) => m.value));
        return txn.send({ topic, messages });
      });
      await Promise.all(sends); // acknowledged: the records are in the log whether the transaction commits or aborts
      for (const v of values) written.add(v);
      if (t % 2 === 0) {
        await txn.commit();
        for (const v of values) committed.add(v);
      } else {
        await txn.abort();
      }
    }
    const last = await producer.transaction();
    await last.send({ topic, messages: [0, 1, 2].map((partition) => ({ value: `sentinel-${partition}`, partition })) });
    await last.commit();
    const produceMs = Date.now() - startedMs;

    const readCommitted = await read(topic, 'read_committed', (r) => sentinelsSeen(r, 3), 60_000);
    const values = readCommitted.map((r) => r.value).filter((v) => !v.startsWith('sentinel'));
    expect(values.length).toBe(committed.size);
    expect(new Set(values)).toEqual(committed);
    // Whole: every committed transaction has all 9 records; no aborted transaction has any.
    const byTxn = new Map<string, number>();
    for (const v of values) byTxn.set(v.split('-')[0]!, (byTxn.get(v.split('-')[0]!) ?? 0) + 1);
    expect([...byTxn.values()].every((n) => n === 9)).toBe(true);
    expect(byTxn.size).toBe(transactions / 2);
    // Offsets increase per partition and skip the aborted records and the markers.
    for (const p of [0, 1, 2]) {
      const offsets = readCommitted.filter((r) => r.partition === p).map((r) => r.offset);
      expect(offsets).toEqual([...offsets].sort((x, y) => x - y));
    }

    // The CLI's group-less reader filters the same way (issue #22: it printed the aborted records).
    const cliRead = await kactusCli(['consume', topic, '--isolation-level', 'read_committed', '--from-beginning', '--max-messages', String(committed.size + 3), '--timeout-ms', '10000', '--format', 'json', '--bootstrap', cluster.brokers[0]!.url]);
    expect(cliRead.code).toBe(0);
    const cliValues = cliRead.stdout.trim().split('\n').map((line) => (JSON.parse(line) as { value: string }).value).filter((v) => !v.startsWith('sentinel'));
    expect(cliValues.length).toBe(committed.size);
    expect(new Set(cliValues)).toEqual(committed);

    const readUncommitted = await read(topic, 'read_uncommitted', (r) => sentinelsSeen(r, 3), 60_000);
    const all = readUncommitted.map((r) => r.value).filter((v) => !v.startsWith('sentinel'));
    expect(all.length).toBe(written.size);
    expect(new Set(all)).toEqual(written);
    // Markers are excluded: one per transaction per partition sits in the log between the data records.
    const maxOffset = Math.max(...readUncommitted.filter((r) => r.partition === 0).map((r) => r.offset));
    expect(maxOffset).toBeGreaterThanOrEqual(transactions * 3 + transactions);
    await producer.close();
    process.stdout.write(`${JSON.stringify({ test: 'txn-atomicity', transactions, committedRecords: committed.size, abortedRecords: written.size - committed.size, produceMs, totalMs: Date.now() - startedMs })}\n`);
  }, 180_000);

  it('(b) fencing: a second producer with the same transactional id fences the first; its later writes fail with PRODUCER_FENCED and never become visible', async () => {
    const topic = 'txn-fence';
    await createTopic(topic, 3);
    const first = kactus.producer({ transactionalId: 'fence-tx', lingerMs: 1 });
    const zombie = await first.transaction();
    await zombie.send({ topic, messages: [{ value: 'zombie-before-0', partition: 0 }] });

    const second = kactus.producer({ transactionalId: 'fence-tx', lingerMs: 1 });
    await second.initTransactions(); // fences the first and aborts its open transaction

    const codeOf = async (p: Promise<unknown>): Promise<number> => p.then(() => 0, (err: unknown) => (err instanceof KactusError ? err.code : -1));
    // A send to a partition already in the (aborted) transaction, then to a new one.
    const laterSend = await codeOf(zombie.send({ topic, messages: [{ value: 'zombie-after-0', partition: 0 }] }));
    const laterSendNew = await codeOf(zombie.send({ topic, messages: [{ value: 'zombie-after-2', partition: 2 }] }));
    const commit = await codeOf(zombie.commit());
    expect([laterSend, laterSendNew, commit]).toContain(ErrorCode.PRODUCER_FENCED);
    expect(commit).toBe(ErrorCode.PRODUCER_FENCED);
    // Once fenced, everything is PRODUCER_FENCED.
    expect(await codeOf(first.transaction())).toBe(ErrorCode.PRODUCER_FENCED);
    expect(await codeOf(first.send({ topic, messages: [{ value: 'zombie-late', partition: 1 }] }))).toBe(ErrorCode.PRODUCER_FENCED);
    expect(await codeOf(zombie.abort())).toBe(ErrorCode.PRODUCER_FENCED);

    const txn = await second.transaction();
    await txn.send({ topic, messages: [0, 1, 2].map((partition) => ({ value: `second-${partition}`, partition })) });
    await txn.commit();
    const sentinel = await second.transaction();
    await sentinel.send({ topic, messages: [0, 1, 2].map((partition) => ({ value: `sentinel-${partition}`, partition })) });
    await sentinel.commit();

    const seen = await read(topic, 'read_committed', (r) => sentinelsSeen(r, 3), 60_000);
    expect(seen.filter((r) => r.value.startsWith('zombie'))).toEqual([]);
    expect(seen.filter((r) => r.value.startsWith('second')).map((r) => r.value).sort()).toEqual(['second-0', 'second-1', 'second-2']);
    await first.close().catch(() => undefined);
    await second.close();
    process.stdout.write(`${JSON.stringify({ test: 'txn-fencing', laterSend, laterSendNew, commit })}\n`);
  }, 120_000);

  it('(c) exactly-once pipeline: 20,000 records copied A -> B while the pipeline is SIGKILLed twice and a broker once; B holds each record once', async () => {
    const input = 'eos-a';
    const output = 'eos-b';
    await createTopic(input, 3);
    await createTopic(output, 3);
    const total = 20_000;
    const startedMs = Date.now();
    const producer: Producer = kactus.producer({ lingerMs: 5, batchSizeBytes: 64 * 1024 });
    for (let from = 0; from < total; from += 5_000) {
      await producer.send({ topic: input, messages: Array.from({ length: 5_000 }, (_, i) => ({ key: `k${from + i}`, value: `a-${from + i}`, partition: (from + i) % 3 })) });
    }
    await producer.close();

    const brokers = cluster.brokers.map((b) => b.url).join(',');
    const startPipeline = (): Child => {
      const child = startChild('test/fixtures/eos-pipeline.ts', ['--brokers', brokers, '--input', input, '--output', output, '--group', 'eos-group', '--txn-id', 'eos-pipeline-0', '--instance', 'eos-member-0', '--pause-ms', '40']);
      pipelineChildren.push(child);
      return child;
    };
    const committedBy = (c: Child): number => Number(c.lines.filter((l) => l.event === 'committed').at(-1)?.count ?? 0);
    const sentBy = (c: Child): number => c.lines.filter((l) => l.event === 'sent').length;
    /** SIGKILLs the pipeline right after it reports a transaction's output acknowledged and not yet committed. */
    const killMidTransaction = async (c: Child): Promise<void> => {
      const sent = sentBy(c);
      await until(() => sentBy(c) > sent || errorsOf(c).length > 0, 30_000, 'a transaction with its output written');
      c.process.kill('SIGKILL');
      await c.exited;
    };
    const errorsOf = (c: Child): unknown[] => c.lines.filter((l) => l.event === 'error').map((l) => ({ ...l, stderr: c.stderrTail().slice(-3_000) }));

    // The reader counts B's committed records the whole time.
    const counts = new Map<string, number>();
    const readerClient = new Kactus({ brokers: cluster.brokers.map((b) => b.url), clientId: 'eos-reader', requestTimeoutMs: 5_000 });
    const reader = readerClient.consumer({ groupId: 'eos-reader', isolationLevel: 'read_committed', autoOffsetReset: 'earliest', autoCommit: false, ackMode: 'onDelivery', fetchMaxWaitMs: 100, heartbeatIntervalMs: 500, sessionTimeoutMs: 10_000 }).subscribe([output]);
    let readerError: unknown;
    const readerSub = reader.messages$.subscribe({ next: (r) => void counts.set(r.value!.toString(), (counts.get(r.value!.toString()) ?? 0) + 1), error: (err: unknown) => (readerError = err) });
    const events: Record<string, unknown>[] = [];
    try {
      // Run 1: killed after it committed some transactions.
      let pipeline = startPipeline();
      await pipeline.waitFor('ready', 30_000);
      await until(() => committedBy(pipeline) >= 3_000 || errorsOf(pipeline).length > 0, 60_000, 'pipeline run 1 commits 3,000 records');
      expect(errorsOf(pipeline)).toEqual([]);
      await killMidTransaction(pipeline);
      events.push({ killedPipeline: 1, committedByRun: committedBy(pipeline), inB: counts.size, atMs: Date.now() - startedMs });

      // Run 2: a broker is SIGKILLed while it copies, then restarted.
      pipeline = startPipeline();
      await pipeline.waitFor('ready', 30_000);
      await until(() => committedBy(pipeline) >= 2_000 || errorsOf(pipeline).length > 0, 60_000, 'pipeline run 2 commits 2,000 records');
      const victim = 2;
      await cluster.killBroker(victim);
      events.push({ killedBroker: victim, inB: counts.size, atMs: Date.now() - startedMs });
      const before = committedBy(pipeline);
      await until(() => committedBy(pipeline) >= before + 2_000 || errorsOf(pipeline).length > 0, 90_000, 'pipeline run 2 goes on with a broker down');
      expect(errorsOf(pipeline)).toEqual([]);
      await cluster.startBroker(victim);
      events.push({ restartedBroker: victim, atMs: Date.now() - startedMs });
      await until(() => committedBy(pipeline) >= before + 4_000 || errorsOf(pipeline).length > 0, 90_000, 'pipeline run 2 goes on after the broker is back');
      await killMidTransaction(pipeline);
      events.push({ killedPipeline: 2, committedByRun: committedBy(pipeline), inB: counts.size, atMs: Date.now() - startedMs });

      // Run 3: to the end.
      pipeline = startPipeline();
      await pipeline.waitFor('ready', 30_000);
      await until(() => counts.size >= total || errorsOf(pipeline).length > 0 || readerError !== undefined, 180_000, `B holds all ${total} records (has ${counts.size})`);
      expect(errorsOf(pipeline)).toEqual([]);
      expect(readerError).toBeUndefined();
      // Duplicates would arrive as more copies of the same values: give late ones time to show.
      await new Promise((resolve) => setTimeout(resolve, 3_000));
      pipeline.process.kill('SIGKILL');
      await pipeline.exited;
    } finally {
      readerSub.unsubscribe();
      await readerClient.close({ timeoutMs: 5_000 }).catch(() => undefined);
    }
    // Evidence that the kills interrupted transactions whose records were already in B: read_uncommitted sees them.
    const uncommitted = await read(output, 'read_uncommitted', (r) => r.length >= total, 60_000, 2_000);
    const duplicated = [...counts].filter(([, n]) => n > 1);
    const missing: string[] = [];
    for (let i = 0; i < total; i += 1) if (!counts.has(`a-${i}`)) missing.push(`a-${i}`);
    process.stdout.write(`${JSON.stringify({ test: 'txn-exactly-once-pipeline', total, inB: counts.size, duplicated: duplicated.length, missing: missing.length, abortedRecordsInB: uncommitted.length - total, totalMs: Date.now() - startedMs, events })}\n`);
    expect(missing.slice(0, 10)).toEqual([]);
    expect(duplicated.slice(0, 10)).toEqual([]);
    expect(counts.size).toBe(total);
  }, 600_000);
});
