import * as fs from 'fs';
import * as zlib from 'zlib';
import { inflateSync } from 'fflate';
import { readFully } from './safetensors';
import { FileFormatError, UserError } from '../errors';
import { Limits, checkLimit, getLimits } from './limits';

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
    private readonly limits: Readonly<Limits> = getLimits(),
  ) {
    this.size = fs.fstatSync(fd).size;
    this.readCentralDirectory();
  }

  private bytes(pos: number, n: number): Buffer {
    if (pos < 0 || pos + n > this.size) throw new UserError(`${this.file}: corrupt zip archive (read past end of file)`);
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
    if (eocd < 0) throw new UserError(`${this.file}: corrupt zip archive (no end of central directory)`);
    let count = tail.readUInt16LE(eocd + 10);
    let cdSize = tail.readUInt32LE(eocd + 12);
    let cdOffset = tail.readUInt32LE(eocd + 16);
    if (count === 0xffff || cdSize === 0xffffffff || cdOffset === 0xffffffff) {
      // Zip64 (archives over 4 GiB or 65535 entries): the locator sits right before the EOCD record.
      const locPos = this.size - tailLen + eocd - 20;
      const loc = this.bytes(locPos, 20);
      if (loc.readUInt32LE(0) !== 0x07064b50) throw new UserError(`${this.file}: corrupt zip64 archive (no locator)`);
      const rec = this.bytes(Number(loc.readBigUInt64LE(8)), 56);
      if (rec.readUInt32LE(0) !== 0x06064b50) throw new UserError(`${this.file}: corrupt zip64 archive (no end record)`);
      count = Number(rec.readBigUInt64LE(32));
      cdSize = Number(rec.readBigUInt64LE(40));
      cdOffset = Number(rec.readBigUInt64LE(48));
    }
    const cd = this.bytes(cdOffset, cdSize);
    let p = 0;
    for (let i = 0; i < count; i++) {
      if (p + 46 > cd.length || cd.readUInt32LE(p) !== 0x02014b50) throw new UserError(`${this.file}: corrupt zip central directory`);
      const method = cd.readUInt16LE(p + 10);
      const crc = cd.readUInt32LE(p + 16);
      let csize = cd.readUInt32LE(p + 20);
      let usize = cd.readUInt32LE(p + 24);
      const nameLen = cd.readUInt16LE(p + 28);
      const extraLen = cd.readUInt16LE(p + 30);
      const commentLen = cd.readUInt16LE(p + 32);
      let localOffset = cd.readUInt32LE(p + 42);
      if (p + 46 + nameLen + extraLen + commentLen > cd.length) throw new FileFormatError(this.file, 'corrupt zip central directory (entry runs past its end)');
      const name = cd.toString('utf8', p + 46, p + 46 + nameLen);
      // Zip64 extra field: 64-bit values for exactly those fields that are 0xffffffff, in this order.
      let e = p + 46 + nameLen;
      const eEnd = e + extraLen;
      while (e + 4 <= eEnd) {
        const id = cd.readUInt16LE(e);
        const len = cd.readUInt16LE(e + 2);
        if (e + 4 + len > eEnd) throw new FileFormatError(this.file, `corrupt zip central directory (extra field of '${name}' runs past its end)`);
        if (id === 0x0001) {
          let q = e + 4;
          const next = () => {
            if (q + 8 > e + 4 + len) throw new FileFormatError(this.file, `corrupt zip64 extra field of '${name}'`);
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
      throw new UserError(`${this.file}: zip entry '${name}' is corrupt (CRC mismatch)`);
    }
    return out;
  }

  private readRaw(name: string): Uint8Array {
    const ent = this.entries.get(name);
    if (!ent) throw new UserError(`${this.file}: zip entry '${name}' is missing`);
    const lh = this.bytes(ent.localOffset, 30);
    if (lh.readUInt32LE(0) !== 0x04034b50) throw new UserError(`${this.file}: corrupt zip entry '${name}'`);
    const dataPos = ent.localOffset + 30 + lh.readUInt16LE(26) + lh.readUInt16LE(28);
    if (dataPos + ent.csize > this.size) throw new UserError(`${this.file}: zip entry '${name}' runs past the end of the file`);
    // Sizes come from the archive: each is checked against the file (stored) or the limit (deflated)
    // before its buffer is allocated.
    if (ent.method === 0) {
      if (ent.usize !== ent.csize) throw new FileFormatError(this.file, `zip entry '${name}' is stored with ${ent.csize} bytes but declares ${ent.usize}`);
      const out = new Uint8Array(new ArrayBuffer(ent.usize));
      readFully(this.fd, out, dataPos, this.file);
      return out;
    }
    if (ent.method === 8) {
      checkLimit(this.file, `the inflated size of zip entry '${name}'`, ent.usize, 'maxInflatedBytes', this.limits);
      // Deflate cannot expand past ~1032:1; a larger claim is a lie that would allocate for nothing.
      if (ent.usize > ent.csize * 1032 + 1024) {
        throw new FileFormatError(this.file, `zip entry '${name}' declares ${ent.usize} bytes inflated from ${ent.csize}, more than deflate can produce`);
      }
      const comp = new Uint8Array(ent.csize);
      readFully(this.fd, comp, dataPos, this.file);
      // A stream longer than declared is cut at usize (fflate does not grow a given buffer); the CRC
      // check in read() then refuses it. Inflation never exceeds the declared (limited) size.
      let out: Uint8Array;
      try {
        out = inflateSync(comp, { out: new Uint8Array(new ArrayBuffer(ent.usize)) });
      } catch (e) {
        throw new FileFormatError(this.file, `zip entry '${name}' is corrupt (${(e as Error).message})`);
      }
      if (out.length !== ent.usize) throw new UserError(`${this.file}: zip entry '${name}' inflated to ${out.length} bytes, expected ${ent.usize}`);
      return out;
    }
    throw new UserError(`${this.file}: zip entry '${name}' uses unsupported compression method ${ent.method}`);
  }
}
