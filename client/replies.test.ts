import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { KactusError } from '../protocol/errors.ts';
import { checkReply, metadataReplyValidator, produceReplyValidator } from './replies.ts';

describe('broker replies are validated before use', () => {
  it('a well-formed Metadata reply passes; extra fields are ignored', () => {
    const reply = checkReply(metadataReplyValidator, {
      type: 'MetadataReply', extra: 1,
      brokers: [{ brokerId: 1, host: 'h', port: 9, rack: null }], controllerId: -1,
      topics: [{ errorCode: 0, errorMessage: null, name: 't', topicId: 'x', isInternal: false, partitions: [{ partition: 0, errorCode: 0, leader: 1, leaderEpoch: 0, replicas: [1], isr: [1], offlineReplicas: [] }] }],
    }, 'Metadata reply');
    expect(reply.topics[0]!.partitions[0]!.leader).toBe(1);
  });

  it('a malformed reply is CORRUPT_MESSAGE (retriable) naming the field, never a TypeError', () => {
    let thrown: unknown;
    try {
      checkReply(produceReplyValidator, { errorCode: 'oops', baseOffset: 1 }, 'Produce reply from broker 2');
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(KactusError);
    expect(thrown).toMatchObject({ type: 'CORRUPT_MESSAGE', retriable: true });
    expect((thrown as Error).message).toMatch(/Produce reply from broker 2: errorCode/);
    fc.assert(
      fc.property(fc.anything(), (value) => {
        try {
          checkReply(metadataReplyValidator, value, 'Metadata reply');
        } catch (err) {
          expect(err).toBeInstanceOf(KactusError);
        }
      }),
    );
  });
});
