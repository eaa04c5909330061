import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../../../protocol/errors.ts';
import {
  effectiveTopicConfig,
  generateAlterConfigs,
  generateDescribeConfigs,
  topicConfigSchema,
  validateConfigValue,
  type AlterConfigOp,
} from './configs.ts';
import { topicByName } from './image.ts';
import { apply, clusterImage, withTopic } from './test-fixtures.ts';

describe('topic config values', () => {
  it.each([
    ['cleanup.policy', 'delete', true],
    ['cleanup.policy', 'compact,delete', true],
    ['cleanup.policy', 'shred', false],
    ['compression.type', 'zstd', true],
    ['compression.type', 'brotli', false],
    ['min.insync.replicas', '2', true],
    ['min.insync.replicas', '0', false],
    ['min.insync.replicas', 'two', false],
    ['min.insync.replicas', '2147483648', false],
    ['retention.ms', '-1', true],
    ['retention.ms', '-2', false],
    ['retention.ms', '9223372036854775807', true],
    ['retention.ms', '9223372036854775808', false],
    ['retention.bytes', '-1', true],
    ['segment.bytes', '13', false],
    ['segment.bytes', '1048576', true],
    ['segment.ms', '0', false],
    ['max.message.bytes', '1048588', true],
    ['unclean.leader.election.enable', 'true', true],
    ['unclean.leader.election.enable', 'TRUE', true],
    ['unclean.leader.election.enable', 'yes', false],
    ['delete.retention.ms', '0', true],
    ['min.cleanable.dirty.ratio', '0.25', true],
    ['min.cleanable.dirty.ratio', '1.5', false],
    ['message.timestamp.type', 'LogAppendTime', true],
    ['no.such.config', '1', false],
  ])('%s = %j valid: %s', (name, value, valid) => {
    const problem = validateConfigValue(name, value);
    expect(problem === null).toBe(valid);
    if (problem !== null) expect(problem).toContain(name);
  });

  it('every default passes its own validation', () => {
    for (const definition of topicConfigSchema.values()) {
      expect(validateConfigValue(definition.name, definition.defaultValue)).toBeNull();
    }
  });

  it('effective config fills defaults and parses overrides', () => {
    const config = effectiveTopicConfig(new Map([['min.insync.replicas', '2'], ['cleanup.policy', 'compact, delete']]));
    expect(config).toMatchObject({
      minInsyncReplicas: 2,
      cleanupPolicy: ['compact', 'delete'],
      retentionMs: 604_800_000,
      segmentBytes: 1_073_741_824,
      uncleanLeaderElectionEnable: false,
      compressionType: 'producer',
    });
  });
});

describe('DescribeConfigs / AlterConfigs', () => {
  const image = withTopic(clusterImage([1]), 't', 1, 1, [{ name: 'retention.ms', value: '1000' }]);
  const alter = (ops: AlterConfigOp[], resourceName = 't', validateOnly = false) =>
    generateAlterConfigs(image, { type: 'AlterConfigs', resources: [{ resourceType: 'topic', resourceName, ops }], validateOnly });

  it('describes overrides and defaults with their source', () => {
    const result = generateDescribeConfigs(image, {
      type: 'DescribeConfigs',
      resources: [{ resourceType: 'topic', resourceName: 't', configNames: ['retention.ms', 'segment.bytes', 'nope'] }],
    });
    expect(result.records).toEqual([]);
    expect(result.reply.results[0]?.configs).toEqual([
      expect.objectContaining({ name: 'retention.ms', value: '1000', source: 'TOPIC_CONFIG', isDefault: false }),
      expect.objectContaining({ name: 'segment.bytes', value: '1073741824', source: 'DEFAULT_CONFIG', isDefault: true }),
    ]);
  });

  it("a topic without its own value shows the broker's: its dynamic, the cluster default, its static config, then Kafka's", () => {
    const brokerAlter = (resourceName: string, name: string, value: string) =>
      generateAlterConfigs(image, { type: 'AlterConfigs', resources: [{ resourceType: 'broker', resourceName, ops: [{ name, op: 'SET', value }] }], validateOnly: false });
    let withBrokerConfigs = apply(image, brokerAlter('1', 'log.segment.bytes', '2048'));
    withBrokerConfigs = apply(withBrokerConfigs, brokerAlter('', 'log.retention.bytes', '4096'));
    const staticConfigs = { brokerId: 1, values: new Map([['min.insync.replicas', '2'], ['log.segment.bytes', '999999']]) };
    const described = generateDescribeConfigs(withBrokerConfigs, { type: 'DescribeConfigs', resources: [{ resourceType: 'topic', resourceName: 't', configNames: null }, { resourceType: 'broker', resourceName: '1', configNames: ['min.insync.replicas'] }, { resourceType: 'broker', resourceName: '2', configNames: ['min.insync.replicas'] }] }, staticConfigs).reply.results;
    const topic = new Map(described[0]!.configs.map((c) => [c.name, c]));
    expect(topic.get('retention.ms')).toMatchObject({ value: '1000', source: 'TOPIC_CONFIG' });
    expect(topic.get('segment.bytes')).toMatchObject({ value: '2048', source: 'DYNAMIC_BROKER_CONFIG', isDefault: false });
    expect(topic.get('retention.bytes')).toMatchObject({ value: '4096', source: 'DYNAMIC_DEFAULT_BROKER_CONFIG' });
    expect(topic.get('min.insync.replicas')).toMatchObject({ value: '2', source: 'STATIC_BROKER_CONFIG', isDefault: false });
    expect(topic.get('cleanup.policy')).toMatchObject({ value: 'delete', source: 'DEFAULT_CONFIG', isDefault: true });
    // The answering broker knows only its own static config.
    expect(described[1]!.configs[0]).toMatchObject({ value: '2', source: 'STATIC_BROKER_CONFIG' });
    expect(described[2]!.configs[0]).toMatchObject({ value: '1', source: 'DEFAULT_CONFIG' });
    // The controller, which knows no broker's static config, still sees the dynamic ones.
    const fromController = new Map(generateDescribeConfigs(withBrokerConfigs, { type: 'DescribeConfigs', resources: [{ resourceType: 'topic', resourceName: 't', configNames: null }] }).reply.results[0]!.configs.map((c) => [c.name, c]));
    expect(fromController.get('retention.bytes')).toMatchObject({ value: '4096', source: 'DYNAMIC_DEFAULT_BROKER_CONFIG' });
    expect(fromController.get('min.insync.replicas')).toMatchObject({ value: '1', source: 'DEFAULT_CONFIG' });
  });

  it('describe of an unknown topic is UNKNOWN_TOPIC_OR_PARTITION', () => {
    const result = generateDescribeConfigs(image, { type: 'DescribeConfigs', resources: [{ resourceType: 'topic', resourceName: 'x', configNames: null }] });
    expect(result.reply.results[0]?.errorCode).toBe(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION);
  });

  it('SET and DELETE write Config records; the image follows', () => {
    const result = alter([
      { name: 'min.insync.replicas', op: 'SET', value: '2' },
      { name: 'retention.ms', op: 'DELETE', value: null },
    ]);
    expect(result.reply.results[0]?.errorCode).toBe(0);
    const after = apply(image, result);
    expect(topicByName(after, 't')?.configs).toEqual(new Map([['min.insync.replicas', '2']]));
  });

  it('a SET to the value in force and a DELETE of a default write nothing', () => {
    const result = alter([
      { name: 'retention.ms', op: 'SET', value: '1000' },
      { name: 'segment.ms', op: 'DELETE', value: null },
    ]);
    expect(result.reply.results[0]?.errorCode).toBe(0);
    expect(result.records).toEqual([]);
  });

  it.each([
    { name: 'unknown key', ops: [{ name: 'retention.hours', op: 'SET', value: '1' }], errorCode: ErrorCode.INVALID_CONFIG, mentions: 'retention.hours' },
    { name: 'bad value', ops: [{ name: 'segment.bytes', op: 'SET', value: '-5' }], errorCode: ErrorCode.INVALID_CONFIG, mentions: 'segment.bytes' },
    { name: 'null value on SET', ops: [{ name: 'segment.bytes', op: 'SET', value: null }], errorCode: ErrorCode.INVALID_CONFIG, mentions: 'segment.bytes' },
    {
      name: 'duplicate key',
      ops: [
        { name: 'segment.ms', op: 'SET', value: '5' },
        { name: 'segment.ms', op: 'DELETE', value: null },
      ],
      errorCode: ErrorCode.INVALID_REQUEST,
      mentions: 'segment.ms',
    },
  ] satisfies { name: string; ops: AlterConfigOp[]; errorCode: number; mentions: string }[])(
    'refuses $name, writing nothing for the resource',
    ({ ops, errorCode, mentions }) => {
      const result = alter([{ name: 'min.insync.replicas', op: 'SET', value: '2' }, ...ops]);
      expect(result.reply.results[0]?.errorCode).toBe(errorCode);
      expect(result.reply.results[0]?.errorMessage).toContain(mentions);
      expect(result.records).toEqual([]);
    },
  );

  it('unknown topic, and validateOnly', () => {
    expect(alter([], 'nope').reply.results[0]?.errorCode).toBe(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION);
    const dry = alter([{ name: 'segment.ms', op: 'SET', value: '5' }], 't', true);
    expect(dry.reply.results[0]?.errorCode).toBe(0);
    expect(dry.records).toEqual([]);
  });
});
