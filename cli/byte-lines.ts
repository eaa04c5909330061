/**
 * Lines of a byte stream as Buffers, never decoded: what `kactus produce`
 * reads, so a value that is not UTF-8 goes out as the bytes it was (kcat's
 * binary-safe line mode). A line ends at \n; a \r before it is dropped, as
 * Kafka's console producer (Java's readLine) and node's readline do. The last
 * line needs no \n.
 *
 * Bounded: a line longer than `lineBytesMax` (no \n within it) is an error
 * rather than a buffer that grows with the input; pause()/resume() pass
 * through to the source, so a caller with enough work in flight stops the
 * reading, and close() ends it early.
 *
 * Imports: nothing but Node's types.
 */

export type ByteLineEvents = {
  line: (line: Buffer) => void;
  /** The input ended (or close() was called); after an error too. */
  close: () => void;
  error: (err: Error) => void;
};

const newline = 0x0a;
const carriageReturn = 0x0d;

export class ByteLines {
  private carry: Buffer[] = [];
  private carryBytes = 0;
  private closed = false;

  constructor(
    private readonly source: NodeJS.ReadableStream,
    private readonly lineBytesMax: number,
    private readonly on: ByteLineEvents,
  ) {
    source.on('data', (chunk: Buffer | string) => this.onData(typeof chunk === 'string' ? Buffer.from(chunk) : chunk));
    source.once('end', () => this.finish());
    source.once('error', (err: Error) => {
      if (this.closed) return;
      this.on.error(err);
      this.close();
    });
  }

  pause(): void {
    this.source.pause();
  }

  resume(): void {
    if (!this.closed) this.source.resume();
  }

  /** Stops reading: no more lines, then `close`. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.source.pause();
    this.source.removeAllListeners('data');
    this.on.close();
  }

  private onData(chunk: Buffer): void {
    let from = 0;
    while (!this.closed) {
      const at = chunk.indexOf(newline, from);
      if (at < 0) break;
      this.emit(this.takeCarry(chunk.subarray(from, at)));
      from = at + 1;
    }
    if (this.closed || from >= chunk.length) return;
    const rest = chunk.subarray(from);
    if (this.carryBytes + rest.length > this.lineBytesMax) {
      this.on.error(new Error(`a line is longer than ${this.lineBytesMax} bytes`));
      this.close();
      return;
    }
    // Copied: the source may reuse its chunk.
    this.carry.push(Buffer.from(rest));
    this.carryBytes += rest.length;
  }

  private takeCarry(tail: Buffer): Buffer {
    if (this.carry.length === 0) return tail;
    const line = Buffer.concat([...this.carry, tail]);
    this.carry = [];
    this.carryBytes = 0;
    return line;
  }

  private emit(line: Buffer): void {
    if (line.length > this.lineBytesMax) {
      this.on.error(new Error(`a line is longer than ${this.lineBytesMax} bytes`));
      this.close();
      return;
    }
    this.on.line(line.length > 0 && line[line.length - 1] === carriageReturn ? line.subarray(0, line.length - 1) : line);
  }

  private finish(): void {
    if (this.closed) return;
    if (this.carryBytes > 0) this.emit(this.takeCarry(Buffer.alloc(0)));
    this.close();
  }
}
