/**
 * The admin APIs of the Kafka listener as translations: each Kafka request,
 * at every served version, is encoded and decoded with the project's codec,
 * handed to its handler with a fake node that records the native commands
 * asked (and answers canned native replies), and the response body must
 * encode at that version. The rules of admin-apis.ts's header one by one.
 */
import { describe, expect, it } from 'vitest';
import { ErrorCode, KactusError } from '../../protocol/errors.ts';
import { zeroUuid, type KafkaValue } from '../../protocol/kafka/codec.ts';
import { apiKeys, apis, decodeRequest, encodeRequest, encodeResponse } from '../../protocol/kafka/messages.ts';
import { createLogger } from '../../runtime/logger.ts';
import type { Node } from '../../runtime/node.ts';
import { isInvalid } from '../../protocol/validate.ts';
import { validateCommand } from '../controller/messages.ts';
import { topicConfigSchema } from '../controller/metadata/index.ts';
import { adminApis, incrementalAlterOps, legacyAlterOps } from './admin-apis.ts';
import type { KafkaRequest } from './listener.ts';
import type { HandlerDeps } from './served.ts';
import { deleteRecordsLimits, validateDeleteRecords } from '../../protocol/apis/delete-records.ts';

type Asked = { path: string; message: Record<string, unknown> };
type Answer = (path: string, message: Record<string, unknown>) => unknown;

function fakeDeps(answer: Answer): { deps: HandlerDeps; asked: Asked[] } {
  const asked: Asked[] = [];
  const node = {
    async askAsClient(path: string, make: (replyTo: unknown) => Record<string, unknown>) {
      const message = make({ node: 'n', path: '/temp/1' });
      asked.push({ path, message });
      const reply = answer(path, message);
      if (reply instanceof Error) throw reply;
      return reply;
    },
  } as unknown as Node;
  return { deps: { node, listenerName: 'PLAINTEXT', sasl: false, caller: { principal: 'User:ANONYMOUS', host: '10.0.0.9' }, log: createLogger({}, 'silent') }, asked };
}

async function call(name: string, version: number, body: KafkaValue, answer: Answer): Promise<{ response: KafkaValue; asked: Asked[] }> {
  const api = apis.get(apiKeys[name]!)!;
  const decoded = decodeRequest(encodeRequest(api, version, { correlationId: 7, clientId: 'app-1' }, body).subarray(4));
  if (decoded.kind !== 'request') throw new Error(`${name} v${version}: ${decoded.kind}`);
  const request: KafkaRequest = { api, version, header: decoded.header, body: decoded.body, connection: { id: 1, remoteAddress: '10.0.0.9', localPort: 9092 }, principal: 'User:ANONYMOUS' };
  const { deps, asked } = fakeDeps(answer);
  const response = (await adminApis[name]!.handle(request, deps))!;
  encodeResponse(api, version, 7, response); // throws if a field cannot be written at this version
  return { response, asked };
}

const versions = (name: string): number[] => {
  const { minVersion, maxVersion } = adminApis[name]!;
  return Array.from({ length: maxVersion - minVersion + 1 }, (_, i) => minVersion + i);
};

const command = (a: Asked) => (a.message as { command: Record<string, unknown> & { type: string } }).command;
/** The broker's guard as askAsClient applies it: a command naming an internal topic is refused whole. */
const guarded =
  (answer: (c: Record<string, unknown> & { type: string }) => unknown): Answer =>
  (path, m) => {
    if (path !== '/broker' || m.type !== 'Admin') return answer(m as never);
    const c = m.command as Record<string, unknown> & { type: string };
    const names = [...((c.topics as unknown[]) ?? []).map((t) => (typeof t === 'string' ? t : (t as { name: string }).name)), ...((c.resources as { resourceName: string }[]) ?? []).map((r) => r.resourceName)];
    if (c.type !== 'DescribeConfigs' && names.some((n) => n.startsWith('__'))) return new KactusError(ErrorCode.INVALID_TOPIC_EXCEPTION, `${c.type} may not change an internal topic`);
    return answer(c);
  };

describe('Kafka CreateTopics', () => {
  const created = guarded((c) => ({
    type: 'CreateTopicsReply',
    topics: (c.topics as { name: string }[]).map((t) => (t.name === 'exists' ? { name: t.name, topicId: null, errorCode: ErrorCode.TOPIC_ALREADY_EXISTS, errorMessage: "Topic 'exists' already exists.", numPartitions: -1, replicationFactor: -1 } : { name: t.name, topicId: 'a0000000-0000-4000-8000-000000000007', errorCode: 0, errorMessage: null, numPartitions: 3, replicationFactor: 2 })),
  }));

  it('translates topics, assignments and configs and answers per topic at every version', async () => {
    for (const v of versions('CreateTopics')) {
      const body = {
        topics: [
          { name: 't', numPartitions: 3, replicationFactor: 2, assignments: [], configs: [{ name: 'retention.ms', value: '1000' }] },
          { name: 'm', numPartitions: -1, replicationFactor: -1, assignments: [{ partitionIndex: 0, brokerIds: [1, 2] }], configs: [] },
          { name: 'exists', numPartitions: 1, replicationFactor: 1, assignments: [], configs: [] },
        ],
        timeoutMs: 1000,
        validateOnly: v >= 1,
      };
      const { response, asked } = await call('CreateTopics', v, body, created);
      expect(asked).toHaveLength(1);
      expect(command(asked[0]!)).toEqual({
        type: 'CreateTopics',
        validateOnly: v >= 1,
        topics: [
          { name: 't', numPartitions: 3, replicationFactor: 2, assignments: null, configs: [{ name: 'retention.ms', value: '1000' }] },
          { name: 'm', numPartitions: -1, replicationFactor: -1, assignments: [{ partition: 0, brokerIds: [1, 2] }], configs: [] },
          { name: 'exists', numPartitions: 1, replicationFactor: 1, assignments: null, configs: [] },
        ],
      });
      const topics = response.topics as KafkaValue[];
      expect(topics.map((t) => [t.name, t.errorCode])).toEqual([['t', 0], ['m', 0], ['exists', ErrorCode.TOPIC_ALREADY_EXISTS]]);
      expect(topics[0]).toMatchObject({ numPartitions: 3, replicationFactor: 2, topicId: 'a0000000-0000-4000-8000-000000000007' });
      const configs = topics[0]!.configs as KafkaValue[];
      expect(configs).toHaveLength(topicConfigSchema.size);
      expect(configs.find((c) => c.name === 'retention.ms')).toMatchObject({ value: '1000', configSource: 1 });
      expect(configs.find((c) => c.name === 'segment.ms')).toMatchObject({ value: '604800000', configSource: 5 });
      expect(topics[2]).toMatchObject({ topicId: zeroUuid, configs: null, numPartitions: -1 });
    }
  });

  it('a null config value is INVALID_CONFIG without asking; an internal name is refused by the guard alone', async () => {
    const { response, asked } = await call('CreateTopics', 7, { topics: [{ name: 'n', numPartitions: 1, replicationFactor: 1, assignments: [], configs: [{ name: 'retention.ms', value: null }] }, { name: '__consumer_offsets', numPartitions: 1, replicationFactor: 1, assignments: [], configs: [] }, { name: 'ok', numPartitions: 1, replicationFactor: 1, assignments: [], configs: [] }], timeoutMs: 1, validateOnly: false }, created);
    expect(asked.map((a) => (command(a).topics as { name: string }[]).map((t) => t.name))).toEqual([['ok'], ['__consumer_offsets']]);
    expect((response.topics as KafkaValue[]).map((t) => [t.name, t.errorCode])).toEqual([['n', ErrorCode.INVALID_CONFIG], ['__consumer_offsets', ErrorCode.INVALID_TOPIC_EXCEPTION], ['ok', 0]]);
  });

  it('a failed call answers every topic with its code', async () => {
    const { response } = await call('CreateTopics', 4, { topics: [{ name: 'a', numPartitions: 1, replicationFactor: 1, assignments: [], configs: [] }], timeoutMs: 1, validateOnly: false }, () => ({ type: 'ControllerCallFailed', errorCode: ErrorCode.REQUEST_TIMED_OUT, errorMessage: 'gave up' }));
    expect(response.topics).toEqual([expect.objectContaining({ name: 'a', errorCode: ErrorCode.REQUEST_TIMED_OUT, errorMessage: 'gave up' })]);
  });
});

describe('Kafka DeleteTopics', () => {
  const id = 'a0000000-0000-4000-8000-00000000000a';
  const answer = guarded((c) => {
    if (c.type === 'Metadata') return { controllerId: 1, brokers: [], topics: [{ errorCode: 0, errorMessage: null, name: 'byid', topicId: id, isInternal: false, partitions: [] }] };
    return { type: 'DeleteTopicsReply', topics: (c.topics as string[]).map((name) => (name === 'gone' ? { name, topicId: null, errorCode: ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, errorMessage: 'Topic gone does not exist' } : { name, topicId: name === 'byid' ? id : 'a0000000-0000-4000-8000-000000000001', errorCode: 0, errorMessage: null })) };
  });

  it('deletes by name at every version; __consumer_offsets is refused by the guard with INVALID_TOPIC_EXCEPTION', async () => {
    for (const v of versions('DeleteTopics')) {
      const names = ['t', '__consumer_offsets', 'gone'];
      const body = v >= 6 ? { topics: names.map((name) => ({ name, topicId: zeroUuid })), timeoutMs: 1 } : { topicNames: names, timeoutMs: 1 };
      const { response } = await call('DeleteTopics', v, body, answer);
      expect((response.responses as KafkaValue[]).map((r) => [r.name, r.errorCode])).toEqual([['t', 0], ['__consumer_offsets', ErrorCode.INVALID_TOPIC_EXCEPTION], ['gone', ErrorCode.UNKNOWN_TOPIC_OR_PARTITION]]);
    }
  });

  it('v6 resolves ids through Metadata; an unknown id is UNKNOWN_TOPIC_ID; name and id together INVALID_REQUEST', async () => {
    const other = 'b0000000-0000-4000-8000-000000000000';
    const { response, asked } = await call('DeleteTopics', 6, { topics: [{ name: null, topicId: id }, { name: null, topicId: other }, { name: 'x', topicId: other }], timeoutMs: 1 }, (path, m) => (m.type === 'Metadata' ? answer(path, m) : answer(path, m)));
    expect(asked.map((a) => a.message.type)).toEqual(['Metadata', 'Admin']);
    expect(command(asked[1]!)).toEqual({ type: 'DeleteTopics', topics: ['byid'] });
    expect(response.responses).toEqual([
      { name: 'byid', topicId: id, errorCode: 0, errorMessage: null },
      { name: null, topicId: other, errorCode: ErrorCode.UNKNOWN_TOPIC_ID, errorMessage: expect.any(String) },
      { name: 'x', topicId: other, errorCode: ErrorCode.INVALID_REQUEST, errorMessage: expect.any(String) },
    ]);
  });
});

describe('Kafka CreatePartitions', () => {
  it('passes counts, assignments and validateOnly; answers per topic', async () => {
    for (const v of versions('CreatePartitions')) {
      const { response, asked } = await call('CreatePartitions', v, { topics: [{ name: 't', count: 4, assignments: [{ brokerIds: [2, 3] }] }, { name: 'u', count: 2, assignments: null }], timeoutMs: 1, validateOnly: true }, guarded((c) => ({ type: 'CreatePartitionsReply', topics: (c.topics as { name: string }[]).map((t) => ({ name: t.name, errorCode: t.name === 'u' ? ErrorCode.INVALID_PARTITIONS : 0, errorMessage: t.name === 'u' ? 'no increase' : null })) })));
      expect(command(asked[0]!)).toEqual({ type: 'CreatePartitions', validateOnly: true, topics: [{ name: 't', count: 4, assignments: [[2, 3]] }, { name: 'u', count: 2, assignments: null }] });
      expect(response.results).toEqual([{ name: 't', errorCode: 0, errorMessage: null }, { name: 'u', errorCode: ErrorCode.INVALID_PARTITIONS, errorMessage: 'no increase' }]);
    }
  });
});

describe('Kafka configs', () => {
  const described = guarded((c) => ({
    type: 'DescribeConfigsReply',
    results: (c.resources as { resourceType: string; resourceName: string }[]).map((r) => ({
      resourceType: r.resourceType,
      resourceName: r.resourceName,
      errorCode: 0,
      errorMessage: null,
      configs:
        r.resourceType === 'topic'
          ? [
              { name: 'retention.ms', value: '1000', source: 'TOPIC_CONFIG', isDefault: false, readOnly: false, documentation: 'age' },
              { name: 'cleanup.policy', value: 'delete', source: 'DEFAULT_CONFIG', isDefault: true, readOnly: false, documentation: 'policy' },
            ]
          : [{ name: 'leader.replication.throttled.rate', value: '100', source: 'DYNAMIC_BROKER_CONFIG', isDefault: false, readOnly: false, documentation: 'rate' }],
    })),
  }));

  it('DescribeConfigs: topic (2) and broker (4) resources, Kafka sources and types, synonyms and documentation when asked', async () => {
    for (const v of versions('DescribeConfigs')) {
      const { response, asked } = await call('DescribeConfigs', v, { resources: [{ resourceType: 2, resourceName: 't', configurationKeys: null }, { resourceType: 8, resourceName: 'x', configurationKeys: null }, { resourceType: 4, resourceName: '1', configurationKeys: ['leader.replication.throttled.rate'] }], includeSynonyms: true, includeDocumentation: true }, described);
      expect(command(asked[0]!)).toEqual({ type: 'DescribeConfigs', resources: [{ resourceType: 'topic', resourceName: 't', configNames: null }, { resourceType: 'broker', resourceName: '1', configNames: ['leader.replication.throttled.rate'] }] });
      const results = response.results as KafkaValue[];
      expect(results.map((r) => [r.resourceType, r.resourceName, r.errorCode])).toEqual([[2, 't', 0], [8, 'x', ErrorCode.INVALID_REQUEST], [4, '1', 0]]);
      const retention = (results[0]!.configs as KafkaValue[])[0]!;
      expect(retention).toMatchObject({ name: 'retention.ms', value: '1000', configSource: 1, configType: 5, readOnly: false, isSensitive: false });
      expect(retention.synonyms).toEqual(v >= 1 ? [{ name: 'retention.ms', value: '1000', source: 1 }, { name: 'retention.ms', value: '604800000', source: 5 }] : []);
      expect(retention.documentation).toBe(v >= 3 ? 'age' : null);
      expect((results[0]!.configs as KafkaValue[])[1]).toMatchObject({ configSource: 5, isDefault: true, configType: 7 });
      expect((results[2]!.configs as KafkaValue[])[0]).toMatchObject({ configSource: 2, value: '100' });
    }
  });

  it('AlterConfigs (legacy) replaces every override: the named SET, every other config DELETEd', () => {
    const ops = legacyAlterOps('topic', [{ name: 'retention.ms', value: '5' }]);
    expect(Array.isArray(ops) && ops.length).toBe(topicConfigSchema.size);
    expect(Array.isArray(ops) && ops.filter((o) => o.op === 'SET')).toEqual([{ name: 'retention.ms', op: 'SET', value: '5' }]);
    expect(Array.isArray(ops) && ops.find((o) => o.name === 'cleanup.policy')).toEqual({ name: 'cleanup.policy', op: 'DELETE', value: null });
    expect(legacyAlterOps('topic', [{ name: 'retention.ms', value: null }])).toMatchObject({ errorCode: ErrorCode.INVALID_REQUEST });
  });

  it('AlterConfigs answers per resource at every version; an internal topic is refused by the guard alone', async () => {
    for (const v of versions('AlterConfigs')) {
      const { response, asked } = await call('AlterConfigs', v, { resources: [{ resourceType: 2, resourceName: 't', configs: [{ name: 'retention.ms', value: '5' }] }, { resourceType: 2, resourceName: '__transaction_state', configs: [] }, { resourceType: 32, resourceName: 'g', configs: [] }], validateOnly: false }, guarded((c) => ({ type: 'AlterConfigsReply', results: (c.resources as { resourceType: string; resourceName: string }[]).map((r) => ({ ...r, errorCode: 0, errorMessage: null })) })));
      expect(asked).toHaveLength(2);
      expect(response.responses).toEqual([
        { resourceType: 2, resourceName: 't', errorCode: 0, errorMessage: null },
        { resourceType: 2, resourceName: '__transaction_state', errorCode: ErrorCode.INVALID_TOPIC_EXCEPTION, errorMessage: expect.any(String) },
        { resourceType: 32, resourceName: 'g', errorCode: ErrorCode.INVALID_REQUEST, errorMessage: 'Unsupported resource type: 32' },
      ]);
    }
  });

  it('IncrementalAlterConfigs: SET/DELETE; APPEND/SUBTRACT for list configs only; unknown op INVALID_REQUEST', () => {
    const current = new Map([['cleanup.policy', 'delete']]);
    expect(incrementalAlterOps('topic', [{ name: 'retention.ms', value: '9', configOperation: 0 }, { name: 'segment.ms', value: null, configOperation: 1 }], current)).toEqual([{ name: 'retention.ms', op: 'SET', value: '9' }, { name: 'segment.ms', op: 'DELETE', value: null }]);
    expect(incrementalAlterOps('topic', [{ name: 'cleanup.policy', value: 'compact', configOperation: 2 }], current)).toEqual([{ name: 'cleanup.policy', op: 'SET', value: 'delete,compact' }]);
    expect(incrementalAlterOps('topic', [{ name: 'cleanup.policy', value: 'delete', configOperation: 3 }], new Map([['cleanup.policy', 'delete,compact']]))).toEqual([{ name: 'cleanup.policy', op: 'SET', value: 'compact' }]);
    expect(incrementalAlterOps('topic', [{ name: 'retention.ms', value: '1', configOperation: 2 }], current)).toMatchObject({ errorCode: ErrorCode.INVALID_CONFIG });
    expect(incrementalAlterOps('topic', [{ name: 'retention.ms', value: '1', configOperation: 9 }], current)).toMatchObject({ errorCode: ErrorCode.INVALID_REQUEST });
  });

  it('IncrementalAlterConfigs reads the current list before an APPEND, at every version', async () => {
    for (const v of versions('IncrementalAlterConfigs')) {
      const answer = guarded((c) => (c.type === 'DescribeConfigs' ? described('/broker', { type: 'Admin', command: c }) : { type: 'AlterConfigsReply', results: (c.resources as { resourceType: string; resourceName: string }[]).map((r) => ({ ...r, errorCode: 0, errorMessage: null })) }));
      const { response, asked } = await call('IncrementalAlterConfigs', v, { resources: [{ resourceType: 2, resourceName: 't', configs: [{ name: 'cleanup.policy', configOperation: 2, value: 'compact' }] }], validateOnly: false }, answer);
      expect(asked.map((a) => command(a).type)).toEqual(['DescribeConfigs', 'AlterConfigs']);
      expect(command(asked[1]!).resources).toEqual([{ resourceType: 'topic', resourceName: 't', ops: [{ name: 'cleanup.policy', op: 'SET', value: 'delete,compact' }] }]);
      expect(response.responses).toEqual([{ resourceType: 2, resourceName: 't', errorCode: 0, errorMessage: null }]);
    }
  });
});

describe('Kafka ElectLeaders and reassignments', () => {
  it('ElectLeaders: election type by number (v0 preferred), per-partition results', async () => {
    for (const v of versions('ElectLeaders')) {
      const { response, asked } = await call('ElectLeaders', v, { electionType: 1, topicPartitions: [{ topic: 't', partitions: [0, 1] }], timeoutMs: 1 }, () => ({ type: 'ElectLeadersReply', results: [{ topic: 't', partitions: [{ partition: 0, errorCode: 0, errorMessage: null }, { partition: 1, errorCode: ErrorCode.ELECTION_NOT_NEEDED, errorMessage: 'leader is preferred' }] }] }));
      expect(command(asked[0]!)).toEqual({ type: 'ElectLeaders', electionType: v >= 1 ? 'UNCLEAN' : 'PREFERRED', topicPartitions: [{ topic: 't', partitions: [0, 1] }] });
      expect(response.replicaElectionResults).toEqual([{ topic: 't', partitionResult: [{ partitionId: 0, errorCode: 0, errorMessage: null }, { partitionId: 1, errorCode: ErrorCode.ELECTION_NOT_NEEDED, errorMessage: 'leader is preferred' }] }]);
    }
    const { response } = await call('ElectLeaders', 2, { electionType: 7, topicPartitions: null, timeoutMs: 1 }, () => new Error('not asked'));
    expect(response.errorCode).toBe(ErrorCode.INVALID_REQUEST);
  });

  it('Alter/ListPartitionReassignments flatten and regroup by topic', async () => {
    const { response, asked } = await call('AlterPartitionReassignments', 0, { timeoutMs: 1, topics: [{ name: 't', partitions: [{ partitionIndex: 0, replicas: [1, 2] }, { partitionIndex: 1, replicas: null }] }] }, () => ({ type: 'AlterPartitionReassignmentsReply', results: [{ topic: 't', partition: 0, errorCode: 0, errorMessage: null }, { topic: 't', partition: 1, errorCode: ErrorCode.NO_REASSIGNMENT_IN_PROGRESS, errorMessage: 'none' }] }));
    expect(command(asked[0]!)).toEqual({ type: 'AlterPartitionReassignments', reassignments: [{ topic: 't', partition: 0, replicas: [1, 2] }, { topic: 't', partition: 1, replicas: null }] });
    expect(response).toMatchObject({ errorCode: 0, responses: [{ name: 't', partitions: [{ partitionIndex: 0, errorCode: 0, errorMessage: null }, { partitionIndex: 1, errorCode: ErrorCode.NO_REASSIGNMENT_IN_PROGRESS, errorMessage: 'none' }] }] });
    const listed = await call('ListPartitionReassignments', 0, { timeoutMs: 1, topics: null }, () => ({ type: 'ListPartitionReassignmentsReply', reassignments: [{ topic: 't', partition: 0, replicas: [1, 2, 3], addingReplicas: [3], removingReplicas: [1] }, { topic: 't', partition: 2, replicas: [2], addingReplicas: [], removingReplicas: [] }] }));
    expect(command(listed.asked[0]!)).toEqual({ type: 'ListPartitionReassignments', topics: null });
    expect(listed.response.topics).toEqual([{ name: 't', partitions: [{ partitionIndex: 0, replicas: [1, 2, 3], addingReplicas: [3], removingReplicas: [1] }, { partitionIndex: 2, replicas: [2], addingReplicas: [], removingReplicas: [] }] }]);
  });
});

describe('Kafka DescribeCluster', () => {
  const metadata = { controllerId: 2, topics: [], brokers: [{ brokerId: 1, host: 'h1', port: 1, rack: 'r', listeners: [{ name: 'PLAINTEXT', host: 'k1', port: 9092 }] }, { brokerId: 2, host: 'h2', port: 2, rack: null, listeners: [] }] };
  it('lists the brokers at the listener asked, the controller, and refuses controller endpoints', async () => {
    for (const v of versions('DescribeCluster')) {
      const { response } = await call('DescribeCluster', v, { includeClusterAuthorizedOperations: false, endpointType: 1 }, () => metadata);
      expect(response).toMatchObject({ errorCode: 0, controllerId: 2, clusterId: '', brokers: [{ brokerId: 1, host: 'k1', port: 9092, rack: 'r' }] });
    }
    const { response } = await call('DescribeCluster', 1, { includeClusterAuthorizedOperations: false, endpointType: 2 }, () => metadata);
    expect(response.errorCode).toBe(ErrorCode.UNSUPPORTED_ENDPOINT_TYPE);
  });
});

describe('items the native validators would refuse whole are answered on their own', () => {
  /** The controller client's shape check, as the real one does it: one bad item refuses the command. */
  const validated =
    (answer: (c: Record<string, unknown> & { type: string }) => unknown): Answer =>
    (path, m) => {
      const c = (m as { command: Record<string, unknown> & { type: string } }).command;
      const checked = validateCommand(c, 'command');
      return isInvalid(checked) ? { type: 'ControllerCallFailed', errorCode: ErrorCode.INVALID_REQUEST, errorMessage: checked.errorMessage } : answer(c);
    };

  it('CreateTopics: a bad count, factor or assignment gets its Kafka code; the good topic is created', async () => {
    const ok = validated((c) => ({ type: 'CreateTopicsReply', topics: (c.topics as { name: string }[]).map((t) => ({ name: t.name, topicId: 'a0000000-0000-4000-8000-000000000001', errorCode: 0, errorMessage: null, numPartitions: 1, replicationFactor: 1 })) }));
    const topic = (name: string, numPartitions: number, replicationFactor: number, brokerIds: number[] = []) => ({ name, numPartitions, replicationFactor, assignments: brokerIds.length === 0 ? [] : [{ partitionIndex: 0, brokerIds }], configs: [] });
    const { response } = await call('CreateTopics', 7, { topics: [topic('p', -5, 1), topic('r', 1, -3), topic('a', -1, -1, [-2]), topic('x'.repeat(2000), 1, 1), topic('good', 1, 1)], timeoutMs: 1, validateOnly: false }, ok);
    expect((response.topics as KafkaValue[]).map((t) => t.errorCode)).toEqual([ErrorCode.INVALID_PARTITIONS, ErrorCode.INVALID_REPLICATION_FACTOR, ErrorCode.INVALID_REPLICA_ASSIGNMENT, ErrorCode.INVALID_TOPIC_EXCEPTION, 0]);
  });

  it('CreatePartitions, ElectLeaders, AlterPartitionReassignments: negative counts, partitions and brokers answered per item', async () => {
    const parts = await call('CreatePartitions', 3, { topics: [{ name: 'n', count: -1, assignments: null }, { name: 'g', count: 2, assignments: null }], timeoutMs: 1, validateOnly: false }, validated((c) => ({ type: 'CreatePartitionsReply', topics: (c.topics as { name: string }[]).map((t) => ({ name: t.name, errorCode: 0, errorMessage: null })) })));
    expect((parts.response.results as KafkaValue[]).map((r) => r.errorCode)).toEqual([ErrorCode.INVALID_PARTITIONS, 0]);
    const elect = await call('ElectLeaders', 2, { electionType: 0, topicPartitions: [{ topic: 't', partitions: [-1, 0] }], timeoutMs: 1 }, validated(() => ({ type: 'ElectLeadersReply', results: [{ topic: 't', partitions: [{ partition: 0, errorCode: 0, errorMessage: null }] }] })));
    expect(elect.response.replicaElectionResults).toEqual([{ topic: 't', partitionResult: [{ partitionId: 0, errorCode: 0, errorMessage: null }, { partitionId: -1, errorCode: ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, errorMessage: expect.any(String) }] }]);
    const moves = await call('AlterPartitionReassignments', 0, { timeoutMs: 1, topics: [{ name: 't', partitions: [{ partitionIndex: 0, replicas: [1, -4] }, { partitionIndex: 1, replicas: [1, 2] }] }] }, validated(() => ({ type: 'AlterPartitionReassignmentsReply', results: [{ topic: 't', partition: 1, errorCode: 0, errorMessage: null }] })));
    expect(moves.response).toMatchObject({ errorCode: 0, responses: [{ name: 't', partitions: [{ partitionIndex: 0, errorCode: ErrorCode.INVALID_REPLICA_ASSIGNMENT }, { partitionIndex: 1, errorCode: 0 }] }] });
  });
});

describe('Kafka DeleteRecords', () => {
  /** The broker as askAsClient reaches it: the guard refuses a request naming an internal topic whole; else per partition. */
  const broker: Answer = (path, m) => {
    if (path !== '/broker' || m.type !== 'DeleteRecords') return new Error(`unexpected ${String(m.type)}`);
    const partitions = m.partitions as { topic: string; partition: number; offset: number }[];
    if (partitions.some((p) => p.topic.startsWith('__'))) return new KactusError(ErrorCode.INVALID_TOPIC_EXCEPTION, 'a client cannot delete records of an internal topic');
    return {
      type: 'DeleteRecordsReply',
      partitions: partitions.map((p) =>
        p.topic === 'elsewhere'
          ? { ...p, errorCode: ErrorCode.NOT_LEADER_OR_FOLLOWER, errorMessage: 'not here', lowWatermark: -1 }
          : p.offset > 100
            ? { ...p, errorCode: ErrorCode.OFFSET_OUT_OF_RANGE, errorMessage: 'above the high watermark 100', lowWatermark: -1 }
            : { ...p, errorCode: 0, errorMessage: null, lowWatermark: p.offset === -1 ? 100 : p.offset },
      ),
    };
  };

  it('sends one native DeleteRecords with every partition and the timeout; answers per partition at every version', async () => {
    for (const v of versions('DeleteRecords')) {
      const body = {
        topics: [
          { name: 't', partitions: [{ partitionIndex: 0, offset: 5 }, { partitionIndex: 1, offset: -1 }, { partitionIndex: 2, offset: 500 }] },
          { name: 'elsewhere', partitions: [{ partitionIndex: 0, offset: 1 }] },
        ],
        timeoutMs: 1_500,
      };
      const { response, asked } = await call('DeleteRecords', v, body, broker);
      expect(asked).toHaveLength(1);
      expect(asked[0]!.message).toMatchObject({
        type: 'DeleteRecords',
        timeoutMs: 1_500,
        partitions: [
          { topic: 't', partition: 0, offset: 5 },
          { topic: 't', partition: 1, offset: -1 },
          { topic: 't', partition: 2, offset: 500 },
          { topic: 'elsewhere', partition: 0, offset: 1 },
        ],
      });
      expect(response).toEqual({
        throttleTimeMs: 0,
        topics: [
          {
            name: 't',
            partitions: [
              { partitionIndex: 0, lowWatermark: 5, errorCode: 0 },
              { partitionIndex: 1, lowWatermark: 100, errorCode: 0 },
              { partitionIndex: 2, lowWatermark: -1, errorCode: ErrorCode.OFFSET_OUT_OF_RANGE },
            ],
          },
          { name: 'elsewhere', partitions: [{ partitionIndex: 0, lowWatermark: -1, errorCode: ErrorCode.NOT_LEADER_OR_FOLLOWER }] },
        ],
      });
    }
  });

  it('an internal topic goes alone and only it gets the guard\'s INVALID_TOPIC_EXCEPTION', async () => {
    for (const v of versions('DeleteRecords')) {
      const body = { topics: [{ name: '__consumer_offsets', partitions: [{ partitionIndex: 0, offset: 1 }] }, { name: 't', partitions: [{ partitionIndex: 0, offset: 3 }] }], timeoutMs: 100 };
      const { response, asked } = await call('DeleteRecords', v, body, broker);
      expect(asked).toHaveLength(2);
      expect(response.topics).toEqual([
        { name: '__consumer_offsets', partitions: [{ partitionIndex: 0, lowWatermark: -1, errorCode: ErrorCode.INVALID_TOPIC_EXCEPTION }] },
        { name: 't', partitions: [{ partitionIndex: 0, lowWatermark: 3, errorCode: 0 }] },
      ]);
    }
  });

  it('answers without asking what the native validator would refuse: bad names and partitions, offsets below -1; clamps the timeout', async () => {
    const body = {
      topics: [
        { name: 'x'.repeat(300), partitions: [{ partitionIndex: 0, offset: 1 }] },
        { name: 't', partitions: [{ partitionIndex: -1, offset: 1 }, { partitionIndex: 0, offset: -2 }, { partitionIndex: 1, offset: 7 }] },
      ],
      timeoutMs: -5,
    };
    const { response, asked } = await call('DeleteRecords', 2, body, broker);
    expect(asked).toHaveLength(1);
    expect(asked[0]!.message).toMatchObject({ timeoutMs: 0, partitions: [{ topic: 't', partition: 1, offset: 7 }] });
    expect(response.topics).toEqual([
      { name: 'x'.repeat(300), partitions: [{ partitionIndex: 0, lowWatermark: -1, errorCode: ErrorCode.UNKNOWN_TOPIC_OR_PARTITION }] },
      {
        name: 't',
        partitions: [
          { partitionIndex: -1, lowWatermark: -1, errorCode: ErrorCode.UNKNOWN_TOPIC_OR_PARTITION },
          { partitionIndex: 0, lowWatermark: -1, errorCode: ErrorCode.OFFSET_OUT_OF_RANGE },
          { partitionIndex: 1, lowWatermark: 7, errorCode: 0 },
        ],
      },
    ]);
  });

  it('a failed call (timeout, no broker) answers every partition asked with its code', async () => {
    const { response } = await call('DeleteRecords', 1, { topics: [{ name: 't', partitions: [{ partitionIndex: 0, offset: 1 }, { partitionIndex: 1, offset: 1 }] }], timeoutMs: 10 }, () => new KactusError(ErrorCode.REQUEST_TIMED_OUT, 'no reply'));
    expect(response.topics).toEqual([{ name: 't', partitions: [{ partitionIndex: 0, lowWatermark: -1, errorCode: ErrorCode.REQUEST_TIMED_OUT }, { partitionIndex: 1, lowWatermark: -1, errorCode: ErrorCode.REQUEST_TIMED_OUT }] }]);
  });

  it('the native request it builds passes the native validator', async () => {
    const { asked } = await call('DeleteRecords', 2, { topics: [{ name: 't', partitions: [{ partitionIndex: 0, offset: -1 }] }], timeoutMs: 10_000_000 }, broker);
    const checked = validateDeleteRecords(asked[0]!.message);
    expect(isInvalid(checked)).toBe(false);
    expect(checked).toMatchObject({ timeoutMs: deleteRecordsLimits.timeoutMsMax });
  });
});
