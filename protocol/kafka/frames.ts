/**
 * Kafka's framing: every request and response is an int32 size followed by
 * that many bytes. `FrameSplitter` turns the chunks a TCP socket delivers
 * into whole frames, pure (no sockets), so it is tested byte by byte.
 *
 * Owns: `FrameSplitter`, `kafkaFrameLimits`.
 *
 * Bounds: a frame larger than `socketRequestMaxBytes` (Kafka's
 * socket.request.max.bytes, 100 MiB) or with a negative size is a protocol
 * violation: `push` reports it and the listener closes the connection, as
 * Kafka does, before any of it is buffered. Bytes are held only until their
 * frame is complete; a frame split over many chunks is copied once, a frame
 * inside one chunk is a view (zero copy).
 */

export const kafkaFrameLimits = {
  /** socket.request.max.bytes: the largest request frame (Kafka's default, 100 MiB). */
  socketRequestMaxBytes: 100 * 1024 * 1024,
} as const;

export type SplitResult = { readonly frames: Buffer[]; readonly error: string | null };

export class FrameSplitter {
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  /** Size of the frame being assembled (after its prefix was read), or -1 while reading a prefix. */
  private frameBytes = -1;
  private failed = false;

  constructor(private readonly maxFrameBytes: number = kafkaFrameLimits.socketRequestMaxBytes) {}

  /** Bytes held for incomplete frames. */
  bufferedBytes(): number {
    return this.pendingBytes;
  }

  /** Feeds a chunk; returns the frames it completed (without their size prefix) and an error that ends the connection. */
  push(chunk: Buffer): SplitResult {
    if (this.failed) return { frames: [], error: 'connection already failed' };
    const frames: Buffer[] = [];
    let data = chunk;
    for (;;) {
      if (this.frameBytes < 0) {
        if (this.pendingBytes + data.length < 4) {
          this.hold(data);
          return { frames, error: null };
        }
        const prefix = this.take(4, data);
        data = prefix.rest;
        const size = prefix.taken.readInt32BE(0);
        if (size < 0 || size > this.maxFrameBytes) {
          this.failed = true;
          this.pending = [];
          this.pendingBytes = 0;
          return { frames, error: size < 0 ? `negative frame size ${size}` : `frame of ${size} bytes exceeds socket.request.max.bytes ${this.maxFrameBytes}` };
        }
        this.frameBytes = size;
      }
      if (this.pendingBytes + data.length < this.frameBytes) {
        this.hold(data);
        return { frames, error: null };
      }
      const frame = this.take(this.frameBytes, data);
      frames.push(frame.taken);
      data = frame.rest;
      this.frameBytes = -1;
      if (data.length === 0) return { frames, error: null };
    }
  }

  private hold(data: Buffer): void {
    if (data.length === 0) return;
    this.pending.push(data);
    this.pendingBytes += data.length;
  }

  /** `bytes` from the held chunks plus `data`; a view when they all come from `data`. */
  private take(bytes: number, data: Buffer): { taken: Buffer; rest: Buffer } {
    if (this.pendingBytes === 0) return { taken: data.subarray(0, bytes), rest: data.subarray(bytes) };
    const fromData = bytes - this.pendingBytes;
    const taken = Buffer.concat([...this.pending, data.subarray(0, fromData)], bytes);
    this.pending = [];
    this.pendingBytes = 0;
    return { taken, rest: data.subarray(fromData) };
  }
}
