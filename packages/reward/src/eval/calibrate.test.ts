import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { writeSynthWorld } from '../data/synth/world';
import { promptWords } from '../rahf/keywords';
import type { RewardModel } from '../rahf/model';
import { calibrateMarkBias } from './calibrate';
import { groundTruthWords, openEvalDataset } from './dataset';

let tmp: string;
let truth: Map<string, string[]>;

beforeAll(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'rahf-calibrate-'));
  await writeSynthWorld({ out: tmp, n: 40, seed: 4, size: 32, progress: false });
  truth = new Map();
  for await (const s of (await openEvalDataset({ data: tmp, split: 'train' })).samples()) {
    truth.set(s.caption, groundTruthWords(s.caption, s.record.promptMisalignmentLabel));
  }
});

afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** A stand-in decoder: below bias 1 it marks nothing, from 1 exactly the misaligned words, from 3 every word. */
const fake = {
  async misalignedWordsPerBias(images: unknown[], prompts: string[], biases: number[]) {
    expect(images.length).toBe(prompts.length);
    return biases.map((b) => prompts.map((p) => (b >= 3 ? promptWords(p) : b >= 1 ? truth.get(p)! : [])));
  },
} as unknown as RewardModel;

test('scores every bias with keyword P/R/F1 over the split and picks the best', async () => {
  const ds = await openEvalDataset({ data: tmp, split: 'train' });
  let seen = 0;
  const c = await calibrateMarkBias(fake, ds.samples(), { biases: [0, 1, 3], batchSize: 7, onBatch: (k) => (seen += k) });
  expect(c.n).toBe(ds.size);
  expect(seen).toBe(ds.size);
  const gtWords = [...truth.values()].reduce((a, w) => a + w.length, 0);
  const allWords = [...truth.keys()].reduce((a, p) => a + promptWords(p).length, 0);
  expect(gtWords).toBeGreaterThan(0);
  expect(c.rows.map((r) => r.bias)).toEqual([0, 1, 3]);
  expect(c.rows[0]).toMatchObject({ precision: 0, recall: 0, f1: 0, tp: 0, fn: gtWords });
  expect(c.rows[1]).toMatchObject({ precision: 1, recall: 1, f1: 1 });
  expect(c.rows[2].precision).toBeCloseTo(gtWords / allWords, 12);
  expect(c.rows[2].recall).toBe(1);
  expect(c.best.bias).toBe(1);
});

test('ties go to the bias nearest 0; bad grids and empty data are refused', async () => {
  const ds = await openEvalDataset({ data: tmp, split: 'train' });
  expect((await calibrateMarkBias(fake, ds.samples(), { biases: [2, 1] })).best.bias).toBe(1);
  await expect(calibrateMarkBias(fake, ds.samples(), { biases: [] })).rejects.toThrow(/biases must be finite/);
  await expect(calibrateMarkBias(fake, ds.samples(), { biases: [NaN] })).rejects.toThrow(/biases must be finite/);
  await expect(calibrateMarkBias(fake, (async function* () {})(), { biases: [0] })).rejects.toThrow(/no samples/);
});
