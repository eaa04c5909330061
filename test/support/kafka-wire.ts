/**
 * Test helper: one Kafka-protocol request over a real TCP connection to a
 * Kafka listener, answered and decoded with the project's own codec (the
 * third-party clients are tested against the listener elsewhere). Not a test
 * file itself.
 */
import { connect } from 'node:net';
import type { KafkaValue } from '../../protocol/kafka/codec.ts';
import { FrameSplitter } from '../../protocol/kafka/frames.ts';
import { apiKeys, apis, decodeResponse, encodeRequest } from '../../protocol/kafka/messages.ts';
import { scramClientFinal, scramClientFirst } from '../../protocol/sasl/scram.ts';

export async function kafkaRequest(host: string, port: number, apiName: string, version: number, body: KafkaValue, timeoutMs = 10_000): Promise<KafkaValue> {
  const api = apis.get(apiKeys[apiName]!);
  if (api === undefined) throw new Error(`no api ${apiName}`);
  const socket = connect(port, host);
  try {
    return await new Promise<KafkaValue>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${apiName} v${version} to ${host}:${port}: no answer within ${timeoutMs} ms`)), timeoutMs);
      const splitter = new FrameSplitter();
      socket.once('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
      socket.once('close', () => {
        clearTimeout(timer);
        reject(new Error(`${apiName} v${version} to ${host}:${port}: connection closed`));
      });
      socket.on('data', (chunk: Buffer) => {
        const { frames } = splitter.push(chunk);
        if (frames.length === 0) return;
        clearTimeout(timer);
        try {
          resolve(decodeResponse(api, version, Buffer.from(frames[0]!)).body);
        } catch (err) {
          reject(err);
        }
      });
      socket.once('connect', () => socket.write(encodeRequest(api, version, { correlationId: 1, clientId: 'kactus-test' }, body)));
    });
  } finally {
    socket.destroy();
  }
}

/** A Kafka connection kept open for several requests in turn (SASL exchanges); `closed` resolves when the broker closes it. */
export type KafkaConnection = {
  request(apiName: string, version: number, body: KafkaValue, timeoutMs?: number): Promise<KafkaValue>;
  readonly closed: Promise<void>;
  isOpen(): boolean;
  close(): void;
};

export async function kafkaConnection(host: string, port: number): Promise<KafkaConnection> {
  const socket = connect(port, host);
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', () => resolve());
    socket.once('error', reject);
  });
  let open = true;
  const closed = new Promise<void>((resolve) => socket.once('close', () => {
    open = false;
    resolve();
  }));
  socket.on('error', () => undefined);
  const splitter = new FrameSplitter();
  const waiting: ((frame: Buffer) => void)[] = [];
  socket.on('data', (chunk: Buffer) => {
    for (const frame of splitter.push(chunk).frames) waiting.shift()?.(Buffer.from(frame));
  });
  let correlationId = 0;
  return {
    closed,
    isOpen: () => open,
    close: () => socket.destroy(),
    request(apiName, version, body, timeoutMs = 10_000) {
      const api = apis.get(apiKeys[apiName]!);
      if (api === undefined) throw new Error(`no api ${apiName}`);
      correlationId += 1;
      return new Promise<KafkaValue>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`${apiName} v${version}: no answer within ${timeoutMs} ms`)), timeoutMs);
        void closed.then(() => {
          clearTimeout(timer);
          reject(new Error(`${apiName} v${version}: connection closed`));
        });
        waiting.push((frame) => {
          clearTimeout(timer);
          try {
            resolve(decodeResponse(api, version, frame).body);
          } catch (err) {
            reject(err as Error);
          }
        });
        socket.write(encodeRequest(api, version, { correlationId, clientId: 'kactus-test' }, body));
      });
    },
  };
}

/** A Kafka connection authenticated with SASL/SCRAM-SHA-256 (SaslHandshake v1 + SaslAuthenticate v2), or an error. */
export async function scramKafkaConnection(host: string, port: number, username: string, password: string): Promise<KafkaConnection> {
  const connection = await kafkaConnection(host, port);
  const handshake = (await connection.request('SaslHandshake', 1, { mechanism: 'SCRAM-SHA-256' })) as { errorCode: number };
  if (handshake.errorCode !== 0) throw new Error(`SaslHandshake: error ${handshake.errorCode}`);
  const client = scramClientFirst('SCRAM-SHA-256', username);
  const first = (await connection.request('SaslAuthenticate', 2, { authBytes: client.message })) as { errorCode: number; authBytes: Buffer };
  if (first.errorCode !== 0) throw new Error(`SaslAuthenticate: error ${first.errorCode}`);
  const final = scramClientFinal(client.exchange, password, first.authBytes);
  if (!final.ok) throw new Error(final.reason);
  const done = (await connection.request('SaslAuthenticate', 2, { authBytes: final.message })) as { errorCode: number };
  if (done.errorCode !== 0) throw new Error(`SaslAuthenticate: error ${done.errorCode}`);
  return connection;
}
