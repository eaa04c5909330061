/**
 * The transactional producer's checks that need no broker. Goal: misuse is
 * refused with a typed error before anything connects or is sent: bad
 * transactional options, transaction() on a producer without a
 * transactionalId, a send outside a transaction, exactlyOnce() with a
 * consumer or producer that cannot give exactly-once.
 */
import { firstValueFrom } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { ErrorCode, Kactus, KactusError, exactlyOnce } from '../index.ts';
import { parseProducerOptions } from '../options.ts';

const kactus = (): Kactus => new Kactus({ brokers: ['ws://127.0.0.1:1'], clientId: 'txn-unit' });

describe('transactional producer without a broker', () => {
  it('takes transactionalId and transactionTimeoutMs (default 60 s) and requires idempotence', () => {
    const config = parseProducerOptions({ transactionalId: 'tx' });
    expect(config).toMatchObject({ transactionalId: 'tx', transactionTimeoutMs: 60_000, idempotent: true, acks: -1 });
    expect(parseProducerOptions({}).transactionalId).toBeNull();
    for (const bad of [{ transactionalId: 'tx', idempotent: false }, { transactionalId: 'tx', acks: 1 }, { transactionalId: 'tx', retriesMax: 0 }, { transactionalId: '' }, { transactionalId: 'tx', transactionTimeoutMs: 0 }, { transactionalId: 'tx', transactionTimeoutMs: 900_001 }]) {
      expect(() => parseProducerOptions(bad)).toThrow(KactusError);
      try {
        parseProducerOptions(bad);
      } catch (err) {
        expect((err as KactusError).code).toBe(ErrorCode.INVALID_CONFIG);
      }
    }
  });

  it('transaction() and initTransactions() on a producer without a transactionalId: INVALID_CONFIG naming the option', async () => {
    const client = kactus();
    const producer = client.producer();
    await expect(producer.transaction()).rejects.toMatchObject({ code: ErrorCode.INVALID_CONFIG, message: expect.stringMatching(/transactionalId/) });
    await expect(producer.initTransactions()).rejects.toMatchObject({ code: ErrorCode.INVALID_CONFIG });
    await client.close();
  });

  it('a transactional producer refuses a send outside a transaction (INVALID_TXN_STATE), before connecting', async () => {
    const client = kactus();
    const producer = client.producer({ transactionalId: 'tx' });
    await expect(producer.send({ topic: 't', messages: [{ value: 'x' }] })).rejects.toMatchObject({ code: ErrorCode.INVALID_TXN_STATE });
    await expect(producer.sendBatch({ topicMessages: [{ topic: 't', messages: [{ value: 'x' }] }] })).rejects.toMatchObject({ code: ErrorCode.INVALID_TXN_STATE });
    await client.close();
  });

  it('exactlyOnce() refuses a consumer that is not read_committed or auto-commits, and a producer that is not transactional', async () => {
    const client = kactus();
    const producer = client.producer({ transactionalId: 'tx' });
    const plain = client.producer();
    const uncommitted = client.consumer({ groupId: 'g', autoCommit: false }).subscribe(['a']);
    const autoCommitting = client.consumer({ groupId: 'g2', isolationLevel: 'read_committed' }).subscribe(['a']);
    const good = client.consumer({ groupId: 'g3', isolationLevel: 'read_committed', autoCommit: false }).subscribe(['a']);
    const transform = (): [] => [];
    await expect(firstValueFrom(exactlyOnce({ consumer: uncommitted, producer, transform }))).rejects.toMatchObject({ code: ErrorCode.INVALID_CONFIG, message: expect.stringMatching(/read_committed/) });
    await expect(firstValueFrom(exactlyOnce({ consumer: autoCommitting, producer, transform }))).rejects.toMatchObject({ code: ErrorCode.INVALID_CONFIG, message: expect.stringMatching(/autoCommit/) });
    await expect(firstValueFrom(exactlyOnce({ consumer: good, producer: plain, transform }))).rejects.toMatchObject({ code: ErrorCode.INVALID_CONFIG, message: expect.stringMatching(/transactional/) });
    await client.close();
  });
});
