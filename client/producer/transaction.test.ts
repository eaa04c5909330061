/**
 * TransactionManager (transaction.ts) against a scripted coordinator. Goal:
 * the requests a transactional producer sends, in order, and what it does
 * with each answer: coordinator moves and CONCURRENT_TRANSACTIONS are
 * retried, AddPartitionsToTxn is batched and gates the partition, sendOffsets
 * is AddOffsetsToTxn then TxnOffsetCommit with the member's generation,
 * EndTxn's epoch is adopted (sequences restart), fencing is fatal for every
 * later call, and refused partitions make the transaction abort-only.
 * Method: a fake connection whose `ask` calls a handler per request; no
 * broker, no timers beyond the manager's own short backoffs.
 */
import { describe, expect, it } from 'vitest';
import { ErrorCode, KactusError } from '../../protocol/errors.ts';
import { createLogger } from '../../runtime/logger.ts';
import type { Connection } from '../connection.ts';
import { IdempotenceState } from './idempotence.ts';
import { TransactionManager } from './transaction.ts';

type Sent = { node: string; path: string; body: Record<string, unknown> };
type Handler = (sent: Sent) => Record<string, unknown>;

function setup(handler: Handler) {
  const sent: Sent[] = [];
  const calls: string[] = [];
  const connection = {
    pickBroker: () => 1,
    node: {
      peerStatus: () => 'up',
      addPeer: () => undefined,
      ask: async (ref: { node: string; path: string }, make: (replyTo: unknown) => Record<string, unknown>) => {
        const body = make({ node: 'client', path: '/temp/x' });
        const s = { node: ref.node, path: ref.path, body };
        sent.push(s);
        await Promise.resolve();
        return handler(s);
      },
    },
  } as unknown as Connection;
  const idempotence = new IdempotenceState();
  const manager = new TransactionManager({
    transactionalId: 'tx-1',
    transactionTimeoutMs: 60_000,
    connection,
    retry: { retriesMax: 5, backoffMsInitial: 1, backoffMsMax: 5, multiplier: 2, jitterRatio: 0 },
    requestTimeoutMs: 1_000,
    deliveryTimeoutMs: 5_000,
    idempotence,
    log: createLogger({ test: 'txn' }, 'silent'),
    hooks: {
      dropUnsent: (e) => void calls.push(`dropUnsent:${e.type}`),
      flush: async () => void calls.push('flush'),
      whenIdle: async () => void calls.push('whenIdle'),
      failEverything: (e) => void calls.push(`failEverything:${e.type}`),
      resumeSender: () => void calls.push('resumeSender'),
      runSender: () => void calls.push('runSender'),
    },
  });
  const types = (): string[] => sent.map((s) => `${s.path} ${String(s.body.type)}@${s.node}`);
  return { manager, sent, calls, idempotence, types };
}

/** A coordinator on node 2 for transactions and node 3 for the group; `override` may answer first. */
function coordinator(override: (s: Sent, count: number) => Record<string, unknown> | undefined = () => undefined): Handler {
  let epoch = 0;
  const counts = new Map<string, number>();
  return (s) => {
    const type = String(s.body.type);
    const count = (counts.get(type) ?? 0) + 1;
    counts.set(type, count);
    const forced = override(s, count);
    if (forced !== undefined) return forced;
    switch (type) {
      case 'FindTxnCoordinator':
        return { type: 'FindCoordinatorReply', errorCode: 0, errorMessage: null, nodeId: 2, host: '127.0.0.1', port: 1 };
      case 'FindCoordinator':
        return { type: 'FindCoordinatorReply', errorCode: 0, errorMessage: null, nodeId: 3, host: '127.0.0.1', port: 1 };
      case 'InitProducerId':
        return { type: 'InitProducerIdReply', errorCode: 0, errorMessage: null, producerId: 7, producerEpoch: epoch };
      case 'AddPartitionsToTxn':
        return { type: 'AddPartitionsToTxnReply', results: (s.body.partitions as { topic: string; partition: number }[]).map((p) => ({ ...p, errorCode: 0 })) };
      case 'AddOffsetsToTxn':
        return { type: 'AddOffsetsToTxnReply', errorCode: 0 };
      case 'TxnOffsetCommit':
        return { type: 'TxnOffsetCommitReply', errorCode: 0, errorMessage: null, results: (s.body.offsets as { topic: string; partition: number }[]).map((o) => ({ topic: o.topic, partition: o.partition, errorCode: 0 })) };
      case 'EndTxn':
        epoch = Number(s.body.producerEpoch) + 1;
        return { type: 'EndTxnReply', errorCode: 0, producerId: 7, producerEpoch: epoch };
      default:
        throw new Error(`unexpected ${type}`);
    }
  };
}

const settle = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 20));

describe('transaction manager', () => {
  it('inits through the coordinator, retrying a loading coordinator and finding a moved one again', async () => {
    const t = setup(
      coordinator((s, n) => {
        if (s.body.type === 'InitProducerId' && n === 1) return { errorCode: ErrorCode.COORDINATOR_LOAD_IN_PROGRESS, producerId: -1, producerEpoch: -1 };
        if (s.body.type === 'InitProducerId' && n === 2) return { errorCode: ErrorCode.CONCURRENT_TRANSACTIONS, producerId: -1, producerEpoch: -1 };
        return undefined;
      }),
    );
    await t.manager.initProducerId();
    expect(t.types()).toEqual(['/transactions FindTxnCoordinator@1', '/transactions InitProducerId@2', '/transactions FindTxnCoordinator@1', '/transactions InitProducerId@2', '/transactions InitProducerId@2']);
    expect(t.sent[1]!.body).toMatchObject({ transactionalId: 'tx-1', transactionTimeoutMs: 60_000, producerId: -1, producerEpoch: -1 });
    expect(t.idempotence.producerId).toBe(7);
    expect(t.manager.phase).toBe('ready');
  });

  it('adds the partitions asked for in one turn with one request, then lets their batches go', async () => {
    const t = setup(coordinator());
    await t.manager.initProducerId();
    t.manager.begin(async () => []);
    expect(t.manager.partitionReady('a', 0)).toBe(false);
    expect(t.manager.partitionReady('a', 1)).toBe(false);
    expect(t.manager.partitionReady('a', 0)).toBe(false);
    await settle();
    const adds = t.sent.filter((s) => s.body.type === 'AddPartitionsToTxn');
    expect(adds).toHaveLength(1);
    expect(adds[0]!.body).toMatchObject({ transactionalId: 'tx-1', producerId: 7, producerEpoch: 0, partitions: [{ topic: 'a', partition: 0 }, { topic: 'a', partition: 1 }] });
    expect(t.manager.partitionReady('a', 0)).toBe(true);
    expect(t.manager.partitionReady('a', 1)).toBe(true);
    expect(t.calls).toContain('runSender');
  });

  it('commits: offsets (AddOffsetsToTxn, then TxnOffsetCommit to the group coordinator), flush, EndTxn, and adopts the bumped epoch', async () => {
    const t = setup(coordinator());
    await t.manager.initProducerId();
    const txn = t.manager.begin(async () => []);
    t.manager.partitionReady('out', 0);
    await settle();
    await txn.sendOffsets({ groupMetadata: { groupId: 'g', memberId: 'm-1', generationId: 4, groupInstanceId: null }, offsets: [{ topic: 'in', partition: 2, offset: 11 }] });
    await txn.commit();
    expect(t.types().slice(2)).toEqual(['/transactions AddPartitionsToTxn@2', '/transactions AddOffsetsToTxn@2', '/groups FindCoordinator@1', '/groups TxnOffsetCommit@3', '/transactions EndTxn@2']);
    expect(t.sent.find((s) => s.body.type === 'TxnOffsetCommit')!.body).toMatchObject({ transactionalId: 'tx-1', groupId: 'g', producerId: 7, producerEpoch: 0, memberId: 'm-1', generationId: 4, offsets: [{ topic: 'in', partition: 2, offset: 11, metadata: null }] });
    expect(t.sent.find((s) => s.body.type === 'EndTxn')!.body).toMatchObject({ committed: true, producerId: 7, producerEpoch: 0 });
    expect(t.idempotence.producerEpoch).toBe(1);
    expect(t.calls).toContain('flush');
    expect(t.manager.phase).toBe('ready');
    // The next transaction uses the new epoch.
    const next = t.manager.begin(async () => []);
    t.manager.partitionReady('out', 0);
    await settle();
    expect(t.sent.at(-1)!.body).toMatchObject({ type: 'AddPartitionsToTxn', producerEpoch: 1 });
    await next.abort();
    expect(t.sent.at(-1)!.body).toMatchObject({ type: 'EndTxn', committed: false, producerEpoch: 1 });
    // Ended transactions refuse everything, with no request sent.
    const before = t.sent.length;
    await expect(txn.commit()).rejects.toMatchObject({ code: ErrorCode.INVALID_TXN_STATE });
    await expect(next.commit()).rejects.toMatchObject({ code: ErrorCode.INVALID_TXN_STATE });
    await expect(txn.abort()).rejects.toMatchObject({ code: ErrorCode.INVALID_TXN_STATE });
    await expect(next.sendOffsets({ consumerGroupId: 'g', offsets: [] })).rejects.toMatchObject({ code: ErrorCode.INVALID_TXN_STATE });
    expect(t.sent.length).toBe(before);
  });

  it('closing with a transaction open aborts it (EndTxn abort), as Kafka\'s producer does; nothing open: nothing sent', async () => {
    const t = setup(coordinator());
    await t.manager.initProducerId();
    t.manager.begin(async () => []);
    t.manager.partitionReady('out', 0);
    await settle();
    await t.manager.abortIfOpen();
    expect(t.sent.at(-1)!.body).toMatchObject({ type: 'EndTxn', committed: false, producerId: 7, producerEpoch: 0 });
    expect(t.manager.phase).toBe('ready');
    const before = t.sent.length;
    await t.manager.abortIfOpen();
    expect(t.sent.length).toBe(before);
  });

  it('a transaction that reached no coordinator ends locally, keeping the epoch', async () => {
    const t = setup(coordinator());
    await t.manager.initProducerId();
    await t.manager.begin(async () => []).commit();
    await t.manager.begin(async () => []).abort();
    expect(t.types().filter((x) => x.includes('EndTxn'))).toEqual([]);
    expect(t.idempotence.producerEpoch).toBe(0);
  });

  it('retries EndTxn on CONCURRENT_TRANSACTIONS', async () => {
    const t = setup(coordinator((s, n) => (s.body.type === 'EndTxn' && n <= 2 ? { errorCode: ErrorCode.CONCURRENT_TRANSACTIONS, producerId: -1, producerEpoch: -1 } : undefined)));
    await t.manager.initProducerId();
    const txn = t.manager.begin(async () => []);
    t.manager.partitionReady('out', 0);
    await settle();
    await txn.commit();
    expect(t.types().filter((x) => x.includes('EndTxn'))).toHaveLength(3);
    expect(t.manager.phase).toBe('ready');
  });

  it('PRODUCER_FENCED from EndTxn is fatal: everything pending fails and every later call is PRODUCER_FENCED', async () => {
    const t = setup(coordinator((s) => (s.body.type === 'EndTxn' ? { errorCode: ErrorCode.PRODUCER_FENCED, producerId: -1, producerEpoch: -1 } : undefined)));
    await t.manager.initProducerId();
    const txn = t.manager.begin(async () => []);
    t.manager.partitionReady('out', 0);
    await settle();
    await expect(txn.commit()).rejects.toMatchObject({ code: ErrorCode.PRODUCER_FENCED });
    expect(t.calls).toContain('failEverything:PRODUCER_FENCED');
    expect(() => t.manager.begin(async () => [])).toThrow(KactusError);
    expect(() => t.manager.begin(async () => [])).toThrow(/PRODUCER_FENCED/);
    await expect(txn.abort()).rejects.toMatchObject({ code: ErrorCode.PRODUCER_FENCED });
    expect(t.manager.check({ type: 'send', txnSeq: txn.txnSeq })?.code).toBe(ErrorCode.PRODUCER_FENCED);
  });

  it('INVALID_PRODUCER_EPOCH from TxnOffsetCommit fences too', async () => {
    const t = setup(coordinator((s) => (s.body.type === 'TxnOffsetCommit' ? { errorCode: ErrorCode.INVALID_PRODUCER_EPOCH, errorMessage: null } : undefined)));
    await t.manager.initProducerId();
    const txn = t.manager.begin(async () => []);
    await expect(txn.sendOffsets({ consumerGroupId: 'g', offsets: [{ topic: 'in', partition: 0, offset: 1 }] })).rejects.toMatchObject({ code: ErrorCode.PRODUCER_FENCED });
    expect(t.manager.phase).toBe('fatal');
  });

  it('a partition the coordinator refuses makes the transaction abort-only; the abort still ends it', async () => {
    const t = setup(
      coordinator((s) =>
        s.body.type === 'AddPartitionsToTxn'
          ? { results: (s.body.partitions as { topic: string; partition: number }[]).map((p) => ({ ...p, errorCode: p.partition === 1 ? ErrorCode.UNKNOWN_TOPIC_OR_PARTITION : 0 })) }
          : undefined,
      ),
    );
    await t.manager.initProducerId();
    const txn = t.manager.begin(async () => []);
    t.manager.partitionReady('out', 0);
    t.manager.partitionReady('out', 1);
    await settle();
    expect(t.manager.partitionReady('out', 0)).toBe(true);
    expect(t.manager.refusal('out', 1)?.code).toBe(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION);
    expect(t.manager.phase).toBe('abortable');
    expect(t.calls).toContain('dropUnsent:TRANSACTION_ABORTABLE');
    await expect(txn.commit()).rejects.toMatchObject({ code: ErrorCode.INVALID_TXN_STATE });
    await txn.abort();
    expect(t.sent.at(-1)!.body).toMatchObject({ type: 'EndTxn', committed: false });
    expect(t.manager.phase).toBe('ready');
  });

  it('a stale generation in TxnOffsetCommit is abortable, not fatal', async () => {
    const t = setup(coordinator((s) => (s.body.type === 'TxnOffsetCommit' ? { errorCode: 0, errorMessage: null, results: [{ topic: 'in', partition: 0, errorCode: ErrorCode.ILLEGAL_GENERATION }] } : undefined)));
    await t.manager.initProducerId();
    const txn = t.manager.begin(async () => []);
    await expect(txn.sendOffsets({ groupMetadata: { groupId: 'g', memberId: 'm', generationId: 1, groupInstanceId: null }, offsets: [{ topic: 'in', partition: 0, offset: 5 }] })).rejects.toMatchObject({ code: ErrorCode.ILLEGAL_GENERATION });
    expect(t.manager.phase).toBe('abortable');
    await txn.abort();
    expect(t.manager.phase).toBe('ready');
  });

  it('refuses malformed sendOffsets arguments before sending anything', async () => {
    const t = setup(coordinator());
    await t.manager.initProducerId();
    const txn = t.manager.begin(async () => []);
    const before = t.sent.length;
    await expect(txn.sendOffsets({ consumerGroupId: '', offsets: [] })).rejects.toMatchObject({ code: ErrorCode.INVALID_REQUEST });
    await expect(txn.sendOffsets({ consumerGroupId: 'g', offsets: [{ topic: 'a', partition: -1, offset: 0 }] })).rejects.toMatchObject({ code: ErrorCode.INVALID_REQUEST });
    expect(t.sent.length).toBe(before);
    expect(t.manager.phase).toBe('open');
  });
});
