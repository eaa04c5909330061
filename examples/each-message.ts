/**
 * A KafkaJS-style worker: `run({ eachMessage })` with the group's commits
 * done for you (each record is committed once its handler resolved), and the
 * instrumentation events KafkaJS users hook into (GROUP_JOIN, CRASH). It
 * writes ten jobs, processes them as a member of group "workers", and stops
 * once all ten are done; a second run finds nothing left but its own ten.
 *
 * Run against `npm start`'s cluster: npx tsx examples/each-message.ts
 * (KACTUS_BOOTSTRAP=ws://host:port overrides the broker address.)
 */
import { Kactus } from '../client/index.ts'; // in your app: from 'kactus'

const kactus = new Kactus({ brokers: [process.env.KACTUS_BOOTSTRAP ?? 'ws://127.0.0.1:9191'], clientId: 'each-message-example' });
const admin = kactus.admin();
if (!(await admin.listTopics()).includes('jobs')) await admin.createTopics({ topics: [{ topic: 'jobs', numPartitions: 3, replicationFactor: 3 }] });

const runId = Date.now().toString(36);
const producer = kactus.producer({ acks: 'all' });
await producer.send({ topic: 'jobs', messages: Array.from({ length: 10 }, (_, i) => ({ key: `job-${i}`, value: `${runId}:${i}` })) });

const consumer = kactus.consumer({ groupId: 'workers', autoOffsetReset: 'earliest' }).subscribe('jobs');
consumer.on(consumer.events.GROUP_JOIN, ({ payload }) => console.log(`joined group ${payload.groupId} as ${payload.isLeader ? 'leader' : 'member'}: ${JSON.stringify(payload.memberAssignment)}`));
consumer.on(consumer.events.CRASH, ({ payload }) => console.error(`consumer crashed: ${String(payload.error)}`));

let done = 0;
const allDone = new Promise<void>((resolve) => {
  void consumer.run({
    partitionsConsumedConcurrently: 3,
    eachMessage: async ({ partition, message }) => {
      const [run, job] = (message.value?.toString() ?? '').split(':');
      if (run !== runId) return; // an earlier run's job this group had not committed
      await new Promise((r) => setTimeout(r, 10)); // the work
      console.log(`partition ${partition} offset ${message.offset}: ${message.key} done (job ${job})`);
      if (++done === 10) resolve();
    },
  });
});
await allDone;
await kactus.close(); // stops the run, commits what finished, leaves the group
console.log(`processed ${done} jobs`);
