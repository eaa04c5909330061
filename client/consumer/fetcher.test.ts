/**
 * The consumer fetcher against a scripted connection: which fetch answers
 * may move a partition's position and deliver records.
 *
 * Found by the chaos harness (seed 4, 300 s, txn workloads): a consumer's
 * process threw "progress: delivered offsets increase" (an uncaught
 * AssertionError in the user's process). When a partition's leader moves,
 * the fetcher asks the new leader at once, while the fetch to the old leader
 * may still be in flight (a paused broker answers late); both fetches start
 * at the same position. The first answer delivered records and moved the
 * position; the second, accepted because its epoch had not changed,
 * delivered the same records again.
 */
import { describe, expect, it } from 'vitest';
import type { Fetch, FetchReply } from '../../protocol/apis/data.ts';
import { encodeBatch } from '../../protocol/record-batch/index.ts';
import type { ClientContext } from '../kactus.ts';
import { retryPolicyDefault } from '../retry.ts';
import { Fetcher, type FetchedChunk } from './fetcher.ts';

type Pending = { leader: number; fetchOffset: number; resolve: (reply: FetchReply) => void };

function scriptedContext(): { context: ClientContext; pending: Pending[]; setLeader: (id: number) => void } {
  let leader = 1;
  const pending: Pending[] = [];
  const connection = {
    ask: (brokerId: number, _path: string, makeMessage: (replyTo: unknown) => Fetch) =>
      new Promise<FetchReply>((resolve) => {
        const request = makeMessage({ node: 'client', path: '/temp/1' });
        pending.push({ leader: brokerId, fetchOffset: request.partitions[0]!.fetchOffset, resolve });
      }),
  };
  const metadata = {
    track: () => undefined,
    leaderOf: () => leader,
    onError: () => undefined,
    refresh: () => Promise.resolve(),
  };
  const context = { connection, metadata, retry: retryPolicyDefault } as unknown as ClientContext;
  return { context, pending, setLeader: (id) => (leader = id) };
}

/** An answer holding offsets [from, from + count) of t-0. */
function answer(from: number, count: number): FetchReply {
  const batch = encodeBatch({ baseOffset: from, records: Array.from({ length: count }, (_, i) => ({ key: null, value: Buffer.from(`v${from + i}`), timestamp: 0 })) });
  return {
    type: 'FetchReply',
    errorCode: 0,
    partitions: [{ topic: 't', partition: 0, errorCode: 0, highWatermark: from + count, lastStableOffset: from + count, logStartOffset: 0, records: batch, divergingEpoch: null }],
  } as FetchReply;
}

const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('consumer fetcher: two fetches of one partition in flight', () => {
  it('delivers the records of the first answer only; the late answer from the old leader is dropped', async () => {
    const { context, pending, setLeader } = scriptedContext();
    const chunks: FetchedChunk[] = [];
    const fetcher = new Fetcher(
      context,
      { fetchMaxWaitMs: 500, fetchMinBytes: 1, fetchMaxBytes: 1 << 20, partitionFetchMaxBytes: 1 << 20, requestTimeoutMs: 30_000, autoOffsetReset: 'earliest', isolationLevel: 0 },
      { room: () => 8 << 20, sink: (chunk) => chunks.push(chunk), pendingOf: () => 0, onFatal: (err) => expect.fail(err.message) },
    );
    fetcher.assign('t', 0, 10);
    expect(pending.map((p) => [p.leader, p.fetchOffset])).toEqual([[1, 10]]);
    // The leader moves to broker 2 while broker 1's long poll is out: the next kick asks broker 2 too.
    setLeader(2);
    fetcher.kick();
    expect(pending.map((p) => [p.leader, p.fetchOffset])).toEqual([[1, 10], [2, 10]]);

    pending[1]!.resolve(answer(10, 3));
    await turn();
    expect(fetcher.position('t\u00000')).toBe(13);
    pending[0]!.resolve(answer(10, 3));
    await turn();

    const delivered = chunks.flatMap((c) => c.records.map((r) => r.offset));
    expect(delivered).toEqual([10, 11, 12]);
    fetcher.stop();
  });
});
