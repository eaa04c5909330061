/**
 * The Kafka listener's request handler: Kafka's APIs translated into the same
 * actor messages the native listener carries, asked of this node's actors
 * with `Node.askAsClient`, so a request through this listener is held to the
 * very client protocol a native client is (no more rights, no other path).
 *
 * Owns: `servedApiVersions` (what ApiVersions advertises: the truth about
 * what this module answers), `createKafkaHandler`.
 *
 * Served so far: ApiVersions and Metadata (enough for `kcat -L` and for a
 * client's bootstrap). Every other API is left out of ApiVersions, and a
 * request for one closes its connection, as Kafka does for an API it does
 * not know; issue #18 lists the rest.
 */
import { apiKeys, apis } from '../../protocol/kafka/messages.ts';
import type { MetadataResponse } from '../controller/metadata/index.ts';
import { dataApis } from './data-apis.ts';
import { saslApiVersions, type KafkaRequestHandler } from './listener.ts';
import { groupApis } from './group-apis.ts';
import { kafkaMetadataBody, metadataTopicsRequested } from './metadata.ts';
import { adminApis } from './admin-apis.ts';
import { txnApis } from './txn-apis.ts';
import { aclApis } from './acl-apis.ts';
import { kafkaGatewayAskTimeoutMs, type ListenerDeps, type ServedApis } from './served.ts';

export { kafkaGatewayAskTimeoutMs } from './served.ts';

const basics: ServedApis = {
  ApiVersions: {
    minVersion: 0,
    maxVersion: 4,
    handle: async (_request, { sasl }) => ({ errorCode: 0, apiKeys: servedApiVersions(sasl), throttleTimeMs: 0 }),
  },
  Metadata: {
    minVersion: 0,
    maxVersion: 12,
    handle: async ({ version, body }, { node, listenerName, caller }) => {
      const requested = metadataTopicsRequested(version, body);
      // Before v4 there is no flag: Kafka creates missing topics (when the broker allows it).
      const allowAutoTopicCreation = version >= 4 ? body.allowAutoTopicCreation === true : true;
      const reply = await node.askAsClient<unknown, MetadataResponse & { type: string }>(
        '/broker',
        (replyTo) => ({ type: 'Metadata', topics: requested.names, allowAutoTopicCreation: allowAutoTopicCreation && requested.ids.length === 0, replyTo }),
        { timeoutMs: kafkaGatewayAskTimeoutMs, caller },
      );
      return kafkaMetadataBody(reply, listenerName, requested);
    },
  },
};

/**
 * Every API module's table. Each area (data, groups, transactions, admin)
 * lives in its own module and adds one line here.
 */
const served: ServedApis = {
  ...basics,
  ...dataApis,
  ...groupApis,
  ...adminApis,
  ...txnApis,
  ...aclApis,
};

/**
 * Every API this handler answers, with the versions it answers (each within Kafka's schema range);
 * on a SASL listener also the two SASL APIs, which the listener answers itself (listener.ts).
 */
export function servedApiVersions(sasl = false): { apiKey: number; minVersion: number; maxVersion: number }[] {
  return [...Object.entries(served), ...(sasl ? Object.entries(saslApiVersions) : [])]
    .map(([name, entry]) => {
      const info = apis.get(apiKeys[name]!)!;
      return { apiKey: info.apiKey, minVersion: Math.max(entry.minVersion, info.minVersion), maxVersion: Math.min(entry.maxVersion, info.maxVersion) };
    })
    .sort((a, b) => a.apiKey - b.apiKey);
}

export function createKafkaHandler(listener: ListenerDeps): KafkaRequestHandler {
  return async (request) => {
    const entry = Object.hasOwn(served, request.api.name) ? served[request.api.name] : undefined;
    if (entry === undefined || request.version < entry.minVersion || request.version > entry.maxVersion) {
      // Kafka closes the connection of a request it does not serve; the listener does on a throw.
      throw new Error(`${request.api.name} v${request.version} is not served by this listener`);
    }
    return entry.handle(request, { ...listener, caller: { principal: request.principal, host: request.connection.remoteAddress } });
  };
}
