/**
 * The native fuzzer's frame generator: random, truncated, mutated and
 * type-confused WebSocket frames and message bodies for the runtime's
 * msgpack envelope protocol (runtime/envelope.ts), aimed at every actor path
 * and every message type the code knows (schema.ts).
 *
 * Deterministic: a frame is a pure function of its Rng, and the runner seeds
 * one Rng per (seed, connection, session), so `--seed S` replays the same
 * frames in the same order on each connection (the interleaving across
 * connections is the OS's).
 *
 * Strategies (weights in `strategyWeights`):
 *   admitted   an Ask an origin of kind client may send (the target's declared
 *              protocol lists its type), with a valid reply slot and a
 *              schema-aware body whose fields are plausible or type-confused:
 *              reaches the actor's own validator;
 *   forged     any known type (internal messages included: Terminated,
 *              MetadataImageUpdated, AllocateProducerIdsReply, RaftMessage...)
 *              to any path, as Tell or Ask, replyTo pointing anywhere;
 *   envelope   the other envelope kinds (ErrorReply, Watch, Unwatch,
 *              Terminated, LinkError, Heartbeat, a second Hello, Auth) and
 *              unknown kinds, with right and wrong arity and field types;
 *   multi      several envelopes in one frame;
 *   mutated    a generated frame with bytes flipped, cut, inserted or
 *              repeated (mostly malformed msgpack: fatal for the link);
 *   raw        random bytes, deep nesting (4,000 arrays), bad versions.
 *
 * Bodies avoid names the well-behaved client uses (its topic, group, ids):
 * a fuzzer is a client like any other, and deleting the topic under test
 * through the public Admin API is a legitimate request, not a finding. Topic,
 * group and transactional ids come from small pools, so what the fuzzer may
 * legitimately create (topics, groups, transactions) stays bounded.
 */
import { Buffer } from 'node:buffer';
import { Packr } from 'msgpackr';
import { Kind, decodeFrame, isDecodeFailure, protocolVersion, validateEnvelope } from '../../runtime/envelope.ts';
import { challengeBytes, proofBytes } from '../../runtime/peer-auth.ts';
import type { Rng } from '../../runtime/rng.ts';
import { encodeBatch } from '../../protocol/record-batch/codec.ts';
import { brokerActorPaths, collectMessageSchemas, nonsensePaths, type MessageSchema } from './schema.ts';

/** Largest string the generator makes (1 MiB of 'x'); rare. */
export const hugeStringCharsMax = 1 << 20;
/** Deepest nesting the generator builds as values (past the runtime's messageDepthMax of 32). */
export const valueDepthMax = 40;
/** Array depth of the raw deep-nesting frame (the 4,000-deep version). */
export const rawNestingDepth = 4_000;

export const strategyWeights = { admitted: 34, forged: 22, envelope: 16, multi: 10, mutated: 10, raw: 8 } as const;
/** Share of frames allowed one huge value (MiB strings, 100,000-item arrays). */
export const bigFrameChance = 0.004;
export type Strategy = keyof typeof strategyWeights;

/** Names of the fuzzer's own topics, groups and transactional ids: the only ones it may create, write or change. */
export const fuzzTopicPool = ['fuzz-a', 'fuzz-b', 'fuzz-missing'] as const;
/**
 * Topics the fuzzer only reads (Fetch, ListOffsets, OffsetForLeaderEpoch, Metadata): the internal ones and the
 * well-behaved client's `wb` too, so a follower fetch that got past its refusal would show as lost records.
 * Not written or changed: a client may still delete or repartition `__consumer_offsets` and produce to it
 * (test/fuzz/internal-topics.test.ts), which would break the well-behaved client's group for a reason known.
 */
export const readTopicPool = [...fuzzTopicPool, '__consumer_offsets', '__transaction_state', 'wb'] as const;
const readOnlyTypes: ReadonlySet<string> = new Set(['Fetch', 'ListOffsets', 'OffsetForLeaderEpoch', 'Metadata', 'GetMetadata', 'DescribeConfigs', 'FetchMetadata']);
export const fuzzGroupPool = ['fuzz-g1', 'fuzz-g2', ''] as const;
export const fuzzTxnPool = ['fuzz-t1', 'fuzz-t2', ''] as const;

export type FrameContext = {
  /** This connection's node id (what its hello claimed). */
  readonly selfNodeId: string;
  /** The cluster's broker ids, as node ids ('1', '2', '3'). */
  readonly brokerIds: readonly string[];
  /** Actor paths seen on the brokers (e.g. /replicas/fuzz-a-0, /fetchers/2). */
  readonly extraPaths: readonly string[];
  /** Per path, the message types a client may send (the declared protocols). */
  readonly clientTypes: ReadonlyMap<string, readonly string[]>;
};

export type GeneratedFrame = { readonly bytes: Uint8Array; readonly strategy: Strategy; readonly label: string };

// The fuzzer's own encoder: the wire's settings (no records), and able to encode what the runtime would refuse to.
const packr = new Packr({ useRecords: false, bundleStrings: false, moreTypes: false, variableMapSize: true });

/** Encodes into a buffer of its own: msgpackr's result is a view into a shared buffer that the next pack overwrites. */
function packCopy(value: unknown): Buffer {
  return Buffer.from(packr.pack(value));
}

function safePack(value: unknown): Buffer | undefined {
  try {
    return packCopy(value);
  } catch {
    return undefined;
  }
}

const pick = <T>(rng: Rng, items: readonly T[]): T => items[rng.int(0, items.length)]!;
const chance = (rng: Rng, p: number): boolean => rng.next() < p;

function randomBytes(rng: Rng, length: number): Buffer {
  const out = Buffer.allocUnsafe(length);
  for (let i = 0; i < length; i++) out[i] = rng.int(0, 256);
  return out;
}

const specialNumbers = [0, -0, 1, -1, 2, 3, 0.5, -2, 255, 256, 65_535, 2 ** 31 - 1, 2 ** 31, -(2 ** 31), 2 ** 32, 2 ** 53, -(2 ** 53), Number.MAX_SAFE_INTEGER + 2, Number.MAX_VALUE, Number.MIN_VALUE, Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, 1e-300, 1e300] as const;
const specialBigints = [2n ** 63n - 1n, -(2n ** 63n), 2n ** 64n - 1n, 0n, -1n, 2n ** 53n + 1n] as const;
// Strings that are not topic names (a char outside [a-zA-Z0-9._-]) unless they come from a pool, so random names create nothing.
const specialStrings = ['', ' ', 'é', '\u0000', '\ud800', '💥', '..', '/', '/broker', '/temp/x', '{"type":"x"}', '%s%n', '\r\n', 'null', 'NaN', '-1', '1', '2', '3', 'x y'] as const;
const specialKeys = ['toString', 'valueOf', '__proto__', 'constructor', 'hasOwnProperty', 'then', 'length', 'type', 'replyTo', 'toJSON', 'prototype', ''] as const;
const commonFields = ['topic', 'topics', 'partition', 'partitions', 'replicaId', 'leaderId', 'leaderEpoch', 'brokerId', 'brokerEpoch', 'groupId', 'memberId', 'generationId', 'transactionalId', 'producerId', 'producerEpoch', 'batch', 'records', 'command', 'message', 'image', 'previous', 'ref', 'from', 'to', 'term', 'key', 'errorCode', 'errorMessage', 'timeoutMs', 'maxWaitMs', 'maxBytes', 'fetchOffset', 'isr', 'replicas', 'subscriber', 'token', 'fetchId', 'offsets', 'reason'] as const;

export class FrameGenerator {
  private readonly schemas: readonly MessageSchema[];
  private readonly byType: ReadonlyMap<string, MessageSchema>;
  /** Every message type the code knows. */
  readonly types: readonly string[];

  constructor(schemas: readonly MessageSchema[] = collectMessageSchemas()) {
    this.schemas = schemas;
    this.byType = new Map(schemas.map((s) => [s.type, s]));
    this.types = schemas.map((s) => s.type);
  }

  /** Huge values (1 MiB strings, 100,000-item arrays, 70 KB strings) one frame may still hold; 0 in most frames. */
  private bigValues = 0;

  /** One frame. */
  frame(rng: Rng, ctx: FrameContext, only?: readonly Strategy[]): GeneratedFrame {
    this.bigValues = chance(rng, bigFrameChance) ? 1 : 0;
    const strategy = only === undefined ? this.strategy(rng) : pick(rng, only);
    switch (strategy) {
      case 'admitted': {
        const { envelope, label } = this.admittedEnvelope(rng, ctx);
        return this.packed(rng, [envelope], strategy, label);
      }
      case 'forged': {
        const { envelope, label } = this.forgedEnvelope(rng, ctx);
        return this.packed(rng, [envelope], strategy, label);
      }
      case 'envelope': {
        const { envelope, label } = this.otherEnvelope(rng, ctx);
        return this.packed(rng, [envelope], strategy, label);
      }
      case 'multi': {
        const count = rng.int(2, 9);
        const parts: unknown[] = [];
        const labels: string[] = [];
        for (let i = 0; i < count; i++) {
          const roll = rng.next();
          const made = roll < 0.4 ? this.admittedEnvelope(rng, ctx) : roll < 0.8 ? this.forgedEnvelope(rng, ctx) : this.otherEnvelope(rng, ctx);
          parts.push(made.envelope);
          labels.push(made.label);
        }
        return this.packed(rng, parts, strategy, labels.join(' + '));
      }
      case 'mutated': {
        const base = chance(rng, 0.5) ? this.admittedEnvelope(rng, ctx) : this.forgedEnvelope(rng, ctx);
        const bytes = safePack(base.envelope) ?? Buffer.from([0x92, 0x02, 0x01]);
        const { mutated, how } = mutate(rng, bytes);
        return { bytes: mutated, strategy, label: `${how} of ${base.label}` };
      }
      case 'raw':
        return this.rawFrame(rng);
    }
  }

  private strategy(rng: Rng): Strategy {
    const total = Object.values(strategyWeights).reduce((a, b) => a + b, 0);
    let roll = rng.int(0, total);
    for (const [name, weight] of Object.entries(strategyWeights) as [Strategy, number][]) {
      if (roll < weight) return name;
      roll -= weight;
    }
    return 'raw';
  }

  private packed(rng: Rng, envelopes: unknown[], strategy: Strategy, label: string): GeneratedFrame {
    const parts: Buffer[] = [];
    for (const envelope of envelopes) {
      const bytes = safePack(envelope);
      if (bytes !== undefined) parts.push(Buffer.from(bytes));
    }
    if (parts.length === 0) return { bytes: Buffer.from([0x92, protocolVersion, Kind.Heartbeat]), strategy, label: `${label} (unencodable: heartbeat sent)` };
    void rng;
    return { bytes: Buffer.concat(parts), strategy, label };
  }

  // ---- envelopes ----

  /** An Ask of a type the target takes from a client, with a valid reply slot and a fuzzed body. */
  private admittedEnvelope(rng: Rng, ctx: FrameContext): { envelope: unknown[]; label: string } {
    const paths = [...ctx.clientTypes.keys()];
    const path = pick(rng, paths);
    const type = pick(rng, ctx.clientTypes.get(path)!);
    const replyTo = { node: ctx.selfNodeId, path: `/temp/fz-${rng.int(0, 1 << 30)}` };
    const message = this.body(rng, ctx, type, replyTo);
    if (chance(rng, 0.1)) return { envelope: [protocolVersion, Kind.Tell, path, message], label: `Tell ${path} ${type}` };
    return { envelope: [protocolVersion, Kind.Ask, path, replyTo.path, message], label: `Ask ${path} ${type}` };
  }

  /** Any known type (or nonsense) to any path, Tell or Ask, replyTo anywhere. */
  private forgedEnvelope(rng: Rng, ctx: FrameContext): { envelope: unknown[]; label: string } {
    const path = this.anyPath(rng, ctx);
    const roll = rng.next();
    const type: unknown = roll < 0.85 ? pick(rng, this.types) : roll < 0.9 ? { toString: 0 } : this.value(rng, ctx, 2);
    const replyTo = this.anyRef(rng, ctx);
    const message = typeof type === 'string' ? this.body(rng, ctx, type, replyTo) : { type, replyTo };
    const typeLabel = typeof type === 'string' ? type : `<${typeof type}>`;
    if (chance(rng, 0.5)) return { envelope: [protocolVersion, Kind.Tell, path, message], label: `Tell ${path} ${typeLabel}` };
    const replyPath = chance(rng, 0.8) ? `/temp/fz-${rng.int(0, 1 << 30)}` : this.anyPath(rng, ctx);
    return { envelope: [protocolVersion, Kind.Ask, path, replyPath, message], label: `Ask ${path} ${typeLabel}` };
  }

  /** The other envelope kinds, unknown kinds, wrong arity and field types. */
  private otherEnvelope(rng: Rng, ctx: FrameContext): { envelope: unknown[]; label: string } {
    const v = (): unknown => this.value(rng, ctx, 2);
    const path = (): unknown => (chance(rng, 0.8) ? this.anyPath(rng, ctx) : v());
    const kinds = ['ErrorReply', 'Watch', 'Unwatch', 'Terminated', 'LinkError', 'Heartbeat', 'Hello', 'Auth', 'Unknown', 'Arity', 'NotArray'] as const;
    const which = pick(rng, kinds);
    let envelope: unknown[];
    switch (which) {
      case 'ErrorReply':
        envelope = [protocolVersion, Kind.ErrorReply, chance(rng, 0.7) ? `/temp/${rng.int(0, 1 << 20)}` : path(), chance(rng, 0.7) ? this.number(rng) : v(), chance(rng, 0.7) ? this.string(rng) : v()];
        break;
      case 'Watch':
      case 'Unwatch':
        envelope = [protocolVersion, which === 'Watch' ? Kind.Watch : Kind.Unwatch, path(), path()];
        break;
      case 'Terminated':
        envelope = [protocolVersion, Kind.Terminated, path(), path(), chance(rng, 0.7) ? pick(rng, ['stopped', 'node-down']) : v()];
        break;
      case 'LinkError':
        envelope = [protocolVersion, Kind.LinkError, chance(rng, 0.7) ? this.number(rng) : v(), chance(rng, 0.7) ? this.string(rng) : v()];
        break;
      case 'Heartbeat':
        envelope = [protocolVersion, Kind.Heartbeat];
        break;
      case 'Hello':
        envelope = helloEnvelope(rng, chance(rng, 0.5) ? ctx.selfNodeId : pick(rng, [...ctx.brokerIds, 'fz-other']), pick(rng, ['client', 'peer', 'admin']) as string);
        break;
      case 'Auth':
        envelope = [protocolVersion, Kind.Auth, chance(rng, 0.8) ? randomBytes(rng, proofBytes) : v()];
        break;
      case 'Unknown':
        envelope = [protocolVersion, pick(rng, [10, 11, 99, 255, -1, 1.5, '2', null]), v(), v()];
        break;
      case 'Arity': {
        const kind = rng.int(0, 10);
        envelope = [protocolVersion, kind];
        const count = pick(rng, [0, 1, 2, 3, 4, 5, 6, 7, 9, 20]);
        for (let i = 0; i < count; i++) envelope.push(v());
        break;
      }
      case 'NotArray':
        return { envelope: this.value(rng, ctx, 3) as unknown[], label: 'a value that is not an envelope' };
    }
    // Sometimes the kind is sent with a confused type (a string '2', a float).
    if (chance(rng, 0.05)) envelope[1] = pick(rng, [String(envelope[1]), Number(envelope[1]) + 0.5, [envelope[1]]]);
    return { envelope, label: `envelope ${which}` };
  }

  private rawFrame(rng: Rng): GeneratedFrame {
    const kinds = ['bytes', 'deep', 'version', 'empty', 'toString-version', 'long-reason', 'truncated-int'] as const;
    const which = pick(rng, kinds);
    let bytes: Uint8Array;
    switch (which) {
      case 'bytes':
        bytes = randomBytes(rng, pick(rng, [1, 2, 3, 8, 64, 512, 4096]));
        break;
      case 'deep': {
        // [[[[...]]]] 4,000 deep as the version (the stack overflow), or as a message.
        const depth = pick(rng, [33, 100, rawNestingDepth]);
        const inner = Buffer.concat([Buffer.alloc(depth, 0x91), Buffer.from([0xc0])]);
        bytes = chance(rng, 0.5)
          ? Buffer.concat([Buffer.from([0x92]), inner, Buffer.from([Kind.Heartbeat])])
          : Buffer.concat([Buffer.from([0x94, protocolVersion, Kind.Tell]), packCopy('/broker'), inner]);
        break;
      }
      case 'version':
        bytes = packCopy([pick(rng, [0, 1, 3, -1, 2.5, '2', null, 2 ** 40, [2]]), Kind.Heartbeat]);
        break;
      case 'empty':
        bytes = Buffer.alloc(0);
        break;
      case 'toString-version':
        bytes = packCopy([{ toString: 0 }, 0]);
        break;
      case 'long-reason':
        // A version whose description is long and multi-byte: the close reason must be cut by bytes.
        bytes = packCopy([pick(rng, ['é'.repeat(60), '💥'.repeat(100), 'x'.repeat(5_000)]), 0]);
        break;
      case 'truncated-int':
        bytes = Buffer.from([0x92, 0xcf, 0x00, 0x01]);
        break;
    }
    return { bytes, strategy: 'raw', label: `raw ${which}` };
  }

  // ---- bodies and values ----

  /** A message of `type`: its known fields, each plausible or confused, sometimes extra fields. */
  body(rng: Rng, ctx: FrameContext, type: string, replyTo: unknown): Record<string, unknown> {
    const message: Record<string, unknown> = { type };
    const fields = this.byType.get(type)?.fields ?? [];
    for (const field of fields) {
      if (chance(rng, 0.1)) continue;
      message[field] = chance(rng, 0.65) ? this.plausible(rng, ctx, field, type) : this.value(rng, ctx, 0);
    }
    if (fields.includes('replyTo') || chance(rng, 0.3)) message.replyTo = chance(rng, 0.85) ? replyTo : this.value(rng, ctx, 1);
    const extra = chance(rng, 0.15) ? rng.int(1, 4) : 0;
    for (let i = 0; i < extra; i++) setOwn(message, chance(rng, 0.5) ? pick(rng, specialKeys) : pick(rng, commonFields), this.value(rng, ctx, 1));
    if (chance(rng, 0.03)) message.type = pick(rng, [{ toString: 0 }, [type], 7, null, Buffer.from(type), `${type}\u0000`]);
    return message;
  }

  /** A value of the right shape for a field name, with edge values. */
  private plausible(rng: Rng, ctx: FrameContext, field: string, type: string): unknown {
    const brokerId = (): number => pick(rng, [...ctx.brokerIds.map(Number), 0, -1, 4, 99, 2 ** 31]);
    const topics = readOnlyTypes.has(type) ? readTopicPool : fuzzTopicPool;
    const smallInt = (): number => pick(rng, [0, 1, 2, -1, 5, 100, 2 ** 31 - 1, 2 ** 31, -(2 ** 31), Number.MAX_SAFE_INTEGER, 1.5, Number.NaN]);
    switch (field) {
      case 'topic':
      case 'name':
        return chance(rng, 0.8) ? pick(rng, topics) : this.string(rng);
      case 'topics':
        if (type === 'Metadata' || type === 'DeleteTopics' || type === 'GetMetadata') return chance(rng, 0.2) ? null : this.arrayOf(rng, () => (chance(rng, 0.8) ? pick(rng, topics) : this.value(rng, ctx, 2)));
        return this.arrayOf(rng, () => ({ name: pick(rng, topics), topic: pick(rng, topics), numPartitions: pick(rng, [1, 2, 0, -1, 10_001, 2 ** 31, Number.NaN]), count: pick(rng, [1, 2, 3, 0, -1, 2 ** 31]), replicationFactor: pick(rng, [1, 3, 0, -1, 4, 2 ** 15]), assignments: chance(rng, 0.7) ? null : this.value(rng, ctx, 2), configs: chance(rng, 0.7) ? {} : this.value(rng, ctx, 2), partitions: this.value(rng, ctx, 2) }));
      case 'partition':
        return pick(rng, [0, 1, 2, 3, -1, 2 ** 31, 1.5, Number.NaN, 10_000]);
      case 'partitions':
        return this.arrayOf(rng, () => ({
          topic: pick(rng, topics),
          partition: pick(rng, [0, 1, 2, -1, 99]),
          fetchOffset: pick(rng, [0, 1, -1, 2 ** 53, Number.NaN]),
          partitionMaxBytes: pick(rng, [0, 1, 1 << 20, -1, 2 ** 31]),
          currentLeaderEpoch: smallInt(),
          lastFetchedEpoch: smallInt(),
          leaderEpoch: smallInt(),
          timestamp: pick(rng, [-1, -2, -3, 0, 1_700_000_000_000]),
          partitions: this.arrayOf(rng, () => rng.int(-1, 4)),
        }));
      case 'replicaId':
      case 'leaderId':
      case 'brokerId':
      case 'nodeId':
      case 'from':
      case 'to':
      case 'voter':
      case 'leader':
        return brokerId();
      case 'isr':
      case 'replicas':
        return this.arrayOf(rng, brokerId);
      case 'replyTo':
      case 'ref':
      case 'subscriber':
        return this.anyRef(rng, ctx);
      case 'batch':
      case 'records':
        return chance(rng, 0.6) ? this.batch(rng) : this.value(rng, ctx, 1);
      case 'groupId':
        return pick(rng, fuzzGroupPool);
      case 'transactionalId':
        return chance(rng, 0.3) ? null : pick(rng, fuzzTxnPool);
      case 'memberId':
      case 'groupInstanceId':
      case 'clientId':
      case 'protocolType':
      case 'protocolName':
        return chance(rng, 0.5) ? '' : this.string(rng);
      case 'acks':
        return pick(rng, [-1, 0, 1, 2, -2]);
      case 'isolationLevel':
        return pick(rng, [0, 1, 2, -1]);
      case 'command':
        return { ...this.body(rng, ctx, pick(rng, ['CreateTopics', 'DeleteTopics', 'CreatePartitions', 'DescribeConfigs', 'AlterConfigs', 'ElectLeaders', 'FenceBroker', 'AlterPartition', 'RegisterBroker', 'BrokerHeartbeat', 'AllocateProducerIds', 'UnfenceBroker', 'RemoveTopic']), this.anyRef(rng, ctx)) };
      case 'message':
        // A nested message: a Raft message for RaftMessage, anything otherwise.
        return this.body(rng, ctx, pick(rng, ['AppendEntries', 'RequestVote', 'PreVote', 'TimeoutNow', 'InstallSnapshot', 'Heartbeat', ...this.types.slice(0, 5)]), this.anyRef(rng, ctx));
      case 'image':
      case 'previous':
      case 'snapshot':
        return chance(rng, 0.5) ? { brokers: this.value(rng, ctx, 2), topics: this.value(rng, ctx, 2), controllerId: smallInt(), offset: smallInt() } : this.value(rng, ctx, 1);
      case 'committed':
      case 'validateOnly':
      case 'allowAutoTopicCreation':
      case 'requireStable':
      case 'leadershipTransfer':
      case 'wantFence':
      case 'fenced':
        return chance(rng, 0.8) ? chance(rng, 0.5) : this.value(rng, ctx, 1);
      case 'reason':
        return pick(rng, ['stopped', 'node-down', '', 'x']);
      case 'key':
        return chance(rng, 0.5) ? `${pick(rng, readTopicPool)}-${rng.int(0, 3)}` : this.string(rng);
      default:
        if (/Ms$|Bytes$|Offset$|Index$|Term$|term$|Epoch$|Id$|Count$|Length$|Start$|errorCode|generation/.test(field)) return smallInt();
        return this.value(rng, ctx, 1);
    }
  }

  /** A Kafka v2 record batch (valid, or with a flipped byte: the CRC must catch it). */
  private batch(rng: Rng): Buffer {
    const records = Array.from({ length: rng.int(1, 4) }, (_, i) => ({ key: chance(rng, 0.5) ? null : Buffer.from(`k${i}`), value: Buffer.from(`fuzz-${rng.int(0, 1_000_000)}`), headers: [], timestamp: pick(rng, [0, -1, 1_700_000_000_000]) }));
    let bytes: Buffer;
    try {
      bytes = encodeBatch({
        records,
        producerId: pick(rng, [-1, 0, 1, 2, 1_000, 2 ** 53]),
        producerEpoch: pick(rng, [-1, 0, 1, 32_767]),
        baseSequence: pick(rng, [-1, 0, 1, 2 ** 31 - 1]),
        isTransactional: chance(rng, 0.2),
        isControl: chance(rng, 0.1),
      });
    } catch {
      bytes = randomBytes(rng, 70);
    }
    if (chance(rng, 0.4)) {
      bytes = Buffer.from(bytes);
      const at = rng.int(0, bytes.length);
      bytes[at] = bytes[at]! ^ (1 << rng.int(0, 8));
    }
    if (chance(rng, 0.1)) bytes = bytes.subarray(0, rng.int(0, bytes.length));
    return bytes;
  }

  /** Any value, type-confused: numbers at the edges, bigints, strings, binary, arrays, hostile maps, deep nesting. */
  value(rng: Rng, ctx: FrameContext, depth: number): unknown {
    if (depth >= valueDepthMax) return null;
    const roll = rng.int(0, 100);
    if (roll < 18) return this.number(rng);
    if (roll < 22) return pick(rng, specialBigints);
    if (roll < 40) return this.string(rng);
    if (roll < 46) return pick(rng, [true, false, null, undefined]);
    if (roll < 54) return randomBytes(rng, pick(rng, [0, 1, 16, 32, 61, 256]));
    if (roll < 64) return this.arrayOf(rng, () => this.value(rng, ctx, depth + 1));
    if (roll < 76) {
      const map: Record<string, unknown> = {};
      const count = rng.int(0, 5);
      for (let i = 0; i < count; i++) setOwn(map, chance(rng, 0.4) ? pick(rng, specialKeys) : pick(rng, commonFields), this.value(rng, ctx, depth + 1));
      return map;
    }
    if (roll < 82) return { toString: 0, valueOf: pick(rng, [0, null, 'x']), type: chance(rng, 0.5) ? pick(rng, this.types) : { toString: 0 } };
    if (roll < 88) return this.anyRef(rng, ctx);
    if (roll < 90) return nest(rng.int(valueDepthMax - 10, valueDepthMax), chance(rng, 0.5));
    if (roll < 96 && this.bigValues > 0) {
      this.bigValues -= 1;
      if (roll < 93) return chance(rng, 0.8) ? 'x'.repeat(pick(rng, [5_000, 70_000])) : 'é'.repeat(hugeStringCharsMax / 2);
      return chance(rng, 0.8) ? new Array(pick(rng, [1_000, 10_000])).fill(0) : new Array(100_000).fill(null);
    }
    if (roll < 96) return chance(rng, 0.5) ? 'x'.repeat(300) : new Array(rng.int(10, 100)).fill(1);
    return this.body(rng, ctx, pick(rng, this.types), this.anyRef(rng, ctx));
  }

  number(rng: Rng): number {
    return chance(rng, 0.7) ? pick(rng, specialNumbers) : rng.int(-(2 ** 31), 2 ** 31) * (chance(rng, 0.1) ? 1_000_000 : 1);
  }

  string(rng: Rng): string {
    if (chance(rng, 0.7)) return pick(rng, specialStrings);
    const length = rng.int(1, 40);
    let out = '';
    for (let i = 0; i < length; i++) out += String.fromCharCode(rng.int(0, 0x3000));
    return `${out} `; // never a valid topic name
  }

  private arrayOf(rng: Rng, make: () => unknown): unknown[] {
    const length = pick(rng, [0, 1, 1, 2, 3, 5]);
    return Array.from({ length }, make);
  }

  /** A ref: the sender's own reply slot, or another node's actor (a confused deputy), or a malformed one. */
  anyRef(rng: Rng, ctx: FrameContext): unknown {
    const roll = rng.int(0, 10);
    if (roll < 4) return { node: ctx.selfNodeId, path: `/temp/fz-${rng.int(0, 1 << 30)}` };
    if (roll < 8) return { node: pick(rng, [...ctx.brokerIds, ctx.selfNodeId, 'fz-nobody']), path: this.anyPath(rng, ctx) };
    return pick(rng, [null, {}, { node: 1, path: '/broker' }, { node: '1' }, { path: '/broker' }, '1:/broker', [ctx.selfNodeId, '/temp/1'], { node: { toString: 0 }, path: '/temp/1' }]);
  }

  anyPath(rng: Rng, ctx: FrameContext): string {
    const roll = rng.int(0, 10);
    if (roll < 6) return pick(rng, brokerActorPaths);
    if (roll < 8 && ctx.extraPaths.length > 0) return pick(rng, ctx.extraPaths);
    if (roll < 9) return `/temp/${pick(rng, [String(rng.int(0, 1_000)), 'fz-1', '', '../broker'])}`;
    return pick(rng, nonsensePaths);
  }

  /** Encodes a value with the fuzzer's encoder into a buffer of its own (throws on what msgpack cannot hold). */
  pack(value: unknown): Buffer {
    return packCopy(value);
  }

  schemasKnown(): readonly MessageSchema[] {
    return this.schemas;
  }
}

/**
 * Whether the runtime closes the link on this frame (malformed msgpack, a bad
 * version): decoded here with the runtime's own decoder, so a session can keep
 * such frames for its end instead of losing its link in the middle.
 */
export function isFatalFrame(bytes: Uint8Array): boolean {
  const values = decodeFrame(bytes);
  if (isDecodeFailure(values)) return true;
  for (const value of values) {
    const envelope = validateEnvelope(value);
    if (isDecodeFailure(envelope) && envelope.fatal) return true;
    // A hello or auth after the handshake, a hello claiming another node: the link goes too.
    if (!isDecodeFailure(envelope) && envelope.kind === Kind.Hello) return true;
  }
  return false;
}

/** A hello envelope: `role` may be a wrong one; the challenge is random (a forged peer never proves anything). */
export function helloEnvelope(rng: Rng, nodeId: unknown, role: string, proof: Uint8Array | null = null): unknown[] {
  return [protocolVersion, Kind.Hello, nodeId, `inc-${rng.int(0, 1 << 30)}`, null, role, randomBytes(rng, challengeBytes), proof];
}

/** A malformed hello (wrong arity, types, lengths), for the handshake itself. */
export function badHelloEnvelope(rng: Rng, gen: FrameGenerator, ctx: FrameContext): unknown[] {
  const hello = helloEnvelope(rng, ctx.selfNodeId, 'client');
  const index = rng.int(0, hello.length + 1);
  if (index === hello.length) hello.push(gen.value(rng, ctx, 1));
  else if (chance(rng, 0.2)) hello.splice(index, 1);
  else hello[index] = gen.value(rng, ctx, 1);
  return hello;
}

/** Sets an own, enumerable property, even `__proto__` (an assignment would set the prototype instead). */
function setOwn(map: Record<string, unknown>, key: string, value: unknown): void {
  Object.defineProperty(map, key, { value, enumerable: true, writable: true, configurable: true });
}

function nest(depth: number, asArray: boolean): unknown {
  let value: unknown = 0;
  for (let i = 0; i < depth; i++) value = asArray ? [value] : { n: value };
  return value;
}

function mutate(rng: Rng, bytes: Buffer): { mutated: Buffer; how: string } {
  const out = Buffer.from(bytes);
  switch (rng.int(0, 6)) {
    case 0: {
      const flips = rng.int(1, 4);
      for (let i = 0; i < flips; i++) {
        const at = rng.int(0, out.length);
        out[at] = out[at]! ^ (1 << rng.int(0, 8));
      }
      return { mutated: out, how: `${flips} bit flip(s)` };
    }
    case 1: {
      const at = rng.int(0, out.length);
      return { mutated: out.subarray(0, at), how: `truncated to ${at} of ${out.length} bytes` };
    }
    case 2: {
      const at = rng.int(0, out.length);
      out[at] = pick(rng, [0xc1, 0xff, 0xdd, 0xdf, 0xc4, 0xcf, 0xd3, 0x00, 0x7f, 0x80, 0x90, 0xa0]);
      return { mutated: out, how: `byte ${at} set to a type marker` };
    }
    case 3: {
      const at = rng.int(0, out.length);
      return { mutated: Buffer.concat([out.subarray(0, at), randomBytes(rng, rng.int(1, 8)), out.subarray(at)]), how: `bytes inserted at ${at}` };
    }
    case 4:
      return { mutated: Buffer.concat([out, out.subarray(0, rng.int(1, out.length + 1))]), how: 'a prefix repeated after it' };
    default: {
      // A length prefix made huge: str32/bin32/array32/map32 with a length past the frame.
      const marker = pick(rng, [0xdb, 0xc6, 0xdd, 0xdf]);
      return { mutated: Buffer.concat([out.subarray(0, rng.int(0, out.length)), Buffer.from([marker, 0x7f, 0xff, 0xff, 0xff])]), how: 'a 2 GiB length prefix' };
    }
  }
}
