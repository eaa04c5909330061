/**
 * ACL decisions, pure (#19, item 3): whether a principal connecting from a
 * host may perform an operation on a resource, given the cluster's ACLs, as
 * Kafka's StandardAuthorizer decides it.
 *
 * Owns: `AclEntry`, `authorizeByResourceType`,
 * `AclIndex` (the ACLs by resource type, built once per image), `authorize`,
 * and `aclFilterMatches` (DescribeAcls / DeleteAcls filters).
 *
 * The rules (Kafka's):
 * - A super user (`super.users`) may do everything.
 * - The ACLs that apply to a resource are those on its exact name
 *   (LITERAL), on `*` (LITERAL wildcard), and on any prefix of its name
 *   (PREFIXED), whose principal is the caller or `User:*` and whose host is
 *   the caller's or `*`.
 * - Any applying DENY for the operation (or ALL) refuses. Otherwise an
 *   applying ALLOW for it grants; READ, WRITE, DELETE and ALTER each imply
 *   DESCRIBE, and ALTER_CONFIGS implies DESCRIBE_CONFIGS.
 * - A resource no ACL names at all (for anyone) is decided by
 *   `allow.everyone.if.no.acl.found`; one that has ACLs, none of which
 *   grants, is refused.
 */

export { AclOperation, AclPatternType, AclPermissionType, AclResourceType, clusterResourceName, wildcardHost, wildcardPrincipal, wildcardResource } from '../../protocol/acls.ts';
import { AclOperation, AclPatternType, AclPermissionType, AclResourceType, wildcardHost, wildcardPrincipal, wildcardResource } from '../../protocol/acls.ts';

export type AclEntry = {
  readonly resourceType: number;
  readonly resourceName: string;
  /** LITERAL or PREFIXED. */
  readonly patternType: number;
  readonly principal: string;
  readonly host: string;
  readonly operation: number;
  /** DENY or ALLOW. */
  readonly permissionType: number;
};

export type AclSettings = {
  /** super.users: principals (`User:admin`) that every check allows. */
  readonly superUsers: ReadonlySet<string>;
  /** allow.everyone.if.no.acl.found */
  readonly allowIfNoAcl: boolean;
};

export type AuthorizationRequest = {
  readonly principal: string;
  readonly host: string;
  readonly operation: number;
  readonly resourceType: number;
  readonly resourceName: string;
};

/** The ACLs of one image, grouped by resource type and pattern for lookups per request. */
export class AclIndex {
  private readonly literal = new Map<number, Map<string, AclEntry[]>>();
  private readonly prefixed = new Map<number, AclEntry[]>();

  constructor(entries: Iterable<AclEntry>) {
    for (const entry of entries) {
      if (entry.patternType === AclPatternType.PREFIXED) {
        const list = this.prefixed.get(entry.resourceType) ?? [];
        list.push(entry);
        this.prefixed.set(entry.resourceType, list);
      } else {
        const byName = this.literal.get(entry.resourceType) ?? new Map<string, AclEntry[]>();
        const list = byName.get(entry.resourceName) ?? [];
        list.push(entry);
        byName.set(entry.resourceName, list);
        this.literal.set(entry.resourceType, byName);
      }
    }
  }

  /** Every ACL on the resource (any principal, host, operation): exact, wildcard and prefix patterns. */
  onResource(resourceType: number, resourceName: string): AclEntry[] {
    const byName = this.literal.get(resourceType);
    const out = [...(byName?.get(resourceName) ?? []), ...(resourceName === wildcardResource ? [] : (byName?.get(wildcardResource) ?? []))];
    for (const entry of this.prefixed.get(resourceType) ?? []) if (resourceName.startsWith(entry.resourceName)) out.push(entry);
    return out;
  }
}

const implied: ReadonlyMap<number, readonly number[]> = new Map([
  [AclOperation.DESCRIBE, [AclOperation.READ, AclOperation.WRITE, AclOperation.DELETE, AclOperation.ALTER]],
  [AclOperation.DESCRIBE_CONFIGS, [AclOperation.ALTER_CONFIGS]],
]);

const appliesTo = (entry: AclEntry, request: Pick<AuthorizationRequest, 'principal' | 'host'>): boolean =>
  (entry.principal === request.principal || entry.principal === wildcardPrincipal) && (entry.host === request.host || entry.host === wildcardHost);

/** Whether the request is allowed (see the module comment for the rules). */
export function authorize(index: AclIndex, settings: AclSettings, request: AuthorizationRequest): boolean {
  if (settings.superUsers.has(request.principal)) return true;
  const acls = index.onResource(request.resourceType, request.resourceName);
  if (acls.length === 0) return settings.allowIfNoAcl;
  const applying = acls.filter((entry) => appliesTo(entry, request));
  const covers = (entry: AclEntry, operation: number): boolean => entry.operation === operation || entry.operation === AclOperation.ALL;
  if (applying.some((entry) => entry.permissionType === AclPermissionType.DENY && covers(entry, request.operation))) return false;
  const grants = [request.operation, ...(implied.get(request.operation) ?? [])];
  return applying.some((entry) => entry.permissionType === AclPermissionType.ALLOW && grants.some((operation) => covers(entry, operation)));
}

/**
 * Kafka's authorizeByResourceType (idempotent producing with Write on any topic, KIP-679): whether
 * some ACL lets the caller do `operation` on some resource of the type, an applying ALLOW and no
 * applying DENY on the type's wildcard resource. `acls` is every ACL of the image.
 */
export function authorizeByResourceType(acls: Iterable<AclEntry>, settings: AclSettings, request: Omit<AuthorizationRequest, 'resourceName'>): boolean {
  if (settings.superUsers.has(request.principal)) return true;
  let allowed = false;
  for (const entry of acls) {
    if (entry.resourceType !== request.resourceType || !appliesTo(entry, request)) continue;
    if (entry.operation !== request.operation && entry.operation !== AclOperation.ALL) continue;
    if (entry.permissionType === AclPermissionType.DENY && entry.resourceName === wildcardResource) return false;
    if (entry.permissionType === AclPermissionType.ALLOW) allowed = true;
  }
  return allowed;
}

/** A DescribeAcls / DeleteAcls filter: null fields match anything; ANY codes match any value; MATCH patterns match as authorization would. */
export type AclFilter = {
  readonly resourceType: number;
  readonly resourceName: string | null;
  readonly patternType: number;
  readonly principal: string | null;
  readonly host: string | null;
  readonly operation: number;
  readonly permissionType: number;
};

export function aclFilterMatches(filter: AclFilter, entry: AclEntry): boolean {
  if (filter.resourceType !== AclResourceType.ANY && filter.resourceType !== entry.resourceType) return false;
  if (filter.patternType === AclPatternType.MATCH) {
    // Kafka's MATCH: the ACLs that would apply to a resource of that exact name.
    if (filter.resourceName !== null) {
      const name = filter.resourceName;
      const applies =
        entry.patternType === AclPatternType.PREFIXED ? name.startsWith(entry.resourceName) : entry.resourceName === name || entry.resourceName === wildcardResource;
      if (!applies) return false;
    }
  } else {
    if (filter.patternType !== AclPatternType.ANY && filter.patternType !== entry.patternType) return false;
    if (filter.resourceName !== null && filter.resourceName !== entry.resourceName) return false;
  }
  if (filter.principal !== null && filter.principal !== entry.principal) return false;
  if (filter.host !== null && filter.host !== entry.host) return false;
  if (filter.operation !== AclOperation.ANY && filter.operation !== entry.operation) return false;
  if (filter.permissionType !== AclPermissionType.ANY && filter.permissionType !== entry.permissionType) return false;
  return true;
}
