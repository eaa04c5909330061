/**
 * `kactus cluster remove-broker N [--force]`: forgets a retired broker
 * (Kafka's UnregisterBroker, admin.unregisterBroker), so it no longer counts
 * as a cluster member and its id may be reused.
 *
 * The controller refuses while the broker still hosts replicas or is
 * running: drain it first (`kactus partitions reassign --plan
 * --drain-broker N`, then --execute), then stop it. --force fences and
 * forgets it anyway; the partitions it still hosted stay short of a replica
 * (offline if it was their only one) until they are reassigned.
 */
import { UsageError, printJson, printLine } from '../output.ts';
import { withClient } from '../common.ts';
import type { CommandSpec, Parsed } from '../parser.ts';

export const clusterRemoveBrokerSpec: CommandSpec = {
  name: 'remove-broker',
  description: `Unregisters broker N from the cluster. Refused while N hosts replicas or is
still running: first move its replicas off with
  kactus partitions reassign --plan --drain-broker N > drain.json
  kactus partitions reassign --execute drain.json --wait
then stop it. --force removes it anyway (its replicas stay missing until
they are reassigned).`,
  arguments: [{ name: 'N', help: 'the broker id' }],
  options: { force: { type: 'boolean', default: false, help: 'remove it although it hosts replicas or runs' } },
  cluster: true,
  run: clusterRemoveBroker,
};

/** Broker ids are non-negative 32-bit integers in Kafka. */
const brokerIdMax = 2 ** 31 - 1;

async function clusterRemoveBroker(parsed: Parsed): Promise<number> {
  const text = parsed.positionals[0]!;
  const brokerId = Number(text);
  if (!/^\d+$/.test(text) || brokerId > brokerIdMax) throw new UsageError(`cluster remove-broker: "${text}" is not a broker id`);
  const force = parsed.values.force === true;
  return withClient(parsed.values, async (kactus) => {
    await kactus.admin().unregisterBroker({ brokerId, force });
    if (parsed.values.json) printJson({ brokerId, removed: true, forced: force });
    else printLine(`Removed broker ${brokerId} from the cluster${force ? ' (forced)' : ''}.`);
    return 0;
  });
}
