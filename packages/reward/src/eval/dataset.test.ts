import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { writeSynthWorld } from '../data/synth/world';
import { parityDir } from '../parity/fixtures';
import { UserError } from '../errors';
import { groundTruthWords, openEvalDataset, readCaptionsJsonl } from './dataset';

let tmp: string;
let world: string;

beforeAll(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'eval-dataset-'));
  world = path.join(tmp, 'world');
  await writeSynthWorld({ out: world, n: 30, seed: 2, size: 32, progress: false });
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

test('a synthetic-world folder: split file, images/, captions.jsonl and train.tfrecord are found', async () => {
  const ds = await openEvalDataset({ data: world });
  expect(ds.recordsFile).toBe(path.join(world, 'test.tfrecord'));
  expect(ds.trainFile).toBe(path.join(world, 'train.tfrecord'));
  expect(ds.totalRecords).toBe(3);
  expect(ds.size).toBe(3);
  expect(ds.missingImages).toEqual([]);
  const samples = await collect(ds.samples());
  expect(samples.map((s) => s.uid)).toEqual(['synth-2-000009', 'synth-2-000019', 'synth-2-000029']);
  const caps = readCaptionsJsonl(path.join(world, 'captions.jsonl'));
  for (const s of samples) {
    expect(s.caption).toBe(caps.get(s.uid));
    expect(s.imageSource).toBe(path.join(world, 'images', `${s.uid}.png`));
    expect(Buffer.compare(Buffer.from(s.image), fs.readFileSync(s.imageSource))).toBe(0);
    expect(s.record.artifactMap.width).toBe(32);
  }
  // samples() can be iterated again (the constant baseline's fallback does).
  expect(await collect(ds.samples())).toHaveLength(3);
  const dev = await openEvalDataset({ data: world, split: 'dev', limit: 2 });
  expect(dev.size).toBe(2);
  expect((await collect(dev.samples())).map((s) => s.uid)).toEqual(['synth-2-000008', 'synth-2-000018']);
});

test('a RichHF-18K-style TFRecord (TensorBoard-written) joined with a Pick-a-Pic parquet (pyarrow-written)', async () => {
  const dir = path.join(parityDir(), 'richhf');
  const truth = JSON.parse(fs.readFileSync(path.join(dir, 'truth.json'), 'utf8')) as Array<{ uid: string; prompt: string; labels: number[] }>;
  const ds = await openEvalDataset({ data: path.join(dir, 'test.tfrecord'), parquet: [path.join(dir, 'pickapic_like.parquet')] });
  expect(ds.trainFile).toBeUndefined();
  expect(ds.totalRecords).toBe(truth.length);
  const samples = await collect(ds.samples());
  expect(ds.size + ds.missingImages.length).toBe(truth.length);
  expect(samples.length).toBe(ds.size);
  expect(samples.length).toBeGreaterThan(0);
  for (const s of samples) {
    const t = truth.find((x) => x.uid === s.uid)!;
    expect(s.caption).toBe(t.prompt); // from the parquet's caption column
    expect(s.imageSource).toMatch(/pickapic_like\.parquet#row\d+/);
    const want = t.prompt.split(/[,.?!":;\s]+/).filter((w) => w).filter((_, i) => t.labels[i] === 0);
    expect(groundTruthWords(s.caption, s.record.promptMisalignmentLabel)).toEqual(want);
  }
});

test('captions: --captions wins over <uid>.txt; records without image or prompt are counted, not fatal', async () => {
  const imgs = path.join(tmp, 'imgs');
  fs.mkdirSync(imgs, { recursive: true });
  const all = ['synth-2-000009', 'synth-2-000019', 'synth-2-000029'];
  for (const u of all.slice(0, 2)) fs.copyFileSync(path.join(world, 'images', `${u}.png`), path.join(imgs, `${u}.png`));
  fs.writeFileSync(path.join(imgs, `${all[0]}.txt`), 'from the txt file\n');
  const ds = await openEvalDataset({ data: path.join(world, 'test.tfrecord'), images: imgs });
  expect(ds.missingImages).toEqual([all[2]]);
  expect(ds.missingCaptions).toEqual([all[1]]);
  expect((await collect(ds.samples())).map((s) => [s.uid, s.caption])).toEqual([[all[0], 'from the txt file']]);

  const caps = path.join(tmp, 'caps.jsonl');
  fs.writeFileSync(caps, `${JSON.stringify({ uid: all[0], caption: 'from jsonl', split: 'x' })}\n\n${JSON.stringify({ uid: all[1], caption: 'two' })}\n`);
  const ds2 = await openEvalDataset({ data: path.join(world, 'test.tfrecord'), images: imgs, captions: caps });
  expect(ds2.missingCaptions).toEqual([]);
  expect((await collect(ds2.samples())).map((s) => s.caption)).toEqual(['from jsonl', 'two']);
});

test('layout errors are one-line UserErrors', async () => {
  const cases: Array<[Parameters<typeof openEvalDataset>[0], RegExp]> = [
    [{ data: path.join(tmp, 'missing') }, /missing: no such file or directory/],
    [{ data: tmp }, /no test\.tfrecord \(a data folder holds <split>\.tfrecord/],
    [{ data: path.join(world, 'dev.tfrecord') }, /a TFRecord file needs --images <folder> and\/or --parquet <files>/],
    [{ data: world, images: path.join(tmp, 'none') }, /none: no such image folder/],
    [{ data: world, parquet: [path.join(tmp, 'x.parquet')] }, /x\.parquet: no such parquet file/],
    [{ data: world, train: path.join(tmp, 't.tfrecord') }, /t\.tfrecord: no such train TFRecord/],
    [{ data: world, captions: path.join(tmp, 'c.jsonl') }, /c\.jsonl: no such captions file/],
    [{ data: path.join(world, 'captions.jsonl'), images: path.join(world, 'images') }, /captions\.jsonl: record 0: truncated|length CRC/],
  ];
  for (const [opts, re] of cases) {
    const e = await openEvalDataset(opts).catch((x) => x);
    expect(e).toBeInstanceOf(UserError);
    expect(e.message).toMatch(re);
    expect(e.message.split('\n')).toHaveLength(1);
  }
  const bad = path.join(tmp, 'bad.jsonl');
  fs.writeFileSync(bad, '{"uid": 3, "caption": "x"}\n');
  expect(() => readCaptionsJsonl(bad)).toThrow(/bad\.jsonl:1: expected \{"uid": "\.\.\.", "caption": "\.\.\."\}/);
});

test('groundTruthWords pairs words and labels positionally, up to the shorter on a mismatch', () => {
  expect(groundTruthWords('a yellow cat, on a mat.', '1 0 1 1 1 0')).toEqual(['yellow', 'mat']);
  expect(groundTruthWords('a yellow cat', '0 0 0 0')).toEqual(['a', 'yellow', 'cat']);
  expect(groundTruthWords('a yellow cat', '1 0')).toEqual(['yellow']);
});
