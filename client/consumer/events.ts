/**
 * The consumer's instrumentation events, KafkaJS's names and shapes:
 *
 *   const remove = consumer.on(consumer.events.GROUP_JOIN, (e) => log(e.payload.memberId));
 *   consumer.events$.subscribe((e) => ...);   // every event, as an Observable
 *
 * An event is { id, type, timestamp, payload }. A listener that throws is
 * logged and never breaks the consumer. Payloads are built only when someone
 * listens (`wants`), so a consumer nobody instruments pays one Map lookup
 * per event site.
 *
 * Imports: rxjs.
 */
import { Observable, Subject } from 'rxjs';

export const consumerEvents = {
  /** A heartbeat the coordinator answered. */
  HEARTBEAT: 'consumer.heartbeat',
  /** Offsets committed (auto, on revoke, on stop, or asked for). */
  COMMIT_OFFSETS: 'consumer.commit_offsets',
  /** The member joined (or rejoined) its group and has an assignment. */
  GROUP_JOIN: 'consumer.group_join',
  FETCH_START: 'consumer.fetch_start',
  /** A fetch answered: its duration and how many partition batches it brought. */
  FETCH: 'consumer.fetch',
  START_BATCH_PROCESS: 'consumer.start_batch_process',
  END_BATCH_PROCESS: 'consumer.end_batch_process',
  STOP: 'consumer.stop',
  /** run() stopped on an error (a handler threw, or the consumer failed). */
  CRASH: 'consumer.crash',
  /** The member is rejoining its group (a rebalance). */
  REBALANCING: 'consumer.rebalancing',
  /** A request to a broker answered or failed: its api name and duration. */
  REQUEST: 'consumer.network.request',
  REQUEST_TIMEOUT: 'consumer.network.request_timeout',
} as const;

export type ConsumerEventName = (typeof consumerEvents)[keyof typeof consumerEvents];

type TopicPartitionOffsets = { topic: string; partitions: { partition: number; offset: number }[] }[];

export type ConsumerEventPayloads = {
  'consumer.heartbeat': { groupId: string; memberId: string; groupGenerationId: number };
  'consumer.commit_offsets': { groupId: string; memberId: string; groupGenerationId: number; topics: TopicPartitionOffsets };
  'consumer.group_join': { groupId: string; memberId: string; leaderId: string; isLeader: boolean; groupProtocol: string | null; memberAssignment: Record<string, number[]>; duration: number };
  'consumer.fetch_start': { nodeId: number };
  'consumer.fetch': { nodeId: number; numberOfBatches: number; duration: number };
  'consumer.start_batch_process': BatchProcessPayload;
  'consumer.end_batch_process': BatchProcessPayload & { duration: number };
  'consumer.stop': Record<string, never>;
  'consumer.crash': { groupId: string; error: unknown; restart: boolean };
  'consumer.rebalancing': { groupId: string; memberId: string; reason: string };
  'consumer.network.request': { broker: number; apiName: string; clientId: string; createdAt: number; duration: number; errorCode: number };
  'consumer.network.request_timeout': { broker: number; apiName: string; clientId: string; createdAt: number; duration: number };
};

type BatchProcessPayload = { topic: string; partition: number; highWatermark: number; offsetLag: number; offsetLagLow: number; batchSize: number; firstOffset: number; lastOffset: number };

export type ConsumerEvent<T extends ConsumerEventName = ConsumerEventName> = { readonly id: number; readonly type: T; readonly timestamp: number; readonly payload: ConsumerEventPayloads[T] };

/** Removes the listener `on` added. */
export type RemoveListener = () => void;

export class ConsumerInstrumentation {
  private readonly listeners = new Map<ConsumerEventName, Set<(event: ConsumerEvent<never>) => void>>();
  private readonly all = new Subject<ConsumerEvent>();
  private streamSubscribers = 0;
  private nextId = 0;
  readonly events$: Observable<ConsumerEvent>;

  constructor(private readonly onListenerError: (err: unknown, type: ConsumerEventName) => void) {
    this.events$ = new Observable<ConsumerEvent>((subscriber) => {
      this.streamSubscribers += 1;
      const inner = this.all.subscribe(subscriber);
      return () => {
        this.streamSubscribers -= 1;
        inner.unsubscribe();
      };
    });
  }

  on<T extends ConsumerEventName>(type: T, listener: (event: ConsumerEvent<T>) => void): RemoveListener {
    if (!Object.values(consumerEvents).includes(type)) throw new TypeError(`unknown consumer event ${JSON.stringify(type)} (known: ${Object.values(consumerEvents).join(', ')})`);
    let set = this.listeners.get(type);
    if (set === undefined) this.listeners.set(type, (set = new Set()));
    const entry = listener as (event: ConsumerEvent<never>) => void;
    set.add(entry);
    return () => {
      set.delete(entry);
      if (set.size === 0) this.listeners.delete(type);
    };
  }

  /** Someone listens for `type`: build its payload. */
  wants(type: ConsumerEventName): boolean {
    return this.streamSubscribers > 0 || this.listeners.has(type);
  }

  emit<T extends ConsumerEventName>(type: T, payload: ConsumerEventPayloads[T]): void {
    if (!this.wants(type)) return;
    const event: ConsumerEvent<T> = { id: this.nextId++, type, timestamp: Date.now(), payload };
    for (const listener of this.listeners.get(type) ?? []) {
      try {
        listener(event as ConsumerEvent<never>);
      } catch (err) {
        this.onListenerError(err, type);
      }
    }
    if (this.streamSubscribers > 0) this.all.next(event as ConsumerEvent);
  }

  complete(): void {
    this.all.complete();
    this.listeners.clear();
  }
}
