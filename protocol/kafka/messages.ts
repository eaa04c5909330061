/**
 * Kafka's APIs as this broker knows them: the request and response schema of
 * every served API by key, the header versions each API version uses, and
 * the frame-level decode of a request (header, then body).
 *
 * Owns: `apis` (key -> name, schemas, version range), `requestHeaderVersion`,
 * `responseHeaderVersion`, `decodeRequest`, `encodeResponse`, and
 * `RequestProblem` (what a listener does about a request it cannot read).
 *
 * Header versions (Kafka's ApiKeys): a flexible request version uses request
 * header v2 (tagged fields), else v1 (v0 only for ControlledShutdown v0, which
 * is not served); a flexible response uses response header v1, except
 * ApiVersions, whose response header is always v0 so that a client that does
 * not know the broker's versions yet can read it.
 *
 * What Kafka does with a request it cannot serve, and so do we:
 * - An ApiVersions version beyond ours: an ApiVersions v0 response with
 *   UNSUPPORTED_VERSION and our version list (KIP-511), so the client can
 *   retry with one we know.
 * - Any other unknown key or version, or a body that does not parse: the
 *   connection is closed (Kafka's InvalidRequestException path).
 */
import { codecFor, KafkaDecodeError, KafkaReader, KafkaWriter, type KafkaValue } from './codec.ts';
import { messageSchemas } from './schemas.generated.ts';
import type { MessageSchema } from './schema-types.ts';

export type ApiInfo = {
  readonly apiKey: number;
  /** Kafka's name without Request/Response, e.g. Fetch. */
  readonly name: string;
  readonly request: MessageSchema;
  readonly response: MessageSchema;
  readonly minVersion: number;
  readonly maxVersion: number;
};

function schemaNamed(name: string): MessageSchema {
  const schema = messageSchemas.find((s) => s.name === name);
  if (schema === undefined) throw new Error(`no schema ${name}`);
  return schema;
}

export const requestHeaderSchema = schemaNamed('RequestHeader');
export const responseHeaderSchema = schemaNamed('ResponseHeader');

/** Every API with a request schema, by key. Versions: those both the request and the response schema know. */
export const apis: ReadonlyMap<number, ApiInfo> = new Map(
  messageSchemas
    .filter((s) => s.kind === 'request' && s.apiKey !== null)
    .map((request) => {
      const name = request.name.replace(/Request$/, '');
      const response = schemaNamed(`${name}Response`);
      const info: ApiInfo = {
        apiKey: request.apiKey!,
        name,
        request,
        response,
        minVersion: Math.max(request.versions[0], response.versions[0]),
        maxVersion: Math.min(request.versions[1], response.versions[1]),
      };
      return [info.apiKey, info] as const;
    }),
);

export const apiKeys = Object.freeze(Object.fromEntries([...apis.values()].map((a) => [a.name, a.apiKey]))) as Readonly<Record<string, number>>;

const isFlexible = (schema: MessageSchema, version: number): boolean => schema.flexible !== null && version >= schema.flexible[0] && version <= schema.flexible[1];

export function requestHeaderVersion(api: ApiInfo, version: number): number {
  return isFlexible(api.request, version) ? 2 : 1;
}

export function responseHeaderVersion(api: ApiInfo, version: number): number {
  if (api.apiKey === apiKeys.ApiVersions) return 0;
  return isFlexible(api.response, version) ? 1 : 0;
}

export type RequestHeader = { apiKey: number; apiVersion: number; correlationId: number; clientId: string | null };

export type DecodedRequest =
  | { kind: 'request'; header: RequestHeader; api: ApiInfo; body: KafkaValue }
  /** ApiVersions at a version beyond ours: answer v0 UNSUPPORTED_VERSION with our versions. */
  | { kind: 'unsupported-api-versions'; header: RequestHeader }
  /** Close the connection: Kafka's answer to what it cannot parse or does not serve. */
  | { kind: 'close'; header: RequestHeader | null; reason: string };

/** Decodes one request frame (the bytes after the size prefix). Never throws on bad input. */
export function decodeRequest(frame: Buffer): DecodedRequest {
  const reader = new KafkaReader(frame);
  let apiKey: number;
  let apiVersion: number;
  let correlationId: number;
  try {
    apiKey = reader.int16('request api key');
    apiVersion = reader.int16('request api version');
    correlationId = reader.int32('correlation id');
  } catch (err) {
    return { kind: 'close', header: null, reason: (err as Error).message };
  }
  const partial: RequestHeader = { apiKey, apiVersion, correlationId, clientId: null };
  const api = apis.get(apiKey);
  if (api === undefined) return { kind: 'close', header: partial, reason: `unknown api key ${apiKey}` };
  const supported = apiVersion >= api.minVersion && apiVersion <= api.maxVersion;
  if (!supported && !(api.apiKey === apiKeys.ApiVersions && apiVersion > api.maxVersion)) {
    return { kind: 'close', header: partial, reason: `${api.name} v${apiVersion} is not supported (${api.minVersion}-${api.maxVersion})` };
  }
  try {
    // A newer ApiVersions than ours is read with the newest header we know (KIP-511); its body is not read.
    const headerVersion = supported ? requestHeaderVersion(api, apiVersion) : 2;
    reader.offset = 0;
    const header = codecFor(requestHeaderSchema, headerVersion).read(reader);
    const clientId = typeof header.clientId === 'string' ? header.clientId : null;
    const full: RequestHeader = { apiKey, apiVersion, correlationId, clientId };
    if (!supported) return { kind: 'unsupported-api-versions', header: full };
    const body = codecFor(api.request, apiVersion).read(reader);
    if (reader.remaining() !== 0) return { kind: 'close', header: full, reason: `${api.name} v${apiVersion}: ${reader.remaining()} bytes after the body` };
    return { kind: 'request', header: full, api, body };
  } catch (err) {
    if (err instanceof KafkaDecodeError || err instanceof RangeError) return { kind: 'close', header: partial, reason: err.message };
    throw err;
  }
}

/** One response frame: int32 size, the response header for (api, version), the body. */
export function encodeResponse(api: ApiInfo, version: number, correlationId: number, body: KafkaValue, writer = new KafkaWriter(512)): Buffer {
  const sizeAt = writer.reserveInt32();
  codecFor(responseHeaderSchema, responseHeaderVersion(api, version)).write(writer, { correlationId });
  codecFor(api.response, version).write(writer, body);
  writer.patchInt32(sizeAt, writer.length - sizeAt - 4);
  return Buffer.from(writer.view());
}

/** One request frame (for tests and tools that speak to the listener). */
export function encodeRequest(api: ApiInfo, version: number, header: { correlationId: number; clientId: string | null }, body: KafkaValue): Buffer {
  const writer = new KafkaWriter(512);
  const sizeAt = writer.reserveInt32();
  codecFor(requestHeaderSchema, requestHeaderVersion(api, version)).write(writer, { requestApiKey: api.apiKey, requestApiVersion: version, correlationId: header.correlationId, clientId: header.clientId });
  codecFor(api.request, version).write(writer, body);
  writer.patchInt32(sizeAt, writer.length - sizeAt - 4);
  return Buffer.from(writer.view());
}

/** Decodes a response body (the bytes after the size prefix), for tests and tools. Throws KafkaDecodeError. */
export function decodeResponse(api: ApiInfo, version: number, frame: Buffer): { correlationId: number; body: KafkaValue } {
  const reader = new KafkaReader(frame);
  const header = codecFor(responseHeaderSchema, responseHeaderVersion(api, version)).read(reader);
  const body = codecFor(api.response, version).read(reader);
  if (reader.remaining() !== 0) throw new KafkaDecodeError(`${api.name} v${version} response: ${reader.remaining()} bytes after the body`);
  return { correlationId: header.correlationId as number, body };
}
