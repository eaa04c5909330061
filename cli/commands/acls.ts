/**
 * `kactus acls add|list|remove`: ACLs in the metadata log (#19), with
 * Kafka's kafka-acls.sh words (`--allow-principal User:alice --operation
 * Read --topic orders`) as subcommands (Admin.createAcls / describeAcls /
 * deleteAcls). The ACLs are checked by brokers with authorizer.class.name
 * set; `add` refuses nothing a broker would accept, `remove` without any
 * filter is refused (it would remove every ACL).
 */
import { KactusError } from '../../client/errors.ts';
import type { AclBinding, AclBindingFilter, AclOperationName, AclResourceTypeName } from '../../client/admin-acls.ts';
import { aclCode } from '../../protocol/acls.ts';
import { errorInfo } from '../../protocol/errors.ts';
import { withClient } from '../common.ts';
import type { CommandSpec, OptionSpec, Parsed } from '../parser.ts';
import { UsageError, printJson, printLine } from '../output.ts';

const resourceFlags = { topic: 'TOPIC', group: 'GROUP', 'transactional-id': 'TRANSACTIONAL_ID' } as const;

/** The resource options (one per command; NAME * for all). */
const resourceOptions: Record<string, OptionSpec> = {
  topic: { type: 'string', value: 'NAME', help: 'resource: a topic (* for all)' },
  group: { type: 'string', value: 'NAME', help: 'resource: a consumer group (* for all)' },
  'transactional-id': { type: 'string', value: 'ID', help: 'resource: a transactional id (* for all)' },
  cluster: { type: 'boolean', help: 'resource: the cluster' },
};
const operationNames = 'All, Read, Write, Create, Delete, Alter, Describe, ClusterAction, DescribeConfigs, AlterConfigs, IdempotentWrite';
const filterOptions: Record<string, OptionSpec> = {
  ...resourceOptions,
  principal: { type: 'string', value: 'P', help: 'only the ACLs of principal P (User:NAME)' },
  operation: { type: 'string', value: 'OP', multiple: true, help: `only the ACLs of operation OP (${operationNames})` },
  'resource-pattern-type': { type: 'string', value: 'TYPE', help: 'any, match (the ACLs that apply to the name), literal or prefixed', defaultHelp: 'literal with a resource' },
  host: { type: 'string', value: 'H', help: 'only the ACLs of host H' },
};

type Values = Record<string, unknown>;

/** The one resource the flags name, or null when none is named. */
function resourceOf(values: Values): { resourceType: AclResourceTypeName; resourceName: string } | null {
  const named = [
    ...Object.entries(resourceFlags).flatMap(([flag, type]) => (typeof values[flag] === 'string' ? [{ resourceType: type as AclResourceTypeName, resourceName: values[flag] as string }] : [])),
    ...(values.cluster === true ? [{ resourceType: 'CLUSTER' as const, resourceName: 'kafka-cluster' }] : []),
  ];
  if (named.length > 1) throw new UsageError('acls: name one resource (--topic, --group, --transactional-id or --cluster)');
  return named[0] ?? null;
}

/** kafka-acls' operation names (Read, IdempotentWrite) or ours (READ, IDEMPOTENT_WRITE). */
function operationOf(text: string): AclOperationName {
  const name = text.replace(/([a-z])([A-Z])/g, '$1_$2').toUpperCase();
  if (aclCode('operation', name) === undefined || name === 'ANY') throw new UsageError(`acls: unknown operation "${text}" (one of ${operationNames})`);
  return name as AclOperationName;
}

function patternOf(text: unknown, allowed: readonly string[]): string | undefined {
  if (text === undefined) return undefined;
  const name = String(text).toUpperCase();
  if (!allowed.includes(name)) throw new UsageError(`acls: --resource-pattern-type must be ${allowed.map((a) => a.toLowerCase()).join(', ')}, got "${String(text)}"`);
  return name;
}

const describe = (b: AclBinding): string => `${b.permissionType} ${b.principal} ${b.operation} on ${b.resourceType} ${b.resourceName}${b.patternType === 'PREFIXED' ? ' (prefixed)' : ''} from ${b.host}`;

function filterOf(values: Values): AclBindingFilter {
  const resource = resourceOf(values);
  const operations = (values.operation as string[] | undefined) ?? [];
  if (operations.length > 1) throw new UsageError('acls: a filter takes one --operation');
  const patternType = patternOf(values['resource-pattern-type'], ['ANY', 'MATCH', 'LITERAL', 'PREFIXED']) as AclBindingFilter['patternType'];
  return {
    ...(resource === null ? {} : resource),
    ...(patternType === undefined ? (resource === null ? {} : { patternType: 'LITERAL' as const }) : { patternType }),
    ...(typeof values.principal === 'string' ? { principal: values.principal } : {}),
    ...(typeof values.host === 'string' ? { host: values.host } : {}),
    ...(operations[0] === undefined ? {} : { operation: operationOf(operations[0]) }),
  };
}

async function add(parsed: Parsed): Promise<number> {
  const values = parsed.values as Values;
  const resource = resourceOf(values);
  if (resource === null) throw new UsageError('acls add: name the resource (--topic, --group, --transactional-id or --cluster)');
  const allow = (values['allow-principal'] as string[] | undefined) ?? [];
  const deny = (values['deny-principal'] as string[] | undefined) ?? [];
  const operations = ((values.operation as string[] | undefined) ?? []).map(operationOf);
  if (allow.length + deny.length === 0) throw new UsageError('acls add: give --allow-principal or --deny-principal');
  if (operations.length === 0) throw new UsageError('acls add: give --operation');
  const patternType = (patternOf(values['resource-pattern-type'], ['LITERAL', 'PREFIXED']) ?? 'LITERAL') as 'LITERAL' | 'PREFIXED';
  const host = typeof values.host === 'string' ? values.host : '*';
  const bindings: AclBinding[] = [
    ...allow.flatMap((principal) => operations.map((operation) => ({ ...resource, patternType, principal, host, operation, permissionType: 'ALLOW' as const }))),
    ...deny.flatMap((principal) => operations.map((operation) => ({ ...resource, patternType, principal, host, operation, permissionType: 'DENY' as const }))),
  ];
  return withClient(parsed.values, async (kactus) => {
    const results = await kactus.admin().createAcls(bindings);
    const failed = results.findIndex((r) => r.errorCode !== 0);
    if (parsed.values.json) printJson(bindings.map((binding, i) => ({ ...binding, ...results[i] })));
    else bindings.forEach((binding, i) => printLine(results[i]!.errorCode === 0 ? `Added: ${describe(binding)}` : `Refused: ${describe(binding)}: ${errorInfo(results[i]!.errorCode).name}: ${results[i]!.errorMessage ?? ''}`));
    if (failed >= 0) throw new KactusError(results[failed]!.errorCode, `acls add: ${results[failed]!.errorMessage ?? errorInfo(results[failed]!.errorCode).message}`);
    return 0;
  });
}

async function list(parsed: Parsed): Promise<number> {
  const filter = filterOf(parsed.values as Values);
  return withClient(parsed.values, async (kactus) => {
    const found = await kactus.admin().describeAcls(filter);
    if (parsed.values.json) printJson(found);
    else for (const binding of found) printLine(describe(binding));
    return 0;
  });
}

async function remove(parsed: Parsed): Promise<number> {
  const filter = filterOf(parsed.values as Values);
  if (Object.keys(filter).length === 0) throw new UsageError('acls remove: name a resource or a --principal (without a filter it would remove every ACL)');
  return withClient(parsed.values, async (kactus) => {
    const [result] = await kactus.admin().deleteAcls([filter]);
    if (result === undefined || result.errorCode !== 0) throw new KactusError(result?.errorCode ?? 2, `acls remove: ${result?.errorMessage ?? 'refused'}`);
    if (parsed.values.json) printJson(result.deleted);
    else if (result.deleted.length === 0) printLine('No ACL matched.');
    else for (const binding of result.deleted) printLine(`Removed: ${describe(binding)}`);
    return 0;
  });
}

export const aclsSpec: CommandSpec = {
  name: 'acls',
  description: `ACLs, stored in the metadata log and checked by brokers with
authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
(super.users pass every check). Principals are User:NAME (User:* for everyone).`,
  subcommands: [
    {
      name: 'add',
      summary: 'give each principal each operation on one resource',
      options: {
        'allow-principal': { type: 'string', value: 'P', multiple: true, help: 'allow principal P (User:NAME)' },
        'deny-principal': { type: 'string', value: 'P', multiple: true, help: 'deny principal P' },
        operation: { type: 'string', value: 'OP', multiple: true, help: operationNames },
        ...resourceOptions,
        'resource-pattern-type': { type: 'string', value: 'TYPE', help: 'literal, or prefixed: every name that starts with NAME', defaultHelp: 'literal' },
        host: { type: 'string', value: 'H', help: 'the host the principal connects from', defaultHelp: '*' },
      },
      cluster: true,
      run: add,
    },
    { name: 'list', summary: 'the ACLs the filters match (every ACL without one)', options: filterOptions, cluster: true, run: list },
    { name: 'remove', summary: 'delete the ACLs the filters match and print them (a filter is required)', options: filterOptions, cluster: true, run: remove },
  ],
};
