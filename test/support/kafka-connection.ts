/**
 * Test helper: one persistent Kafka-protocol connection to a listener, for a
 * client that keeps state across requests (a group member: JoinGroup,
 * SyncGroup, Heartbeat, OffsetCommit on the coordinator's connection).
 * Requests may be pipelined; answers are matched in request order (Kafka's
 * rule) and checked against the correlation id. Encoded and decoded with the
 * project's own codec. Not a test file itself.
 */
import { connect, type Socket } from 'node:net';
import type { KafkaValue } from '../../protocol/kafka/codec.ts';
import { FrameSplitter } from '../../protocol/kafka/frames.ts';
import { apiKeys, apis, decodeResponse, encodeRequest, type ApiInfo } from '../../protocol/kafka/messages.ts';

type Pending = { api: ApiInfo; version: number; correlationId: number; resolve: (body: KafkaValue) => void; reject: (err: Error) => void; timer: NodeJS.Timeout };

export class KafkaConnection {
  private readonly pending: Pending[] = [];
  private readonly splitter = new FrameSplitter();
  private nextCorrelationId = 1;
  private closedError: Error | null = null;

  private constructor(private readonly socket: Socket, readonly clientId: string) {
    socket.on('data', (chunk: Buffer) => {
      for (const frame of this.splitter.push(chunk).frames) {
        const head = this.pending.shift();
        if (head === undefined) return this.fail(new Error('an answer to no request'));
        clearTimeout(head.timer);
        try {
          const { correlationId, body } = decodeResponse(head.api, head.version, Buffer.from(frame));
          if (correlationId !== head.correlationId) throw new Error(`answer ${correlationId} to request ${head.correlationId}`);
          head.resolve(body);
        } catch (err) {
          head.reject(err as Error);
        }
      }
    });
    socket.on('error', (err) => this.fail(err));
    socket.on('close', () => this.fail(new Error('connection closed')));
  }

  static async open(host: string, port: number, clientId = 'kactus-test'): Promise<KafkaConnection> {
    const socket = connect(port, host);
    await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
    return new KafkaConnection(socket, clientId);
  }

  request(apiName: string, version: number, body: KafkaValue, timeoutMs = 30_000): Promise<KafkaValue> {
    const api = apis.get(apiKeys[apiName]!);
    if (api === undefined) return Promise.reject(new Error(`no api ${apiName}`));
    if (this.closedError !== null) return Promise.reject(this.closedError);
    const correlationId = this.nextCorrelationId++;
    return new Promise<KafkaValue>((resolve, reject) => {
      const timer = setTimeout(() => this.fail(new Error(`${apiName} v${version}: no answer within ${timeoutMs} ms`)), timeoutMs);
      this.pending.push({ api, version, correlationId, resolve, reject, timer });
      this.socket.write(encodeRequest(api, version, { correlationId, clientId: this.clientId }, body));
    });
  }

  private fail(err: Error): void {
    this.closedError ??= err;
    for (const p of this.pending.splice(0)) {
      clearTimeout(p.timer);
      p.reject(err);
    }
    this.socket.destroy();
  }

  close(): void {
    this.fail(new Error('closed by the test'));
  }
}
