/**
 * The checks a client request needs (request-access.ts) and the view's
 * decision with them (view.ts authorizeRequest), pure: each path's messages
 * need Kafka's operation on Kafka's resource, the first failing check gives
 * its code, malformed fields add no check (the actor refuses the shape),
 * idempotent producing passes with Write on any topic, and every
 * askAsClient / tellAsClient of the Kafka listener's handlers passes the
 * request's caller (a source check: a forgotten one would run the request
 * as this node's own, unchecked).
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../../protocol/errors.ts';
import { AclOperation as Op, AclPatternType as Pattern, AclPermissionType as Permission, AclResourceType as Resource, type AclEntry } from './acl-authorizer.ts';
import { requiredAccess } from './request-access.ts';
import { SecurityView } from './view.ts';
import { emptyImage, replayBatch } from '../controller/metadata/image.ts';

const alice = { principal: 'User:alice', host: '10.0.0.1' };
function viewWith(acls: Partial<AclEntry>[]): SecurityView {
  const view = new SecurityView({ superUsers: new Set(['User:admin']), allowIfNoAcl: false });
  const records = acls.map((a, i) => ({ type: 'AccessControlEntry' as const, id: `acl-${i}`, resourceType: Resource.TOPIC, resourceName: 'orders', patternType: Pattern.LITERAL, principal: 'User:alice', host: '*', operation: Op.READ, permissionType: Permission.ALLOW, ...a }));
  view.update(replayBatch(emptyImage, records));
  return view;
}

describe('requiredAccess', () => {
  it('names Kafka\'s operation and resource per request', () => {
    const summary = (path: string, message: Record<string, unknown>) => requiredAccess(path, message).map((c) => c.anyOf.map((a) => `${a.operation}:${a.resourceType}:${a.resourceName}`).join('|'));
    expect(summary('/broker', { type: 'Produce', topic: 't', transactionalId: 'tx' })).toEqual([`${Op.WRITE}:${Resource.TRANSACTIONAL_ID}:tx`, `${Op.WRITE}:${Resource.TOPIC}:t`]);
    expect(summary('/fetch', { type: 'Fetch', partitions: [{ topic: 'a' }, { topic: 'b' }, { topic: 'a' }] })).toEqual([`${Op.READ}:${Resource.TOPIC}:a`, `${Op.READ}:${Resource.TOPIC}:b`]);
    expect(summary('/groups', { type: 'OffsetCommit', groupId: 'g', offsets: [{ topic: 't' }] })).toEqual([`${Op.READ}:${Resource.GROUP}:g`, `${Op.READ}:${Resource.TOPIC}:t`]);
    expect(summary('/broker', { type: 'Admin', command: { type: 'CreateTopics', topics: [{ name: 'n' }] } })).toEqual([`${Op.CREATE}:${Resource.CLUSTER}:kafka-cluster|${Op.CREATE}:${Resource.TOPIC}:n`]);
    expect(summary('/broker', { type: 'Admin', command: { type: 'CreateAcls' } })).toEqual([`${Op.ALTER}:${Resource.CLUSTER}:kafka-cluster`]);
    expect(summary('/broker', { type: 'InitProducerId', transactionalId: null })).toEqual([`${Op.IDEMPOTENT_WRITE}:${Resource.CLUSTER}:kafka-cluster|${Op.WRITE}:${Resource.TOPIC}:null`]);
    expect(summary('/broker', { type: 'Metadata' })).toEqual([]);
  });

  it('malformed fields add no check (the actor refuses the message for its shape)', () => {
    expect(requiredAccess('/fetch', { type: 'Fetch', partitions: 'nope' })).toEqual([]);
    expect(requiredAccess('/groups', { type: 'JoinGroup', groupId: 7 })).toEqual([]);
  });
});

describe('SecurityView.authorizeRequest', () => {
  it('the first failing check refuses with its code and says who and what', () => {
    const view = viewWith([{ operation: Op.WRITE }]);
    expect(view.authorizeRequest(alice, '/broker', { type: 'Produce', topic: 'orders' })).toBeNull();
    expect(view.authorizeRequest(alice, '/broker', { type: 'Produce', topic: 'secret' })).toEqual({ errorCode: ErrorCode.TOPIC_AUTHORIZATION_FAILED, why: 'User:alice is not authorized to Write topic secret' });
    expect(view.authorizeRequest(alice, '/groups', { type: 'JoinGroup', groupId: 'g' })).toMatchObject({ errorCode: ErrorCode.GROUP_AUTHORIZATION_FAILED });
    expect(view.authorizeRequest(alice, '/transactions', { type: 'EndTxn', transactionalId: 'tx' })).toMatchObject({ errorCode: ErrorCode.TRANSACTIONAL_ID_AUTHORIZATION_FAILED });
    expect(view.authorizeRequest(alice, '/broker', { type: 'Admin', command: { type: 'ElectLeaders' } })).toMatchObject({ errorCode: ErrorCode.CLUSTER_AUTHORIZATION_FAILED });
    expect(view.authorizeRequest({ principal: 'User:admin', host: 'x' }, '/broker', { type: 'Admin', command: { type: 'ElectLeaders' } })).toBeNull();
  });

  it('idempotent producing: Write on any topic will do (KIP-679), unless a wildcard DENY says otherwise', () => {
    expect(viewWith([{ operation: Op.WRITE, resourceName: 'orders' }]).authorizeRequest(alice, '/broker', { type: 'InitProducerId', transactionalId: null })).toBeNull();
    expect(viewWith([{ operation: Op.READ }]).authorizeRequest(alice, '/broker', { type: 'InitProducerId', transactionalId: null })).toMatchObject({ errorCode: ErrorCode.CLUSTER_AUTHORIZATION_FAILED });
    expect(viewWith([{ operation: Op.WRITE }, { operation: Op.WRITE, resourceName: '*', permissionType: Permission.DENY }]).authorizeRequest(alice, '/broker', { type: 'InitProducerId', transactionalId: null })).toMatchObject({ errorCode: ErrorCode.CLUSTER_AUTHORIZATION_FAILED });
  });

  it('no authorizer: everything passes', () => {
    const view = new SecurityView(null);
    expect(view.authorizeRequest(alice, '/broker', { type: 'Produce', topic: 'secret' })).toBeNull();
    expect(view.allows(alice, Op.DESCRIBE, Resource.TOPIC, 'secret')).toBe(true);
  });
});

/** The full text of each call of `names` in `source` (balanced parentheses; mentions in comments, followed by a backtick, skipped). */
function callsOf(source: string, names: string[]): string[] {
  const calls: string[] = [];
  for (const match of source.matchAll(new RegExp(`\\.(${names.join('|')})\\b`, 'g'))) {
    let i = match.index + match[0].length;
    if (source[i] === '<') {
      let depth = 0;
      for (; i < source.length; i += 1) {
        if (source[i] === '<') depth += 1;
        else if (source[i] === '>' && source[i - 1] !== '=') depth -= 1;
        if (depth === 0) break;
      }
      i += 1;
    }
    if (source[i] !== '(') continue;
    let depth = 0;
    for (; i < source.length; i += 1) {
      if (source[i] === '(') depth += 1;
      else if (source[i] === ')') depth -= 1;
      if (depth === 0) break;
    }
    calls.push(source.slice(match.index, i + 1));
  }
  return calls;
}

describe('the Kafka listener\'s handlers', () => {
  it('pass the request\'s caller on every askAsClient / tellAsClient (the topic cache alone asks as this node)', () => {
    const dir = join(import.meta.dirname, '..', 'kafka');
    const missing: string[] = [];
    let seen = 0;
    for (const file of readdirSync(dir).filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts'))) {
      const source = readFileSync(join(dir, file), 'utf8');
      const calls = callsOf(source, ['askAsClient', 'tellAsClient']);
      seen += calls.length;
      for (const call of calls) if (!/caller/.test(call) && !(file === 'data-apis.ts' && call.includes("topics: null, allowAutoTopicCreation: false, replyTo }), { timeoutMs: kafkaGatewayAskTimeoutMs })"))) missing.push(`${file}: ${call.slice(0, 80)}`);
    }
    expect(missing).toEqual([]);
    expect(seen).toBeGreaterThanOrEqual(12);
  });
});
