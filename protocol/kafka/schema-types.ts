/**
 * The normalized form of Kafka's message definitions that codec.ts
 * interprets (scripts/gen-kafka-schemas.ts writes schemas.generated.ts in it).
 *
 * Version ranges are inclusive [min, max] pairs; max 32767 stands for Kafka's
 * "N+"; null is "none". Types: a primitive (bool, int8, int16, uint16,
 * int32, uint32, int64, float64, string, bytes, records, uuid), 'struct'
 * (with `fields`), or an array of either ('[]int32', '[]struct').
 */
export type VersionRange = readonly [number, number] | null;

export type FieldSchema = {
  /** camelCase of Kafka's field name (ThrottleTimeMs -> throttleTimeMs): the key in decoded values. */
  readonly name: string;
  readonly type: string;
  readonly versions: readonly [number, number];
  readonly nullable: VersionRange;
  readonly tagged: VersionRange;
  readonly tag: number | null;
  /** Field-level flexibleVersions "none": encoded non-flexibly even in flexible versions (the request header's ClientId). */
  readonly neverFlexible: boolean;
  /** Kafka's default (parsed); absent: the type's zero value; null: Kafka's explicit "null". */
  readonly default?: string | number | boolean | null;
  /** For 'struct' and '[]struct'. */
  readonly fields: readonly FieldSchema[] | null;
};

export type MessageSchema = {
  /** Kafka's message name, e.g. FetchRequest. */
  readonly name: string;
  readonly apiKey: number | null;
  readonly kind: 'request' | 'response' | 'header';
  readonly versions: readonly [number, number];
  readonly flexible: VersionRange;
  readonly fields: readonly FieldSchema[];
};
