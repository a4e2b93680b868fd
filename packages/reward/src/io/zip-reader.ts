import * as fs from 'fs';
import * as zlib from 'zlib';
import { inflateSync } from 'fflate';
import { readFully } from './safetensors';

// Zip access. fflate's unzipSync needs the whole archive in memory and copies every entry out of it,
// which would double a large checkpoint; instead the central directory is read with small reads and each
// storage is read straight into its own buffer (fflate inflates the rare compressed entry).

export interface ZipEntry {
  method: number;
  crc: number;
  csize: number;
  usize: number;
  localOffset: number;
}

export class ZipReader {
  readonly entries = new Map<string, ZipEntry>();
  private readonly size: number;

  constructor(
    private readonly fd: number,
    private readonly file: string,
  ) {
    this.size = fs.fstatSync(fd).size;
    this.readCentralDirectory();
  }

  private bytes(pos: number, n: number): Buffer {
    if (pos < 0 || pos + n > this.size) throw new Error(`${this.file}: corrupt zip archive (read past end of file)`);
    const b = Buffer.alloc(n);
    readFully(this.fd, b, pos, this.file);
    return b;
  }

  private readCentralDirectory(): void {
    const tailLen = Math.min(this.size, 22 + 0xffff);
    const tail = this.bytes(this.size - tailLen, tailLen);
    let eocd = -1;
    for (let i = tail.length - 22; i >= 0; i--) {
      if (tail.readUInt32LE(i) === 0x06054b50) {
        eocd = i;
        break;
      }
    }
    if (eocd < 0) throw new Error(`${this.file}: corrupt zip archive (no end of central directory)`);
    let count = tail.readUInt16LE(eocd + 10);
    let cdSize = tail.readUInt32LE(eocd + 12);
    let cdOffset = tail.readUInt32LE(eocd + 16);
    if (count === 0xffff || cdSize === 0xffffffff || cdOffset === 0xffffffff) {
      // Zip64 (archives over 4 GiB or 65535 entries): the locator sits right before the EOCD record.
      const locPos = this.size - tailLen + eocd - 20;
      const loc = this.bytes(locPos, 20);
      if (loc.readUInt32LE(0) !== 0x07064b50) throw new Error(`${this.file}: corrupt zip64 archive (no locator)`);
      const rec = this.bytes(Number(loc.readBigUInt64LE(8)), 56);
      if (rec.readUInt32LE(0) !== 0x06064b50) throw new Error(`${this.file}: corrupt zip64 archive (no end record)`);
      count = Number(rec.readBigUInt64LE(32));
      cdSize = Number(rec.readBigUInt64LE(40));
      cdOffset = Number(rec.readBigUInt64LE(48));
    }
    const cd = this.bytes(cdOffset, cdSize);
    let p = 0;
    for (let i = 0; i < count; i++) {
      if (p + 46 > cd.length || cd.readUInt32LE(p) !== 0x02014b50) throw new Error(`${this.file}: corrupt zip central directory`);
      const method = cd.readUInt16LE(p + 10);
      const crc = cd.readUInt32LE(p + 16);
      let csize = cd.readUInt32LE(p + 20);
      let usize = cd.readUInt32LE(p + 24);
      const nameLen = cd.readUInt16LE(p + 28);
      const extraLen = cd.readUInt16LE(p + 30);
      const commentLen = cd.readUInt16LE(p + 32);
      let localOffset = cd.readUInt32LE(p + 42);
      const name = cd.toString('utf8', p + 46, p + 46 + nameLen);
      // Zip64 extra field: 64-bit values for exactly those fields that are 0xffffffff, in this order.
      let e = p + 46 + nameLen;
      const eEnd = e + extraLen;
      while (e + 4 <= eEnd) {
        const id = cd.readUInt16LE(e);
        const len = cd.readUInt16LE(e + 2);
        if (id === 0x0001) {
          let q = e + 4;
          const next = () => {
            const v = Number(cd.readBigUInt64LE(q));
            q += 8;
            return v;
          };
          if (usize === 0xffffffff) usize = next();
          if (csize === 0xffffffff) csize = next();
          if (localOffset === 0xffffffff) localOffset = next();
        }
        e += 4 + len;
      }
      this.entries.set(name, { method, crc, csize, usize, localOffset });
      p = eEnd + commentLen;
    }
  }

  /** Entry contents in a fresh (hence aligned) buffer, CRC-checked like torch's reader does. */
  read(name: string): Uint8Array {
    const out = this.readRaw(name);
    // zlib.crc32 is native (about 2 GB/s) and exists from Node 20.15; catches truncated or corrupt downloads.
    if (typeof zlib.crc32 === 'function' && zlib.crc32(out) >>> 0 !== this.entries.get(name)!.crc) {
      throw new Error(`${this.file}: zip entry '${name}' is corrupt (CRC mismatch)`);
    }
    return out;
  }

  private readRaw(name: string): Uint8Array {
    const ent = this.entries.get(name);
    if (!ent) throw new Error(`${this.file}: zip entry '${name}' is missing`);
    const lh = this.bytes(ent.localOffset, 30);
    if (lh.readUInt32LE(0) !== 0x04034b50) throw new Error(`${this.file}: corrupt zip entry '${name}'`);
    const dataPos = ent.localOffset + 30 + lh.readUInt16LE(26) + lh.readUInt16LE(28);
    if (dataPos + ent.csize > this.size) throw new Error(`${this.file}: zip entry '${name}' runs past the end of the file`);
    if (ent.method === 0) {
      const out = new Uint8Array(new ArrayBuffer(ent.usize));
      readFully(this.fd, out, dataPos, this.file);
      return out;
    }
    if (ent.method === 8) {
      const comp = new Uint8Array(ent.csize);
      readFully(this.fd, comp, dataPos, this.file);
      const out = inflateSync(comp, { out: new Uint8Array(new ArrayBuffer(ent.usize)) });
      if (out.length !== ent.usize) throw new Error(`${this.file}: zip entry '${name}' inflated to ${out.length} bytes, expected ${ent.usize}`);
      return out;
    }
    throw new Error(`${this.file}: zip entry '${name}' uses unsupported compression method ${ent.method}`);
  }
}
