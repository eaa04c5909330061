import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../../../protocol/errors.ts';
import { AssertionError } from '../../../runtime/assert.ts';
import {
  applyCommitted,
  becomeActive,
  becomeInactive,
  controllerConfigDefault,
  handleCommand,
  initialControllerState,
  tick,
  type ControllerCommand,
  type ControllerState,
} from './controller-state.ts';
import { emptyImage, isBrokerActive, partitionOf, replayBatch, topicByName, type MetadataImage } from './image.ts';
import { noLeader, type MetadataRecord } from './records.ts';

/** Drives the pure controller like the actor would: every proposal commits at once, in order. */
class Harness {
  state: ControllerState = becomeActive(initialControllerState(), 0);
  nowMs = 0;
  offset = 0;
  readonly log: MetadataRecord[][] = [];

  run<C extends ControllerCommand>(command: C) {
    const outcome = handleCommand(this.state, command, this.nowMs);
    this.state = outcome.state;
    this.commit(outcome.records);
    return outcome.reply;
  }

  tick(advanceMs: number) {
    this.nowMs += advanceMs;
    const outcome = tick(this.state, this.nowMs);
    this.state = outcome.state;
    this.commit(outcome.records);
    return outcome.fencedBrokerIds;
  }

  commit(records: readonly MetadataRecord[]) {
    if (records.length === 0) return;
    this.offset += 1;
    this.log.push([...records]);
    this.state = applyCommitted(this.state, records, this.offset);
  }

  get image(): MetadataImage {
    return this.state.committedImage;
  }

  /** Registers and unfences; returns the broker epoch. */
  start(brokerId: number, incarnationId = `inc-${brokerId}-${this.nowMs}`): number {
    const reply = this.run({ type: 'RegisterBroker', brokerId, incarnationId, host: 'h', port: brokerId, rack: null });
    expect(reply.errorCode).toBe(0);
    const heartbeat = this.run({ type: 'BrokerHeartbeat', brokerId, brokerEpoch: reply.brokerEpoch, wantFence: false });
    expect(heartbeat).toMatchObject({ errorCode: 0, isFenced: false });
    return reply.brokerEpoch;
  }
}

describe('ControllerLogic', () => {
  it('refuses commands while not active (a bug in the actor, not bad input)', () => {
    expect(() => handleCommand(initialControllerState(), { type: 'AutoRebalance' }, 0)).toThrow(AssertionError);
  });

  it('session expiry fences a silent broker on tick; heartbeats keep the others', () => {
    const h = new Harness();
    const epochs = [1, 2, 3].map((id) => h.start(id));
    h.run({ type: 'CreateTopics', topics: [{ name: 't', numPartitions: 3, replicationFactor: 3, assignments: null, configs: [] }], validateOnly: false });
    expect(h.tick(2_000)).toEqual([]);
    for (const id of [2, 3]) h.run({ type: 'BrokerHeartbeat', brokerId: id, brokerEpoch: epochs[id - 1]!, wantFence: false });
    expect(h.tick(1_000)).toEqual([1]);
    expect(isBrokerActive(h.image, 1)).toBe(false);
    expect(partitionOf(h.image, 't', 0)).toMatchObject({ leader: 2, leaderEpoch: 1, isr: [2, 3] });
    expect(h.state.lastHeartbeatMsByBroker.has(1)).toBe(false);
    expect(h.tick(10)).toEqual([]);
  });

  it('node death watch fences at once, and only the incarnation it watched', () => {
    const h = new Harness();
    const oldEpoch = h.start(1);
    h.start(2);
    expect(h.run({ type: 'FenceBroker', brokerId: 1, brokerEpoch: oldEpoch + 100 })).toEqual({ type: 'FenceBrokerReply', fenced: false });
    expect(h.run({ type: 'FenceBroker', brokerId: 1, brokerEpoch: oldEpoch })).toEqual({ type: 'FenceBrokerReply', fenced: true });
    expect(isBrokerActive(h.image, 1)).toBe(false);
  });

  it('commands see uncommitted effects of earlier commands (speculative image); becomeInactive drops them', () => {
    let state = becomeActive(initialControllerState(), 0);
    const register = handleCommand(state, { type: 'RegisterBroker', brokerId: 1, incarnationId: 'a', host: 'h', port: 1, rack: null }, 0);
    state = register.state;
    state = handleCommand(state, { type: 'BrokerHeartbeat', brokerId: 1, brokerEpoch: register.reply.brokerEpoch, wantFence: false }, 0).state;
    const create = { type: 'CreateTopics', topics: [{ name: 't', numPartitions: 1, replicationFactor: 1, assignments: null, configs: [] }], validateOnly: false } as const;
    const first = handleCommand(state, create, 0);
    const second = handleCommand(first.state, create, 0);
    expect(first.reply.topics[0]?.errorCode).toBe(0);
    expect(second.reply.topics[0]?.errorCode).toBe(ErrorCode.TOPIC_ALREADY_EXISTS);

    const pid1 = handleCommand(second.state, { type: 'AllocateProducerIds', brokerId: 1, brokerEpoch: register.reply.brokerEpoch }, 0);
    const pid2 = handleCommand(pid1.state, { type: 'AllocateProducerIds', brokerId: 1, brokerEpoch: register.reply.brokerEpoch }, 0);
    expect([pid1.reply.producerIdStart, pid2.reply.producerIdStart]).toEqual([0, 1000]);

    // Nothing committed: losing leadership forgets it all.
    const inactive = becomeInactive(pid2.state);
    expect(inactive.latestImage).toBe(emptyImage);
    expect(inactive.lastHeartbeatMsByBroker.size).toBe(0);
  });

  it('becomeActive starts a fresh session for every active broker', () => {
    const h = new Harness();
    h.start(1);
    h.start(2);
    const fresh = becomeActive(becomeInactive(h.state), 50_000);
    expect([...fresh.lastHeartbeatMsByBroker]).toEqual([
      [1, 50_000],
      [2, 50_000],
    ]);
    expect(tick(fresh, 52_999).fencedBrokerIds).toEqual([]);
    expect(tick(fresh, 53_000).fencedBrokerIds).toEqual([1, 2]);
  });

  it('full failover story: fence, re-register, rejoin ISR, auto rebalance moves leadership back', () => {
    const h = new Harness();
    [1, 2, 3].forEach((id) => h.start(id));
    h.run({ type: 'CreateTopics', topics: [{ name: 't', numPartitions: 3, replicationFactor: 3, assignments: null, configs: [] }], validateOnly: false });
    h.run({ type: 'FenceBroker', brokerId: 1, brokerEpoch: null });
    expect(partitionOf(h.image, 't', 0)).toMatchObject({ leader: 2, leaderEpoch: 1, isr: [2, 3] });
    const epoch1 = h.start(1, 'second-life');
    expect(partitionOf(h.image, 't', 0)?.leader).toBe(2);
    const topicId = topicByName(h.image, 't')!.topicId;
    const p0 = partitionOf(h.image, 't', 0)!;
    const altered = h.run({
      type: 'AlterPartition',
      brokerId: 2,
      brokerEpoch: h.image.brokers.get(2)!.brokerEpoch,
      topics: [{ topicId, partitions: [{ partition: 0, leaderEpoch: p0.leaderEpoch, partitionEpoch: p0.partitionEpoch, newIsr: [2, 3, 1].map((brokerId) => ({ brokerId, brokerEpoch: brokerId === 1 ? epoch1 : -1 })) }] }],
    });
    expect(altered.topics[0]?.partitions[0]).toMatchObject({ errorCode: 0, isr: [2, 3, 1] });
    expect(controllerConfigDefault.autoLeaderRebalanceEnable).toBe(true);
    const rebalance = h.run({ type: 'AutoRebalance' });
    expect(rebalance.moved).toContainEqual({ topic: 't', partition: 0, leader: 1 });
    expect(partitionOf(h.image, 't', 0)).toMatchObject({ leader: 1, leaderEpoch: 2 });
  });
});

// ---------------------------------------------------------------- property: random operation sequences

const names = ['a', 'b', 'c'] as const;
const operation = fc.oneof(
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('start' as const), broker: fc.integer({ min: 1, max: 5 }), unfence: fc.integer({ min: 0, max: 9 }).map((n) => n > 0) }) },
  { weight: 6, arbitrary: fc.record({ kind: fc.constant('heartbeatAll' as const) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('heartbeat' as const), broker: fc.integer({ min: 1, max: 5 }), wantFence: fc.boolean(), stale: fc.boolean() }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('crash' as const), broker: fc.integer({ min: 1, max: 5 }) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('nodeDown' as const), broker: fc.integer({ min: 1, max: 5 }) }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('tick' as const), advanceMs: fc.integer({ min: 0, max: 4_000 }) }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('create' as const), name: fc.constantFrom(...names), partitions: fc.integer({ min: 1, max: 4 }), rf: fc.integer({ min: 1, max: 4 }), unclean: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('delete' as const), name: fc.constantFrom(...names) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('addPartitions' as const), name: fc.constantFrom(...names), count: fc.integer({ min: 1, max: 6 }) }) },
  {
    weight: 6,
    arbitrary: fc.record({
      kind: fc.constant('alterIsr' as const),
      name: fc.constantFrom(...names),
      partition: fc.integer({ min: 0, max: 5 }),
      keep: fc.array(fc.boolean(), { minLength: 4, maxLength: 4 }),
      sender: fc.option(fc.integer({ min: 1, max: 5 })),
      staleEpochs: fc.boolean(),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('elect' as const), electionType: fc.constantFrom('PREFERRED' as const, 'UNCLEAN' as const) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('rebalance' as const) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('unclean' as const), name: fc.constantFrom(...names), enable: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('pid' as const), broker: fc.integer({ min: 1, max: 5 }) }) },
);
type Operation = typeof operation extends fc.Arbitrary<infer T> ? T : never;

function step(h: Harness, running: Map<number, number>, op: Operation, incarnation: number): void {
  h.nowMs += 100;
  switch (op.kind) {
    case 'start': {
      // A broker process starts (or restarts: a new incarnation) and, usually, catches up at once.
      const reply = h.run({ type: 'RegisterBroker', brokerId: op.broker, incarnationId: `i${incarnation}`, host: 'h', port: op.broker, rack: null });
      if (reply.errorCode !== 0) return;
      running.set(op.broker, reply.brokerEpoch);
      if (op.unfence) h.run({ type: 'BrokerHeartbeat', brokerId: op.broker, brokerEpoch: reply.brokerEpoch, wantFence: false });
      return;
    }
    case 'heartbeatAll':
      for (const [brokerId, brokerEpoch] of running) h.run({ type: 'BrokerHeartbeat', brokerId, brokerEpoch, wantFence: false });
      return;
    case 'heartbeat': {
      const epoch = running.get(op.broker);
      if (epoch === undefined) return;
      h.run({ type: 'BrokerHeartbeat', brokerId: op.broker, brokerEpoch: op.stale ? epoch - 1 : epoch, wantFence: op.wantFence });
      if (op.wantFence && !op.stale) running.delete(op.broker); // controlled shutdown
      return;
    }
    case 'crash':
      running.delete(op.broker);
      return;
    case 'nodeDown': {
      const epoch = running.get(op.broker);
      running.delete(op.broker);
      h.run({ type: 'FenceBroker', brokerId: op.broker, brokerEpoch: epoch ?? null });
      return;
    }
    case 'tick':
      h.tick(op.advanceMs);
      return;
    case 'create':
      h.run({
        type: 'CreateTopics',
        topics: [{ name: op.name, numPartitions: op.partitions, replicationFactor: op.rf, assignments: null, configs: op.unclean ? [{ name: 'unclean.leader.election.enable', value: 'true' }] : [] }],
        validateOnly: false,
      });
      return;
    case 'delete':
      h.run({ type: 'DeleteTopics', topics: [op.name] });
      return;
    case 'addPartitions': {
      const current = topicByName(h.image, op.name)?.partitions.length ?? 0;
      h.run({ type: 'CreatePartitions', topics: [{ name: op.name, count: current + op.count, assignments: null }], validateOnly: false });
      return;
    }
    case 'alterIsr': {
      const topic = topicByName(h.image, op.name);
      const state = topic?.partitions[op.partition];
      if (topic === undefined || state === undefined) return;
      const sender = op.sender ?? state.leader;
      const brokerEpoch = h.image.brokers.get(sender)?.brokerEpoch ?? 0;
      const newIsr = state.replicas.filter((id, i) => id === state.leader || op.keep[i]);
      h.run({
        type: 'AlterPartition',
        brokerId: sender,
        brokerEpoch,
        topics: [
          {
            topicId: topic.topicId,
            partitions: [
              {
                partition: state.partition,
                leaderEpoch: op.staleEpochs ? state.leaderEpoch - 1 : state.leaderEpoch,
                partitionEpoch: state.partitionEpoch,
                newIsr: newIsr.map((brokerId) => ({ brokerId, brokerEpoch: -1 })),
              },
            ],
          },
        ],
      });
      return;
    }
    case 'elect':
      h.run({ type: 'ElectLeaders', electionType: op.electionType, topicPartitions: null });
      return;
    case 'rebalance':
      h.run({ type: 'AutoRebalance' });
      return;
    case 'unclean':
      h.run({
        type: 'AlterConfigs',
        resources: [{ resourceType: 'topic', resourceName: op.name, ops: [{ name: 'unclean.leader.election.enable', op: 'SET', value: String(op.enable) }] }],
        validateOnly: false,
      });
      return;
    case 'pid': {
      const epoch = running.get(op.broker);
      if (epoch !== undefined) h.run({ type: 'AllocateProducerIds', brokerId: op.broker, brokerEpoch: epoch });
      return;
    }
  }
}

function checkInvariants(previous: MetadataImage, image: MetadataImage): void {
  for (const topic of image.topicsById.values()) {
    const before = previous.topicsById.get(topic.topicId);
    for (const p of topic.partitions) {
      const where = `${topic.name}-${p.partition}`;
      if (p.leader !== noLeader) {
        expect(p.isr, `${where}: leader in ISR`).toContain(p.leader);
        expect(isBrokerActive(image, p.leader), `${where}: leader ${p.leader} active`).toBe(true);
      }
      for (const member of p.isr) {
        expect(p.replicas, `${where}: ISR within replicas`).toContain(member);
        // A fenced broker stays in an ISR only as the last member of a leaderless partition.
        if (!isBrokerActive(image, member)) {
          expect({ where, leader: p.leader, isr: p.isr }).toEqual({ where, leader: noLeader, isr: [member] });
        }
      }
      const old = before?.partitions[p.partition];
      if (old !== undefined) {
        expect(p.leaderEpoch, `${where}: leader epoch never decreases`).toBeGreaterThanOrEqual(old.leaderEpoch);
        expect(p.partitionEpoch, `${where}: partition epoch never decreases`).toBeGreaterThanOrEqual(old.partitionEpoch);
        if (p.leader !== old.leader) expect(p.leaderEpoch).toBeGreaterThan(old.leaderEpoch);
      }
    }
  }
  expect(image.nextProducerId).toBeGreaterThanOrEqual(previous.nextProducerId);
}

describe('ControllerLogic properties', () => {
  it('replay(generate(...)) never yields a leader outside the ISR or a fenced leader; epochs only grow; replay is deterministic', () => {
    fc.assert(
      fc.property(fc.array(operation, { minLength: 20, maxLength: 120 }), (ops) => {
        const h = new Harness();
        const running = new Map<number, number>();
        let previous = h.image;
        ops.forEach((op, i) => {
          step(h, running, op, i);
          expect(h.state.latestImage).toBe(h.state.committedImage);
          checkInvariants(previous, h.image);
          previous = h.image;
        });
        // Brokers rebuild the same image from the log.
        const rebuilt = h.log.reduce((image, records, i) => replayBatch(image, records, i + 1), emptyImage);
        expect(rebuilt).toEqual(h.image);
      }),
      { numRuns: 300 },
    );
  });
});

describe('AlterConfigs through ControllerLogic', () => {
  it('enabling unclean.leader.election.enable elects a live replica for a leaderless partition at once', () => {
    const h = new Harness();
    [1, 2].forEach((id) => h.start(id));
    h.run({ type: 'CreateTopics', topics: [{ name: 't', numPartitions: 1, replicationFactor: 2, assignments: null, configs: [] }], validateOnly: false });
    h.run({ type: 'FenceBroker', brokerId: 2, brokerEpoch: null });
    h.run({ type: 'FenceBroker', brokerId: 1, brokerEpoch: null });
    h.start(2, 'second-life');
    expect(partitionOf(h.image, 't', 0)).toMatchObject({ leader: -1, isr: [1] });
    const reply = h.run({
      type: 'AlterConfigs',
      resources: [{ resourceType: 'topic', resourceName: 't', ops: [{ name: 'unclean.leader.election.enable', op: 'SET', value: 'true' }] }],
      validateOnly: false,
    });
    expect(reply.results[0]?.errorCode).toBe(0);
    expect(partitionOf(h.image, 't', 0)).toMatchObject({ leader: 2, isr: [2] });
  });
});
