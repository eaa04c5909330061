/**
 * The Kafka-listener fuzzer: `runKafkaFuzz(options) -> KafkaFuzzResult`.
 *
 * Goal (issue 18, item 4): no frame a Kafka client can send kills or blocks
 * a broker, and a well-behaved Kafka client is served during and after.
 * Method:
 *   1. a real 3-broker cluster of processes (test/support/cluster.ts), each
 *      with a Kafka listener on a free port (`listeners=PLAINTEXT://127.0.0.1:0`:
 *      the broker registers the port it bound, read back from Metadata);
 *   2. `connections` fuzz connections, round robin over the brokers, each
 *      sending frames from KafkaFrameGenerator (kafka-frames.ts: valid,
 *      mutated, header-only, noise and fatal frames, drawn from Kafka's
 *      schemas) from seededRng(seed + connection); when the listener closes
 *      the connection (it must, for what it cannot read), the next one opens;
 *   3. meanwhile the well-behaved client asks ApiVersions and Metadata over
 *      the Kafka listener of every broker in turn, recording the longest gap
 *      between answers;
 *   4. stop at `frames` or `seconds`; then every broker must still be the
 *      same process, answer ApiVersions and Metadata, list 3 brokers.
 *
 * Processes: only the brokers this run started (killAllChildren), in
 * `finally`, also on failure. A failure names the seed, and for a broker
 * exit the last frames sent to it (hex).
 */
import { connect, type Socket } from 'node:net';
import { FrameSplitter, kafkaFrameLimits } from '../../protocol/kafka/frames.ts';
import { seededRng } from '../../runtime/rng.ts';
import { kafkaListenerPorts, startTestCluster, type TestCluster } from '../support/cluster.ts';
import { killAllChildren } from '../support/processes.ts';
import { kafkaRequest } from '../support/kafka-wire.ts';
import { KafkaFrameGenerator, kafkaFuzzStateCreatingRequestsMax, type GeneratedKafkaFrame, type StateCreationBudget } from './kafka-frames.ts';
import { servedApiVersions } from '../../actors/kafka/handlers.ts';

/** Bytes our socket may hold unsent before a fuzz connection waits for drain. */
export const kafkaFuzzBufferedBytesMax = 1 << 20;
/** Frames sent between yields to the event loop (the well-behaved client shares this process). */
export const kafkaFramesPerYield = 16;
/** Longest the well-behaved client may wait for an answer while the fuzz runs. */
export const kafkaServedGapMsMax = 15_000;
/** Log lines at warn or above kept per broker for a failure report. */
export const kafkaFuzzWarningsKept = 15;
/** Frames kept per broker for a failure report. */
export const kafkaRecentFramesKept = 32;
/** How long one well-behaved request may take before it counts as unanswered. */
const wellBehavedTimeoutMs = 10_000;

export type KafkaFuzzOptions = { seed: number; frames: number; seconds: number; connections: number; log?: (line: string) => void };

export type KafkaFuzzResult = {
  seed: number;
  frames: number;
  byStrategy: Record<string, number>;
  connectionsOpened: number;
  closedByBroker: number;
  answers: number;
  wellBehaved: { answered: number; failed: number; longestGapMs: number };
  exits: string[];
  problems: string[];
  recentByBroker: Record<number, string[]>;
  /** On a failure only: each broker's last warnings and errors from its log. */
  brokerWarnings: Record<number, string[]>;
};

/** The pino lines at warn or above in a broker's stderr tail (brokers log to stderr: stdout is their control channel). */
function warningsOf(stderr: string): string[] {
  const kept: string[] = [];
  for (const text of stderr.split('\n')) {
    try {
      const line = JSON.parse(text) as { level?: unknown };
      // A refused fuzz request is logged at warn by design; what fenced a broker is among the rest.
      if (typeof line.level === 'number' && line.level >= 40 && !/invalid_request/.test(String((line as { msg?: unknown }).msg))) kept.push(text.slice(0, 600));
    } catch {
      // a partial first line of the tail
    }
  }
  return kept.slice(-kafkaFuzzWarningsKept);
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

export async function runKafkaFuzz(options: KafkaFuzzOptions): Promise<KafkaFuzzResult> {
  const log = options.log ?? (() => undefined);
  const result: KafkaFuzzResult = { seed: options.seed, frames: 0, byStrategy: {}, connectionsOpened: 0, closedByBroker: 0, answers: 0, wellBehaved: { answered: 0, failed: 0, longestGapMs: 0 }, exits: [], problems: [], recentByBroker: {}, brokerWarnings: {} };
  let cluster: TestCluster | undefined;
  /** Set before this run stops the brokers itself: their exits from then on are ours, not the fuzz's. */
  let stopping = false;
  try {
    cluster = await startTestCluster(3, ['listeners=PLAINTEXT://127.0.0.1:0']);
    const kafkaPorts = await kafkaListenerPorts(cluster);
    const brokerIds = [...kafkaPorts.keys()].sort((a, b) => a - b);
    for (const b of cluster.brokers) {
      result.recentByBroker[b.id] = [];
      void b.child?.exited.then(({ code, signal }) => {
        if (!stopping) result.exits.push(`broker ${b.id} exited (${code ?? signal}) during the fuzz`);
      });
    }
    log(`cluster up; Kafka ports ${JSON.stringify(Object.fromEntries(kafkaPorts))}`);

    const deadline = Date.now() + options.seconds * 1_000;
    let stop = false;
    const done = (): boolean => stop || result.frames >= options.frames || Date.now() >= deadline;

    const wellBehaved = (async () => {
      let lastAnswerMs = Date.now();
      for (let round = 0; !done(); round += 1) {
        const brokerId = brokerIds[round % brokerIds.length]!;
        const port = kafkaPorts.get(brokerId)!;
        try {
          const versions = await kafkaRequest('127.0.0.1', port, 'ApiVersions', 3, { clientSoftwareName: 'fuzz-wb', clientSoftwareVersion: '1' }, wellBehavedTimeoutMs);
          if (versions.errorCode !== 0) throw new Error(`ApiVersions error ${String(versions.errorCode)}`);
          const answer = await kafkaRequest('127.0.0.1', port, 'Metadata', 9, { topics: null, allowAutoTopicCreation: false }, wellBehavedTimeoutMs);
          if ((answer.brokers as unknown[]).length !== 3) throw new Error(`Metadata listed ${(answer.brokers as unknown[]).length} brokers`);
          result.wellBehaved.answered += 1;
          const now = Date.now();
          result.wellBehaved.longestGapMs = Math.max(result.wellBehaved.longestGapMs, now - lastAnswerMs);
          lastAnswerMs = now;
        } catch (err) {
          result.wellBehaved.failed += 1;
          log(`well-behaved request to broker ${brokerId} failed: ${String(err)}`);
        }
        await sleep(50);
      }
      result.wellBehaved.longestGapMs = Math.max(result.wellBehaved.longestGapMs, Date.now() - lastAnswerMs);
    })();

    // One budget for the whole run (kafka-frames.ts StateCreationBudget): past it, creations are validateOnly.
    const stateBudget: StateCreationBudget = { remaining: kafkaFuzzStateCreatingRequestsMax };
    const fuzzers = Array.from({ length: options.connections }, async (_, connectionIndex) => {
      const generator = new KafkaFrameGenerator(seededRng(options.seed * 1_000 + connectionIndex), kafkaFrameLimits.socketRequestMaxBytes, servedApiVersions(), stateBudget);
      for (let session = 0; !done(); session += 1) {
        const brokerId = brokerIds[(connectionIndex + session) % brokerIds.length]!;
        await fuzzSession(kafkaPorts.get(brokerId)!, generator, result, result.recentByBroker[brokerId]!, done);
        result.connectionsOpened += 1;
      }
    });
    await Promise.all(fuzzers);
    stop = true;
    await wellBehaved;

    // After: every broker the same process, still answering.
    await sleep(500);
    for (const brokerId of brokerIds) {
      try {
        const answer = await kafkaRequest('127.0.0.1', kafkaPorts.get(brokerId)!, 'Metadata', 1, { topics: null }, wellBehavedTimeoutMs);
        const listed = (answer.brokers as { nodeId: number }[]).map((b) => b.nodeId);
        if (listed.length !== 3) result.problems.push(`after the fuzz broker ${brokerId} lists ${listed.length} brokers (${listed.join(', ')})`);
      } catch (err) {
        result.problems.push(`after the fuzz broker ${brokerId} does not answer Metadata: ${String(err)}`);
      }
    }
    // For a failure: each broker's last warnings and errors (pino level >= 40 on its stderr), to say why it was fenced.
    if (result.problems.length > 0) for (const broker of cluster.brokers) result.brokerWarnings[broker.id] = warningsOf(broker.child?.stderrTail() ?? '');
    if (result.wellBehaved.longestGapMs > kafkaServedGapMsMax) result.problems.push(`the well-behaved client waited ${result.wellBehaved.longestGapMs} ms for an answer (bound ${kafkaServedGapMsMax} ms)`);
    if (result.wellBehaved.answered === 0) result.problems.push('the well-behaved client was never answered');
    return result;
  } finally {
    stopping = true;
    await cluster?.cleanup().catch(() => undefined);
    await killAllChildren();
  }
}

/** One connection: frames until the broker closes it, a fatal frame was sent, or the run ends. */
async function fuzzSession(port: number, generator: KafkaFrameGenerator, result: KafkaFuzzResult, recent: string[], done: () => boolean): Promise<void> {
  const socket: Socket = connect(port, '127.0.0.1');
  let closed = false;
  const splitter = new FrameSplitter();
  socket.on('data', (chunk: Buffer) => {
    result.answers += splitter.push(chunk).frames.length;
  });
  socket.on('error', () => undefined);
  const closedPromise = new Promise<void>((resolve) => socket.once('close', () => {
    closed = true;
    resolve();
  }));
  await new Promise<void>((resolve) => {
    socket.once('connect', () => resolve());
    socket.once('close', () => resolve());
  });
  let sentInSession = 0;
  const clean = generator.nextSessionClean();
  // A clean session ends by itself after a bounded number of requests (it is never closed for bad input).
  const cleanFramesMax = 400;
  while (!closed && !done() && !(clean && sentInSession >= cleanFramesMax)) {
    const frame: GeneratedKafkaFrame = generator.next(clean);
    result.frames += 1;
    result.byStrategy[frame.strategy] = (result.byStrategy[frame.strategy] ?? 0) + 1;
    recent.push(`${frame.strategy} ${frame.api ?? '-'} v${frame.version ?? '-'} ${frame.bytes.subarray(0, 64).toString('hex')}`);
    if (recent.length > kafkaRecentFramesKept) recent.shift();
    socket.write(frame.bytes);
    sentInSession += 1;
    if (frame.strategy === 'fatal') break;
    if (socket.writableLength > kafkaFuzzBufferedBytesMax) await new Promise<void>((resolve) => socket.once('drain', () => resolve()).once('close', () => resolve()));
    if (sentInSession % kafkaFramesPerYield === 0) await new Promise((resolve) => setImmediate(resolve));
  }
  if (!closed) {
    // A fatal frame or the end of the run: give the broker a moment to close it, then close it ourselves.
    await Promise.race([closedPromise, sleep(200)]);
    if (!closed) socket.destroy();
    else result.closedByBroker += 1;
  } else result.closedByBroker += 1;
}

export function describeKafkaFuzz(result: KafkaFuzzResult): string {
  const lines = [
    `kafka fuzz seed=${result.seed}: ${result.frames} frames ${JSON.stringify(result.byStrategy)}, ${result.connectionsOpened} connections (${result.closedByBroker} closed by a broker), ${result.answers} answers`,
    `well-behaved: ${result.wellBehaved.answered} answered, ${result.wellBehaved.failed} failed, longest gap ${result.wellBehaved.longestGapMs} ms`,
    `exits: ${result.exits.length === 0 ? 'none' : result.exits.join('; ')}`,
    `problems: ${result.problems.length === 0 ? 'none' : result.problems.join('; ')}`,
  ];
  if (result.exits.length > 0) for (const [broker, frames] of Object.entries(result.recentByBroker)) lines.push(`last frames to broker ${broker} (seed ${result.seed}):`, ...frames.map((f) => `  ${f}`));
  return lines.join('\n');
}
