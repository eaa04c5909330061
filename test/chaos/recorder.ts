/**
 * The live recorder of a chaos run: one array of history events stamped with
 * one monotonic clock (ms since the run started), so history.ts's convention
 * 1 (atMs never decreases along the array) holds by construction.
 *
 * Every worker of the harness (producers, consumers, the offsets observer,
 * the nemesis) appends here from the one event loop of the harness process;
 * no locking is needed. Bounded: past `eventsMax` events the recorder stops
 * accepting sends (`full`), and the workloads stop invoking, so a run can
 * never grow memory without end.
 *
 * No I/O.
 */
import { performance } from 'node:perf_hooks';
import { makeHistory, type History, type HistoryEvent } from './history.ts';

type NoTime<E> = E extends HistoryEvent ? Omit<E, 'atMs' | 'process'> : never;

/** Events a run may record (about 150 MB of heap at the most). */
export const eventsMaxDefault = 2_000_000;

export class LiveRecorder {
  readonly events: HistoryEvent[] = [];
  private readonly startMs = performance.now();
  private lastAtMs = 0;

  constructor(readonly eventsMax = eventsMaxDefault) {}

  /** Milliseconds since the run started (monotonic, never below an event already recorded). */
  nowMs(): number {
    const now = Math.round((performance.now() - this.startMs) * 10) / 10;
    this.lastAtMs = Math.max(this.lastAtMs, now);
    return this.lastAtMs;
  }

  get full(): boolean {
    return this.events.length >= this.eventsMax;
  }

  add(process: string, event: NoTime<HistoryEvent>): void {
    this.events.push({ ...event, atMs: this.nowMs(), process } as HistoryEvent);
  }

  history(): History {
    return makeHistory(this.events);
  }
}
