/**
 * The sender's retry timing when a leader fails (#20, item 5), on fakes of
 * its connection and metadata: a retry goes to a new leader as soon as the
 * metadata names one (Kafka's KIP-951), not after the backoff meant for the
 * leader that failed; a leader the runtime holds down is treated as no
 * leader. The backoff here is a minute, beyond the test's timeout, so a
 * delivery that completes proves the wait was skipped.
 */
import { describe, expect, it } from 'vitest';
import { ErrorCode, KactusError } from '../../protocol/errors.ts';
import { createLogger } from '../../runtime/logger.ts';
import type { Connection } from '../connection.ts';
import type { MetadataCache } from '../metadata-cache.ts';
import { parseProducerOptions } from '../options.ts';
import { ProducerBatch, type RecordOwner } from './accumulator.ts';
import { Sender } from './sender.ts';

const minuteBackoff = parseProducerOptions({ acks: 'all', idempotent: false, retryBackoffMs: 60_000, retryBackoffMsMax: 60_000 });

function harness(options: { leader: number; down?: Set<number>; answer: (broker: number) => 'ok' | KactusError }) {
  let leader = options.leader;
  const asked: number[] = [];
  let refreshes = 0;
  /** Set by the test: what the next refresh makes the leader. */
  let leaderAfterRefresh = leader;
  const connection = {
    isDown: (broker: number) => options.down?.has(broker) ?? false,
    ask: (broker: number) => {
      asked.push(broker);
      const answer = options.answer(broker);
      return answer === 'ok' ? Promise.resolve({ type: 'ProduceReply', errorCode: 0, errorMessage: null, baseOffset: 7, logAppendTimeMs: -1 }) : Promise.reject(answer);
    },
  } as unknown as Connection;
  const refresh = (): Promise<unknown> => {
    refreshes += 1;
    return Promise.resolve().then(() => {
      leader = leaderAfterRefresh;
    });
  };
  const metadata = {
    leaderOf: () => leader,
    onError: () => refresh(),
    refresh,
  } as unknown as MetadataCache;
  const sender = new Sender({
    connection,
    metadata,
    config: minuteBackoff,
    idempotence: undefined,
    log: createLogger({ test: 'sender' }, 'silent'),
    nowMs: () => Date.now(),
    random: () => 0.5,
    onDone: () => undefined,
    requestProducerId: () => undefined,
  });
  const send = (): Promise<number> =>
    new Promise((resolve, reject) => {
      const batch = new ProducerBatch('t', 0, 0, Date.now());
      const owner: RecordOwner = { complete: (_i, _t, _p, offset) => resolve(offset), fail: reject };
      batch.add({ key: null, value: Buffer.from('v'), headers: [], timestamp: Date.now() }, 20, owner, 0);
      sender.enqueue([batch]);
      sender.run();
    });
  return {
    sender,
    send,
    asked,
    refreshes: () => refreshes,
    setLeaderAfterRefresh(next: number) {
      leaderAfterRefresh = next;
    },
  };
}

const settle = async (): Promise<void> => {
  for (let i = 0; i < 5; i += 1) await Promise.resolve();
};

describe('producer sender: retries after a leader fails', () => {
  it('sends the retry to the new leader as soon as the refreshed metadata names it, without the backoff', async () => {
    const h = harness({ leader: 1, answer: (broker) => (broker === 1 ? new KactusError(ErrorCode.NETWORK_EXCEPTION, 'broker 1 is down') : 'ok') });
    h.setLeaderAfterRefresh(2);
    expect(await h.send()).toBe(7);
    expect(h.asked).toEqual([1, 2]);
    h.sender.close();
  });

  it('waits out the backoff when the refreshed metadata names the leader that failed', async () => {
    const h = harness({ leader: 1, answer: () => new KactusError(ErrorCode.NOT_ENOUGH_REPLICAS, 'only 1 in sync') });
    const outcome = h.send().catch((err: unknown) => err);
    await settle();
    expect(h.refreshes()).toBe(1);
    await settle();
    expect(h.asked).toEqual([1]); // the refresh named broker 1 again: no second attempt before retryAtMs
    h.sender.close();
    void outcome;
  });

  it('treats a leader the runtime holds down as no leader: refreshes, and sends to the one the metadata names next', async () => {
    const h = harness({ leader: 1, down: new Set([1]), answer: () => 'ok' });
    h.setLeaderAfterRefresh(3);
    expect(await h.send()).toBe(7);
    expect(h.asked).toEqual([3]);
    expect(h.refreshes()).toBe(1);
    h.sender.close();
  });
});
