import * as protobuf from 'protobufjs';

/**
 * tf.train.Example, the record payload of TFRecord datasets. The messages mirror TensorFlow's
 * core/example/{example,feature}.proto (same field numbers), parsed at load time by protobufjs —
 * no generated code. protobufjs reads repeated scalars in packed and unpacked form alike.
 */
const PROTO = `
syntax = "proto3";
package tensorflow;
message BytesList { repeated bytes value = 1; }
message FloatList { repeated float value = 1 [packed = true]; }
message Int64List { repeated int64 value = 1 [packed = true]; }
message Feature {
  oneof kind {
    BytesList bytes_list = 1;
    FloatList float_list = 2;
    Int64List int64_list = 3;
  }
}
message Features { map<string, Feature> feature = 1; }
message Example { Features features = 1; }
`;

const ExampleType = protobuf.parse(PROTO, { keepCase: true }).root.lookupType('tensorflow.Example');

/** One feature, tagged with the proto's oneof name; `none` is a Feature with no list set. */
export type Feature =
  | { kind: 'bytes_list'; value: Uint8Array[] }
  | { kind: 'float_list'; value: Float32Array }
  | { kind: 'int64_list'; value: bigint[] }
  | { kind: 'none' };

export type FeatureKind = Feature['kind'];

/** Features by key. Bytes may be views into the decoded buffer. */
export type Example = Map<string, Feature>;

interface RawFeature {
  bytes_list?: { value?: Uint8Array[] };
  float_list?: { value?: number[] };
  int64_list?: { value?: Array<number | protobuf.Long> };
}

interface RawExample {
  features?: { feature?: Record<string, RawFeature> };
}

export function decodeExample(bytes: Uint8Array): Example {
  const raw = ExampleType.toObject(ExampleType.decode(bytes), { defaults: false }) as RawExample;
  const out: Example = new Map();
  for (const [key, f] of Object.entries(raw.features?.feature ?? {})) {
    out.set(key, fromRaw(f));
  }
  return out;
}

export function encodeExample(example: Example): Uint8Array {
  const feature: Record<string, RawFeature> = {};
  for (const [key, f] of example) feature[key] = toRaw(f);
  const msg = ExampleType.fromObject({ features: { feature } });
  return ExampleType.encode(msg).finish();
}

function fromRaw(f: RawFeature): Feature {
  if (f.bytes_list) return { kind: 'bytes_list', value: f.bytes_list.value ?? [] };
  if (f.float_list) return { kind: 'float_list', value: Float32Array.from(f.float_list.value ?? []) };
  if (f.int64_list) {
    return { kind: 'int64_list', value: (f.int64_list.value ?? []).map((v) => BigInt(v.toString())) };
  }
  return { kind: 'none' };
}

function toRaw(f: Feature): RawFeature {
  switch (f.kind) {
    case 'bytes_list':
      return { bytes_list: { value: f.value } };
    case 'float_list':
      return { float_list: { value: Array.from(f.value) } };
    case 'int64_list':
      // protobufjs takes 64-bit integers as decimal strings without loss.
      return { int64_list: { value: f.value.map((v) => v.toString()) as unknown as number[] } };
    case 'none':
      return {};
  }
}

/** Convenience constructors. */
export const feature = {
  bytes: (...value: Uint8Array[]): Feature => ({ kind: 'bytes_list', value }),
  text: (...value: string[]): Feature => ({ kind: 'bytes_list', value: value.map((s) => Buffer.from(s, 'utf8')) }),
  floats: (...value: number[]): Feature => ({ kind: 'float_list', value: Float32Array.from(value) }),
  int64s: (...value: Array<bigint | number>): Feature => ({ kind: 'int64_list', value: value.map((v) => BigInt(v)) }),
};
