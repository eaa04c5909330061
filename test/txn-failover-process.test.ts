/**
 * Transaction coordinator failover in the middle of a commit, across real
 * broker processes (actors/broker-main.ts, free ports on 127.0.0.1, RF 3,
 * min.insync.replicas 2): a transaction writes to three partitions, and the
 * broker coordinating it is SIGKILLed (a) right after EndTxn(commit) was
 * answered — PrepareCommit is written, the markers are in flight — and (b) at
 * the moment EndTxn is sent — the decision may or may not have been written.
 * The transaction must end the same way in every partition, never split: in
 * (a) committed everywhere, in (b) committed everywhere or aborted everywhere
 * (the new coordinator aborts a transaction it finds open once its timeout
 * passes). Method: a client node speaking the wire API
 * (test/support/txn-wire.ts); read_committed read-backs from the current
 * leaders; the time from the kill to the transaction's end is printed.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { killAllChildren } from './support/processes.ts';
import { startTestCluster, type TestCluster } from './support/cluster.ts';
import { askTxn, eventually, findTxnCoordinator, produceTxn, readPartition, replyCode, type TxnWire } from './support/txn-wire.ts';

let cluster: TestCluster | undefined;
afterEach(async () => {
  await killAllChildren();
  await cluster?.cleanup();
  cluster = undefined;
});

const topic = 'ledger';
const partitions = [0, 1, 2];
const transactionTimeoutMs = 4_000;

function wireOf(c: TestCluster): TxnWire {
  return {
    client: c.client,
    get brokerIds() {
      return c.brokers.filter((b) => b.child !== null).map((b) => b.id);
    },
    leaderOf: async (name, partition) => {
      const live = c.brokers.filter((b) => b.child !== null).map((b) => b.id);
      const meta = await c.metadata([name], live[0]);
      const leader = meta.topics[0]?.partitions.find((p) => p.partition === partition)?.leader ?? -1;
      if (!live.includes(leader)) throw new Error(`${name}-${partition} has no live leader yet (${leader})`);
      return leader;
    },
  };
}

type Outcome = { committedIn: number; abortedIn: number; settledMs: number };

/** Waits until no partition has the transaction open (LSO = HW everywhere), then says where its records are visible. */
async function outcome(w: TxnWire, value: (partition: number) => string, killedAtMs: number): Promise<Outcome> {
  return eventually(
    'the transaction to end in every partition',
    async () => {
      let committedIn = 0;
      let abortedIn = 0;
      for (const partition of partitions) {
        const read = await readPartition(w, topic, partition, 1);
        if (read.lastStableOffset !== read.highWatermark) return undefined;
        const raw = await readPartition(w, topic, partition, 0);
        if (!raw.values.includes(value(partition))) throw new Error(`the record of partition ${partition} is missing from the log`);
        if (read.values.includes(value(partition))) committedIn += 1;
        else abortedIn += 1;
      }
      return { committedIn, abortedIn, settledMs: Date.now() - killedAtMs };
    },
    60_000,
  );
}

async function openTransaction(w: TxnWire, transactionalId: string, round: string): Promise<{ producerId: number; producerEpoch: number }> {
  const init = await askTxn(w, transactionalId, { type: 'InitProducerId', transactionTimeoutMs, producerId: -1, producerEpoch: -1 }, 60_000);
  expect(replyCode(init)).toBe(0);
  const producer = { producerId: init.producerId as number, producerEpoch: init.producerEpoch as number };
  const added = await askTxn(w, transactionalId, { type: 'AddPartitionsToTxn', ...producer, partitions: partitions.map((partition) => ({ topic, partition })) }, 60_000);
  expect((added.results as { errorCode: number }[]).map((r) => r.errorCode)).toEqual([0, 0, 0]);
  for (const partition of partitions) {
    const reply = await eventually(`the write to ${topic}-${partition}`, async () => {
      const r = await produceTxn(w, { topic, partition }, { transactionalId, ...producer }, 0, [`${round}-${partition}`]);
      return r.errorCode === 0 ? r : undefined;
    });
    expect(reply.errorCode).toBe(0);
  }
  return producer;
}

describe('transaction coordinator failover mid-commit (real processes)', () => {
  it('the coordinator SIGKILLed after or while a commit is decided: the transaction ends the same way in all three partitions', async () => {
    const c = (cluster = await startTestCluster(3, ['transaction.state.log.num.partitions=3', 'offsets.topic.num.partitions=3']));
    const created = await c.admin<{ topics: { errorCode: number }[] }>({
      type: 'CreateTopics',
      validateOnly: false,
      topics: [{ name: topic, numPartitions: 3, replicationFactor: 3, assignments: null, configs: [{ name: 'min.insync.replicas', value: '2' }] }],
    });
    expect(created.topics[0]!.errorCode).toBe(0);
    await c.waitForLeaders(topic, 3, 3);
    const w = wireOf(c);

    // (a) Killed right after EndTxn(commit) was answered: the decision is written, so it must commit everywhere.
    const producerA = await openTransaction(w, 'transfer-a', 'a');
    const coordinatorA = await findTxnCoordinator(w, 'transfer-a');
    const endA = await askTxn(w, 'transfer-a', { type: 'EndTxn', ...producerA, committed: true });
    expect(replyCode(endA)).toBe(0);
    const killedA = Date.now();
    await c.killBroker(coordinatorA);
    const a = await outcome(w, (p) => `a-${p}`, killedA);
    expect(a).toMatchObject({ committedIn: 3, abortedIn: 0 });
    await c.startBroker(coordinatorA);
    await c.waitForLeaders(topic, 3, 3, 60_000);

    // (b) Killed the moment EndTxn is sent: committed everywhere or aborted everywhere, never split.
    const producerB = await openTransaction(w, 'transfer-b', 'b');
    const coordinatorB = await findTxnCoordinator(w, 'transfer-b');
    const pending = askTxn(w, 'transfer-b', { type: 'EndTxn', ...producerB, committed: true }, 60_000).catch(() => null);
    const killedB = Date.now();
    await c.killBroker(coordinatorB);
    const b = await outcome(w, (p) => `b-${p}`, killedB);
    expect([0, 3]).toContain(b.committedIn);
    expect(b.committedIn + b.abortedIn).toBe(3);
    await pending;
    process.stdout.write(
      `${JSON.stringify({ test: 'txn-coordinator-failover', afterDecision: { coordinator: coordinatorA, ...a }, duringEndTxn: { coordinator: coordinatorB, ...b } })}\n`,
    );
  }, 180_000);
});
