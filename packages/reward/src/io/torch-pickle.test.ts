import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as zlib from 'zlib';
import { zipSync, Zippable } from 'fflate';
import { parityDir } from '../parity/fixtures';
import { readSafetensors } from './safetensors';
import { HostTensor } from './tensors';
import { readTorchCheckpoint } from './torch-pickle';

// Small fixtures made once by test/fixtures/io/make_torch_fixtures.py (stdlib pickle with stand-in torch
// globals, same layout and opcodes as torch.save); malicious pickles below are written byte by byte.
const IO = path.resolve(__dirname, '../../test/fixtures/io');
const expected = JSON.parse(fs.readFileSync(path.join(IO, 'expected.json'), 'utf8')) as Record<
  string,
  Record<string, { shape: number[]; values: (number | string)[] }>
>;

let tmp: string;
beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'torch-test-'));
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

function sameTensor(a: HostTensor | undefined, b: HostTensor | undefined, name: string): void {
  expect(a && b).toBeTruthy();
  expect([name, a!.dtype, a!.shape]).toEqual([name, b!.dtype, b!.shape]);
  const bytes = (t: HostTensor) => Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength);
  if (!bytes(a!).equals(bytes(b!))) throw new Error(`${name}: data differs`);
}

const num = (v: number | string) => (v === 'nan' ? NaN : v === 'inf' ? Infinity : v === '-inf' ? -Infinity : (v as number));

function checkExpected(fixture: string): Map<string, HostTensor> {
  const m = readTorchCheckpoint(path.join(IO, fixture));
  const want = expected[fixture];
  expect([...m.keys()]).toEqual(Object.keys(want));
  for (const [k, w] of Object.entries(want)) {
    const t = m.get(k)!;
    expect([k, t.shape]).toEqual([k, w.shape]);
    const values = w.values.map(num);
    const exp = t.dtype === 'float32' ? Array.from(Float32Array.from(values)) : values;
    expect([k, Array.from(t.data)]).toEqual([k, exp]);
  }
  return m;
}

describe('readTorchCheckpoint on the RAHF fixture', () => {
  const dir = path.join(parityDir(), 'rahf/rahf_yl_multi');
  test('every tensor equals model.safetensors exactly; tied embeddings share memory', () => {
    const pt = readTorchCheckpoint(path.join(dir, 'model.pt'));
    const st = readSafetensors(path.join(dir, 'model.safetensors'));
    expect([...pt.keys()].sort()).toEqual([...st.keys()].sort());
    for (const [k, t] of st) sameTensor(pt.get(k), t, k);
    // 280 tensors over 277 storages: tied T5 embeddings are views of one storage.
    const shared = pt.get('t5.shared.weight')!.data;
    const tied = [...pt.entries()].filter(([, t]) => t.data.buffer === shared.buffer).map(([k]) => k);
    expect(tied).toContain('t5.encoder.embed_tokens.weight');
    expect(tied.length).toBeGreaterThan(1);
  });
});

describe('readTorchCheckpoint formats', () => {
  test('all storage dtypes, offsets, non-contiguous strides, Parameter, OrderedDict _metadata', () => {
    const m = checkExpected('dtypes.pt');
    expect(m.get('f16')!.dtype).toBe('float32');
    expect(Object.is(m.get('f16')!.data[1], -0)).toBe(true);
    expect(m.get('i64')!.dtype).toBe('int32');
    expect(m.get('bool')!.dtype).toBe('bool');
    expect(m.get('scalar')).toEqual({ dtype: 'float32', shape: [], data: new Float32Array([4.5]) });
    // Contiguous views of one storage share it; gathered (strided) ones are copies.
    expect(m.get('f32.offset_row')!.data.buffer).toBe(m.get('f32.matrix')!.data.buffer);
    expect(m.get('f32.transposed')!.data.buffer).not.toBe(m.get('f32.matrix')!.data.buffer);
  });
  test('pickle protocol 4 (FRAME, MEMOIZE, STACK_GLOBAL)', () => {
    checkExpected('proto4.pt');
  });
  test('deflated entries and another archive name', () => {
    checkExpected('deflated.pt');
  });
  test('big-endian storages', () => {
    checkExpected('bigendian.pt');
  });
  test("a training checkpoint: the 'model' entry is unwrapped, optimizer state ignored", () => {
    checkExpected('wrapped.pt');
  });
  test('no wrapper key: nested dicts and lists are flattened with dots', () => {
    checkExpected('nested.pt');
  });
  test('int64 outside int32 is an error', () => {
    const f = path.join(IO, 'i64_overflow.pt');
    expect(() => readTorchCheckpoint(f)).toThrow(`${f}: storage 0: I64 value 1099511627776 at index 1 does not fit in int32`);
  });
});

// ---- hand-written pickles ------------------------------------------------------------------------

/** Bytes from numbers (single bytes), strings (latin1) and arrays. */
function b(...parts: (number | string | Uint8Array)[]): Uint8Array {
  return Buffer.concat(parts.map((p) => (typeof p === 'number' ? Buffer.from([p]) : typeof p === 'string' ? Buffer.from(p, 'latin1') : Buffer.from(p))));
}
const u32 = (n: number) => {
  const x = Buffer.alloc(4);
  x.writeUInt32LE(n);
  return x;
};
const BINUNICODE = (s: string) => b('X', u32(Buffer.byteLength(s)), Buffer.from(s, 'utf8'));
const GLOBAL = (mod: string, name: string) => b('c', `${mod}\n${name}\n`);
const PROTO2 = b(0x80, 2);
const STOP = '.';

/** A tensor `{key: _rebuild_tensor_v2(<storage FloatStorage key numel>, offset, size, stride, False, OrderedDict())}` */
function tensorPickle(opts: { storageClass?: string; key?: string; numel?: number; offset?: number; size?: number[]; stride?: number[] } = {}) {
  const { storageClass = 'FloatStorage', key = '0', numel = 4, offset = 0, size = [4], stride = [1] } = opts;
  const tuple = (xs: number[]) => b('(', ...xs.map((x) => b('K', x)), 't');
  return b(
    PROTO2, '}', BINUNICODE('w'),
    GLOBAL('torch._utils', '_rebuild_tensor_v2'),
    '(', '(', BINUNICODE('storage'), GLOBAL('torch', storageClass), BINUNICODE(key), BINUNICODE('cpu'), 'K', numel, 't', 'Q',
    'K', offset, tuple(size), tuple(stride), 0x89, GLOBAL('collections', 'OrderedDict'), ')', 'R', 't', 'R',
    's', STOP,
  );
}

let n = 0;
function torchZip(pkl: Uint8Array, extra: Zippable = {}, level: 0 | 6 = 0): string {
  const f = path.join(tmp, `c${n++}.pt`);
  const files: Zippable = { 'archive/data.pkl': [pkl, { level }], 'archive/version': Buffer.from('3\n'), ...extra };
  fs.writeFileSync(f, zipSync(files));
  return f;
}
const storage0 = { 'archive/data/0': new Uint8Array(new Float32Array([1, 2, 3, 4]).buffer) };

function errorOf(f: string): string {
  try {
    readTorchCheckpoint(f);
  } catch (e) {
    return (e as Error).message;
  }
  throw new Error(`${f} was accepted`);
}

describe('readTorchCheckpoint refuses what is not tensors', () => {
  test('the hand-built tensor pickle itself is accepted', () => {
    const m = readTorchCheckpoint(torchZip(tensorPickle({ size: [2, 2], stride: [1, 2] }), storage0));
    expect(Array.from(m.get('w')!.data)).toEqual([1, 3, 2, 4]);
  });
  test('os.system via GLOBAL/REDUCE', () => {
    const pkl = b(PROTO2, '}', BINUNICODE('w'), GLOBAL('os', 'system'), BINUNICODE('echo pwned'), 0x85, 'R', 's', STOP);
    const f = torchZip(pkl);
    expect(errorOf(f)).toBe(`${f}: refusing to unpickle global 'os.system' (only tensors are allowed)`);
  });
  test('a real exploit pickle (posix.system from __reduce__)', () => {
    const f = path.join(IO, 'exploit.pt');
    expect(errorOf(f)).toBe(`${f}: refusing to unpickle global 'posix.system' (only tensors are allowed)`);
  });
  test('builtins.eval via protocol-4 STACK_GLOBAL', () => {
    const sbu = (s: string) => b(0x8c, s.length, s);
    const pkl = b(0x80, 4, 0x95, Buffer.alloc(8), sbu('builtins'), 0x94, sbu('eval'), 0x94, 0x93, sbu('1+1'), 0x85, 'R', STOP);
    const f = torchZip(pkl);
    expect(errorOf(f)).toBe(`${f}: refusing to unpickle global 'builtins.eval' (only tensors are allowed)`);
  });
  test('an unknown class instantiated by NEWOBJ, INST or a __reduce__ global', () => {
    const evil = torchZip(b(PROTO2, GLOBAL('__main__', 'Evil'), ')', 0x81, STOP));
    expect(errorOf(evil)).toBe(`${evil}: refusing to unpickle global '__main__.Evil' (only tensors are allowed)`);
    const inst = torchZip(b(PROTO2, '(', 'i', 'collections\nOrderedDict\n', STOP));
    expect(errorOf(inst)).toMatch(/refusing to instantiate objects \(opcode 0x69/);
    const copyreg = torchZip(b(PROTO2, GLOBAL('copyreg', '_reconstructor'), STOP));
    expect(errorOf(copyreg)).toMatch(/refusing to unpickle global 'copyreg._reconstructor'/);
    const torchLoad = torchZip(b(PROTO2, GLOBAL('torch', 'load'), STOP));
    expect(errorOf(torchLoad)).toMatch(/refusing to unpickle global 'torch.load'/);
  });
  test('unsupported storage types and missing storages', () => {
    const cplx = torchZip(tensorPickle({ storageClass: 'ComplexFloatStorage' }), storage0);
    expect(errorOf(cplx)).toBe(`${cplx}: unsupported tensor storage type 'torch.ComplexFloatStorage'`);
    const missing = torchZip(tensorPickle({ key: '7' }), storage0);
    expect(errorOf(missing)).toBe(`${missing}: zip entry 'archive/data/7' is missing`);
    const short = torchZip(tensorPickle({ numel: 8, size: [8] }), storage0);
    expect(errorOf(short)).toBe(`${short}: storage 0 has 16 bytes, expected 32`);
  });
  test('a view reaching past its storage', () => {
    const f = torchZip(tensorPickle({ offset: 2, size: [2, 2], stride: [2, 1] }), storage0);
    expect(errorOf(f)).toBe(`${f}: tensor 'w': size [2,2] stride [2,1] offset 2 reaches past its storage (4 elements)`);
  });
  test('malformed pickles fail cleanly', () => {
    const truncated = torchZip(tensorPickle().subarray(0, 40), storage0);
    expect(errorOf(truncated)).toMatch(/^.*c\d+\.pt: truncated pickle/);
    const underflow = torchZip(b(PROTO2, 'R', STOP));
    expect(errorOf(underflow)).toMatch(/stack underflow/);
    const badOp = torchZip(b(PROTO2, 0xff, STOP));
    expect(errorOf(badOp)).toMatch(/unsupported pickle opcode 0xff at byte 2/);
    const ext = torchZip(b(PROTO2, 0x82, 1, STOP));
    expect(errorOf(ext)).toMatch(/refusing extension-registry globals/);
    const noTensors = torchZip(b(PROTO2, '}', BINUNICODE('epoch'), 'K', 3, 's', STOP));
    expect(errorOf(noTensors)).toBe(`${noTensors}: no tensors found in the checkpoint`);
  });
  test('legacy, TorchScript and non-torch files', () => {
    const legacy = path.join(IO, 'legacy.pt');
    expect(errorOf(legacy)).toMatch(new RegExp(`^${legacy.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: legacy torch.save format \\(pre-1.6, not a zip archive\\) is not supported`));
    const ts = torchZip(tensorPickle(), { ...storage0, 'archive/constants.pkl': b(PROTO2, ')', STOP) });
    expect(errorOf(ts)).toMatch(/TorchScript archives are not supported/);
    const text = path.join(tmp, 'text.pt');
    fs.writeFileSync(text, 'hello world');
    expect(errorOf(text)).toBe(`${text}: not a torch zip checkpoint`);
    const noPkl = path.join(tmp, 'nopkl.pt');
    fs.writeFileSync(noPkl, zipSync({ 'a/b.txt': Buffer.from('x') }));
    expect(errorOf(noPkl)).toBe(`${noPkl}: expected one '<archive>/data.pkl' in the torch zip, found 0`);
  });
  test('a corrupt storage is detected by its CRC', () => {
    const f = torchZip(tensorPickle(), { 'archive/data/0': [storage0['archive/data/0'], { level: 0 }] });
    const bytes = fs.readFileSync(f);
    const at = bytes.indexOf(Buffer.from(new Float32Array([1, 2, 3, 4]).buffer));
    expect(at).toBeGreaterThan(0);
    bytes[at + 5] ^= 1;
    fs.writeFileSync(f, bytes);
    expect(errorOf(f)).toBe(`${f}: zip entry 'archive/data/0' is corrupt (CRC mismatch)`);
  });
  test('a compressed data.pkl reads too', () => {
    const m = readTorchCheckpoint(torchZip(tensorPickle(), storage0, 6));
    expect(Array.from(m.get('w')!.data)).toEqual([1, 2, 3, 4]);
  });
});

/** A stored zip written with every zip64 field in use (as archives over 4 GiB have), built by hand. */
function zip64(files: Record<string, Uint8Array>): Uint8Array {
  const u16 = (v: number) => Buffer.from([v & 0xff, v >> 8]);
  const u32b = (v: number) => u32(v >>> 0);
  const u64 = (v: number) => {
    const x = Buffer.alloc(8);
    x.writeBigUInt64LE(BigInt(v));
    return x;
  };
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  let offset = 0;
  for (const [name, data] of Object.entries(files)) {
    const nm = Buffer.from(name);
    const local = Buffer.concat([
      u32b(0x04034b50), u16(45), u16(0), u16(0), u16(0), u16(0), u32b(zlib.crc32(data)), u32b(0xffffffff), u32b(0xffffffff),
      u16(nm.length), u16(20), nm, u16(1), u16(16), u64(data.length), u64(data.length), Buffer.from(data),
    ]);
    centrals.push(Buffer.concat([
      u32b(0x02014b50), u16(45), u16(45), u16(0), u16(0), u16(0), u16(0), u32b(zlib.crc32(data)), u32b(0xffffffff), u32b(0xffffffff),
      u16(nm.length), u16(28), u16(0), u16(0), u16(0), u32b(0), u32b(0xffffffff), nm,
      u16(1), u16(24), u64(data.length), u64(data.length), u64(offset),
    ]));
    locals.push(local);
    offset += local.length;
  }
  const cd = Buffer.concat(centrals);
  const n = centrals.length;
  const eocd64 = Buffer.concat([u32b(0x06064b50), u64(44), u16(45), u16(45), u32b(0), u32b(0), u64(n), u64(n), u64(cd.length), u64(offset)]);
  const locator = Buffer.concat([u32b(0x07064b50), u32b(0), u64(offset + cd.length), u32b(1)]);
  const eocd = Buffer.concat([u32b(0x06054b50), u16(0xffff), u16(0xffff), u16(0xffff), u16(0xffff), u32b(0xffffffff), u32b(0xffffffff), u16(0)]);
  return Buffer.concat([...locals, cd, eocd64, locator, eocd]);
}

test('zip64 archives (central directory and entries beyond 4 GiB offsets)', () => {
  const f = path.join(tmp, 'zip64.pt');
  fs.writeFileSync(f, zip64({ 'archive/data.pkl': tensorPickle({ size: [2, 2], stride: [2, 1] }), ...storage0, 'archive/version': Buffer.from('3\n') }));
  expect(Array.from(readTorchCheckpoint(f).get('w')!.data)).toEqual([1, 2, 3, 4]);
});
