/**
 * Producer id blocks for idempotent and transactional producers.
 *
 * Owns: `generateAllocateProducerIds` and `producerIdBlockSize`.
 *
 * A broker asks for a block when it runs out; the controller hands out
 * [nextProducerId, nextProducerId + 1000) and writes a ProducerIdsRecord
 * moving the cursor past it. Because the cursor lives in the replicated
 * image and only ever increases (asserted in replay), no id is handed out
 * twice, across controller failovers too. Blocks are generated against the
 * controller's latest (speculative) image, so two requests in flight get
 * different blocks.
 *
 * Ids are JS numbers: safe up to 2^53, i.e. 9e12 blocks of 1000; a cursor
 * that would pass that is refused (UNKNOWN_SERVER_ERROR) rather than wrap.
 */
import { ErrorCode } from '../../../protocol/errors.ts';
import type { MetadataImage } from './image.ts';
import type { ControlResult, ItemError } from './records.ts';

/** Kafka's ProducerIdsBlock.PRODUCER_ID_BLOCK_SIZE. */
export const producerIdBlockSize = 1_000;

export interface AllocateProducerIdsCommand {
  readonly type: 'AllocateProducerIds';
  readonly brokerId: number;
  readonly brokerEpoch: number;
}

export interface AllocateProducerIdsReply extends ItemError {
  readonly type: 'AllocateProducerIdsReply';
  /** First id of the block, -1 on error. */
  readonly producerIdStart: number;
  /** Ids in the block, 0 on error. */
  readonly producerIdLength: number;
}

export function generateAllocateProducerIds(
  image: MetadataImage,
  command: AllocateProducerIdsCommand,
): ControlResult<AllocateProducerIdsReply> {
  const fail = (errorCode: number, errorMessage: string): ControlResult<AllocateProducerIdsReply> => ({
    records: [],
    reply: { type: 'AllocateProducerIdsReply', errorCode, errorMessage, producerIdStart: -1, producerIdLength: 0 },
  });
  const broker = image.brokers.get(command.brokerId);
  if (broker === undefined) {
    return fail(ErrorCode.BROKER_ID_NOT_REGISTERED, `Broker ${command.brokerId} is not registered`);
  }
  if (broker.brokerEpoch !== command.brokerEpoch) {
    return fail(ErrorCode.STALE_BROKER_EPOCH, `Broker ${command.brokerId} epoch ${command.brokerEpoch} != registered ${broker.brokerEpoch}`);
  }
  const producerIdStart = image.nextProducerId;
  const nextProducerId = producerIdStart + producerIdBlockSize;
  if (!Number.isSafeInteger(nextProducerId)) return fail(ErrorCode.UNKNOWN_SERVER_ERROR, 'Producer ids exhausted');
  return {
    records: [{ type: 'ProducerIds', brokerId: command.brokerId, brokerEpoch: command.brokerEpoch, nextProducerId }],
    reply: { type: 'AllocateProducerIdsReply', errorCode: 0, errorMessage: null, producerIdStart, producerIdLength: producerIdBlockSize },
  };
}
