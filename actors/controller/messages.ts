/**
 * The public protocol of the metadata quorum's two actors, and validators for
 * everything that can arrive from the network.
 *
 *   /controller          on voter nodes (actor.ts): the Raft member and, when
 *                        it is the Raft leader, the active controller.
 *   /controller-client   on every broker node (client.ts): finds the active
 *                        controller, registers and heartbeats this broker,
 *                        follows the committed metadata log into an image,
 *                        and forwards controller calls with retries.
 *
 * Grammar (discriminated unions on `type`; every request carries `replyTo`):
 *
 *   /controller accepts
 *     ControllerRequest { command: ControllerCommand, replyTo }
 *       -> ReplyFor<command>       after the command's records commit
 *        | NotController           this voter is not the active controller
 *        | ControllerError         bad command (INVALID_REQUEST) or busy (retriable)
 *     FetchMetadata { fromOffset, maxWaitMs, replyTo }
 *       -> FetchMetadataReply      committed entries after fromOffset (or a
 *                                  snapshot when fromOffset is compacted away),
 *                                  as soon as there is something or maxWaitMs passed
 *     RaftMessage { message: raft Message }     between the voters' /controller actors
 *     DescribeQuorum { replyTo } -> DescribeQuorumReply           (read-only, for tools/tests)
 *     VoterChange { change: AddVoter{brokerId} | RemoveVoter{brokerId}, replyTo }   (peers only: operator tools)
 *       -> VoterChangeReply        after the change commits (errorCode 0), or a Kafka
 *                                  error: DUPLICATE_VOTER, VOTER_NOT_FOUND,
 *                                  INVALID_REQUEST (last voter, unregistered broker),
 *                                  REQUEST_TIMED_OUT (learner never caught up), or a
 *                                  retriable one (another change in flight)
 *        | NotController           ask the leader it names
 *     GetMetadata { topics, replyTo } -> GetMetadataReply         (from the committed image)
 *
 *   /controller-client accepts
 *     ControllerCall { command, replyTo }
 *       -> ReplyFor<command> | ControllerCallFailed   (after retries, within requestTimeoutMs)
 *     SubscribeMetadata { subscriber }
 *       -> MetadataImageUpdated { image, previous } now and after every change
 *     UnsubscribeMetadata { subscriber }
 *     (subscribers are local actors: the image holds Maps and is shared, not copied;
 *      a new subscriber's first update has `previous` = the empty image)
 *     GetMetadata { topics, replyTo } -> GetMetadataReply         (from the client's image)
 *
 * Offsets are Raft log indexes: entry i of the metadata log has offset i (1-based;
 * -1/0 mean "before everything"). Every committed Raft entry appears in a
 * FetchMetadataReply, the leader's empty no-op entries as `records: []`, so a
 * follower's position is simply the last offset it was given.
 *
 * Validation: `validateControllerMessage` and `validateClientMessage` turn an
 * untrusted value into a typed message or an `Invalid` with a Kafka error code
 * (INVALID_REQUEST); the actors answer an Invalid request with an error reply
 * when it names a replyTo, and drop it otherwise. Binary fields of Raft
 * messages are copied (a decoded binary is a view into the whole frame).
 * Commands are checked for shape only; their meaning (topic names, replica
 * counts) is the metadata logic's to judge, with its own error codes.
 *
 * Internal messages (timers, adapted I/O results) live in actor.ts/client.ts.
 */
import { ErrorCode } from '../../protocol/errors.ts';
import {
  array,
  boolean,
  bytes,
  int,
  invalid,
  isInvalid,
  nullable,
  object,
  oneOf,
  optional,
  printable,
  ref,
  string,
  type Invalid,
  type Validator,
} from '../../protocol/validate.ts';
import type { Terminated } from '../../runtime/node.ts';
import type { Ref } from '../../runtime/ref.ts';
import { deserializeImage, type SerializedImage } from './image-codec.ts';
import { reassignmentReplicasMax } from './metadata/reassignment.ts';
import type {
  ControllerCommand,
  ControllerReply,
  MetadataImage,
  MetadataRecord,
  MetadataResponse,
  ReplyFor,
} from './metadata/index.ts';
import { decodeMembership, membershipMembersMax } from './raft/membership.ts';
import type { Entry, Message as RaftProtocolMessage, Snapshot } from './raft/types.ts';

// ---------------------------------------------------------------- bounds

export const messageLimits = {
  /** Items in any list of a command (topics, partitions, resources, ops). */
  commandItemsMax: 10_000,
  /** Characters of a name (topic, config, host) in a command; the logic enforces Kafka's tighter rules. */
  nameCharsMax: 1_024,
  /** Characters of a config value. */
  configValueCharsMax: 64 * 1024,
  /** Raft entries in one AppendEntries from a peer (the core sends at most maxEntriesPerAppend). */
  raftEntriesPerMessageMax: 1_024,
  /** Bytes of one Raft entry (a command's records). */
  raftEntryBytesMax: 8 * 1024 * 1024,
  /** Bytes of a snapshot in InstallSnapshot (also bounded by the runtime's frame size). */
  raftSnapshotBytesMax: 64 * 1024 * 1024,
  /** Voters named in a snapshot. */
  votersMax: 64,
  /** Entries in one FetchMetadataReply. */
  fetchEntriesMax: 1_024,
  /** Records in one metadata log entry. */
  recordsPerEntryMax: 200_000,
  /** A FetchMetadata long-poll waits at most this long, whatever it asks for. */
  fetchWaitMsMax: 30_000,
} as const;

// ---------------------------------------------------------------- /controller

/** A command for the active controller. Replied once its records commit. */
export type ControllerRequest = {
  readonly type: 'ControllerRequest';
  readonly command: ControllerCommand;
  readonly replyTo: Ref<ControllerRequestReply>;
};

/** This voter is not the active controller; `leaderId` is the Raft leader it knows of (a broker id), if any. */
export type NotController = {
  readonly type: 'NotController';
  readonly errorCode: typeof ErrorCode.NOT_CONTROLLER;
  readonly leaderId: number | null;
};

/** A request the controller refused: INVALID_REQUEST (bad shape) or a retriable code (busy, stopping). */
export type ControllerError = {
  readonly type: 'ControllerError';
  readonly errorCode: number;
  readonly errorMessage: string;
};

export type ControllerRequestReply = ControllerReply | NotController | ControllerError;

/** Long-poll for committed metadata after `fromOffset`. */
export type FetchMetadata = {
  readonly type: 'FetchMetadata';
  /** The last offset the caller has; -1 for none. */
  readonly fromOffset: number;
  /** Answer at once if there is something new, else after at most this long (capped at fetchWaitMsMax). */
  readonly maxWaitMs: number;
  readonly replyTo: Ref<FetchMetadataReply>;
};

export type MetadataLogEntry = { readonly offset: number; readonly records: readonly MetadataRecord[] };

export type FetchMetadataReply = {
  readonly type: 'FetchMetadataReply';
  /** Committed entries after fromOffset (or after the snapshot), consecutive, at most fetchEntriesMax. */
  readonly records: readonly MetadataLogEntry[];
  /** Present when fromOffset is before the retained log: replace your image with this one first. */
  readonly snapshot: { readonly offset: number; readonly image: SerializedImage } | null;
  /** The last offset this voter has applied (committed); more may follow if it is beyond the last entry. */
  readonly highWatermark: number;
};

/** A Raft message between the voters' /controller actors. */
export type RaftMessage = { readonly type: 'RaftMessage'; readonly message: RaftProtocolMessage };

/** Read-only state of this voter, for tools and tests. */
export type DescribeQuorum = { readonly type: 'DescribeQuorum'; readonly replyTo: Ref<DescribeQuorumReply> };

export type DescribeQuorumReply = {
  readonly type: 'DescribeQuorumReply';
  /** This voter's broker id. */
  readonly brokerId: number;
  readonly role: 'Follower' | 'PreCandidate' | 'Candidate' | 'Leader' | 'Opening';
  /** The Raft leader this voter knows of (a broker id), or null. */
  readonly leaderId: number | null;
  /** True when this voter is the active controller (leader whose first entry committed). */
  readonly active: boolean;
  readonly term: number;
  readonly commitIndex: number;
  readonly appliedIndex: number;
  readonly snapshotIndex: number;
  readonly lastIndex: number;
  /** The configuration in force on this node: its voters, and the learners the leader replicates to. */
  readonly voters: readonly number[];
  readonly learners: readonly number[];
  /** This node runs a controller but is in no configuration yet (a new controller before AddVoter). */
  readonly observer: boolean;
};

/** Change the voter set by one (Kafka's AddRaftVoter / RemoveRaftVoter). Accepted from peers only. */
export type VoterChange = {
  readonly type: 'VoterChange';
  readonly change: { readonly type: 'AddVoter' | 'RemoveVoter'; readonly brokerId: number };
  readonly replyTo: Ref<VoterChangeReply | NotController | ControllerError>;
};

export type VoterChangeReply = {
  readonly type: 'VoterChangeReply';
  /** 0 once the change committed. */
  readonly errorCode: number;
  readonly errorMessage: string | null;
  /** The configuration in force on the leader after the change (or as it was, on an error). */
  readonly voters: readonly number[];
  readonly learners: readonly number[];
};

/** A Metadata response (buildMetadataResponse) from the committed image. */
export type GetMetadata = {
  readonly type: 'GetMetadata';
  /** null = all topics. */
  readonly topics: readonly string[] | null;
  readonly replyTo: Ref<GetMetadataReply>;
};

export type GetMetadataReply = {
  readonly type: 'GetMetadataReply';
  /** Offset of the last entry the image includes. */
  readonly offset: number;
  readonly response: MetadataResponse;
  /** Every registered broker with its fence state (the response lists active ones only). */
  readonly brokers: readonly { readonly brokerId: number; readonly brokerEpoch: number; readonly fenced: boolean }[];
};

export type ControllerMessage = ControllerRequest | FetchMetadata | RaftMessage | DescribeQuorum | GetMetadata | VoterChange | Terminated;

// ---------------------------------------------------------------- /controller-client

/** Forward a command to the active controller, retrying NOT_CONTROLLER and timeouts within requestTimeoutMs. */
export type ControllerCall = {
  readonly type: 'ControllerCall';
  readonly command: ControllerCommand;
  readonly replyTo: Ref<ControllerCallReply>;
};

export type ControllerCallFailed = {
  readonly type: 'ControllerCallFailed';
  readonly errorCode: number;
  readonly errorMessage: string;
};

export type ControllerCallReply = ControllerReply | ControllerCallFailed;

/** Typed helper: the reply a ControllerCall of command C gets. */
export type ControllerCallReplyFor<C extends ControllerCommand> = ReplyFor<C> | ControllerCallFailed;

/** Told to subscribers. In-process it is the image object itself (immutable, shared), never a copy. */
export type MetadataImageUpdated = {
  readonly type: 'MetadataImageUpdated';
  readonly image: MetadataImage;
  readonly previous: MetadataImage;
  /** The active controller as this client last knew it (-1: not known), for Metadata answers. */
  readonly activeControllerId?: number;
};

export type SubscribeMetadata = { readonly type: 'SubscribeMetadata'; readonly subscriber: Ref<MetadataImageUpdated> };
export type UnsubscribeMetadata = { readonly type: 'UnsubscribeMetadata'; readonly subscriber: Ref<MetadataImageUpdated> };

/** Terminated: the client watches its subscribers and forgets those that stop. */
export type ControllerClientMessage = ControllerCall | SubscribeMetadata | UnsubscribeMetadata | GetMetadata | Terminated;

// ---------------------------------------------------------------- validators: commands

const brokerId = int(0, 2 ** 31 - 1);
const brokerEpoch = int(-1, Number.MAX_SAFE_INTEGER);
const partitionIndex = int(0, 2 ** 31 - 1);
const countOrDefault = int(-1, 2 ** 31 - 1);
const nonNegative = int(0, Number.MAX_SAFE_INTEGER);
const name = string(messageLimits.nameCharsMax);
/** A SCRAM user (an empty one is refused per user by the command, UNACCEPTABLE_CREDENTIAL) and a record's mechanism. */
const scramUser = string(1_024);
/** Kafka's ACL codes (resource, pattern, operation, permission types) are small: acls.ts checks which are valid where. */
const aclCode = int(0, 127);
const aclText = string(1_024);
const aclBinding = object({ resourceType: aclCode, resourceName: aclText, patternType: aclCode, principal: aclText, host: aclText, operation: aclCode, permissionType: aclCode });
const aclFilter = object({ resourceType: aclCode, resourceName: nullable(aclText), patternType: aclCode, principal: nullable(aclText), host: nullable(aclText), operation: aclCode, permissionType: aclCode });
const scramMechanism = oneOf('SCRAM-SHA-256', 'SCRAM-SHA-512');
const list = <T>(item: Validator<T>): Validator<T[]> => array(item, messageLimits.commandItemsMax);
const configValue = string(messageLimits.configValueCharsMax);
const configEntry = object({ name, value: configValue });
/** A broker's listeners beyond the native one (the Kafka listener); a registration names at most this many. */
const listenersMax = 16;
const listenerValidator = object({ name: string(64), host: name, port: int(0, 65_535) });

const commandValidators: { [K in ControllerCommand['type']]: Validator<Extract<ControllerCommand, { type: K }>> } = {
  // listeners stays absent when absent (older brokers send none).
  RegisterBroker: (value, path) => {
    const base = object({ type: oneOf('RegisterBroker'), brokerId, incarnationId: string(256), host: name, port: int(0, 65_535), rack: nullable(name) })(value, path);
    if (isInvalid(base)) return base;
    const optionals = optionalFields(value, path, { listeners: array(listenerValidator, listenersMax) });
    return isInvalid(optionals) ? optionals : { ...base, ...optionals };
  },
  BrokerHeartbeat: object({ type: oneOf('BrokerHeartbeat'), brokerId, brokerEpoch, wantFence: boolean }),
  FenceBroker: object({ type: oneOf('FenceBroker'), brokerId, brokerEpoch: nullable(brokerEpoch) }),
  CreateTopics: object({
    type: oneOf('CreateTopics'),
    topics: list(
      object({
        name,
        numPartitions: countOrDefault,
        replicationFactor: countOrDefault,
        assignments: nullable(list(object({ partition: partitionIndex, brokerIds: list(brokerId) }))),
        configs: list(configEntry),
      }),
    ),
    validateOnly: boolean,
  }),
  DeleteTopics: object({ type: oneOf('DeleteTopics'), topics: list(name) }),
  CreatePartitions: object({
    type: oneOf('CreatePartitions'),
    topics: list(object({ name, count: int(0, 2 ** 31 - 1), assignments: nullable(list(list(brokerId))) })),
    validateOnly: boolean,
  }),
  DescribeConfigs: object({
    type: oneOf('DescribeConfigs'),
    resources: list(object({ resourceType: oneOf('topic', 'broker'), resourceName: name, configNames: nullable(list(name)) })),
  }),
  AlterConfigs: object({
    type: oneOf('AlterConfigs'),
    resources: list(
      object({
        resourceType: oneOf('topic', 'broker'),
        resourceName: name,
        ops: list(object({ name, op: oneOf('SET', 'DELETE'), value: nullable(configValue) })),
      }),
    ),
    validateOnly: boolean,
  }),
  AlterPartition: object({
    type: oneOf('AlterPartition'),
    brokerId,
    brokerEpoch,
    topics: list(
      object({
        topicId: name,
        partitions: list(
          object({
            partition: partitionIndex,
            leaderEpoch: nonNegative,
            partitionEpoch: nonNegative,
            newIsr: list(object({ brokerId, brokerEpoch })),
          }),
        ),
      }),
    ),
  }),
  ElectLeaders: object({
    type: oneOf('ElectLeaders'),
    electionType: oneOf('PREFERRED', 'UNCLEAN'),
    topicPartitions: nullable(list(object({ topic: name, partitions: list(partitionIndex) }))),
  }),
  AutoRebalance: object({ type: oneOf('AutoRebalance') }),
  AllocateProducerIds: object({ type: oneOf('AllocateProducerIds'), brokerId, brokerEpoch }),
  AlterPartitionReassignments: object({
    type: oneOf('AlterPartitionReassignments'),
    reassignments: list(object({ topic: name, partition: partitionIndex, replicas: nullable(array(brokerId, reassignmentReplicasMax)) })),
  }),
  ListPartitionReassignments: object({
    type: oneOf('ListPartitionReassignments'),
    topics: nullable(list(object({ topic: name, partitions: list(partitionIndex) }))),
  }),
  UnregisterBroker: object({ type: oneOf('UnregisterBroker'), brokerId, force: boolean }),
  AlterUserScramCredentials: object({
    type: oneOf('AlterUserScramCredentials'),
    deletions: list(object({ name: scramUser, mechanism: name })),
    upsertions: list(object({ name: scramUser, mechanism: name, iterations: int(-(2 ** 31), 2 ** 31 - 1), salt: bytes(4_096), saltedPassword: bytes(4_096) })),
  }),
  DescribeUserScramCredentials: object({ type: oneOf('DescribeUserScramCredentials'), users: nullable(list(scramUser)) }),
  CreateAcls: object({ type: oneOf('CreateAcls'), creations: list(aclBinding) }),
  DescribeAcls: object({ type: oneOf('DescribeAcls'), filter: aclFilter }),
  DeleteAcls: object({ type: oneOf('DeleteAcls'), filters: list(aclFilter) }),
};

export const validateCommand: Validator<ControllerCommand> = (value, path) => {
  if (typeof value !== 'object' || value === null) return invalid(path, 'must be a command');
  const type = (value as { type?: unknown }).type;
  if (typeof type !== 'string' || !Object.hasOwn(commandValidators, type)) return invalid(`${path}.type`, `unknown command ${printable(type)}`);
  return commandValidators[type as ControllerCommand['type']](value, path) as ControllerCommand | Invalid;
};

// ---------------------------------------------------------------- validators: metadata records

const topicId = name;
const leader = int(-1, 2 ** 31 - 1);

const recordValidators: { [K in MetadataRecord['type']]: Validator<Extract<MetadataRecord, { type: K }>> } = {
  RegisterBroker: object({
    type: oneOf('RegisterBroker'),
    brokerId,
    incarnationId: string(256),
    brokerEpoch: nonNegative,
    host: name,
    port: int(0, 65_535),
    rack: nullable(name),
    listeners: optional(array(listenerValidator, listenersMax), []),
    fenced: boolean,
  }),
  FenceBroker: object({ type: oneOf('FenceBroker'), brokerId, brokerEpoch: nonNegative }),
  UnfenceBroker: object({ type: oneOf('UnfenceBroker'), brokerId, brokerEpoch: nonNegative }),
  UnregisterBroker: object({ type: oneOf('UnregisterBroker'), brokerId, brokerEpoch: nonNegative }),
  Topic: object({ type: oneOf('Topic'), name, topicId, configs: list(configEntry) }),
  // Optional fields must stay absent when absent (replay tests `=== undefined`).
  Partition: (value, path) => {
    const base = object({
      type: oneOf('Partition'),
      topicId,
      partition: partitionIndex,
      replicas: list(brokerId),
      isr: list(brokerId),
      leader,
      leaderEpoch: nonNegative,
      partitionEpoch: nonNegative,
    })(value, path);
    if (isInvalid(base)) return base;
    const optionals = optionalFields(value, path, { addingReplicas: list(brokerId), removingReplicas: list(brokerId) });
    return isInvalid(optionals) ? optionals : { ...base, ...optionals };
  },
  PartitionChange: (value, path) => {
    const base = object({ type: oneOf('PartitionChange'), topicId, partition: partitionIndex })(value, path);
    if (isInvalid(base)) return base;
    const optionals = optionalFields(value, path, {
      leader,
      isr: list(brokerId),
      replicas: list(brokerId),
      addingReplicas: list(brokerId),
      removingReplicas: list(brokerId),
    });
    return isInvalid(optionals) ? optionals : { ...base, ...optionals };
  },
  RemoveTopic: object({ type: oneOf('RemoveTopic'), topicId }),
  Config: object({ type: oneOf('Config'), resourceType: oneOf('topic', 'broker'), resourceName: name, name, value: nullable(configValue) }),
  ProducerIds: object({ type: oneOf('ProducerIds'), brokerId, brokerEpoch: nonNegative, nextProducerId: nonNegative }),
  UserScramCredential: object({
    type: oneOf('UserScramCredential'),
    name: scramUser,
    mechanism: scramMechanism,
    salt: bytes(1_024),
    storedKey: bytes(1_024),
    serverKey: bytes(1_024),
    iterations: int(1, 2 ** 31 - 1),
  }),
  RemoveUserScramCredential: object({ type: oneOf('RemoveUserScramCredential'), name: scramUser, mechanism: scramMechanism }),
  AccessControlEntry: object({ type: oneOf('AccessControlEntry'), id: name, resourceType: aclCode, resourceName: name, patternType: aclCode, principal: name, host: name, operation: aclCode, permissionType: aclCode }),
  RemoveAccessControlEntry: object({ type: oneOf('RemoveAccessControlEntry'), id: name }),
  NoOp: object({ type: oneOf('NoOp') }),
};

/** The fields of `validators` that are present (not undefined or null) in `value`, checked; absent ones stay absent. */
function optionalFields<V extends Record<string, Validator<unknown>>>(
  value: unknown,
  path: string,
  validators: V,
): { [K in keyof V]?: V[K] extends Validator<infer T> ? T : never } | Invalid {
  const source = value as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const [field, validator] of Object.entries(validators)) {
    const raw = source[field];
    if (raw === undefined || raw === null) continue;
    const checked = validator(raw, `${path}.${field}`);
    if (isInvalid(checked)) return checked;
    out[field] = checked;
  }
  return out as { [K in keyof V]?: V[K] extends Validator<infer T> ? T : never };
}

export const validateRecord: Validator<MetadataRecord> = (value, path) => {
  if (typeof value !== 'object' || value === null) return invalid(path, 'must be a record');
  const type = (value as { type?: unknown }).type;
  if (typeof type !== 'string' || !Object.hasOwn(recordValidators, type)) return invalid(`${path}.type`, `unknown record ${printable(type)}`);
  return recordValidators[type as MetadataRecord['type']](value, path) as MetadataRecord | Invalid;
};

export const validateRecords: Validator<MetadataRecord[]> = array(validateRecord, messageLimits.recordsPerEntryMax);

// ---------------------------------------------------------------- validators: Raft messages

const term = nonNegative;
const index = nonNegative;
const voterId = brokerId;

/** Copies a binary field: a decoded one is a view into the whole received frame. */
const ownedBytes = (maxBytes: number): Validator<Uint8Array> => (value, path) => {
  const checked = bytes(maxBytes)(value, path);
  return isInvalid(checked) ? checked : new Uint8Array(checked);
};

const dataEntryValidator = object({ index, term, data: ownedBytes(messageLimits.raftEntryBytesMax) });

/**
 * A Raft entry. `kind` absent or 'Data': the application's payload (actor.ts
 * checks it is records before persisting). 'Config': Raft's own, and it must
 * decode as a membership here, since the core trusts what it is stepped with.
 * A Data entry comes out without `kind`, so both shapes stay as the core makes them.
 */
const entryValidator: Validator<Entry> = (value, path) => {
  const checked = dataEntryValidator(value, path);
  if (isInvalid(checked)) return checked;
  const kind = oneOf('Data', 'Config')((value as { kind?: unknown }).kind ?? 'Data', `${path}.kind`);
  if (isInvalid(kind)) return kind;
  if (kind === 'Data') return checked;
  const membership = decodeMembership(checked.data);
  if (typeof membership === 'string') return invalid(`${path}.data`, membership);
  return { ...checked, kind: 'Config' };
};

const snapshotValidator: Validator<Snapshot> = object({
  index,
  term,
  voters: array(voterId, messageLimits.votersMax),
  learners: optional(array(voterId, membershipMembersMax), []),
  data: ownedBytes(messageLimits.raftSnapshotBytesMax),
});

const header = { from: voterId, to: voterId, term };

/** Widens one message's validator to the union (keyed by type below, so each checks its own shape). */
const asRaft = (validator: Validator<unknown>): Validator<RaftProtocolMessage> => validator as Validator<RaftProtocolMessage>;

const raftValidators: Record<string, Validator<RaftProtocolMessage>> = {
  RequestVote: asRaft(object({ type: oneOf('RequestVote'), ...header, lastLogIndex: index, lastLogTerm: term, leadershipTransfer: optional(boolean, false) })),
  PreVote: asRaft(object({ type: oneOf('PreVote'), ...header, lastLogIndex: index, lastLogTerm: term })),
  RequestVoteReply: asRaft(object({ type: oneOf('RequestVoteReply'), ...header, granted: boolean })),
  PreVoteReply: asRaft(object({ type: oneOf('PreVoteReply'), ...header, granted: boolean })),
  TimeoutNow: asRaft(object({ type: oneOf('TimeoutNow'), ...header })),
  AppendEntries: (value, path) => {
    const checked = object({
      type: oneOf('AppendEntries'),
      ...header,
      prevLogIndex: index,
      prevLogTerm: term,
      entries: array(entryValidator, messageLimits.raftEntriesPerMessageMax),
      leaderCommit: index,
    })(value, path);
    if (isInvalid(checked)) return checked;
    // The core asserts contiguity; from the network it is input to check.
    if (checked.prevLogTerm > checked.term) return invalid(`${path}.prevLogTerm`, 'beyond the message term');
    for (const [i, entry] of checked.entries.entries()) {
      if (entry.index !== checked.prevLogIndex + 1 + i) return invalid(`${path}.entries[${i}]`, 'entries must follow prevLogIndex contiguously');
      if (entry.term > checked.term) return invalid(`${path}.entries[${i}]`, 'entry term beyond the message term');
      const previousTerm = i === 0 ? checked.prevLogTerm : checked.entries[i - 1]!.term;
      if (entry.term < previousTerm) return invalid(`${path}.entries[${i}]`, 'entry terms must not decrease');
    }
    return checked;
  },
  AppendEntriesReply: (value, path) => {
    const base = object({ type: oneOf('AppendEntriesReply'), ...header, success: boolean })(value, path);
    if (isInvalid(base)) return base;
    if (base.success) {
      const checked = object({ matchIndex: index })(value, path);
      return isInvalid(checked) ? checked : { ...base, success: true, matchIndex: checked.matchIndex };
    }
    const checked = object({ rejectedIndex: index, hintIndex: index, hintTerm: term })(value, path);
    return isInvalid(checked) ? checked : { ...base, success: false, ...checked };
  },
  Heartbeat: asRaft(object({ type: oneOf('Heartbeat'), ...header, commitIndex: index })),
  HeartbeatReply: asRaft(object({ type: oneOf('HeartbeatReply'), ...header })),
  InstallSnapshot: (value, path) => {
    const checked = object({ type: oneOf('InstallSnapshot'), ...header, snapshot: snapshotValidator })(value, path);
    if (isInvalid(checked)) return checked;
    if (checked.snapshot.term > checked.term) return invalid(`${path}.snapshot.term`, 'beyond the message term');
    return checked;
  },
  InstallSnapshotReply: asRaft(object({ type: oneOf('InstallSnapshotReply'), ...header, matchIndex: index })),
};

export const validateRaftMessage: Validator<RaftProtocolMessage> = (value, path) => {
  if (typeof value !== 'object' || value === null) return invalid(path, 'must be a raft message');
  const type = (value as { type?: unknown }).type;
  if (typeof type !== 'string' || !Object.hasOwn(raftValidators, type)) return invalid(`${path}.type`, `unknown raft message ${printable(type)}`);
  return raftValidators[type]!(value, path);
};

// ---------------------------------------------------------------- validators: whole messages

const replyTo = ref;
const topicsFilter = nullable(array(name, messageLimits.commandItemsMax));
const terminationReason = oneOf('stopped', 'node-down');

/** What arrived at /controller, typed, or Invalid (with the replyTo, when one could be read, for the error reply). */
export function validateControllerMessage(value: unknown): ControllerMessage | (Invalid & { replyTo: Ref<unknown> | null }) {
  const type = typeof value === 'object' && value !== null ? (value as { type?: unknown }).type : undefined;
  const result = ((): ControllerMessage | Invalid => {
    switch (type) {
      case 'ControllerRequest': {
        const checked = object({ type: oneOf('ControllerRequest'), command: validateCommand, replyTo })(value, '');
        return checked as ControllerRequest | Invalid;
      }
      case 'FetchMetadata':
        return object({ type: oneOf('FetchMetadata'), fromOffset: int(-1, Number.MAX_SAFE_INTEGER), maxWaitMs: int(0, 2 ** 31 - 1), replyTo })(value, '') as FetchMetadata | Invalid;
      case 'RaftMessage':
        return object({ type: oneOf('RaftMessage'), message: validateRaftMessage })(value, '') as RaftMessage | Invalid;
      case 'DescribeQuorum':
        return object({ type: oneOf('DescribeQuorum'), replyTo })(value, '') as DescribeQuorum | Invalid;
      case 'VoterChange':
        return object({ type: oneOf('VoterChange'), change: object({ type: oneOf('AddVoter', 'RemoveVoter'), brokerId }), replyTo })(value, '') as VoterChange | Invalid;
      case 'GetMetadata':
        return object({ type: oneOf('GetMetadata'), topics: topicsFilter, replyTo })(value, '') as GetMetadata | Invalid;
      case 'Terminated':
        return object({ type: oneOf('Terminated'), ref, reason: terminationReason })(value, '') as Terminated | Invalid;
      default:
        return invalid('type', `unknown message ${printable(type)}`);
    }
  })();
  if (!isInvalid(result)) return result;
  return { ...result, replyTo: replyToOf(value) };
}

export function validateClientMessage(value: unknown): ControllerClientMessage | (Invalid & { replyTo: Ref<unknown> | null }) {
  const type = typeof value === 'object' && value !== null ? (value as { type?: unknown }).type : undefined;
  const result = ((): ControllerClientMessage | Invalid => {
    switch (type) {
      case 'ControllerCall':
        return object({ type: oneOf('ControllerCall'), command: validateCommand, replyTo })(value, '') as ControllerCall | Invalid;
      case 'SubscribeMetadata':
        return object({ type: oneOf('SubscribeMetadata'), subscriber: ref })(value, '') as SubscribeMetadata | Invalid;
      case 'UnsubscribeMetadata':
        return object({ type: oneOf('UnsubscribeMetadata'), subscriber: ref })(value, '') as UnsubscribeMetadata | Invalid;
      case 'GetMetadata':
        return object({ type: oneOf('GetMetadata'), topics: topicsFilter, replyTo })(value, '') as GetMetadata | Invalid;
      case 'Terminated':
        return object({ type: oneOf('Terminated'), ref, reason: terminationReason })(value, '') as Terminated | Invalid;
      default:
        return invalid('type', `unknown message ${printable(type)}`);
    }
  })();
  if (!isInvalid(result)) return result;
  return { ...result, replyTo: replyToOf(value) };
}

function replyToOf(value: unknown): Ref<unknown> | null {
  if (typeof value !== 'object' || value === null) return null;
  const checked = ref((value as { replyTo?: unknown }).replyTo, 'replyTo');
  return isInvalid(checked) ? null : checked;
}

// ---------------------------------------------------------------- validators: replies the client receives

const logEntryValidator: Validator<MetadataLogEntry> = object({ offset: nonNegative, records: validateRecords });

/** A FetchMetadataReply from a voter: validated in full, since the client replays it. The image is deserialized. */
export function validateFetchMetadataReply(
  value: unknown,
): { records: MetadataLogEntry[]; snapshot: { offset: number; image: MetadataImage } | null; highWatermark: number } | Invalid {
  const checked = object({
    type: oneOf('FetchMetadataReply'),
    records: array(logEntryValidator, messageLimits.fetchEntriesMax),
    highWatermark: int(-1, Number.MAX_SAFE_INTEGER),
  })(value, '');
  if (isInvalid(checked)) return checked;
  for (let i = 1; i < checked.records.length; i += 1) {
    if (checked.records[i]!.offset !== checked.records[i - 1]!.offset + 1) return invalid(`records[${i}]`, 'offsets must be consecutive');
  }
  const rawSnapshot = (value as { snapshot?: unknown }).snapshot;
  if (rawSnapshot === null || rawSnapshot === undefined) return { records: checked.records, snapshot: null, highWatermark: checked.highWatermark };
  const offsetChecked = object({ offset: nonNegative })(rawSnapshot, 'snapshot');
  if (isInvalid(offsetChecked)) return offsetChecked;
  const image = deserializeImage((rawSnapshot as { image?: unknown }).image, 'snapshot.image');
  if (isInvalid(image)) return image;
  return { records: checked.records, snapshot: { offset: offsetChecked.offset, image }, highWatermark: checked.highWatermark };
}

const replyTypes: ReadonlySet<string> = new Set<string>([
  'RegisterBrokerReply',
  'BrokerHeartbeatReply',
  'FenceBrokerReply',
  'CreateTopicsReply',
  'DeleteTopicsReply',
  'CreatePartitionsReply',
  'DescribeConfigsReply',
  'AlterConfigsReply',
  'AlterPartitionReply',
  'ElectLeadersReply',
  'AutoRebalanceReply',
  'AllocateProducerIdsReply',
  'AlterPartitionReassignmentsReply',
  'ListPartitionReassignmentsReply',
  'UnregisterBrokerReply',
  'AlterUserScramCredentialsReply',
  'DescribeUserScramCredentialsReply',
  'CreateAclsReply',
  'DescribeAclsReply',
  'DeleteAclsReply',
]);

/**
 * A reply to a ControllerRequest. The envelope is checked (a known type; the
 * error fields of NotController and ControllerError), and `<Command>Reply`
 * must answer the command that was sent. The body of a command reply is
 * passed on to the caller as the controller built it.
 */
export function validateControllerRequestReply(value: unknown, commandType: ControllerCommand['type']): ControllerRequestReply | Invalid {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return invalid('reply', 'must be a map');
  const type = (value as { type?: unknown }).type;
  if (type === 'NotController') {
    const checked = object({ type: oneOf('NotController'), leaderId: nullable(brokerId) })(value, 'reply');
    return isInvalid(checked) ? checked : { type: 'NotController', errorCode: ErrorCode.NOT_CONTROLLER, leaderId: checked.leaderId };
  }
  if (type === 'ControllerError') {
    return object({ type: oneOf('ControllerError'), errorCode: int(-1, 2 ** 15), errorMessage: string(4096) })(value, 'reply') as ControllerError | Invalid;
  }
  if (typeof type !== 'string' || !replyTypes.has(type)) return invalid('reply.type', `unknown reply ${printable(type)}`);
  if (type !== `${commandType}Reply`) return invalid('reply.type', `${type} does not answer ${commandType}`);
  return value as ControllerReply;
}

const describeQuorumReplyValidator = object({
  type: oneOf('DescribeQuorumReply'),
  brokerId,
  role: oneOf('Follower', 'PreCandidate', 'Candidate', 'Leader', 'Opening'),
  leaderId: nullable(brokerId),
  active: boolean,
  term,
  commitIndex: index,
  appliedIndex: index,
  snapshotIndex: index,
  lastIndex: index,
  voters: array(voterId, messageLimits.votersMax),
  learners: optional(array(voterId, messageLimits.votersMax), []),
  observer: optional(boolean, false),
});

export function validateDescribeQuorumReply(value: unknown): DescribeQuorumReply | Invalid {
  return describeQuorumReplyValidator(value, 'reply');
}

const voterChangeReplyValidator = object({
  type: oneOf('VoterChangeReply'),
  errorCode: int(-1, 2 ** 15),
  errorMessage: nullable(string(4096)),
  voters: array(voterId, messageLimits.votersMax),
  learners: array(voterId, messageLimits.votersMax),
});

/** What a tool gets back for a VoterChange: the reply, or NotController / ControllerError (checked as for a ControllerRequest). */
export function validateVoterChangeReply(value: unknown): VoterChangeReply | NotController | ControllerError | Invalid {
  const type = typeof value === 'object' && value !== null ? (value as { type?: unknown }).type : undefined;
  if (type === 'VoterChangeReply') return voterChangeReplyValidator(value, 'reply');
  if (type === 'NotController') {
    const checked = object({ type: oneOf('NotController'), leaderId: nullable(brokerId) })(value, 'reply');
    return isInvalid(checked) ? checked : { type: 'NotController', errorCode: ErrorCode.NOT_CONTROLLER, leaderId: checked.leaderId };
  }
  if (type === 'ControllerError') return object({ type: oneOf('ControllerError'), errorCode: int(-1, 2 ** 15), errorMessage: string(4096) })(value, 'reply') as ControllerError | Invalid;
  return invalid('reply.type', `unknown reply ${printable(type)}`);
}
