/**
 * The runtime's hook for request metrics: what a Node tells an observer
 * about the requests that arrive over its links, so a broker can count them
 * and time their answers without the runtime knowing what a metric is (or
 * anything of Kafka).
 *
 * Owns: the `RequestObserver` / `RequestTimer` interfaces and
 * `requestTimingLimits`.
 *
 * What counts as a request: a Tell or an Ask from the network whose message
 * the target actor's protocol admitted (runtime/protocol.ts). Refused input
 * never reaches the observer, so `type` is always one of the declared
 * protocols' message types: a bounded set, safe as a metric label.
 *
 * Timing: an admitted Ask is timed from its arrival to the first message this
 * node sends to its reply slot (the reply, or an ErrorReply). A request that
 * another node answers (a broker forwarding to a peer that replies to the
 * asker directly) is never answered here: it is counted, and its timing slot
 * is dropped once it is older than `answerWaitMsMax`, so the slots of one
 * link stay bounded by `timedPerLinkMax`.
 *
 * Cost: one call of `received` per request and one of `answered` per reply,
 * a Map set and delete per timed ask; nothing per record (requests carry
 * whole record batches).
 */

export const requestTimingLimits = {
  /** Asks of one peer being timed at once; past it new ones are counted but not timed. */
  timedPerLinkMax: 4_096,
  /** An ask unanswered this long (answered elsewhere, or never) stops being timed when slots run out. */
  answerWaitMsMax: 120_000,
} as const;

/** Finishes the timing of one ask: told the seconds from its arrival to its answer. */
export interface RequestTimer {
  answered(seconds: number): void;
}

/**
 * Told of every admitted request from the network. `asked`: an Ask (it will be
 * answered); a Tell otherwise. Returns the timer to finish when the answer goes
 * out, or undefined not to time it (Tells are never timed).
 */
export interface RequestObserver {
  received(path: string, type: string, origin: 'client' | 'peer', asked: boolean): RequestTimer | undefined;
}
