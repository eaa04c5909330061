/**
 * Public surface of the controller's metadata logic (KRaft control managers).
 *
 * Everything here is pure: no I/O, timers, clocks or randomness; time comes in
 * as `nowMs`. The controller actor wires it to Raft (see controller-state.ts
 * for the order of calls); brokers use `replayBatch`, `diffForBroker` and
 * `buildMetadataResponse` on the committed metadata log.
 */
export * from './records.ts';
export * from './image.ts';
export * from './delta.ts';
export * from './placement.ts';
export * from './configs.ts';
export * from './brokers.ts';
export * from './topics.ts';
export * from './partitions.ts';
export * from './reassignment.ts';
export * from './producer-ids.ts';
export * from './metadata-response.ts';
export * from './controller-state.ts';
export * from './scram.ts';
