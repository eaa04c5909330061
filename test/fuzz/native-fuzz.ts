/**
 * The native fuzzer: `runNativeFuzz(options) -> NativeFuzzResult`.
 *
 * Goal (issue 15, item 5): no frame from the network kills a broker, no
 * client acts as a peer, and a well-behaved client is served throughout with
 * its acknowledged records intact. Method:
 *
 *   1. start a real 3-broker cluster of processes (test/support/cluster.ts,
 *      free ports on 127.0.0.1, fault injection on so /fault-control exists
 *      to be attacked), and watch every broker's `exited` promise and its
 *      JSON log lines (warn and up) for crashed actors and failed handlers;
 *   2. start the well-behaved client (client/kactus.ts): an idempotent
 *      acks=all producer writing unique keyed values to topic `wb` (3
 *      partitions, RF 3, min.insync.replicas 2) and a consumer group reading
 *      it, recording every acknowledgement and delivery;
 *   3. run `connections` fuzz connections, each a sequence of sessions (one
 *      WebSocket each) to a broker: mostly client hellos followed by
 *      thousands of generated frames (frames.ts); some frames before any
 *      hello; malformed hellos; client hellos claiming a broker's id; forged
 *      peer hellos (role peer, no secret) answered with a random proof, or
 *      followed by messages before proving anything. Every session's frames
 *      come from seededRng(mix(seed, connection, session)): a seed replays;
 *   4. stop at `frames` frames or `seconds`, whichever first; stop the
 *      producer, let the consumer drain, read `wb` back and check: every
 *      acknowledged value at its acknowledged offset, none twice in the log,
 *      offsets in send order per partition, every one delivered to the
 *      group exactly once; exactly brokers 1-3 registered, every `wb`
 *      partition with a leader and an ISR of 3, and the same leaders, leader
 *      epochs and active controller as before the fuzz (no fault is injected,
 *      so a forged Terminated, FenceBroker, AlterPartition or Raft message
 *      that took effect shows here even if no record was lost); no broker
 *      exit. What the brokers answered (ErrorReply and LinkError codes,
 *      replies) is counted, as evidence the frames reached the refusals.
 *
 * On a failure the result has `problems` (one sentence each), and for a
 * broker exit the last frames sent to that broker (hex, with the seed and
 * the connection/session/frame coordinates to replay them).
 *
 * Processes: only the brokers this run started, by their Child handle
 * (killAllChildren), in `finally`, also on failure.
 */
import { readFileSync } from 'node:fs';
import { WebSocket } from 'ws';
import { Kactus, KactusError, type Producer } from '../../client/index.ts';
import { Kind, decodeFrame, protocolVersion } from '../../runtime/envelope.ts';
import { errorName } from '../../protocol/errors.ts';
import { proofBytes } from '../../runtime/peer-auth.ts';
import { seededRng, type Rng } from '../../runtime/rng.ts';
import type { RemoteProtocol } from '../../runtime/protocol.ts';
import { brokerProtocol } from '../../actors/broker/actor.ts';
import { fetchServerProtocol } from '../../actors/fetch/server.ts';
import { controllerProtocol } from '../../actors/controller/actor.ts';
import { groupsProtocol } from '../../actors/group-coordinator/actor.ts';
import { transactionsProtocol } from '../../actors/txn-coordinator/actor.ts';
import { faultControlProtocol } from '../../runtime/fault-control.ts';
import { startTestCluster, type TestCluster } from '../support/cluster.ts';
import { killAllChildren } from '../support/processes.ts';
import { readPartitionData } from '../chaos/workloads.ts';
import { createLogger } from '../../runtime/logger.ts';
import { FrameGenerator, badHelloEnvelope, helloEnvelope, isFatalFrame, type FrameContext, type GeneratedFrame, type Strategy } from './frames.ts';

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Bytes our socket may hold unsent before a fuzz connection waits (keeps the fuzzer's memory flat). */
export const fuzzBufferedBytesMax = 2 << 20;
/** Frames a fuzz connection sends between yields to the event loop (the well-behaved client shares this process). */
export const framesPerYield = 32;
/** Frames of one client session, drawn from [min, max]. */
export const sessionFramesDefault: readonly [number, number] = [100, 4_000];
/** Frames kept per broker for the failure report. */
export const recentFramesKept = 48;
/** Bytes of a frame printed (hex) in a failure report. */
export const frameHexBytesMax = 512;
/** The longest the well-behaved producer may go without an acknowledgement while the fuzz runs. */
export const servedGapMsMax = 20_000;
/** A broker's resident memory past this during the fuzz is a problem (issue 15: under 500 MB through every exhaustion case). */
export const brokerRssBytesMax = 500 * 1024 * 1024;
/** How often the brokers' RSS is sampled. */
export const rssSampleIntervalMs = 2_000;

/** A process's resident set size in bytes (Linux /proc), or null when it cannot be read. */
function rssBytesOf(pid: number): number | null {
  try {
    const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) * 1024 : null;
  } catch {
    return null;
  }
}

/**
 * Kinds of session: `client` (a client hello, then frames that keep the link, then often one that
 * ends it), `garbage` (a client hello, a few frames, then one that ends the link), `pre-hello`
 * (frames before any hello), `bad-hello` (a malformed hello), `broker-id-client` (a client hello
 * claiming a broker's id), `forged-peer` (a peer hello without the secret: a random proof, or
 * messages before any proof).
 */
export type SessionMode = 'client' | 'garbage' | 'pre-hello' | 'bad-hello' | 'broker-id-client' | 'forged-peer';
const sessionModeWeights: Record<SessionMode, number> = { client: 40, garbage: 24, 'pre-hello': 10, 'bad-hello': 8, 'broker-id-client': 8, 'forged-peer': 10 };
/** Strategies of the frame that ends a session (most are fatal for the link). */
const terminalStrategies: readonly Strategy[] = ['mutated', 'raw'];
/** Share of client sessions that end with a frame that closes the link. */
const terminalFrameChance = 0.6;

export type NativeFuzzOptions = {
  seed: number;
  /** Stop after this many frames (all connections together). */
  frames: number;
  /** ... or after this many seconds of fuzzing, whichever comes first. */
  seconds: number;
  /** Concurrent fuzz connections (default 6: two per broker). */
  connections?: number;
  /** Frames in one client session, drawn from [min, max] (default 100-4000). */
  sessionFrames?: readonly [number, number];
  /** Sends per second of the well-behaved producer (default 100). */
  wellBehavedRate?: number;
  log?: (line: string) => void;
};

export type RecentFrame = { connection: number; session: number; index: number; mode: SessionMode; strategy: Strategy | 'handshake'; label: string; bytes: number; hex: string };

export type BrokerLogFinding = { msg: string; count: number; examples: string[] };

export type NativeFuzzResult = {
  seed: number;
  frames: number;
  bytes: number;
  seconds: number;
  framesPerSecond: number;
  /** Seconds 1,000,000 frames take at the measured rate. */
  secondsPerMillion: number;
  sessions: number;
  sessionsByMode: Record<string, number>;
  framesByStrategy: Record<string, number>;
  /** Sessions the broker closed (link closed by the server before our session ended). */
  closedByBroker: number;
  framesReceived: number;
  /** What the brokers answered, by envelope kind and error name. */
  answers: Record<string, number>;
  /** Each broker's resident memory (MB): at the start of the fuzz, the most seen, at the end. */
  rssMb: Record<string, { start: number; max: number; end: number }>;
  /** Leadership of `wb` and the active controller, before and after the fuzz (no fault is injected: both should stay). */
  leadership: { before: string; after: string; controllerBefore: number; controllerAfter: number };
  messageTypesKnown: number;
  exits: { broker: number; code: number | null; signal: string | null; atMs: number; recent: RecentFrame[]; stderr: string }[];
  brokersRegistered: number;
  brokerLog: Record<string, BrokerLogFinding>;
  wellBehaved: {
    sent: number;
    acked: number;
    failed: number;
    delivered: number;
    longestAckGapMs: number;
    lost: string[];
    duplicatesInLog: string[];
    outOfOrder: string[];
    undelivered: number;
    deliveredTwice: number;
    finalLogRecords: number;
  };
  problems: string[];
};

/** A 32-bit mix of integers (the per-session seed). */
export function mixSeed(...parts: number[]): number {
  let h = 0x9e3779b9;
  for (const p of parts) {
    h = Math.imul(h ^ (p >>> 0), 0x85ebca6b);
    h = (h ^ (h >>> 13)) >>> 0;
    h = Math.imul(h, 0xc2b2ae35) >>> 0;
  }
  return (h ^ (h >>> 16)) >>> 0;
}

/** Per path, the message types a client may send: the actors' own declared protocols. */
export function clientTypesByPath(voters: readonly number[]): Map<string, string[]> {
  const protocols: [string, RemoteProtocol][] = [
    ['/broker', brokerProtocol],
    ['/fetch', fetchServerProtocol],
    ['/controller', controllerProtocol(voters)],
    ['/groups', groupsProtocol],
    ['/transactions', transactionsProtocol],
    ['/fault-control', faultControlProtocol],
  ];
  const out = new Map<string, string[]>();
  for (const [path, protocol] of protocols) {
    // Peer types too: a client sending them must be refused, and they are worth sending in a well-formed body.
    const types = [...Object.keys(protocol.client ?? {}), ...Object.keys(protocol.peer ?? {})];
    if (types.length > 0) out.set(path, types);
  }
  return out;
}

/** Child actor paths a broker of the fuzz cluster has (replicas of the topics, fetchers of the other brokers). */
export function extraPathsOf(brokerIds: readonly string[]): string[] {
  const paths: string[] = [];
  for (const topic of ['wb', 'fuzz-a', '__consumer_offsets', '__transaction_state']) for (let p = 0; p < 3; p++) paths.push(`/replicas/${topic}-${p}`);
  for (const id of brokerIds) paths.push(`/fetchers/${id}`);
  return paths;
}

function pickMode(rng: Rng): SessionMode {
  const total = Object.values(sessionModeWeights).reduce((a, b) => a + b, 0);
  let roll = rng.int(0, total);
  for (const [mode, weight] of Object.entries(sessionModeWeights) as [SessionMode, number][]) {
    if (roll < weight) return mode;
    roll -= weight;
  }
  return 'client';
}

const hexOf = (bytes: Uint8Array): string => Buffer.from(bytes.subarray(0, frameHexBytesMax)).toString('hex') + (bytes.length > frameHexBytesMax ? `...(${bytes.length} bytes)` : '');

/** Shared counters and the stop flag of one fuzz run. */
class FuzzState {
  frames = 0;
  bytes = 0;
  sessions = 0;
  closedByBroker = 0;
  framesReceived = 0;
  /** Set on a broker exit or at the end. */
  halted = false;
  /** Set when this run kills its own brokers (their exits are not findings then). */
  killing = false;
  frameBudget = Number.POSITIVE_INFINITY;
  deadlineMs = Number.POSITIVE_INFINITY;

  get stopped(): boolean {
    return this.halted || this.frames >= this.frameBudget || Date.now() >= this.deadlineMs;
  }
  readonly sessionsByMode: Record<string, number> = {};
  readonly framesByStrategy: Record<string, number> = {};
  readonly recentByBroker = new Map<number, RecentFrame[]>();
  /** What came back, by envelope kind and error name ('Tell' for replies, 'ErrorReply CLUSTER_AUTHORIZATION_FAILED', ...). */
  readonly answers: Record<string, number> = {};

  countAnswer(key: string): void {
    this.answers[key] = (this.answers[key] ?? 0) + 1;
  }

  remember(broker: number, frame: RecentFrame): void {
    let ring = this.recentByBroker.get(broker);
    if (!ring) this.recentByBroker.set(broker, (ring = []));
    ring.push(frame);
    if (ring.length > recentFramesKept) ring.shift();
  }
}

/** One WebSocket of a fuzz session. Counts what comes back, never decodes it (the fuzzer's CPU is the brokers'). */
class FuzzSocket {
  readonly socket: WebSocket;
  closedByPeer = false;
  private closed = false;
  readonly done: Promise<void>;
  readonly opened: Promise<boolean>;

  constructor(url: string, state: FuzzState) {
    this.socket = new WebSocket(url, { perMessageDeflate: false, maxPayload: 64 << 20, handshakeTimeout: 5_000 });
    this.socket.on('message', (data: Buffer) => {
      state.framesReceived += 1;
      const values = decodeFrame(data);
      if (!Array.isArray(values)) return state.countAnswer('undecodable');
      for (const value of values) {
        if (!Array.isArray(value)) continue;
        const kind = value[1];
        if (kind === Kind.ErrorReply) state.countAnswer(`ErrorReply ${errorName(Number(value[3]))}`);
        else if (kind === Kind.LinkError) state.countAnswer(`LinkError ${errorName(Number(value[2]))}`);
        else if (kind === Kind.Tell) state.countAnswer('reply (Tell to a reply slot)');
        else if (kind === Kind.Hello) state.countAnswer('Hello');
      }
    });
    this.socket.on('error', () => undefined);
    this.done = new Promise((resolve) =>
      this.socket.on('close', () => {
        if (!this.closed) this.closedByPeer = true;
        this.closed = true;
        resolve();
      }),
    );
    this.opened = new Promise((resolve) => {
      this.socket.once('open', () => resolve(true));
      void this.done.then(() => resolve(false));
    });
  }

  isOpen(): boolean {
    return this.socket.readyState === WebSocket.OPEN;
  }

  send(bytes: Uint8Array): void {
    if (this.isOpen()) this.socket.send(bytes, { binary: true });
  }

  async drained(): Promise<void> {
    while (this.isOpen() && this.socket.bufferedAmount > fuzzBufferedBytesMax) await sleep(2);
  }

  async close(): Promise<void> {
    this.closed = true;
    this.socket.terminate();
    await Promise.race([this.done, sleep(2_000)]);
  }
}

type SessionPlan = { connection: number; session: number; broker: number; mode: SessionMode; nodeId: string; frames: number; rng: Rng };

/** The plan of session `session` of connection `connection`: a pure function of the seed. */
export function sessionPlan(seed: number, connection: number, session: number, brokerIds: readonly number[], sessionFrames: readonly [number, number]): SessionPlan {
  const rng = seededRng(mixSeed(seed, connection, session));
  const mode = pickMode(rng);
  const broker = brokerIds[(connection + session) % brokerIds.length]!;
  const nodeId = `fz${seed}-c${connection}-s${session}`;
  const frames = rng.int(sessionFrames[0], sessionFrames[1] + 1);
  return { connection, session, broker, mode, nodeId, frames, rng };
}

export type ScriptItem = { kind: 'frame'; bytes: Uint8Array; strategy: Strategy | 'handshake'; label: string } | { kind: 'sleep'; ms: number };

/**
 * What a session sends, in order, as if its link stayed open: a pure function of the plan (its Rng), so
 * `--print C/S` shows exactly the frames session S of connection C sends with the same seed. A session whose
 * link the broker closes sends a prefix of its script.
 */
export function* sessionScript(plan: SessionPlan, gen: FrameGenerator, base: Omit<FrameContext, 'selfNodeId'>): Generator<ScriptItem> {
  const { rng, mode } = plan;
  const ctx: FrameContext = { ...base, selfNodeId: plan.nodeId };
  const packValue = (value: unknown): Buffer => {
    try {
      return Buffer.from(gen.pack(value));
    } catch {
      return Buffer.from([0xc0]);
    }
  };
  const handshake = (value: unknown, label: string): ScriptItem => ({ kind: 'frame', bytes: packValue(value), strategy: 'handshake', label });
  // Mid-session a frame that would close the link is drawn again (bounded); the session's last frame may be one.
  function* stream(count: number, keepLink = true): Generator<ScriptItem> {
    for (let i = 0; i < count; i++) {
      let frame: GeneratedFrame = gen.frame(rng, ctx);
      for (let draw = 0; keepLink && draw < 5 && frame.strategy !== 'admitted' && frame.strategy !== 'forged' && isFatalFrame(frame.bytes); draw++) frame = gen.frame(rng, ctx);
      yield { kind: 'frame', bytes: frame.bytes, strategy: frame.strategy, label: frame.label };
    }
  }
  switch (mode) {
    case 'client':
    case 'garbage': {
      yield handshake(helloEnvelope(rng, plan.nodeId, 'client'), 'client hello');
      yield* stream(mode === 'client' ? plan.frames : rng.int(0, 20));
      if (mode === 'garbage' || rng.next() < terminalFrameChance) {
        const last = gen.frame(rng, ctx, terminalStrategies);
        yield { kind: 'frame', bytes: last.bytes, strategy: last.strategy, label: last.label };
      }
      break;
    }
    case 'pre-hello':
      // Anything before the hello ends the link; a few frames in case the first is itself a hello.
      yield* stream(rng.int(1, 4), false);
      break;
    case 'bad-hello':
      yield handshake(badHelloEnvelope(rng, gen, ctx), 'malformed hello');
      yield* stream(rng.int(0, 20), false);
      break;
    case 'broker-id-client':
      // A client claiming to be a broker: refused, and the broker it names stays up.
      yield handshake(helloEnvelope(rng, String(base.brokerIds[rng.int(0, base.brokerIds.length)]), 'client'), 'client hello with a broker id');
      yield* stream(rng.int(0, 50), false);
      break;
    case 'forged-peer': {
      // A peer hello without the secret: claims a broker's id (or a new id), then proves nothing.
      const claimed = rng.next() < 0.7 ? String(base.brokerIds[rng.int(0, base.brokerIds.length)]) : `${plan.nodeId}-peer`;
      yield handshake(helloEnvelope(rng, claimed, 'peer'), `peer hello claiming ${claimed}`);
      const next = rng.int(0, 4);
      if (next === 0) yield handshake([protocolVersion, Kind.Auth, Buffer.from(Array.from({ length: proofBytes }, () => rng.int(0, 256)))], 'forged auth (random proof)');
      else if (next === 1) yield* stream(rng.int(1, 30), false);
      else if (next === 2) yield handshake([protocolVersion, Kind.Auth, Buffer.alloc(proofBytes)], 'forged auth (zero proof)');
      else yield { kind: 'sleep', ms: rng.int(10, 200) };
      yield* stream(rng.int(0, 10), false);
      break;
    }
  }
  if (rng.next() < 0.3) yield { kind: 'sleep', ms: rng.int(1, 50) };
}

/** Sends one session's script to `url` (see the module comment); returns when the script ends or the link closes. */
async function runSession(plan: SessionPlan, url: string, gen: FrameGenerator, base: Omit<FrameContext, 'selfNodeId'>, state: FuzzState): Promise<void> {
  const socket = new FuzzSocket(url, state);
  if (!(await socket.opened)) {
    await sleep(100);
    return;
  }
  state.sessions += 1;
  state.sessionsByMode[plan.mode] = (state.sessionsByMode[plan.mode] ?? 0) + 1;
  let index = 0;
  try {
    for (const item of sessionScript(plan, gen, base)) {
      if (!socket.isOpen() || state.stopped) break;
      if (item.kind === 'sleep') {
        await sleep(item.ms);
        continue;
      }
      socket.send(item.bytes);
      state.frames += 1;
      state.bytes += item.bytes.length;
      state.framesByStrategy[item.strategy] = (state.framesByStrategy[item.strategy] ?? 0) + 1;
      state.remember(plan.broker, { connection: plan.connection, session: plan.session, index, mode: plan.mode, strategy: item.strategy, label: item.label, bytes: item.bytes.length, hex: hexOf(item.bytes) });
      index += 1;
      if (index % framesPerYield === 0) {
        await socket.drained();
        await new Promise((resolve) => setImmediate(resolve));
      }
    }
  } finally {
    if (socket.closedByPeer) state.closedByBroker += 1;
    await socket.close();
  }
}

/** Prints session `session` of connection `connection` for `seed` (a 3-broker cluster's ids), one frame a line, hex. */
export function printSession(seed: number, connection: number, session: number, write: (line: string) => void, sessionFrames: readonly [number, number] = sessionFramesDefault): void {
  const brokerIds = [1, 2, 3];
  const plan = sessionPlan(seed, connection, session, brokerIds, sessionFrames);
  const base: Omit<FrameContext, 'selfNodeId'> = { brokerIds: brokerIds.map(String), extraPaths: extraPathsOf(brokerIds.map(String)), clientTypes: clientTypesByPath(brokerIds) };
  write(`seed ${seed} connection ${connection} session ${session}: ${plan.mode} to broker ${plan.broker} as ${plan.nodeId}`);
  let index = 0;
  for (const item of sessionScript(plan, new FrameGenerator(), base)) {
    if (item.kind === 'sleep') write(`  (sleep ${item.ms} ms)`);
    else write(`  #${index++} ${item.strategy} ${item.label} (${item.bytes.length} B): ${hexOf(item.bytes)}`);
  }
}

type WellBehavedRecord = { value: string; seq: number; partition?: number; offset?: number; ok?: boolean };

/** The well-behaved client: an idempotent acks=all producer and a consumer group on topic `wb`. */
class WellBehavedClient {
  readonly kactus: Kactus;
  private producer: Producer;
  private running = false;
  private loop: Promise<void> | undefined;
  private inFlight = 0;
  readonly sends: WellBehavedRecord[] = [];
  readonly delivered: { partition: number; offset: number; value: string; atMs: number }[] = [];
  acked = 0;
  failed = 0;
  lastAckMs = Date.now();
  longestAckGapMs = 0;
  private subscription: { unsubscribe(): void } | undefined;
  consumerErrors = 0;

  constructor(
    readonly brokers: string[],
    readonly topic: string,
    readonly ratePerSecond: number,
  ) {
    const logger = createLogger({ client: 'fuzz-wb' }, process.env.FUZZ_CLIENT_LOG_LEVEL ?? 'silent');
    this.kactus = new Kactus({ brokers, clientId: 'fuzz-well-behaved', requestTimeoutMs: 10_000, logger });
    this.producer = this.kactus.producer({ acks: 'all', idempotent: true, lingerMs: 2, deliveryTimeoutMs: 60_000, requestTimeoutMs: 10_000 });
  }

  readonly startedMs = Date.now();

  startConsumer(): void {
    const consumer = this.kactus.consumer({ groupId: 'wb-group', autoOffsetReset: 'earliest', sessionTimeoutMs: 30_000, heartbeatIntervalMs: 1_000, autoCommitIntervalMs: 1_000, fetchMaxWaitMs: 200, requestTimeoutMs: 10_000 });
    consumer.subscribe([this.topic]);
    this.subscription = consumer.messages$.subscribe({
      next: (record) => {
        this.delivered.push({ partition: record.partition, offset: record.offset, value: record.value === null ? '<null>' : record.value.toString(), atMs: Date.now() });
        record.ack();
      },
      error: () => {
        this.consumerErrors += 1;
      },
    });
  }

  startProducer(): void {
    this.running = true;
    this.lastAckMs = Date.now();
    this.loop = (async () => {
      const startMs = Date.now();
      let seq = 0;
      while (this.running) {
        const due = Math.floor(((Date.now() - startMs) * this.ratePerSecond) / 1_000);
        while (seq < due && this.running && this.inFlight < 50) this.sendOne(seq++);
        await sleep(10);
      }
    })();
  }

  private sendOne(seq: number): void {
    const record: WellBehavedRecord = { value: `wb-${seq}`, seq };
    this.sends.push(record);
    this.inFlight += 1;
    this.producer
      .send({ topic: this.topic, messages: [{ key: `k${seq % 12}`, value: record.value }] })
      .then(
        (results) => {
          const nowMs = Date.now();
          if (this.running) this.longestAckGapMs = Math.max(this.longestAckGapMs, nowMs - this.lastAckMs);
          this.lastAckMs = nowMs;
          record.ok = true;
          record.partition = results[0]!.partition;
          record.offset = results[0]!.offset;
          this.acked += 1;
        },
        (err: unknown) => {
          record.ok = false;
          this.failed += 1;
          void (err instanceof KactusError);
        },
      )
      .finally(() => {
        this.inFlight -= 1;
      });
  }

  async stopProducer(waitMs: number): Promise<void> {
    if (this.running) this.longestAckGapMs = Math.max(this.longestAckGapMs, Date.now() - this.lastAckMs);
    this.running = false;
    await this.loop;
    const deadline = Date.now() + waitMs;
    while (this.inFlight > 0 && Date.now() < deadline) await sleep(50);
  }

  async close(): Promise<void> {
    this.running = false;
    this.subscription?.unsubscribe();
    await this.kactus.close({ timeoutMs: 2_000 }).catch(() => undefined);
  }
}

/** Watches a broker's stderr (pino JSON lines) for crashed actors, failed handlers and other errors. */
function watchBrokerLog(cluster: TestCluster, findings: Record<string, BrokerLogFinding>): void {
  const interesting = /^(actor\.crashed|actor\.gave_up|input\.handler_failed)/;
  for (const broker of cluster.brokers) {
    let pending = '';
    broker.child?.process.stderr?.on('data', (chunk: Buffer) => {
      pending += chunk.toString('utf8');
      const lines = pending.split('\n');
      pending = lines.pop() ?? '';
      for (const line of lines) {
        let parsed: { level?: number; msg?: string } | undefined;
        try {
          parsed = JSON.parse(line) as { level?: number; msg?: string };
        } catch {
          parsed = undefined;
        }
        const msg = parsed?.msg ?? `(not json) ${line.slice(0, 80)}`;
        const level = parsed?.level ?? 60;
        if (!interesting.test(msg) && level < 50) continue;
        const key = `${msg.split(':')[0]!.slice(0, 80)}`;
        const finding = (findings[key] ??= { msg: key, count: 0, examples: [] });
        finding.count += 1;
        if (finding.examples.length < 3) finding.examples.push(`broker ${broker.id}: ${line.slice(0, 1_500)}`);
      }
    });
  }
}

export async function runNativeFuzz(options: NativeFuzzOptions): Promise<NativeFuzzResult> {
  const log = options.log ?? ((line: string) => process.stderr.write(`[fuzz] ${line}\n`));
  const connections = options.connections ?? 6;
  const sessionFrames = options.sessionFrames ?? sessionFramesDefault;
  const state = new FuzzState();
  const problems: string[] = [];
  const exits: NativeFuzzResult['exits'] = [];
  const brokerLog: Record<string, BrokerLogFinding> = {};
  const gen = new FrameGenerator();
  let cluster: TestCluster | undefined;
  let wb: WellBehavedClient | undefined;
  const topic = 'wb';
  const partitions = 3;
  const startedMs = Date.now();
  let fuzzSeconds = 0;
  try {
    log(`seed ${options.seed}: up to ${options.frames} frames or ${options.seconds} s, ${connections} connections; ${gen.types.length} message types known; starting 3 brokers`);
    cluster = await startTestCluster(3, ['min.insync.replicas=2', 'default.replication.factor=3', 'offsets.topic.num.partitions=3', 'transaction.state.log.num.partitions=3', 'group.initial.rebalance.delay.ms=0'], {
      env: { KACTUS_FAULT_INJECTION: '1', LOG_LEVEL: process.env.FUZZ_BROKER_LOG_LEVEL ?? 'warn' },
    });
    const running = cluster;
    watchBrokerLog(running, brokerLog);
    for (const broker of running.brokers) {
      void broker.child!.exited.then(({ code, signal }) => {
        if (state.killing) return; // killed by this run at the end
        exits.push({ broker: broker.id, code, signal, atMs: Date.now() - startedMs, recent: [...(state.recentByBroker.get(broker.id) ?? [])], stderr: broker.child?.stderrTail().slice(-4_000) ?? '' });
        state.halted = true;
      });
    }
    const brokerUrls = running.brokers.map((b) => b.url);
    const brokerIds = running.brokers.map((b) => b.id);
    wb = new WellBehavedClient(brokerUrls, topic, options.wellBehavedRate ?? 100);
    await wb.kactus.admin().createTopics({ topics: [{ topic, numPartitions: partitions, replicationFactor: 3, configs: { 'min.insync.replicas': '2' } }] });
    const leadershipOf = async (): Promise<{ text: string; controllerId: number }> => {
      const meta = await running.metadata([topic]).catch(() => undefined);
      const parts = meta?.topics[0]?.partitions.map((p) => `${p.partition}:leader ${p.leader} epoch ${p.leaderEpoch} isr [${[...p.isr].sort().join(',')}]`) ?? ['unknown'];
      return { text: parts.sort().join('; '), controllerId: meta?.controllerId ?? -1 };
    };
    await running.waitForLeaders(topic, partitions, 3, 60_000);
    const leadershipBefore = await leadershipOf();
    wb.startConsumer();
    wb.startProducer();

    const base: Omit<FrameContext, 'selfNodeId'> = { brokerIds: brokerIds.map(String), extraPaths: extraPathsOf(brokerIds.map(String)), clientTypes: clientTypesByPath(brokerIds) };
    const rss: Record<string, { start: number; max: number; end: number }> = {};
    const sampleRss = (): void => {
      for (const b of running.brokers) {
        const bytes = b.child ? rssBytesOf(b.child.pid) : null;
        if (bytes === null) continue;
        const mb = Math.round(bytes / (1024 * 1024));
        const entry = (rss[String(b.id)] ??= { start: mb, max: mb, end: mb });
        entry.max = Math.max(entry.max, mb);
        entry.end = mb;
      }
    };
    sampleRss();
    const rssTimer = setInterval(sampleRss, rssSampleIntervalMs);
    rssTimer.unref();
    const fuzzStartMs = Date.now();
    const deadlineMs = fuzzStartMs + options.seconds * 1_000;
    state.frameBudget = options.frames;
    state.deadlineMs = deadlineMs;
    let lastReportMs = fuzzStartMs;
    const workers = Array.from({ length: connections }, async (_, connection) => {
      for (let session = 0; !state.stopped; session++) {
        if (state.frames >= options.frames || Date.now() >= deadlineMs) break;
        const plan = sessionPlan(options.seed, connection, session, brokerIds, sessionFrames);
        const url = running.brokers.find((b) => b.id === plan.broker)!.url;
        await runSession(plan, url, gen, base, state).catch((err: unknown) => problems.push(`fuzz session ${connection}/${session} failed in the fuzzer: ${String(err)}`));
        if (Date.now() - lastReportMs >= 10_000) {
          lastReportMs = Date.now();
          const s = (Date.now() - fuzzStartMs) / 1_000;
          log(`${state.frames} frames in ${s.toFixed(0)} s (${Math.round(state.frames / s)}/s), ${state.sessions} sessions, well-behaved acked ${wb!.acked}/${wb!.sends.length}`);
        }
      }
    });
    await Promise.all(workers);
    clearInterval(rssTimer);
    sampleRss();
    for (const [id, r] of Object.entries(rss)) if (r.max * 1024 * 1024 > brokerRssBytesMax) problems.push(`broker ${id} reached ${r.max} MB resident during the fuzz (bound ${brokerRssBytesMax / (1024 * 1024)} MB)`);
    fuzzSeconds = (Date.now() - fuzzStartMs) / 1_000;
    log(`fuzz done: ${state.frames} frames in ${fuzzSeconds.toFixed(1)} s; checking the cluster and the well-behaved client`);

    // The well-behaved client: stop, drain, read back, check.
    await wb.stopProducer(30_000);
    const acked = wb.sends.filter((r) => r.ok === true);
    const drainDeadline = Date.now() + 30_000;
    // One set per poll, not one per record: this process is also the consumer, and a loop of 15,000 x 15,000 blocked
    // its event loop past the group's session timeout, so the coordinator rightly expired the member and the
    // records since its last commit were delivered again.
    const undeliveredCount = (): number => {
      const deliveredValues = new Set(wb!.delivered.map((d) => d.value));
      return acked.filter((r) => !deliveredValues.has(r.value)).length;
    };
    while (Date.now() < drainDeadline && undeliveredCount() > 0) await sleep(200);
    const log2: Map<string, { partition: number; offset: number }[]> = new Map();
    let finalLogRecords = 0;
    for (let p = 0; p < partitions; p++) {
      let records: { offset: number; value: string | null }[] | undefined;
      for (let attempt = 0; attempt < 10 && records === undefined; attempt++) {
        records = await readPartitionData(wb.kactus, topic, p).catch(async (err: unknown) => {
          log(`read-back of ${topic}-${p}: ${String(err)}`);
          await sleep(500);
          return undefined;
        });
      }
      if (records === undefined) {
        problems.push(`partition ${topic}-${p} could not be read back`);
        continue;
      }
      finalLogRecords += records.length;
      for (const r of records) {
        const v = r.value ?? '<null>';
        const at = log2.get(v) ?? [];
        at.push({ partition: p, offset: r.offset });
        log2.set(v, at);
      }
    }
    const lost: string[] = [];
    const duplicatesInLog: string[] = [];
    const outOfOrder: string[] = [];
    for (const r of acked) {
      const at = log2.get(r.value) ?? [];
      if (!at.some((a) => a.partition === r.partition && a.offset === r.offset)) lost.push(`${r.value} acked at ${r.partition}@${r.offset}, log has ${JSON.stringify(at)}`);
    }
    for (const [value, at] of log2) if (at.length > 1) duplicatesInLog.push(`${value} at ${JSON.stringify(at)}`);
    for (let p = 0; p < partitions; p++) {
      const inSendOrder = acked.filter((r) => r.partition === p).sort((a, b) => a.seq - b.seq);
      for (let i = 1; i < inSendOrder.length; i++) {
        if (inSendOrder[i]!.offset! <= inSendOrder[i - 1]!.offset!) outOfOrder.push(`${inSendOrder[i - 1]!.value}@${inSendOrder[i - 1]!.offset} then ${inSendOrder[i]!.value}@${inSendOrder[i]!.offset} in ${topic}-${p}`);
      }
    }
    const seen = new Map<string, number>();
    for (const d of wb.delivered) seen.set(d.value, (seen.get(d.value) ?? 0) + 1);
    const undelivered = acked.filter((r) => !seen.has(r.value)).length;
    const deliveredTwice = [...seen.values()].filter((n) => n > 1).length;
    // Where the redeliveries start: each partition's first offset delivered again, when, and the offset delivered just before it.
    const redeliveryStarts: string[] = [];
    const lastByPartition = new Map<number, number>();
    for (const d of wb.delivered) {
      const last = lastByPartition.get(d.partition) ?? -1;
      if (d.offset <= last && redeliveryStarts.length < 10) redeliveryStarts.push(`${topic}-${d.partition} went back from ${last} to ${d.offset} at +${d.atMs - wb.startedMs} ms`);
      lastByPartition.set(d.partition, d.offset);
    }

    // The cluster: exactly brokers 1-3 registered, every wb partition led with an ISR of 3, and (no fault was
    // injected) the same leaders, leader epochs and controller as before: a forged message that fenced a broker,
    // moved a leader or forced an election shows here even when it lost no record.
    const meta = await running.metadata(null).catch(() => undefined);
    const registered = (meta?.brokers.map((b) => b.brokerId) ?? []).sort();
    const brokersRegistered = registered.length;
    if (registered.join(',') !== brokerIds.join(',')) problems.push(`brokers registered after the fuzz: [${registered.join(',')}], expected [${brokerIds.join(',')}]`);
    await running.waitForLeaders(topic, partitions, 3, 30_000).catch((err: unknown) => problems.push(`after the fuzz: ${String(err).slice(0, 600)}`));
    const leadershipAfter = await leadershipOf();
    const leadership = { before: leadershipBefore.text, after: leadershipAfter.text, controllerBefore: leadershipBefore.controllerId, controllerAfter: leadershipAfter.controllerId };
    if (leadership.before !== leadership.after) problems.push(`leadership of ${topic} changed during the fuzz (no fault was injected): before ${leadership.before}; after ${leadership.after}`);
    if (leadership.controllerBefore !== leadership.controllerAfter) problems.push(`the active controller changed during the fuzz (no fault was injected): ${leadership.controllerBefore} -> ${leadership.controllerAfter}`);

    if (exits.length > 0) for (const e of exits) problems.push(`broker ${e.broker} exited (code ${e.code}, signal ${e.signal}) at ${e.atMs} ms`);
    if (lost.length > 0) problems.push(`${lost.length} acknowledged records lost, e.g. ${lost.slice(0, 3).join('; ')}`);
    if (duplicatesInLog.length > 0) problems.push(`${duplicatesInLog.length} values stored twice, e.g. ${duplicatesInLog.slice(0, 3).join('; ')}`);
    if (outOfOrder.length > 0) problems.push(`${outOfOrder.length} acknowledged records out of send order, e.g. ${outOfOrder.slice(0, 3).join('; ')}`);
    if (undelivered > 0) problems.push(`${undelivered} acknowledged records never delivered to the consumer group`);
    if (deliveredTwice > 0) problems.push(`${deliveredTwice} records delivered twice to the consumer group; redeliveries start at ${redeliveryStarts.join('; ')}`);
    if (acked.length === 0) problems.push('the well-behaved producer got no acknowledgement');
    if (wb.longestAckGapMs > servedGapMsMax) problems.push(`the well-behaved producer went ${wb.longestAckGapMs} ms without an acknowledgement during the fuzz`);
    for (const key of ['actor.crashed', 'actor.gave_up', 'input.handler_failed']) if (brokerLog[key]) problems.push(`brokers logged ${key} ${brokerLog[key].count} times, e.g. ${brokerLog[key].examples[0]?.slice(0, 700)}`);

    const framesPerSecond = fuzzSeconds > 0 ? state.frames / fuzzSeconds : 0;
    return {
      seed: options.seed,
      frames: state.frames,
      bytes: state.bytes,
      seconds: fuzzSeconds,
      framesPerSecond,
      secondsPerMillion: framesPerSecond > 0 ? 1_000_000 / framesPerSecond : Number.POSITIVE_INFINITY,
      sessions: state.sessions,
      sessionsByMode: state.sessionsByMode,
      framesByStrategy: state.framesByStrategy,
      closedByBroker: state.closedByBroker,
      framesReceived: state.framesReceived,
      answers: state.answers,
      rssMb: rss,
      leadership,
      messageTypesKnown: gen.types.length,
      exits,
      brokersRegistered,
      brokerLog,
      wellBehaved: { sent: wb.sends.length, acked: acked.length, failed: wb.failed, delivered: wb.delivered.length, longestAckGapMs: wb.longestAckGapMs, lost, duplicatesInLog, outOfOrder, undelivered, deliveredTwice, finalLogRecords },
      problems,
    };
  } finally {
    state.halted = true;
    await wb?.close();
    state.killing = true;
    await killAllChildren();
    await cluster?.cleanup().catch(() => undefined);
  }
}

/** A printable account of a result: figures, then each problem, then (for an exit) the frames last sent to that broker. */
export function describeResult(result: NativeFuzzResult): string {
  const lines = [
    `${result.problems.length === 0 ? 'PASS' : 'FAIL'} seed=${result.seed}: ${result.frames} frames (${(result.bytes / 1e6).toFixed(1)} MB) in ${result.seconds.toFixed(1)} s = ${Math.round(result.framesPerSecond)} frames/s (1,000,000 in ${result.secondsPerMillion.toFixed(0)} s); ${result.sessions} sessions ${JSON.stringify(result.sessionsByMode)}, ${result.closedByBroker} closed by the broker; exits ${result.exits.length}; brokers registered ${result.brokersRegistered}`,
    `  strategies ${JSON.stringify(result.framesByStrategy)}; ${result.messageTypesKnown} message types known; ${result.framesReceived} frames received`,
    `  answers ${JSON.stringify(result.answers)}`,
    `  broker RSS MB (start/max/end): ${Object.entries(result.rssMb).map(([id, r]) => `${id}: ${r.start}/${r.max}/${r.end}`).join(', ')}`,
    `  leadership of wb unchanged: ${result.leadership.before === result.leadership.after} (${result.leadership.after}); controller ${result.leadership.controllerBefore} -> ${result.leadership.controllerAfter}`,
    `  well-behaved: sent ${result.wellBehaved.sent}, acked ${result.wellBehaved.acked}, failed ${result.wellBehaved.failed}, delivered ${result.wellBehaved.delivered}, longest ack gap ${result.wellBehaved.longestAckGapMs} ms, log ${result.wellBehaved.finalLogRecords}; lost ${result.wellBehaved.lost.length}, duplicates ${result.wellBehaved.duplicatesInLog.length}, out of order ${result.wellBehaved.outOfOrder.length}, undelivered ${result.wellBehaved.undelivered}, delivered twice ${result.wellBehaved.deliveredTwice}`,
    `  broker log (warn+ of interest): ${Object.values(result.brokerLog).map((f) => `${f.msg} x${f.count}`).join(', ') || 'none'}`,
  ];
  for (const p of result.problems) lines.push(`  problem: ${p}`);
  for (const e of result.exits) {
    lines.push(`  broker ${e.broker} exited; replay with --seed ${result.seed}; the last ${e.recent.length} frames sent to it (connection/session/index):`);
    for (const f of e.recent) lines.push(`    c${f.connection}/s${f.session}/#${f.index} ${f.mode} ${f.strategy} ${f.label} (${f.bytes} B): ${f.hex}`);
    lines.push(`  its stderr tail: ${e.stderr.slice(-2_000)}`);
  }
  return lines.join('\n');
}
