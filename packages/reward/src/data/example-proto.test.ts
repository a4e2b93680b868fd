import { decodeExample, encodeExample, Example, feature } from './example-proto';

/** Length-delimited field: tag byte, one-byte length (short test messages), payload. */
function ld(tag: number, payload: number[]): number[] {
  if (payload.length > 127) throw new Error('test helper: payload too long');
  return [tag, payload.length, ...payload];
}
const f32 = (v: number) => [...Buffer.from(Float32Array.of(v).buffer)];

/** An Example with one feature `key`, built by hand from the wire format. */
function handExample(key: string, featurePayload: number[]): Uint8Array {
  const entry = [...ld(0x0a, [...Buffer.from(key)]), ...ld(0x12, featurePayload)];
  return Uint8Array.from(ld(0x0a, ld(0x0a, entry)));
}

describe('tf.train.Example', () => {
  it('round-trips every feature kind', () => {
    const ex: Example = new Map([
      ['b', feature.bytes(Uint8Array.of(0, 255, 7), new Uint8Array(0))],
      ['t', feature.text('héllo')],
      ['f', feature.floats(0.1, -2.5, 3e38)],
      ['i', feature.int64s(0n, -1n, 2n ** 63n - 1n, -(2n ** 63n))],
      ['e', feature.floats()],
      ['n', { kind: 'none' }],
    ]);
    const back = decodeExample(encodeExample(ex));
    expect([...back.keys()].sort()).toEqual([...ex.keys()].sort());
    const b = back.get('b');
    expect(b?.kind === 'bytes_list' && b.value.map((v) => [...v])).toEqual([[0, 255, 7], []]);
    const t = back.get('t');
    expect(t?.kind === 'bytes_list' && Buffer.from(t.value[0]).toString('utf8')).toBe('héllo');
    const f = back.get('f');
    expect(f?.kind === 'float_list' && [...f.value]).toEqual([Math.fround(0.1), -2.5, Math.fround(3e38)]);
    const i = back.get('i');
    expect(i?.kind === 'int64_list' && i.value).toEqual([0n, -1n, 2n ** 63n - 1n, -(2n ** 63n)]);
    expect(back.get('e')).toEqual({ kind: 'float_list', value: new Float32Array(0) });
    expect(back.get('n')).toEqual({ kind: 'none' });
  });

  it('parses packed and unpacked repeated floats and int64s alike', () => {
    // FloatList.value (field 1): unpacked = one fixed32 per tag 0x0d; packed = tag 0x0a + bytes.
    const unpackedF = handExample('s', ld(0x12, [0x0d, ...f32(0.5), 0x0d, ...f32(-2)]));
    const packedF = handExample('s', ld(0x12, ld(0x0a, [...f32(0.5), ...f32(-2)])));
    for (const bytes of [unpackedF, packedF]) {
      expect(decodeExample(bytes).get('s')).toEqual({ kind: 'float_list', value: Float32Array.of(0.5, -2) });
    }
    // Int64List.value: unpacked = varint per tag 0x08; packed = tag 0x0a + varints.
    const unpackedI = handExample('n', ld(0x1a, [0x08, 0x05, 0x08, 0xac, 0x02]));
    const packedI = handExample('n', ld(0x1a, ld(0x0a, [0x05, 0xac, 0x02])));
    for (const bytes of [unpackedI, packedI]) {
      expect(decodeExample(bytes).get('n')).toEqual({ kind: 'int64_list', value: [5n, 300n] });
    }
  });

  it('writes floats packed, as TensorFlow does', () => {
    const bytes = encodeExample(new Map([['s', feature.floats(0.5, -2)]]));
    expect([...bytes]).toEqual([...handExample('s', ld(0x12, ld(0x0a, [...f32(0.5), ...f32(-2)])))]);
  });

  it('rejects bytes that are not a protobuf message', () => {
    expect(() => decodeExample(Uint8Array.of(0x0a, 0x50, 1, 2))).toThrow();
  });
});
