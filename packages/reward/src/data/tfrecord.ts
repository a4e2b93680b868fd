import * as fs from 'fs';
import * as path from 'path';
import { FileFormatError, UserError } from '../errors';
import { openRegularAsync } from '../io/files';
import { Limits, checkLimit, limitsWith } from '../io/limits';

/**
 * TFRecord files: a sequence of records, each framed as
 *   uint64 LE length | uint32 LE masked CRC32C(length bytes) | data | uint32 LE masked CRC32C(data)
 * (the format of TensorFlow's `tf.io.TFRecordWriter`, uncompressed).
 */

// CRC32C (Castagnoli, reflected polynomial 0x82F63B78), slice-by-8. Hand-written rather than a
// dependency: the well-kept pure-JS package (@aws-crypto/crc32c) walks bytes through an iterator at
// ~30 MB/s on this machine, and the fast ones (sse4_crc32, @node-rs/crc32) are native addons. This
// runs at ~270 MB/s in plain JS (64 MiB of random bytes, same machine).
const CRC_TABLES = (() => {
  const t = new Uint32Array(8 * 256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
    t[n] = c;
  }
  for (let s = 1; s < 8; s++) {
    for (let n = 0; n < 256; n++) {
      const prev = t[(s - 1) * 256 + n];
      t[s * 256 + n] = (prev >>> 8) ^ t[prev & 0xff];
    }
  }
  return t;
})();

/** CRC32C of `data`, continuing from `crc` (the checksum of the bytes before; 0 to start). Unsigned. */
export function crc32c(data: Uint8Array, crc = 0): number {
  const t = CRC_TABLES;
  let c = ~crc;
  let i = 0;
  const n = data.length;
  for (; i + 8 <= n; i += 8) {
    const a = (data[i] | (data[i + 1] << 8) | (data[i + 2] << 16) | (data[i + 3] << 24)) ^ c;
    const b = data[i + 4] | (data[i + 5] << 8) | (data[i + 6] << 16) | (data[i + 7] << 24);
    c =
      t[1792 + (a & 0xff)] ^
      t[1536 + ((a >>> 8) & 0xff)] ^
      t[1280 + ((a >>> 16) & 0xff)] ^
      t[1024 + (a >>> 24)] ^
      t[768 + (b & 0xff)] ^
      t[512 + ((b >>> 8) & 0xff)] ^
      t[256 + ((b >>> 16) & 0xff)] ^
      t[b >>> 24];
  }
  for (; i < n; i++) c = t[(c ^ data[i]) & 0xff] ^ (c >>> 8);
  return ~c >>> 0;
}

/** TFRecord's masked CRC: rotate right by 15 and add a constant, so CRCs of CRCs stay well spread. */
export function maskedCrc32c(data: Uint8Array): number {
  const crc = crc32c(data);
  return (((crc >>> 15) | (crc << 17)) + 0xa282ead8) >>> 0;
}

export interface TFRecord {
  /** 0-based position of the record in the file. */
  index: number;
  /** Byte offset of the record's header in the file. */
  offset: number;
  data: Uint8Array;
}

export interface ReadTFRecordOptions {
  /** Check the data CRC of every record (default true; the length CRC is always checked). */
  verifyData?: boolean;
  /** Overrides of the limits in force (maxRecordBytes: io/limits.ts). */
  limits?: Partial<Limits>;
}

const HEADER = 12;
const FOOTER = 4;

/**
 * Records of a TFRecord file, one at a time: each is read with its own positioned read, so memory
 * holds one record, never the file. Errors name the file and the record index.
 */
export async function* readTFRecords(file: string, opts: ReadTFRecordOptions = {}): AsyncGenerator<TFRecord> {
  const verifyData = opts.verifyData ?? true;
  const limits = limitsWith(opts.limits);
  const { fh, size } = await openRegularAsync(file, 'a TFRecord file');
  try {
    const header = Buffer.alloc(HEADER);
    let offset = 0;
    for (let index = 0; ; index++) {
      const where = `${file}: record ${index}`;
      const got = await readFully(fh, header, offset);
      if (got === 0) return;
      if (got < HEADER) throw new UserError(`${where}: truncated (expected ${HEADER} bytes, file ends after ${got})`);
      if (header.readUInt32LE(8) !== maskedCrc32c(header.subarray(0, 8))) {
        throw new UserError(`${where}: length CRC mismatch (offset ${offset})`);
      }
      const length = header.readBigUInt64LE(0);
      const total = BigInt(HEADER + FOOTER) + length;
      // The length passed its CRC, but a CRC is no proof of honesty: compare it with what is left of the
      // file and with the limit before allocating (a 16-byte file claiming 2^31 bytes used to abort Node).
      const left = size - offset - HEADER;
      if (length > BigInt(left - FOOTER)) {
        throw new FileFormatError(where, `truncated (expected ${total} bytes, file ends after ${HEADER + Math.max(0, left)})`);
      }
      checkLimit(where, 'record length', Number(length), 'maxRecordBytes', limits);
      const body = Buffer.allocUnsafe(Number(length) + FOOTER);
      const bodyGot = await readFully(fh, body, offset + HEADER);
      if (bodyGot < body.length) {
        throw new UserError(`${where}: truncated (expected ${total} bytes, file ends after ${HEADER + bodyGot})`);
      }
      const data = body.subarray(0, body.length - FOOTER);
      if (verifyData && body.readUInt32LE(data.length) !== maskedCrc32c(data)) {
        throw new UserError(`${where}: data CRC mismatch (offset ${offset})`);
      }
      yield { index, offset, data };
      offset += Number(total);
    }
  } finally {
    await fh.close();
  }
}

/** Reads until `buf` is full or the file ends; returns the bytes read. */
async function readFully(fh: fs.promises.FileHandle, buf: Uint8Array, position: number): Promise<number> {
  let got = 0;
  while (got < buf.length) {
    const { bytesRead } = await fh.read(buf, got, buf.length - got, position + got);
    if (bytesRead === 0) break;
    got += bytesRead;
  }
  return got;
}

/**
 * Writes records to `<file>.tmp-<pid>` and renames it to `file` on `close()`, so a reader never sees
 * a torn file. `abort()` drops the partial output.
 */
export class TFRecordWriter {
  readonly file: string;
  readonly tmpFile: string;
  private fd: number | undefined;
  private count = 0;

  constructor(file: string) {
    this.file = file;
    this.tmpFile = `${file}.tmp-${process.pid}`;
    fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
    this.fd = fs.openSync(this.tmpFile, 'w');
  }

  /** Records written so far. */
  get written(): number {
    return this.count;
  }

  write(data: Uint8Array): void {
    if (this.fd === undefined) throw new UserError(`${this.file}: write after close`);
    const header = Buffer.alloc(HEADER);
    header.writeBigUInt64LE(BigInt(data.length), 0);
    header.writeUInt32LE(maskedCrc32c(header.subarray(0, 8)), 8);
    const footer = Buffer.alloc(FOOTER);
    footer.writeUInt32LE(maskedCrc32c(data), 0);
    const parts = [header, data, footer];
    let remaining = HEADER + data.length + FOOTER;
    // writev may write less than asked (large records); finish what is left.
    let n = fs.writevSync(this.fd, parts);
    while (n < remaining) {
      remaining -= n;
      const rest = Buffer.concat(parts).subarray(HEADER + data.length + FOOTER - remaining);
      n = fs.writeSync(this.fd, rest);
    }
    this.count++;
  }

  /** Flushes to disk and moves the file into place. */
  close(): void {
    if (this.fd === undefined) return;
    const fd = this.fd;
    this.fd = undefined;
    try {
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    try {
      fs.renameSync(this.tmpFile, this.file);
    } catch (e) {
      fs.rmSync(this.tmpFile, { force: true });
      throw e;
    }
  }

  /** Discards everything written; `file` is left as it was. */
  abort(): void {
    if (this.fd !== undefined) {
      fs.closeSync(this.fd);
      this.fd = undefined;
    }
    fs.rmSync(this.tmpFile, { force: true });
  }
}

/** Writes all records (atomically, see TFRecordWriter); returns the count. */
export async function writeTFRecords(
  file: string,
  records: Iterable<Uint8Array> | AsyncIterable<Uint8Array>,
): Promise<number> {
  const w = new TFRecordWriter(file);
  try {
    for await (const r of records) w.write(r);
    w.close();
  } catch (e) {
    w.abort();
    throw e;
  }
  return w.written;
}
