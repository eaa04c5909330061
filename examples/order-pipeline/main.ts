/**
 * The order pipeline end to end: places five orders, and the payments and
 * shipping services (services.ts) carry each through to a shipment. A third
 * consumer watches `shipments` and the program exits once every order shipped.
 *
 * Run against `npm start`'s cluster: npx tsx examples/order-pipeline/main.ts
 */
import { filter, firstValueFrom, map, take, toArray } from 'rxjs';
import { Kactus } from '../../client/index.ts';
import { startPayments, startShipping, topics, type OrderPlaced, type Shipped } from './services.ts';

const kactus = new Kactus({ brokers: [process.env.KACTUS_BOOTSTRAP ?? 'ws://127.0.0.1:9191'], clientId: 'order-pipeline' });
const admin = kactus.admin();
const existing = await admin.listTopics();
for (const topic of topics) if (!existing.includes(topic)) await admin.createTopics({ topics: [{ topic, numPartitions: 3, replicationFactor: 3 }] });

const runId = Date.now().toString(36);
const services = [startPayments(kactus, runId), startShipping(kactus, runId)];

const orders: OrderPlaced[] = Array.from({ length: 5 }, (_, i) => ({ orderId: `${runId}-order-${i}`, amountCents: 1_000 + i, runId }));
await kactus.producer({ acks: 'all' }).send({ topic: 'orders', messages: orders.map((order) => ({ key: order.orderId, value: JSON.stringify(order) })) });
console.log(`placed ${orders.length} orders`);

const watcher = kactus.consumer({ groupId: `shipments-watch-${runId}`, autoOffsetReset: 'earliest', ackMode: 'onDelivery' }).subscribe(['shipments']);
const shipped = await firstValueFrom(
  watcher.messages$.pipe(
    map((record) => JSON.parse(record.value?.toString() ?? '{}') as Shipped),
    filter((event) => event.runId === runId),
    take(orders.length),
    toArray(),
  ),
);
for (const event of shipped) console.log(`shipped ${event.orderId}: payment ${event.paymentId}, tracking ${event.trackingId}`);
for (const subscription of services) subscription.unsubscribe();
await kactus.close();
