import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../../../protocol/errors.ts';
import {
  findExpiredBrokers,
  generateBrokerHeartbeat,
  generateFence,
  generateRegisterBroker,
  type RegisterBrokerCommand,
} from './brokers.ts';
import { emptyImage, isBrokerActive, replayBatch } from './image.ts';
import { apply, brokerEpochOf, clusterImage, partitionState, registerAndUnfence, withTopic } from './test-fixtures.ts';

const register = (brokerId: number, incarnationId: string, extra: Partial<RegisterBrokerCommand> = {}): RegisterBrokerCommand => ({
  type: 'RegisterBroker',
  brokerId,
  incarnationId,
  host: 'localhost',
  port: 9000 + brokerId,
  rack: null,
  ...extra,
});
const noSession = { nowMs: 0, sessionTimeoutMs: 3_000, lastHeartbeatMs: undefined };

describe('RegisterBroker and heartbeats', () => {
  it('registers fenced with a new epoch; a heartbeat with wantFence=false unfences', () => {
    const registered = generateRegisterBroker(emptyImage, register(1, 'inc-a'), noSession);
    expect(registered.reply).toMatchObject({ errorCode: 0, brokerEpoch: 1 });
    const image = apply(emptyImage, registered);
    expect(image.brokers.get(1)).toMatchObject({ fenced: true, brokerEpoch: 1, incarnationId: 'inc-a' });

    const stillStarting = generateBrokerHeartbeat(image, { type: 'BrokerHeartbeat', brokerId: 1, brokerEpoch: 1, wantFence: true });
    expect(stillStarting).toMatchObject({ records: [], reply: { errorCode: 0, isFenced: true } });

    const ready = generateBrokerHeartbeat(image, { type: 'BrokerHeartbeat', brokerId: 1, brokerEpoch: 1, wantFence: false });
    expect(ready.reply).toMatchObject({ errorCode: 0, isFenced: false });
    expect(isBrokerActive(apply(image, ready), 1)).toBe(true);
  });

  it.each([
    { name: 'unknown broker', brokerId: 9, brokerEpoch: 1, errorCode: ErrorCode.BROKER_ID_NOT_REGISTERED },
    { name: 'stale epoch', brokerId: 1, brokerEpoch: 0, errorCode: ErrorCode.STALE_BROKER_EPOCH },
  ])('heartbeat refuses $name', ({ brokerId, brokerEpoch, errorCode }) => {
    const result = generateBrokerHeartbeat(clusterImage([1]), { type: 'BrokerHeartbeat', brokerId, brokerEpoch, wantFence: false });
    expect(result.reply.errorCode).toBe(errorCode);
    expect(result.records).toEqual([]);
  });

  it('a retried registration (same incarnation and address) is answered with the same epoch and writes nothing', () => {
    const image = clusterImage([1]);
    const retry = generateRegisterBroker(image, register(1, image.brokers.get(1)!.incarnationId), noSession);
    expect(retry).toEqual({ records: [], reply: expect.objectContaining({ errorCode: 0, brokerEpoch: brokerEpochOf(image, 1) }) });
  });

  it('a new incarnation while the old one still has a live session is DUPLICATE_BROKER_REGISTRATION', () => {
    const image = clusterImage([1]);
    const result = generateRegisterBroker(image, register(1, 'other'), { nowMs: 5_000, sessionTimeoutMs: 3_000, lastHeartbeatMs: 4_000 });
    expect(result.reply.errorCode).toBe(ErrorCode.DUPLICATE_BROKER_REGISTRATION);
  });

  it('re-register with a new incarnation: new, larger epoch, fenced, out of every ISR, leadership moved', () => {
    const image = withTopic(clusterImage([1, 2, 3]), 't', 3, 3);
    const oldEpoch = brokerEpochOf(image, 1);
    const result = generateRegisterBroker(image, register(1, 'restarted'), { nowMs: 10_000, sessionTimeoutMs: 3_000, lastHeartbeatMs: 1_000 });
    expect(result.reply.errorCode).toBe(0);
    expect(result.reply.brokerEpoch).toBeGreaterThan(oldEpoch);
    const after = apply(image, result);
    expect(after.brokers.get(1)).toMatchObject({ fenced: true, incarnationId: 'restarted' });
    for (const p of [0, 1, 2]) {
      const state = partitionState(after, 't', p);
      expect(state.isr).not.toContain(1);
      expect(state.leader).not.toBe(1);
    }
    expect(partitionState(after, 't', 0)).toMatchObject({ leader: 2, leaderEpoch: 1, isr: [2, 3] });
    // The old incarnation's heartbeats are now stale.
    const stale = generateBrokerHeartbeat(after, { type: 'BrokerHeartbeat', brokerId: 1, brokerEpoch: oldEpoch, wantFence: false });
    expect(stale.reply.errorCode).toBe(ErrorCode.STALE_BROKER_EPOCH);
  });

  it('heartbeat with wantFence=true on an active broker fences it (controlled shutdown)', () => {
    const image = withTopic(clusterImage([1, 2]), 't', 1, 2);
    const result = generateBrokerHeartbeat(image, { type: 'BrokerHeartbeat', brokerId: 1, brokerEpoch: brokerEpochOf(image, 1), wantFence: true });
    expect(result.reply.isFenced).toBe(true);
    const after = apply(image, result);
    expect(isBrokerActive(after, 1)).toBe(false);
    expect(partitionState(after, 't', 0)).toMatchObject({ leader: 2, isr: [2] });
  });
});

describe('fencing (failover)', () => {
  it('each partition the fenced broker led gets the first live ISR member in replica order, leader epoch + 1', () => {
    // brokers 1..4, RF 3: partitions 0..3 replicas [1,2,3] [2,3,4] [3,4,1] [4,1,2]
    const image = withTopic(clusterImage([1, 2, 3, 4]), 't', 4, 3);
    expect(partitionState(image, 't', 0).replicas).toEqual([1, 2, 3]);
    const fence = generateFence(image, 1);
    expect(fence.reply.fenced).toBe(true);
    expect(fence.records.at(-1)).toEqual({ type: 'FenceBroker', brokerId: 1, brokerEpoch: brokerEpochOf(image, 1) });
    const after = apply(image, fence);
    expect(partitionState(after, 't', 0)).toMatchObject({ leader: 2, leaderEpoch: 1, partitionEpoch: 1, isr: [2, 3] });
    // Broker 1 was only a follower here: the ISR shrinks, the leader and its epoch stay.
    expect(partitionState(after, 't', 2)).toMatchObject({ leader: 3, leaderEpoch: 0, partitionEpoch: 1, isr: [3, 4] });
    expect(partitionState(after, 't', 1)).toMatchObject({ leader: 2, leaderEpoch: 0, partitionEpoch: 0 });
  });

  it('a later replica in replica order is chosen when earlier ones are fenced', () => {
    let image = withTopic(clusterImage([1, 2, 3]), 't', 1, 3);
    image = apply(image, generateFence(image, 2));
    image = apply(image, generateFence(image, 1));
    expect(partitionState(image, 't', 0)).toMatchObject({ leader: 3, leaderEpoch: 1, isr: [3] });
  });

  it('when the last ISR member is fenced the partition goes offline and keeps it in the ISR', () => {
    let image = withTopic(clusterImage([1, 2]), 't', 1, 2);
    image = apply(image, generateFence(image, 2));
    image = apply(image, generateFence(image, 1));
    expect(partitionState(image, 't', 0)).toMatchObject({ leader: -1, isr: [1], leaderEpoch: 1 });
  });

  it('no live ISR member but unclean.leader.election.enable: the first live replica leads with ISR = [it]', () => {
    let image = withTopic(clusterImage([1, 2, 3]), 'u', 1, 3, [{ name: 'unclean.leader.election.enable', value: 'true' }]);
    // ISR shrinks to [1] (followers 2 and 3 fell behind), then 1 dies while 3 is alive.
    image = apply(image, generateFence(image, 2));
    image = apply(image, generateFence(image, 3));
    image = registerAndUnfence(image, 3, 'inc-3b');
    expect(partitionState(image, 'u', 0)).toMatchObject({ leader: 1, isr: [1] });
    image = apply(image, generateFence(image, 1));
    expect(partitionState(image, 'u', 0)).toMatchObject({ leader: 3, isr: [3] });
  });

  it('without unclean election the same sequence leaves the partition offline until broker 1 returns', () => {
    let image = withTopic(clusterImage([1, 2, 3]), 'c', 1, 3);
    image = apply(image, generateFence(image, 2));
    image = apply(image, generateFence(image, 3));
    image = registerAndUnfence(image, 3, 'inc-3b');
    image = apply(image, generateFence(image, 1));
    expect(partitionState(image, 'c', 0)).toMatchObject({ leader: -1, isr: [1] });
    // Broker 1 comes back (same data on disk): it is unfenced and elected cleanly.
    const epoch = brokerEpochOf(image, 1);
    const unfence = generateBrokerHeartbeat(image, { type: 'BrokerHeartbeat', brokerId: 1, brokerEpoch: epoch, wantFence: false });
    image = apply(image, unfence);
    expect(partitionState(image, 'c', 0)).toMatchObject({ leader: 1, isr: [1] });
  });

  it('fencing is idempotent and fences only the named incarnation', () => {
    const image = clusterImage([1]);
    expect(generateFence(image, 1, brokerEpochOf(image, 1) + 100).records).toEqual([]);
    const fenced = apply(image, generateFence(image, 1));
    expect(generateFence(fenced, 1)).toEqual({ records: [], reply: { type: 'FenceBrokerReply', fenced: false } });
    expect(generateFence(fenced, 42).records).toEqual([]);
  });
});

describe('findExpiredBrokers', () => {
  it.each([
    { now: 2_999, expired: [] },
    { now: 3_000, expired: [1] },
    { now: 4_500, expired: [1, 2] },
  ])('at $now ms: $expired', ({ now, expired }) => {
    const last = new Map([
      [2, 1_500],
      [1, 0],
      [3, 4_000],
    ]);
    expect(findExpiredBrokers(last, now, 3_000)).toEqual(expired);
  });
});

describe('broker epochs', () => {
  it('every registration gets a larger epoch than any before, across brokers', () => {
    const image = clusterImage([3, 1, 2]);
    expect([3, 1, 2].map((id) => brokerEpochOf(image, id))).toEqual([1, 2, 3]);
    const again = registerAndUnfence(replayBatch(image, generateFence(image, 1).records), 1, 'new');
    expect(brokerEpochOf(again, 1)).toBe(4);
  });
});
