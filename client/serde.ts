/**
 * Serializers and deserializers: how an app's keys and values become record
 * bytes on the producer and come back on the consumer, typed end to end.
 *
 *   const producer = kactus.producer({ serializers: { value: serializers.json<Order>() } });
 *   await producer.send({ topic: 'orders', messages: [{ key: order.id, value: order }] });
 *   const consumer = kactus.consumer({ groupId: 'billing', deserializers: { value: deserializers.json<Order>() } });
 *   consumer.messages$  // Observable<ConsumerRecord<Buffer, Order>>
 *
 * Null is never handed to a serializer or deserializer: a null value is a
 * tombstone in Kafka, and stays null both ways (as Java's StringSerializer
 * and JsonDeserializer treat it). A function of the app's own is a
 * serializer too. A serializer that throws fails that send (INVALID_RECORD,
 * naming the topic and the message); a deserializer that throws fails the
 * consumer's feed at that record (INVALID_RECORD naming topic, partition and
 * offset; nothing after it is committed), the way Kafka's poll throws
 * RecordDeserializationException.
 *
 * Imports: nothing at run time.
 */

/** Record bytes as the producer sends them (a string is sent as UTF-8). */
export type SerializedBytes = Buffer | Uint8Array | string;

export type Serializer<T> = (data: T, topic: string) => SerializedBytes;
export type Deserializer<T> = (bytes: Buffer, topic: string) => T;

export type Serializers<K, V> = { key?: Serializer<K>; value?: Serializer<V> };
export type Deserializers<K, V> = { key?: Deserializer<K>; value?: Deserializer<V> };

/** What a producer without a serializer takes (the bytes as given). */
export type RawValue = Buffer | Uint8Array | string;

export const serializers = {
  /** Bytes or text as given (the default). */
  raw: ((data: RawValue) => data) as Serializer<RawValue>,
  string: ((data: string) => Buffer.from(data, 'utf8')) as Serializer<string>,
  /** JSON.stringify of the value, as UTF-8; a value JSON cannot represent (undefined, a function) is refused. */
  json<T>(): Serializer<T> {
    return (data: T) => {
      const text = JSON.stringify(data) as string | undefined;
      if (text === undefined) throw new TypeError(`JSON cannot represent ${typeof data}`);
      return Buffer.from(text, 'utf8');
    };
  },
};

export const deserializers = {
  /** The record's bytes (the default). */
  raw: ((bytes: Buffer) => bytes) as Deserializer<Buffer>,
  string: ((bytes: Buffer) => bytes.toString('utf8')) as Deserializer<string>,
  /** JSON.parse of the UTF-8 bytes; malformed JSON fails the feed at that record. */
  json<T>(): Deserializer<T> {
    return (bytes: Buffer) => JSON.parse(bytes.toString('utf8')) as T;
  },
};
