import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../../../protocol/errors.ts';
import {
  effectiveTopicConfig,
  generateAlterConfigs,
  generateDescribeConfigs,
  withStaticBrokerConfigs,
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

  it("a topic without its own value shows the cluster's dynamic default, then the asked broker's static config, then Kafka's", () => {
    const brokerAlter = (resourceName: string, name: string, value: string) =>
      generateAlterConfigs(image, { type: 'AlterConfigs', resources: [{ resourceType: 'broker', resourceName, ops: [{ name, op: 'SET', value }] }], validateOnly: false });
    const withDefault = apply(image, brokerAlter('', 'log.retention.bytes', '4096'));
    const command = { type: 'DescribeConfigs' as const, resources: [{ resourceType: 'topic' as const, resourceName: 't', configNames: null }, { resourceType: 'broker' as const, resourceName: '1', configNames: ['min.insync.replicas', 'log.retention.bytes'] }, { resourceType: 'broker' as const, resourceName: '2', configNames: ['min.insync.replicas'] }] };
    const fromController = generateDescribeConfigs(withDefault, command).reply;
    const controllerTopic = new Map(fromController.results[0]!.configs.map((c) => [c.name, c]));
    expect(controllerTopic.get('retention.bytes')).toMatchObject({ value: '4096', source: 'DYNAMIC_DEFAULT_BROKER_CONFIG', isDefault: false });
    expect(controllerTopic.get('min.insync.replicas')).toMatchObject({ value: '1', source: 'DEFAULT_CONFIG' });

    // Broker 1 was started with min.insync.replicas=2 and log.retention.bytes=999 (the dynamic default wins over the latter).
    const asked = withStaticBrokerConfigs(fromController, { brokerId: 1, values: new Map([['min.insync.replicas', '2'], ['log.retention.bytes', '999']]) }).results;
    const topic = new Map(asked[0]!.configs.map((c) => [c.name, c]));
    expect(topic.get('retention.ms')).toMatchObject({ value: '1000', source: 'TOPIC_CONFIG' });
    expect(topic.get('retention.bytes')).toMatchObject({ value: '4096', source: 'DYNAMIC_DEFAULT_BROKER_CONFIG' });
    expect(topic.get('min.insync.replicas')).toMatchObject({ value: '2', source: 'STATIC_BROKER_CONFIG', isDefault: false });
    expect(topic.get('cleanup.policy')).toMatchObject({ value: 'delete', source: 'DEFAULT_CONFIG', isDefault: true });
    // The asked broker knows only its own static config.
    expect(asked[1]!.configs.map((c) => [c.name, c.value, c.source])).toEqual([['log.retention.bytes', '4096', 'DYNAMIC_DEFAULT_BROKER_CONFIG'], ['min.insync.replicas', '2', 'STATIC_BROKER_CONFIG']]);
    expect(asked[2]!.configs[0]).toMatchObject({ value: '1', source: 'DEFAULT_CONFIG' });
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
