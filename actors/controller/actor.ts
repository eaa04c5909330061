/**
 * The controller actor (`/controller`, on controller nodes: the bootstrap
 * voters and brokers started with the controller role): the I/O shell around
 * the pure Raft core (raft/raft.ts) and the pure metadata logic
 * (metadata/controller-state.ts). KRaft's QuorumController, as one actor.
 *
 * Owns: this voter's Raft core and its durable store (store.ts), the
 * committed metadata image, the active controller's speculative state, the
 * replies waiting for their entries to commit, FetchMetadata long-polls, and
 * the death watches on registered brokers.
 *
 * The Ready loop (raft.ts's order, never broken):
 *   1. `raft.ready()`; the store persists hard state, snapshot and entries
 *      (async, fdatasync; a commit-index-only Ready needs no sync and goes on
 *      at once). Only one Ready is out at a time, so everything the core
 *      produces meanwhile is persisted together by the next one (group commit).
 *   2. `Persisted` comes back as a message: THEN the Ready's Raft messages go
 *      to the other voters' /controller actors,
 *   3. THEN committed entries are applied (a snapshot restores the image
 *      first): each non-empty entry is a msgpack array of MetadataRecord,
 *      replayed with `applyCommittedEntry`, which skips (and this actor logs
 *      and counts) a record that does not apply instead of asserting; replies
 *      whose entry is now applied go out; waiting fetches are answered,
 *   4. THEN `raft.advance(ready)`, compaction when due, and the next Ready.
 *
 * Leadership: when the Raft core becomes leader, the actor proposes a NoOp
 * record and calls `becomeActive` once that entry is applied (the committed
 * image then holds everything earlier leaders wrote). Until then, and on any
 * voter that is not active, commands get NotController with the Raft leader
 * it knows. On losing leadership (role or term change) it calls
 * `becomeInactive`, answers every waiting reply NotController, and drops its
 * broker watches. State changes only by replaying committed records.
 *
 * Timers (ctx.scheduleOnce, carrying a generation so a restarted actor ignores
 * its predecessor's): the Raft tick every `controllerTickMs`; on each tick the
 * active controller also runs the session check (`tick`), and every
 * `leaderImbalanceCheckIntervalMs` an AutoRebalance when enabled; the commit
 * index is flushed to disk every `commitIndexFlushIntervalMs`.
 *
 * Death watch: the active controller watches `/controller-client` on the node
 * of every registered, unfenced broker; a Terminated (node down, or the client
 * stopped) issues FenceBroker for the epoch it watched, so a report about an
 * old process never fences its successor. The other way round, when the
 * runtime declares down the node of the Raft leader this voter follows, the
 * core is told (`Raft.leaderLost`) and elects within one election timeout.
 *
 * Compaction: once the log holds `logEntriesBeforeSnapshotMax` entries past
 * the last snapshot, the committed image (msgpack, image-codec.ts) becomes a
 * snapshot at the applied index and the store rewrites the log.
 *
 * Voter set (#17, KIP-853): the configuration in force is the Raft core's
 * (Config entries in the log; the broker config's voters only bootstrap an
 * empty log). A node outside it runs as an observer: it never campaigns and
 * follows the leader once that leader replicates to it (after AddVoter made
 * it a learner). `VoterChange` (AddVoter/RemoveVoter, from peers: brokers and
 * operator tools holding the cluster secret) runs `raft.changeVoters` on the
 * active controller; the reply goes out when the core reports the outcome
 * (after the final Config entry committed, or the learner did not catch up
 * within controllerLimits.voterCatchUpMs). Only one change runs at a time,
 * so one reply waits at most. After every Ready this node dials the members
 * it has no link to yet, at the address their RegisterBroker record gives
 * (a new voter must be a registered broker: AddVoter checks it).
 *
 * Graceful shutdown: `resignLeadership(node)` makes a leading voter hand its
 * leadership to the most caught-up follower (the core's leadership transfer:
 * proposals pause, the target is caught up and told TimeoutNow); commands
 * meanwhile get NotController naming the target.
 *
 * What enters the metadata log is checked where it enters: the active
 * controller generates the records (metadata/*.ts), and a follower refuses an
 * AppendEntries whose entries do not validate (validateRecords) or an
 * InstallSnapshot whose image does not decode, before stepping the core, so
 * before anything is persisted (refuseToPersist).
 *
 * Never awaits: store results and timers come back as messages; Raft sends are
 * tells. Everything from the network is validated (messages.ts) first; a bad
 * request is answered INVALID_REQUEST, a bad Raft message is dropped. What
 * the network may send at all is controllerProtocol (the runtime refuses the
 * rest before this actor runs): internal messages (timers, store results) are
 * recognised by their type, which no remote origin may send.
 *
 * Supervision (decision table): a failed assert or a store I/O error throws,
 * and the actor restarts with backoff (restartWithBackoff): init closes the
 * old store and recovers from disk, exactly like a process restart, which
 * Raft is built to survive. After too many restarts it escalates; the node's
 * onGiveUp decides (broker-main exits).
 */
import { Packr } from 'msgpackr';
import { ErrorCode } from '../../protocol/errors.ts';
import { invalid, isInvalid, type Invalid } from '../../protocol/validate.ts';
import { AssertionError, assert, assertNever } from '../../runtime/assert.ts';
import type { ActorContext, Node, Terminated } from '../../runtime/node.ts';
import type { Ref } from '../../runtime/ref.ts';
import type { RemoteProtocol } from '../../runtime/protocol.ts';
import { seededRng } from '../../runtime/rng.ts';
import { nodeIdOf, type BrokerConfig } from '../broker/config.ts';
import { decodeImage, encodeImage, serializeImage, type SerializedImage } from './image-codec.ts';
import {
  messageLimits,
  validateControllerMessage,
  validateRecords,
  type ControllerMessage,
  type ControllerRequest,
  type ControllerRequestReply,
  type DescribeQuorumReply,
  type FetchMetadata,
  type FetchMetadataReply,
  type GetMetadataReply,
  type MetadataLogEntry,
  type NotController,
  type VoterChange,
  type VoterChangeReply,
} from './messages.ts';
import {
  applyCommittedEntry,
  becomeActive,
  becomeInactive,
  buildMetadataResponse,
  emptyImage,
  handleCommand,
  initialControllerState,
  tick as tickSessions,
  type ControllerCommand,
  type ControllerConfig,
  type ControllerReply,
  type ControllerState,
  type MetadataImage,
  type MetadataRecord,
} from './metadata/index.ts';
import { isMemberOf, isVoterOf, makeMembership } from './raft/membership.ts';
import { Raft, type VoterChangeResult } from './raft/raft.ts';
import type { Entry, Membership, Message as RaftProtocolMessage, Ready, Snapshot, VoterChangeOutcome } from './raft/types.ts';
import { MetadataStore } from './store.ts';

export const controllerPath = '/controller';
export const controllerActorName = 'controller';

export const controllerLimits = {
  /** Compact once the log holds this many entries past the last snapshot. */
  logEntriesBeforeSnapshotMax: 1_000,
  /** Entries appended but not committed; past it commands get THROTTLING_QUOTA_EXCEEDED (retriable). Below the core's maxUncommittedEntries, so a proposal is never refused after `handleCommand`. */
  uncommittedEntriesMax: 512,
  /** Replies waiting for their entry to commit. */
  pendingRepliesMax: 4_096,
  /** FetchMetadata long-polls parked at once; past it a fetch is answered at once (empty). */
  fetchWaitersMax: 1_024,
  /** How often a commit index that changed alone is written to disk. */
  commitIndexFlushIntervalMs: 1_000,
  /** A FetchMetadata reply stops adding entries past this many bytes (the runtime refuses frames over 16 MiB). */
  fetchReplyBytesTarget: 4 * 1024 * 1024,
  /** Decoded entries kept to answer fetches without decoding again. */
  decodedEntriesCachedMax: 2_048,
  /** AddVoter: the new voter's learner must catch up within this long, else REQUEST_TIMED_OUT (and it is removed again). */
  voterCatchUpMs: 15_000,
} as const;

assert(controllerLimits.uncommittedEntriesMax < 1_024, 'controller: uncommittedEntriesMax must stay below the Raft core maxUncommittedEntries');

/** Stable event names for logs (STYLE rule 19). */
export const controllerEvents = {
  opened: 'controller.opened',
  roleChanged: 'controller.role_changed',
  activated: 'controller.activated',
  deactivated: 'controller.deactivated',
  brokerFenced: 'controller.broker_fenced',
  /** The node of the Raft leader we follow was declared down: elect sooner than the election timeout. */
  leaderLost: 'controller.leader_node_down',
  brokerWatched: 'controller.broker_watched',
  compacted: 'controller.compacted',
  snapshotInstalled: 'controller.snapshot_installed',
  badInput: 'controller.bad_input',
  /** A follower refused an AppendEntries or InstallSnapshot whose entries (or image) do not validate. */
  entriesRefused: 'controller.entries_refused',
  /** Replay skipped committed records that did not apply (replayCommitted), or an entry that is not records. */
  recordsSkipped: 'controller.records_skipped',
  /** The configuration in force on this node changed (a Config entry appended, truncated or installed). */
  membershipChanged: 'controller.membership_changed',
  voterChangeStarted: 'controller.voter_change_started',
  voterChangeFinished: 'controller.voter_change_finished',
} as const;

export type ControllerOptions = {
  config: BrokerConfig;
  /** Seed of the Raft core's election-timeout randomness; default derived from the node's incarnation. */
  seed?: number;
  /** Override of controllerLimits.logEntriesBeforeSnapshotMax (tests use a small one to exercise snapshots). */
  logEntriesBeforeSnapshotMax?: number;
};

/** Per node: how to describe its /controller's quorum state (set at the actor's init). */
const descriptions = new WeakMap<Node, () => DescribeQuorumReply>();

/**
 * The Raft state of `node`'s /controller (role, term, commit index, leader, whether it is the active
 * controller), or null when the node runs none: what DescribeQuorum answers, read synchronously for
 * metrics. Cheap: one object per call.
 */
export function controllerDescription(node: Node): DescribeQuorumReply | null {
  return descriptions.get(node)?.() ?? null;
}

/** Resolves once the controller on `node` stopped and its store is closed (files flushed and released). */
const storesClosed = new WeakMap<Node, Promise<void>>();
export function controllerStopped(node: Node): Promise<void> {
  return storesClosed.get(node) ?? Promise.resolve();
}

// ---------------------------------------------------------------- internal messages

type Internal =
  | { type: 'Opened'; generation: number; store: MetadataStore; raft: Raft; image: MetadataImage; appliedIndex: number }
  | { type: 'OpenFailed'; generation: number; error: unknown }
  | { type: 'Tick'; generation: number }
  | { type: 'Persisted'; generation: number }
  | { type: 'StoreFailed'; generation: number; error: unknown }
  | { type: 'Compacted'; generation: number; index: number }
  | { type: 'FetchWaitExpired'; generation: number; waiterId: number }
  | { type: 'Resign'; generation: number; done: () => void }
  | { type: 'PeerDown'; generation: number; nodeId: string };

type Incoming = ControllerMessage | Internal;

/**
 * Internal messages are recognised by their type: none of these types is in
 * controllerProtocol, so the runtime refuses them from the network before this
 * actor runs (runtime/protocol.ts); only this node's own code can send them.
 */
const internalTypes: ReadonlySet<string> = new Set<Internal['type']>(['Opened', 'OpenFailed', 'Tick', 'Persisted', 'StoreFailed', 'Compacted', 'FetchWaitExpired', 'Resign', 'PeerDown']);
function isInternal(message: unknown): message is Internal {
  return typeof message === 'object' && message !== null && typeof (message as { type?: unknown }).type === 'string' && internalTypes.has((message as { type: string }).type);
}

type VoterChangeWaiter = { change: VoterChange['change']; replyTo: VoterChange['replyTo'] };

type PendingReply = { index: number; term: number; replyTo: Ref<ControllerRequestReply> | null; reply: ControllerReply };
type FetchWaiter = { id: number; fromOffset: number; replyTo: Ref<FetchMetadataReply>; cancel: () => void };

type Running = {
  raft: Raft;
  store: MetadataStore;
  logic: ControllerState;
  /** Index of the last entry applied to `logic` (including empty no-ops). */
  appliedIndex: number;
  readyInFlight: Ready | null;
  /** The NoOp this leader proposed to activate, until it is applied. */
  activation: { index: number; term: number } | null;
  activeTerm: number | null;
  lastProposedIndex: number;
  pendingReplies: PendingReply[];
  watched: Map<number, number>;
  compacting: boolean;
  lastRebalanceMs: number;
  lastFlushMs: number;
  decoded: Map<number, readonly MetadataRecord[]>;
  snapshotView: { index: number; image: SerializedImage } | null;
  /** The operator's VoterChange the core is carrying out (one at a time). */
  voterChangeWaiter: VoterChangeWaiter | null;
};

type State = {
  generation: number;
  /** Resign requests waiting for leadership to move away (graceful shutdown). */
  resignations: (() => void)[];
  running: Running | null;
  fetchWaiters: Map<number, FetchWaiter>;
  nextWaiterId: number;
};

const recordsPackr = new Packr({ useRecords: false, bundleStrings: false, moreTypes: false });

export function encodeRecords(records: readonly MetadataRecord[]): Uint8Array {
  return new Uint8Array(recordsPackr.pack(records));
}

/** Decodes an entry's records, or says why they are not records (never throws: entries arrive over the network). */
export function checkRecords(data: Uint8Array, index: number): MetadataRecord[] | Invalid {
  let value: unknown;
  try {
    value = recordsPackr.unpack(data);
  } catch {
    return invalid(`entry[${index}]`, 'is not msgpack');
  }
  return validateRecords(value, `entry[${index}]`);
}

/** Decodes a committed entry's records. A committed entry that is not records is corruption or a bug: it throws. */
export function decodeRecords(data: Uint8Array, index: number): MetadataRecord[] {
  const records = checkRecords(data, index);
  if (isInvalid(records)) throw new AssertionError(`metadata entry ${index}: ${records.errorMessage}`);
  return records;
}

/**
 * Why a Raft message must not be stepped (its entries would be persisted), or
 * null: every AppendEntries entry must decode to valid records (validateRecords,
 * the same check as a committed entry's), and an InstallSnapshot's image must
 * decode. Pure; exported for tests.
 */
export function refuseToPersist(message: RaftProtocolMessage): string | null {
  if (message.type === 'AppendEntries') {
    for (const entry of message.entries) {
      // Config entries are Raft's own; messages.ts checked that they decode as a membership.
      if (entry.data.length === 0 || entry.kind === 'Config') continue;
      const records = checkRecords(entry.data, entry.index);
      if (isInvalid(records)) return records.errorMessage;
    }
    return null;
  }
  if (message.type === 'InstallSnapshot') {
    const image = decodeImage(message.snapshot.data);
    return isInvalid(image) ? `snapshot ${message.snapshot.index}: ${image.errorMessage}` : null;
  }
  return null;
}

/** Raft messages only a leader sends: taken from any authenticated peer (see controllerProtocol). */
const leaderMessageTypes: ReadonlySet<string> = new Set(['AppendEntries', 'Heartbeat', 'InstallSnapshot']);

/**
 * What the network may send `/controller` (runtime/protocol.ts): Raft only from the node it claims
 * to be (its `from`), on that node's own authenticated link, and only from a voter or learner of
 * the configuration in force on this node (`members` is read at each delivery: the guard follows
 * configuration changes) — except the leader's own messages (AppendEntries, Heartbeat,
 * InstallSnapshot), taken from any peer: a follower that missed the Config entry making a new node
 * a voter must still hear that node once it leads (Raft thesis §4.1), and an observer must hear
 * the leader that adds it; their term decides in the core, as for any message. Controller requests,
 * metadata fetches and VoterChange from peers (brokers, operator tools with the cluster secret);
 * DescribeQuorum, read-only, from anyone (the CLI's `cluster status`). Timers and store results
 * are this node's own.
 */
export function controllerProtocol(members: readonly number[] | (() => Membership)): RemoteProtocol {
  const fixed = typeof members === 'function' ? null : makeMembership(members);
  const current = typeof members === 'function' ? members : () => fixed!;
  return {
    client: { DescribeQuorum: true },
    peer: {
      ControllerRequest: true,
      FetchMetadata: true,
      GetMetadata: true,
      VoterChange: true,
      RaftMessage: (message, origin) => {
        const raft = message.message as { from?: unknown; type?: unknown } | null | undefined;
        if (typeof raft !== 'object' || raft === null || typeof raft.from !== 'number') return 'RaftMessage needs a message with a from';
        if (nodeIdOf(raft.from) !== origin.nodeId) return `a Raft message from ${origin.nodeId} cannot claim to be from ${raft.from}`;
        if (typeof raft.type === 'string' && leaderMessageTypes.has(raft.type)) return null;
        return isMemberOf(current(), raft.from) ? null : `node ${origin.nodeId} is not a voter or learner`;
      },
    },
  };
}

export function controllerConfigOf(config: BrokerConfig): ControllerConfig {
  return {
    sessionTimeoutMs: config.brokerSessionTimeoutMs,
    topicDefaults: { numPartitions: config.numPartitions, replicationFactor: config.defaultReplicationFactor },
    autoLeaderRebalanceEnable: config.autoLeaderRebalanceEnable,
  };
}

function seedOf(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i += 1) hash = Math.imul(hash ^ text.charCodeAt(i), 0x01000193);
  return hash >>> 0;
}

/**
 * Spawns `/controller` on a controller node: a bootstrap voter, or (process.roles
 * with controller) a node that starts as an observer until AddVoter.
 */
export function spawnController(node: Node, options: ControllerOptions): Ref<ControllerMessage> {
  const { config } = options;
  /** The bootstrap voter set: in force only until the log holds a configuration. */
  const bootstrapVoters = [...config.controllerQuorumVoters.keys()].sort((a, b) => a - b);
  const brokerId = config.brokerId;
  /** The configuration in force here (the core's, once open), read by the protocol guard at each delivery. */
  let membership: Membership = makeMembership(bootstrapVoters);
  /** Members this node has dialed (or that are the bootstrap voters, dialed here). */
  const dialed = new Set<number>([brokerId]);
  for (const [voterId, url] of config.controllerQuorumVoters) {
    if (voterId === brokerId) continue;
    node.addPeer(nodeIdOf(voterId), url);
    dialed.add(voterId);
  }
  const controllerConfig = controllerConfigOf(config);
  const rng = seededRng(options.seed ?? seedOf(`${node.incarnation}/${brokerId}`));
  const raftConfig = {
    id: brokerId,
    voters: bootstrapVoters,
    electionTicks: config.controllerElectionTicks,
    heartbeatTicks: config.controllerHeartbeatTicks,
    voterCatchUpTicksMax: Math.max(config.controllerElectionTicks + 1, Math.ceil(controllerLimits.voterCatchUpMs / config.controllerTickMs)),
  };
  const logEntriesBeforeSnapshotMax = options.logEntriesBeforeSnapshotMax ?? controllerLimits.logEntriesBeforeSnapshotMax;
  assert(logEntriesBeforeSnapshotMax >= 1, 'controller: logEntriesBeforeSnapshotMax must be positive');
  let generation = 0;
  let openStore: MetadataStore | undefined;
  /** The runtime's peer status events, forwarded as PeerDown (one subscription per incarnation of the actor). */
  let peerStatus: { unsubscribe(): void } | undefined;
  let markClosed: () => void = () => {};
  storesClosed.set(node, new Promise<void>((resolve) => (markClosed = resolve)));

  const now = (): number => node.clock.monotonicMs();
  /** Brokers listen with the same transport as this node (ws:, or mem: in tests). */
  const urlScheme = node.url === undefined ? 'ws:' : new URL(node.url).protocol;

  // ---------------------------------------------------------------- helpers

  const notController = (run: Running | null): NotController => ({
    type: 'NotController',
    errorCode: ErrorCode.NOT_CONTROLLER,
    leaderId: run?.raft.leaderId ?? null,
  });

  const sendRaft = (message: RaftProtocolMessage): void => {
    node.tell<ControllerMessage>({ node: nodeIdOf(message.to), path: controllerPath }, { type: 'RaftMessage', message });
  };

  const recordsAt = (run: Running, index: number): readonly MetadataRecord[] => {
    const cached = run.decoded.get(index);
    if (cached !== undefined) return cached;
    const entry = run.raft.entryAt(index);
    assert(entry !== undefined, `controller: entry ${index} is not retained`);
    const checked = entry.data.length === 0 || entry.kind === 'Config' ? [] : checkRecords(entry.data, index);
    // An entry that is not records was skipped when applied (applyEntry); followers of this log skip it as empty.
    const records = isInvalid(checked) ? [] : checked;
    cache(run, index, records);
    return records;
  };

  const cache = (run: Running, index: number, records: readonly MetadataRecord[]): void => {
    run.decoded.set(index, records);
    if (run.decoded.size > controllerLimits.decodedEntriesCachedMax) {
      const oldest = run.decoded.keys().next().value;
      if (oldest !== undefined) run.decoded.delete(oldest);
    }
  };

  const snapshotView = (run: Running, snapshot: Snapshot): { index: number; image: SerializedImage } => {
    if (run.snapshotView?.index === snapshot.index) return run.snapshotView;
    const image = decodeImage(snapshot.data);
    assert(!isInvalid(image), `controller: snapshot ${snapshot.index} does not decode`);
    run.snapshotView = { index: snapshot.index, image: serializeImage(image) };
    return run.snapshotView;
  };

  /** The reply for a fetch from `fromOffset`, or null when there is nothing new yet. */
  const fetchReply = (run: Running, fromOffset: number): FetchMetadataReply | null => {
    const applied = run.appliedIndex;
    const snapshot = run.raft.snapshot;
    let snapshotPart: FetchMetadataReply['snapshot'] = null;
    let start = Math.max(fromOffset, 0) + 1;
    if (snapshot !== null && start <= snapshot.index) {
      snapshotPart = { offset: snapshot.index, image: snapshotView(run, snapshot).image };
      start = snapshot.index + 1;
    }
    if (snapshotPart === null && start > applied) return null;
    const records: MetadataLogEntry[] = [];
    const end = Math.min(applied, start + messageLimits.fetchEntriesMax - 1);
    let bytes = 0;
    for (let index = start; index <= end; index += 1) {
      // Bound the reply by its encoded size too (an entry re-encodes to about its stored bytes); at least one entry.
      bytes += run.raft.entryAt(index)?.data.length ?? 0;
      if (records.length > 0 && bytes > controllerLimits.fetchReplyBytesTarget) break;
      records.push({ offset: index, records: recordsAt(run, index) });
    }
    return { type: 'FetchMetadataReply', records, snapshot: snapshotPart, highWatermark: applied };
  };

  const answerWaiters = (state: State): void => {
    const run = state.running;
    if (run === null) return;
    for (const waiter of state.fetchWaiters.values()) {
      const reply = fetchReply(run, waiter.fromOffset);
      if (reply === null) continue;
      waiter.cancel();
      state.fetchWaiters.delete(waiter.id);
      node.tell(waiter.replyTo, reply);
    }
  };

  // ---------------------------------------------------------------- leadership

  const deactivate = (ctx: ActorContext<Incoming>, run: Running, why: string): void => {
    const wasActive = run.logic.active;
    run.activation = null;
    run.activeTerm = null;
    if (wasActive) {
      run.logic = becomeInactive(run.logic);
      ctx.log.info({ term: run.raft.term, leaderId: run.raft.leaderId, why }, controllerEvents.deactivated);
    }
    const refusal = notController(run);
    for (const pending of run.pendingReplies.splice(0)) if (pending.replyTo !== null) node.tell(pending.replyTo, refusal);
    for (const brokerId of run.watched.keys()) node.unwatch(ctx.self, { node: nodeIdOf(brokerId), path: clientPathOfBroker });
    run.watched.clear();
  };

  /**
   * Graceful shutdown: hand leadership to the most caught-up follower
   * (raft's leadership transfer, TimeoutNow) so the quorum does not wait an
   * election timeout. `done` runs once this voter leads no more, or at once
   * when it does not lead; the caller bounds the wait.
   */
  const resign = (ctx: ActorContext<Incoming>, state: State, done: () => void): void => {
    const run = state.running;
    if (run === null || run.raft.role !== 'Leader') {
      done();
      return;
    }
    let target: number | null = null;
    let bestMatchIndex = -1;
    for (const voter of run.raft.membership.voters) {
      if (voter === brokerId) continue;
      const progress = run.raft.progressOf(voter);
      if (progress !== undefined && progress.matchIndex > bestMatchIndex) {
        bestMatchIndex = progress.matchIndex;
        target = voter;
      }
    }
    if (target === null) {
      done();
      return;
    }
    const result = run.raft.transferLeadership(target);
    ctx.log.info({ target, result: result.type }, 'controller.resigning');
    state.resignations.push(done);
    checkRole(ctx, run);
    drive(ctx, state);
  };

  const settleResignations = (state: State): void => {
    if (state.running?.raft.role === 'Leader') return;
    for (const done of state.resignations.splice(0)) done();
  };

  /** After any input to the core: follow its role (activate through a NoOp, deactivate on loss). */
  const checkRole = (ctx: ActorContext<Incoming>, run: Running): void => {
    const raft = run.raft;
    const leading = raft.role === 'Leader';
    const engagedTerm = run.activeTerm ?? run.activation?.term ?? null;
    if (engagedTerm !== null && (!leading || raft.term !== engagedTerm)) deactivate(ctx, run, 'leadership lost');
    if (leading && run.activation === null && !run.logic.active) {
      const result = raft.propose(encodeRecords([{ type: 'NoOp' }]));
      if (result.type === 'Accepted') {
        run.activation = { index: result.index, term: result.term };
        run.lastProposedIndex = result.index;
      }
    }
  };

  const propose = (ctx: ActorContext<Incoming>, run: Running, records: readonly MetadataRecord[]): boolean => {
    const result = run.raft.propose(encodeRecords(records));
    if (result.type === 'Accepted') {
      run.lastProposedIndex = result.index;
      return true;
    }
    // Cannot happen while active (bounded below the core's limit, no proposals while a transfer runs);
    // if it does, the speculation is void.
    ctx.log.error({ result }, 'controller.proposal_refused');
    deactivate(ctx, run, `proposal refused: ${result.type}`);
    return false;
  };

  const busy = (run: Running): boolean =>
    run.raft.lastIndex - run.raft.commitIndex >= controllerLimits.uncommittedEntriesMax ||
    run.pendingReplies.length >= controllerLimits.pendingRepliesMax;

  /** Runs a command on the active controller; the reply goes to `replyTo` once its entry (or the last proposed one) is applied. */
  const runCommand = (ctx: ActorContext<Incoming>, run: Running, command: ControllerCommand, replyTo: Ref<ControllerRequestReply> | null): void => {
    assert(run.logic.active, 'controller: command while not active');
    const outcome = handleCommand(run.logic, command, now());
    run.logic = outcome.state;
    if (outcome.records.length > 0 && !propose(ctx, run, outcome.records)) {
      if (replyTo !== null) node.tell(replyTo, notController(run));
      return;
    }
    if (command.type === 'FenceBroker' && (outcome.reply as { fenced?: boolean }).fenced) {
      ctx.log.info({ brokerId: command.brokerId, brokerEpoch: command.brokerEpoch }, controllerEvents.brokerFenced);
    }
    if (run.lastProposedIndex <= run.appliedIndex) {
      if (replyTo !== null) node.tell(replyTo, outcome.reply);
    } else {
      run.pendingReplies.push({ index: run.lastProposedIndex, term: run.raft.term, replyTo, reply: outcome.reply });
    }
  };

  /**
   * Watches the client of every registered, unfenced broker; forgets the rest.
   * Judged on the latest (speculative) image: a broker whose fence is proposed
   * but not yet committed must not be watched again (its node is still down).
   */
  const reconcileWatches = (ctx: ActorContext<Incoming>, run: Running): void => {
    if (!run.logic.active) return;
    const image = run.logic.latestImage;
    for (const broker of image.brokers.values()) {
      if (broker.fenced || run.watched.get(broker.brokerId) === broker.brokerEpoch) continue;
      run.watched.set(broker.brokerId, broker.brokerEpoch);
      // So the watch can reach a broker that has not dialed us yet (a non-voter), dial its registered address.
      if (!dialed.has(broker.brokerId)) {
        node.addPeer(nodeIdOf(broker.brokerId), `${urlScheme}//${broker.host}:${broker.port}`);
        dialed.add(broker.brokerId);
      }
      node.watch(ctx.self, { node: nodeIdOf(broker.brokerId), path: clientPathOfBroker });
      ctx.log.debug({ brokerId: broker.brokerId, brokerEpoch: broker.brokerEpoch }, controllerEvents.brokerWatched);
    }
    for (const [brokerId] of run.watched) {
      const broker = image.brokers.get(brokerId);
      if (broker !== undefined && !broker.fenced) continue;
      run.watched.delete(brokerId);
      node.unwatch(ctx.self, { node: nodeIdOf(brokerId), path: clientPathOfBroker });
    }
  };

  // ---------------------------------------------------------------- the Ready loop

  const drive = (ctx: ActorContext<Incoming>, state: State): void => {
    const run = state.running;
    if (run === null || run.readyInFlight !== null || !run.raft.hasReady()) return;
    const ready = run.raft.ready();
    run.readyInFlight = ready;
    if (ready.softState !== undefined) ctx.log.info({ ...ready.softState }, controllerEvents.roleChanged);
    const gen = state.generation;
    const persisted = run.store.persist(ready);
    if (!ready.mustSync && ready.snapshotToPersist === undefined) {
      // Nothing to make durable before sending (a commit index alone): go on now; the store orders its own writes.
      persisted.catch((error: unknown) => node.tell<Incoming>(ctx.self, { type: 'StoreFailed', generation: gen, error }));
      onPersisted(ctx, state);
      return;
    }
    persisted.then(
      () => node.tell<Incoming>(ctx.self, { type: 'Persisted', generation: gen }),
      (error: unknown) => node.tell<Incoming>(ctx.self, { type: 'StoreFailed', generation: gen, error }),
    );
  };

  const onPersisted = (ctx: ActorContext<Incoming>, state: State): void => {
    const run = state.running;
    assert(run !== null && run.readyInFlight !== null, 'controller: Persisted without a Ready in flight');
    const ready = run.readyInFlight;
    // 2. send
    for (const message of ready.messages) sendRaft(message);
    // 3. apply
    if (ready.snapshotToPersist !== undefined) installSnapshot(ctx, run, ready.snapshotToPersist);
    for (const entry of ready.committedEntries) applyEntry(ctx, run, entry);
    for (const outcome of ready.voterChanges ?? []) answerVoterChange(ctx, run, outcome);
    // 4. advance
    run.readyInFlight = null;
    run.raft.advance(ready);
    followMembership(ctx, run);
    settleReplies(run);
    reconcileWatches(ctx, run);
    answerWaiters(state);
    maybeCompact(ctx, state);
    checkRole(ctx, run);
    drive(ctx, state);
  };

  const installSnapshot = (ctx: ActorContext<Incoming>, run: Running, snapshot: Snapshot): void => {
    const image = decodeImage(snapshot.data);
    // onRaftMessage refused an InstallSnapshot whose image does not decode, so this one was checked before it was persisted.
    assert(!isInvalid(image), `controller: snapshot ${snapshot.index} from the leader does not decode`);
    if (run.logic.active) deactivate(ctx, run, 'snapshot installed');
    run.logic = initialControllerState(controllerConfig, image);
    run.appliedIndex = snapshot.index;
    run.decoded.clear();
    ctx.log.info({ index: snapshot.index, term: snapshot.term }, controllerEvents.snapshotInstalled);
  };

  const applyEntry = (ctx: ActorContext<Incoming>, run: Running, entry: Entry): void => {
    if (entry.index <= run.appliedIndex) return;
    assert(entry.index === run.appliedIndex + 1, `controller: applying ${entry.index} after ${run.appliedIndex}`);
    // Config entries are Raft's (the core already follows them): nothing for the image.
    const checked = entry.data.length === 0 || entry.kind === 'Config' ? [] : checkRecords(entry.data, entry.index);
    if (isInvalid(checked)) {
      // Followers refuse such entries before persisting them (onRaftMessage); one can only be in the log from an
      // older version or a corrupt disk. Skip it as empty, as replay skips a record it cannot apply: never crash-loop on it.
      ctx.log.error({ index: entry.index, reason: checked.errorMessage }, controllerEvents.recordsSkipped);
    }
    const records = isInvalid(checked) ? [] : checked;
    cache(run, entry.index, records);
    const applied = applyCommittedEntry(run.logic, records, entry.index);
    run.logic = applied.state;
    if (applied.skipped.length > 0) {
      ctx.log.warn(
        { index: entry.index, skipped: applied.skipped.length, recordsSkippedCount: run.logic.recordsSkippedCount, first: applied.skipped.slice(0, 3) },
        controllerEvents.recordsSkipped,
      );
    }
    run.appliedIndex = entry.index;
    const activation = run.activation;
    if (activation !== null && activation.index === entry.index) {
      run.activation = null;
      if (run.raft.role === 'Leader' && run.raft.term === activation.term) {
        run.logic = becomeActive(run.logic, now());
        run.activeTerm = activation.term;
        run.lastRebalanceMs = now();
        ctx.log.info({ term: activation.term, index: entry.index }, controllerEvents.activated);
      }
    }
  };

  const settleReplies = (run: Running): void => {
    let settled = 0;
    for (const pending of run.pendingReplies) {
      if (pending.index > run.appliedIndex) break;
      // raft.ts: the entry committed at our index must have our term, else our proposal was lost.
      const committedTerm = run.raft.termAt(pending.index);
      const lost = committedTerm !== undefined && committedTerm !== pending.term;
      if (pending.replyTo !== null) node.tell(pending.replyTo, lost ? notController(run) : pending.reply);
      settled += 1;
    }
    if (settled > 0) run.pendingReplies.splice(0, settled);
  };

  const maybeCompact = (ctx: ActorContext<Incoming>, state: State): void => {
    const run = state.running!;
    const raft = run.raft;
    if (run.compacting || raft.appliedIndex - raft.snapshotIndex < logEntriesBeforeSnapshotMax) return;
    const index = raft.appliedIndex;
    assert(index === run.appliedIndex, 'controller: the image must be as of the compaction index');
    const snapshot = raft.compact(index, encodeImage(run.logic.committedImage));
    for (const key of run.decoded.keys()) if (key <= index) run.decoded.delete(key);
    run.compacting = true;
    const gen = state.generation;
    run.store.compact(snapshot).then(
      () => node.tell<Incoming>(ctx.self, { type: 'Compacted', generation: gen, index }),
      (error: unknown) => node.tell<Incoming>(ctx.self, { type: 'StoreFailed', generation: gen, error }),
    );
  };

  // ---------------------------------------------------------------- handlers

  const onRequest = (ctx: ActorContext<Incoming>, state: State, msg: ControllerRequest): void => {
    const run = state.running;
    if (run === null || !run.logic.active) {
      node.tell(msg.replyTo, notController(run));
      return;
    }
    const transferTarget = run.raft.transferTarget;
    if (transferTarget !== null) {
      // Proposals are paused while leadership moves: send the caller to the next leader.
      node.tell(msg.replyTo, { type: 'NotController', errorCode: ErrorCode.NOT_CONTROLLER, leaderId: transferTarget });
      return;
    }
    if (busy(run)) {
      node.tell(msg.replyTo, { type: 'ControllerError', errorCode: ErrorCode.THROTTLING_QUOTA_EXCEEDED, errorMessage: 'controller busy: too many uncommitted entries' });
      return;
    }
    runCommand(ctx, run, msg.command, msg.replyTo);
    drive(ctx, state);
  };

  const onFetch = (ctx: ActorContext<Incoming>, state: State, msg: FetchMetadata): void => {
    const run = state.running;
    const reply = run === null ? null : fetchReply(run, msg.fromOffset);
    if (reply !== null) {
      node.tell(msg.replyTo, reply);
      return;
    }
    const waitMs = Math.min(msg.maxWaitMs, messageLimits.fetchWaitMsMax);
    if (waitMs === 0 || state.fetchWaiters.size >= controllerLimits.fetchWaitersMax) {
      node.tell(msg.replyTo, { type: 'FetchMetadataReply', records: [], snapshot: null, highWatermark: run?.appliedIndex ?? -1 });
      return;
    }
    state.nextWaiterId += 1;
    const id = state.nextWaiterId;
    const cancel = ctx.scheduleOnce(waitMs, { type: 'FetchWaitExpired', generation: state.generation, waiterId: id });
    state.fetchWaiters.set(id, { id, fromOffset: msg.fromOffset, replyTo: msg.replyTo, cancel });
  };

  /**
   * The runtime declared a node down. If it hosts the Raft leader we follow,
   * the core may elect sooner than its election timeout (Raft.leaderLost); the
   * most common case is a refused connection (the process is gone), which
   * the runtime reports at once, where silence would take downAfterMs.
   */
  const onPeerDown = (ctx: ActorContext<Incoming>, state: State, downNodeId: string): void => {
    const run = state.running;
    if (run === null) return;
    const leaderId = run.raft.leaderId;
    if (leaderId === null || leaderId === brokerId || nodeIdOf(leaderId) !== downNodeId) return;
    ctx.log.info({ leaderId, term: run.raft.term }, controllerEvents.leaderLost);
    run.raft.leaderLost(leaderId);
    checkRole(ctx, run);
    drive(ctx, state);
  };

  const onTick = (ctx: ActorContext<Incoming>, state: State): void => {
    ctx.scheduleOnce(config.controllerTickMs, { type: 'Tick', generation: state.generation });
    const run = state.running;
    if (run === null) return;
    run.raft.tick();
    checkRole(ctx, run);
    settleResignations(state);
    const nowMs = now();
    if (run.logic.active && !busy(run) && run.raft.transferTarget === null) {
      const outcome = tickSessions(run.logic, nowMs);
      run.logic = outcome.state;
      if (outcome.records.length > 0 && propose(ctx, run, outcome.records)) {
        ctx.log.info({ brokerIds: outcome.fencedBrokerIds, why: 'session expired' }, controllerEvents.brokerFenced);
      }
      if (run.logic.active && controllerConfig.autoLeaderRebalanceEnable && nowMs - run.lastRebalanceMs >= config.leaderImbalanceCheckIntervalMs) {
        run.lastRebalanceMs = nowMs;
        runCommand(ctx, run, { type: 'AutoRebalance' }, null);
      }
    }
    if (nowMs - run.lastFlushMs >= controllerLimits.commitIndexFlushIntervalMs) {
      run.lastFlushMs = nowMs;
      const gen = state.generation;
      run.store.flushCommitIndex().catch((error: unknown) => node.tell<Incoming>(ctx.self, { type: 'StoreFailed', generation: gen, error }));
    }
    drive(ctx, state);
  };

  const onRaftMessage = (ctx: ActorContext<Incoming>, state: State, message: RaftProtocolMessage): void => {
    const run = state.running;
    if (run === null) return; // Raft tolerates loss: the sender retries.
    // Who may send Raft at all is controllerProtocol's to decide (it follows the configuration); the core judges the rest.
    if (message.to !== brokerId || message.from === brokerId) {
      ctx.log.warn({ from: message.from, to: message.to, kind: message.type }, controllerEvents.badInput);
      return;
    }
    // The core asserts what only a broken peer could send; check it here so a bad peer cannot crash us.
    const claimedMatchIndex =
      message.type === 'InstallSnapshotReply' || (message.type === 'AppendEntriesReply' && message.success) ? message.matchIndex : 0;
    if (claimedMatchIndex > run.raft.lastIndex && message.term === run.raft.term) {
      ctx.log.warn({ from: message.from, matchIndex: claimedMatchIndex, lastIndex: run.raft.lastIndex }, `${controllerEvents.badInput}: match beyond our log`);
      return;
    }
    // A follower checks what it is asked to persist: entries must be metadata records and a snapshot an image, so
    // nothing shape-invalid ever enters this log (replay then only has to skip records that do not apply).
    const refusal = refuseToPersist(message);
    if (refusal !== null) {
      ctx.log.warn({ from: message.from, kind: message.type, term: message.term, reason: refusal }, controllerEvents.entriesRefused);
      return; // dropped: the leader retries, and a hostile or broken one never gets it into our log
    }
    run.raft.step(message);
    followMembership(ctx, run);
    checkRole(ctx, run);
    settleResignations(state);
    drive(ctx, state);
  };

  const onTerminated = (ctx: ActorContext<Incoming>, state: State, msg: Terminated): void => {
    const run = state.running;
    if (run === null || !run.logic.active || msg.ref.path !== clientPathOfBroker) return;
    const watchedBrokerId = Number(msg.ref.node);
    const brokerEpoch = run.watched.get(watchedBrokerId);
    if (brokerEpoch === undefined) return;
    run.watched.delete(watchedBrokerId);
    ctx.log.info({ brokerId: watchedBrokerId, brokerEpoch, reason: msg.reason }, 'controller.broker_terminated');
    if (busy(run) || run.raft.transferTarget !== null) return; // the session timeout (of this or the next controller) fences it instead
    runCommand(ctx, run, { type: 'FenceBroker', brokerId: watchedBrokerId, brokerEpoch }, null);
    drive(ctx, state);
  };

  const describe = (state: State): DescribeQuorumReply => {
    const run = state.running;
    const members = { voters: [...membership.voters], learners: [...membership.learners], observer: !isMemberOf(membership, brokerId) };
    if (run === null) {
      return { type: 'DescribeQuorumReply', brokerId, role: 'Opening', leaderId: null, active: false, term: 0, commitIndex: 0, appliedIndex: 0, snapshotIndex: 0, lastIndex: 0, ...members };
    }
    const raft = run.raft;
    return {
      type: 'DescribeQuorumReply',
      brokerId,
      role: raft.role,
      leaderId: raft.leaderId,
      active: run.logic.active,
      term: raft.term,
      commitIndex: raft.commitIndex,
      appliedIndex: run.appliedIndex,
      snapshotIndex: raft.snapshotIndex,
      lastIndex: raft.lastIndex,
      ...members,
    };
  };

  // ---------------------------------------------------------------- voter changes

  /** After the core's log moved: the guard and describe follow its configuration; members without a link get dialed. */
  const followMembership = (ctx: ActorContext<Incoming>, run: Running): void => {
    const next = run.raft.membership;
    if (next !== membership) {
      ctx.log.info({ voters: next.voters, learners: next.learners, voter: isVoterOf(next, brokerId) }, controllerEvents.membershipChanged);
      membership = next;
    }
    for (const id of [...membership.voters, ...membership.learners]) {
      if (dialed.has(id)) continue;
      // A member's address is its registration (AddVoter requires one); not known yet here: try after the next Ready.
      const broker = run.logic.committedImage.brokers.get(id) ?? run.logic.latestImage.brokers.get(id);
      if (broker === undefined) continue;
      node.addPeer(nodeIdOf(id), `${urlScheme}//${broker.host}:${broker.port}`);
      dialed.add(id);
    }
  };

  const voterChangeReply = (run: Running, errorCode: number, errorMessage: string | null): VoterChangeReply => ({
    type: 'VoterChangeReply',
    errorCode,
    errorMessage,
    voters: [...run.raft.membership.voters],
    learners: [...run.raft.membership.learners],
  });

  const onVoterChange = (ctx: ActorContext<Incoming>, state: State, msg: VoterChange): void => {
    const run = state.running;
    if (run === null || !run.logic.active) {
      node.tell(msg.replyTo, notController(run));
      return;
    }
    const { type, brokerId: id } = msg.change;
    if (run.voterChangeWaiter !== null) {
      node.tell(msg.replyTo, voterChangeReply(run, ErrorCode.REQUEST_TIMED_OUT, 'another voter change is in progress: retry when it finished'));
      return;
    }
    if (type === 'AddVoter' && !isVoterOf(run.raft.membership, id) && run.logic.committedImage.brokers.get(id) === undefined) {
      node.tell(msg.replyTo, voterChangeReply(run, ErrorCode.INVALID_REQUEST, `broker ${id} is not registered: start it with the controller role (kactus broker --controller) first`));
      return;
    }
    const result: VoterChangeResult = run.raft.changeVoters({ type, id });
    ctx.log.info({ change: type, brokerId: id, result: result.type }, controllerEvents.voterChangeStarted);
    switch (result.type) {
      case 'Started':
        run.voterChangeWaiter = { change: msg.change, replyTo: msg.replyTo };
        break;
      case 'NotLeader':
        node.tell(msg.replyTo, notController(run));
        break;
      case 'LeadershipTransferInProgress':
        node.tell(msg.replyTo, { type: 'NotController', errorCode: ErrorCode.NOT_CONTROLLER, leaderId: result.transferTarget });
        break;
      case 'ChangeInProgress':
        node.tell(msg.replyTo, voterChangeReply(run, ErrorCode.REQUEST_TIMED_OUT, 'an earlier configuration change (or this leader\'s first entry) is not committed yet: retry'));
        break;
      case 'TooManyUncommitted':
        node.tell(msg.replyTo, voterChangeReply(run, ErrorCode.THROTTLING_QUOTA_EXCEEDED, 'controller busy: too many uncommitted entries'));
        break;
      case 'DuplicateVoter':
        node.tell(msg.replyTo, voterChangeReply(run, ErrorCode.DUPLICATE_VOTER, `broker ${id} is already a voter`));
        break;
      case 'VoterNotFound':
        node.tell(msg.replyTo, voterChangeReply(run, ErrorCode.VOTER_NOT_FOUND, `broker ${id} is not a voter`));
        break;
      case 'LastVoter':
        node.tell(msg.replyTo, voterChangeReply(run, ErrorCode.INVALID_REQUEST, `broker ${id} is the only voter: the quorum cannot lose it`));
        break;
      default:
        assertNever(result, 'voter change result');
    }
    followMembership(ctx, run);
    drive(ctx, state);
  };

  /** The core finished the change (reported in a Ready, now persisted): answer the operator. */
  const answerVoterChange = (ctx: ActorContext<Incoming>, run: Running, outcome: VoterChangeOutcome): void => {
    ctx.log.info({ change: outcome.change.type, brokerId: outcome.change.id, outcome: outcome.outcome, voters: outcome.membership.voters }, controllerEvents.voterChangeFinished);
    const waiter = run.voterChangeWaiter;
    if (waiter === null || waiter.change.brokerId !== outcome.change.id || waiter.change.type !== outcome.change.type) return;
    run.voterChangeWaiter = null;
    const reply = (errorCode: number, errorMessage: string | null): VoterChangeReply => ({
      type: 'VoterChangeReply',
      errorCode,
      errorMessage,
      voters: [...outcome.membership.voters],
      learners: [...outcome.membership.learners],
    });
    switch (outcome.outcome) {
      case 'Committed':
        node.tell(waiter.replyTo, reply(ErrorCode.NONE, null));
        return;
      case 'TimedOut':
        node.tell(
          waiter.replyTo,
          reply(ErrorCode.REQUEST_TIMED_OUT, `broker ${outcome.change.id} did not catch up with the metadata log within ${controllerLimits.voterCatchUpMs} ms (or the change did not commit); it is no learner any more`),
        );
        return;
      case 'Aborted':
        node.tell(waiter.replyTo, notController(run));
        return;
      default:
        assertNever(outcome.outcome, 'voter change outcome');
    }
  };

  const metadata = (state: State, topics: readonly string[] | null): GetMetadataReply => {
    const run = state.running;
    const image = run?.logic.committedImage ?? emptyImage;
    const controllerId = run === null ? -1 : run.logic.active ? brokerId : (run.raft.leaderId ?? -1);
    return {
      type: 'GetMetadataReply',
      offset: run?.appliedIndex ?? -1,
      response: buildMetadataResponse(image, { topics }, controllerId),
      brokers: [...image.brokers.values()].map((b) => ({ brokerId: b.brokerId, brokerEpoch: b.brokerEpoch, fenced: b.fenced })),
    };
  };

  // ---------------------------------------------------------------- behaviour

  return node.spawn<State, Incoming>(controllerActorName, {
    accepts: controllerProtocol(() => membership),
    init: (ctx) => {
      generation += 1;
      const gen = generation;
      const previous = openStore;
      openStore = undefined;
      const opening = (previous?.close() ?? Promise.resolve()).then(() => MetadataStore.open(config.dataDir, ctx.log));
      opening.then(
        ({ store, recovered }) => {
          openStore = store;
          const image = recovered.snapshot === null ? emptyImage : decodeImage(recovered.snapshot.data);
          if (isInvalid(image)) {
            node.tell<Incoming>(ctx.self, { type: 'OpenFailed', generation: gen, error: new Error(`snapshot does not decode: ${image.errorMessage}`) });
            return;
          }
          const raft = Raft.restore(raftConfig, rng, recovered);
          ctx.log.info(
            { term: recovered.hardState.term, commitIndex: recovered.hardState.commitIndex, entries: recovered.entries.length, snapshotIndex: recovered.snapshot?.index ?? 0, truncatedBytes: recovered.truncatedBytes },
            controllerEvents.opened,
          );
          node.tell<Incoming>(ctx.self, { type: 'Opened', generation: gen, store, raft, image, appliedIndex: recovered.snapshot?.index ?? 0 });
        },
        (error: unknown) => node.tell<Incoming>(ctx.self, { type: 'OpenFailed', generation: gen, error }),
      );
      ctx.scheduleOnce(config.controllerTickMs, { type: 'Tick', generation: gen });
      peerStatus?.unsubscribe();
      peerStatus = node.statusChanges.subscribe((event) => {
        if (event.status === 'down') node.tell<Incoming>(ctx.self, { type: 'PeerDown', generation: gen, nodeId: event.nodeId });
      });
      const initial: State = { generation: gen, resignations: [], running: null, fetchWaiters: new Map(), nextWaiterId: 0 };
      // The handlers mutate this state object in place (they return it), so the reader sees the live quorum state.
      descriptions.set(node, () => describe(initial));
      return initial;
    },

    receive: (state, raw, ctx) => {
      if (isInternal(raw)) return onInternal(ctx, state, raw);
      const msg = validateControllerMessage(raw);
      if (isInvalid(msg)) {
        ctx.log.warn({ errorCode: msg.errorCode }, `${controllerEvents.badInput}: ${msg.errorMessage}`);
        if (msg.replyTo !== null) node.tell(msg.replyTo, { type: 'ControllerError', errorCode: msg.errorCode, errorMessage: msg.errorMessage });
        return state;
      }
      switch (msg.type) {
        case 'ControllerRequest':
          onRequest(ctx, state, msg);
          return state;
        case 'FetchMetadata':
          onFetch(ctx, state, msg);
          return state;
        case 'RaftMessage':
          onRaftMessage(ctx, state, msg.message);
          return state;
        case 'DescribeQuorum':
          node.tell(msg.replyTo, describe(state));
          return state;
        case 'VoterChange':
          onVoterChange(ctx, state, msg);
          return state;
        case 'GetMetadata':
          node.tell(msg.replyTo, metadata(state, msg.topics));
          return state;
        case 'Terminated':
          onTerminated(ctx, state, msg);
          return state;
        default:
          return assertNever(msg, 'controller message');
      }
    },

    stopped: (state) => {
      peerStatus?.unsubscribe();
      peerStatus = undefined;
      for (const waiter of state?.fetchWaiters.values() ?? []) waiter.cancel();
      const store = openStore;
      openStore = undefined;
      void (store?.close() ?? Promise.resolve()).finally(markClosed);
    },
  });

  function onInternal(ctx: ActorContext<Incoming>, state: State, msg: Internal): State {
    if (msg.type === 'Resign') {
      resign(ctx, state, msg.done);
      return state;
    }
    if (msg.generation !== state.generation) {
      if (msg.type === 'Opened') void msg.store.close();
      return state;
    }
    switch (msg.type) {
      case 'Opened':
        state.running = {
          raft: msg.raft,
          store: msg.store,
          logic: initialControllerState(controllerConfig, msg.image),
          appliedIndex: msg.appliedIndex,
          readyInFlight: null,
          activation: null,
          activeTerm: null,
          lastProposedIndex: 0,
          pendingReplies: [],
          watched: new Map(),
          compacting: false,
          lastRebalanceMs: now(),
          lastFlushMs: now(),
          decoded: new Map(),
          snapshotView: null,
          voterChangeWaiter: null,
        };
        followMembership(ctx, state.running);
        drive(ctx, state);
        answerWaiters(state);
        return state;
      case 'OpenFailed':
        throw msg.error instanceof Error ? msg.error : new Error(String(msg.error));
      case 'Tick':
        onTick(ctx, state);
        return state;
      case 'PeerDown':
        onPeerDown(ctx, state, msg.nodeId);
        return state;
      case 'Persisted':
        onPersisted(ctx, state);
        return state;
      case 'StoreFailed':
        throw new Error(`controller: metadata store failed: ${(msg.error as Error)?.message ?? String(msg.error)}`);
      case 'Compacted': {
        const run = state.running;
        if (run !== null) {
          run.compacting = false;
          ctx.log.info({ index: msg.index }, controllerEvents.compacted);
        }
        return state;
      }
      case 'FetchWaitExpired': {
        const waiter = state.fetchWaiters.get(msg.waiterId);
        if (waiter === undefined) return state;
        state.fetchWaiters.delete(msg.waiterId);
        const run = state.running;
        const reply = run === null ? null : fetchReply(run, waiter.fromOffset);
        node.tell(waiter.replyTo, reply ?? { type: 'FetchMetadataReply', records: [], snapshot: null, highWatermark: run?.appliedIndex ?? -1 });
        return state;
      }
      default:
        return assertNever(msg, 'controller internal message');
    }
  }
}

/**
 * Asks the local controller to hand its leadership to another voter (graceful
 * shutdown). Resolves when it leads no more, at once if it did not lead, or
 * after `timeoutMs` (an unfinished transfer is abandoned by the core).
 */
export function resignLeadership(node: Node, timeoutMs: number): Promise<void> {
  if (!node.hasActor(controllerPath)) return Promise.resolve();
  return new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, timeoutMs);
    const done = (): void => {
      clearTimeout(timer);
      resolve();
    };
    const refusal = node.tell<Incoming>({ node: node.nodeId, path: controllerPath }, { type: 'Resign', generation: 0, done });
    if (refusal !== 0) done();
  });
}

/** Where the broker-side client lives on every broker node (the death watch target). */
export const clientPathOfBroker = '/controller-client';

/** The /controller of a voter. */
export function controllerRef(brokerId: number): Ref<ControllerMessage> {
  return { node: nodeIdOf(brokerId), path: controllerPath };
}
