/**
 * Control batches: the commit and abort markers a transaction coordinator
 * writes into each partition a transaction touched.
 *
 * Owns: `encodeEndTxnMarker`, `decodeControlRecord` and `markerAt`. A control batch has
 * attributes transactional + control, the producer id and epoch of the
 * transaction, baseSequence -1, and exactly one record:
 *
 *   key:   version int16 (0), type int16 (0 = abort, 1 = commit)
 *   value: version int16 (0), coordinatorEpoch int32
 *
 * Consumers skip control records; read_committed consumers use them to drop
 * aborted data. Unknown control types decode as an error, not a throw.
 */
import { ErrorCode } from '../errors.ts';
import { decodeBatch, encodeBatch, type Decoded } from './codec.ts';
import type { DecodedRecord } from './records.ts';

export const ControlType = { abort: 0, commit: 1 } as const;
export const controlRecordVersion = 0;

export interface EndTxnMarker {
  type: 'commit' | 'abort';
  coordinatorEpoch: number;
}

export interface EndTxnMarkerInput extends EndTxnMarker {
  producerId: number;
  producerEpoch: number;
  timestamp: number;
  baseOffset?: number;
  partitionLeaderEpoch?: number;
}

export function encodeEndTxnMarker(input: EndTxnMarkerInput): Buffer {
  const key = Buffer.alloc(4);
  key.writeInt16BE(controlRecordVersion, 0);
  key.writeInt16BE(input.type === 'commit' ? ControlType.commit : ControlType.abort, 2);
  const value = Buffer.alloc(6);
  value.writeInt16BE(controlRecordVersion, 0);
  value.writeInt32BE(input.coordinatorEpoch, 2);
  return encodeBatch({
    records: [{ key, value, timestamp: input.timestamp }],
    baseOffset: input.baseOffset ?? 0,
    partitionLeaderEpoch: input.partitionLeaderEpoch ?? -1,
    isTransactional: true,
    isControl: true,
    producerId: input.producerId,
    producerEpoch: input.producerEpoch,
  });
}

/** Reads the marker from a control batch's record. */
export function decodeControlRecord(record: DecodedRecord): Decoded<EndTxnMarker> {
  const { key, value } = record;
  if (key === null || key.length < 4) return { ok: false, errorCode: ErrorCode.CORRUPT_MESSAGE, message: 'control record key too short' };
  const keyVersion = key.readInt16BE(0);
  if (keyVersion !== controlRecordVersion) {
    return { ok: false, errorCode: ErrorCode.CORRUPT_MESSAGE, message: `unknown control key version ${keyVersion}` };
  }
  const type = key.readInt16BE(2);
  if (type !== ControlType.abort && type !== ControlType.commit) {
    return { ok: false, errorCode: ErrorCode.CORRUPT_MESSAGE, message: `unknown control type ${type}` };
  }
  if (value === null || value.length < 6) {
    return { ok: false, errorCode: ErrorCode.CORRUPT_MESSAGE, message: 'end transaction marker value too short' };
  }
  return { ok: true, value: { type: type === ControlType.commit ? 'commit' : 'abort', coordinatorEpoch: value.readInt32BE(2) } };
}

/** The marker of the control batch at `position` in `bytes`, or null when it is not one we can read. */
export function markerAt(bytes: Buffer, position: number): EndTxnMarker | null {
  const decoded = decodeBatch(bytes, position);
  if (!decoded.ok) return null;
  const record = decoded.value.records[0];
  if (record === undefined) return null;
  const marker = decodeControlRecord(record);
  return marker.ok ? marker.value : null;
}
