import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { crc32c, readTFRecords, TFRecordWriter, writeTFRecords } from './tfrecord';
import { parityDir } from '../parity/fixtures';

/** Bit-at-a-time CRC32C, the definition, to check the table-driven version against. */
function crc32cBitwise(data: Uint8Array): number {
  let c = 0xffffffff;
  for (const b of data) {
    c ^= b;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
  }
  return (c ^ 0xffffffff) >>> 0;
}

async function readAll(file: string): Promise<Uint8Array[]> {
  const out: Uint8Array[] = [];
  for await (const r of readTFRecords(file)) out.push(r.data);
  return out;
}

let dir: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tfrecord-'));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('crc32c', () => {
  it('matches the known vectors (iSCSI / RFC 3720)', () => {
    expect(crc32c(Buffer.from('123456789'))).toBe(0xe3069283);
    expect(crc32c(new Uint8Array(0))).toBe(0);
    expect(crc32c(new Uint8Array(32))).toBe(0x8a9136aa);
    expect(crc32c(new Uint8Array(32).fill(0xff))).toBe(0x62a8ab43);
    expect(crc32c(Uint8Array.from({ length: 32 }, (_, i) => i))).toBe(0x46dd794e);
    expect(crc32c(Uint8Array.from({ length: 32 }, (_, i) => 31 - i))).toBe(0x113fdb5c);
  });

  it('agrees with the bitwise definition at every tail length, and continues incrementally', () => {
    let seed = 7;
    const rand = () => (seed = (seed * 1103515245 + 12345) >>> 0) >>> 24;
    for (let n = 0; n < 70; n++) {
      const data = Uint8Array.from({ length: n }, rand);
      expect(crc32c(data)).toBe(crc32cBitwise(data));
      const cut = n >> 1;
      expect(crc32c(data.subarray(cut), crc32c(data.subarray(0, cut)))).toBe(crc32c(data));
    }
  });
});

describe('TFRecord', () => {
  const records = [0, 1, 7, 8, 9, 1000, 100_003].map((n, i) => Uint8Array.from({ length: n }, (_, j) => (j * 31 + i) & 0xff));

  it('round-trips records of every size', async () => {
    const file = path.join(dir, 'rt.tfrecord');
    expect(await writeTFRecords(file, records)).toBe(records.length);
    const back = await readAll(file);
    expect(back.length).toBe(records.length);
    back.forEach((b, i) => expect(Buffer.compare(Buffer.from(b), Buffer.from(records[i]))).toBe(0));
    const offsets: number[] = [];
    for await (const r of readTFRecords(file)) offsets.push(r.offset);
    expect(offsets[1]).toBe(16);
    expect(fs.statSync(file).size).toBe(records.reduce((s, r) => s + r.length + 16, 0));
    expect(fs.readdirSync(dir).filter((f) => f.includes('.tmp-'))).toEqual([]);
  });

  // Independent check of framing and CRC masking: TensorBoard's writer made this file.
  it('reads the fixture written by TensorBoard', async () => {
    const recs = await readAll(path.join(parityDir(), 'richhf', 'test.tfrecord'));
    expect(recs.length).toBe(12);
  });

  it('shows the file only once closed; abort leaves nothing', () => {
    const file = path.join(dir, 'atomic.tfrecord');
    const w = new TFRecordWriter(file);
    w.write(records[3]);
    expect(fs.existsSync(file)).toBe(false);
    expect(fs.existsSync(w.tmpFile)).toBe(true);
    w.close();
    expect(fs.existsSync(file)).toBe(true);
    expect(() => w.write(records[3])).toThrow(/write after close/);

    const other = path.join(dir, 'aborted.tfrecord');
    const w2 = new TFRecordWriter(other);
    w2.write(records[3]);
    w2.abort();
    expect(fs.existsSync(other)).toBe(false);
    expect(fs.existsSync(w2.tmpFile)).toBe(false);
  });

  /** Writes `records`, applies `damage` to the bytes and returns the file. */
  function damaged(name: string, damage: (b: Buffer) => Buffer): string {
    const file = path.join(dir, name);
    const w = new TFRecordWriter(file);
    for (const r of records.slice(1, 5)) w.write(r); // sizes 1, 7, 8, 9 → records at 0, 17, 40, 64
    w.close();
    fs.writeFileSync(file, damage(fs.readFileSync(file)));
    return file;
  }

  it('names the file and record on a data CRC mismatch', async () => {
    const file = damaged('data.tfrecord', (b) => {
      b[17 + 12 + 3] ^= 0x40; // a data byte of record 1
      return b;
    });
    await expect(readAll(file)).rejects.toThrow(`${file}: record 1: data CRC mismatch`);
    // Opting out of the data check still reads every record.
    const n = [];
    for await (const r of readTFRecords(file, { verifyData: false })) n.push(r.index);
    expect(n).toEqual([0, 1, 2, 3]);
  });

  it('names the file and record on a length CRC mismatch', async () => {
    const file = damaged('length.tfrecord', (b) => {
      b[40] ^= 0x01; // length of record 2
      return b;
    });
    await expect(readAll(file)).rejects.toThrow(`${file}: record 2: length CRC mismatch`);
  });

  it('names the file and record on truncation, in the data and in the header', async () => {
    const inData = damaged('trunc.tfrecord', (b) => b.subarray(0, 64 + 12 + 5));
    await expect(readAll(inData)).rejects.toThrow(
      `${inData}: record 3: truncated (expected 25 bytes, file ends after 17)`,
    );
    const inHeader = damaged('trunc-header.tfrecord', (b) => b.subarray(0, 40 + 5));
    await expect(readAll(inHeader)).rejects.toThrow(
      `${inHeader}: record 2: truncated (expected 12 bytes, file ends after 5)`,
    );
  });

  it('reads an empty file as no records', async () => {
    const file = path.join(dir, 'empty.tfrecord');
    await writeTFRecords(file, []);
    expect(await readAll(file)).toEqual([]);
  });
});
