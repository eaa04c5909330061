/**
 * Quickstart: create a topic, produce a record, print where it landed.
 * Run against `npm start`'s cluster: npx tsx examples/quickstart.ts
 * (KACTUS_BOOTSTRAP=ws://host:port overrides the broker address.)
 */
import { Kactus } from '../client/index.ts'; // in your app: from 'kactus'

const kactus = new Kactus({ brokers: [process.env.KACTUS_BOOTSTRAP ?? 'ws://127.0.0.1:9191'], clientId: 'quickstart' });
const admin = kactus.admin();
if (!(await admin.listTopics()).includes('orders')) {
  await admin.createTopics({ topics: [{ topic: 'orders', numPartitions: 3, replicationFactor: 3 }] });
}
const producer = kactus.producer({ acks: 'all' }); // idempotent by default
const [sent] = await producer.send({ topic: 'orders', messages: [{ key: 'order-1', value: 'paid' }] });
console.log(`written to orders partition ${sent!.partition} at offset ${sent!.offset}`);
await kactus.close();
