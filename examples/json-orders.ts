/**
 * Typed records with JSON serializers: the producer takes `Order` objects,
 * the consumer's `messages$` is an Observable of `ConsumerRecord<string,
 * Order>`, so `record.value.total` is a number to TypeScript as well as at
 * run time. A cancelled order is sent as a tombstone (value null), which no
 * serializer sees and which stays null on the way back.
 *
 * Run against `npm start`'s cluster: npx tsx examples/json-orders.ts
 * (KACTUS_BOOTSTRAP=ws://host:port overrides the broker address.)
 */
import { filter, firstValueFrom, take, toArray } from 'rxjs';
import { Kactus, deserializers, serializers } from '../client/index.ts'; // in your app: from 'kactus'

type Order = { id: string; customer: string; lines: { sku: string; quantity: number; price: number }[]; total: number };

const kactus = new Kactus({ brokers: [process.env.KACTUS_BOOTSTRAP ?? 'ws://127.0.0.1:9191'], clientId: 'json-orders-example' });
const admin = kactus.admin();
if (!(await admin.listTopics()).includes('orders-json')) await admin.createTopics({ topics: [{ topic: 'orders-json', numPartitions: 3, replicationFactor: 3 }] });

const runId = Date.now().toString(36);
const order = (n: number): Order => {
  const lines = [{ sku: 'cactus-small', quantity: n, price: 4.5 }, { sku: 'pot', quantity: 1, price: 3 }];
  return { id: `${runId}-${n}`, customer: `customer-${n}`, lines, total: lines.reduce((sum, l) => sum + l.quantity * l.price, 0) };
};

const producer = kactus.producer({ acks: 'all', serializers: { key: serializers.string, value: serializers.json<Order>() } });
await producer.send({ topic: 'orders-json', messages: [1, 2, 3].map((n) => ({ key: `${runId}-${n}`, value: order(n) })) });
await producer.send({ topic: 'orders-json', messages: [{ key: `${runId}-2`, value: null }] }); // order 2 cancelled

// A group of its own, from the beginning: this run's four records (earlier runs' are skipped).
const consumer = kactus
  .consumer({ groupId: `json-orders-${runId}`, autoOffsetReset: 'earliest', ackMode: 'onDelivery', deserializers: { key: deserializers.string, value: deserializers.json<Order>() } })
  .subscribe('orders-json');
const records = await firstValueFrom(consumer.messages$.pipe(filter((r) => r.key?.startsWith(`${runId}-`) === true), take(4), toArray()));
for (const r of records) {
  if (r.value === null) console.log(`${r.key}: cancelled (tombstone)`);
  else console.log(`${r.key}: ${r.value.customer}, ${r.value.lines.length} lines, total ${r.value.total.toFixed(2)}`);
}
await kactus.close();
