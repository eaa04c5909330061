/**
 * Validation of broker replies before the client uses them (DESIGN.md:
 * every message from the network is validated). A reply that does not have
 * the expected shape becomes a KactusError CORRUPT_MESSAGE (retriable: the
 * request is tried again, possibly on another broker) naming the broker and
 * the bad field, never a TypeError deep inside the producer.
 *
 * Owns: `checkReply(validator, value, what)` and the validators of the replies
 * the client reads: Metadata, Produce, ListOffsets, InitProducerId, and the
 * envelope of admin replies. Unknown extra fields are ignored (forward
 * compatibility).
 *
 * Imports: protocol/validate.ts, protocol/errors.ts.
 */
import { ErrorCode, KactusError } from '../protocol/errors.ts';
import { array, boolean, int, int32, isInvalid, nullable, object, optional, string, type Validator } from '../protocol/validate.ts';

const itemsMax = 1_000_000;
const anyInt = int(Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER);
const optionalString = optional(nullable(string(1_000_000)), null);

/** Returns the checked reply or throws CORRUPT_MESSAGE naming `what` and the bad field. */
export function checkReply<T>(validator: Validator<T>, value: unknown, what: string): T {
  const checked = validator(value, '');
  if (isInvalid(checked)) throw new KactusError(ErrorCode.CORRUPT_MESSAGE, `malformed ${what}: ${checked.errorMessage}`);
  return checked;
}

const metadataPartition = object({
  partition: int32,
  errorCode: int32,
  leader: int32,
  leaderEpoch: int32,
  replicas: array(int32, itemsMax),
  isr: array(int32, itemsMax),
  offlineReplicas: optional(array(int32, itemsMax), []),
});

export const metadataReplyValidator = object({
  brokers: array(object({ brokerId: int32, host: string(1_024), port: int(0, 65_535), rack: optional(nullable(string(1_024)), null) }), itemsMax),
  controllerId: int32,
  topics: array(
    object({
      errorCode: int32,
      errorMessage: optionalString,
      name: string(1_024),
      topicId: optional(nullable(string(128)), null),
      isInternal: optional(boolean, false),
      partitions: array(metadataPartition, itemsMax),
    }),
    itemsMax,
  ),
});

export const produceReplyValidator = object({
  errorCode: int32,
  errorMessage: optionalString,
  baseOffset: anyInt,
  logAppendTimeMs: optional(anyInt, -1),
});

export const listOffsetsReplyValidator = object({
  partitions: array(object({ partition: int32, errorCode: int32, offset: anyInt, timestamp: optional(anyInt, -1), leaderEpoch: optional(int32, -1) }), itemsMax),
});

export const initProducerIdReplyValidator = object({
  errorCode: int32,
  errorMessage: optionalString,
  producerId: anyInt,
  producerEpoch: int(-1, 32_767),
});

/** Admin replies: a `type`, and for errors a code; the per-command shapes are read defensively by admin.ts. */
export const adminReplyEnvelopeValidator = object({ type: string(64), errorCode: optional(int32, 0), errorMessage: optionalString });
