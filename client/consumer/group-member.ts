/**
 * One consumer's membership in its group: find the coordinator, join, sync,
 * heartbeat, leave; the leader runs the assignor (Kafka's ConsumerCoordinator
 * and AbstractCoordinator, reduced).
 *
 * Owns: the member id and generation, the partitions the member owns, and
 * two loops on timers that never wait for user code:
 * - the main loop: (re)discovers the coordinator, and when a (re)join is
 *   needed runs JoinGroup -> (leader: assign) -> SyncGroup and hands the
 *   assignment changes to the listener;
 * - the heartbeat loop: every heartbeatIntervalMs while the member has a
 *   generation and no join/sync is in flight. A slow handler does not delay
 *   it (it only sleeps on timers and awaits the network), so slow processing
 *   never causes rebalance storms.
 * The poll check runs in the heartbeat loop too: when the listener reports no
 * progress for maxPollIntervalMs while records are outstanding (a stuck
 * handler), the member leaves the group (its partitions are lost, as in
 * Kafka), and rejoins once the handler makes progress again.
 *
 * Rebalance protocol. The group selects one assignor; we follow its protocol:
 * - eager (range, roundrobin): before (re)joining, every owned partition is
 *   revoked (the listener commits what finished);
 * - cooperative (cooperative-sticky): the member keeps its partitions through
 *   the join and sends them as ownedPartitions; after SyncGroup it revokes
 *   only those no longer assigned, and if it revoked any it rejoins at once so
 *   the leader can hand them to their new owner (KIP-429's two rounds).
 * Before the first generation nothing is owned, so the first join is the
 * same for both. Kafka picks eager for a list that holds any eager-only
 * assignor (its upgrade path); we follow the protocol the group actually
 * selected last time, so the default ['cooperative-sticky', 'range'] behaves
 * cooperatively once every member offers cooperative-sticky. The price: if a
 * range-only member later joins a cooperative group, old owners revoke after
 * the new assignment rather than before joining (a short overlap).
 *
 * Errors (Kafka's handling): MEMBER_ID_REQUIRED -> rejoin with the given id;
 * UNKNOWN_MEMBER_ID, ILLEGAL_GENERATION, FENCED_INSTANCE_ID -> owned
 * partitions are lost, reset and rejoin; REBALANCE_IN_PROGRESS -> rejoin;
 * NOT_COORDINATOR, COORDINATOR_NOT_AVAILABLE, COORDINATOR_LOAD_IN_PROGRESS
 * and network errors -> find the coordinator again and retry; anything else
 * non-retriable (INVALID_GROUP_ID, INCONSISTENT_GROUP_PROTOCOL,
 * INVALID_SESSION_TIMEOUT, GROUP_MAX_SIZE_REACHED, ...) is fatal: reported
 * once through `onFatal`, and the member stops.
 *
 * The coordinator is reached through `GroupTransport` (a three-method
 * interface, so tests drive the member against the real group logic).
 * Instrumentation events (GROUP_JOIN, REBALANCING, HEARTBEAT,
 * COMMIT_OFFSETS) go to the consumer's `ConsumerInstrumentation` if given.
 * With metrics (../metrics.ts): each completed (re)join counts as a
 * rebalance, with its duration from the start of the join to the assignment
 * taking effect (revocation commits included); each commit its duration and,
 * failed, its error. Joins and commits run inside the kactus:consumer:rebalance
 * and kactus:consumer:commit tracing channels when they have subscribers.
 *
 * Imports: protocol/errors.ts, actors/group-coordinator/{consumer-protocol,
 * assignors} (pure codecs and assignors the group leader runs, as in Kafka:
 * they belong in protocol/ and should move there; client/ imports nothing
 * else from actors/), ../metrics.ts (types), ../diagnostics.ts, ./types.ts.
 */
import { ErrorCode, KactusError, errorInfo } from '../../protocol/errors.ts';
import { consumerProtocolType, decodeAssignment, decodeSubscription, encodeSubscription } from '../../protocol/consumer/consumer-protocol.ts';
import { assignForSync, assignorsByName } from '../../protocol/consumer/assignors/index.ts';
import { backoffMs, type RetryPolicy } from '../retry.ts';
import type { ConsumerMetrics } from '../metrics.ts';
import { consumerCommitChannel, consumerRebalanceChannel, nextOperationId, type ConsumerCommitContext, type ConsumerRebalanceContext } from '../diagnostics.ts';
import type { ConsumerInstrumentation } from './events.ts';
import { compareTp, offsetsByTopic, tpKey, type TopicPartition } from './types.ts';

// ---------------------------------------------------------------- wire shapes (the `/groups` actor)

type ReplyTo = { readonly node: string; readonly path: string };

export type GroupRequest =
  | { type: 'JoinGroup'; groupId: string; memberId: string; groupInstanceId: string | null; clientId: string; clientHost: string; sessionTimeoutMs: number; rebalanceTimeoutMs: number; protocolType: string; protocols: { name: string; metadata: Uint8Array }[]; reason: string | null; replyTo: ReplyTo }
  | { type: 'SyncGroup'; groupId: string; memberId: string; groupInstanceId: string | null; generationId: number; protocolType: string | null; protocolName: string | null; assignments: { memberId: string; assignment: Uint8Array }[]; replyTo: ReplyTo }
  | { type: 'Heartbeat'; groupId: string; memberId: string; groupInstanceId: string | null; generationId: number; replyTo: ReplyTo }
  | { type: 'LeaveGroup'; groupId: string; members: { memberId: string; groupInstanceId: string | null; reason: string | null }[]; replyTo: ReplyTo }
  | { type: 'OffsetCommit'; groupId: string; memberId: string; groupInstanceId: string | null; generationId: number; offsets: { topic: string; partition: number; offset: number; leaderEpoch: number; metadata: string | null }[]; replyTo: ReplyTo }
  | { type: 'OffsetFetch'; groupId: string; partitions: { topic: string; partition: number }[] | null; requireStable?: boolean; replyTo: ReplyTo };

export type JoinGroupReply = { type: 'JoinGroupReply'; errorCode: number; generationId: number; protocolType: string | null; protocolName: string | null; leader: string; skipAssignment: boolean; memberId: string; members: { memberId: string; groupInstanceId: string | null; metadata: Uint8Array }[] };
export type SyncGroupReply = { type: 'SyncGroupReply'; errorCode: number; protocolType: string | null; protocolName: string | null; assignment: Uint8Array };
export type HeartbeatReply = { type: 'HeartbeatReply'; errorCode: number };
export type LeaveGroupReply = { type: 'LeaveGroupReply'; errorCode: number };
export type OffsetCommitReply = { type: 'OffsetCommitReply'; results: { topic: string; partition: number; errorCode: number }[] };
export type OffsetFetchReply = { type: 'OffsetFetchReply'; errorCode: number; offsets: { topic: string; partition: number; offset: number; leaderEpoch: number; metadata: string; errorCode: number }[] };

/** Without the replyTo: what the member hands the transport. */
export type GroupRequestBody = GroupRequest extends infer R ? (R extends { replyTo: ReplyTo } ? Omit<R, 'replyTo'> : never) : never;

/** How the member reaches the coordinator (real: `/groups` over the client's connection; tests: a fake). */
export interface GroupTransport {
  /** The coordinator's node id for `groupId`; rejects with a KactusError (retriable ones are retried by the caller). */
  findCoordinator(groupId: string): Promise<number>;
  /** One request to the coordinator; rejects with a KactusError on timeout or a dropped link. */
  request<R>(coordinatorId: number, body: GroupRequestBody, timeoutMs: number): Promise<R>;
  /** Partition count of each existing topic among `topics` (the leader's input to the assignor). */
  partitionCounts(topics: readonly string[]): Promise<Map<string, number>>;
}

/** What the member tells the consumer; the promises are awaited (revocation commits first). */
export interface MembershipListener {
  /** The topics to subscribe to now (a pattern resolved against metadata). */
  subscribedTopics(): readonly string[];
  onAssigned(partitions: readonly TopicPartition[], generationId: number): Promise<void>;
  onRevoked(partitions: readonly TopicPartition[], generationId: number): Promise<void>;
  onLost(partitions: readonly TopicPartition[], generationId: number): Promise<void>;
  /** ms since the subscriber last finished a record while records were outstanding (0: not stalled). */
  stalledMs(): number;
  onFatal(err: KactusError): void;
}

export type GroupMemberConfig = {
  readonly groupId: string;
  readonly groupInstanceId: string | null;
  readonly clientId: string;
  readonly sessionTimeoutMs: number;
  readonly heartbeatIntervalMs: number;
  readonly rebalanceTimeoutMs: number;
  readonly maxPollIntervalMs: number;
  readonly requestTimeoutMs: number;
  /** Assignor names in order of preference. */
  readonly assignors: readonly string[];
  readonly retry: RetryPolicy;
  /** read_committed: OffsetFetch waits for offsets of undecided transactions (KIP-447). */
  readonly requireStable?: boolean;
};

/** Extra time a parked JoinGroup/SyncGroup may take beyond the rebalance timeout. */
const joinTimeoutMsSlack = 5_000;
/** How long stop() waits for the loops (a parked JoinGroup) before leaving anyway. */
const stopWaitMs = 2_000;
/** OffsetFetch attempts while a transaction's offsets are undecided (UNSTABLE_OFFSET_COMMIT), each after a backoff. */
const unstableAttemptsMax = 100;
/** Coordinator lookups in a row before the member gives up on a request (each waits a backoff). */
const coordinatorAttemptsMax = 50;

const coordinatorErrors: ReadonlySet<number> = new Set([ErrorCode.NOT_COORDINATOR, ErrorCode.COORDINATOR_NOT_AVAILABLE, ErrorCode.COORDINATOR_LOAD_IN_PROGRESS]);
const fencedErrors: ReadonlySet<number> = new Set([ErrorCode.UNKNOWN_MEMBER_ID, ErrorCode.ILLEGAL_GENERATION, ErrorCode.FENCED_INSTANCE_ID]);

export type MemberPhase = 'unjoined' | 'joining' | 'stable' | 'left' | 'stopped';

export class GroupMember {
  memberId = '';
  generationId = -1;
  protocolName: string | null = null;
  phase: MemberPhase = 'unjoined';
  /** Joins completed (tests and logs). */
  joinCount = 0;
  private owned: TopicPartition[] = [];
  private coordinatorId: number | undefined;
  private rejoinReason: string | null = 'initial join';
  private requestInFlight = false;
  private heartbeatInFlight = false;
  private stopping = false;
  private wakeMain: (() => void) | undefined;
  private wakeHeartbeat: (() => void) | undefined;
  private mainDone: Promise<void> = Promise.resolve();
  private heartbeatDone: Promise<void> = Promise.resolve();
  private lastHeartbeatOkMs = 0;
  private stableWaiters: (() => void)[] = [];

  constructor(
    private readonly config: GroupMemberConfig,
    private readonly transport: GroupTransport,
    private readonly listener: MembershipListener,
    private readonly events?: ConsumerInstrumentation,
    private readonly metrics?: ConsumerMetrics,
  ) {}

  get ownedPartitions(): readonly TopicPartition[] {
    return this.owned;
  }

  start(): void {
    this.mainDone = this.mainLoop();
    this.heartbeatDone = this.heartbeatLoop();
  }

  /** Asks for a rejoin (subscription changed, a cooperative second round). */
  requestRejoin(reason: string): void {
    if (this.rejoinReason === null) this.rejoinReason = reason;
    this.wakeMain?.();
  }

  /** Resolves when the member is stable (or after `timeoutMs`). */
  whenStable(timeoutMs: number): Promise<void> {
    if (this.phase === 'stable' && this.rejoinReason === null) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, timeoutMs);
      this.stableWaiters.push(() => (clearTimeout(timer), resolve()));
    });
  }

  /**
   * eachBatch's heartbeat(): a heartbeat now if one is due (heartbeatIntervalMs since the last answered one) and
   * none is in flight. The heartbeat loop runs on its own timer whatever the handler does; this exists for
   * KafkaJS code that calls it in long batches, and costs nothing when not due.
   */
  async heartbeatIfDue(): Promise<void> {
    if (this.phase !== 'stable' || this.requestInFlight || this.coordinatorId === undefined || this.heartbeatInFlight) return;
    if (Date.now() - this.lastHeartbeatOkMs < this.config.heartbeatIntervalMs) return;
    await this.heartbeat();
  }

  // ------------------------------------------------------------ requests any layer may send

  /** OffsetCommit in the current generation; rejects with a KactusError naming the first failed partition. */
  async commitOffsets(offsets: readonly { topic: string; partition: number; offset: number }[]): Promise<void> {
    if (offsets.length === 0) return;
    const commit = (): Promise<void> => this.commitOffsetsOnce(offsets);
    let promise: Promise<void>;
    if (consumerCommitChannel.hasSubscribers) {
      const context: ConsumerCommitContext = { operationId: nextOperationId(), clientId: this.config.clientId, groupId: this.config.groupId, memberId: this.memberId, generationId: this.generationId, offsets };
      promise = consumerCommitChannel.tracePromise(commit, context);
    } else promise = commit();
    const metrics = this.metrics;
    if (metrics === undefined) return promise;
    const startedMs = performance.now();
    try {
      await promise;
    } catch (err) {
      metrics.committed(performance.now() - startedMs, err);
      throw err;
    }
    metrics.committed(performance.now() - startedMs, undefined);
  }

  private async commitOffsetsOnce(offsets: readonly { topic: string; partition: number; offset: number }[]): Promise<void> {
    if (this.memberId === '' || this.generationId < 0) throw new KactusError(ErrorCode.REBALANCE_IN_PROGRESS, `group ${this.config.groupId}: cannot commit while not a member of a generation`);
    const reply = await this.coordinatorRequest<OffsetCommitReply>(
      {
        type: 'OffsetCommit',
        groupId: this.config.groupId,
        memberId: this.memberId,
        groupInstanceId: this.config.groupInstanceId,
        generationId: this.generationId,
        offsets: offsets.map((o) => ({ topic: o.topic, partition: o.partition, offset: o.offset, leaderEpoch: -1, metadata: null })),
      },
      this.config.requestTimeoutMs,
      (r) => r.results.find((p) => coordinatorErrors.has(p.errorCode))?.errorCode ?? 0,
    );
    const failed = reply.results.find((p) => p.errorCode !== 0);
    if (failed === undefined) {
      if (this.events?.wants('consumer.commit_offsets')) this.events.emit('consumer.commit_offsets', { groupId: this.config.groupId, memberId: this.memberId, groupGenerationId: this.generationId, topics: offsetsByTopic(offsets) });
      return;
    }
    if (fencedErrors.has(failed.errorCode)) this.requestRejoin(`commit: ${errorInfo(failed.errorCode).name}`);
    throw new KactusError(failed.errorCode, `group ${this.config.groupId}: commit of topic "${failed.topic}" partition ${failed.partition} failed`);
  }

  /**
   * Committed offsets (-1: none) of these partitions. With `requireStable`
   * (read_committed, KIP-447) a partition whose offset a transaction has not
   * decided yet answers UNSTABLE_OFFSET_COMMIT: asked again after a backoff
   * (at most unstableAttemptsMax times), so a consumer never starts before an
   * offset a committing transaction is about to make visible.
   */
  async fetchOffsets(partitions: readonly TopicPartition[]): Promise<Map<string, number>> {
    const requireStable = this.config.requireStable === true;
    let reply: OffsetFetchReply;
    for (let attempt = 0; ; attempt += 1) {
      reply = await this.coordinatorRequest<OffsetFetchReply>(
        { type: 'OffsetFetch', groupId: this.config.groupId, partitions: partitions.map((p) => ({ topic: p.topic, partition: p.partition })), ...(requireStable ? { requireStable } : {}) },
        this.config.requestTimeoutMs,
        (r) => (r.errorCode !== 0 ? r.errorCode : (r.offsets.find((o) => o.errorCode !== 0)?.errorCode ?? 0)),
      );
      const unstable = reply.errorCode === ErrorCode.UNSTABLE_OFFSET_COMMIT || reply.offsets.some((o) => o.errorCode === ErrorCode.UNSTABLE_OFFSET_COMMIT);
      if (!unstable) break;
      if (attempt + 1 >= unstableAttemptsMax || this.stopping) throw new KactusError(ErrorCode.UNSTABLE_OFFSET_COMMIT, `group ${this.config.groupId}: committed offsets still undecided by a transaction after ${attempt + 1} attempts`);
      await new Promise((r) => setTimeout(r, backoffMs(attempt, this.config.retry, Math.random())));
    }
    const out = new Map<string, number>();
    for (const p of partitions) out.set(tpKey(p.topic, p.partition), -1);
    for (const o of reply.offsets) if (o.errorCode === 0) out.set(tpKey(o.topic, o.partition), o.offset);
    return out;
  }

  /** Leaves the group (after the caller revoked and committed); idempotent. */
  async stop(): Promise<void> {
    if (this.stopping) return this.mainDone;
    this.stopping = true;
    this.wakeMain?.();
    this.wakeHeartbeat?.();
    // A JoinGroup may be parked at the coordinator for up to the rebalance timeout: do not wait
    // for it; the LeaveGroup below answers it.
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([Promise.all([this.mainDone, this.heartbeatDone]), new Promise((r) => (timer = setTimeout(r, stopWaitMs)))]);
    clearTimeout(timer);
    await this.leave('consumer stopped');
    this.phase = 'stopped';
    for (const w of this.stableWaiters.splice(0)) w();
  }

  // ------------------------------------------------------------ loops

  private async mainLoop(): Promise<void> {
    let failures = 0;
    while (!this.stopping) {
      if (this.phase === 'left') {
        // Left after a stuck handler: rejoin once it makes progress again.
        if (this.listener.stalledMs() === 0) {
          this.phase = 'unjoined';
          this.rejoinReason = 'handler made progress after max.poll.interval.ms';
        } else {
          await this.sleep(Math.min(1_000, this.config.heartbeatIntervalMs), 'main');
          continue;
        }
      }
      if (this.rejoinReason === null) {
        await this.sleep(this.config.heartbeatIntervalMs, 'main');
        continue;
      }
      try {
        await this.joinAndSync();
        failures = 0;
      } catch (err) {
        if (this.stopping) break;
        // REBALANCE_IN_PROGRESS is not retriable in Kafka's table (the member must rejoin, not retry
        // the same request), which is exactly what this loop does next: it is never fatal here.
        const rejoin = err instanceof KactusError && err.code === ErrorCode.REBALANCE_IN_PROGRESS;
        if (rejoin && this.rejoinReason === null) this.rejoinReason = err.message;
        if (!rejoin && (!(err instanceof KactusError) || !err.retriable)) {
          const fatal = err instanceof KactusError ? err : new KactusError(ErrorCode.UNKNOWN_SERVER_ERROR, `group ${this.config.groupId}: ${String(err)}`, { cause: err });
          this.stopping = true;
          this.phase = 'stopped';
          this.listener.onFatal(fatal);
          break;
        }
        await this.sleep(backoffMs(failures, this.config.retry, Math.random()), 'main');
        failures += 1;
      }
    }
  }

  private async heartbeatLoop(): Promise<void> {
    while (!this.stopping) {
      await this.sleep(this.config.heartbeatIntervalMs, 'heartbeat');
      if (this.stopping) break;
      if (this.phase === 'stable' && this.listener.stalledMs() > this.config.maxPollIntervalMs) {
        await this.leaveAfterStall();
        continue;
      }
      if (this.phase !== 'stable' || this.requestInFlight || this.coordinatorId === undefined) continue;
      await this.heartbeat();
    }
  }

  private async heartbeat(): Promise<void> {
    const generationId = this.generationId;
    const coordinatorId = this.coordinatorId!;
    let errorCode: number;
    this.heartbeatInFlight = true;
    try {
      const reply = await this.transport.request<HeartbeatReply>(
        coordinatorId,
        { type: 'Heartbeat', groupId: this.config.groupId, memberId: this.memberId, groupInstanceId: this.config.groupInstanceId, generationId },
        Math.min(this.config.requestTimeoutMs, this.config.sessionTimeoutMs),
      );
      errorCode = reply.errorCode;
    } catch (err) {
      errorCode = err instanceof KactusError ? err.code : ErrorCode.NETWORK_EXCEPTION;
    } finally {
      this.heartbeatInFlight = false;
    }
    if (generationId !== this.generationId || this.phase !== 'stable') return;
    if (errorCode === 0) {
      this.lastHeartbeatOkMs = Date.now();
      if (this.events?.wants('consumer.heartbeat')) this.events.emit('consumer.heartbeat', { groupId: this.config.groupId, memberId: this.memberId, groupGenerationId: generationId });
      return;
    }
    if (errorCode === ErrorCode.REBALANCE_IN_PROGRESS) return this.requestRejoin('the group is rebalancing');
    if (fencedErrors.has(errorCode)) {
      await this.loseAll(errorCode);
      return this.requestRejoin(`heartbeat: ${errorInfo(errorCode).name}`);
    }
    // Coordinator moved or unreachable: find it again; the main loop rejoins if the generation is gone.
    this.coordinatorId = undefined;
    this.wakeMain?.();
    this.requestRejoinIfSessionLost();
  }

  private requestRejoinIfSessionLost(): void {
    if (this.lastHeartbeatOkMs > 0 && Date.now() - this.lastHeartbeatOkMs > this.config.sessionTimeoutMs) this.requestRejoin('no heartbeat answered within the session timeout');
  }

  // ------------------------------------------------------------ join / sync

  private cooperative(): boolean {
    if (this.protocolName === null) return false;
    return assignorsByName.get(this.protocolName)?.supportedProtocols.includes('cooperative') ?? false;
  }

  /** One (re)join: joinAndSyncOnce, timed and counted (metrics on), traced (subscribers on). */
  private async joinAndSync(): Promise<void> {
    const reason = this.rejoinReason ?? 'rejoin';
    const startedMs = performance.now();
    if (consumerRebalanceChannel.hasSubscribers) {
      const context: ConsumerRebalanceContext = { operationId: nextOperationId(), clientId: this.config.clientId, groupId: this.config.groupId, memberId: this.memberId, reason };
      // tracePromise sets context.result to what joinAndSyncOnce resolves with.
      await consumerRebalanceChannel.tracePromise(() => this.joinAndSyncOnce(reason, startedMs), context);
    } else await this.joinAndSyncOnce(reason, startedMs);
    this.metrics?.rebalanced(performance.now() - startedMs);
  }

  private async joinAndSyncOnce(reason: string, startedMs: number): Promise<NonNullable<ConsumerRebalanceContext['result']>> {
    if (this.joinCount > 0) this.events?.emit('consumer.rebalancing', { groupId: this.config.groupId, memberId: this.memberId, reason });
    // Eager protocol: give everything back before joining.
    let revokedBeforeJoin: TopicPartition[] = [];
    if (!this.cooperative() && this.owned.length > 0) {
      const revoked = this.owned;
      revokedBeforeJoin = revoked;
      this.owned = [];
      await this.listener.onRevoked(revoked, this.generationId);
    }
    this.phase = 'joining';
    const topics = [...this.listener.subscribedTopics()].sort();
    const subscription = encodeSubscription({ topics, userData: null, ownedPartitions: this.owned, generationId: this.generationId, rackId: null });
    const joinTimeoutMs = this.config.rebalanceTimeoutMs + joinTimeoutMsSlack;
    let join = await this.coordinatorRequest<JoinGroupReply>(this.joinBody(subscription, reason), joinTimeoutMs, (r) => r.errorCode);
    if (join.errorCode === ErrorCode.MEMBER_ID_REQUIRED) {
      this.memberId = join.memberId;
      join = await this.coordinatorRequest<JoinGroupReply>(this.joinBody(subscription, reason), joinTimeoutMs, (r) => r.errorCode);
    }
    if (join.errorCode !== 0) return this.joinFailed(join.errorCode, 'JoinGroup');
    this.memberId = join.memberId;
    const generationId = join.generationId;
    const protocolName = join.protocolName;
    let assignments: { memberId: string; assignment: Uint8Array }[] = [];
    if (join.leader === this.memberId && !join.skipAssignment) assignments = await this.assign(join);
    const sync = await this.coordinatorRequest<SyncGroupReply>(
      { type: 'SyncGroup', groupId: this.config.groupId, memberId: this.memberId, groupInstanceId: this.config.groupInstanceId, generationId, protocolType: consumerProtocolType, protocolName, assignments },
      joinTimeoutMs,
      (r) => r.errorCode,
    );
    if (sync.errorCode !== 0) return this.joinFailed(sync.errorCode, 'SyncGroup');
    const decoded = decodeAssignment(sync.assignment);
    const assigned = decoded.ok ? [...decoded.value.assignedPartitions].sort(compareTp) : [];
    this.generationId = generationId;
    this.protocolName = protocolName;
    this.joinCount += 1;
    this.lastHeartbeatOkMs = Date.now();
    this.rejoinReason = null;
    this.phase = 'stable';
    const assignedKeys = new Set(assigned.map((p) => tpKey(p.topic, p.partition)));
    const ownedKeys = new Set(this.owned.map((p) => tpKey(p.topic, p.partition)));
    const revoked = this.owned.filter((p) => !assignedKeys.has(tpKey(p.topic, p.partition)));
    const added = assigned.filter((p) => !ownedKeys.has(tpKey(p.topic, p.partition)));
    this.owned = assigned;
    if (this.events?.wants('consumer.group_join')) {
      this.events.emit('consumer.group_join', {
        groupId: this.config.groupId,
        memberId: this.memberId,
        leaderId: join.leader,
        isLeader: join.leader === this.memberId,
        groupProtocol: protocolName,
        memberAssignment: partitionsByTopic(assigned),
        duration: Math.round(performance.now() - startedMs),
      });
    }
    if (revoked.length > 0) await this.listener.onRevoked(revoked, generationId);
    if (added.length > 0) await this.listener.onAssigned(added, generationId);
    // Cooperative second round: what we gave up can now go to its new owner.
    if (revoked.length > 0 && this.cooperative()) this.requestRejoin('revoked partitions for a cooperative rebalance');
    if (this.rejoinReason === null) for (const w of this.stableWaiters.splice(0)) w();
    return { generationId, memberId: this.memberId, protocol: protocolName, assigned, revoked: [...revokedBeforeJoin, ...revoked] };
  }

  private joinBody(subscription: Uint8Array, reason: string): GroupRequestBody {
    return {
      type: 'JoinGroup',
      groupId: this.config.groupId,
      memberId: this.memberId,
      groupInstanceId: this.config.groupInstanceId,
      clientId: this.config.clientId,
      clientHost: '',
      sessionTimeoutMs: this.config.sessionTimeoutMs,
      rebalanceTimeoutMs: this.config.rebalanceTimeoutMs,
      protocolType: consumerProtocolType,
      protocols: this.config.assignors.map((name) => ({ name, metadata: subscription })),
      reason,
    };
  }

  private async joinFailed(errorCode: number, api: string): Promise<never> {
    this.phase = 'unjoined';
    if (errorCode === ErrorCode.REBALANCE_IN_PROGRESS) throw new KactusError(errorCode, `group ${this.config.groupId}: ${api}`);
    if (fencedErrors.has(errorCode)) {
      await this.loseAll(errorCode);
      this.memberId = errorCode === ErrorCode.ILLEGAL_GENERATION ? this.memberId : '';
      throw new KactusError(ErrorCode.REBALANCE_IN_PROGRESS, `group ${this.config.groupId}: ${api} answered ${errorInfo(errorCode).name}; rejoining`);
    }
    throw new KactusError(errorCode, `group ${this.config.groupId}: ${api} failed`);
  }

  private async assign(join: JoinGroupReply): Promise<{ memberId: string; assignment: Uint8Array }[]> {
    const assignor = join.protocolName === null ? undefined : assignorsByName.get(join.protocolName);
    if (assignor === undefined) throw new KactusError(ErrorCode.UNSUPPORTED_ASSIGNOR, `group ${this.config.groupId}: the group chose assignor ${String(join.protocolName)}, which this client does not have`);
    const topics = new Set<string>();
    for (const m of join.members) {
      const s = decodeSubscription(m.metadata);
      if (s.ok) for (const t of s.value.topics) topics.add(t);
    }
    const counts = await this.transport.partitionCounts([...topics]);
    return assignForSync(assignor, join.members, counts).assignments;
  }

  private async loseAll(errorCode: number): Promise<void> {
    const lost = this.owned;
    const generationId = this.generationId;
    this.owned = [];
    this.generationId = -1;
    this.phase = this.phase === 'stable' ? 'unjoined' : this.phase;
    if (errorCode === ErrorCode.UNKNOWN_MEMBER_ID || errorCode === ErrorCode.FENCED_INSTANCE_ID) this.memberId = '';
    if (lost.length > 0) await this.listener.onLost(lost, generationId);
  }

  private async leaveAfterStall(): Promise<void> {
    await this.leave(`handler made no progress for max.poll.interval.ms (${this.config.maxPollIntervalMs} ms)`);
    const lost = this.owned;
    const generationId = this.generationId;
    this.owned = [];
    this.generationId = -1;
    this.memberId = '';
    this.phase = 'left';
    if (lost.length > 0) await this.listener.onLost(lost, generationId);
  }

  private async leave(reason: string): Promise<void> {
    if (this.memberId === '' || this.coordinatorId === undefined) return;
    const memberId = this.memberId;
    try {
      await this.transport.request<LeaveGroupReply>(this.coordinatorId, { type: 'LeaveGroup', groupId: this.config.groupId, members: [{ memberId, groupInstanceId: this.config.groupInstanceId, reason }] }, this.config.requestTimeoutMs);
    } catch {
      // The session timeout removes us anyway.
    }
  }

  // ------------------------------------------------------------ coordinator

  /**
   * Sends to the coordinator, finding it first; retries (with backoff) when
   * the coordinator moved, is loading or unreachable. `errorOf` reads the
   * reply's coordinator-level error code.
   */
  private async coordinatorRequest<R>(body: GroupRequestBody, timeoutMs: number, errorOf: (reply: R) => number): Promise<R> {
    for (let attempt = 0; ; attempt++) {
      if (this.stopping && body.type !== 'OffsetCommit' && body.type !== 'LeaveGroup') throw new KactusError(ErrorCode.REBALANCE_IN_PROGRESS, 'the member is stopping');
      let code = 0;
      let error: KactusError | undefined;
      try {
        if (this.coordinatorId === undefined) this.coordinatorId = await this.transport.findCoordinator(this.config.groupId);
        this.requestInFlight = body.type === 'JoinGroup' || body.type === 'SyncGroup' || this.requestInFlight;
        const reply = await this.transport.request<R>(this.coordinatorId, body, timeoutMs);
        code = errorOf(reply);
        if (!coordinatorErrors.has(code)) return reply;
      } catch (err) {
        if (!(err instanceof KactusError) || !err.retriable) throw err;
        error = err;
        code = err.code;
      } finally {
        if (body.type === 'JoinGroup' || body.type === 'SyncGroup') this.requestInFlight = false;
      }
      this.coordinatorId = undefined;
      if (attempt + 1 >= coordinatorAttemptsMax) throw error ?? new KactusError(code, `group ${this.config.groupId}: no coordinator after ${attempt + 1} attempts`);
      await new Promise((r) => setTimeout(r, backoffMs(attempt, this.config.retry, Math.random())));
    }
  }

  private sleep(ms: number, which: 'main' | 'heartbeat'): Promise<void> {
    if (this.stopping) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done(): void {
        clearTimeout(timer);
        resolve();
      }
      if (which === 'main') this.wakeMain = done;
      else this.wakeHeartbeat = done;
    });
  }
}

/** KafkaJS's GROUP_JOIN memberAssignment: partitions per topic. */
function partitionsByTopic(partitions: readonly TopicPartition[]): Record<string, number[]> {
  const out: Record<string, number[]> = {};
  for (const p of partitions) (out[p.topic] ??= []).push(p.partition);
  return out;
}
