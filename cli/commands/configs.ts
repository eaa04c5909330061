/**
 * `kactus configs describe|alter`, like kafka-configs, through the client's
 * Admin (describeConfigs / alterConfigs).
 *
 * --entity-type topics|brokers, with --entity-name N (a topic, or a broker
 * id) or, for brokers, --entity-default (the cluster-wide default every
 * broker falls back to). describe prints each config with its value and
 * source (TOPIC_CONFIG, DYNAMIC_BROKER_CONFIG, DYNAMIC_DEFAULT_BROKER_CONFIG,
 * DEFAULT_CONFIG); only what is set, unless --all. alter takes
 * --add-config k=v[,k=v...] and --delete-config k[,k...] (Kafka's comma
 * lists; repeatable), applied as one request.
 *
 * The broker configs that can change at run time are the ones Admin
 * documents (the replication throttles); the broker refuses others with
 * the reason.
 */
import type { ConfigResourceType } from '../../client/admin.ts';
import { UsageError, printJson, printLine, printTable } from '../output.ts';
import { withClient } from '../common.ts';
import type { CommandSpec, OptionSpec, Parsed } from '../parser.ts';

const entityOptions: Record<string, OptionSpec> = {
  'entity-type': { type: 'string', value: 'TYPE', required: true, choices: ['topics', 'brokers'], help: 'what the configs are of' },
  'entity-name': { type: 'string', value: 'N', help: 'a topic\'s name, or a broker\'s id' },
  'entity-default': { type: 'boolean', help: 'brokers: the cluster-wide default every broker falls back to' },
};

function entityOf(parsed: Parsed, subcommand: string): { type: ConfigResourceType; name: string } {
  const v = parsed.values;
  const kind = v['entity-type'];
  if (kind !== 'topics' && kind !== 'brokers') throw new UsageError(`configs ${subcommand}: --entity-type must be topics or brokers${kind === undefined ? '' : `, got "${String(kind)}"`}`);
  const name = v['entity-name'];
  const isDefault = v['entity-default'] === true;
  if ((typeof name === 'string') === isDefault) throw new UsageError(`configs ${subcommand}: give exactly one of --entity-name N, --entity-default`);
  if (kind === 'topics') {
    if (isDefault) throw new UsageError(`configs ${subcommand}: --entity-default is for brokers (topics take their defaults from the brokers)`);
    return { type: 'topic', name: name as string };
  }
  if (!isDefault && !/^(0|[1-9]\d{0,9})$/.test(name as string)) throw new UsageError(`configs ${subcommand}: --entity-name of a broker is its id, got "${String(name)}"`);
  return { type: 'broker', name: isDefault ? '' : (name as string) };
}

/** Kafka's `k=v,k2=v2` lists, from every occurrence of the flag. */
function pairs(items: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  for (const item of ((items as string[] | undefined) ?? []).flatMap((text) => text.split(','))) {
    const at = item.indexOf('=');
    if (at <= 0) throw new UsageError(`configs alter: --add-config "${item}" is not key=value`);
    out[item.slice(0, at).trim()] = item.slice(at + 1);
  }
  return out;
}

async function describe(parsed: Parsed): Promise<number> {
  const entity = entityOf(parsed, 'describe');
  return withClient(parsed.values, async (kactus) => {
    const [described] = await kactus.admin().describeConfigs({ resources: [entity] });
    const configs = (described?.configs ?? []).filter((c) => parsed.values.all === true || c.source !== 'DEFAULT_CONFIG').sort((a, b) => a.name.localeCompare(b.name));
    const label = entity.type === 'topic' ? `topic ${entity.name}` : entity.name === '' ? 'the broker default' : `broker ${entity.name}`;
    if (parsed.values.json) {
      printJson({ entityType: parsed.values['entity-type'], entityName: entity.name === '' ? null : entity.name, configs: configs.map((c) => ({ name: c.name, value: c.value, source: c.source, readOnly: c.readOnly })) });
      return 0;
    }
    printLine(`Configs of ${label}${parsed.values.all === true ? '' : ' (set; --all for every one)'}:`);
    printTable(['NAME', 'VALUE', 'SOURCE'], configs.map((c) => [c.name, c.value, c.source]));
    return 0;
  });
}

async function alter(parsed: Parsed): Promise<number> {
  const entity = entityOf(parsed, 'alter');
  const set = pairs(parsed.values['add-config']);
  const deleted = ((parsed.values['delete-config'] as string[] | undefined) ?? []).flatMap((text) => text.split(',')).map((k) => k.trim()).filter((k) => k.length > 0);
  if (Object.keys(set).length === 0 && deleted.length === 0) throw new UsageError('configs alter: give --add-config k=v or --delete-config k');
  const both = deleted.filter((k) => k in set);
  if (both.length > 0) throw new UsageError(`configs alter: ${both.join(', ')} both added and deleted`);
  return withClient(parsed.values, async (kactus) => {
    await kactus.admin().alterConfigs({ resources: [{ ...entity, set, delete: deleted }] });
    if (parsed.values.json) printJson({ entityType: parsed.values['entity-type'], entityName: entity.name === '' ? null : entity.name, set, deleted });
    else printLine(`Completed updating config for ${entity.type === 'topic' ? `topic ${entity.name}` : entity.name === '' ? 'the broker default' : `broker ${entity.name}`}.`);
    return 0;
  });
}

export const configsSpec: CommandSpec = {
  name: 'configs',
  description: 'Topic and broker configs, like kafka-configs: --entity-type topics|brokers with --entity-name N or --entity-default.',
  subcommands: [
    { name: 'describe', summary: 'configs with their values and sources', options: { ...entityOptions, all: { type: 'boolean', help: 'every config, defaults too (default: only those set on the entity)' } }, cluster: true, run: describe },
    {
      name: 'alter',
      summary: 'set and delete configs, in one request',
      options: {
        ...entityOptions,
        'add-config': { type: 'string', value: 'k=v[,k=v...]', multiple: true, help: 'set configs' },
        'delete-config': { type: 'string', value: 'k[,k...]', multiple: true, help: 'delete configs (back to their defaults)' },
      },
      notes: 'Of the broker configs, those Admin documents as dynamic (the replication throttles) change at run time;\nthe brokers refuse others with the reason.',
      cluster: true,
      run: alter,
    },
  ],
};
