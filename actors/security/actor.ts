/**
 * `/security`, one per broker node: keeps the node's SecurityView (view.ts)
 * at the metadata image the controller client has, by subscribing to it.
 * Takes nothing from the network (no `accepts`).
 *
 * Supervision: the default restart; init subscribes again and the
 * controller client answers a new subscriber with its current image at once.
 */
import type { Behaviour, Node } from '../../runtime/node.ts';
import type { Ref } from '../../runtime/ref.ts';
import type { ControllerClientMessage, MetadataImageUpdated } from '../controller/messages.ts';
import type { SecurityView } from './view.ts';

export type SecurityMessage = MetadataImageUpdated;

export function securityBehaviour(view: SecurityView, controllerClient: Ref<ControllerClientMessage>): Behaviour<null, SecurityMessage> {
  return {
    init: (ctx) => {
      ctx.node.tell(controllerClient, { type: 'SubscribeMetadata', subscriber: ctx.self as Ref<MetadataImageUpdated> });
      return null;
    },
    receive: (state, message) => {
      if (message.type === 'MetadataImageUpdated') view.update(message.image);
      return state;
    },
  };
}

export function spawnSecurity(node: Node, view: SecurityView, controllerClient: Ref<ControllerClientMessage>): Ref<SecurityMessage> {
  return node.spawn('security', securityBehaviour(view, controllerClient));
}
