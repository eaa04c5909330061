/**
 * Three event-driven services of the order pipeline, each a consumer group
 * that reacts to one topic and emits to the next:
 *
 *   orders (topic) --payments--> payments (topic) --shipping--> shipments (topic)
 *
 * Each service acknowledges an input record only after its output event was
 * acknowledged by the cluster (commitAfter), so a crash replays at most the
 * unfinished tail: at-least-once, and events of one order (same key) stay in
 * order on one partition.
 */
import type { Subscription } from 'rxjs';
import { commitAfter, type Kactus } from '../../client/index.ts';

export type OrderPlaced = { orderId: string; amountCents: number; runId: string };
export type PaymentTaken = OrderPlaced & { paymentId: string };
export type Shipped = PaymentTaken & { trackingId: string };

export const topics = ['orders', 'payments', 'shipments'] as const;

/** Reads `from`, turns each event into the next one with `step`, writes it to `to` keyed by order. */
function service<I extends { orderId: string }, O>(kactus: Kactus, name: string, runId: string, from: string, to: string, step: (input: I) => O): Subscription {
  const producer = kactus.producer({ acks: 'all' });
  const consumer = kactus.consumer({ groupId: `${name}-${runId}`, autoOffsetReset: 'earliest' }).subscribe([from]);
  return consumer.messages$
    .pipe(
      commitAfter(async (record) => {
        const input = JSON.parse(record.value?.toString() ?? '{}') as I & { runId?: string };
        if (input.runId !== runId) return; // another run's event
        await producer.send({ topic: to, messages: [{ key: input.orderId, value: JSON.stringify(step(input)) }] });
      }),
    )
    .subscribe();
}

export function startPayments(kactus: Kactus, runId: string): Subscription {
  return service<OrderPlaced, PaymentTaken>(kactus, 'payments', runId, 'orders', 'payments', (order) => ({ ...order, paymentId: `pay-${order.orderId}` }));
}

export function startShipping(kactus: Kactus, runId: string): Subscription {
  return service<PaymentTaken, Shipped>(kactus, 'shipping', runId, 'payments', 'shipments', (payment) => ({ ...payment, trackingId: `track-${payment.orderId}` }));
}
