/**
 * ACL decisions (acl-authorizer.ts), pure: each of Kafka's rules on
 * examples, and properties over random ACL sets (fast-check, seed printed
 * on failure): a super user is always allowed; an applying DENY always
 * refuses; an applying ALLOW of the operation grants unless a DENY applies;
 * a resource no ACL names follows allow.everyone.if.no.acl.found; filters
 * with every field open match every entry.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { AclIndex, AclOperation as Op, AclPatternType as Pattern, AclPermissionType as Permission, AclResourceType as Resource, aclFilterMatches, authorize, type AclEntry, type AuthorizationRequest } from './acl-authorizer.ts';

const settings = { superUsers: new Set(['User:admin']), allowIfNoAcl: false };
const acl = (partial: Partial<AclEntry>): AclEntry => ({ resourceType: Resource.TOPIC, resourceName: 'orders', patternType: Pattern.LITERAL, principal: 'User:alice', host: '*', operation: Op.READ, permissionType: Permission.ALLOW, ...partial });
const ask = (partial: Partial<AuthorizationRequest>): AuthorizationRequest => ({ principal: 'User:alice', host: '10.0.0.1', operation: Op.READ, resourceType: Resource.TOPIC, resourceName: 'orders', ...partial });
const decide = (entries: AclEntry[], request: Partial<AuthorizationRequest>, allowIfNoAcl = false): boolean => authorize(new AclIndex(entries), { ...settings, allowIfNoAcl }, ask(request));

describe('authorize', () => {
  it('literal, wildcard and prefixed patterns apply; other names do not', () => {
    expect(decide([acl({})], {})).toBe(true);
    expect(decide([acl({ resourceName: '*' })], { resourceName: 'anything' })).toBe(true);
    expect(decide([acl({ resourceName: 'ord', patternType: Pattern.PREFIXED })], {})).toBe(true);
    expect(decide([acl({ resourceName: 'pay', patternType: Pattern.PREFIXED })], {})).toBe(false);
    expect(decide([acl({ resourceName: 'order' })], {})).toBe(false);
  });

  it('principal and host: exact or wildcard', () => {
    expect(decide([acl({ principal: 'User:*' })], {})).toBe(true);
    expect(decide([acl({ principal: 'User:bob' })], {})).toBe(false);
    expect(decide([acl({ host: '10.0.0.1' })], {})).toBe(true);
    expect(decide([acl({ host: '10.0.0.2' })], {})).toBe(false);
  });

  it('DENY beats ALLOW; ALL covers every operation', () => {
    expect(decide([acl({}), acl({ permissionType: Permission.DENY, principal: 'User:*' })], {})).toBe(false);
    expect(decide([acl({ operation: Op.ALL })], { operation: Op.WRITE })).toBe(true);
    expect(decide([acl({ operation: Op.ALL }), acl({ operation: Op.WRITE, permissionType: Permission.DENY })], { operation: Op.WRITE })).toBe(false);
  });

  it('READ, WRITE, DELETE, ALTER imply DESCRIBE; ALTER_CONFIGS implies DESCRIBE_CONFIGS; not the other way', () => {
    for (const operation of [Op.READ, Op.WRITE, Op.DELETE, Op.ALTER]) expect(decide([acl({ operation })], { operation: Op.DESCRIBE })).toBe(true);
    expect(decide([acl({ operation: Op.ALTER_CONFIGS })], { operation: Op.DESCRIBE_CONFIGS })).toBe(true);
    expect(decide([acl({ operation: Op.DESCRIBE })], { operation: Op.READ })).toBe(false);
    expect(decide([acl({ operation: Op.CREATE })], { operation: Op.DESCRIBE })).toBe(false);
  });

  it('no ACL on the resource: allow.everyone.if.no.acl.found decides; ACLs for others only: refused', () => {
    expect(decide([], {}, true)).toBe(true);
    expect(decide([], {}, false)).toBe(false);
    expect(decide([acl({ principal: 'User:bob' })], {}, true)).toBe(false);
    expect(decide([acl({ resourceType: Resource.GROUP })], {}, true)).toBe(true);
  });

  it('super users are always allowed', () => {
    expect(decide([acl({ principal: 'User:*', permissionType: Permission.DENY, operation: Op.ALL })], { principal: 'User:admin' })).toBe(true);
  });
});

describe('authorize, properties', () => {
  const names = fc.constantFrom('orders', 'ord', 'o', 'payments', '*');
  const principals = fc.constantFrom('User:alice', 'User:bob', 'User:*');
  const entry = fc.record({
    resourceType: fc.constantFrom(Resource.TOPIC, Resource.GROUP),
    resourceName: names,
    patternType: fc.constantFrom(Pattern.LITERAL, Pattern.PREFIXED),
    principal: principals,
    host: fc.constantFrom('*', '10.0.0.1', '10.0.0.2'),
    operation: fc.constantFrom(Op.READ, Op.WRITE, Op.DESCRIBE, Op.ALL, Op.ALTER),
    permissionType: fc.constantFrom(Permission.ALLOW, Permission.DENY),
  });
  const request = fc.record({
    principal: fc.constantFrom('User:alice', 'User:bob', 'User:admin'),
    host: fc.constantFrom('10.0.0.1', '10.0.0.2'),
    operation: fc.constantFrom(Op.READ, Op.WRITE, Op.DESCRIBE),
    resourceType: fc.constantFrom(Resource.TOPIC, Resource.GROUP),
    resourceName: fc.constantFrom('orders', 'payments', 'other'),
  });

  it('a DENY that applies refuses, an ALLOW that applies grants (unless denied), super users pass', () => {
    fc.assert(
      fc.property(fc.array(entry, { maxLength: 12 }), request, fc.boolean(), (entries, req, allowIfNoAcl) => {
        const s = { ...settings, allowIfNoAcl };
        const base = authorize(new AclIndex(entries), s, req);
        if (req.principal === 'User:admin') {
          expect(base).toBe(true);
          return true;
        }
        const deny: AclEntry = { resourceType: req.resourceType, resourceName: req.resourceName, patternType: Pattern.LITERAL, principal: req.principal, host: '*', operation: req.operation, permissionType: Permission.DENY };
        expect(authorize(new AclIndex([...entries, deny]), s, req)).toBe(false);
        const allow: AclEntry = { ...deny, permissionType: Permission.ALLOW };
        const denied = entries.some((e) => e.permissionType === Permission.DENY && authorize(new AclIndex([{ ...e, permissionType: Permission.ALLOW }]), { ...s, allowIfNoAcl: false }, req) && (e.operation === req.operation || e.operation === Op.ALL));
        expect(authorize(new AclIndex([...entries, allow]), s, req)).toBe(!denied);
        return true;
      }),
      { numRuns: 500 },
    );
  });

  it('a filter with every field open matches every entry', () => {
    const open = { resourceType: Resource.ANY, resourceName: null, patternType: Pattern.ANY, principal: null, host: null, operation: Op.ANY, permissionType: Permission.ANY };
    fc.assert(fc.property(entry, (e) => aclFilterMatches(open, e)));
    expect(aclFilterMatches({ ...open, resourceType: Resource.TOPIC, resourceName: 'orders', patternType: Pattern.MATCH }, acl({ resourceName: 'ord', patternType: Pattern.PREFIXED }))).toBe(true);
    expect(aclFilterMatches({ ...open, resourceType: Resource.TOPIC, resourceName: 'orders', patternType: Pattern.LITERAL }, acl({ resourceName: 'ord', patternType: Pattern.PREFIXED }))).toBe(false);
  });
});
