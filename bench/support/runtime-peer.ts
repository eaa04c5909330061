/**
 * The far end of `npm run bench:runtime`: a node in its own process with
 *   /sink  counts small tells; Ack { upTo, replyTo } replies the count once handled (FIFO after the tells)
 *   /blob  counts payload bytes; Ack replies the byte total
 *   /echo  replies to every ask at once
 * Prints {"event":"ready","url":...} on stdout; logs go to stderr.
 */
import { Node } from '../../runtime/node.ts';
import { createLogger } from '../../runtime/logger.ts';
import type { Ref } from '../../runtime/ref.ts';

type Ack = { type: 'Ack'; replyTo: Ref<number> };
const port = Number(process.argv[2] ?? 0);
const node = await Node.start({ nodeId: 'bench-peer', listen: { host: '127.0.0.1', port }, logger: createLogger({ node: 'bench-peer' }, process.env.LOG_LEVEL ?? 'warn', 2) });
node.stopOnSignals();

node.spawn<number, number | Ack>('sink', {
  init: () => 0,
  receive: (count, msg, ctx) => {
    if (typeof msg === 'number') return count + 1;
    ctx.node.tell(msg.replyTo, count);
    return count;
  },
});
node.spawn<number, Uint8Array | Ack>('blob', {
  init: () => 0,
  receive: (bytes, msg, ctx) => {
    if (msg instanceof Uint8Array) return bytes + msg.length;
    ctx.node.tell(msg.replyTo, bytes);
    return bytes;
  },
});
node.spawn<null, { replyTo: Ref<number> }>('echo', {
  init: () => null,
  receive: (state, msg, ctx) => (ctx.node.tell(msg.replyTo, 1), state),
});
process.stdout.write(`${JSON.stringify({ event: 'ready', url: node.url })}\n`);
