/**
 * What a client request needs (#19, item 3), pure: for each message a client
 * may deliver (the actors' client protocols), the ACL checks that must pass,
 * Kafka's per API (KafkaApis / AuthHelper). One table for every listener:
 * the native listener delivers these messages itself, and the Kafka listener
 * translates each Kafka request into them (askAsClient with the connection's
 * caller), so both are held to the same checks at the same point (the
 * runtime's admission, node.ts `admitFromClient`).
 *
 * Owns: `requiredAccess` (path + message -> checks in order; the first that
 * fails refuses the message with its code) and `Check`.
 *
 * Not here: what is filtered rather than refused (Metadata and listings
 * show only what the caller may DESCRIBE): the actors do that with the
 * stamped `caller`. ListGroups and ListTransactions need Describe on the
 * cluster here (Kafka answers them with the groups / ids the caller may
 * Describe instead). The messages are read defensively (the actor validates
 * them after): a field of the wrong type contributes no check, and the
 * actor then refuses the message for its shape.
 */
import { ErrorCode } from '../../protocol/errors.ts';
import { AclOperation as Op, AclResourceType as Resource, clusterResourceName } from './acl-authorizer.ts';

/** One requirement: any of `anyOf` allowed passes (a name of null: any resource of that type, Kafka's authorizeByResourceType). */
export type Check = {
  readonly anyOf: readonly { readonly operation: number; readonly resourceType: number; readonly resourceName: string | null }[];
  readonly errorCode: number;
  readonly what: string;
};

const on = (operation: number, resourceType: number, resourceName: string | null, errorCode: number, what: string): Check => ({ anyOf: [{ operation, resourceType, resourceName }], errorCode, what });
const cluster = (operation: number, what: string): Check => on(operation, Resource.CLUSTER, clusterResourceName, ErrorCode.CLUSTER_AUTHORIZATION_FAILED, what);
const topic = (operation: number, name: string, what: string): Check => on(operation, Resource.TOPIC, name, ErrorCode.TOPIC_AUTHORIZATION_FAILED, `${what} topic ${name}`);
const group = (operation: number, name: string, what: string): Check => on(operation, Resource.GROUP, name, ErrorCode.GROUP_AUTHORIZATION_FAILED, `${what} group ${name}`);
const txnId = (operation: number, name: string, what: string): Check => on(operation, Resource.TRANSACTIONAL_ID, name, ErrorCode.TRANSACTIONAL_ID_AUTHORIZATION_FAILED, `${what} transactional id ${name}`);

const text = (value: unknown): string | null => (typeof value === 'string' ? value : null);
const list = (value: unknown): readonly unknown[] => (Array.isArray(value) ? value : []);
const field = (value: unknown, name: string): unknown => (typeof value === 'object' && value !== null ? (value as Record<string, unknown>)[name] : undefined);

/** The distinct topic names of `items[].topic` (or `items[].name`), in order. */
function topicsOf(items: unknown, key = 'topic'): string[] {
  const names = new Set<string>();
  for (const item of list(items)) {
    const name = text(field(item, key));
    if (name !== null) names.add(name);
  }
  return [...names];
}

/** Idempotent producing: IDEMPOTENT_WRITE on the cluster, or WRITE on any topic (KIP-679, Kafka 3.0+). */
const idempotentWrite: Check = {
  anyOf: [
    { operation: Op.IDEMPOTENT_WRITE, resourceType: Resource.CLUSTER, resourceName: clusterResourceName },
    { operation: Op.WRITE, resourceType: Resource.TOPIC, resourceName: null },
  ],
  errorCode: ErrorCode.CLUSTER_AUTHORIZATION_FAILED,
  what: 'IdempotentWrite on the cluster (or Write on a topic)',
};

function adminChecks(command: unknown): Check[] {
  const type = text(field(command, 'type'));
  const resourceChecks = (operation: number, verb: string): Check[] =>
    list(field(command, 'resources')).flatMap((resource) => {
      const name = text(field(resource, 'resourceName'));
      if (name === null) return [];
      return field(resource, 'resourceType') === 'topic' ? [topic(operation, name, verb)] : [cluster(operation, `${verb} broker configs`)];
    });
  switch (type) {
    case 'CreateTopics':
      // Kafka: CREATE on the cluster, or on each topic.
      return topicsOf(field(command, 'topics'), 'name').map((name) => ({
        anyOf: [
          { operation: Op.CREATE, resourceType: Resource.CLUSTER, resourceName: clusterResourceName },
          { operation: Op.CREATE, resourceType: Resource.TOPIC, resourceName: name },
        ],
        errorCode: ErrorCode.TOPIC_AUTHORIZATION_FAILED,
        what: `Create topic ${name}`,
      }));
    case 'DeleteTopics':
      return list(field(command, 'topics')).flatMap((name) => (typeof name === 'string' ? [topic(Op.DELETE, name, 'Delete')] : []));
    case 'CreatePartitions':
      return topicsOf(field(command, 'topics'), 'name').map((name) => topic(Op.ALTER, name, 'Alter'));
    case 'DescribeConfigs':
      return resourceChecks(Op.DESCRIBE_CONFIGS, 'DescribeConfigs');
    case 'AlterConfigs':
      return resourceChecks(Op.ALTER_CONFIGS, 'AlterConfigs');
    case 'ElectLeaders':
    case 'AlterPartitionReassignments':
    case 'UnregisterBroker':
    case 'AlterUserScramCredentials':
    case 'CreateAcls':
    case 'DeleteAcls':
      return [cluster(Op.ALTER, `${type} (Alter on the cluster)`)];
    case 'ListPartitionReassignments':
    case 'DescribeUserScramCredentials':
    case 'DescribeAcls':
      return [cluster(Op.DESCRIBE, `${type} (Describe on the cluster)`)];
    default:
      // Unknown to this table: the broker's protocol admits only the commands above, and names no other.
      return [cluster(Op.ALTER, `${type ?? 'an admin command'} (Alter on the cluster)`)];
  }
}

/** The checks a client's `message` to `path` must pass, in order (empty: none beyond the actor's own filtering). */
export function requiredAccess(path: string, message: Readonly<Record<string, unknown>>): Check[] {
  const type = text(message.type);
  const transactionalId = text(message.transactionalId);
  const groupId = text(message.groupId);
  switch (`${path} ${type}`) {
    // ---------------------------------------------------------------- /broker
    case '/broker Produce': {
      const name = text(message.topic);
      return [...(transactionalId === null ? [] : [txnId(Op.WRITE, transactionalId, 'Write')]), ...(name === null ? [] : [topic(Op.WRITE, name, 'Write')])];
    }
    case '/broker InitProducerId':
      return transactionalId === null ? [idempotentWrite] : [txnId(Op.WRITE, transactionalId, 'Write')];
    case '/broker DescribeProducers':
      return topicsOf(message.topics).map((name) => topic(Op.READ, name, 'Read'));
    case '/broker DescribeLogDirs':
      return [cluster(Op.DESCRIBE, 'DescribeLogDirs (Describe on the cluster)')];
    case '/broker DeleteRecords':
      return topicsOf(message.partitions).map((name) => topic(Op.DELETE, name, 'Delete records of'));
    case '/broker Admin':
      return adminChecks(message.command);
    case '/broker Metadata':
      return []; // filtered by /broker: topics the caller may not Describe are left out (or refused by name)
    // ---------------------------------------------------------------- /fetch
    case '/fetch Fetch':
      return topicsOf(message.partitions).map((name) => topic(Op.READ, name, 'Read'));
    case '/fetch ListOffsets':
    case '/fetch OffsetForLeaderEpoch':
      return topicsOf(message.partitions).map((name) => topic(Op.DESCRIBE, name, 'Describe'));
    // ---------------------------------------------------------------- /groups
    case '/groups FindCoordinator': {
      const key = text(message.key);
      return key === null ? [] : [group(Op.DESCRIBE, key, 'Describe')];
    }
    case '/groups JoinGroup':
    case '/groups SyncGroup':
    case '/groups Heartbeat':
    case '/groups LeaveGroup':
      return groupId === null ? [] : [group(Op.READ, groupId, 'Read')];
    case '/groups OffsetCommit':
      return [...(groupId === null ? [] : [group(Op.READ, groupId, 'Read')]), ...topicsOf(message.offsets).map((name) => topic(Op.READ, name, 'Read'))];
    case '/groups TxnOffsetCommit':
      return [
        ...(transactionalId === null ? [] : [txnId(Op.WRITE, transactionalId, 'Write')]),
        ...(groupId === null ? [] : [group(Op.READ, groupId, 'Read')]),
        ...topicsOf(message.offsets).map((name) => topic(Op.READ, name, 'Read')),
      ];
    case '/groups OffsetFetch':
      return [...(groupId === null ? [] : [group(Op.DESCRIBE, groupId, 'Describe')]), ...topicsOf(message.partitions).map((name) => topic(Op.DESCRIBE, name, 'Describe'))];
    case '/groups DescribeGroup':
      return groupId === null ? [] : [group(Op.DESCRIBE, groupId, 'Describe')];
    case '/groups DeleteGroup':
      return groupId === null ? [] : [group(Op.DELETE, groupId, 'Delete')];
    case '/groups OffsetDelete':
      return [...(groupId === null ? [] : [group(Op.DELETE, groupId, 'Delete')]), ...topicsOf(message.partitions).map((name) => topic(Op.READ, name, 'Read'))];
    case '/groups ListGroups':
      return [cluster(Op.DESCRIBE, 'ListGroups (Describe on the cluster)')];
    // ---------------------------------------------------------------- /transactions
    case '/transactions FindTxnCoordinator':
      return transactionalId === null ? [] : [txnId(Op.DESCRIBE, transactionalId, 'Describe')];
    case '/transactions InitProducerId':
      return transactionalId === null ? [idempotentWrite] : [txnId(Op.WRITE, transactionalId, 'Write')];
    case '/transactions AddPartitionsToTxn':
      return [...(transactionalId === null ? [] : [txnId(Op.WRITE, transactionalId, 'Write')]), ...topicsOf(message.partitions).map((name) => topic(Op.WRITE, name, 'Write'))];
    case '/transactions AddOffsetsToTxn':
      return [...(transactionalId === null ? [] : [txnId(Op.WRITE, transactionalId, 'Write')]), ...(groupId === null ? [] : [group(Op.READ, groupId, 'Read')])];
    case '/transactions EndTxn':
      return transactionalId === null ? [] : [txnId(Op.WRITE, transactionalId, 'Write')];
    case '/transactions DescribeTransactions':
      return list(message.transactionalIds).flatMap((id) => (typeof id === 'string' ? [txnId(Op.DESCRIBE, id, 'Describe')] : []));
    case '/transactions ListTransactions':
      return [cluster(Op.DESCRIBE, 'ListTransactions (Describe on the cluster)')];
    default:
      return [];
  }
}
