/**
 * Frames for fuzzing the Kafka listener: seeded, reproducible, drawn from
 * Kafka's own message schemas so they reach deep into every request codec
 * rather than stopping at the header.
 *
 * Owns: `KafkaFrameGenerator` (next() -> a size-prefixed frame and how it was
 * made) and `randomRequestBody` (a value for any request schema and version,
 * from a seeded Rng). Pure: no sockets.
 *
 * Strategies, by weight:
 * - valid: a well-formed request of a random served-or-not API and version
 *   (every field drawn from its type), sometimes with oversized counts;
 * - mutated: a valid one with bytes flipped, a length inflated, or cut short
 *   (the size prefix still says the truth about what is sent, so the frame
 *   splitter hands it over whole and the codec must refuse it);
 * - header: a bare header with a random key and version (unknown APIs,
 *   future versions, ApiVersions from the future);
 * - noise: random bytes behind a truthful size prefix;
 * - fatal: a size prefix over the frame limit or negative (the listener
 *   closes the connection; the fuzzer opens another).
 */
import { KafkaWriter, codecFor, type KafkaValue } from '../../protocol/kafka/codec.ts';
import { apis, requestHeaderSchema, requestHeaderVersion, type ApiInfo } from '../../protocol/kafka/messages.ts';
import type { FieldSchema } from '../../protocol/kafka/schema-types.ts';
import type { Rng } from '../../runtime/rng.ts';

export type KafkaFrameStrategy = 'valid' | 'mutated' | 'header' | 'noise' | 'fatal';

export type GeneratedKafkaFrame = { readonly strategy: KafkaFrameStrategy; readonly api: string | null; readonly version: number | null; readonly bytes: Buffer };

const weights: readonly [KafkaFrameStrategy, number][] = [['valid', 30], ['mutated', 45], ['header', 10], ['noise', 13], ['fatal', 2]];

/** Array lengths drawn for generated values (small: depth multiplies them). */
const arrayLengthMax = 3;
/** String and bytes lengths drawn. */
const bytesLengthMax = 24;

const inRange = (range: readonly [number, number] | null, version: number) => range !== null && version >= range[0] && version <= range[1];

function pick<T>(rng: Rng, items: readonly T[]): T {
  return items[rng.int(0, items.length)]!;
}

function randomString(rng: Rng): string {
  const alphabet = 'abcdefghij-_.0123456789__consumer_offsets';
  let out = '';
  for (let i = rng.int(0, bytesLengthMax); i > 0; i -= 1) out += alphabet[rng.int(0, alphabet.length)];
  return out;
}

function randomBytes(rng: Rng, length: number): Buffer {
  const out = Buffer.alloc(length);
  for (let i = 0; i < length; i += 1) out[i] = rng.int(0, 256);
  return out;
}

function randomInt(rng: Rng, type: string): number {
  const interesting = [0, -1, 1, 2, 127, -128, 32_767, 2_147_483_647, -2_147_483_648];
  const value = rng.next() < 0.5 ? pick(rng, interesting) : rng.int(-1_000, 100_000);
  switch (type) {
    case 'int8':
      return Math.max(-128, Math.min(127, value));
    case 'int16':
      return Math.max(-32_768, Math.min(32_767, value));
    case 'uint16':
      return Math.max(0, Math.min(65_535, value));
    case 'uint32':
      return Math.max(0, value);
    default:
      return value;
  }
}

function randomField(rng: Rng, field: FieldSchema, version: number, depth: number): unknown {
  const nullable = inRange(field.nullable, version);
  if (nullable && rng.next() < 0.1) return null;
  if (field.type.startsWith('[]')) {
    const length = depth > 3 ? 0 : rng.int(0, arrayLengthMax + 1);
    const element = field.type.slice(2);
    return Array.from({ length }, () => (element === 'struct' ? randomStruct(rng, field.fields ?? [], version, depth + 1) : randomPrimitive(rng, element)));
  }
  if (field.type === 'struct') return randomStruct(rng, field.fields ?? [], version, depth + 1);
  return randomPrimitive(rng, field.type);
}

function randomPrimitive(rng: Rng, type: string): unknown {
  switch (type) {
    case 'bool':
      return rng.next() < 0.5;
    case 'int64':
      return rng.next() < 0.3 ? pick(rng, [-1, -2, 0, 2 ** 53 - 1]) : rng.int(-10, 1_000_000);
    case 'float64':
      return rng.next() * 100;
    case 'uuid':
      return randomBytes(rng, 16).toString('hex').replace(/^(.{8})(.{4})(.{4})(.{4})(.{12})$/, '$1-$2-$3-$4-$5');
    case 'string':
      return randomString(rng);
    case 'bytes':
    case 'records':
      return randomBytes(rng, rng.int(0, bytesLengthMax * 4));
    default:
      return randomInt(rng, type);
  }
}

function randomStruct(rng: Rng, fields: readonly FieldSchema[], version: number, depth: number): KafkaValue {
  const value: KafkaValue = {};
  for (const field of fields) if (inRange(field.versions, version)) value[field.name] = randomField(rng, field, version, depth);
  return value;
}

/**
 * Fields of requests that create state (topics, partitions) whose drawn
 * value is kept small in *valid* frames: a well-formed CreateTopics with
 * 100,000 partitions is a legitimate request that the cluster serves, and
 * serving thousands of such makes the fuzz a load test (creating a replica
 * costs about 3 ms of a broker's event loop: a known limit, issue #20), not
 * a robustness test. Mutated frames keep their huge counts.
 */
const stateCountFields: Readonly<Record<string, readonly [number, number]>> = {
  numPartitions: [-1, 4],
  replicationFactor: [-1, 3],
  count: [0, 6],
};
const stateCreatingApis: ReadonlySet<string> = new Set(['CreateTopics', 'CreatePartitions']);

function clampStateCounts(value: unknown, rng: Rng): void {
  if (Array.isArray(value)) {
    for (const item of value) clampStateCounts(item, rng);
    return;
  }
  if (typeof value !== 'object' || value === null || value instanceof Uint8Array) return;
  const record = value as KafkaValue;
  for (const [key, field] of Object.entries(record)) {
    const bounds = stateCountFields[key];
    if (bounds !== undefined && typeof field === 'number') record[key] = rng.int(bounds[0], bounds[1] + 1);
    else clampStateCounts(field, rng);
  }
}

/**
 * How many well-formed state-creating requests (CreateTopics,
 * CreatePartitions, Metadata that may auto-create the topics it names) may
 * really create state, shared by every connection of a run; past it they are
 * sent validateOnly (CreateTopics v0, which has no such flag, with no topics;
 * Metadata with allowAutoTopicCreation false), so the handlers are still
 * reached. A million-frame
 * run sends about 20,000 valid CreateTopics: unbounded, the cluster grows to
 * tens of thousands of partitions on 3 brokers of a 2-core machine, which is
 * a load test (Kafka's controller mutation quota, KIP-599, is off by
 * default), not a robustness test.
 */
export type StateCreationBudget = { remaining: number };
export const kafkaFuzzStateCreatingRequestsMax = 300;

/** A random value of `api`'s request at `version` (every field in range for its type); `budget` as StateCreationBudget says (none: unbounded). */
export function randomRequestBody(rng: Rng, api: ApiInfo, version: number, budget?: StateCreationBudget): KafkaValue {
  const body = randomStruct(rng, api.request.fields, version, 0);
  if (stateCreatingApis.has(api.name)) {
    clampStateCounts(body, rng);
    if (budget !== undefined) {
      if (budget.remaining > 0) budget.remaining -= 1;
      else if ('validateOnly' in body) body.validateOnly = true;
      else body.topics = [];
    }
  }
  // Metadata may auto-create every topic it names (auto.create.topics.enable is on, as in Kafka; v0-3 always
  // allow it): the same budget. Past it v4+ says allowAutoTopicCreation false and v0-3 names no topic (v0: all).
  if (api.name === 'Metadata' && budget !== undefined && body.allowAutoTopicCreation !== false && Array.isArray(body.topics) && body.topics.length > 0) {
    if (budget.remaining > 0) budget.remaining -= 1;
    else if (version >= 4) body.allowAutoTopicCreation = false;
    else body.topics = [];
  }
  return body;
}

function frame(body: Buffer): Buffer {
  const out = Buffer.alloc(4 + body.length);
  out.writeInt32BE(body.length, 0);
  body.copy(out, 4);
  return out;
}

export class KafkaFrameGenerator {
  private readonly apiList: readonly ApiInfo[] = [...apis.values()];
  private readonly servedList: readonly { api: ApiInfo; minVersion: number; maxVersion: number }[];
  private correlationId = 0;

  /**
   * `served`: the APIs and versions the listener answers (ApiVersions). A
   * clean session sends only well-formed requests of those, so the listener
   * parses and answers every one: that is how the fuzz reaches the handlers
   * behind the codec (a mixed session is closed at its first bad frame).
   */
  constructor(
    private readonly rng: Rng,
    private readonly frameBytesLimit: number,
    served: readonly { apiKey: number; minVersion: number; maxVersion: number }[] = [],
    private readonly stateBudget?: StateCreationBudget,
  ) {
    this.servedList = served.flatMap((v) => {
      const api = apis.get(v.apiKey);
      return api === undefined ? [] : [{ api, minVersion: v.minVersion, maxVersion: v.maxVersion }];
    });
  }

  /** Whether the next session is clean (only served, well-formed requests); drawn from the same seeded stream. */
  nextSessionClean(): boolean {
    return this.servedList.length > 0 && this.rng.next() < 0.5;
  }

  next(clean = false): GeneratedKafkaFrame {
    if (clean && this.servedList.length > 0) {
      const { api, minVersion, maxVersion } = pick(this.rng, this.servedList);
      const { version, body } = this.validRequest(api, this.rng.int(minVersion, maxVersion + 1));
      return { strategy: 'valid', api: api.name, version, bytes: frame(body) };
    }
    const strategy = this.strategy();
    switch (strategy) {
      case 'valid': {
        const { api, version, body } = this.validRequest();
        return { strategy, api: api.name, version, bytes: frame(body) };
      }
      case 'mutated': {
        const { api, version, body } = this.validRequest();
        const bytes = Buffer.from(body);
        const how = this.rng.int(0, 3);
        if (how === 0 || bytes.length <= 8) for (let flips = this.rng.int(1, 6); flips > 0; flips -= 1) bytes[this.rng.int(0, bytes.length)] = this.rng.int(0, 256);
        else if (how === 1) {
          // Inflate a 4-byte field past the header into a huge count or length.
          const at = this.rng.int(8, Math.max(9, bytes.length - 3));
          if (at + 4 <= bytes.length) bytes.writeInt32BE(pick(this.rng, [0x7fffffff, 0x10000000, -2, 1_000_000]), at);
        } else return { strategy, api: api.name, version, bytes: frame(bytes.subarray(0, this.rng.int(0, bytes.length))) };
        return { strategy, api: api.name, version, bytes: frame(bytes) };
      }
      case 'header': {
        const header = Buffer.alloc(10);
        const key = this.rng.next() < 0.7 ? pick(this.rng, this.apiList).apiKey : this.rng.int(-5, 100);
        header.writeInt16BE(key, 0);
        header.writeInt16BE(this.rng.next() < 0.5 ? this.rng.int(0, 20) : this.rng.int(-3, 32_767), 2);
        header.writeInt32BE(++this.correlationId, 4);
        header.writeInt16BE(-1, 8);
        return { strategy, api: null, version: null, bytes: frame(Buffer.concat([header, randomBytes(this.rng, this.rng.int(0, 16))])) };
      }
      case 'noise':
        return { strategy, api: null, version: null, bytes: frame(randomBytes(this.rng, this.rng.int(0, 200))) };
      case 'fatal': {
        const bytes = Buffer.alloc(4);
        bytes.writeInt32BE(this.rng.next() < 0.5 ? -this.rng.int(1, 1_000) : this.frameBytesLimit + this.rng.int(1, 1_000), 0);
        return { strategy, api: null, version: null, bytes };
      }
    }
  }

  private strategy(): KafkaFrameStrategy {
    let roll = this.rng.int(0, weights.reduce((sum, [, w]) => sum + w, 0));
    for (const [strategy, weight] of weights) {
      if (roll < weight) return strategy;
      roll -= weight;
    }
    return 'noise';
  }

  private validRequest(api: ApiInfo = pick(this.rng, this.apiList), version = this.rng.int(api.minVersion, api.maxVersion + 1)): { api: ApiInfo; version: number; body: Buffer } {
    const writer = new KafkaWriter(128);
    codecFor(requestHeaderSchema, requestHeaderVersion(api, version)).write(writer, { requestApiKey: api.apiKey, requestApiVersion: version, correlationId: ++this.correlationId, clientId: this.rng.next() < 0.5 ? 'fuzz' : null });
    try {
      codecFor(api.request, version).write(writer, randomRequestBody(this.rng, api, version, this.stateBudget));
    } catch {
      // A drawn value the codec refuses to write (e.g. a string too long for int16): send the header alone.
    }
    return { api, version, body: Buffer.from(writer.view()) };
  }
}

/** A frame that makes the listener close the connection (the fuzzer then reconnects). */
export function isFatalKafkaFrame(frame: GeneratedKafkaFrame): boolean {
  return frame.strategy === 'fatal';
}
