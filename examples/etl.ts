/**
 * ETL with RxJS operators: read raw order events from `orders-raw`, parse,
 * drop the invalid ones, enrich, and write the result to `orders-clean`. Each
 * input record is acknowledged (so its offset may be committed) only after its
 * output was acknowledged by the cluster: at-least-once end to end.
 *
 * Run against `npm start`'s cluster: npx tsx examples/etl.ts
 * It seeds 20 raw events (some malformed), runs the pipeline until it has
 * handled them, prints what it wrote, and exits.
 */
import { filter, firstValueFrom, map, take, toArray } from 'rxjs';
import { Kactus, commitAfter, type ConsumerRecord } from '../client/index.ts';

type RawOrder = { id: string; amountCents: number; currency: string };
const kactus = new Kactus({ brokers: [process.env.KACTUS_BOOTSTRAP ?? 'ws://127.0.0.1:9191'], clientId: 'etl-example' });
const admin = kactus.admin();
const existing = await admin.listTopics();
for (const topic of ['orders-raw', 'orders-clean']) {
  if (!existing.includes(topic)) await admin.createTopics({ topics: [{ topic, numPartitions: 3, replicationFactor: 3 }] });
}

// Seed: a run id keeps this run's events apart from earlier runs'.
const runId = Date.now().toString(36);
const producer = kactus.producer({ acks: 'all' });
const raw = Array.from({ length: 20 }, (_, i) => (i % 5 === 4 ? `not json ${i}` : JSON.stringify({ id: `${runId}-${i}`, amountCents: 100 * (i + 1), currency: i % 2 ? 'EUR' : 'USD' })));
await producer.send({ topic: 'orders-raw', messages: raw.map((value, i) => ({ key: `order-${i}`, value })) });

const parse = (record: ConsumerRecord): RawOrder | null => {
  try {
    return JSON.parse(record.value?.toString() ?? '') as RawOrder;
  } catch {
    return null;
  }
};

const consumer = kactus.consumer({ groupId: `etl-${runId}`, autoOffsetReset: 'earliest' }).subscribe(['orders-raw']);
const written = await firstValueFrom(
  consumer.messages$.pipe(
    filter((record) => record.value?.toString().includes(runId) === true || record.value?.toString().startsWith('not json') === true),
    // One record at a time per the operator; the ack happens once the send below completes.
    commitAfter(async (record) => {
      const order = parse(record);
      if (order === null || !order.id.startsWith(runId)) return null; // invalid: skipped (and acknowledged)
      const clean = { ...order, amount: (order.amountCents / 100).toFixed(2), processedAt: new Date().toISOString() };
      await producer.send({ topic: 'orders-clean', messages: [{ key: record.key, value: JSON.stringify(clean) }] });
      return clean;
    }),
    filter((clean): clean is NonNullable<typeof clean> => clean !== null),
    take(16),
    map((clean) => `${clean.id} ${clean.amount} ${clean.currency}`),
    toArray(),
  ),
);
console.log(`wrote ${written.length} clean orders to orders-clean:\n  ${written.join('\n  ')}`);
await kactus.close();
