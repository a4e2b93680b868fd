import * as fs from 'fs';
import { HostTensor, TensorMap, numel } from './tensors';
import { readSharded } from './shards';
import { openRegular } from './files';
import { FileFormatError, UserError } from '../errors';

/**
 * safetensors reading and writing (format: https://github.com/huggingface/safetensors): an 8-byte
 * little-endian header length, a JSON header `{name: {dtype, shape, data_offsets}, __metadata__?}`,
 * then the data section. Validation follows the Rust crate's `Metadata::validate`: every tensor's byte
 * span must match shape × itemsize, and the tensors, sorted by offset, must tile the data section
 * exactly (no overlap, no gap, no trailing bytes).
 *
 * Tensors are read one by one straight into their own buffers (never the whole file at once), so a
 * 1.2 GB F32 checkpoint costs 1.2 GB of memory, and each tensor can be freed on its own.
 */

/** dtypes this reader converts; the host dtype they become is in `HOST_DTYPE`. */
export type RawDtype = 'F64' | 'F32' | 'F16' | 'BF16' | 'I64' | 'I32' | 'I16' | 'I8' | 'U8' | 'BOOL';

export const ITEMSIZE: Record<RawDtype, number> = {
  F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, I16: 2, I8: 1, U8: 1, BOOL: 1,
};

const HOST_DTYPE: Record<RawDtype, HostTensor['dtype']> = {
  F64: 'float32', F32: 'float32', F16: 'float32', BF16: 'float32',
  I64: 'int32', I32: 'int32', I16: 'int32', I8: 'int32', U8: 'int32', BOOL: 'bool',
};

// In the safetensors spec but not representable here (no unsigned 32/64, fp8/fp4, complex in tfjs).
const UNSUPPORTED = new Set(['U16', 'U32', 'U64', 'F8_E4M3', 'F8_E5M2', 'F8_E8M0', 'F6_E2M3', 'F6_E3M2', 'F4', 'C64']);

/** Same limit as the Rust crate (MAX_HEADER_SIZE). */
export const MAX_HEADER_BYTES = 100_000_000;

export interface SafetensorsEntry {
  name: string;
  dtype: RawDtype;
  shape: number[];
  /** Byte offsets relative to the start of the data section. */
  start: number;
  end: number;
}

export interface SafetensorsHeader {
  entries: SafetensorsEntry[]; // in header order
  metadata: Record<string, string>;
  /** Absolute file offset of the data section (8 + header length). */
  dataStart: number;
}

/** Parses and validates a header. `total` is the size of the whole file/buffer; `label` prefixes errors. */
export function parseSafetensorsHeader(headerBytes: Uint8Array, total: number, label: string): SafetensorsHeader {
  const bad = (msg: string) => new FileFormatError(label, `safetensors header ${msg}`);
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(headerBytes);
  } catch {
    throw bad('is not valid UTF-8');
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw bad(`is not valid JSON (${(e as Error).message})`);
  }
  if (json === null || typeof json !== 'object' || Array.isArray(json)) throw bad('is not a JSON object');

  const dataStart = 8 + headerBytes.length;
  const dataLen = total - dataStart;
  const metadata: Record<string, string> = {};
  const entries: SafetensorsEntry[] = [];
  for (const [name, info] of Object.entries(json as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (info === null || typeof info !== 'object' || Array.isArray(info)) throw bad('__metadata__ is not an object');
      for (const [k, v] of Object.entries(info as Record<string, unknown>)) {
        if (typeof v !== 'string') throw bad(`__metadata__ value for '${k}' is not a string`);
        metadata[k] = v;
      }
      continue;
    }
    if (info === null || typeof info !== 'object' || Array.isArray(info)) throw bad(`entry for tensor '${name}' is not an object`);
    const { dtype, shape, data_offsets: offsets } = info as Record<string, unknown>;
    if (typeof dtype !== 'string') throw bad(`tensor '${name}' has no dtype`);
    if (!(dtype in ITEMSIZE)) {
      if (UNSUPPORTED.has(dtype)) throw bad(`tensor '${name}' has dtype ${dtype}, which is not supported (F64/F32/F16/BF16/I64/I32/I16/I8/U8/BOOL are)`);
      throw bad(`tensor '${name}' has unknown dtype '${dtype}'`);
    }
    if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      throw bad(`tensor '${name}' has an invalid shape ${JSON.stringify(shape)}`);
    }
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((o) => Number.isSafeInteger(o) && o >= 0)) {
      throw bad(`tensor '${name}' has invalid data_offsets ${JSON.stringify(offsets)}`);
    }
    const [start, end] = offsets as [number, number];
    if (end < start) throw bad(`tensor '${name}' has data_offsets [${start}, ${end}] with end before start`);
    const d = dtype as RawDtype;
    const expected = numel(shape) * ITEMSIZE[d];
    if (!Number.isSafeInteger(expected) || expected !== end - start) {
      throw bad(`tensor '${name}' shape [${shape}] × ${ITEMSIZE[d]} bytes (${d}) = ${expected} bytes but data_offsets span ${end - start}`);
    }
    if (end > dataLen) {
      throw bad(`tensor '${name}' data_offsets [${start}, ${end}] lie outside the data section (${dataLen} bytes)`);
    }
    entries.push({ name, dtype: d, shape: shape as number[], start, end });
  }

  // Coverage: sorted by offset, each tensor must start where the previous ended (as the Rust crate and HF require).
  const sorted = [...entries].sort((a, b) => a.start - b.start || a.end - b.end);
  let pos = 0;
  let prev: SafetensorsEntry | undefined;
  for (const e of sorted) {
    if (e.start < pos && prev) {
      throw bad(`tensors '${prev.name}' [${prev.start}, ${prev.end}] and '${e.name}' [${e.start}, ${e.end}] overlap`);
    }
    if (e.start > pos) throw bad(`leaves bytes [${pos}, ${e.start}) of the data section not covered by any tensor`);
    pos = e.end;
    prev = e;
  }
  if (pos !== dataLen) throw bad(`leaves bytes [${pos}, ${dataLen}) of the data section not covered by any tensor`);
  return { entries, metadata, dataStart };
}

/** Reads and validates only the header of a file (cheap: two small reads). */
export function readSafetensorsHeader(file: string): SafetensorsHeader {
  const { fd } = openRegular(file, 'a safetensors file');
  try {
    return readHeaderFd(fd, file);
  } finally {
    fs.closeSync(fd);
  }
}

function readHeaderFd(fd: number, file: string): SafetensorsHeader {
  const size = fs.fstatSync(fd).size;
  const bad = (msg: string) => new FileFormatError(file, `safetensors header ${msg}`);
  if (size < 8) throw bad(`missing: the file has only ${size} bytes (at least 8 needed)`);
  const lenBuf = Buffer.alloc(8);
  readFully(fd, lenBuf, 0, file);
  const n = lenBuf.readBigUInt64LE(0);
  if (n > BigInt(MAX_HEADER_BYTES)) throw bad(`length ${n} exceeds the ${MAX_HEADER_BYTES}-byte limit`);
  const len = Number(n);
  if (8 + len > size) throw bad(`length ${len} runs past the end of the file (${size} bytes)`);
  const header = Buffer.alloc(len);
  readFully(fd, header, 8, file);
  return parseSafetensorsHeader(header, size, file);
}

/** Fills `target` from `position`, in chunks (a single readSync is limited to 2 GiB). */
export function readFully(fd: number, target: Uint8Array, position: number, file: string): void {
  const CHUNK = 1 << 30;
  let done = 0;
  while (done < target.length) {
    const n = fs.readSync(fd, target, done, Math.min(CHUNK, target.length - done), position + done);
    if (n <= 0) throw new UserError(`${file}: unexpected end of file at byte ${position + done}`);
    done += n;
  }
}

export interface ReadOptions {
  /** Load only the tensors for which this returns true (the header is still fully validated). */
  filter?: (name: string) => boolean;
}

/** Reads every tensor of a .safetensors file, converted to host dtypes (see `decodeRaw`). */
export function readSafetensors(file: string, opts: ReadOptions = {}): TensorMap {
  const { fd } = openRegular(file, 'a safetensors file');
  try {
    const header = readHeaderFd(fd, file);
    const out: TensorMap = new Map();
    for (const e of header.entries) {
      if (opts.filter && !opts.filter(e.name)) continue;
      // A fresh ArrayBuffer per tensor is aligned, so F32/I32 need no further copy.
      const raw = new Uint8Array(new ArrayBuffer(e.end - e.start));
      readFully(fd, raw, header.dataStart + e.start, file);
      out.set(e.name, { ...decodeRaw(raw, e.dtype, `${file}: tensor '${e.name}'`), shape: e.shape });
    }
    return out;
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Reads tensors from an in-memory safetensors image. F32/I32 tensors whose offset is aligned are views
 * into `bytes` (no copy); misaligned ones are copied.
 */
export function readSafetensorsBytes(input: Uint8Array, label = '<buffer>', opts: ReadOptions = {}): TensorMap {
  // A plain Uint8Array view, so results are never Node Buffers (Buffer#slice and friends share memory).
  const bytes = new Uint8Array(input.buffer, input.byteOffset, input.byteLength);
  const bad = (msg: string) => new FileFormatError(label, `safetensors header ${msg}`);
  if (bytes.length < 8) throw bad(`missing: the data has only ${bytes.length} bytes (at least 8 needed)`);
  const n = new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true);
  if (n > BigInt(MAX_HEADER_BYTES)) throw bad(`length ${n} exceeds the ${MAX_HEADER_BYTES}-byte limit`);
  const len = Number(n);
  if (8 + len > bytes.length) throw bad(`length ${len} runs past the end of the data (${bytes.length} bytes)`);
  const header = parseSafetensorsHeader(bytes.subarray(8, 8 + len), bytes.length, label);
  const out: TensorMap = new Map();
  for (const e of header.entries) {
    if (opts.filter && !opts.filter(e.name)) continue;
    const raw = bytes.subarray(header.dataStart + e.start, header.dataStart + e.end);
    out.set(e.name, { ...decodeRaw(raw, e.dtype, `${label}: tensor '${e.name}'`), shape: e.shape });
  }
  return out;
}

let halfTable: Float32Array | undefined;

/** float16 bit pattern → float32, for all 65536 patterns (exact: every half is a float32). */
function halfToFloatTable(): Float32Array {
  if (halfTable) return halfTable;
  const t = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) {
    const sign = h & 0x8000 ? -1 : 1;
    const exp = (h >> 10) & 0x1f;
    const frac = h & 0x3ff;
    if (exp === 0) t[h] = sign * frac * 2 ** -24; // zero and subnormals
    else if (exp === 31) t[h] = frac ? NaN : sign * Infinity;
    else t[h] = sign * (1 + frac / 1024) * 2 ** (exp - 15);
  }
  halfTable = t;
  return t;
}

/** A typed view of `raw` when its offset is aligned for `T`, else of an aligned copy. */
function view<T>(raw: Uint8Array, size: number, make: (b: ArrayBufferLike, off: number, n: number) => T): T {
  const src = raw.byteOffset % size === 0 ? raw : new Uint8Array(raw); // (Buffer#slice would not copy)
  return make(src.buffer, src.byteOffset, src.length / size);
}

/**
 * Little-endian raw element bytes → host data: float types → float32 (F64 rounds to nearest),
 * integer types → int32 (I64 outside the int32 range is an error), BOOL → 0/1 bytes.
 * F32/I32 (and BOOL already 0/1) return views of `raw` when aligned.
 */
export function decodeRaw(raw: Uint8Array, dtype: RawDtype, what: string): Pick<HostTensor, 'dtype' | 'data'> {
  const size = ITEMSIZE[dtype];
  if (raw.length % size !== 0) throw new UserError(`${what}: ${raw.length} bytes is not a whole number of ${dtype} elements`);
  const n = raw.length / size;
  const host = HOST_DTYPE[dtype];
  switch (dtype) {
    case 'F32':
      return { dtype: host, data: view(raw, 4, (b, o, k) => new Float32Array(b, o, k)) };
    case 'I32':
      return { dtype: host, data: view(raw, 4, (b, o, k) => new Int32Array(b, o, k)) };
    case 'F64':
      return { dtype: host, data: new Float32Array(view(raw, 8, (b, o, k) => new Float64Array(b, o, k))) };
    case 'F16': {
      const u16 = view(raw, 2, (b, o, k) => new Uint16Array(b, o, k));
      const table = halfToFloatTable();
      const out = new Float32Array(n);
      for (let i = 0; i < n; i++) out[i] = table[u16[i]];
      return { dtype: host, data: out };
    }
    case 'BF16': {
      // bfloat16 is the top half of a float32: shifting the bits back is exact, NaN/inf included.
      const u16 = view(raw, 2, (b, o, k) => new Uint16Array(b, o, k));
      const out = new Float32Array(n);
      const bits = new Uint32Array(out.buffer);
      for (let i = 0; i < n; i++) bits[i] = u16[i] << 16;
      return { dtype: host, data: out };
    }
    case 'I64': {
      // Check the high word is the sign extension of the low word instead of going through BigInt.
      const words = view(raw, 4, (b, o, k) => new Int32Array(b, o, k));
      const out = new Int32Array(n);
      for (let i = 0; i < n; i++) {
        const lo = words[2 * i];
        const hi = words[2 * i + 1];
        if (hi !== lo >> 31) {
          const v = (BigInt(hi) << 32n) | BigInt(lo >>> 0);
          throw new UserError(`${what}: I64 value ${v} at index ${i} does not fit in int32`);
        }
        out[i] = lo;
      }
      return { dtype: host, data: out };
    }
    case 'I16':
      return { dtype: host, data: new Int32Array(view(raw, 2, (b, o, k) => new Int16Array(b, o, k))) };
    case 'I8':
      return { dtype: host, data: new Int32Array(new Int8Array(raw.buffer, raw.byteOffset, n)) };
    case 'U8':
      return { dtype: host, data: new Int32Array(raw) };
    case 'BOOL':
      return { dtype: host, data: raw.every((v) => v <= 1) ? raw : Uint8Array.from(raw, (v) => (v ? 1 : 0)) };
  }
}

const WRITE_DTYPE: Record<HostTensor['dtype'], { st: RawDtype; ctor: Function }> = {
  float32: { st: 'F32', ctor: Float32Array },
  int32: { st: 'I32', ctor: Int32Array },
  bool: { st: 'BOOL', ctor: Uint8Array },
};

/**
 * Writes tensors (float32 → F32, int32 → I32, bool → BOOL) as safetensors. Like the reference
 * implementation, tensors are laid out by decreasing alignment then name, and the header is padded
 * with spaces to a multiple of 8 so the data section is 8-byte aligned. The file is written to
 * `<file>.tmp-<pid>` and renamed, so readers never see a torn file.
 */
export function writeSafetensors(
  file: string,
  tensors: TensorMap | Record<string, HostTensor>,
  metadata?: Record<string, string>,
): void {
  const list = tensors instanceof Map ? [...tensors.entries()] : Object.entries(tensors);
  const items = list.map(([name, t]) => {
    const w = WRITE_DTYPE[t.dtype];
    if (!w) throw new UserError(`${file}: cannot write tensor '${name}' of dtype ${String(t.dtype)} (float32, int32 and bool only)`);
    if (name === '__metadata__' || name === '') throw new UserError(`${file}: invalid tensor name '${name}'`);
    if (!(t.data instanceof (w.ctor as any))) throw new UserError(`${file}: tensor '${name}' is ${t.dtype} but its data is a ${t.data.constructor.name}`);
    if (!t.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) throw new UserError(`${file}: tensor '${name}' has an invalid shape [${t.shape}]`);
    if (t.data.length !== numel(t.shape)) {
      throw new UserError(`${file}: tensor '${name}' has ${t.data.length} elements but shape [${t.shape}] needs ${numel(t.shape)}`);
    }
    return { name, t, st: w.st };
  });
  items.sort((a, b) => ITEMSIZE[b.st] - ITEMSIZE[a.st] || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));

  const header: Record<string, unknown> = {};
  if (metadata && Object.keys(metadata).length) {
    for (const [k, v] of Object.entries(metadata)) {
      if (typeof v !== 'string') throw new UserError(`${file}: metadata value for '${k}' is not a string`);
    }
    header.__metadata__ = metadata;
  }
  let offset = 0;
  for (const { name, t, st } of items) {
    const bytes = t.data.byteLength;
    header[name] = { dtype: st, shape: t.shape, data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  let json = Buffer.from(JSON.stringify(header), 'utf8');
  const pad = (8 - (json.length % 8)) % 8;
  if (pad) json = Buffer.concat([json, Buffer.alloc(pad, 0x20)]);
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(json.length));

  const tmp = `${file}.tmp-${process.pid}`;
  const fd = fs.openSync(tmp, 'w');
  try {
    writeAll(fd, len);
    writeAll(fd, json);
    for (const { t, st } of items) {
      let bytes = new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
      if (st === 'BOOL' && !bytes.every((v) => v <= 1)) bytes = Uint8Array.from(bytes, (v) => (v ? 1 : 0));
      writeAll(fd, bytes);
    }
    fs.fsyncSync(fd);
    fs.closeSync(fd);
  } catch (e) {
    fs.closeSync(fd);
    fs.rmSync(tmp, { force: true });
    throw e;
  }
  try {
    fs.renameSync(tmp, file);
  } catch (e) {
    fs.rmSync(tmp, { force: true });
    throw e;
  }
}

function writeAll(fd: number, bytes: Uint8Array): void {
  let done = 0;
  while (done < bytes.length) done += fs.writeSync(fd, bytes, done, Math.min(1 << 30, bytes.length - done));
}

/**
 * Reads a sharded checkpoint from its `model.safetensors.index.json` (`{weight_map: {tensor: shard}}`),
 * as shards.ts readSharded checks it.
 */
export function readShardedSafetensors(indexFile: string): TensorMap {
  return readSharded(indexFile, readSafetensors);
}
