/**
 * A deterministic simulator for the Raft core (TigerBeetle's VOPR, etcd's
 * `network`): N nodes (1, 3 or 5) over a seeded network that drops, delays,
 * reorders and duplicates messages, partitions nodes and cuts links one way;
 * nodes crash (losing everything they had not persisted) and restart from
 * what they persisted; clients propose; operators transfer leadership;
 * applications compact. Everything is driven by one seeded Rng, so a seed
 * replays a run exactly.
 *
 * One step:
 *   1. maybe inject a fault (partition, heal, crash, restart);
 *   2. deliver the messages due now, in random order (subject to partitions);
 *   3. tick each live node with some probability (clock skew);
 *   4. maybe propose (mostly on a node that believes it leads), maybe
 *      transfer leadership, maybe change the voters (an operator's AddVoter
 *      of a spare node or of a removed one, or RemoveVoter of any voter,
 *      the leader included);
 *   5. run every live node's Ready loop in the documented order (persist,
 *      send, apply, advance), sometimes crashing between persist and send;
 *   6. maybe compact a node's log at (or a little behind) its applied index;
 *   7. check the invariants.
 *
 * Invariants checked (SafetyChecker), failing with the seed:
 * - Election Safety: at most one leader per term, ever.
 * - State Machine Safety: the entry applied at an index (term and payload)
 *   is the same on every node and on every restart; each node applies
 *   indexes in order without gaps; a snapshot restores exactly the state
 *   (digest of everything applied) the first applier reached at its index.
 * - Leader Completeness: a node that becomes leader holds every entry any
 *   node ever applied (a committed entry is never lost).
 * - The leader commit rule: a leader's commit index only ever moves to an
 *   entry of its own term (older ones are committed by the one after them).
 * - Terms of a node never go back, across restarts.
 * - The above hold while voters come and go: a run has up to 2 spare nodes,
 *   observers with the same bootstrap voters, that the operator may add, and
 *   voters it may remove (a removed node keeps running, and may be added back).
 * - Liveness at the end: with the network healed and all nodes up, a leader
 *   emerges, commits a new entry, and every voter of its configuration
 *   applies everything (removed nodes and learners are not waited for).
 *
 * "Committed" here means "applied by some node": that happens only after the
 * Ready that carried it was persisted, so it is the externally visible act.
 * (A single-node leader commits in memory before persisting; a crash then
 * loses the entry, which is correct since nothing was acknowledged.)
 *
 * Must not import anything outside this folder but runtime/assert and rng.
 */
import { AssertionError } from '../../../runtime/assert.ts';
import { seededRng, type Rng } from '../../../runtime/rng.ts';
import { Raft } from './raft.ts';
import { MemoryStorage, describeSoftState } from './testkit.ts';
import type { Entry, Message, NodeId, RaftConfigInput, Ready, Snapshot } from './types.ts';

export type SimulationOptions = {
  readonly seed: number;
  readonly steps: number;
  /** Default: derived from the seed (1 in 10 runs has 1 node, the rest 3 or 5). */
  readonly nodeCount?: number;
};

export type SimulationReport = {
  readonly seed: number;
  readonly nodeCount: number;
  readonly steps: number;
  readonly appliedEntryCount: number;
  readonly highestTerm: number;
  readonly crashCount: number;
  readonly partitionCount: number;
  readonly snapshotsInstalledCount: number;
  readonly transfersStartedCount: number;
  readonly voterChangesStartedCount: number;
  readonly voterChangesCommittedCount: number;
  /** The voters at the end, as the final leader saw them. */
  readonly finalVoters: readonly NodeId[];
  readonly messagesDeliveredCount: number;
  readonly livenessSteps: number;
};

export class SimulationFailure extends Error {
  constructor(
    readonly seed: number,
    message: string,
  ) {
    super(message);
    this.name = 'SimulationFailure';
  }
}

/** The fault plan and knobs of one run, all drawn from the seed. */
type SimulationParameters = {
  nodeCount: number;
  /** Nodes outside the bootstrap voters, for AddVoter. */
  spareCount: number;
  voterChangeRate: number;
  raft: Omit<RaftConfigInput, 'id' | 'voters'>;
  dropRate: number;
  duplicateRate: number;
  maxDelaySteps: number;
  /** Rare long holds: a message parked for many steps arrives far out of order. */
  longDelayRate: number;
  longDelayStepsMax: number;
  tickRate: number;
  proposeRate: number;
  transferRate: number;
  crashRate: number;
  crashBetweenPersistAndSendRate: number;
  downtimeStepsMax: number;
  partitionRate: number;
  healRate: number;
  compactRate: number;
  /** Compact only when at least this many applied entries are in the log. */
  compactEntriesMin: number;
};

function drawParameters(rng: Rng, nodeCountOverride: number | undefined, seed: number): SimulationParameters {
  const nodeCount = nodeCountOverride ?? (seed % 10 === 0 ? 1 : seed % 2 === 0 ? 5 : 3);
  const electionTicks = rng.int(5, 16);
  return {
    nodeCount,
    raft: {
      electionTicks,
      heartbeatTicks: rng.int(1, Math.min(4, electionTicks)),
      maxEntriesPerAppend: rng.int(1, 9),
      maxInflightAppends: rng.int(1, 5),
      maxUncommittedEntries: rng.int(4, 65),
      maxCommittedEntriesPerReady: rng.int(1, 17),
      // Mostly the production setting, sometimes each safety-neutral option off.
      preVote: rng.next() < 0.75,
      checkQuorum: rng.next() < 0.75,
      learnerCaughtUpLagEntriesMax: rng.int(0, 9),
      voterCatchUpTicksMax: rng.int(electionTicks + 1, 10 * electionTicks),
    },
    spareCount: rng.int(0, 3),
    voterChangeRate: rng.next() * 0.01,
    dropRate: rng.next() * 0.2,
    duplicateRate: rng.next() * 0.05,
    maxDelaySteps: rng.int(0, 4),
    longDelayRate: rng.next() * 0.01,
    longDelayStepsMax: 40,
    tickRate: 0.7 + rng.next() * 0.3,
    proposeRate: 0.05 + rng.next() * 0.5,
    transferRate: rng.next() * 0.005,
    crashRate: rng.next() * 0.01,
    crashBetweenPersistAndSendRate: rng.next() * 0.002,
    downtimeStepsMax: rng.int(1, 200),
    partitionRate: rng.next() * 0.01,
    healRate: 0.005 + rng.next() * 0.03,
    compactRate: rng.next() * 0.05,
    compactEntriesMin: rng.int(1, 30),
  };
}

// ---------------------------------------------------------------------------
// The application: a digest of everything applied stands in for the metadata
// image, so a snapshot is 8 bytes and still proves what state it carries.

type AppState = { appliedIndex: number; digest: number };

function mixDigest(digest: number, entry: Entry): number {
  let hash = Math.imul(digest ^ entry.index, 0x01000193) >>> 0;
  hash = Math.imul(hash ^ entry.term, 0x01000193) >>> 0;
  hash = Math.imul(hash ^ payloadKey(entry.data), 0x01000193) >>> 0;
  return hash;
}

function encodeAppState(state: AppState): Uint8Array {
  const bytes = new Uint8Array(8);
  const view = new DataView(bytes.buffer);
  view.setUint32(0, state.appliedIndex);
  view.setUint32(4, state.digest);
  return bytes;
}

function decodeAppState(data: Uint8Array): AppState {
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  return { appliedIndex: view.getUint32(0), digest: view.getUint32(4) };
}

/** Proposals carry a unique 4-byte counter; the leader's no-op is empty (-1). */
function payloadKey(data: Uint8Array): number {
  if (data.length === 0) return -1;
  return new DataView(data.buffer, data.byteOffset, data.byteLength).getUint32(0);
}

function payload(counter: number): Uint8Array {
  const bytes = new Uint8Array(4);
  new DataView(bytes.buffer).setUint32(0, counter);
  return bytes;
}

// ---------------------------------------------------------------------------

/** The invariants, independent of the network so that they can be tested on their own. */
export class SafetyChecker {
  private readonly leaderOfTerm = new Map<number, NodeId>();
  /** By index: the term, payload key and digest of the entry first applied there. */
  private readonly committedTerms: number[] = [0];
  private readonly committedKeys: number[] = [-1];
  private readonly committedDigests: number[] = [0];

  /** The highest index any node applied. */
  committedIndex(): number {
    return this.committedTerms.length - 1;
  }

  committedKeyAt(index: number): number | undefined {
    return this.committedKeys[index];
  }

  observeLeader(term: number, id: NodeId): void {
    const existing = this.leaderOfTerm.get(term);
    if (existing !== undefined && existing !== id) {
      throw new AssertionError(`election safety: nodes ${existing} and ${id} both leader in term ${term}`);
    }
    this.leaderOfTerm.set(term, id);
  }

  /**
   * A leader moved its commit index to `index` (by counting replicas): the entry there must be of the leader's own
   * term (Raft's Figure 8 rule). Entries of older terms are committed only with one of its term after them; counting
   * replicas of an older entry can commit one a later leader overwrites. `entryTerm` undefined: compacted already.
   */
  observeLeaderCommit(id: NodeId, leaderTerm: number, index: number, entryTerm: number | undefined): void {
    if (entryTerm !== undefined && entryTerm !== leaderTerm) {
      throw new AssertionError(`leader commit rule: node ${id}, leader in term ${leaderTerm}, committed index ${index} of term ${entryTerm} by counting replicas`);
    }
  }

  highestLeaderTerm(): number {
    let highest = 0;
    for (const term of this.leaderOfTerm.keys()) highest = Math.max(highest, term);
    return highest;
  }

  /** Node `id` applies `entry` on top of `state`; returns the new state. */
  observeApply(id: NodeId, state: AppState, entry: Entry): AppState {
    if (entry.index !== state.appliedIndex + 1) {
      throw new AssertionError(`node ${id} applied index ${entry.index} after ${state.appliedIndex} (gap or repeat)`);
    }
    const key = payloadKey(entry.data);
    const digest = mixDigest(state.digest, entry);
    const knownTerm = this.committedTerms[entry.index];
    if (knownTerm === undefined) {
      if (entry.index !== this.committedTerms.length) throw new AssertionError(`node ${id} applied index ${entry.index} beyond the known committed prefix`);
      this.committedTerms.push(entry.term);
      this.committedKeys.push(key);
      this.committedDigests.push(digest);
    } else if (knownTerm !== entry.term || this.committedKeys[entry.index] !== key) {
      throw new AssertionError(
        `state machine safety: node ${id} applied ${entry.index}/${entry.term} key=${key}, but ${entry.index}/${knownTerm} key=${this.committedKeys[entry.index]} was applied before`,
      );
    } else if (this.committedDigests[entry.index] !== digest) {
      throw new AssertionError(`state machine safety: node ${id} reached a different state at index ${entry.index}`);
    }
    return { appliedIndex: entry.index, digest };
  }

  /** Node `id` restores its application from `snapshot`; returns the restored state. */
  observeSnapshotRestore(id: NodeId, snapshot: Snapshot): AppState {
    const state = decodeAppState(snapshot.data);
    if (state.appliedIndex !== snapshot.index) throw new AssertionError(`node ${id}: snapshot at ${snapshot.index} holds state of ${state.appliedIndex}`);
    if (this.committedTerms[snapshot.index] !== snapshot.term) {
      throw new AssertionError(`node ${id}: snapshot ${snapshot.index}/${snapshot.term} disagrees with committed term ${this.committedTerms[snapshot.index]}`);
    }
    if (this.committedDigests[snapshot.index] !== state.digest) throw new AssertionError(`node ${id}: snapshot ${snapshot.index} carries a different state`);
    return state;
  }

  /** Leader Completeness: a new leader's log holds every committed entry. */
  observeNewLeaderLog(leader: Raft): void {
    const committedIndex = this.committedIndex();
    if (leader.lastIndex < committedIndex) {
      throw new AssertionError(`leader completeness: leader ${leader.id} (term ${leader.term}) ends at ${leader.lastIndex}, but ${committedIndex} is committed`);
    }
    for (let index = leader.snapshotIndex + 1; index <= committedIndex; index++) {
      if (leader.termAt(index) !== this.committedTerms[index]) {
        throw new AssertionError(
          `leader completeness: leader ${leader.id} (term ${leader.term}) has ${index}/${leader.termAt(index)}, committed ${index}/${this.committedTerms[index]}`,
        );
      }
    }
    if (leader.snapshotIndex > 0 && leader.snapshot!.term !== this.committedTerms[leader.snapshotIndex]) {
      throw new AssertionError(`leader completeness: leader ${leader.id} snapshot ${leader.snapshotIndex} has the wrong term`);
    }
  }
}

// ---------------------------------------------------------------------------

const readyRoundsPerStepMax = 16;

type InFlight = { msg: Message; deliverAtStep: number };

type SimNode = {
  readonly id: NodeId;
  raft: Raft | null; // null while crashed
  readonly storage: MemoryStorage;
  app: AppState;
  incarnation: number;
  restartAtStep: number;
  highestTermSeen: number;
  /** The last term in which this node was seen as leader (its log was checked then). */
  leaderTermChecked: number;
  /** The commit index this node had as leader when last looked at (the commit rule is checked as it moves). */
  leaderCommitIndex: number;
};

class Simulation {
  private readonly rng: Rng;
  private readonly params: SimulationParameters;
  private readonly voters: NodeId[];
  private readonly nodes: SimNode[];
  private readonly checker = new SafetyChecker();
  private inFlight: InFlight[] = [];
  /** Partition group per node; nodes talk only within a group. All 0 = healed. */
  private readonly groupOf = new Map<NodeId, number>();
  /** One-way cuts, as "from->to": the asymmetric faults that confuse failure detection. */
  private readonly blockedLinks = new Set<string>();
  private step = 0;
  private proposalCounter = 0;
  private readonly events: string[] = [];
  private crashCount = 0;
  private partitionCount = 0;
  private snapshotsInstalledCount = 0;
  private transfersStartedCount = 0;
  private voterChangesStartedCount = 0;
  private voterChangesCommittedCount = 0;
  /** Every node id: the bootstrap voters, then the spares. */
  private readonly allIds: NodeId[];
  private messagesDeliveredCount = 0;

  constructor(
    private readonly seed: number,
    nodeCount: number | undefined,
  ) {
    this.rng = seededRng(seed);
    this.params = drawParameters(this.rng, nodeCount, seed);
    this.voters = Array.from({ length: this.params.nodeCount }, (_, i) => i + 1);
    this.allIds = Array.from({ length: this.params.nodeCount + this.params.spareCount }, (_, i) => i + 1);
    this.nodes = this.allIds.map((id) => ({
      id,
      raft: null,
      storage: new MemoryStorage(),
      app: { appliedIndex: 0, digest: 0 },
      incarnation: 0,
      restartAtStep: 0,
      highestTermSeen: 0,
      leaderTermChecked: 0,
      leaderCommitIndex: 0,
    }));
    for (const node of this.nodes) {
      this.groupOf.set(node.id, 0);
      this.start(node);
    }
  }

  describe(): string {
    const p = this.params;
    return `nodes=${p.nodeCount} spares=${p.spareCount} changes=${p.voterChangeRate.toFixed(4)} ${JSON.stringify(p.raft)} drop=${p.dropRate.toFixed(3)} dup=${p.duplicateRate.toFixed(3)} delay<=${p.maxDelaySteps} crash=${p.crashRate.toFixed(4)} partition=${p.partitionRate.toFixed(4)}`;
  }

  recentEvents(): string[] {
    return process.env.SIM_ALL_EVENTS ? this.events : this.events.slice(-40);
  }

  currentStep(): number {
    return this.step;
  }

  run(steps: number): SimulationReport {
    for (; this.step < steps; this.step++) this.runStep(true);
    const { livenessSteps, finalVoters } = this.checkLiveness();
    return {
      seed: this.seed,
      nodeCount: this.params.nodeCount,
      steps,
      appliedEntryCount: this.checker.committedIndex(),
      highestTerm: this.checker.highestLeaderTerm(),
      crashCount: this.crashCount,
      partitionCount: this.partitionCount,
      snapshotsInstalledCount: this.snapshotsInstalledCount,
      transfersStartedCount: this.transfersStartedCount,
      voterChangesStartedCount: this.voterChangesStartedCount,
      voterChangesCommittedCount: this.voterChangesCommittedCount,
      finalVoters,
      messagesDeliveredCount: this.messagesDeliveredCount,
      livenessSteps,
    };
  }

  private runStep(faulty: boolean): void {
    if (faulty) this.injectFaults();
    this.deliver(faulty);
    for (const node of this.nodes) {
      if (node.raft !== null && (!faulty || this.rng.next() < this.params.tickRate)) {
        node.raft.tick();
        this.observeRole(node);
      }
    }
    if (faulty && this.rng.next() < this.params.proposeRate) this.propose();
    if (faulty && this.rng.next() < this.params.transferRate) this.transferLeadership();
    if (faulty && this.rng.next() < this.params.voterChangeRate) this.changeVoters();
    for (const node of this.nodes) this.processReadies(node, faulty);
    for (const node of this.nodes) this.maybeCompact(node);
    for (const node of this.nodes) {
      if (node.raft === null) continue;
      if (node.raft.term < node.highestTermSeen) throw new AssertionError(`node ${node.id}: term went back from ${node.highestTermSeen} to ${node.raft.term}`);
      node.highestTermSeen = node.raft.term;
    }
  }

  /**
   * Clients mostly find a node that believes it leads (possibly a deposed one
   * in a minority partition, which builds the divergent uncommitted suffixes
   * that log repair must overwrite), sometimes any node; proposals come in bursts.
   */
  private propose(): void {
    const leaders = this.nodes.filter((node) => node.raft?.role === 'Leader');
    const pool = leaders.length > 0 && this.rng.next() < 0.8 ? leaders : this.nodes;
    const raft = pool[this.rng.int(0, pool.length)]!.raft;
    if (raft === null) return;
    const burst = this.rng.next() < 0.2 ? this.rng.int(2, 9) : 1;
    for (let i = 0; i < burst; i++) raft.propose(payload(++this.proposalCounter));
  }

  /** An operator moves leadership to a random voter (a planned restart, say). */
  private transferLeadership(): void {
    const leaders = this.nodes.filter((node) => node.raft?.role === 'Leader');
    const leader = leaders[this.rng.int(0, leaders.length)]?.raft;
    if (leader === undefined || leader === null) return;
    const target = this.allIds[this.rng.int(0, this.allIds.length)]!;
    const result = leader.transferLeadership(target);
    if (result.type !== 'Started') return;
    this.transfersStartedCount += 1;
    this.events.push(`step ${this.step}: transfer leadership ${leader.id} -> ${target}`);
  }

  /** An operator adds a node that is not a voter (as the leader sees it) or removes a voter, possibly the leader. */
  private changeVoters(): void {
    const leaders = this.nodes.filter((node) => node.raft?.role === 'Leader');
    const leader = leaders[this.rng.int(0, leaders.length)]?.raft;
    if (leader === undefined || leader === null) return;
    const voters = leader.membership.voters;
    const outsiders = this.allIds.filter((id) => !voters.includes(id));
    const add = outsiders.length > 0 && (this.rng.next() < 0.5 || voters.length === 1);
    const id = add ? outsiders[this.rng.int(0, outsiders.length)]! : voters[this.rng.int(0, voters.length)]!;
    const change = add ? ({ type: 'AddVoter', id } as const) : ({ type: 'RemoveVoter', id } as const);
    const result = leader.changeVoters(change);
    this.events.push(`step ${this.step}: ${change.type} ${id} on leader ${leader.id} (voters ${voters.join(',')}): ${result.type}`);
    if (result.type === 'Started') this.voterChangesStartedCount += 1;
  }

  // --- faults -------------------------------------------------------------

  private injectFaults(): void {
    const p = this.params;
    for (const node of this.nodes) {
      if (node.raft === null && this.step >= node.restartAtStep) this.start(node);
    }
    if (this.rng.next() < p.crashRate) {
      const node = this.nodes[this.rng.int(0, this.nodes.length)]!;
      if (node.raft !== null) this.crash(node, 'crash');
    }
    if (this.nodes.length > 1 && this.rng.next() < p.partitionRate) this.partition();
    if (this.partitioned() && this.rng.next() < p.healRate) this.heal();
  }

  private partitioned(): boolean {
    for (const group of this.groupOf.values()) if (group !== 0) return true;
    return this.blockedLinks.size > 0;
  }

  private partition(): void {
    this.partitionCount += 1;
    const ids = [...this.allIds];
    shuffle(this.rng, ids);
    const kind = this.rng.int(0, 4);
    for (const id of ids) this.groupOf.set(id, 0);
    this.blockedLinks.clear();
    if (kind === 0) {
      // Isolate a random minority together.
      const size = this.rng.int(1, Math.floor(ids.length / 2) + 1);
      for (const id of ids.slice(0, size)) this.groupOf.set(id, 1);
    } else if (kind === 1) {
      // Isolate one node (possibly the leader).
      this.groupOf.set(ids[0]!, 1);
    } else if (kind === 2) {
      // Split into three groups at random: possibly no majority anywhere.
      for (const id of ids) this.groupOf.set(id, this.rng.int(0, 3));
    } else {
      // Cut some links in one direction only (a node hears but is not heard, say).
      const cutCount = this.rng.int(1, ids.length + 1);
      for (let i = 0; i < cutCount; i++) {
        const from = ids[this.rng.int(0, ids.length)]!;
        const to = ids[this.rng.int(0, ids.length)]!;
        if (from !== to) this.blockedLinks.add(`${from}->${to}`);
      }
    }
    this.events.push(`step ${this.step}: partition ${JSON.stringify([...this.groupOf])} one-way cuts ${JSON.stringify([...this.blockedLinks])}`);
  }

  private heal(): void {
    for (const id of this.allIds) this.groupOf.set(id, 0);
    this.blockedLinks.clear();
    this.events.push(`step ${this.step}: heal`);
  }

  private crash(node: SimNode, why: string): void {
    node.raft = null;
    node.restartAtStep = this.step + 1 + this.rng.int(0, this.params.downtimeStepsMax);
    this.crashCount += 1;
    this.events.push(`step ${this.step}: ${why} node ${node.id}`);
  }

  /** Boots (or reboots) a node from what it persisted: the application restores from the snapshot. */
  private start(node: SimNode): void {
    node.incarnation += 1;
    const persisted = node.storage.persisted();
    const snapshot = persisted.snapshot ?? null;
    const config: RaftConfigInput = { ...this.params.raft, id: node.id, voters: this.voters };
    const rng = seededRng((this.seed * 7919 + node.id * 104729 + node.incarnation * 15485863) >>> 0);
    node.raft = Raft.restore(config, rng, persisted);
    node.app = snapshot === null ? { appliedIndex: 0, digest: 0 } : this.checker.observeSnapshotRestore(node.id, snapshot);
    node.highestTermSeen = Math.max(node.highestTermSeen, node.raft.term);
    if (node.incarnation > 1) this.events.push(`step ${this.step}: restart node ${node.id} at term ${node.raft.term} commit ${node.raft.commitIndex}`);
  }

  // --- network ------------------------------------------------------------

  private canTalk(from: NodeId, to: NodeId): boolean {
    return this.groupOf.get(from) === this.groupOf.get(to) && !this.blockedLinks.has(`${from}->${to}`);
  }

  private send(msg: Message, faulty: boolean): void {
    const p = this.params;
    if (!faulty) {
      this.inFlight.push({ msg, deliverAtStep: this.step + 1 });
      return;
    }
    if (!this.canTalk(msg.from, msg.to) || this.rng.next() < p.dropRate) return;
    const copies = this.rng.next() < p.duplicateRate ? 2 : 1;
    for (let i = 0; i < copies; i++) {
      const long = this.rng.next() < p.longDelayRate;
      const delay = long ? this.rng.int(0, p.longDelayStepsMax) : this.rng.int(0, p.maxDelaySteps + 1);
      this.inFlight.push({ msg, deliverAtStep: this.step + 1 + delay });
    }
  }

  private deliver(faulty: boolean): void {
    const due: Message[] = [];
    const later: InFlight[] = [];
    for (const item of this.inFlight) {
      if (item.deliverAtStep <= this.step) due.push(item.msg);
      else later.push(item);
    }
    this.inFlight = later;
    if (faulty) shuffle(this.rng, due);
    for (const msg of due) {
      const target = this.nodes[msg.to - 1]!;
      if (target.raft === null || !this.canTalk(msg.from, msg.to)) continue;
      target.raft.step(msg);
      this.observeRole(target);
      this.messagesDeliveredCount += 1;
    }
  }

  // --- the Ready loop -----------------------------------------------------

  private processReadies(node: SimNode, faulty: boolean): void {
    // Bounded per step, as an actor interleaves Ready rounds with its mailbox;
    // what is left (e.g. a long apply backlog after a restart) goes next step.
    for (let round = 0; round < readyRoundsPerStepMax && node.raft !== null && node.raft.hasReady(); round++) {
      const raft: Raft = node.raft;
      const ready = raft.ready();
      // 1. persist. Without mustSync only the commit index changed, which the
      // shell may write lazily: sometimes we "lose" that write.
      const lazyCommit = faulty && !ready.mustSync && ready.hardState !== undefined && this.rng.next() < 0.5;
      node.storage.persist(lazyCommit ? { ...ready, hardState: undefined } : ready);
      if (faulty && this.rng.next() < this.params.crashBetweenPersistAndSendRate) {
        this.crash(node, 'crash between persist and send of');
        return;
      }
      // 2. send
      for (const msg of ready.messages) this.send(msg, faulty);
      // 3. apply
      this.apply(node, ready);
      // 4. advance
      raft.advance(ready);
    }
  }

  private apply(node: SimNode, ready: Ready): void {
    if (ready.snapshotToPersist !== undefined) {
      node.app = this.checker.observeSnapshotRestore(node.id, ready.snapshotToPersist);
      this.snapshotsInstalledCount += 1;
    }
    for (const entry of ready.committedEntries) node.app = this.checker.observeApply(node.id, node.app, entry);
    for (const outcome of ready.voterChanges ?? []) {
      if (outcome.outcome === 'Committed') this.voterChangesCommittedCount += 1;
      this.events.push(`step ${this.step}: node ${node.id}: ${outcome.change.type} ${outcome.change.id} ${outcome.outcome}, voters ${outcome.membership.voters.join(',')} learners ${outcome.membership.learners.join(',')}`);
    }
    if (ready.softState !== undefined) this.events.push(`step ${this.step}: ${describeSoftState(node.id, ready.softState)}`);
  }

  /**
   * After every input to a node: a leadership, however brief (it may end
   * before the next Ready), is checked for Election Safety and Leader
   * Completeness the moment it begins.
   */
  private observeRole(node: SimNode): void {
    const raft = node.raft;
    if (raft === null || raft.role !== 'Leader') return;
    if (node.leaderTermChecked !== raft.term) {
      node.leaderTermChecked = raft.term;
      node.leaderCommitIndex = raft.commitIndex;
      this.checker.observeLeader(raft.term, node.id);
      this.checker.observeNewLeaderLog(raft);
      return;
    }
    if (raft.commitIndex > node.leaderCommitIndex) {
      this.checker.observeLeaderCommit(node.id, raft.term, raft.commitIndex, raft.termAt(raft.commitIndex));
      node.leaderCommitIndex = raft.commitIndex;
    }
  }

  /** The application snapshots the state it has now (its applied index) once enough entries piled up. */
  private maybeCompact(node: SimNode): void {
    const raft = node.raft;
    if (raft === null || this.rng.next() >= this.params.compactRate) return;
    const index = node.app.appliedIndex;
    if (index - raft.snapshotIndex < this.params.compactEntriesMin) return;
    const snapshot = raft.compact(index, encodeAppState(node.app));
    node.storage.saveCompaction(snapshot);
  }

  // --- liveness -----------------------------------------------------------

  /** Heal everything, restart everyone, and require progress. Returns the steps it took and the voters then. */
  private checkLiveness(): { livenessSteps: number; finalVoters: NodeId[] } {
    this.heal();
    for (const node of this.nodes) if (node.raft === null) this.start(node);
    const electionTicks = this.params.raft.electionTicks ?? 10;
    const stepsMax = 60 * electionTicks + 400;
    let markerIndex = 0;
    let markerKey = 0;
    const startStep = this.step;
    for (let quietStep = 0; quietStep < stepsMax; quietStep++, this.step++) {
      this.runStep(false);
      // A removed node that never learned of its removal may still lead a stale term alone: the leader is the
      // voter leading the highest term.
      let leader: Raft | null = null;
      for (const node of this.nodes) {
        const raft = node.raft!;
        if (raft.role === 'Leader' && raft.isVoter && (leader === null || raft.term > leader.term)) leader = raft;
      }
      if (leader === null) continue;
      // Propose a marker entry once; propose again if it was lost with a leadership change.
      if (markerIndex === 0 || (leader.commitIndex < markerIndex && leader.termAt(markerIndex) === undefined)) {
        markerKey = ++this.proposalCounter;
        const result = leader.propose(payload(markerKey));
        markerIndex = result.type === 'Accepted' ? result.index : 0;
        continue;
      }
      if (this.checker.committedKeyAt(markerIndex) !== undefined && this.checker.committedKeyAt(markerIndex) !== markerKey) {
        markerIndex = 0; // overwritten before commit: propose again
        continue;
      }
      const commitIndex = leader.commitIndex;
      const voters = leader.membership.voters;
      const caughtUp = this.nodes.every(
        (node) => !voters.includes(node.id) || (node.raft!.commitIndex === commitIndex && node.app.appliedIndex === commitIndex),
      );
      if (caughtUp && commitIndex >= markerIndex && this.checker.committedKeyAt(markerIndex) === markerKey) {
        if (commitIndex !== this.checker.committedIndex()) {
          throw new AssertionError(`liveness: all nodes applied ${commitIndex}, but ${this.checker.committedIndex()} was applied before`);
        }
        return { livenessSteps: this.step - startStep, finalVoters: [...voters] };
      }
    }
    const states = this.nodes.map((node) => `${node.id}:${node.raft!.role}/t${node.raft!.term}/c${node.raft!.commitIndex}/a${node.app.appliedIndex}/l${node.raft!.lastIndex}/v${node.raft!.membership.voters.join(",")}/L${node.raft!.membership.learners.join(",")}`);
    throw new AssertionError(`liveness: no stable progress within ${stepsMax} quiet steps after healing (${states.join(' ')})`);
  }
}

function shuffle<T>(rng: Rng, items: T[]): void {
  for (let i = items.length - 1; i > 0; i--) {
    const j = rng.int(0, i + 1);
    const item = items[i]!;
    items[i] = items[j]!;
    items[j] = item;
  }
}

export function replayCommand(seed: number, steps: number): string {
  return `SEED=${seed} RAFT_SIM_STEPS=${steps} npx vitest run actors/controller/raft/sim.test.ts`;
}

/** Runs one seeded simulation; throws SimulationFailure (with the seed and how to replay) on any violation. */
export function runSimulation(options: SimulationOptions): SimulationReport {
  const simulation = new Simulation(options.seed, options.nodeCount);
  try {
    return simulation.run(options.steps);
  } catch (error) {
    const reason = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
    const message = [
      `raft simulation failed: seed=${options.seed} step=${simulation.currentStep()} (${simulation.describe()})`,
      reason,
      `replay: ${replayCommand(options.seed, options.steps)}`,
      'recent events:',
      ...simulation.recentEvents().map((event) => `  ${event}`),
    ].join('\n');
    const failure = new SimulationFailure(options.seed, message);
    if (error instanceof Error && error.stack !== undefined) failure.stack = `${message}\n${error.stack}`;
    throw failure;
  }
}
