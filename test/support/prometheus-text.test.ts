/**
 * The strict Prometheus text parser the metrics tests read /metrics with
 * (prometheus-text.ts): what it accepts is what Prometheus reads, and each
 * refusal names the line. Also read back: prom-client's own output, escapes
 * included, so the parser and the library agree on the format.
 */
import { describe, expect, it } from 'vitest';
import { Counter, Histogram, Registry } from 'prom-client';
import { parsePrometheusText, PrometheusParseError, sampleValue, samplesOf } from './prometheus-text.ts';

describe('parsePrometheusText', () => {
  it('reads families, types, help, labels with escapes, special floats and timestamps', () => {
    const families = parsePrometheusText(
      [
        '# HELP requests_total Requests\\nby kind',
        '# TYPE requests_total counter',
        'requests_total{kind="a \\"quoted\\" \\\\ one",path="/x"} 3 1700000000000',
        'requests_total{kind="b"} 1e3',
        '# a plain comment',
        '',
        '# TYPE temperature gauge',
        'temperature -Inf',
        'untyped_thing NaN',
        '# TYPE latency_seconds histogram',
        'latency_seconds_bucket{le="0.1"} 1',
        'latency_seconds_bucket{le="1"} 2',
        'latency_seconds_bucket{le="+Inf"} 3',
        'latency_seconds_sum 4.5',
        'latency_seconds_count 3',
      ].join('\n'),
    );
    expect(families.get('requests_total')).toMatchObject({ type: 'counter', help: 'Requests\nby kind' });
    expect(sampleValue(families, 'requests_total', { kind: 'a "quoted" \\ one' })).toBe(3);
    expect(samplesOf(families, 'requests_total')[0]!.timestampMs).toBe(1_700_000_000_000);
    expect(sampleValue(families, 'requests_total', { kind: 'b' })).toBe(1000);
    expect(sampleValue(families, 'temperature')).toBe(-Infinity);
    expect(families.get('untyped_thing')?.type).toBe('untyped');
    expect(sampleValue(families, 'untyped_thing')).toBeNaN();
    expect(sampleValue(families, 'latency_seconds_bucket', { le: '+Inf' })).toBe(3);
    expect(sampleValue(families, 'latency_seconds_count')).toBe(3);
    expect(() => sampleValue(families, 'requests_total')).toThrow(/2 samples/);
  });

  it.each([
    ['a bad metric name', '1abc 2'],
    ['a value that is no float', 'x 1,5'],
    ['an unclosed label value', 'x{a="b} 1'],
    ['a bad escape', 'x{a="\\t"} 1'],
    ['an unquoted label value', 'x{a=b} 1'],
    ['a label given twice', 'x{a="1",a="2"} 1'],
    ['the same series twice', 'x{a="1"} 1\nx{a="1"} 2'],
    ['an unknown type', '# TYPE x countr'],
    ['a TYPE after the samples', 'x 1\n# TYPE x gauge'],
    ['a second TYPE', '# TYPE x gauge\n# TYPE x gauge'],
    ['a sample outside its family\'s type', '# TYPE x histogram\nx 1'],
    ['a bucket without le', '# TYPE h histogram\nh_bucket 1\nh_count 1'],
    ['buckets that are not cumulative', '# TYPE h histogram\nh_bucket{le="1"} 2\nh_bucket{le="+Inf"} 1\nh_count 1'],
    ['no +Inf bucket', '# TYPE h histogram\nh_bucket{le="1"} 1\nh_count 1'],
    ['a +Inf bucket that is not _count', '# TYPE h histogram\nh_bucket{le="+Inf"} 2\nh_count 3'],
    ['a timestamp that is no integer', 'x 1 12.5'],
    ['extra fields', 'x 1 2 3'],
  ])('refuses %s', (_why, text) => {
    expect(() => parsePrometheusText(text)).toThrow(PrometheusParseError);
  });

  it('reads what prom-client writes, label values with quotes, backslashes and newlines kept', async () => {
    const registry = new Registry();
    const counter = new Counter({ name: 't_events_total', help: 'events "seen"', labelNames: ['topic'], registers: [registry] });
    counter.inc({ topic: 'a"b\\c\nd' }, 2);
    const histogram = new Histogram({ name: 't_wait_seconds', help: 'waits', labelNames: ['kind'], buckets: [0.01, 1], registers: [registry] });
    histogram.observe({ kind: 'x' }, 0.5);
    histogram.observe({ kind: 'x' }, 5);
    const families = parsePrometheusText(await registry.metrics());
    expect(sampleValue(families, 't_events_total', { topic: 'a"b\\c\nd' })).toBe(2);
    expect(sampleValue(families, 't_wait_seconds_bucket', { kind: 'x', le: '1' })).toBe(1);
    expect(sampleValue(families, 't_wait_seconds_count', { kind: 'x' })).toBe(2);
    expect(sampleValue(families, 't_wait_seconds_sum', { kind: 'x' })).toBe(5.5);
  });
});
