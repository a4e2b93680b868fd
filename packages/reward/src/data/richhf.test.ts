import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { encodeExample, Example, feature } from './example-proto';
import { GrayMap, RichHFRecord } from './record';
import {
  encodeGrayMap,
  encodeRichHFExample,
  labelMismatch,
  parseLabels,
  readRichHF,
  readRichHFAll,
  writeRichHF,
} from './richhf';
import { writeTFRecords } from './tfrecord';
import { parityDir } from '../parity/fixtures';

function map(width: number, height: number, seed: number): GrayMap {
  const data = new Uint8Array(width * height);
  for (let i = 0; i < data.length; i++) data[i] = (i * 7 + seed * 13 + ((i / width) | 0)) & 0xff;
  return { width, height, data };
}

function record(i: number): RichHFRecord {
  return {
    filename: `train/uid-${i}.png`,
    aestheticsScore: Math.fround(0.125 * i),
    artifactScore: Math.fround(1 / 3),
    misalignmentScore: i === 0 ? 0 : 1,
    overallScore: Math.fround(0.7),
    artifactMap: map(64, 48, i),
    misalignmentMap: map(i === 0 ? 512 : 33, i === 0 ? 512 : 17, i + 100),
    promptMisalignmentLabel: i === 0 ? '' : '1 0 1',
  };
}

// Jest's toEqual walks typed arrays element by element (seconds for a 512×512 map): compare bytes.
function samePixels(a: GrayMap, b: GrayMap): boolean {
  return a.width === b.width && a.height === b.height && Buffer.from(a.data).equals(Buffer.from(b.data));
}
function withoutPixels(r: RichHFRecord): object {
  const strip = (m: GrayMap) => ({ width: m.width, height: m.height, bytes: m.data.length });
  return { ...r, artifactMap: strip(r.artifactMap), misalignmentMap: strip(r.misalignmentMap) };
}

/** The Example of `record(0)` with `edit` applied, written as a one-record file. */
async function fileWith(name: string, edit: (ex: Example) => void | Promise<void>): Promise<string> {
  const ex: Example = new Map([
    ['filename', feature.text('a.png')],
    ['aesthetics_score', feature.floats(0.5)],
    ['artifact_score', feature.floats(0.5)],
    ['misalignment_score', feature.floats(0.5)],
    ['overall_score', feature.floats(0.5)],
    ['artifact_map', feature.bytes(await encodeGrayMap(map(8, 8, 1)))],
    ['misalignment_map', feature.bytes(await encodeGrayMap(map(8, 8, 2)))],
    ['prompt_misalignment_label', feature.text('1 1')],
  ]);
  await edit(ex);
  const file = path.join(dir, name);
  await writeTFRecords(file, [encodeExample(ex)]);
  return file;
}

async function readErr(file: string): Promise<string> {
  try {
    await readRichHFAll(file);
  } catch (e) {
    return (e as Error).message;
  }
  throw new Error('expected the read to fail');
}

let dir: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'richhf-'));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('RichHF records', () => {
  it('round-trips every field through write → read', async () => {
    const recs = [0, 1, 2].map(record);
    const file = path.join(dir, 'rt.tfrecord');
    expect(await writeRichHF(file, recs)).toBe(3);
    const { records, warnings } = await readRichHFAll(file);
    expect(warnings).toEqual([]);
    expect(records.map((r) => r.index)).toEqual([0, 1, 2]);
    records.forEach((r, i) => {
      const { index, ...rest } = r;
      expect(index).toBe(i);
      expect(withoutPixels(rest)).toEqual(withoutPixels(recs[i]));
      expect(samePixels(r.artifactMap, recs[i].artifactMap)).toBe(true);
      expect(samePixels(r.misalignmentMap, recs[i].misalignmentMap)).toBe(true);
    });
  });

  it('reads the release-format fixture: 12 records, 512×512 maps', async () => {
    const { records } = await readRichHFAll(path.join(parityDir(), 'richhf', 'test.tfrecord'));
    expect(records.length).toBe(12);
    for (const r of records) {
      expect([r.artifactMap.width, r.artifactMap.height, r.misalignmentMap.width]).toEqual([512, 512, 512]);
      expect(r.artifactMap.data.length).toBe(512 * 512);
    }
  });

  it('names file, record and key for a missing key', async () => {
    const file = await fileWith('missing.tfrecord', (ex) => void ex.delete('overall_score'));
    expect(await readErr(file)).toBe(`${file}: record 0: missing key overall_score`);
  });

  it('names file, record and key for a wrong feature type', async () => {
    const file = await fileWith('type.tfrecord', (ex) => void ex.set('artifact_score', feature.text('0.5')));
    expect(await readErr(file)).toBe(`${file}: record 0: artifact_score: expected float_list, found bytes_list`);
    const file2 = await fileWith('type2.tfrecord', (ex) => void ex.set('filename', feature.int64s(3)));
    expect(await readErr(file2)).toBe(`${file2}: record 0: filename: expected bytes_list, found int64_list`);
  });

  it('rejects a score count other than one', async () => {
    const file = await fileWith('count.tfrecord', (ex) => void ex.set('overall_score', feature.floats(0.1, 0.2)));
    expect(await readErr(file)).toBe(`${file}: record 0: overall_score: expected 1 value, found 2`);
  });

  it('rejects a score outside [0, 1], or warns when asked to', async () => {
    const file = await fileWith('range.tfrecord', (ex) => void ex.set('aesthetics_score', feature.floats(1.5)));
    expect(await readErr(file)).toBe(`${file}: record 0: aesthetics_score: 1.5 is outside [0, 1]`);
    const { records, warnings } = await readRichHFAll(file, { scoreRange: 'warn' });
    expect(records[0].aestheticsScore).toBe(1.5);
    expect(warnings).toEqual([`${file}: record 0: aesthetics_score: 1.5 is outside [0, 1]`]);
    // NaN is never a score, whatever the option.
    const nan = await fileWith('nan.tfrecord', (ex) => void ex.set('aesthetics_score', feature.floats(NaN)));
    await expect(readRichHFAll(nan, { scoreRange: 'warn' })).rejects.toThrow('aesthetics_score: NaN is outside');
  });

  it('names the map that does not decode', async () => {
    const file = await fileWith('map.tfrecord', (ex) => void ex.set('misalignment_map', feature.text('not a png')));
    expect(await readErr(file)).toMatch(`${file}: record 0: misalignment_map: undecodable map (`);
  });

  it('rejects labels that are not 0/1', async () => {
    const file = await fileWith('label.tfrecord', (ex) => void ex.set('prompt_misalignment_label', feature.text('1 x')));
    expect(await readErr(file)).toBe(
      `${file}: record 0: prompt_misalignment_label: token 1 is "x", expected 0 or 1`,
    );
  });

  it('reports, without failing, labels that do not fit the prompt', async () => {
    const file = path.join(dir, 'labels.tfrecord');
    await writeRichHF(file, [record(1), record(2)]); // labels "1 0 1"
    const prompts = new Map([
      ['uid-1', 'a red, cat.'], // 3 words: fits
      ['uid-2', 'two words'],
    ]);
    const seen: string[] = [];
    const { records, warnings } = await readRichHFAll(file, { prompts, onWarning: (w) => seen.push(w) });
    expect(records.length).toBe(2);
    expect(warnings).toEqual([
      `${file}: record 1: prompt_misalignment_label: 3 labels for 2 prompt words ("two words")`,
    ]);
    expect(seen).toEqual(warnings);
  });

  it('streams record by record', async () => {
    const file = path.join(dir, 'stream.tfrecord');
    await writeRichHF(
      file,
      (async function* () {
        for (let i = 1; i <= 4; i++) yield record(i);
      })(),
    );
    const uids: string[] = [];
    for await (const r of readRichHF(file)) uids.push(r.filename);
    expect(uids).toEqual(['train/uid-1.png', 'train/uid-2.png', 'train/uid-3.png', 'train/uid-4.png']);
  });

  it('leaves no file when a record cannot be written', async () => {
    const file = path.join(dir, 'bad-write.tfrecord');
    const bad = { ...record(1), artifactMap: { width: 4, height: 4, data: new Uint8Array(3) } };
    await expect(writeRichHF(file, [record(1), bad])).rejects.toThrow('map: 3 bytes for 4x4');
    expect(fs.existsSync(file)).toBe(false);
    expect(fs.readdirSync(dir).filter((f) => f.startsWith('bad-write'))).toEqual([]);
  });

  it('parses labels and checks them against prompt words', () => {
    expect(parseLabels(' 0 1  1 ')).toEqual([0, 1, 1]);
    expect(parseLabels('')).toEqual([]);
    expect(labelMismatch('in, an astronaut horse a in on dogs wooden an.', parseLabels('0 1 1 1 1 1 1 0 1 1'))).toBe(
      undefined,
    );
    expect(labelMismatch('a cat', [1])).toBe('1 labels for 2 prompt words ("a cat")');
  });

  it('encodes the release schema keys and types', async () => {
    const { decodeExample } = await import('./example-proto');
    const ex = decodeExample(await encodeRichHFExample(record(1)));
    expect(Object.fromEntries([...ex].map(([k, f]) => [k, f.kind]))).toEqual({
      filename: 'bytes_list',
      aesthetics_score: 'float_list',
      artifact_score: 'float_list',
      misalignment_score: 'float_list',
      overall_score: 'float_list',
      artifact_map: 'bytes_list',
      misalignment_map: 'bytes_list',
      prompt_misalignment_label: 'bytes_list',
    });
  });
});
