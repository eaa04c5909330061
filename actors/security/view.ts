/**
 * What this broker knows about who may connect and what they may do (#19):
 * the SCRAM credentials and the ACLs of the metadata image, read
 * synchronously by the listeners while they authenticate a connection and
 * by the runtime's admission while it authorizes a request (neither can
 * wait for an actor's reply without holding the connection's order).
 *
 * Owns: `SecurityView` and `AuthorizerSettings`. One writer, the `/security`
 * actor (actor.ts), which sets it from each metadata image; any number of
 * readers on the same node, as the partition registry is shared
 * (actors/partition/registry.ts). The image is immutable, so a reader sees
 * one image or the next, never a mix. The ACL index is rebuilt only when an
 * image's ACLs changed.
 */
import type { MetadataImage, ScramCredentialImage, ScramMechanismName } from '../controller/metadata/image.ts';
import type { ScramCredential } from '../../protocol/sasl/scram.ts';
import type { Caller } from '../../runtime/protocol.ts';
import { AclIndex, authorize, authorizeByResourceType } from './acl-authorizer.ts';
import { requiredAccess } from './request-access.ts';

type Credentials = MetadataImage['scramCredentials'];

/** The broker's authorizer settings: authorizer.class.name set, super.users, allow.everyone.if.no.acl.found. */
export type AuthorizerSettings = { readonly superUsers: ReadonlySet<string>; readonly allowIfNoAcl: boolean };

export class SecurityView {
  private credentials: Credentials = new Map();
  private imageOffset = -1;
  private acls: MetadataImage['acls'] = new Map();
  private index = new AclIndex([]);

  constructor(readonly authorizer: AuthorizerSettings | null = null) {}

  /** The writer's one call: the image the broker has now. */
  update(image: MetadataImage): void {
    this.credentials = image.scramCredentials;
    this.imageOffset = image.appliedOffset;
    if (image.acls !== this.acls) {
      this.acls = image.acls;
      this.index = new AclIndex(image.acls.values());
    }
  }

  /** The offset of the image this view holds (-1: none yet; no user can authenticate). */
  get appliedOffset(): number {
    return this.imageOffset;
  }

  /** The stored SCRAM credential of `user` for `mechanism`, or undefined. */
  scramCredential(user: string, mechanism: ScramMechanismName): ScramCredential | undefined {
    const credential: ScramCredentialImage | undefined = this.credentials.get(user)?.get(mechanism);
    return credential === undefined ? undefined : { mechanism: credential.mechanism, salt: credential.salt, iterations: credential.iterations, storedKey: credential.storedKey, serverKey: credential.serverKey };
  }

  /** Whether `caller` may do `operation` on the resource; always true without an authorizer, or for a caller of this node. */
  allows(caller: Caller | undefined, operation: number, resourceType: number, resourceName: string): boolean {
    if (this.authorizer === null || caller === undefined) return true;
    return authorize(this.index, this.authorizer, { principal: caller.principal, host: caller.host, operation, resourceType, resourceName });
  }

  /** Whether some ACL lets `caller` do `operation` on some resource of the type (acl-authorizer.ts authorizeByResourceType). */
  allowsSomeOfType(caller: Caller | undefined, operation: number, resourceType: number): boolean {
    if (this.authorizer === null || caller === undefined) return true;
    return authorizeByResourceType(this.acls.values(), this.authorizer, { principal: caller.principal, host: caller.host, operation, resourceType });
  }

  /** The runtime's authorizer (node.ts RequestAuthorizer): the first check of requiredAccess that fails refuses the message. */
  authorizeRequest(caller: Caller, path: string, message: Readonly<Record<string, unknown>>): { errorCode: number; why: string } | null {
    if (this.authorizer === null) return null;
    for (const check of requiredAccess(path, message)) {
      const passes = check.anyOf.some((need) => (need.resourceName === null ? this.allowsSomeOfType(caller, need.operation, need.resourceType) : this.allows(caller, need.operation, need.resourceType, need.resourceName)));
      if (!passes) return { errorCode: check.errorCode, why: `${caller.principal} is not authorized to ${check.what}` };
    }
    return null;
  }
}
