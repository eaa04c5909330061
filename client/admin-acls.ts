/**
 * Admin's ACL operations, the shapes a user writes (#19): bindings and
 * filters with Kafka's names ('TOPIC', 'PREFIXED', 'READ', 'ALLOW'), turned
 * into the codes of the CreateAcls / DescribeAcls / DeleteAcls commands and
 * back. Unknown names are refused here with INVALID_REQUEST, before any
 * request is sent.
 */
import { aclCode, aclName, type AclCodeKind } from '../protocol/acls.ts';
import { ErrorCode, KactusError } from './errors.ts';

export type AclResourceTypeName = 'TOPIC' | 'GROUP' | 'CLUSTER' | 'TRANSACTIONAL_ID';
export type AclPatternTypeName = 'LITERAL' | 'PREFIXED';
export type AclOperationName = 'ALL' | 'READ' | 'WRITE' | 'CREATE' | 'DELETE' | 'ALTER' | 'DESCRIBE' | 'CLUSTER_ACTION' | 'DESCRIBE_CONFIGS' | 'ALTER_CONFIGS' | 'IDEMPOTENT_WRITE';
export type AclPermissionTypeName = 'ALLOW' | 'DENY';

/** One ACL: `principal` (User:alice, or User:* for everyone) may (ALLOW) or may not (DENY) do `operation` on the resource from `host` (* by default). */
export type AclBinding = {
  resourceType: AclResourceTypeName;
  resourceName: string;
  /** LITERAL (default): this name, or * for all; PREFIXED: every name that starts with it. */
  patternType?: AclPatternTypeName;
  principal: string;
  host?: string;
  operation: AclOperationName;
  permissionType?: AclPermissionTypeName;
};

/** Which ACLs describeAcls / deleteAcls mean: an absent field matches anything; patternType MATCH finds the ACLs that apply to resourceName. */
export type AclBindingFilter = {
  resourceType?: AclResourceTypeName | 'ANY';
  resourceName?: string | null;
  patternType?: AclPatternTypeName | 'ANY' | 'MATCH';
  principal?: string | null;
  host?: string | null;
  operation?: AclOperationName | 'ANY';
  permissionType?: AclPermissionTypeName | 'ANY';
};

export type AclEntryCodes = { resourceType: number; resourceName: string; patternType: number; principal: string; host: string; operation: number; permissionType: number };
export type AclFilterCodes = { resourceType: number; resourceName: string | null; patternType: number; principal: string | null; host: string | null; operation: number; permissionType: number };

function code(kind: AclCodeKind, name: unknown, what: string): number {
  const value = typeof name === 'string' ? aclCode(kind, name) : undefined;
  if (value === undefined) throw new KactusError(ErrorCode.INVALID_REQUEST, `${what}: ${JSON.stringify(name)} is not a ${kind}`);
  return value;
}

const textOrNull = (value: unknown, what: string): string | null => {
  if (value === undefined || value === null) return null;
  if (typeof value !== 'string') throw new KactusError(ErrorCode.INVALID_REQUEST, `${what} must be a string`);
  return value;
};

export function bindingToCodes(binding: AclBinding, what: string): AclEntryCodes {
  if (typeof binding !== 'object' || binding === null) throw new KactusError(ErrorCode.INVALID_REQUEST, `${what} must be an ACL binding`);
  const resourceName = textOrNull(binding.resourceName, `${what}.resourceName`);
  const principal = textOrNull(binding.principal, `${what}.principal`);
  if (resourceName === null || principal === null) throw new KactusError(ErrorCode.INVALID_REQUEST, `${what}: resourceName and principal are required`);
  return {
    resourceType: code('resourceType', binding.resourceType, `${what}.resourceType`),
    resourceName,
    patternType: code('patternType', binding.patternType ?? 'LITERAL', `${what}.patternType`),
    principal,
    host: textOrNull(binding.host, `${what}.host`) ?? '*',
    operation: code('operation', binding.operation, `${what}.operation`),
    permissionType: code('permissionType', binding.permissionType ?? 'ALLOW', `${what}.permissionType`),
  };
}

export function filterToCodes(filter: AclBindingFilter = {}, what: string): AclFilterCodes {
  return {
    resourceType: code('resourceType', filter.resourceType ?? 'ANY', `${what}.resourceType`),
    resourceName: textOrNull(filter.resourceName, `${what}.resourceName`),
    patternType: code('patternType', filter.patternType ?? 'ANY', `${what}.patternType`),
    principal: textOrNull(filter.principal, `${what}.principal`),
    host: textOrNull(filter.host, `${what}.host`),
    operation: code('operation', filter.operation ?? 'ANY', `${what}.operation`),
    permissionType: code('permissionType', filter.permissionType ?? 'ANY', `${what}.permissionType`),
  };
}

export function bindingFromCodes(entry: AclEntryCodes): AclBinding {
  return {
    resourceType: aclName('resourceType', entry.resourceType) as AclResourceTypeName,
    resourceName: entry.resourceName,
    patternType: aclName('patternType', entry.patternType) as AclPatternTypeName,
    principal: entry.principal,
    host: entry.host,
    operation: aclName('operation', entry.operation) as AclOperationName,
    permissionType: aclName('permissionType', entry.permissionType) as AclPermissionTypeName,
  };
}
