/**
 * Hostile values where a network value can reach: the validators and the
 * coordinators' bad-request paths must name what is wrong without calling into
 * the value. Goal: a message whose `type` (or any other field) is
 * `{ toString: 0 }`, a 4,000-deep array or a prototype-less map gets an
 * Invalid or an error reply, never a throw, and never crashes an actor.
 * Method: (1) every validator of actors/ and protocol/apis/ on a table of
 * hostile values; (2) `/transactions` and `/groups` on one node with a
 * stop-on-crash supervision, told the hostile messages (as the runtime would
 * deliver them, had it admitted them) and then asked a good request.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Node, type Behaviour } from '../runtime/node.ts';
import type { Ref } from '../runtime/ref.ts';
import { createLogger } from '../runtime/logger.ts';
import { systemClock } from '../runtime/clock.ts';
import { isInvalid, printable } from '../protocol/validate.ts';
import { validateTxnCoordinatorRequest, validateTxnOffsetCommit } from '../protocol/apis/txn.ts';
import { validateProduce, validateWriteTxnMarker } from '../protocol/apis/data.ts';
import {
  validateClientMessage,
  validateCommand,
  validateControllerMessage,
  validateControllerRequestReply,
  validateFetchMetadataReply,
  validateRaftMessage,
  validateRecord,
} from './controller/messages.ts';
import { validateWireRequest } from './group-coordinator/actor-messages.ts';
import { PartitionRegistry } from './partition/registry.ts';
import { groupCoordinatorBehaviour } from './group-coordinator/actor.ts';
import { txnCoordinatorBehaviour } from './txn-coordinator/actor.ts';

function deepArray(depth: number): unknown {
  let value: unknown = 0;
  for (let i = 0; i < depth; i += 1) value = [value];
  return value;
}

const hostile: readonly unknown[] = [
  { toString: 0 },
  { toString: 0, valueOf: 0 },
  { toString: {}, valueOf: {}, toJSON: 0 },
  Object.create(null) as unknown,
  deepArray(4_000),
  2n ** 70n,
  null,
  undefined,
  'x'.repeat(100_000),
];

const validators: Record<string, (value: unknown) => unknown> = {
  validateTxnCoordinatorRequest,
  validateTxnOffsetCommit,
  validateProduce,
  validateWriteTxnMarker,
  validateControllerMessage,
  validateClientMessage,
  validateCommand: (v) => validateCommand(v, 'command'),
  validateRecord: (v) => validateRecord(v, 'record'),
  validateRaftMessage: (v) => validateRaftMessage(v, 'message'),
  validateControllerRequestReply: (v) => validateControllerRequestReply(v, 'CreateTopics'),
  validateFetchMetadataReply,
  validateWireRequest,
};

describe('hostile values never make a validator throw', () => {
  it('printable names a value without calling into it', () => {
    expect(printable({ toString: 0 })).toBe('<map>');
    expect(printable(deepArray(4_000))).toBe('<array>');
    expect(printable(Object.create(null))).toBe('<map>');
    expect(printable(new Uint8Array(3))).toBe('<binary>');
    expect(printable('a'.repeat(100))).toBe(`${'a'.repeat(64)}...`);
    expect(printable(2n)).toBe('2');
  });

  for (const [name, validate] of Object.entries(validators)) {
    it(`${name}: a hostile type or body is Invalid`, () => {
      for (const value of hostile) {
        for (const message of [value, { type: value }, { type: value, replyTo: value }, { type: 'AddPartitionsToTxn', partitions: [value], replyTo: value }]) {
          let result: unknown;
          expect(() => (result = validate(message))).not.toThrow();
          expect(isInvalid(result)).toBe(true);
        }
      }
    });
  }
});

// ---------------------------------------------------------------- the coordinators' bad-request paths

type Setup = { node: Node; registry: PartitionRegistry; dir: string };
let setup: Setup | undefined;

afterEach(async () => {
  if (!setup) return;
  await setup.node.stop();
  await setup.registry.closeAll();
  rmSync(setup.dir, { recursive: true, force: true });
  setup = undefined;
});

/** A crash stops the actor (instead of restarting it), so a test sees any crash as a missing actor. */
function stopOnCrash<S, M>(behaviour: Behaviour<S, M>): Behaviour<S, M> {
  return { ...behaviour, supervision: () => ({ decision: 'stop' }) };
}

describe('coordinators answer hostile requests and keep serving', () => {
  it('/transactions and /groups: hostile types, partitions and offsets get an error reply or a log line, never a crash', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kactus-hostile-'));
    const node = await Node.start({ nodeId: '1', logger: createLogger({ node: 1 }, process.env.LOG_LEVEL ?? 'silent') });
    const registry = new PartitionRegistry(join(dir, 'partitions'), systemClock);
    setup = { node, registry, dir };
    const controllerClient = node.spawn('controller-client', { init: () => null, receive: (s: null) => s });
    const config = { brokerId: 1, offsetsTopicNumPartitions: 1, offsetsTopicReplicationFactor: 1, groupInitialRebalanceDelayMs: 0, transactionStateLogNumPartitions: 1, transactionStateLogReplicationFactor: 1 };
    const transactions = node.spawn('transactions', stopOnCrash(txnCoordinatorBehaviour({ config, registry, clock: systemClock, controllerClient, broker: { node: '1', path: '/broker' } })));
    const groups = node.spawn('groups', stopOnCrash(groupCoordinatorBehaviour({ config, registry, clock: systemClock, controllerClient })));

    const replies: unknown[] = [];
    const sink = node.spawn('sink', { init: () => null, receive: (s: null, msg: unknown) => (replies.push(msg), s) });
    for (const target of [transactions, groups] as Ref<unknown>[]) {
      for (const value of hostile) {
        node.tell(target, { type: value, replyTo: sink });
        node.tell(target, { type: 'AddPartitionsToTxn', transactionalId: value, partitions: [value, { topic: value, partition: value }], replyTo: sink });
        node.tell(target, { type: 'VerifyPartitionsInTxn', partitions: value, replyTo: sink });
        node.tell(target, { type: 'OffsetCommit', groupId: 'g', offsets: [value, { topic: value, partition: value }], replyTo: sink });
        node.tell(target, { type: 'TxnOffsetCommit', offsets: [{ topic: value, partition: 0 }], replyTo: sink });
        node.tell(target, { type: 'OffsetDelete', groupId: 'g', partitions: [value, { topic: value, partition: value }], replyTo: sink });
        node.tell(target, value as never);
      }
    }
    // Each still answers a good request afterwards (no partition is led here: a routing error is an answer).
    const txnReply = await node.ask<unknown, { errorCode: number }>(transactions, (replyTo) => ({ type: 'InitProducerId', transactionalId: 't', transactionTimeoutMs: 60_000, producerId: -1, producerEpoch: -1, replyTo }), { timeoutMs: 5_000 });
    expect(typeof txnReply.errorCode).toBe('number');
    const groupReply = await node.ask<unknown, { errorCode: number }>(groups, (replyTo) => ({ type: 'DescribeGroup', groupId: 'g', replyTo }), { timeoutMs: 5_000 });
    expect(typeof groupReply.errorCode).toBe('number');
    expect(node.hasActor('/transactions')).toBe(true);
    expect(node.hasActor('/groups')).toBe(true);
    // The refusals of AddPartitionsToTxn name the hostile partitions without converting them.
    const refused = replies.filter((r): r is { type: string; results: { topic: unknown; partition: unknown }[] } => (r as { type?: unknown }).type === 'AddPartitionsToTxnReply');
    expect(refused.length).toBeGreaterThan(0);
    for (const reply of refused) for (const result of reply.results) expect([typeof result.topic, typeof result.partition]).toEqual(['string', 'number']);
  });
});
