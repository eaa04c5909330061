/**
 * Kafka's ACL codes (#19): resource types, pattern types, operations and
 * permission types, the wire values of CreateAcls / DescribeAcls /
 * DeleteAcls and of the metadata log's ACL records, with their names both
 * ways for the client and the CLI (`aclCode`, `aclName`).
 */

export const AclResourceType = { ANY: 1, TOPIC: 2, GROUP: 3, CLUSTER: 4, TRANSACTIONAL_ID: 5 } as const;
export const AclPatternType = { ANY: 1, MATCH: 2, LITERAL: 3, PREFIXED: 4 } as const;
export const AclOperation = {
  ANY: 1,
  ALL: 2,
  READ: 3,
  WRITE: 4,
  CREATE: 5,
  DELETE: 6,
  ALTER: 7,
  DESCRIBE: 8,
  CLUSTER_ACTION: 9,
  DESCRIBE_CONFIGS: 10,
  ALTER_CONFIGS: 11,
  IDEMPOTENT_WRITE: 12,
} as const;
export const AclPermissionType = { ANY: 1, DENY: 2, ALLOW: 3 } as const;

/** The resource name of the one cluster resource (Kafka's). */
export const clusterResourceName = 'kafka-cluster';
export const wildcardResource = '*';
export const wildcardPrincipal = 'User:*';
export const wildcardHost = '*';

export const aclCodeTables = { resourceType: AclResourceType, patternType: AclPatternType, operation: AclOperation, permissionType: AclPermissionType } as const;
export type AclCodeKind = keyof typeof aclCodeTables;

/** The code of `name` (case-insensitive, `_` or `-` between words: 'read', 'TRANSACTIONAL_ID', 'describe-configs'), or undefined. */
export function aclCode(kind: AclCodeKind, name: string): number | undefined {
  const key = name.trim().toUpperCase().replace(/-/g, '_');
  const table = aclCodeTables[kind] as Record<string, number>;
  return Object.hasOwn(table, key) ? table[key] : undefined;
}

/** The name of `code` ('READ'), or `UNKNOWN(code)`. */
export function aclName(kind: AclCodeKind, code: number): string {
  const entry = Object.entries(aclCodeTables[kind]).find(([, value]) => value === code);
  return entry === undefined ? `UNKNOWN(${code})` : entry[0];
}
