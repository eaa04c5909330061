/**
 * The Kafka listener's ACL APIs (#19): CreateAcls, DescribeAcls and
 * DeleteAcls v0-3, translated into the native admin commands of
 * actors/controller/metadata/acls.ts (the same codes: Kafka's), so kcat,
 * KafkaJS and Kafka's tools manage the ACLs the brokers check. v0 has no
 * pattern type: the codec gives Kafka's default, LITERAL. Checked like any
 * admin command: Alter on the cluster to create or delete, Describe to list.
 */
import { ErrorCode } from '../../protocol/errors.ts';
import type { KafkaValue } from '../../protocol/kafka/codec.ts';
import type { CreateAclsReply, DeleteAclsReply, DescribeAclsReply } from '../controller/metadata/acls.ts';
import { askAdmin, isFailure, served } from './admin-apis.ts';
import type { HandlerDeps, ServedApis } from './served.ts';

type Fields = Record<string, unknown>;
const int = (value: unknown): number => (typeof value === 'number' ? value : -1);
const textOrNull = (value: unknown): string | null => (typeof value === 'string' ? value : null);

const filterOf = (f: Fields) => ({
  resourceType: int(f.resourceTypeFilter),
  resourceName: textOrNull(f.resourceNameFilter),
  patternType: int(f.patternTypeFilter),
  principal: textOrNull(f.principalFilter),
  host: textOrNull(f.hostFilter),
  operation: int(f.operation),
  permissionType: int(f.permissionType),
});

async function createAcls(_version: number, body: KafkaValue, deps: HandlerDeps): Promise<KafkaValue> {
  const creations = ((body as Fields).creations as Fields[]).map((c) => ({
    resourceType: int(c.resourceType),
    resourceName: String(c.resourceName),
    patternType: int(c.resourcePatternType),
    principal: String(c.principal),
    host: String(c.host),
    operation: int(c.operation),
    permissionType: int(c.permissionType),
  }));
  const reply = creations.length === 0 ? { type: 'CreateAclsReply', results: [] } : await askAdmin<CreateAclsReply>(deps, { type: 'CreateAcls', creations }, 'CreateAclsReply');
  const results = isFailure(reply) ? creations.map(() => ({ errorCode: reply.errorCode, errorMessage: reply.errorMessage })) : reply.results.map((r) => ({ errorCode: r.errorCode, errorMessage: r.errorMessage }));
  return { throttleTimeMs: 0, results };
}

async function describeAcls(_version: number, body: KafkaValue, deps: HandlerDeps): Promise<KafkaValue> {
  const reply = await askAdmin<DescribeAclsReply>(deps, { type: 'DescribeAcls', filter: filterOf(body as Fields) }, 'DescribeAclsReply');
  if (isFailure(reply)) return { throttleTimeMs: 0, errorCode: reply.errorCode, errorMessage: reply.errorMessage, resources: [] };
  return {
    throttleTimeMs: 0,
    errorCode: reply.errorCode,
    errorMessage: reply.errorMessage,
    resources: reply.resources.map((r) => ({ resourceType: r.resourceType, resourceName: r.resourceName, patternType: r.patternType, acls: r.acls.map((a) => ({ ...a })) })),
  };
}

async function deleteAcls(_version: number, body: KafkaValue, deps: HandlerDeps): Promise<KafkaValue> {
  const filters = ((body as Fields).filters as Fields[]).map(filterOf);
  const reply = filters.length === 0 ? { type: 'DeleteAclsReply', filterResults: [] } : await askAdmin<DeleteAclsReply>(deps, { type: 'DeleteAcls', filters }, 'DeleteAclsReply');
  if (isFailure(reply)) return { throttleTimeMs: 0, filterResults: filters.map(() => ({ errorCode: reply.errorCode, errorMessage: reply.errorMessage, matchingAcls: [] })) };
  return {
    throttleTimeMs: 0,
    filterResults: reply.filterResults.map((r) => ({
      errorCode: r.errorCode,
      errorMessage: r.errorMessage,
      matchingAcls: r.matchingAcls.map((a) => ({ errorCode: ErrorCode.NONE, errorMessage: null, ...a })),
    })),
  };
}

export const aclApis: ServedApis = {
  CreateAcls: served(0, 3, createAcls),
  DescribeAcls: served(0, 3, describeAcls),
  DeleteAcls: served(0, 3, deleteAcls),
};
