/**
 * ACLs in the metadata log: CreateAcls generates records that replay into
 * the image (ids never reused), a snapshot keeps them, DescribeAcls groups
 * what a filter matches by resource, DeleteAcls removes what its filters
 * match (once, reported by each), and each refusal is INVALID_REQUEST with
 * Kafka's message. The decisions made with them: acl-authorizer.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../../../protocol/errors.ts';
import { AclIndex, AclOperation as Op, AclPatternType as Pattern, AclPermissionType as Permission, AclResourceType as Resource, authorize, type AclEntry } from '../../security/acl-authorizer.ts';
import { decodeImage, encodeImage } from '../image-codec.ts';
import { generateCreateAcls, generateDeleteAcls, generateDescribeAcls } from './acls.ts';
import { emptyImage, replayBatch, type MetadataImage } from './image.ts';

const acl = (partial: Partial<AclEntry> = {}): AclEntry => ({ resourceType: Resource.TOPIC, resourceName: 'orders', patternType: Pattern.LITERAL, principal: 'User:alice', host: '*', operation: Op.READ, permissionType: Permission.ALLOW, ...partial });
const open = { resourceType: Resource.ANY, resourceName: null, patternType: Pattern.ANY, principal: null, host: null, operation: Op.ANY, permissionType: Permission.ANY };

function create(image: MetadataImage, creations: AclEntry[]) {
  const result = generateCreateAcls(image, { type: 'CreateAcls', creations });
  return { image: replayBatch(image, result.records), reply: result.reply, records: result.records };
}

describe('CreateAcls / DescribeAcls / DeleteAcls', () => {
  it('creates, replays, survives a snapshot, and decides', () => {
    const { image, reply, records } = create(emptyImage, [acl(), acl({ resourceName: 'pay', patternType: Pattern.PREFIXED, operation: Op.WRITE }), acl()]);
    expect(reply.results).toEqual([0, 0, 0].map((errorCode) => ({ errorCode, errorMessage: null })));
    expect(records.map((r) => (r as { id: string }).id)).toEqual(['acl-0', 'acl-1']); // the duplicate is not added twice
    const restored = decodeImage(encodeImage(image)) as MetadataImage;
    expect(restored).toEqual(image);
    const index = new AclIndex(restored.acls.values());
    const settings = { superUsers: new Set<string>(), allowIfNoAcl: false };
    expect(authorize(index, settings, { principal: 'User:alice', host: '10.0.0.1', operation: Op.WRITE, resourceType: Resource.TOPIC, resourceName: 'payments' })).toBe(true);
    expect(authorize(index, settings, { principal: 'User:bob', host: '10.0.0.1', operation: Op.READ, resourceType: Resource.TOPIC, resourceName: 'orders' })).toBe(false);
  });

  it('refuses what Kafka refuses, with INVALID_REQUEST and a message', () => {
    const { reply, records } = create(emptyImage, [
      acl({ resourceType: Resource.ANY }),
      acl({ patternType: Pattern.MATCH }),
      acl({ operation: Op.ANY }),
      acl({ permissionType: Permission.ANY }),
      acl({ principal: 'alice' }),
      acl({ host: '' }),
      acl({ resourceType: Resource.CLUSTER, resourceName: 'other' }),
      acl({ resourceType: Resource.CLUSTER, resourceName: 'kafka-cluster', operation: Op.ALTER }),
    ]);
    expect(reply.results.map((r) => r.errorCode)).toEqual([...Array(7).fill(ErrorCode.INVALID_REQUEST), ErrorCode.NONE]);
    expect(reply.results[4]!.errorMessage).toContain('expected Type:name');
    expect(reply.results[6]!.errorMessage).toBe('The only valid name for the CLUSTER resource is kafka-cluster');
    expect(records).toHaveLength(1);
  });

  it('describes by filter, grouped by resource; MATCH finds what applies to a name', () => {
    const { image } = create(emptyImage, [acl(), acl({ principal: 'User:bob' }), acl({ resourceName: 'ord', patternType: Pattern.PREFIXED }), acl({ resourceType: Resource.GROUP, resourceName: 'g1' })]);
    const all = generateDescribeAcls(image, { type: 'DescribeAcls', filter: open }).reply;
    expect(all.resources.map((r) => [r.resourceType, r.resourceName, r.patternType, r.acls.length])).toEqual([
      [Resource.TOPIC, 'orders', Pattern.LITERAL, 2],
      [Resource.TOPIC, 'ord', Pattern.PREFIXED, 1],
      [Resource.GROUP, 'g1', Pattern.LITERAL, 1],
    ]);
    const matching = generateDescribeAcls(image, { type: 'DescribeAcls', filter: { ...open, resourceType: Resource.TOPIC, resourceName: 'orders-eu', patternType: Pattern.MATCH } }).reply;
    expect(matching.resources.map((r) => r.resourceName)).toEqual(['ord']);
    expect(generateDescribeAcls(image, { type: 'DescribeAcls', filter: { ...open, operation: 0 } }).reply).toMatchObject({ errorCode: ErrorCode.INVALID_REQUEST });
  });

  it('deletes what the filters match, once, reported by each; ids are never reused', () => {
    const first = create(emptyImage, [acl(), acl({ principal: 'User:bob' }), acl({ resourceType: Resource.GROUP, resourceName: 'g1' })]);
    const result = generateDeleteAcls(first.image, { type: 'DeleteAcls', filters: [{ ...open, resourceType: Resource.TOPIC }, { ...open, principal: 'User:bob' }] });
    expect(result.reply.filterResults.map((r) => r.matchingAcls.length)).toEqual([2, 1]);
    expect(result.records).toHaveLength(2);
    const image = replayBatch(first.image, result.records);
    expect([...image.acls.values()].map((e) => e.resourceName)).toEqual(['g1']);
    expect(create(image, [acl()]).records.map((r) => (r as { id: string }).id)).toEqual(['acl-3']);
  });
});
