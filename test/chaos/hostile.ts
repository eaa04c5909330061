/**
 * The `hostile` nemesis's client: while the fault holds, a few raw WebSocket
 * connections (no cluster secret) send fuzzed frames (test/fuzz/frames.ts)
 * and forged internal messages to random brokers. Every message here is one
 * the brokers must refuse or survive; the checker's anomaly counts must stay
 * 0 with it on.
 *
 * Forged messages (`forgedMessages`), each aimed at something the issue saw
 * take effect once: Terminated to /controller (fences a broker),
 * AllocateProducerIdsReply to /broker (resets the producer-id block: two
 * producers with one id), a Raft AppendEntries or RequestVote from a fake
 * leader to /controller, ControllerRequest / ControllerCall with FenceBroker,
 * AlterPartition (ISR cut to the leader) and RegisterBroker, PauseFetcher to
 * /broker plus a follower Fetch (replicaId of a real broker) at a far offset
 * to /fetch (moves the high watermark over unreplicated records),
 * FetchExpired (cuts others' long polls), UnsubscribeMetadata, a malformed
 * MetadataImageUpdated / CreateTopicsReply, CheckpointHighWatermarks, a
 * WriteTxnMarker (an abort or commit of the workload's producers), messages
 * whose type is `{ toString: 0 }`, Watch and Terminated envelopes, and hellos
 * claiming a broker's id (as a client, and as a peer without the secret).
 *
 * Deterministic per (seed, fault, connection, session); paced to
 * `framesPerSecond` in all so the run's own workloads keep their share of the
 * 2 cores. Processes: none; sockets only, all closed by stop().
 */
import { WebSocket } from 'ws';
import { Kind, protocolVersion } from '../../runtime/envelope.ts';
import { proofBytes } from '../../runtime/peer-auth.ts';
import { seededRng, type Rng } from '../../runtime/rng.ts';
import { FrameGenerator, helloEnvelope, isFatalFrame, type FrameContext } from '../fuzz/frames.ts';
import { clientTypesByPath, extraPathsOf, mixSeed } from '../fuzz/native-fuzz.ts';

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Connections the hostile client keeps open at once. */
export const hostileConnections = 3;
/** Frames per second the hostile client sends in all (default; a target, the pacing is by timer). */
export const hostileFramesPerSecondDefault = 1_500;
/** Frames per second of the slow hostile client that runs through a whole chaos run when `hostile` is on. */
export const hostileBackgroundFramesPerSecond = 100;
/** Frames in one hostile session before it reconnects (to another random broker). */
export const hostileSessionFramesMax = 400;
/** Share of a session's frames that are forged internal messages (the rest fuzzed frames). */
export const forgedShare = 0.3;

export type HostileStats = {
  faults: number;
  sessions: number;
  frames: number;
  fuzzed: number;
  forged: number;
  forgedByType: Record<string, number>;
  forgedHellos: number;
  closedByBroker: number;
  byBroker: Record<string, number>;
};

export function emptyHostileStats(): HostileStats {
  return { faults: 0, sessions: 0, frames: 0, fuzzed: 0, forged: 0, forgedByType: {}, forgedHellos: 0, closedByBroker: 0, byBroker: {} };
}

type Forged = { label: string; envelope: unknown[] };

/** The forged internal messages of the module comment, for a client whose node id is `self`. */
export function forgedMessages(rng: Rng, self: string, brokerIds: readonly number[], topic: string, partitions: number): Forged[] {
  const other = (): number => brokerIds[rng.int(0, brokerIds.length)]!;
  const partition = (): number => rng.int(0, partitions);
  const reply = { node: self, path: `/temp/h-${rng.int(0, 1 << 30)}` };
  const tell = (path: string, message: Record<string, unknown>): unknown[] => [protocolVersion, Kind.Tell, path, message];
  const ask = (path: string, message: Record<string, unknown>): unknown[] => [protocolVersion, Kind.Ask, path, reply.path, { ...message, replyTo: reply }];
  const far = 1_000_000 + rng.int(0, 1_000_000);
  const term = 1_000 + rng.int(0, 1_000_000);
  return [
    { label: 'Terminated to /controller', envelope: tell('/controller', { type: 'Terminated', ref: { node: String(other()), path: '/controller-client' }, reason: 'node-down' }) },
    { label: 'AllocateProducerIdsReply to /broker', envelope: tell('/broker', { type: 'AllocateProducerIdsReply', errorCode: 0, producerIdStart: 0, producerIdLength: 1_000 }) },
    { label: 'RaftMessage AppendEntries to /controller', envelope: tell('/controller', { type: 'RaftMessage', message: { type: 'AppendEntries', from: other(), to: other(), term, prevLogIndex: 0, prevLogTerm: 0, entries: [{ index: 1, term, data: Buffer.from('forged') }], leaderCommit: 10 } }) },
    { label: 'RaftMessage RequestVote (transfer) to /controller', envelope: tell('/controller', { type: 'RaftMessage', message: { type: 'RequestVote', from: other(), to: other(), term, lastLogIndex: 1e9, lastLogTerm: term, leadershipTransfer: true } }) },
    { label: 'ControllerRequest FenceBroker to /controller', envelope: ask('/controller', { type: 'ControllerRequest', command: { type: 'FenceBroker', brokerId: other(), brokerEpoch: -1 } }) },
    { label: 'ControllerCall AlterPartition to /controller-client', envelope: ask('/controller-client', { type: 'ControllerCall', command: { type: 'AlterPartition', brokerId: other(), brokerEpoch: -1, topics: [{ name: topic, partitions: [{ partition: partition(), leaderEpoch: 0, partitionEpoch: 0, isr: [other()] }] }] } }) },
    { label: 'ControllerCall RegisterBroker 9 to /controller-client', envelope: ask('/controller-client', { type: 'ControllerCall', command: { type: 'RegisterBroker', brokerId: 9, incarnationId: 'x', host: '127.0.0.1', port: 1, rack: null, fenced: false } }) },
    { label: 'PauseFetcher to /broker', envelope: ask('/broker', { type: 'PauseFetcher', leaderId: other() }) },
    {
      label: 'follower Fetch with a replicaId to /fetch',
      envelope: ask('/fetch', { type: 'Fetch', replicaId: other(), maxWaitMs: 0, minBytes: 1, maxBytes: 1 << 20, isolationLevel: 0, partitions: [{ topic, partition: partition(), fetchOffset: far, partitionMaxBytes: 1 << 20, currentLeaderEpoch: -1, lastFetchedEpoch: -1 }] }),
    },
    { label: 'FetchExpired to /fetch', envelope: tell('/fetch', { type: 'FetchExpired', fetchId: rng.int(0, 1_000) }) },
    { label: 'UnsubscribeMetadata to /controller-client', envelope: tell('/controller-client', { type: 'UnsubscribeMetadata', subscriber: { node: String(other()), path: '/broker' } }) },
    { label: 'MetadataImageUpdated (malformed) to /broker', envelope: tell('/broker', { type: 'MetadataImageUpdated', image: { topics: 5 }, previous: null }) },
    { label: 'CreateTopicsReply { topics: 5 } to /broker', envelope: tell('/broker', { type: 'CreateTopicsReply', topics: 5 }) },
    { label: 'CheckpointHighWatermarks to /broker', envelope: tell('/broker', { type: 'CheckpointHighWatermarks' }) },
    { label: 'WriteTxnMarker to /broker', envelope: ask('/broker', { type: 'WriteTxnMarker', topic, partition: partition(), producerId: rng.int(0, 10), producerEpoch: 0, result: rng.next() < 0.5 ? 'abort' : 'commit', coordinatorEpoch: 1_000, timeoutMs: 1_000 }) },
    { label: '{ toString: 0 } type to /groups', envelope: tell(rng.next() < 0.5 ? '/groups' : '/transactions', { type: { toString: 0 }, replyTo: reply }) },
    { label: 'Watch /controller envelope', envelope: [protocolVersion, Kind.Watch, '/temp/h', '/controller'] },
    { label: 'Terminated envelope', envelope: [protocolVersion, Kind.Terminated, '/controller', '/controller-client', 'node-down'] },
    { label: 'ReplicaRestarted to /broker', envelope: tell('/broker', { type: 'ReplicaRestarted', key: `${topic}-${partition()}` }) },
    { label: 'TxnInternal to /transactions', envelope: tell('/transactions', { type: 'TxnInternal', token: {}, message: { type: 'TxnStatePartitionResigned', partition: 0 } }) },
  ];
}

type Target = { id: number; url: string };

/** Sends hostile traffic to random brokers until stop(). */
export class HostileClient {
  private running = false;
  private readonly loops: Promise<void>[] = [];
  private readonly sockets = new Set<WebSocket>();
  private readonly gen = new FrameGenerator();
  private readonly intervalMs: number;

  constructor(
    private readonly targets: () => Target[],
    private readonly seed: number,
    private readonly fault: number,
    private readonly stats: HostileStats,
    private readonly workload: { topic: string; partitions: number },
    framesPerSecond = hostileFramesPerSecondDefault,
  ) {
    this.intervalMs = (1_000 * hostileConnections) / framesPerSecond;
  }

  start(): void {
    this.running = true;
    this.stats.faults += 1;
    for (let c = 0; c < hostileConnections; c++) this.loops.push(this.connectionLoop(c));
  }

  async stop(): Promise<void> {
    this.running = false;
    for (const socket of this.sockets) socket.terminate();
    await Promise.all(this.loops);
  }

  private async connectionLoop(connection: number): Promise<void> {
    for (let session = 0; this.running; session++) {
      const rng = seededRng(mixSeed(this.seed, this.fault, connection, session));
      const targets = this.targets();
      if (targets.length === 0) {
        await sleep(200);
        continue;
      }
      const target = targets[rng.int(0, targets.length)]!;
      await this.session(rng, target, `hostile-${this.seed}-f${this.fault}-c${connection}-s${session}`).catch(() => undefined);
    }
  }

  private async session(rng: Rng, target: Target, nodeId: string): Promise<void> {
    const socket = new WebSocket(target.url, { perMessageDeflate: false, handshakeTimeout: 3_000 });
    this.sockets.add(socket);
    let closedByUs = false;
    const closed = new Promise<void>((resolve) => socket.on('close', () => resolve()));
    socket.on('error', () => undefined);
    socket.on('message', () => undefined);
    const opened = await new Promise<boolean>((resolve) => {
      socket.once('open', () => resolve(true));
      void closed.then(() => resolve(false));
    });
    try {
      if (!opened) {
        await sleep(200);
        return;
      }
      this.stats.sessions += 1;
      const brokerIds = this.targets().map((t) => t.id);
      const send = (bytes: Uint8Array): void => {
        if (socket.readyState !== WebSocket.OPEN) return;
        socket.send(bytes, { binary: true });
        this.stats.frames += 1;
        this.stats.byBroker[String(target.id)] = (this.stats.byBroker[String(target.id)] ?? 0) + 1;
      };
      const roll = rng.next();
      if (roll < 0.15) {
        // A hello claiming a broker's id: as a client (refused), or as a peer without the secret (never proven).
        const claimed = String(brokerIds[rng.int(0, brokerIds.length)] ?? 1);
        const asPeer = rng.next() < 0.5;
        send(this.gen.pack(helloEnvelope(rng, claimed, asPeer ? 'peer' : 'client')));
        if (asPeer) send(this.gen.pack([protocolVersion, Kind.Auth, Buffer.from(Array.from({ length: proofBytes }, () => rng.int(0, 256)))]));
        this.stats.forgedHellos += 1;
        for (const forged of forgedMessages(rng, claimed, brokerIds, this.workload.topic, this.workload.partitions).slice(0, rng.int(1, 5))) send(this.gen.pack(forged.envelope));
        await sleep(50);
        return;
      }
      send(this.gen.pack(helloEnvelope(rng, nodeId, 'client')));
      const ctx: FrameContext = { selfNodeId: nodeId, brokerIds: brokerIds.map(String), extraPaths: extraPathsOf(brokerIds.map(String)), clientTypes: clientTypesByPath(brokerIds) };
      const frames = rng.int(50, hostileSessionFramesMax + 1);
      for (let i = 0; i < frames && this.running && socket.readyState === WebSocket.OPEN; i++) {
        if (rng.next() < forgedShare) {
          const all = forgedMessages(rng, nodeId, brokerIds, this.workload.topic, this.workload.partitions);
          const forged = all[rng.int(0, all.length)]!;
          send(this.gen.pack(forged.envelope));
          this.stats.forged += 1;
          this.stats.forgedByType[forged.label] = (this.stats.forgedByType[forged.label] ?? 0) + 1;
        } else {
          // Mid-session, frames that end the link are drawn again (bounded); the session's last frame may be one.
          let frame = this.gen.frame(rng, ctx);
          for (let draw = 0; i < frames - 1 && draw < 5 && isFatalFrame(frame.bytes); draw++) frame = this.gen.frame(rng, ctx);
          send(frame.bytes);
          this.stats.fuzzed += 1;
        }
        await sleep(this.intervalMs);
      }
      if (socket.readyState !== WebSocket.OPEN && !closedByUs) this.stats.closedByBroker += 1;
    } finally {
      closedByUs = true;
      socket.terminate();
      await Promise.race([closed, sleep(1_000)]);
      this.sockets.delete(socket);
    }
  }
}
