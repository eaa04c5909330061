import { describe, expect, it } from 'vitest';
import { defaultLogConfig, fromKafkaConfig, resolveLogConfig } from './config.ts';

describe('log config', () => {
  it("has Kafka's defaults", () => {
    expect(defaultLogConfig).toMatchObject({
      segmentBytesMax: 1024 ** 3,
      segmentRollMs: 7 * 24 * 3600 * 1000,
      indexIntervalBytes: 4096,
      retentionMs: 7 * 24 * 3600 * 1000,
      retentionBytes: -1,
      deleteRetentionMs: 24 * 3600 * 1000,
      messageBytesMax: 1048588,
      flushIntervalMessages: Infinity,
      flushIntervalMs: Infinity,
      fsyncEveryAppend: false,
    });
  });

  it("maps Kafka's dotted names in one place and reports unknown ones", () => {
    const { overrides, unknown } = fromKafkaConfig({
      'segment.bytes': '1048576',
      'cleanup.policy': 'delete,compact',
      'flush.messages': '9223372036854775807',
      'message.timestamp.type': 'LogAppendTime',
      'no.such.thing': '1',
    });
    expect(overrides).toEqual({ segmentBytesMax: 1048576, cleanupPolicy: 'compact,delete', flushIntervalMessages: Infinity, messageTimestampType: 'LogAppendTime' });
    expect(unknown).toEqual(['no.such.thing']);
    expect(resolveLogConfig(overrides).segmentBytesMax).toBe(1048576);
  });

  it('asserts the relationships between bounds', () => {
    expect(() => resolveLogConfig({ segmentBytesMax: 2 ** 31 })).toThrow(/int32/);
    expect(() => resolveLogConfig({ retentionMs: -5 })).toThrow(/retentionMs/);
    expect(() => resolveLogConfig({ flushIntervalMessages: 0 })).toThrow(/flushIntervalMessages/);
  });
});
