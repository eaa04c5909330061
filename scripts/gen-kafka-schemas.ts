/**
 * Generates protocol/kafka/schemas.generated.ts from Kafka's message
 * definitions in ../shared/kafka-protocol/*.json: the request and response
 * schemas of the APIs the Kafka listener serves, and the two headers, in a
 * normalized form that protocol/kafka/codec.ts interprets (one codec for every
 * API, nothing hand-written per API).
 *
 * Normalization: JSON with // comments is parsed; version ranges become
 * [min, max] pairs (max 32767 for "N+"; null for "none"); field names become
 * camelCase (ThrottleTimeMs -> throttleTimeMs); `[]Type` becomes an array
 * of the primitive or of the inline / common struct; `default` values are
 * parsed into numbers, booleans, strings or null. An API whose latest version
 * is marked unstable (`latestVersionUnstable`) is served one version short.
 *
 * The output is committed so that a clone without shared/ still builds;
 * protocol/kafka/schemas.test.ts regenerates it in memory and fails when the
 * JSON and the committed file disagree. Run: npx tsx scripts/gen-kafka-schemas.ts
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FieldSchema, MessageSchema } from '../protocol/kafka/schema-types.ts';

const here = dirname(fileURLToPath(import.meta.url));
export const kafkaProtocolDir = join(here, '..', '..', 'shared', 'kafka-protocol');
export const schemasOutPath = join(here, '..', 'protocol', 'kafka', 'schemas.generated.ts');

/** The APIs the Kafka listener serves (issue #18), by Kafka's message name. */
export const servedApis = [
  'Produce', 'Fetch', 'ListOffsets', 'Metadata', 'OffsetCommit', 'OffsetFetch', 'FindCoordinator', 'JoinGroup',
  'Heartbeat', 'LeaveGroup', 'SyncGroup', 'DescribeGroups', 'ListGroups', 'SaslHandshake', 'ApiVersions',
  'CreateTopics', 'DeleteTopics', 'DeleteRecords', 'InitProducerId', 'OffsetForLeaderEpoch', 'AddPartitionsToTxn',
  'AddOffsetsToTxn', 'EndTxn', 'TxnOffsetCommit', 'DescribeConfigs', 'AlterConfigs', 'SaslAuthenticate',
  'CreatePartitions', 'DeleteGroups', 'ElectLeaders', 'IncrementalAlterConfigs', 'AlterPartitionReassignments',
  'ListPartitionReassignments', 'OffsetDelete', 'DescribeCluster', 'DescribeProducers', 'DescribeTransactions',
  'ListTransactions', 'CreateAcls', 'DescribeAcls', 'DeleteAcls',
] as const;

const versionMax = 32_767;

type Range = [number, number] | null;

type RawField = {
  name: string;
  type: string;
  versions?: string;
  nullableVersions?: string;
  taggedVersions?: string;
  tag?: number;
  flexibleVersions?: string;
  default?: string | number | boolean;
  ignorable?: boolean;
  fields?: RawField[];
};

type RawMessage = {
  apiKey?: number;
  type: string;
  name: string;
  validVersions: string;
  flexibleVersions: string;
  latestVersionUnstable?: boolean;
  fields: RawField[];
  commonStructs?: { name: string; versions?: string; fields: RawField[] }[];
};

function parseRange(text: string | undefined, what: string): Range {
  if (text === undefined || text === 'none') return null;
  const plus = /^(\d+)\+$/.exec(text);
  if (plus) return [Number(plus[1]), versionMax];
  const span = /^(\d+)-(\d+)$/.exec(text);
  if (span) return [Number(span[1]), Number(span[2])];
  if (/^\d+$/.test(text)) return [Number(text), Number(text)];
  throw new Error(`${what}: bad version range ${JSON.stringify(text)}`);
}

/** Kafka's JSON has // comments (never inside strings in these files' code lines). */
function parseJsonWithComments(text: string, file: string): RawMessage {
  const stripped = text
    .split('\n')
    .map((line) => {
      const at = line.indexOf('//');
      return at < 0 ? line : line.slice(0, at);
    })
    .join('\n');
  try {
    return JSON.parse(stripped) as RawMessage;
  } catch (err) {
    throw new Error(`${file}: ${(err as Error).message}`);
  }
}

const primitives = new Set(['bool', 'int8', 'int16', 'uint16', 'int32', 'uint32', 'int64', 'float64', 'string', 'bytes', 'records', 'uuid']);

function camel(name: string): string {
  return name.charAt(0).toLowerCase() + name.slice(1);
}

/** undefined when the JSON gives none (the type's zero value); null for an explicit "null". */
function parseDefault(field: RawField, elementType: string): string | number | boolean | null | undefined {
  const raw = field.default;
  if (raw === undefined) return undefined;
  if (typeof raw !== 'string') return raw;
  if (raw === 'null') return null;
  if (elementType === 'bool') return raw === 'true';
  if (/^(int|uint|float)/.test(elementType)) return raw.startsWith('0x') ? Number.parseInt(raw, 16) : Number(raw);
  return raw;
}

function normalizeFields(fields: readonly RawField[], structs: ReadonlyMap<string, RawField[]>, where: string): FieldSchema[] {
  return fields.map((field) => {
    const what = `${where}.${field.name}`;
    const isArray = field.type.startsWith('[]');
    const elementType = isArray ? field.type.slice(2) : field.type;
    const isPrimitive = primitives.has(elementType);
    const structFields = isPrimitive ? null : (field.fields ?? structs.get(elementType));
    if (!isPrimitive && structFields === undefined) throw new Error(`${what}: unknown type ${elementType}`);
    const versions = parseRange(field.versions, what);
    if (versions === null) throw new Error(`${what}: no versions`);
    return {
      name: camel(field.name),
      type: isArray ? `[]${isPrimitive ? elementType : 'struct'}` : isPrimitive ? elementType : 'struct',
      versions,
      nullable: parseRange(field.nullableVersions, what),
      tagged: parseRange(field.taggedVersions, what),
      tag: field.tag ?? null,
      neverFlexible: field.flexibleVersions === 'none',
      default: parseDefault(field, elementType),
      fields: structFields === null || structFields === undefined ? null : normalizeFields(structFields, structs, what),
    };
  });
}

export function normalizeMessage(raw: RawMessage, file: string): MessageSchema {
  const structs = new Map((raw.commonStructs ?? []).map((s) => [s.name, s.fields] as const));
  const valid = parseRange(raw.validVersions, file);
  if (valid === null) throw new Error(`${file}: no valid versions`);
  const versions: [number, number] = raw.latestVersionUnstable === true && valid[1] > valid[0] ? [valid[0], valid[1] - 1] : valid;
  if (raw.type !== 'request' && raw.type !== 'response' && raw.type !== 'header') throw new Error(`${file}: type ${raw.type}`);
  return {
    name: raw.name,
    apiKey: raw.apiKey ?? null,
    kind: raw.type,
    versions,
    flexible: parseRange(raw.flexibleVersions, file),
    fields: normalizeFields(raw.fields, structs, raw.name),
  };
}

export function loadSchemas(dir = kafkaProtocolDir): MessageSchema[] {
  const files = ['RequestHeader', 'ResponseHeader', ...servedApis.flatMap((api) => [`${api}Request`, `${api}Response`])];
  return files.map((name) => normalizeMessage(parseJsonWithComments(readFileSync(join(dir, `${name}.json`), 'utf8'), `${name}.json`), `${name}.json`));
}

export function renderSchemas(schemas: readonly MessageSchema[]): string {
  const body = schemas.map((schema) => `  ${JSON.stringify(schema)},`).join('\n');
  return [
    '// Generated by scripts/gen-kafka-schemas.ts from shared/kafka-protocol/*.json (Apache Kafka\'s message',
    '// definitions, Apache License 2.0). Do not edit: change the generator and run it again.',
    "import type { MessageSchema } from './schema-types.ts';",
    '',
    'export const messageSchemas: readonly MessageSchema[] = [',
    body,
    '];',
    '',
  ].join('\n');
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  writeFileSync(schemasOutPath, renderSchemas(loadSchemas()));
}
