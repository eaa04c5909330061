/**
 * Kafka RecordBatch v2: the public surface of protocol/record-batch.
 * header.ts (layout, validation, in-place rewrite), records.ts (record
 * bodies), codec.ts (batches), compression/ (the codecs), control.ts (txn
 * markers).
 */
export * from './header.ts';
export * from './records.ts';
export * from './codec.ts';
export * from './control.ts';
export { loadCodec } from './compression/index.ts';
