/**
 * `kactus cluster add-voter N` and `kactus cluster remove-voter N`: change the
 * metadata quorum's voter set by one (Kafka's AddRaftVoter / RemoveRaftVoter,
 * KIP-853; #17). The answer comes once the change committed.
 *
 * VoterChange is a peer-only message of /controller, so this tool proves
 * cluster membership like a broker does: it needs the cluster secret
 * (--secret-file FILE, or KACTUS_CLUSTER_SECRET). Method: the brokers and
 * their addresses come from Metadata (the client Admin); a peer node with the
 * secret dials them, asks each /controller DescribeQuorum to find the active
 * controller, sends it VoterChange and follows NotController up to
 * voterChangeAttemptsMax times.
 */
import { readFileSync } from 'node:fs';
import type { Ref } from '../../runtime/ref.ts';
import { errorName } from '../../protocol/errors.ts';
import { isInvalid } from '../../protocol/validate.ts';
import { clusterSecretVariable } from '../../actors/broker/cluster-secret.ts';
import { validateDescribeQuorumReply, validateVoterChangeReply, type DescribeQuorum, type VoterChange } from '../../actors/controller/messages.ts';
import { UsageError, printJson, printLine } from '../output.ts';
import { withClient } from '../common.ts';
import type { CommandSpec, Parsed } from '../parser.ts';

export const voterChangeLimits = {
  /** NotController redirections (and retries of a change in flight) before giving up. */
  voterChangeAttemptsMax: 10,
  /** One VoterChange may wait for a learner to catch up (controllerLimits.voterCatchUpMs) and then commit. */
  voterChangeTimeoutMs: 30_000,
  /** One DescribeQuorum ask. */
  quorumAskTimeoutMs: 2_000,
  /** Between retries of a change refused as in flight. */
  retryBackoffMs: 500,
} as const;

const brokerIdMax = 2 ** 31 - 1;

const specOf = (verb: 'add-voter' | 'remove-voter', what: string): CommandSpec => ({
  name: verb,
  description: `${what}\nNeeds the cluster secret: --secret-file FILE or ${clusterSecretVariable}.`,
  arguments: [{ name: 'N', help: 'the broker id' }],
  options: { 'secret-file': { type: 'string', value: 'FILE', help: `the cluster secret (default: $${clusterSecretVariable})` } },
  cluster: true,
  run: (parsed) => changeVoters(verb, parsed),
});

export const clusterAddVoterSpec = specOf(
  'add-voter',
  `Makes broker N a voter of the metadata quorum. N must be running with the
controller role (kactus broker --controller, process.roles=broker,controller):
it joins as a learner, catches up with the metadata log, then is promoted.`,
);
export const clusterRemoveVoterSpec = specOf(
  'remove-voter',
  `Removes broker N from the metadata quorum's voters (the active controller
too: it hands over first). Stop N afterwards. The last voter cannot go.`,
);

function readSecret(file: unknown): Buffer {
  if (typeof file === 'string' && file.length > 0) return Buffer.from(readFileSync(file, 'utf8').trim(), 'utf8');
  const fromEnvironment = process.env[clusterSecretVariable];
  if (fromEnvironment !== undefined && fromEnvironment.length > 0) return Buffer.from(fromEnvironment.trim(), 'utf8');
  throw new UsageError(`the cluster secret is needed: --secret-file FILE or ${clusterSecretVariable}`);
}

async function changeVoters(verb: 'add-voter' | 'remove-voter', parsed: Parsed): Promise<number> {
  const text = parsed.positionals[0]!;
  const brokerId = Number(text);
  if (!/^\d+$/.test(text) || brokerId > brokerIdMax) throw new UsageError(`cluster ${verb}: "${text}" is not a broker id`);
  const clusterSecret = readSecret(parsed.values['secret-file']);
  const type = verb === 'add-voter' ? 'AddVoter' : 'RemoveVoter';
  return withClient(parsed.values, async (kactus) => {
    const cluster = await kactus.admin().describeCluster();
    const { Node } = await import('../../runtime/node.ts');
    const { createLogger } = await import('../../runtime/logger.ts');
    const peer = await Node.start({ clusterSecret, nodeId: `kactus-cli-${process.pid}`, logger: createLogger({ client: 'kactus-cli' }, process.env.LOG_LEVEL ?? 'silent', 2) });
    try {
      for (const b of cluster.brokers) peer.addPeer(String(b.brokerId), `ws://${b.host}:${b.port}`);
      const describe = async (id: number) => {
        const raw = await peer
          .ask<DescribeQuorum, unknown>({ node: String(id), path: '/controller' } as Ref<DescribeQuorum>, (replyTo) => ({ type: 'DescribeQuorum', replyTo }), { timeoutMs: voterChangeLimits.quorumAskTimeoutMs })
          .catch(() => null);
        const reply = raw === null ? null : validateDescribeQuorumReply(raw);
        return reply === null || isInvalid(reply) ? null : reply;
      };
      const answers = await Promise.all(cluster.brokers.map((b) => describe(b.brokerId)));
      let target: number | null = answers.find((a) => a?.active)?.brokerId ?? answers.find((a) => a?.leaderId !== null)?.leaderId ?? null;
      let lastProblem = 'no active controller found';
      for (let attempt = 0; attempt < voterChangeLimits.voterChangeAttemptsMax && target !== null; attempt++) {
        const raw = await peer
          .ask<VoterChange, unknown>({ node: String(target), path: '/controller' } as Ref<VoterChange>, (replyTo) => ({ type: 'VoterChange', change: { type, brokerId }, replyTo }), {
            timeoutMs: voterChangeLimits.voterChangeTimeoutMs,
          })
          .catch((err: unknown) => ({ failed: (err as Error)?.message ?? String(err) }));
        if (typeof raw === 'object' && raw !== null && 'failed' in raw) {
          lastProblem = `controller ${target}: ${String(raw.failed)}`;
          break;
        }
        const reply = validateVoterChangeReply(raw);
        if (isInvalid(reply)) {
          lastProblem = `controller ${target} answered badly: ${reply.errorMessage}`;
          break;
        }
        if (reply.type === 'NotController') {
          lastProblem = `broker ${target} is not the active controller`;
          target = reply.leaderId;
          await new Promise((resolve) => setTimeout(resolve, voterChangeLimits.retryBackoffMs));
          continue;
        }
        if (reply.type === 'ControllerError') {
          lastProblem = `${errorName(reply.errorCode)}: ${reply.errorMessage}`;
          break;
        }
        if (reply.errorCode !== 0 && reply.errorMessage?.includes('retry') === true) {
          lastProblem = `${errorName(reply.errorCode)}: ${reply.errorMessage}`;
          await new Promise((resolve) => setTimeout(resolve, voterChangeLimits.retryBackoffMs));
          continue;
        }
        if (parsed.values.json) printJson({ brokerId, change: type, errorCode: reply.errorCode, error: reply.errorCode === 0 ? null : errorName(reply.errorCode), errorMessage: reply.errorMessage, voters: reply.voters, learners: reply.learners });
        else if (reply.errorCode === 0) printLine(`${type === 'AddVoter' ? 'Added' : 'Removed'} voter ${brokerId}. Voters: ${reply.voters.join(', ')}${reply.learners.length > 0 ? `; learners: ${reply.learners.join(', ')}` : ''}`);
        else printLine(`${type} ${brokerId} failed: ${errorName(reply.errorCode)}: ${reply.errorMessage ?? ''}`);
        return reply.errorCode === 0 ? 0 : 1;
      }
      if (parsed.values.json) printJson({ brokerId, change: type, errorCode: -1, error: 'UNKNOWN_SERVER_ERROR', errorMessage: lastProblem });
      else printLine(`${type} ${brokerId} failed: ${lastProblem}`);
      return 1;
    } finally {
      await peer.stop();
    }
  });
}
