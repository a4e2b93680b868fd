import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import sharp from 'sharp';
import { joinImages } from './pickapic';
import { parityDir } from '../parity/fixtures';

const PARQUET = path.join(parityDir(), 'richhf', 'pickapic_like.parquet');

let dir: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pickapic-'));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('joinImages', () => {
  it('finds wanted uids on either side of a pair, across row groups, and lists the missing', async () => {
    // Row 0 holds the uid in image_0_uid, row 2 in image_1_uid, row 11 (last row group) in image_1_uid.
    const wanted = new Set(['083a7e8408903313-0000', '0e58d4f11ca624c8-0002', '30d5d05f5bfa22a8-0011', 'nope']);
    const { images, missing } = await joinImages(wanted, { parquet: [PARQUET] });
    expect(missing).toEqual(['nope']);
    expect([...images.keys()].sort()).toEqual([...wanted].filter((u) => u !== 'nope').sort());
    const img = images.get('0e58d4f11ca624c8-0002')!;
    expect(img.caption).toBe('two snow playing red playing playing snow a red two');
    expect(img.source).toBe(`${PARQUET}#row2`);
    const meta = await sharp(img.bytes).metadata();
    expect([meta.format, meta.height, meta.width]).toEqual(['jpeg', 405, 537]);
    expect(images.get('30d5d05f5bfa22a8-0011')!.source).toBe(`${PARQUET}#row11`);
  });

  it('reads nothing it does not need: an empty wanted set gives nothing', async () => {
    const { images, missing } = await joinImages(new Set(), { parquet: [PARQUET] });
    expect(images.size).toBe(0);
    expect(missing).toEqual([]);
  });

  it('takes images (and .txt captions) from a folder first, then parquet', async () => {
    const folder = path.join(dir, 'imgs');
    fs.mkdirSync(folder);
    const png = await sharp({ create: { width: 5, height: 3, channels: 3, background: '#f00' } }).png().toBuffer();
    fs.writeFileSync(path.join(folder, '083a7e8408903313-0000.PNG'), png);
    fs.writeFileSync(path.join(folder, '083a7e8408903313-0000.txt'), 'a red square\n');
    fs.writeFileSync(path.join(folder, 'local-only.png'), png);
    fs.writeFileSync(path.join(folder, 'notes.md'), 'not an image');
    const wanted = new Set(['083a7e8408903313-0000', 'local-only', '342819ee50cde983-0001', 'notes', 'gone']);
    const { images, missing } = await joinImages(wanted, { folder, parquet: [PARQUET] });
    expect(missing).toEqual(['gone', 'notes']);
    const local = images.get('083a7e8408903313-0000')!;
    expect(Buffer.from(local.bytes).equals(png)).toBe(true);
    expect(local.caption).toBe('a red square');
    expect(images.get('local-only')!.caption).toBeUndefined();
    expect(images.get('342819ee50cde983-0001')!.source).toBe(`${PARQUET}#row1`);
  });

  it('names the file that is not parquet', async () => {
    const bad = path.join(dir, 'bad.parquet');
    fs.writeFileSync(bad, 'PAR1 but not really');
    await expect(joinImages(new Set(['x']), { parquet: [bad] })).rejects.toThrow(`${bad}: not a parquet file`);
  });
});
