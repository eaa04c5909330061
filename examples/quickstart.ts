/**
 * Quickstart: create a topic, produce two records with acks=all, and consume
 * them with RxJS as a member of a consumer group (the README's quickstart,
 * line for line). Each run reads the records it wrote: the group commits
 * what it delivered (ackMode 'onDelivery'), so the next run starts after it.
 *
 * Run against `npm start`'s cluster: npx tsx examples/quickstart.ts
 * (KACTUS_BOOTSTRAP=ws://host:port overrides the broker address.)
 */
import { firstValueFrom, take, toArray } from 'rxjs';
import { Kactus } from '../client/index.ts'; // in your app: from 'kactus'

const kactus = new Kactus({ brokers: [process.env.KACTUS_BOOTSTRAP ?? 'ws://127.0.0.1:9191'], clientId: 'quickstart' });
const admin = kactus.admin();
if (!(await admin.listTopics()).includes('greetings')) await admin.createTopics({ topics: [{ topic: 'greetings', numPartitions: 3, replicationFactor: 3 }] });
const producer = kactus.producer({ acks: 'all' }); // idempotent by default
await producer.send({ topic: 'greetings', messages: [{ key: 'alice', value: 'hello' }, { key: 'bob', value: 'world' }] });
const consumer = kactus.consumer({ groupId: 'quickstart', autoOffsetReset: 'earliest', ackMode: 'onDelivery' }).subscribe(['greetings']);
const records = await firstValueFrom(consumer.messages$.pipe(take(2), toArray()));
for (const r of records) console.log(`partition ${r.partition} offset ${r.offset}: ${r.key} -> ${r.value}`);
await kactus.close();
