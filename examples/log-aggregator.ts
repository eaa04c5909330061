/**
 * Log aggregation: three services write structured log lines to `app-logs`,
 * keyed by service (so each service's lines stay in order on one partition);
 * an aggregator consumes them in a group and prints, every second, how many
 * lines of each level each service wrote in that window (RxJS bufferTime).
 *
 * Run against `npm start`'s cluster: npx tsx examples/log-aggregator.ts
 * It runs for about five seconds and exits.
 */
import { bufferTime, filter, map, take } from 'rxjs';
import { Kactus } from '../client/index.ts';

type LogLine = { service: string; level: 'info' | 'warn' | 'error'; message: string; runId: string };
const kactus = new Kactus({ brokers: [process.env.KACTUS_BOOTSTRAP ?? 'ws://127.0.0.1:9191'], clientId: 'log-aggregator' });
const admin = kactus.admin();
if (!(await admin.listTopics()).includes('app-logs')) await admin.createTopics({ topics: [{ topic: 'app-logs', numPartitions: 3, replicationFactor: 3 }] });

const runId = Date.now().toString(36);
const producer = kactus.producer({ acks: 1, lingerMs: 20 });
const services = ['checkout', 'search', 'auth'];
const levels: LogLine['level'][] = ['info', 'info', 'info', 'warn', 'error'];
let sequence = 0;
const writer = setInterval(() => {
  const messages = services.map((service) => {
    const line: LogLine = { service, level: levels[(sequence + service.length) % levels.length]!, message: `request ${sequence}`, runId };
    return { key: service, value: JSON.stringify(line) };
  });
  sequence += 1;
  void producer.send({ topic: 'app-logs', messages });
}, 20);

const consumer = kactus.consumer({ groupId: `log-aggregator-${runId}`, autoOffsetReset: 'earliest', ackMode: 'onDelivery' }).subscribe(['app-logs']);
consumer.messages$
  .pipe(
    map((record) => JSON.parse(record.value?.toString() ?? '{}') as LogLine),
    filter((line) => line.runId === runId),
    bufferTime(1_000),
    filter((window) => window.length > 0),
    take(5),
  )
  .subscribe({
    next: (window) => {
      const counts = new Map<string, number>();
      for (const line of window) counts.set(`${line.service}/${line.level}`, (counts.get(`${line.service}/${line.level}`) ?? 0) + 1);
      console.log([...counts].sort().map(([key, count]) => `${key}=${count}`).join('  '));
    },
    complete: () => {
      clearInterval(writer);
      void kactus.close();
    },
  });
