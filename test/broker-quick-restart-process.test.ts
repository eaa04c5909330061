/**
 * A broker restarted at once after a SIGKILL (what `npm start` does after a
 * crash, or a second `npm start` on the same data dir) registers again: its
 * first RegisterBroker meets its previous incarnation's live session
 * (DUPLICATE_BROKER_REGISTRATION) and must be retried until that session
 * expires. Regression: the retry was scheduled without the controller
 * client's own-message wrapper, refused as foreign input, and the broker
 * stayed unregistered (fenced, out of every ISR) for good. Method: three
 * broker processes, an RF 3 topic, all three SIGKILLed and started again with
 * no pause; every broker must be back, unfenced, in every ISR.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { killAllChildren } from './support/processes.ts';
import { startTestCluster, type TestCluster } from './support/cluster.ts';
import { brokerConfigDefault } from '../actors/broker/config.ts';

let cluster: TestCluster | undefined;
afterEach(async () => {
  await killAllChildren();
  await cluster?.cleanup();
  cluster = undefined;
});

describe('brokers restarted at once after SIGKILL', () => {
  it('registers again once its old session expires and rejoins every ISR', async () => {
    const c = (cluster = await startTestCluster(3));
    const created = await c.admin<{ topics: { errorCode: number }[] }>({ type: 'CreateTopics', validateOnly: false, topics: [{ name: 'quick', numPartitions: 3, replicationFactor: 3, assignments: null, configs: [] }] });
    expect(created.topics[0]!.errorCode).toBe(0);
    await c.waitForLeaders('quick', 3, 3);
    // The whole cluster at once, as a second `npm start` on the same data dir: the new controller replays
    // registrations that look live until their sessions expire.
    await Promise.all([1, 2, 3].map((id) => c.killBroker(id)));
    const restartedAt = Date.now();
    await Promise.all([1, 2, 3].map((id) => c.startBroker(id)));
    // Past the old incarnation's session: unregistered, broker 3 would now be fenced and out of every ISR for good.
    await new Promise((resolve) => setTimeout(resolve, brokerConfigDefault.brokerSessionTimeoutMs + 2_000));
    const topic = await c.waitForLeaders('quick', 3, 3, 45_000);
    expect(topic.partitions.every((p) => p.isr.includes(3))).toBe(true);
    const meta = await c.metadata(null);
    expect(meta.brokers.map((b) => b.brokerId).sort()).toEqual([1, 2, 3]);
    process.stdout.write(`${JSON.stringify({ test: 'broker-quick-restart', backInEveryIsrMs: Date.now() - restartedAt })}\n`);
  }, 90_000);
});
