/**
 * Money transfers, exactly once. Shows two things:
 *
 * 1. Atomic writes to two topics: a transactional producer writes a
 *    transfer's debit (to `ledger-debits`) and its credit (to
 *    `ledger-credits`) in one transaction. A transfer found invalid after its
 *    records were sent is aborted: a read_committed reader never sees either
 *    half, a read_uncommitted one sees both.
 * 2. A consume-transform-produce pipeline with exactlyOnce(): transfer
 *    requests from `transfer-requests` become debit + credit records, and the
 *    consumed offsets are committed in the same transaction. The transform
 *    fails once on purpose (as if the process hit a bug mid-batch): that
 *    transaction aborts, the pipeline rewinds to the committed offset and
 *    retries, and still every transfer is booked exactly once, so the debits
 *    and the credits balance.
 *
 * Run against `npm start`'s cluster: npx tsx examples/exactly-once-transfer.ts
 * It prints the balances and exits. A run id keeps its records apart from
 * earlier runs'.
 */
import { filter, firstValueFrom, scan, takeWhile, last } from 'rxjs';
import { Kactus, exactlyOnce, type ConsumerRecord } from '../client/index.ts';

const kactus = new Kactus({ brokers: [process.env.KACTUS_BOOTSTRAP ?? 'ws://127.0.0.1:9191'], clientId: 'transfer-example' });
const admin = kactus.admin();
const existing = await admin.listTopics();
for (const topic of ['transfer-requests', 'ledger-debits', 'ledger-credits']) {
  if (!existing.includes(topic)) await admin.createTopics({ topics: [{ topic, numPartitions: 3, replicationFactor: 3 }] });
}
const runId = Date.now().toString(36);
const startedMs = Date.now();
const elapsed = (): string => `${((Date.now() - startedMs) / 1000).toFixed(1)} s`;
type Entry = { runId: string; transfer: string; account: string; amountCents: number };
const entry = (transfer: string, account: string, amountCents: number): string => JSON.stringify({ runId, transfer, account, amountCents } satisfies Entry);

// ---- 1. Two topics, one transaction: all or nothing.
const booker = kactus.producer({ transactionalId: `transfer-booker-${runId}` });
for (const t of [
  { id: 'manual-1', from: 'alice', to: 'bob', amountCents: 2_500, valid: true },
  { id: 'manual-2', from: 'bob', to: 'carol', amountCents: 99_900, valid: false }, // over the limit: aborted after sending
]) {
  const txn = await booker.transaction();
  await txn.send({ topic: 'ledger-debits', messages: [{ key: t.from, value: entry(t.id, t.from, t.amountCents) }] });
  await txn.send({ topic: 'ledger-credits', messages: [{ key: t.to, value: entry(t.id, t.to, t.amountCents) }] });
  if (t.valid) await txn.commit();
  else await txn.abort(); // both records are in the logs, and both stay invisible to read_committed readers
}
await booker.close();
console.log(`booked manual-1 (committed) and manual-2 (aborted) at ${elapsed()}`);

// ---- 2. Requests -> debits + credits, exactly once, with one injected failure.
const requests = Array.from({ length: 30 }, (_, i) => ({ id: `req-${i}`, from: ['alice', 'bob', 'carol'][i % 3]!, to: ['bob', 'carol', 'alice'][i % 3]!, amountCents: 100 * (i + 1) }));
const seeder = kactus.producer({ acks: 'all' });
await seeder.send({ topic: 'transfer-requests', messages: requests.map((r) => ({ key: r.from, value: JSON.stringify({ runId, ...r }) })) });

const pipelineConsumer = kactus.consumer({ groupId: `transfers-${runId}`, isolationLevel: 'read_committed', autoCommit: false, autoOffsetReset: 'earliest' }).subscribe(['transfer-requests']);
const pipelineProducer = kactus.producer({ transactionalId: `transfer-pipeline-${runId}` });
let failOnce = true;
let booked = 0;
await firstValueFrom(
  exactlyOnce({
    consumer: pipelineConsumer,
    producer: pipelineProducer,
    transform: (batch) => {
      const mine = batch.records.map((r) => JSON.parse(r.value!.toString()) as (typeof requests)[number] & { runId: string }).filter((r) => r.runId === runId);
      if (failOnce && mine.length > 0) {
        failOnce = false;
        throw new Error('injected failure: this batch is aborted and processed again');
      }
      return [
        { topic: 'ledger-debits', messages: mine.map((r) => ({ key: r.from, value: entry(r.id, r.from, r.amountCents) })) },
        { topic: 'ledger-credits', messages: mine.map((r) => ({ key: r.to, value: entry(r.id, r.to, r.amountCents) })) },
      ];
    },
    retryBackoffMs: 100,
  }).pipe(
    scan((sum, commit) => sum + commit.outputCount / 2, 0),
    takeWhile((sum) => ((booked = sum), sum < requests.length), true),
    last(),
  ),
);
console.log(`pipeline: booked ${booked} transfers (one batch aborted and retried on purpose) at ${elapsed()}`);

// ---- Read the ledgers back.
async function ledger(topic: string, isolationLevel: 'read_committed' | 'read_uncommitted', done: (entries: Entry[]) => boolean): Promise<Entry[]> {
  const reader = kactus.consumer({ groupId: `ledger-reader-${topic}-${isolationLevel}-${runId}`, isolationLevel, autoOffsetReset: 'earliest', ackMode: 'onDelivery' }).subscribe([topic]);
  const entries = await firstValueFrom(
    reader.messages$.pipe(
      filter((r: ConsumerRecord) => r.value?.toString().includes(runId) === true),
      scan((all, r) => [...all, JSON.parse(r.value!.toString()) as Entry], [] as Entry[]),
      filter(done),
    ),
  );
  await reader.close();
  return entries;
}
// Committed: 1 manual transfer + 30 from the pipeline per ledger. Uncommitted also shows the aborted manual-2.
const debits = await ledger('ledger-debits', 'read_committed', (all) => all.length >= 1 + requests.length);
const credits = await ledger('ledger-credits', 'read_committed', (all) => all.length >= 1 + requests.length);
const dirty = await ledger('ledger-debits', 'read_uncommitted', (all) => all.some((e) => e.transfer === 'manual-2'));
const sum = (entries: Entry[]): number => entries.reduce((s, e) => s + e.amountCents, 0);
const balances = new Map<string, number>();
for (const d of debits) balances.set(d.account, (balances.get(d.account) ?? 0) - d.amountCents);
for (const c of credits) balances.set(c.account, (balances.get(c.account) ?? 0) + c.amountCents);
console.log(`read_committed: ${debits.length} debits (${sum(debits)} cents), ${credits.length} credits (${sum(credits)} cents); each transfer once: ${new Set(debits.map((d) => d.transfer)).size === debits.length}`);
console.log(`aborted transfer manual-2 visible to read_committed: ${debits.some((d) => d.transfer === 'manual-2')}; to read_uncommitted: ${dirty.some((d) => d.transfer === 'manual-2')}`);
console.log(`balances (cents): ${[...balances].map(([account, cents]) => `${account} ${cents}`).join(', ')}; total ${[...balances.values()].reduce((a, b) => a + b, 0)} (read back at ${elapsed()})`);
await kactus.close();
