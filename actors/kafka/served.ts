/**
 * The shape every Kafka API module of the listener exports: for each API it
 * answers, the versions it answers and the translation itself. handlers.ts
 * merges the modules' tables; ApiVersions advertises exactly their union.
 *
 * A handler turns one decoded Kafka request into native actor messages,
 * asked of this node's actors through `node.askAsClient` / `tellAsClient`
 * (held to the same client protocol as a native client), and returns the
 * Kafka response body (or null: no response, acks=0). It answers every
 * error it can name with Kafka's error code in the response; a throw closes
 * the connection (Kafka's answer to what it cannot serve).
 */
import type { KafkaValue } from '../../protocol/kafka/codec.ts';
import type { Logger } from '../../runtime/logger.ts';
import type { Node } from '../../runtime/node.ts';
import type { Caller } from '../../runtime/protocol.ts';
import { AclResourceType } from '../../protocol/acls.ts';
import type { SecurityView } from '../security/view.ts';
import type { KafkaRequest } from './listener.ts';

/** What a listener gives every request's handler; HandlerDeps adds the request's caller. */
export type ListenerDeps = {
  readonly node: Node;
  /** The listener the request arrived on (its name picks the addresses Metadata-like answers give). */
  readonly listenerName: string;
  /** A SASL listener: ApiVersions lists SaslHandshake and SaslAuthenticate too. */
  readonly sasl: boolean;
  /**
   * The node's ACLs, for the answers Kafka gives per resource (a Fetch's unauthorized partitions get
   * TOPIC_AUTHORIZATION_FAILED while the others are served). The runtime still checks every
   * translated request as a whole; absent: no authorizer.
   */
  readonly security?: SecurityView;
  readonly log: Logger;
};

export type HandlerDeps = ListenerDeps & {
  /**
   * Who sent the request (its connection's principal and host): every askAsClient / tellAsClient of
   * a handler passes it, so the runtime authorizes the translated request as this client's (ACLs).
   */
  readonly caller: Caller;
};

export type ServedApi = {
  readonly minVersion: number;
  readonly maxVersion: number;
  readonly handle: (request: KafkaRequest, deps: HandlerDeps) => Promise<KafkaValue | null>;
};

/** By Kafka's API name without Request/Response (Fetch, JoinGroup, ...). */
export type ServedApis = Readonly<Record<string, ServedApi>>;

/** How long a translated request may wait for the actor that answers it (beyond the request's own wait, if any). */
export const kafkaGatewayAskTimeoutMs = 30_000;

/** Whether the request's caller may do `operation` on `topic` (always, without an authorizer). */
export const mayOnTopic = (deps: HandlerDeps, operation: number, topic: string): boolean => deps.security === undefined || deps.security.allows(deps.caller, operation, AclResourceType.TOPIC, topic);
