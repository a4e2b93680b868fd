import { zipSync, Zippable } from 'fflate';
import { maskedCrc32c } from '../data/tfrecord';

/*
 * Encoders of valid files for the fuzz generators, independent of the readers under test where the format
 * allows (a reader checked against its own writer would agree with itself on a shared mistake).
 */

/** Relative path → bytes: one generated input (a file, or a folder of files). */
export type Files = Record<string, Uint8Array>;

export const utf8 = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'utf8'));

export type StDtype = 'F64' | 'F32' | 'F16' | 'BF16' | 'I64' | 'I32' | 'I16' | 'I8' | 'U8' | 'BOOL';
export const ST_ITEMSIZE: Record<StDtype, number> = { F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, I16: 2, I8: 1, U8: 1, BOOL: 1 };

export interface RawTensor {
  name: string;
  dtype: StDtype;
  shape: number[];
  /** Little-endian element bytes, numel × itemsize. */
  bytes: Uint8Array;
}

/** A safetensors file: header JSON padded to 8 bytes, tensors in the given order. */
export function safetensorsBytes(tensors: RawTensor[], metadata?: Record<string, string>): Uint8Array {
  const header: Record<string, unknown> = {};
  if (metadata) header.__metadata__ = metadata;
  let off = 0;
  for (const t of tensors) {
    header[t.name] = { dtype: t.dtype, shape: t.shape, data_offsets: [off, off + t.bytes.length] };
    off += t.bytes.length;
  }
  let json = Buffer.from(JSON.stringify(header), 'utf8');
  json = Buffer.concat([json, Buffer.alloc((8 - (json.length % 8)) % 8, 0x20)]);
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(json.length));
  return new Uint8Array(Buffer.concat([len, json, ...tensors.map((t) => Buffer.from(t.bytes))]));
}

/** Element bytes of a dtype from small integers `v` (valid for every dtype: BOOL takes v & 1, I64 sign-extends). */
export function elementBytes(dtype: StDtype, values: number[]): Uint8Array {
  const size = ST_ITEMSIZE[dtype];
  const b = Buffer.alloc(values.length * size);
  values.forEach((v, i) => {
    const o = i * size;
    switch (dtype) {
      case 'F64': b.writeDoubleLE(v / 4, o); break;
      case 'F32': b.writeFloatLE(v / 4, o); break;
      case 'F16': b.writeUInt16LE(0x3c00 + (v & 0x3ff), o); break; // 1 + v/1024: exact halves
      case 'BF16': b.writeUInt16LE(0x3f80 + (v & 0x7f), o); break;
      case 'I64': b.writeBigInt64LE(BigInt(v), o); break;
      case 'I32': b.writeInt32LE(v, o); break;
      case 'I16': b.writeInt16LE(v, o); break;
      case 'I8': b.writeInt8(v, o); break;
      case 'U8': b.writeUInt8(v & 0xff, o); break;
      case 'BOOL': b.writeUInt8(v & 1, o); break;
    }
  });
  return new Uint8Array(b);
}

/** TFRecord framing of each record (TensorFlow's layout, masked CRC32C). */
export function tfrecordBytes(records: Uint8Array[]): Uint8Array {
  const parts: Buffer[] = [];
  for (const r of records) {
    const h = Buffer.alloc(12);
    h.writeBigUInt64LE(BigInt(r.length));
    h.writeUInt32LE(maskedCrc32c(h.subarray(0, 8)), 8);
    const f = Buffer.alloc(4);
    f.writeUInt32LE(maskedCrc32c(r));
    parts.push(h, Buffer.from(r), f);
  }
  return new Uint8Array(Buffer.concat(parts));
}

// ---- pickles (protocol 2, the opcodes torch.save emits) ----------------------------------------------

/** A pickle built opcode by opcode. */
export class PickleWriter {
  private readonly parts: Buffer[] = [Buffer.from([0x80, 2])];
  private memo = 0;

  op(...bytes: Array<number | string | Uint8Array>): this {
    for (const b of bytes) this.parts.push(typeof b === 'number' ? Buffer.from([b]) : typeof b === 'string' ? Buffer.from(b, 'latin1') : Buffer.from(b));
    return this;
  }
  str(s: string): this {
    const u = Buffer.from(s, 'utf8');
    const n = Buffer.alloc(4);
    n.writeUInt32LE(u.length);
    return this.op('X', n, u).put();
  }
  int(v: number): this {
    if (v >= 0 && v < 256) return this.op('K', v);
    const b = Buffer.alloc(4);
    b.writeInt32LE(v);
    return this.op('J', b);
  }
  global(mod: string, name: string): this {
    return this.op('c', `${mod}\n${name}\n`).put();
  }
  put(): this {
    return this.memo < 256 ? this.op('q', this.memo++) : this;
  }
  tuple(items: number[]): this {
    this.op('(');
    for (const v of items) this.int(v);
    return this.op('t');
  }
  bytes(): Uint8Array {
    return new Uint8Array(Buffer.concat([...this.parts, Buffer.from('.')]));
  }
}

export interface TorchTensorSpec {
  name: string;
  storage: string;
  storageClass: string;
  storageNumel: number;
  offset: number;
  size: number[];
  stride: number[];
}

/**
 * A torch.save zip: `{name: _rebuild_tensor_v2(storage, offset, size, stride, False, OrderedDict())}` as an
 * OrderedDict, optionally wrapped as `{'state_dict': …, 'epoch': 3}`; storages as given.
 */
export function torchZipBytes(
  tensors: TorchTensorSpec[],
  storages: Record<string, Uint8Array>,
  opts: { wrap?: boolean; deflatePickle?: boolean; archive?: string } = {},
): Uint8Array {
  const w = new PickleWriter();
  if (opts.wrap) w.op('}').put().str('state_dict');
  w.global('collections', 'OrderedDict').op(')', 'R').put().op('(');
  for (const t of tensors) {
    w.str(t.name).global('torch._utils', '_rebuild_tensor_v2').op('(');
    w.op('(').str('storage').global('torch', t.storageClass).str(t.storage).str('cpu').int(t.storageNumel).op('t', 'Q');
    w.int(t.offset).tuple(t.size).tuple(t.stride).op(0x89).global('collections', 'OrderedDict').op(')', 'R', 't', 'R').put();
  }
  w.op('u');
  if (opts.wrap) w.op('s').str('epoch').int(3).op('s');
  const a = opts.archive ?? 'archive';
  const files: Zippable = {
    [`${a}/data.pkl`]: [w.bytes(), { level: opts.deflatePickle ? 6 : 0 }],
    [`${a}/byteorder`]: [utf8('little'), { level: 0 }],
    [`${a}/version`]: [utf8('3\n'), { level: 0 }],
  };
  for (const [k, v] of Object.entries(storages)) files[`${a}/data/${k}`] = [v, { level: 0 }];
  return zipSync(files);
}
