/**
 * The far end of `npm run bench:runtime`: a node in its own process with
 *   /sink  counts small tells (N); Ack { replyTo } replies the count once handled (FIFO after the tells)
 *   /blob  counts payload bytes (Blob { bytes }); Ack replies the byte total
 *   /echo  replies to every Ping ask at once
 * Every actor takes its messages from peers: the node holds the cluster secret
 * of KACTUS_CLUSTER_SECRET (bench/runtime.ts sets it), as the bench node does.
 * Prints {"event":"ready","url":...} on stdout; logs go to stderr.
 */
import { Node } from '../../runtime/node.ts';
import { createLogger } from '../../runtime/logger.ts';
import type { Ref } from '../../runtime/ref.ts';

type Ack = { type: 'Ack'; replyTo: Ref<number> };
type N = { type: 'N'; n: number };
type Blob = { type: 'Blob'; bytes: Uint8Array };
type Ping = { type: 'Ping'; replyTo: Ref<number> };
const port = Number(process.argv[2] ?? 0);
const secretText = process.env.KACTUS_CLUSTER_SECRET?.trim();
if (secretText === undefined || secretText.length < 16) {
  process.stderr.write('bench runtime-peer: KACTUS_CLUSTER_SECRET (at least 16 characters) is required\n');
  process.exit(2);
}
const node = await Node.start({
  nodeId: 'bench-peer',
  listen: { host: '127.0.0.1', port },
  logger: createLogger({ node: 'bench-peer' }, process.env.LOG_LEVEL ?? 'warn', 2),
  clusterSecret: Buffer.from(secretText, 'utf8'),
});
node.stopOnSignals();

node.spawn<number, N | Ack>('sink', {
  accepts: { peer: { N: true, Ack: true } },
  init: () => 0,
  receive: (count, msg, ctx) => {
    if (msg.type === 'N') return count + 1;
    ctx.node.tell(msg.replyTo, count);
    return count;
  },
});
node.spawn<number, Blob | Ack>('blob', {
  accepts: { peer: { Blob: true, Ack: true } },
  init: () => 0,
  receive: (bytes, msg, ctx) => {
    if (msg.type === 'Blob') return bytes + msg.bytes.length;
    ctx.node.tell(msg.replyTo, bytes);
    return bytes;
  },
});
node.spawn<null, Ping>('echo', {
  accepts: { peer: { Ping: true } },
  init: () => null,
  receive: (state, msg, ctx) => (ctx.node.tell(msg.replyTo, 1), state),
});
process.stdout.write(`${JSON.stringify({ event: 'ready', url: node.url })}\n`);
