/**
 * Test support for the Raft core (used by raft.test.ts and sim.ts; never by
 * production code): an in-memory "disk" that carries out a Ready's persistence
 * exactly as the module header of raft.ts prescribes, and a small
 * deterministic cluster in the style of etcd's `network` test helper (every
 * message delivered in order unless a link is cut).
 *
 * A crash is modelled by dropping the Raft object and rebuilding it with
 * `Raft.restore` from the MemoryStorage, so everything not persisted is lost.
 */
import { assert } from '../../../runtime/assert.ts';
import { seededRng } from '../../../runtime/rng.ts';
import { Raft, type PersistedState } from './raft.ts';
import type { Entry, HardState, Message, NodeId, RaftConfigInput, Ready, Snapshot, SoftState, VoterChangeOutcome } from './types.ts';

/** What a node has made durable. Survives crashes. */
export class MemoryStorage {
  hardState: HardState = { term: 0, votedFor: null, commitIndex: 0 };
  snapshot: Snapshot | null = null;
  entries: Entry[] = [];

  /** Step 1 of the Ready loop: snapshot, then entries, then hard state. */
  persist(ready: Ready): void {
    if (ready.snapshotToPersist !== undefined) {
      this.snapshot = ready.snapshotToPersist;
      this.entries = [];
    }
    const first = ready.entriesToPersist[0];
    if (first !== undefined) {
      const firstKept = this.snapshot?.index ?? 0;
      assert(first.index <= firstKept + this.entries.length + 1, 'storage: gap in persisted entries');
      this.entries.length = Math.max(0, first.index - firstKept - 1);
      for (const entry of ready.entriesToPersist) this.entries.push(entry);
    }
    if (ready.hardState !== undefined) this.hardState = ready.hardState;
  }

  /** The application compacted: keep the snapshot, drop the entries it covers. */
  saveCompaction(snapshot: Snapshot): void {
    const firstKept = this.snapshot?.index ?? 0;
    this.entries = this.entries.slice(Math.max(0, snapshot.index - firstKept));
    this.snapshot = snapshot;
  }

  persisted(): PersistedState {
    return { hardState: this.hardState, snapshot: this.snapshot, entries: [...this.entries] };
  }
}

/** The application side of a test node: what it applied, and from which snapshot it started. */
export type AppliedState = { snapshotIndex: number; entries: Entry[] };

/**
 * A deterministic in-process cluster: `stabilize()` delivers every message
 * (and the messages they cause) in send order; `isolate` and `cut` drop
 * messages on links; `crash`/`restart` lose unpersisted state.
 */
export class TestCluster {
  readonly nodes = new Map<NodeId, Raft>();
  readonly storage = new Map<NodeId, MemoryStorage>();
  readonly applied = new Map<NodeId, AppliedState>();
  /** Soft-state transitions in order, as "1: Leader term=2 leader=1", for traces. */
  readonly transitions: string[] = [];
  /** Every message delivered, in order, for traces. */
  readonly delivered: Message[] = [];
  private inFlight: Message[] = [];
  private readonly cutLinks = new Set<string>();
  private readonly configs = new Map<NodeId, RaftConfigInput>();
  /** Return false to drop a message (in addition to cut links). */
  filter: (msg: Message) => boolean = () => true;

  constructor(ids: readonly NodeId[], overrides: Partial<RaftConfigInput> = {}, seed = 1) {
    for (const id of ids) {
      const config: RaftConfigInput = { ...overrides, id, voters: ids };
      this.configs.set(id, config);
      this.nodes.set(id, Raft.create(config, seededRng(seed * 1000 + id)));
      this.storage.set(id, new MemoryStorage());
      this.applied.set(id, { snapshotIndex: 0, entries: [] });
    }
  }

  /**
   * A node that is in no configuration yet (a new controller): it starts from
   * `bootstrapVoters` like the others and is an observer until a leader adds it.
   */
  addNode(id: NodeId, bootstrapVoters: readonly NodeId[], overrides: Partial<RaftConfigInput> = {}, seed = 1): Raft {
    assert(!this.configs.has(id), `test cluster: node ${id} exists`);
    const config: RaftConfigInput = { ...overrides, id, voters: bootstrapVoters };
    this.configs.set(id, config);
    const node = Raft.create(config, seededRng(seed * 1000 + id));
    this.nodes.set(id, node);
    this.storage.set(id, new MemoryStorage());
    this.applied.set(id, { snapshotIndex: 0, entries: [] });
    return node;
  }

  /** Replace a node with one restored from the given persisted state (to set up scenarios). */
  load(id: NodeId, persisted: PersistedState, seed = 1): void {
    const storage = new MemoryStorage();
    storage.hardState = persisted.hardState;
    storage.snapshot = persisted.snapshot ?? null;
    storage.entries = [...persisted.entries];
    this.storage.set(id, storage);
    this.nodes.set(id, Raft.restore(this.configs.get(id)!, seededRng(seed * 1000 + id), persisted));
    this.applied.set(id, { snapshotIndex: persisted.snapshot?.index ?? 0, entries: [] });
  }

  node(id: NodeId): Raft {
    const node = this.nodes.get(id);
    assert(node !== undefined, `test cluster: node ${id} is down`);
    return node;
  }

  leaders(): Raft[] {
    return [...this.nodes.values()].filter((node) => node.role === 'Leader');
  }

  /** Voter-change outcomes reported by each node's Readies, in order. */
  readonly voterChanges: { id: NodeId; outcome: VoterChangeOutcome }[] = [];

  /** Runs the Ready loop of every live node until none has work. */
  processReadies(): void {
    for (const [id, node] of this.nodes) {
      while (node.hasReady()) {
        const ready = node.ready();
        this.storage.get(id)!.persist(ready);
        for (const msg of ready.messages) this.inFlight.push(msg);
        const applied = this.applied.get(id)!;
        if (ready.snapshotToPersist !== undefined) {
          applied.snapshotIndex = ready.snapshotToPersist.index;
          applied.entries = [];
        }
        for (const entry of ready.committedEntries) applied.entries.push(entry);
        if (ready.softState !== undefined) this.transitions.push(describeSoftState(id, ready.softState));
        for (const outcome of ready.voterChanges ?? []) this.voterChanges.push({ id, outcome });
        node.advance(ready);
      }
    }
  }

  /** Delivers the messages in flight now (not those they cause). Returns how many were delivered. */
  deliverRound(): number {
    this.processReadies();
    const batch = this.inFlight;
    this.inFlight = [];
    let deliveredCount = 0;
    for (const msg of batch) {
      const target = this.nodes.get(msg.to);
      if (target === undefined || this.cutLinks.has(linkKey(msg.from, msg.to)) || !this.filter(msg)) continue;
      this.delivered.push(msg);
      target.step(msg);
      deliveredCount += 1;
    }
    this.processReadies();
    return deliveredCount;
  }

  /** Delivers until no message is in flight. */
  stabilize(maxRounds = 1000): void {
    this.processReadies();
    for (let round = 0; this.inFlight.length > 0; round++) {
      assert(round < maxRounds, 'test cluster: did not stabilize');
      this.deliverRound();
    }
  }

  tick(id: NodeId, count = 1): void {
    for (let i = 0; i < count; i++) {
      this.node(id).tick();
      this.processReadies();
    }
  }

  /** Ticks every live node once, then delivers everything. */
  tickAll(count = 1): void {
    for (let i = 0; i < count; i++) {
      for (const id of this.nodes.keys()) this.node(id).tick();
      this.stabilize();
    }
  }

  cut(a: NodeId, b: NodeId): void {
    this.cutLinks.add(linkKey(a, b));
    this.cutLinks.add(linkKey(b, a));
  }

  isolate(id: NodeId): void {
    for (const other of this.configs.keys()) if (other !== id) this.cut(id, other);
  }

  heal(): void {
    this.cutLinks.clear();
  }

  /** The node stops; whatever it did not persist is gone. Messages to it are lost. */
  crash(id: NodeId): void {
    this.nodes.delete(id);
    this.inFlight = this.inFlight.filter((msg) => msg.to !== id);
  }

  restart(id: NodeId, seed = 2): Raft {
    assert(!this.nodes.has(id), 'test cluster: restart of a live node');
    const persisted = this.storage.get(id)!.persisted();
    const node = Raft.restore(this.configs.get(id)!, seededRng(seed * 1000 + id), persisted);
    this.nodes.set(id, node);
    this.applied.set(id, { snapshotIndex: persisted.snapshot?.index ?? 0, entries: [] });
    return node;
  }
}

export function describeSoftState(id: NodeId, softState: SoftState): string {
  return `${id}: ${softState.role} term=${softState.term} leader=${softState.leaderId ?? '-'}`;
}

/** One line per message, for traces. */
export function describeMessage(msg: Message): string {
  const head = `${msg.from}->${msg.to} ${msg.type} term=${msg.term}`;
  switch (msg.type) {
    case 'RequestVote':
    case 'PreVote':
      return `${head} last=${msg.lastLogIndex}/${msg.lastLogTerm}`;
    case 'RequestVoteReply':
    case 'PreVoteReply':
      return `${head} ${msg.granted ? 'granted' : 'rejected'}`;
    case 'AppendEntries':
      return `${head} prev=${msg.prevLogIndex}/${msg.prevLogTerm} entries=[${msg.entries.map((e) => `${e.index}/${e.term}`).join(' ')}] commit=${msg.leaderCommit}`;
    case 'AppendEntriesReply':
      return msg.success
        ? `${head} match=${msg.matchIndex}`
        : `${head} rejected=${msg.rejectedIndex} hint=${msg.hintIndex}/${msg.hintTerm}`;
    case 'Heartbeat':
      return `${head} commit=${msg.commitIndex}`;
    case 'HeartbeatReply':
      return head;
    case 'InstallSnapshot':
      return `${head} snapshot=${msg.snapshot.index}/${msg.snapshot.term}`;
    case 'InstallSnapshotReply':
      return `${head} match=${msg.matchIndex}`;
    case 'TimeoutNow':
      return head;
  }
}

function linkKey(from: NodeId, to: NodeId): string {
  return `${from}->${to}`;
}
