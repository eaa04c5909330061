/**
 * A stand-in for the controller quorum in in-process data-path tests: the
 * real pure controller logic (handleCommand, tick) with commits applied at
 * once, and a `/controller-client` actor on each broker node that forwards to
 * it. The real quorum (Raft over ws between processes) is tested in
 * test/controller-failover.test.ts; this isolates replication from it.
 */
import { applyCommitted, becomeActive, handleCommand, initialControllerState, tick, type ControllerCommand, type ControllerState, type MetadataImage } from '../../actors/controller/metadata/index.ts';
import { controllerConfigDefault } from '../../actors/controller/metadata/controller-state.ts';
import type { Node } from '../../runtime/node.ts';
import type { Ref } from '../../runtime/ref.ts';

type StubMessage =
  | { type: 'SubscribeMetadata'; subscriber: Ref<unknown> }
  | { type: 'ControllerCall'; command: ControllerCommand; replyTo: Ref<unknown> }
  | { type: 'Publish'; image: MetadataImage; previous: MetadataImage };

export class FakeQuorum {
  state: ControllerState;
  private offset = 0;
  private readonly stubs: { node: Node; ref: Ref<StubMessage> }[] = [];

  constructor(sessionTimeoutMs = 60_000) {
    this.state = becomeActive(initialControllerState({ ...controllerConfigDefault, sessionTimeoutMs, autoLeaderRebalanceEnable: false }), Date.now());
  }

  get image(): MetadataImage {
    return this.state.committedImage;
  }

  /** Runs a command as the active controller would, commits at once, publishes, and returns the reply. */
  call(command: ControllerCommand): unknown {
    const previous = this.state.committedImage;
    const outcome = handleCommand(this.state, command, Date.now());
    this.state = outcome.state;
    if (outcome.records.length > 0) {
      this.offset += 1;
      this.state = applyCommitted(this.state, outcome.records, this.offset);
      this.publish(previous);
    }
    return outcome.reply;
  }

  /** Fences brokers whose heartbeats stopped (tests call it instead of a timer). */
  tick(nowMs = Date.now()): void {
    const previous = this.state.committedImage;
    const outcome = tick(this.state, nowMs);
    this.state = outcome.state;
    if (outcome.records.length > 0) {
      this.offset += 1;
      this.state = applyCommitted(this.state, outcome.records, this.offset);
      this.publish(previous);
    }
  }

  private publish(previous: MetadataImage): void {
    for (const stub of this.stubs) stub.node.tell(stub.ref, { type: 'Publish', image: this.state.committedImage, previous });
  }

  /** Registers and unfences a broker whose node listens at `url`. */
  registerBroker(brokerId: number, url: string): void {
    const { hostname, port } = new URL(url);
    const reply = this.call({ type: 'RegisterBroker', brokerId, incarnationId: `inc-${brokerId}-${Date.now()}`, host: hostname, port: Number(port), rack: null }) as { brokerEpoch: number };
    this.call({ type: 'BrokerHeartbeat', brokerId, brokerEpoch: reply.brokerEpoch, wantFence: false });
  }

  /** Spawns the `/controller-client` stand-in on a broker node. */
  attach(node: Node): Ref<StubMessage> {
    const quorum = this;
    const ref = node.spawn<{ subscribers: Ref<unknown>[]; image: MetadataImage }, StubMessage>('controller-client', {
      init: () => ({ subscribers: [], image: quorum.image }),
      receive: (state, msg, ctx) => {
        switch (msg.type) {
          case 'SubscribeMetadata':
            state.subscribers.push(msg.subscriber);
            ctx.node.tell(msg.subscriber, { type: 'MetadataImageUpdated', image: quorum.image, previous: state.image === quorum.image ? emptyOf(quorum) : state.image });
            return { ...state, image: quorum.image };
          case 'ControllerCall':
            ctx.node.tell(msg.replyTo, quorum.call(msg.command));
            return state;
          case 'Publish':
            for (const subscriber of state.subscribers) ctx.node.tell(subscriber, { type: 'MetadataImageUpdated', image: msg.image, previous: state.image });
            return { ...state, image: msg.image };
        }
      },
    });
    this.stubs.push({ node, ref });
    return ref;
  }
}

function emptyOf(quorum: FakeQuorum): MetadataImage {
  return initialControllerState(quorum.state.config).committedImage;
}
