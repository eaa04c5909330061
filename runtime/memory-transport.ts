/**
 * An in-process transport for fast, deterministic tests of logic.
 *
 * A `MemoryNetwork` maps `mem://host:port` URLs to listeners; a dial makes a
 * pair of connected links. Frames are delivered in order on a later
 * event-loop turn (never synchronously, as a socket would not), and copied so
 * that a receiver can never see a sender's later writes. Faults are injected
 * above the transport by `FaultPlan`, exactly as over ws. This is not a
 * substitute for the multi-process tests over ws.
 */
import type { Link, LinkCloseReason, Listener, Transport } from './transport.ts';

class MemoryLink implements Link {
  peer: MemoryLink | undefined;
  readonly closed: Promise<LinkCloseReason>;
  private resolveClosed!: (reason: LinkCloseReason) => void;
  private isClosed = false;
  private frameHandler: (frame: Uint8Array) => void = () => {};
  private readonly inbox: Uint8Array[] = [];
  private draining = false;
  private paused = false;

  constructor(readonly remoteAddress: string) {
    this.closed = new Promise((resolve) => {
      this.resolveClosed = resolve;
    });
  }

  send(frame: Uint8Array): void {
    if (this.isClosed || this.peer === undefined) return;
    this.peer.enqueue(Buffer.from(frame));
  }

  private enqueue(frame: Uint8Array): void {
    this.inbox.push(frame);
    this.scheduleDrain();
  }

  private scheduleDrain(): void {
    if (this.draining || this.paused) return;
    this.draining = true;
    setImmediate(() => {
      this.draining = false;
      if (this.paused) return;
      const frames = this.inbox.splice(0, this.inbox.length);
      for (const f of frames) if (!this.isClosed) this.frameHandler(f);
    });
  }

  pause(): void {
    this.paused = true;
  }

  resume(): void {
    this.paused = false;
    if (this.inbox.length > 0) this.scheduleDrain();
  }

  bufferedBytes(): number {
    return 0;
  }

  onFrame(handler: (frame: Uint8Array) => void): void {
    this.frameHandler = handler;
  }

  onDrain(): void {}

  close(code: number, reason: string): void {
    this.closeLocal({ code, reason });
    this.peer?.closeLocal({ code, reason });
  }

  private closeLocal(why: LinkCloseReason): void {
    if (this.isClosed) return;
    this.isClosed = true;
    setImmediate(() => this.resolveClosed(why));
  }
}

export class MemoryNetwork implements Transport {
  private readonly listeners = new Map<string, (link: Link) => void>();
  private nextPort = 40_000;
  private nextClient = 1;

  listen(host: string, port: number, onLink: (link: Link) => void): Promise<Listener> {
    const url = `mem://${host}:${port === 0 ? this.nextPort++ : port}`;
    if (this.listeners.has(url)) return Promise.reject(new Error(`address in use: ${url}`));
    this.listeners.set(url, onLink);
    return Promise.resolve({
      url,
      close: async () => {
        this.listeners.delete(url);
      },
    });
  }

  dial(url: string): Promise<Link> {
    const onLink = this.listeners.get(url);
    if (onLink === undefined) return Promise.reject(Object.assign(new Error(`connection refused: ${url}`), { code: 'ECONNREFUSED' }));
    const dialer = new MemoryLink(url);
    const acceptor = new MemoryLink(`mem-client-${this.nextClient++}`);
    dialer.peer = acceptor;
    acceptor.peer = dialer;
    setImmediate(() => onLink(acceptor));
    return Promise.resolve(dialer);
  }
}
