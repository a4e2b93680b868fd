import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { initBackend } from '../backend';
import { BUNDLED_CHECKPOINT } from '../bundled';
import { writeSynthWorld } from '../data/synth/world';
import { RewardModel } from '../rahf/model';
import { runCalibrate } from './calibrate';
import { UserError } from '../errors';

let tmp: string;
let data: string;
let ckpt: string;

beforeAll(async () => {
  await initBackend();
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'rahf-calibrate-cli-'));
  data = path.join(tmp, 'world');
  await writeSynthWorld({ out: data, n: 60, seed: 9, progress: false }); // dev split: 6 images
  ckpt = path.join(tmp, 'ckpt');
  fs.cpSync(BUNDLED_CHECKPOINT, ckpt, { recursive: true });
});

afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

function capture() {
  const out: string[] = [];
  const err: string[] = [];
  return { out, err, io: { stdout: (t: string) => out.push(t), stderr: (l: string) => err.push(l) } };
}

test('prints P/R/F1 per bias on the dev split and writes the best bias into config.json (--dry-run leaves it)', async () => {
  const config = () => JSON.parse(fs.readFileSync(path.join(ckpt, 'config.json'), 'utf8'));
  const before = config();
  const dry = capture();
  expect(await runCalibrate({ checkpoint: ckpt, data, biases: [0, 40], dryRun: true, progress: false }, dry.io)).toBe(0);
  expect(config()).toEqual(before);
  const rows = dry.out.join('\n').split('\n').filter((l) => /^\*?-?[\d.]+ \|/.test(l));
  expect(rows.map((l) => l.split(' | ')[0].replace('*', ''))).toEqual(['0', '40']);
  expect(dry.err.join('\n')).toMatch(/6 samples of .*dev\.tfrecord: mark bias (0|40) \(F1/);

  const run = capture();
  expect(await runCalibrate({ checkpoint: ckpt, data, biases: [0, 40], progress: false }, run.io)).toBe(0);
  const chosen = Number(/mark bias (-?[\d.]+)/.exec(run.err.join('\n'))![1]);
  const after = config();
  expect(after.keyword_mark_bias).toBe(chosen);
  expect({ ...after, keyword_mark_bias: before.keyword_mark_bias }).toEqual(before); // nothing else changed
  const model = await RewardModel.load(ckpt);
  expect(model.config.keywordMarkBias).toBe(chosen);
  model.dispose();
  expect(fs.readdirSync(ckpt).some((f) => f.includes('.tmp'))).toBe(false);
});

test('bad input gives one-line user errors', async () => {
  const q = capture().io;
  await expect(runCalibrate({ checkpoint: path.join(tmp, 'none'), data }, q)).rejects.toThrow(UserError);
  await expect(runCalibrate({ checkpoint: path.join(tmp, 'none'), data }, q)).rejects.toThrow(/none: no config\.json there/);
  await expect(runCalibrate({ checkpoint: ckpt, data, limit: 0 }, q)).rejects.toThrow(/--limit must be an integer >= 1/);
  await expect(runCalibrate({ checkpoint: ckpt, data, biases: [NaN] }, q)).rejects.toThrow(/--biases must be numbers/);
  await expect(runCalibrate({ checkpoint: ckpt, data: path.join(tmp, 'nowhere') }, q)).rejects.toThrow(/nowhere/);
});
