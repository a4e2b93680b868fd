import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { parityDir } from '../parity/fixtures';
import {
  decodeRaw,
  readSafetensors,
  readSafetensorsBytes,
  readSafetensorsHeader,
  readShardedSafetensors,
  writeSafetensors,
} from './safetensors';
import { HostTensor, TensorMap } from './tensors';

let tmp: string;
beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'st-test-'));
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** A safetensors image built by hand: 8-byte length, header text, data bytes. */
function image(header: string | object, data: Uint8Array | number = 0, len?: bigint): Buffer {
  const h = Buffer.from(typeof header === 'string' ? header : JSON.stringify(header), 'utf8');
  const n = Buffer.alloc(8);
  n.writeBigUInt64LE(len ?? BigInt(h.length));
  const d = typeof data === 'number' ? Buffer.alloc(data) : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  return Buffer.concat([n, h, d]);
}

let counter = 0;
function file(bytes: Uint8Array): string {
  const f = path.join(tmp, `t${counter++}.safetensors`);
  fs.writeFileSync(f, bytes);
  return f;
}

/** Reading `bytes` from a file fails with one line "<file>: safetensors header ..." matching `re`. */
function expectHeaderError(bytes: Uint8Array, re: RegExp): void {
  const f = file(bytes);
  let msg = '';
  try {
    readSafetensors(f);
  } catch (e) {
    msg = (e as Error).message;
  }
  expect(msg.startsWith(`${f}: safetensors header `)).toBe(true);
  expect(msg).not.toContain('\n');
  expect(msg).toMatch(re);
  // The in-memory reader validates identically.
  expect(() => readSafetensorsBytes(bytes, 'mem')).toThrow(/^mem: safetensors header /);
}

/** Same dtype, shape and bytes (jest's toEqual is far too slow on megabyte typed arrays). */
function expectSameTensor(a: HostTensor | undefined, b: HostTensor | undefined, name = ''): void {
  expect(a && b).toBeTruthy();
  expect([name, a!.dtype, a!.shape]).toEqual([name, b!.dtype, b!.shape]);
  expect(a!.data.constructor).toBe(b!.data.constructor);
  const bytes = (t: HostTensor) => Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength);
  if (!bytes(a!).equals(bytes(b!))) throw new Error(`${name}: data differs`);
}

const entry = (dtype: string, shape: number[], start: number, end: number) => ({ dtype, shape, data_offsets: [start, end] });

describe('safetensors header validation', () => {
  test('file shorter than 8 bytes', () => {
    expectHeaderError(Buffer.from([1, 2, 3]), /only 3 bytes/);
  });
  test('header length over 100 MB', () => {
    expectHeaderError(image('{}', 0, 100_000_001n), /exceeds the 100000000-byte limit/);
  });
  test('header length past the end of the file', () => {
    expectHeaderError(image('{}', 0, 50n), /length 50 runs past the end/);
  });
  test('header not JSON, not an object, not UTF-8', () => {
    expectHeaderError(image('{"a": '), /not valid JSON/);
    expectHeaderError(image('[1, 2]'), /not a JSON object/);
    expectHeaderError(image('null'), /not a JSON object/);
    const bad = Buffer.from([0x7b, 0xff, 0x7d]); // "{\xff}"
    const n = Buffer.alloc(8);
    n.writeBigUInt64LE(3n);
    expectHeaderError(Buffer.concat([n, bad]), /not valid UTF-8/);
  });
  test('unknown and unsupported dtypes', () => {
    expectHeaderError(image({ w: entry('Q7', [1], 0, 1) }, 1), /tensor 'w' has unknown dtype 'Q7'/);
    expectHeaderError(image({ w: entry('U32', [1], 0, 4) }, 4), /dtype U32, which is not supported/);
  });
  test('shape × itemsize must equal the byte span', () => {
    expectHeaderError(image({ w: entry('F32', [2, 3], 0, 20) }, 20), /shape \[2,3\] × 4 bytes \(F32\) = 24 bytes but data_offsets span 20/);
    expectHeaderError(image({ w: entry('F32', [-1], 0, 4) }, 4), /invalid shape/);
    expectHeaderError(image({ w: { dtype: 'F32', shape: [1], data_offsets: [4] } }, 4), /invalid data_offsets/);
    expectHeaderError(image({ w: entry('F32', [0], 8, 4) }, 8), /end before start/);
  });
  test('offsets outside the data section', () => {
    expectHeaderError(image({ w: entry('F32', [2], 0, 8) }, 4), /'w' data_offsets \[0, 8\] lie outside the data section \(4 bytes\)/);
  });
  test('overlapping tensors', () => {
    const h = { a: entry('F32', [2], 0, 8), b: entry('F32', [2], 4, 12) };
    expectHeaderError(image(h, 12), /tensors 'a' \[0, 8\] and 'b' \[4, 12\] overlap/);
  });
  test('gaps and trailing bytes are uncovered', () => {
    const h = { a: entry('F32', [1], 0, 4), b: entry('F32', [1], 8, 12) };
    expectHeaderError(image(h, 12), /bytes \[4, 8\) of the data section not covered/);
    expectHeaderError(image({ a: entry('F32', [1], 0, 4) }, 6), /bytes \[4, 6\) of the data section not covered/);
  });
  test('__metadata__ must map strings to strings', () => {
    expectHeaderError(image({ __metadata__: { a: 1 } }), /__metadata__ value for 'a' is not a string/);
  });
  test('a valid hand-built file with zero-size and metadata entries reads', () => {
    const data = new Float32Array([1, 2, 3]);
    const h = { __metadata__: { format: 'pt' }, e: entry('F32', [0, 4], 0, 0), w: entry('F32', [3], 0, 12) };
    const f = file(image(h, new Uint8Array(data.buffer)));
    const m = readSafetensors(f);
    expect([...m.keys()]).toEqual(['e', 'w']);
    expect(m.get('e')!.data.length).toBe(0);
    expect(Array.from(m.get('w')!.data)).toEqual([1, 2, 3]);
    expect(readSafetensorsHeader(f).metadata).toEqual({ format: 'pt' });
  });
});

describe('dtype conversion', () => {
  const u16 = (vals: number[]) => new Uint8Array(new Uint16Array(vals).buffer);
  test('F16 incl. subnormals, inf, nan, -0', () => {
    const bits = [0x0000, 0x8000, 0x0001, 0x03ff, 0x0400, 0x3c00, 0xc100, 0x7bff, 0x7c00, 0xfc00, 0x7e00, 0x3555];
    const want = [0, -0, 2 ** -24, 1023 * 2 ** -24, 2 ** -14, 1, -2.5, 65504, Infinity, -Infinity, NaN, 0.333251953125];
    const got = Array.from(decodeRaw(u16(bits), 'F16', 'x').data);
    expect(got).toEqual(want); // toEqual distinguishes -0 from 0 and matches NaN with NaN
  });
  test('BF16 is the top half of float32', () => {
    const bits = [0x3f80, 0xc060, 0x7f80, 0xff80, 0x7fc0, 0x0001, 0x8000];
    const got = Array.from(decodeRaw(u16(bits), 'BF16', 'x').data);
    expect(got).toEqual([1, -3.5, Infinity, -Infinity, NaN, 2 ** -133, -0]);
  });
  test('F64 rounds to float32', () => {
    const raw = new Uint8Array(new Float64Array([0.1, -1e300, 1e-50, 3.25]).buffer);
    const d = decodeRaw(raw, 'F64', 'x');
    expect(d.dtype).toBe('float32');
    expect(Array.from(d.data)).toEqual([Math.fround(0.1), -Infinity, 0, 3.25]);
  });
  test('integers become int32; I64 outside int32 is an error', () => {
    const i64 = (vals: bigint[]) => new Uint8Array(new BigInt64Array(vals).buffer);
    const d = decodeRaw(i64([0n, -1n, 2147483647n, -2147483648n]), 'I64', 'f: tensor');
    expect(d.dtype).toBe('int32');
    expect(Array.from(d.data)).toEqual([0, -1, 2147483647, -2147483648]);
    expect(() => decodeRaw(i64([1n, 2147483648n]), 'I64', 'f: tensor')).toThrow("f: tensor: I64 value 2147483648 at index 1 does not fit in int32");
    expect(() => decodeRaw(i64([-2147483649n]), 'I64', 'f: tensor')).toThrow(/-2147483649 at index 0/);
    expect(Array.from(decodeRaw(new Uint8Array(new Int16Array([-32768, 5]).buffer), 'I16', 'x').data)).toEqual([-32768, 5]);
    expect(Array.from(decodeRaw(new Uint8Array([0x80, 0x7f]), 'I8', 'x').data)).toEqual([-128, 127]);
    expect(Array.from(decodeRaw(new Uint8Array([255, 0]), 'U8', 'x').data)).toEqual([255, 0]);
  });
  test('BOOL stays 0/1 bytes', () => {
    const d = decodeRaw(new Uint8Array([0, 1, 2]), 'BOOL', 'x');
    expect(d.dtype).toBe('bool');
    expect(Array.from(d.data)).toEqual([0, 1, 1]);
  });
  test('all dtypes through a file', () => {
    const parts: [string, string, number[], Uint8Array][] = [
      ['a', 'F16', [2], u16([0x3c00, 0x0001])],
      ['b', 'I64', [1], new Uint8Array(new BigInt64Array([-7n]).buffer)],
      ['c', 'BOOL', [3], new Uint8Array([1, 0, 1])],
      ['d', 'U8', [1], new Uint8Array([200])],
      ['e', 'F32', [1], new Uint8Array(new Float32Array([0.25]).buffer)], // lands at an odd offset
    ];
    const header: Record<string, unknown> = {};
    let off = 0;
    for (const [n, dt, shape, bytes] of parts) {
      header[n] = entry(dt, shape, off, off + bytes.length);
      off += bytes.length;
    }
    const img = image(header, Buffer.concat(parts.map((p) => p[3])));
    for (const m of [readSafetensors(file(img)), readSafetensorsBytes(img)]) {
      expect(Array.from(m.get('a')!.data)).toEqual([1, 2 ** -24]);
      expect(m.get('b')).toEqual({ dtype: 'int32', shape: [1], data: new Int32Array([-7]) });
      expect(m.get('c')).toEqual({ dtype: 'bool', shape: [3], data: new Uint8Array([1, 0, 1]) });
      expect(m.get('d')!.data).toEqual(new Int32Array([200]));
      expect(m.get('e')!.data).toEqual(new Float32Array([0.25]));
    }
  });
});

describe('buffers', () => {
  test('file reads give each tensor its own buffer (no whole-file buffer kept alive)', () => {
    const f = path.join(parityDir(), 'rahf/rahf_yl_multi/model.safetensors');
    const m = readSafetensors(f);
    expect(m.size).toBeGreaterThan(200);
    for (const t of m.values()) expect(t.data.buffer.byteLength).toBe(t.data.byteLength);
    // Same values as the in-memory reader, whose aligned F32 tensors are views of the input.
    const bytes = fs.readFileSync(f);
    const v = readSafetensorsBytes(bytes, f);
    for (const [k, t] of m) expectSameTensor(v.get(k), t, k);
    const views = [...v.values()].filter((t) => t.data.buffer === bytes.buffer).length;
    expect(views).toBeGreaterThan(0);
  });
  test('misaligned offsets are copied, aligned ones are views', () => {
    const img = image({ w: entry('F32', [2], 0, 8) }, new Uint8Array(new Float32Array([1.5, -2]).buffer));
    for (const shift of [0, 1, 2, 3]) {
      const host = new Uint8Array(img.length + 8);
      host.set(img, shift);
      const t = readSafetensorsBytes(host.subarray(shift, shift + img.length)).get('w')!;
      expect(Array.from(t.data)).toEqual([1.5, -2]);
      const dataOffset = shift + 8 + (img.readUInt32LE(0));
      expect(t.data.buffer === host.buffer).toBe(dataOffset % 4 === 0);
    }
  });
});

describe('writeSafetensors', () => {
  const tensors = (): Record<string, HostTensor> => ({
    'b.weight': { dtype: 'float32', shape: [2, 3], data: new Float32Array([1, 2, 3, 4, 5, -6.5]) },
    'a.ids': { dtype: 'int32', shape: [3], data: new Int32Array([-1, 0, 2147483647]) },
    mask: { dtype: 'bool', shape: [2], data: new Uint8Array([1, 0]) },
    scalar: { dtype: 'float32', shape: [], data: new Float32Array([7]) },
  });

  test('round trip with metadata; header padded with spaces to 8 bytes; aligned layout', () => {
    const f = path.join(tmp, 'rt.safetensors');
    writeSafetensors(f, tensors(), { format: 'pt', note: 'x' });
    const bytes = fs.readFileSync(f);
    const n = Number(bytes.readBigUInt64LE(0));
    expect(n % 8).toBe(0);
    const text = bytes.toString('utf8', 8, 8 + n);
    expect(text).toMatch(/^\{"__metadata__":\{"format":"pt","note":"x"\}/);
    expect(text.trimEnd().endsWith('}')).toBe(true);
    expect(/^ *$/.test(text.slice(text.trimEnd().length))).toBe(true);
    const header = readSafetensorsHeader(f);
    expect(header.metadata).toEqual({ format: 'pt', note: 'x' });
    // 4-byte dtypes first, then bool: every tensor starts at a multiple of its item size.
    expect(header.entries.map((e) => e.name)).toEqual(['a.ids', 'b.weight', 'scalar', 'mask']);
    expect(readSafetensors(f)).toEqual(new Map(Object.entries(tensors())));
    expect(fs.readdirSync(tmp).filter((x) => x.includes('.tmp-'))).toEqual([]);
  });

  test('accepts a TensorMap and reproduces the fixture bit for bit', () => {
    const src = path.join(parityDir(), 'rahf/rahf_yl_multi/model.safetensors');
    const m: TensorMap = readSafetensors(src);
    const f = path.join(tmp, 'copy.safetensors');
    writeSafetensors(f, m);
    const back = readSafetensors(f);
    expect([...back.keys()].sort()).toEqual([...m.keys()].sort());
    for (const [k, t] of m) expectSameTensor(back.get(k), t, k);
  });

  test('invalid input leaves an existing file untouched and no temp file', () => {
    const f = path.join(tmp, 'keep.safetensors');
    writeSafetensors(f, { x: { dtype: 'float32', shape: [1], data: new Float32Array([3]) } });
    const before = fs.readFileSync(f);
    expect(() => writeSafetensors(f, { x: { dtype: 'float32', shape: [2], data: new Float32Array([1]) } })).toThrow(
      `${f}: tensor 'x' has 1 elements but shape [2] needs 2`,
    );
    expect(() => writeSafetensors(f, { x: { dtype: 'int32', shape: [1], data: new Float32Array([1]) as any } })).toThrow(/is int32 but its data is a Float32Array/);
    expect(fs.readFileSync(f)).toEqual(before);
    expect(fs.readdirSync(tmp).filter((x) => x.includes('.tmp-'))).toEqual([]);
  });
});

describe('readShardedSafetensors', () => {
  const dir = () => fs.mkdtempSync(path.join(tmp, 'shards-'));
  const t = (v: number[]): HostTensor => ({ dtype: 'float32', shape: [v.length], data: new Float32Array(v) });

  function sharded(weightMap: Record<string, string>): string {
    const d = dir();
    writeSafetensors(path.join(d, 'model-00001-of-00002.safetensors'), { a: t([1]), b: t([2, 3]) });
    writeSafetensors(path.join(d, 'model-00002-of-00002.safetensors'), { c: t([4]) });
    const index = path.join(d, 'model.safetensors.index.json');
    fs.writeFileSync(index, JSON.stringify({ metadata: { total_size: 16 }, weight_map: weightMap }));
    return index;
  }

  test('reads every shard once and merges', () => {
    const index = sharded({ a: 'model-00001-of-00002.safetensors', b: 'model-00001-of-00002.safetensors', c: 'model-00002-of-00002.safetensors' });
    const m = readShardedSafetensors(index);
    expect([...m.keys()].sort()).toEqual(['a', 'b', 'c']);
    expect(Array.from(m.get('b')!.data)).toEqual([2, 3]);
    expect(Array.from(m.get('c')!.data)).toEqual([4]);
  });
  test('missing shard, tensor not in its shard, escaping path, no weight_map', () => {
    const missing = sharded({ a: 'model-00001-of-00002.safetensors', z: 'model-00003-of-00003.safetensors' });
    expect(() => readShardedSafetensors(missing)).toThrow(`${missing}: shard 'model-00003-of-00003.safetensors' (holding 'z') not found`);
    const wrong = sharded({ c: 'model-00001-of-00002.safetensors' });
    expect(() => readShardedSafetensors(wrong)).toThrow(`${wrong}: tensor 'c' is mapped to shard 'model-00001-of-00002.safetensors' but is not in it`);
    const escape = sharded({ a: '../../etc/passwd' });
    expect(() => readShardedSafetensors(escape)).toThrow(/points outside the checkpoint directory/);
    const d = dir();
    fs.writeFileSync(path.join(d, 'i.json'), '{"metadata": {}}');
    expect(() => readShardedSafetensors(path.join(d, 'i.json'))).toThrow(/no weight_map object/);
  });
  test('a tensor in two shards is an error', () => {
    const d = dir();
    writeSafetensors(path.join(d, 's1.safetensors'), { a: t([1]) });
    writeSafetensors(path.join(d, 's2.safetensors'), { a: t([2]), b: t([3]) });
    const index = path.join(d, 'model.safetensors.index.json');
    fs.writeFileSync(index, JSON.stringify({ weight_map: { a: 's1.safetensors', b: 's2.safetensors' } }));
    expect(() => readShardedSafetensors(index)).toThrow(/tensor 'a' appears in more than one shard/);
  });
});
