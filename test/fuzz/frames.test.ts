/**
 * The native fuzzer's generator, without a cluster. Goal: a seed replays (the
 * same frames from the same seed), the generator reaches every actor path,
 * every message type the sources declare and every strategy, and the
 * runtime's pure boundary functions (decodeFrame, validateEnvelope, admit
 * with each actor's declared protocol) never throw on what it makes: bad
 * input is a failure value or a refusal, never an exception. Method: 30,000
 * frames of seed 7 through them in process.
 */
import { describe, expect, it } from 'vitest';
import { Kind, decodeFrame, isDecodeFailure, validateEnvelope } from '../../runtime/envelope.ts';
import { admit, type RemoteOrigin } from '../../runtime/protocol.ts';
import { seededRng } from '../../runtime/rng.ts';
import { brokerProtocol } from '../../actors/broker/actor.ts';
import { fetchServerProtocol } from '../../actors/fetch/server.ts';
import { controllerProtocol } from '../../actors/controller/actor.ts';
import { groupsProtocol } from '../../actors/group-coordinator/actor.ts';
import { transactionsProtocol } from '../../actors/txn-coordinator/actor.ts';
import { faultControlProtocol } from '../../runtime/fault-control.ts';
import { FrameGenerator, isFatalFrame, strategyWeights, type FrameContext } from './frames.ts';
import { clientTypesByPath, extraPathsOf } from './native-fuzz.ts';
import { brokerActorPaths, collectMessageSchemas } from './schema.ts';

const ctx: FrameContext = { selfNodeId: 'fz-test', brokerIds: ['1', '2', '3'], extraPaths: extraPathsOf(['1', '2', '3']), clientTypes: clientTypesByPath([1, 2, 3]) };
const frameCount = 30_000;

describe('native fuzz frame generator', () => {
  it('collects the message types of the sources, the internal ones the issue forged included', () => {
    const types = collectMessageSchemas().map((s) => s.type);
    expect(types.length).toBeGreaterThan(150);
    for (const t of ['Terminated', 'AllocateProducerIdsReply', 'RaftMessage', 'PauseFetcher', 'FetchExpired', 'UnsubscribeMetadata', 'MetadataImageUpdated', 'CreateTopicsReply', 'ControllerCall', 'ControllerRequest', 'Fetch', 'Produce', 'JoinGroup', 'EndTxn', 'CheckpointHighWatermarks']) expect(types).toContain(t);
    expect(collectMessageSchemas().find((s) => s.type === 'Fetch')!.fields).toEqual(expect.arrayContaining(['replicaId', 'partitions', 'replyTo']));
  });

  it('replays: one seed, the same frames', () => {
    const a = new FrameGenerator();
    const b = new FrameGenerator();
    const ra = seededRng(7);
    const rb = seededRng(7);
    for (let i = 0; i < 2_000; i++) expect(Buffer.from(a.frame(ra, ctx).bytes).equals(Buffer.from(b.frame(rb, ctx).bytes))).toBe(true);
  });

  it('reaches every path, type and strategy; decoding, validation and admission never throw', () => {
    const gen = new FrameGenerator();
    const rng = seededRng(7);
    const origins: RemoteOrigin[] = [
      { kind: 'client', nodeId: 'fz-test' },
      { kind: 'peer', nodeId: '2' },
    ];
    const protocols = [brokerProtocol, fetchServerProtocol, controllerProtocol([1, 2, 3]), groupsProtocol, transactionsProtocol, faultControlProtocol, undefined];
    const labels: string[] = [];
    const strategies = new Set<string>();
    let fatal = 0;
    let admitted = 0;
    for (let i = 0; i < frameCount; i++) {
      const frame = gen.frame(rng, ctx);
      labels.push(frame.label);
      strategies.add(frame.strategy);
      if (isFatalFrame(frame.bytes)) fatal += 1;
      const values = decodeFrame(frame.bytes);
      if (isDecodeFailure(values)) continue;
      for (const value of values) {
        const envelope = validateEnvelope(value);
        if (isDecodeFailure(envelope)) {
          expect(typeof envelope.errorMessage).toBe('string');
          continue;
        }
        if (envelope.kind !== Kind.Tell && envelope.kind !== Kind.Ask) continue;
        for (const protocol of protocols) for (const origin of origins) if (admit(protocol, envelope.message, origin, envelope.targetPath).admitted) admitted += 1;
      }
    }
    const text = labels.join('\n');
    for (const path of brokerActorPaths) expect(text, path).toContain(` ${path} `);
    const missing = collectMessageSchemas()
      .map((s) => s.type)
      .filter((t) => !new RegExp(`(Tell|Ask) \\S+ ${t}\\b`).test(text));
    expect(missing).toEqual([]);
    expect([...strategies].sort()).toEqual(Object.keys(strategyWeights).sort());
    expect(fatal).toBeGreaterThan(frameCount / 50);
    expect(admitted).toBeGreaterThan(frameCount / 10);
  }, 60_000);
});
