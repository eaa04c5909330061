/**
 * What this broker knows about who may connect (#19): the SCRAM credentials
 * of the metadata image, read synchronously by the listeners while they
 * authenticate a connection (a SASL step cannot wait for an actor's reply
 * inside a frame handler without holding the connection's order).
 *
 * Owns: `SecurityView`. One writer, the `/security` actor (actor.ts), which
 * sets it from each metadata image; any number of readers on the same node,
 * as the partition registry is shared (actors/partition/registry.ts). The
 * image is immutable, so a reader sees one image or the next, never a mix.
 */
import type { MetadataImage, ScramCredentialImage, ScramMechanismName } from '../controller/metadata/image.ts';
import type { ScramCredential } from '../../protocol/sasl/scram.ts';

type Credentials = MetadataImage['scramCredentials'];

export class SecurityView {
  private credentials: Credentials = new Map();
  private imageOffset = -1;

  /** The writer's one call: the image the broker has now. */
  update(image: MetadataImage): void {
    this.credentials = image.scramCredentials;
    this.imageOffset = image.appliedOffset;
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
}
