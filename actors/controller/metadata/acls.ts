/**
 * ACLs in the metadata log (#19, item 3), as KRaft keeps them
 * (AccessControlEntryRecord / RemoveAccessControlEntryRecord): the
 * CreateAcls, DescribeAcls and DeleteAcls commands, pure.
 *
 * Owns: `generateCreateAcls`, `generateDescribeAcls`, `generateDeleteAcls`,
 * their command and reply types, `aclLimits`, and the validation of a new
 * ACL (Kafka's AclControlManager rules: a known resource type, LITERAL or
 * PREFIXED, a real operation and permission, a `Type:name` principal, a
 * host, the cluster resource named `kafka-cluster`; INVALID_REQUEST with a
 * message otherwise). An ACL equal to one that exists is not added twice
 * (its creation still succeeds, as in Kafka). The decisions made with the
 * ACLs are actors/security/acl-authorizer.ts's.
 */
import { ErrorCode } from '../../../protocol/errors.ts';
import {
  AclOperation,
  AclPatternType,
  AclPermissionType,
  AclResourceType,
  aclFilterMatches,
  clusterResourceName,
  type AclEntry,
  type AclFilter,
} from '../../security/acl-authorizer.ts';
import type { MetadataImage } from './image.ts';
import type { ControlResult, MetadataRecord } from './records.ts';

export const aclLimits = {
  /** ACLs the cluster holds; past it a creation is refused (POLICY_VIOLATION). */
  aclsMax: 100_000,
  /** Creations in one CreateAcls, filters in one DeleteAcls. */
  creationsPerRequestMax: 1_000,
  filtersPerRequestMax: 100,
  /** Longest resource name, principal and host. */
  textCharsMax: 1_024,
} as const;

export interface CreateAclsCommand {
  readonly type: 'CreateAcls';
  readonly creations: readonly AclEntry[];
}
export interface CreateAclsReply {
  readonly type: 'CreateAclsReply';
  readonly results: readonly { readonly errorCode: number; readonly errorMessage: string | null }[];
}

export interface DescribeAclsCommand {
  readonly type: 'DescribeAcls';
  readonly filter: AclFilter;
}
export type DescribedResource = {
  readonly resourceType: number;
  readonly resourceName: string;
  readonly patternType: number;
  readonly acls: readonly { readonly principal: string; readonly host: string; readonly operation: number; readonly permissionType: number }[];
};
export interface DescribeAclsReply {
  readonly type: 'DescribeAclsReply';
  readonly errorCode: number;
  readonly errorMessage: string | null;
  readonly resources: readonly DescribedResource[];
}

export interface DeleteAclsCommand {
  readonly type: 'DeleteAcls';
  readonly filters: readonly AclFilter[];
}
export interface DeleteAclsReply {
  readonly type: 'DeleteAclsReply';
  readonly filterResults: readonly { readonly errorCode: number; readonly errorMessage: string | null; readonly matchingAcls: readonly AclEntry[] }[];
}

const resourceTypes: ReadonlySet<number> = new Set([AclResourceType.TOPIC, AclResourceType.GROUP, AclResourceType.CLUSTER, AclResourceType.TRANSACTIONAL_ID]);
const patternTypes: ReadonlySet<number> = new Set([AclPatternType.LITERAL, AclPatternType.PREFIXED]);
const operations: ReadonlySet<number> = new Set(Object.values(AclOperation).filter((op) => op !== AclOperation.ANY));
const permissionTypes: ReadonlySet<number> = new Set([AclPermissionType.ALLOW, AclPermissionType.DENY]);
const principalPattern = /^[^:]+:.+$/s;

/** Why an ACL cannot be created, or null (Kafka's checks). */
export function newAclProblem(entry: AclEntry): string | null {
  if (!resourceTypes.has(entry.resourceType)) return `Invalid resourceType ${entry.resourceType}`;
  if (!patternTypes.has(entry.patternType)) return `Invalid patternType ${entry.patternType}: LITERAL (3) or PREFIXED (4)`;
  if (!operations.has(entry.operation)) return `Invalid operation ${entry.operation}`;
  if (!permissionTypes.has(entry.permissionType)) return `Invalid permissionType ${entry.permissionType}: DENY (2) or ALLOW (3)`;
  for (const [what, text] of [['resource name', entry.resourceName], ['principal', entry.principal], ['host', entry.host]] as const) {
    if (text.length === 0) return `Invalid ${what}: empty`;
    if (text.length > aclLimits.textCharsMax) return `Invalid ${what}: longer than ${aclLimits.textCharsMax} characters`;
  }
  if (!principalPattern.test(entry.principal)) return `Invalid principal ${entry.principal.slice(0, 64)}: expected Type:name (User:alice)`;
  if (entry.resourceType === AclResourceType.CLUSTER && entry.resourceName !== clusterResourceName) return `The only valid name for the CLUSTER resource is ${clusterResourceName}`;
  return null;
}

/** Why a filter cannot be used, or null: every code must be ANY or a real value. */
export function aclFilterProblem(filter: AclFilter): string | null {
  if (filter.resourceType !== AclResourceType.ANY && !resourceTypes.has(filter.resourceType)) return `Invalid resourceType ${filter.resourceType}`;
  if (filter.patternType !== AclPatternType.ANY && filter.patternType !== AclPatternType.MATCH && !patternTypes.has(filter.patternType)) return `Invalid patternType ${filter.patternType}`;
  if (filter.operation !== AclOperation.ANY && !operations.has(filter.operation)) return `Invalid operation ${filter.operation}`;
  if (filter.permissionType !== AclPermissionType.ANY && !permissionTypes.has(filter.permissionType)) return `Invalid permissionType ${filter.permissionType}`;
  return null;
}

const sameAcl = (a: AclEntry, b: AclEntry): boolean =>
  a.resourceType === b.resourceType && a.resourceName === b.resourceName && a.patternType === b.patternType && a.principal === b.principal && a.host === b.host && a.operation === b.operation && a.permissionType === b.permissionType;

const plainEntry = (entry: AclEntry): AclEntry => ({
  resourceType: entry.resourceType,
  resourceName: entry.resourceName,
  patternType: entry.patternType,
  principal: entry.principal,
  host: entry.host,
  operation: entry.operation,
  permissionType: entry.permissionType,
});

export function generateCreateAcls(image: MetadataImage, command: CreateAclsCommand): ControlResult<CreateAclsReply> {
  const reply = (results: CreateAclsReply['results']): CreateAclsReply => ({ type: 'CreateAclsReply', results });
  if (command.creations.length > aclLimits.creationsPerRequestMax) {
    return { records: [], reply: reply(command.creations.map(() => ({ errorCode: ErrorCode.POLICY_VIOLATION, errorMessage: `at most ${aclLimits.creationsPerRequestMax} ACLs per request` }))) };
  }
  const records: MetadataRecord[] = [];
  const added: AclEntry[] = [];
  const existing = [...image.acls.values()];
  let nextId = image.aclsCreatedCount;
  const results = command.creations.map((creation) => {
    const entry = plainEntry(creation);
    const problem = newAclProblem(entry);
    if (problem !== null) return { errorCode: ErrorCode.INVALID_REQUEST, errorMessage: problem };
    if (existing.some((e) => sameAcl(e, entry)) || added.some((e) => sameAcl(e, entry))) return { errorCode: ErrorCode.NONE, errorMessage: null };
    if (image.acls.size + added.length >= aclLimits.aclsMax) return { errorCode: ErrorCode.POLICY_VIOLATION, errorMessage: `the cluster holds ${aclLimits.aclsMax} ACLs already` };
    added.push(entry);
    records.push({ type: 'AccessControlEntry', id: `acl-${nextId}`, ...entry });
    nextId += 1;
    return { errorCode: ErrorCode.NONE, errorMessage: null };
  });
  return { records, reply: reply(results) };
}

export function generateDescribeAcls(image: MetadataImage, command: DescribeAclsCommand): ControlResult<DescribeAclsReply> {
  const problem = aclFilterProblem(command.filter);
  if (problem !== null) return { records: [], reply: { type: 'DescribeAclsReply', errorCode: ErrorCode.INVALID_REQUEST, errorMessage: problem, resources: [] } };
  const byResource = new Map<string, { resourceType: number; resourceName: string; patternType: number; acls: DescribedResource['acls'][number][] }>();
  for (const entry of image.acls.values()) {
    if (!aclFilterMatches(command.filter, entry)) continue;
    const key = `${entry.resourceType}\u0000${entry.patternType}\u0000${entry.resourceName}`;
    const resource = byResource.get(key) ?? { resourceType: entry.resourceType, resourceName: entry.resourceName, patternType: entry.patternType, acls: [] };
    resource.acls.push({ principal: entry.principal, host: entry.host, operation: entry.operation, permissionType: entry.permissionType });
    byResource.set(key, resource);
  }
  const resources = [...byResource.values()].sort((a, b) => a.resourceType - b.resourceType || a.patternType - b.patternType || (a.resourceName < b.resourceName ? -1 : a.resourceName > b.resourceName ? 1 : 0));
  return { records: [], reply: { type: 'DescribeAclsReply', errorCode: ErrorCode.NONE, errorMessage: null, resources } };
}

export function generateDeleteAcls(image: MetadataImage, command: DeleteAclsCommand): ControlResult<DeleteAclsReply> {
  const reply = (filterResults: DeleteAclsReply['filterResults']): DeleteAclsReply => ({ type: 'DeleteAclsReply', filterResults });
  if (command.filters.length > aclLimits.filtersPerRequestMax) {
    return { records: [], reply: reply(command.filters.map(() => ({ errorCode: ErrorCode.POLICY_VIOLATION, errorMessage: `at most ${aclLimits.filtersPerRequestMax} filters per request`, matchingAcls: [] }))) };
  }
  const removed = new Set<string>();
  const records: MetadataRecord[] = [];
  const filterResults = command.filters.map((filter) => {
    const problem = aclFilterProblem(filter);
    if (problem !== null) return { errorCode: ErrorCode.INVALID_REQUEST, errorMessage: problem, matchingAcls: [] };
    const matchingAcls: AclEntry[] = [];
    for (const [id, entry] of image.acls) {
      if (!aclFilterMatches(filter, entry)) continue;
      matchingAcls.push(plainEntry(entry));
      // An ACL two filters match is removed once, and reported by both (Kafka's).
      if (removed.has(id)) continue;
      removed.add(id);
      records.push({ type: 'RemoveAccessControlEntry', id });
    }
    return { errorCode: ErrorCode.NONE, errorMessage: null, matchingAcls };
  });
  return { records, reply: reply(filterResults) };
}
