import { describe, expect, it } from 'vitest';
import { DeadlineFailureDetector } from './failure-detector.ts';

describe('deadline failure detector', () => {
  it('goes up -> unreachable -> down with silence and back up when heard', () => {
    const detector = new DeadlineFailureDetector(0, 1_000, 2_000);
    expect(detector.status(999)).toBe('up');
    expect(detector.status(1_000)).toBe('unreachable');
    expect(detector.status(2_000)).toBe('down');
    detector.heartbeat(2_500);
    expect(detector.status(2_600)).toBe('up');
    detector.heartbeat(100); // late, out-of-order timestamps never move time back
    expect(detector.silenceMs(2_600)).toBe(100);
  });

  it('is down at once when declared down, and up again only when heard', () => {
    const detector = new DeadlineFailureDetector(0, 1_000, 2_000);
    detector.heartbeat(500);
    detector.declareDown(600);
    expect(detector.status(600)).toBe('down');
    expect(detector.status(700)).toBe('down');
    detector.heartbeat(800);
    expect(detector.status(800)).toBe('up');
  });
});
