/**
 * The leader's replication rules as tables: inputs in, state and effects out.
 */
import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../../protocol/errors.ts';
import { becomeLeader, checkProduce, onAppended, onFollowerFetch, onLeaderConfig, onPartitionChanged, onTick, resign, type LeaderState } from './leader-logic.ts';

const client = { node: 'client', path: '/temp/1' };
const leader = (overrides: Partial<Parameters<typeof becomeLeader>[0]> = {}): LeaderState =>
  becomeLeader({ brokerId: 1, topic: 't', partition: 0, leaderEpoch: 3, partitionEpoch: 7, replicas: [1, 2, 3], isr: [1, 2, 3], minInsyncReplicas: 2, lagTimeMaxMs: 1_000, logEndOffset: 0, logStartOffset: 0, highWatermark: 0, nowMs: 0, ...overrides });

const append = (state: LeaderState, count: number, acks = -1, nowMs = 0) =>
  onAppended(state, { baseOffset: state.logEndOffset, lastOffset: state.logEndOffset + count - 1, logAppendTimeMs: nowMs, logEndOffset: state.logEndOffset + count, acks, deadlineMs: nowMs + 30_000, replyTo: client });

describe('partition leader logic', () => {
  it('acks=all waits for every ISR member, then answers with the base offset', () => {
    let [state, effects] = append(leader(), 10);
    expect(effects).toEqual([]);
    [state, effects] = onFollowerFetch(state, 2, 10, 1);
    expect(effects.filter((e) => e.type === 'Reply')).toEqual([]);
    [state, effects] = onFollowerFetch(state, 3, 10, 1);
    expect(state.highWatermark).toBe(10);
    expect(effects).toContainEqual(expect.objectContaining({ type: 'Reply', reply: expect.objectContaining({ errorCode: 0, baseOffset: 0 }) }));
    expect(state.parked).toEqual([]);
  });

  it('acks=1 answers after the append, acks=0 never', () => {
    expect(append(leader(), 5, 1)[1]).toContainEqual(expect.objectContaining({ type: 'Reply' }));
    expect(append(leader(), 5, 0)[1]).toEqual([]);
  });

  it('refuses acks=all before the append when the ISR is under min.insync.replicas', () => {
    expect(checkProduce(leader({ isr: [1] }), -1)).toBe(ErrorCode.NOT_ENOUGH_REPLICAS);
    expect(checkProduce(leader({ isr: [1] }), 1)).toBe(ErrorCode.NONE);
  });

  it('never moves the high watermark backwards, and holds it until every ISR member fetched', () => {
    let state = leader({ logEndOffset: 20, highWatermark: 15 });
    expect(state.highWatermark).toBe(15);
    [state] = onFollowerFetch(state, 2, 12, 1); // behind the old HW: HW stays
    expect(state.highWatermark).toBe(15);
    [state] = onFollowerFetch(state, 3, 20, 1);
    expect(state.highWatermark).toBe(15);
    [state] = onFollowerFetch(state, 2, 20, 2);
    expect(state.highWatermark).toBe(20);
  });

  it('shrinks a lagging follower out of the ISR and then answers parked requests NOT_ENOUGH_REPLICAS_AFTER_APPEND when under min ISR', () => {
    let state = leader({ minInsyncReplicas: 3 });
    let effects;
    [state] = append(state, 1);
    [state] = onFollowerFetch(state, 2, 1, 1_500);
    [state, effects] = onTick(state, 2_000);
    expect(effects).toContainEqual({ type: 'AlterPartition', isr: [1, 2], leaderEpoch: 3, partitionEpoch: 7 });
    [state, effects] = onPartitionChanged(state, [1, 2], 8);
    expect(state.highWatermark).toBe(1);
    expect(effects).toContainEqual(expect.objectContaining({ type: 'Reply', reply: expect.objectContaining({ errorCode: ErrorCode.NOT_ENOUGH_REPLICAS_AFTER_APPEND }) }));
  });

  it('configs changed at run time: a larger min.insync.replicas refuses acks=all at once, a shorter lag bound shrinks the ISR at the next tick; neither moves the high watermark', () => {
    let state = leader({ lagTimeMaxMs: 30_000 });
    [state] = append(state, 1);
    [state] = onFollowerFetch(state, 2, 1, 100);
    [state] = onFollowerFetch(state, 3, 1, 100);
    const highWatermark = state.highWatermark;
    expect(checkProduce(state, -1)).toBe(ErrorCode.NONE);
    state = onLeaderConfig(state, 4, 30_000);
    expect(checkProduce(state, -1)).toBe(ErrorCode.NOT_ENOUGH_REPLICAS);
    expect(checkProduce(state, 1)).toBe(ErrorCode.NONE);
    expect(state.highWatermark).toBe(highWatermark);
    state = onLeaderConfig(state, 2, 30_000);
    [state] = onFollowerFetch(state, 2, 1, 1_500);
    let effects;
    [, effects] = onTick(state, 2_000);
    expect(effects.filter((e) => e.type === 'AlterPartition')).toEqual([]);
    state = onLeaderConfig(state, 2, 1_000);
    [state, effects] = onTick(state, 2_000);
    expect(effects).toContainEqual({ type: 'AlterPartition', isr: [1, 2], leaderEpoch: 3, partitionEpoch: 7 });
    expect(onLeaderConfig(state, 2, 1_000)).toBe(state);
  });

  it('a reassignment adds a replica: the leader tracks it, asks for it in the ISR once caught up; a removed one is forgotten', () => {
    let state = leader({ logEndOffset: 10, highWatermark: 10 });
    let effects;
    [state] = onPartitionChanged(state, [1, 2, 3], 8, [4, 2, 3, 1], 100);
    expect([...state.followers.keys()].sort()).toEqual([2, 3, 4]);
    expect(state.followers.get(4)).toMatchObject({ logEndOffset: -1, lastCaughtUpTimeMs: 100 });
    [state, effects] = onFollowerFetch(state, 4, 10, 200);
    expect(effects).toContainEqual({ type: 'AlterPartition', isr: [4, 2, 3, 1], leaderEpoch: 3, partitionEpoch: 8 });
    // The move completes elsewhere (1 is removed, 4 leads): as a follower 1 would stop; here 3 is dropped instead.
    [state] = onPartitionChanged(state, [1, 2, 4], 9, [1, 2, 4], 300);
    expect([...state.followers.keys()].sort()).toEqual([2, 4]);
    [state] = append(state, 5);
    [state, effects] = onFollowerFetch(state, 3, 15, 400); // a stale fetch of the removed replica counts for nothing
    expect(effects).toEqual([]);
  });

  it('expands the ISR when a follower reaches the high watermark, counting it for the HW while pending', () => {
    let state = leader({ isr: [1, 2] });
    let effects;
    [state] = append(state, 4);
    [state] = onFollowerFetch(state, 2, 4, 1);
    expect(state.highWatermark).toBe(4);
    [state, effects] = onFollowerFetch(state, 3, 4, 2);
    expect(effects).toContainEqual({ type: 'AlterPartition', isr: [1, 2, 3], leaderEpoch: 3, partitionEpoch: 7 });
    expect(state.pendingIsr).toEqual([1, 2, 3]);
    // While the expansion is in flight the joining follower gates the HW (Kafka's maximal ISR): if it commits and 3
    // then leads, everything below the HW consumers were shown must be on 3.
    [state] = append(state, 4);
    [state] = onFollowerFetch(state, 2, 8, 3);
    expect(state.highWatermark).toBe(4);
    [state] = onFollowerFetch(state, 3, 6, 4);
    expect(state.highWatermark).toBe(6);
    [state] = onPartitionChanged(state, [1, 2, 3], 8);
    expect(state.highWatermark).toBe(6);
    [state] = onFollowerFetch(state, 3, 8, 5);
    expect(state.highWatermark).toBe(8);
  });

  it('does not ask to add a follower its metadata shows fenced (the controller would refuse it INELIGIBLE_REPLICA on every fetch)', () => {
    let state = leader({ isr: [1, 2] });
    let effects;
    [state] = append(state, 4);
    [state] = onFollowerFetch(state, 2, 4, 1);
    [state, effects] = onFollowerFetch(state, 3, 4, 2, false);
    expect(effects.filter((e) => e.type === 'AlterPartition')).toEqual([]);
    expect(state.pendingIsr).toBeNull();
    // Once unfenced, the next fetch asks.
    [state, effects] = onFollowerFetch(state, 3, 4, 3, true);
    expect(effects).toContainEqual({ type: 'AlterPartition', isr: [1, 2, 3], leaderEpoch: 3, partitionEpoch: 7 });
  });

  it('times out parked requests, and answers NOT_LEADER_OR_FOLLOWER on resignation', () => {
    let [state] = append(leader(), 1);
    const [, effects] = onTick(state, 30_001);
    expect(effects).toContainEqual(expect.objectContaining({ reply: expect.objectContaining({ errorCode: ErrorCode.REQUEST_TIMED_OUT }) }));
    [state] = append(leader(), 1);
    expect(resign(state)).toContainEqual(expect.objectContaining({ reply: expect.objectContaining({ errorCode: ErrorCode.NOT_LEADER_OR_FOLLOWER }) }));
  });
});
