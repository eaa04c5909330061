/**
 * GroupMember against a fake transport that runs the real coordinator logic
 * (actors/group-coordinator/group-logic.ts `step`) in memory: persists
 * complete at once, deadlines tick on timers. Goal: the member's join / sync
 * / heartbeat / leave state machine works with the coordinator's rules
 * (MEMBER_ID_REQUIRED, rebalances on join and leave, cooperative two-round
 * revocation, fatal errors, leaving after a stuck handler).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { emptyGroup, groupConfigDefault, step, type GroupInput, type GroupState } from '../../actors/group-coordinator/group-logic.ts';
import { ErrorCode, type KactusError } from '../../protocol/errors.ts';
import { retryPolicyDefault } from '../retry.ts';
import { GroupMember, type GroupRequestBody, type GroupTransport, type MembershipListener } from './group-member.ts';
import type { TopicPartition } from './types.ts';

class FakeCoordinator implements GroupTransport {
  state: GroupState = emptyGroup('g', { ...groupConfigDefault, initialRebalanceDelayMs: 0, sessionTimeoutMsMin: 100 });
  private readonly waiting = new Map<string, (reply: unknown) => void>();
  private nextId = 0;
  private readonly timers = new Set<NodeJS.Timeout>();
  requests: string[] = [];

  async findCoordinator(): Promise<number> {
    return 1;
  }

  request<R>(_coordinatorId: number, body: GroupRequestBody): Promise<R> {
    this.requests.push(body.type);
    return new Promise<R>((resolve) => {
      const path = `/r/${this.nextId++}`;
      this.waiting.set(path, resolve as (reply: unknown) => void);
      const input = { ...body, replyTo: { node: 'client', path }, ...(body.type === 'JoinGroup' ? { memberIdSuffix: `s${this.nextId}` } : {}) } as unknown as GroupInput;
      this.step(input);
    });
  }

  async partitionCounts(topics: readonly string[]): Promise<Map<string, number>> {
    return new Map(topics.map((t) => [t, 6]));
  }

  private step(input: GroupInput): void {
    const [next, effects] = step(this.state, input, Date.now());
    this.state = next;
    for (const effect of effects) {
      if (effect.type === 'Reply') {
        const resolve = this.waiting.get(effect.to.path);
        this.waiting.delete(effect.to.path);
        resolve?.(effect.reply);
      } else if (effect.type === 'PersistGroupMetadata' || effect.type === 'PersistOffsets') {
        queueMicrotask(() => this.step({ type: 'PersistCompleted', persistId: effect.persistId, errorCode: 0 }));
      } else if (effect.type === 'ScheduleDeadline') {
        const timer = setTimeout(() => (this.timers.delete(timer), this.step({ type: 'Tick' })), Math.max(0, effect.atMs - Date.now()));
        this.timers.add(timer);
      }
    }
  }

  close(): void {
    for (const t of this.timers) clearTimeout(t);
  }
}

type Log = { assigned: TopicPartition[][]; revoked: TopicPartition[][]; lost: TopicPartition[][]; fatal: KactusError[] };

function listener(log: Log, stalled: () => number = () => 0): MembershipListener {
  return {
    subscribedTopics: () => ['t'],
    onAssigned: async (p) => void log.assigned.push([...p]),
    onRevoked: async (p) => void log.revoked.push([...p]),
    onLost: async (p) => void log.lost.push([...p]),
    stalledMs: stalled,
    onFatal: (err) => void log.fatal.push(err),
  };
}

const config = (assignors: string[] = ['cooperative-sticky', 'range']) => ({
  groupId: 'g',
  groupInstanceId: null,
  clientId: 'c',
  sessionTimeoutMs: 1_000,
  heartbeatIntervalMs: 50,
  rebalanceTimeoutMs: 2_000,
  maxPollIntervalMs: 300,
  requestTimeoutMs: 1_000,
  assignors,
  retry: { ...retryPolicyDefault, backoffMsInitial: 10, backoffMsMax: 50 },
});

const emptyLog = (): Log => ({ assigned: [], revoked: [], lost: [], fatal: [] });

async function until(condition: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const owned = (m: GroupMember): number[] => m.ownedPartitions.map((p) => p.partition).sort();

let coordinator: FakeCoordinator;
const members: GroupMember[] = [];
afterEach(async () => {
  await Promise.all(members.splice(0).map((m) => m.stop()));
  coordinator?.close();
});

describe('GroupMember against the real coordinator logic', () => {
  it('joins (MEMBER_ID_REQUIRED first), gets everything alone, and a second member takes half cooperatively', async () => {
    coordinator = new FakeCoordinator();
    const logA = emptyLog();
    const a = new GroupMember(config(), coordinator, listener(logA));
    members.push(a);
    a.start();
    await until(() => a.phase === 'stable' && owned(a).length === 6, 3_000, 'a owns six');
    expect(a.memberId).toMatch(/^c-/);
    expect(a.protocolName).toBe('cooperative-sticky');
    expect(coordinator.requests.filter((r) => r === 'JoinGroup')).toHaveLength(2);

    const logB = emptyLog();
    const b = new GroupMember(config(), coordinator, listener(logB));
    members.push(b);
    b.start();
    await until(() => owned(a).length === 3 && owned(b).length === 3, 5_000, 'three each');
    expect(new Set([...owned(a), ...owned(b)]).size).toBe(6);
    // Cooperative: a revoked exactly what b took, never everything, lost nothing.
    expect(logA.revoked.flat().map((p) => p.partition).sort()).toEqual(owned(b));
    expect(logA.lost).toEqual([]);
    expect(logA.fatal).toEqual([]);
  });

  it('a member that leaves hands its partitions to the rest (eager range: revoke all, then reassign)', async () => {
    coordinator = new FakeCoordinator();
    const logA = emptyLog();
    const logB = emptyLog();
    const a = new GroupMember(config(['range']), coordinator, listener(logA));
    const b = new GroupMember(config(['range']), coordinator, listener(logB));
    members.push(a);
    a.start();
    b.start();
    await until(() => owned(a).length === 3 && owned(b).length === 3, 5_000, 'three each');
    await b.stop();
    await until(() => owned(a).length === 6, 5_000, 'a owns six after b left');
    expect(a.protocolName).toBe('range');
    expect(logA.revoked.length).toBeGreaterThan(0); // eager: everything revoked before rejoining
  });

  it('no common assignor is fatal (INCONSISTENT_GROUP_PROTOCOL), reported once', async () => {
    coordinator = new FakeCoordinator();
    const a = new GroupMember(config(['range']), coordinator, listener(emptyLog()));
    members.push(a);
    a.start();
    await until(() => a.phase === 'stable', 3_000, 'a stable');
    const logB = emptyLog();
    const b = new GroupMember(config(['roundrobin']), coordinator, listener(logB));
    members.push(b);
    b.start();
    await until(() => logB.fatal.length > 0, 3_000, 'b fails');
    expect(logB.fatal).toHaveLength(1);
    expect(logB.fatal[0]!.code).toBe(ErrorCode.INCONSISTENT_GROUP_PROTOCOL);
    expect(b.phase).toBe('stopped');
  });

  it('a handler stuck past maxPollIntervalMs makes the member leave (partitions lost) and rejoin once it progresses', async () => {
    coordinator = new FakeCoordinator();
    let stalledMs = 0;
    const log = emptyLog();
    const a = new GroupMember(config(), coordinator, listener(log, () => stalledMs));
    members.push(a);
    a.start();
    await until(() => owned(a).length === 6, 3_000, 'a owns six');
    stalledMs = 10_000;
    await until(() => a.phase === 'left', 3_000, 'a left');
    expect(log.lost.flat()).toHaveLength(6);
    expect(coordinator.requests).toContain('LeaveGroup');
    stalledMs = 0;
    await until(() => a.phase === 'stable' && owned(a).length === 6, 5_000, 'a rejoined');
  });
});
