import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../../../protocol/errors.ts';
import { replayBatch } from './image.ts';
import { generateAllocateProducerIds, producerIdBlockSize } from './producer-ids.ts';
import { brokerEpochOf, clusterImage } from './test-fixtures.ts';

describe('AllocateProducerIds', () => {
  it('hands out consecutive blocks of 1000, never the same id twice', () => {
    let image = clusterImage([1, 2]);
    const starts: number[] = [];
    for (let i = 0; i < 5; i++) {
      const brokerId = (i % 2) + 1;
      const result = generateAllocateProducerIds(image, { type: 'AllocateProducerIds', brokerId, brokerEpoch: brokerEpochOf(image, brokerId) });
      expect(result.reply).toMatchObject({ errorCode: 0, producerIdLength: producerIdBlockSize });
      starts.push(result.reply.producerIdStart);
      image = replayBatch(image, result.records);
    }
    expect(producerIdBlockSize).toBe(1000);
    expect(starts).toEqual([0, 1000, 2000, 3000, 4000]);
    expect(image.nextProducerId).toBe(5000);
  });

  it.each([
    { name: 'unknown broker', brokerId: 9, brokerEpoch: 1, errorCode: ErrorCode.BROKER_ID_NOT_REGISTERED },
    { name: 'stale broker epoch', brokerId: 1, brokerEpoch: 77, errorCode: ErrorCode.STALE_BROKER_EPOCH },
  ])('refuses $name', ({ brokerId, brokerEpoch, errorCode }) => {
    const result = generateAllocateProducerIds(clusterImage([1]), { type: 'AllocateProducerIds', brokerId, brokerEpoch });
    expect(result.reply).toMatchObject({ errorCode, producerIdStart: -1, producerIdLength: 0 });
    expect(result.records).toEqual([]);
  });
});
