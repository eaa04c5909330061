/**
 * The real `GroupTransport`: FindCoordinator to `/groups` on any broker,
 * group requests to `/groups` on the coordinator, partition counts from the
 * client's metadata cache.
 *
 * FindCoordinator answers COORDINATOR_NOT_AVAILABLE while the offsets topic
 * has no leader (retriable: the member retries with backoff). The answer
 * names the coordinator's host and port; a broker the client has not heard
 * of yet is added to the node's peers so the next request can reach it.
 *
 * `withRequestEvents` wraps a transport with the REQUEST events and the
 * request metrics (duration and errors by api: FindCoordinator, JoinGroup,
 * SyncGroup, Heartbeat, OffsetCommit, OffsetFetch, LeaveGroup); with neither
 * a listener nor metrics it adds one test per request.
 *
 * Imports: runtime ref type, protocol/errors.ts, ../kactus.ts (types), ../metrics.ts (types), ./group-member.ts (types).
 */
import { ErrorCode, KactusError } from '../../protocol/errors.ts';
import type { Ref } from '../../runtime/ref.ts';
import type { ClientContext } from '../kactus.ts';
import { brokerUrl } from '../connection.ts';
import type { ConsumerMetrics } from '../metrics.ts';
import type { ConsumerInstrumentation } from './events.ts';
import type { GroupRequestBody, GroupTransport } from './group-member.ts';

type FindCoordinator = { type: 'FindCoordinator'; key: string; keyType: 0; replyTo: Ref<FindCoordinatorReply> };
type FindCoordinatorReply = { type: 'FindCoordinatorReply'; errorCode: number; errorMessage: string | null; nodeId: number; host: string; port: number };

export const groupsPath = '/groups';

export function groupTransport(context: ClientContext): GroupTransport {
  const { connection, metadata, config } = context;
  let lastBroker: number | undefined;
  return {
    async findCoordinator(groupId) {
      const via = connection.pickBroker(lastBroker);
      lastBroker = via;
      const reply = await connection.node.ask<FindCoordinator, FindCoordinatorReply>({ node: String(via), path: groupsPath }, (replyTo) => ({ type: 'FindCoordinator', key: groupId, keyType: 0, replyTo }), { timeoutMs: config.requestTimeoutMs });
      if (reply.errorCode !== 0) throw new KactusError(reply.errorCode, `FindCoordinator for group ${groupId}: ${reply.errorMessage ?? 'failed'}`);
      if (connection.node.peerStatus(String(reply.nodeId)) === 'unknown') connection.node.addPeer(String(reply.nodeId), brokerUrl(reply, connection.scheme));
      return reply.nodeId;
    },
    request<R>(coordinatorId: number, body: GroupRequestBody, timeoutMs: number): Promise<R> {
      return connection.node.ask<unknown, R>({ node: String(coordinatorId), path: groupsPath }, (replyTo) => ({ ...body, replyTo }), { timeoutMs });
    },
    async partitionCounts(topics) {
      const counts = new Map<string, number>();
      await Promise.all(
        topics.map(async (topic) => {
          try {
            const meta = await metadata.topic(topic);
            counts.set(topic, meta.partitions.length);
          } catch (err) {
            if (!(err instanceof KactusError) || err.code !== ErrorCode.UNKNOWN_TOPIC_OR_PARTITION) throw err;
          }
        }),
      );
      return counts;
    },
  };
}

/** `transport` with a REQUEST (or REQUEST_TIMEOUT) event per coordinator request when someone listens, and request metrics when on. */
export function withRequestEvents(transport: GroupTransport, events: ConsumerInstrumentation, clientId: string, metrics?: ConsumerMetrics): GroupTransport {
  return {
    async findCoordinator(groupId) {
      if (metrics === undefined) return transport.findCoordinator(groupId);
      const startedMs = performance.now();
      try {
        const nodeId = await transport.findCoordinator(groupId);
        metrics.requests.observe('FindCoordinator', performance.now() - startedMs, 0);
        return nodeId;
      } catch (err) {
        metrics.requests.observe('FindCoordinator', performance.now() - startedMs, err instanceof KactusError ? err.code : ErrorCode.NETWORK_EXCEPTION);
        throw err;
      }
    },
    partitionCounts: (topics) => transport.partitionCounts(topics),
    async request<R>(coordinatorId: number, body: GroupRequestBody, timeoutMs: number): Promise<R> {
      const listened = events.wants('consumer.network.request') || events.wants('consumer.network.request_timeout');
      if (!listened && metrics === undefined) return transport.request<R>(coordinatorId, body, timeoutMs);
      const createdAt = Date.now();
      const startedMs = performance.now();
      try {
        const reply = await transport.request<R>(coordinatorId, body, timeoutMs);
        const duration = performance.now() - startedMs;
        const replyCode = (reply as { errorCode?: unknown }).errorCode;
        const errorCode = typeof replyCode === 'number' ? replyCode : 0;
        metrics?.requests.observe(body.type, duration, errorCode);
        if (events.wants('consumer.network.request')) events.emit('consumer.network.request', { broker: coordinatorId, apiName: body.type, clientId, createdAt, duration, errorCode });
        return reply;
      } catch (err) {
        const code = err instanceof KactusError ? err.code : ErrorCode.NETWORK_EXCEPTION;
        const duration = performance.now() - startedMs;
        metrics?.requests.observe(body.type, duration, code);
        if (code === ErrorCode.REQUEST_TIMED_OUT && events.wants('consumer.network.request_timeout')) events.emit('consumer.network.request_timeout', { broker: coordinatorId, apiName: body.type, clientId, createdAt, duration });
        if (events.wants('consumer.network.request')) events.emit('consumer.network.request', { broker: coordinatorId, apiName: body.type, clientId, createdAt, duration, errorCode: code });
        throw err;
      }
    },
  };
}
