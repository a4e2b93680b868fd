import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Rng } from '@richhf/reward/data';
import { loadCheckpoint } from './checkpoint';
import { worldSequences } from './data';
import { learningRate, makeBatch, replayRows, trainGenerator } from './train';
import { MASK_ID, NULL_ID, PROMPT_LEN, SEQ_LEN, VOCAB } from './tokens';

let dir: string;
beforeAll(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), 'synth-train-'))));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
const data = worldSequences(0, 48);
const tiny = { hidden_size: 16, num_layers: 1, num_heads: 2, intermediate_size: 32 };
const opts = { data, model: tiny, batch: 8, lr: 3e-3, warmup: 2, progress: false, threads: 1, checkpointEvery: 5 };

describe('training the scene generator', () => {
  test('batches: a cosine share of scene tokens masked (≥ 1 per row), targets weigh them equally, prompts dropped at the given rate', () => {
    const { ids, targets, masked } = makeBatch(data, 64, VOCAB, new Rng('b'), 0.25);
    let sum = 0;
    for (let i = 0; i < targets.length; i++) sum += targets[i];
    expect(sum).toBeCloseTo(1, 4);
    let maskIds = 0;
    let dropped = 0;
    for (let b = 0; b < 64; b++) {
      const row = Array.from(ids.slice(b * SEQ_LEN, (b + 1) * SEQ_LEN), Number);
      expect(row.slice(PROMPT_LEN).some((t) => t === MASK_ID)).toBe(true);
      maskIds += row.filter((t) => t === MASK_ID).length;
      if (row.slice(0, PROMPT_LEN).every((t) => t === NULL_ID)) dropped++;
    }
    expect(maskIds).toBe(masked);
    expect(dropped).toBeGreaterThan(5);
    expect(dropped).toBeLessThan(30);
  });

  test('replay: the last rows of every batch come from the replay data, at the given ratio', () => {
    const other = worldSequences(5, 16);
    const keys = (d: typeof data) => new Set(Array.from({ length: d.rows }, (_, i) => Array.from(d.data.subarray(i * SEQ_LEN + PROMPT_LEN, (i + 1) * SEQ_LEN)).join(' ')));
    const own = keys(data);
    const replayed = keys(other);
    expect([replayRows(64, 1), replayRows(64, 0.25), replayRows(64, 100)]).toEqual([32, 13, 63]);
    const { ids } = makeBatch(data, 16, VOCAB, new Rng('r'), 0, { data: other, rows: 4 });
    // A row's unmasked scene tokens match exactly one source row, in the source the split says.
    const fits = (row: number[], set: Set<string>) => [...set].some((k) => k.split(' ').every((t, i) => row[PROMPT_LEN + i] === MASK_ID || row[PROMPT_LEN + i] === Number(t)));
    for (let b = 0; b < 16; b++) {
      const row = Array.from(ids.slice(b * SEQ_LEN, (b + 1) * SEQ_LEN), Number);
      expect(fits(row, b < 12 ? own : replayed)).toBe(true);
    }
  });

  test('learning rate: linear warm-up to the peak, cosine down to 10 %', () => {
    expect(learningRate(0, 100, 1, 10)).toBeCloseTo(0.1);
    expect(learningRate(9, 100, 1, 10)).toBeCloseTo(1);
    expect(learningRate(100, 100, 1, 10)).toBeCloseTo(0.1);
    expect(learningRate(55, 100, 1, 10)).toBeCloseTo(0.55);
  });

  test('the loss falls; a run stopped and resumed ends with exactly the weights of one uninterrupted run', async () => {
    const whole = await trainGenerator({ ...opts, out: path.join(dir, 'whole'), steps: 30 });
    expect(whole.done).toBe(true);
    const first = await trainGenerator({ ...opts, out: path.join(dir, 'parts'), steps: 30, limit: 12 });
    expect(first.done).toBe(false);
    expect(first.step).toBe(12);
    await expect(trainGenerator({ ...opts, out: path.join(dir, 'parts'), steps: 30 })).rejects.toThrow(/holds a training run already; pass --resume/);
    const rest = await trainGenerator({ ...opts, out: path.join(dir, 'parts'), steps: 30, resume: true });
    expect(rest.step).toBe(30);
    const a = loadCheckpoint(path.join(dir, 'whole'));
    const b = loadCheckpoint(path.join(dir, 'parts'));
    expect(b.digest).toBe(a.digest);
    const fresh = await trainGenerator({ ...opts, out: path.join(dir, 'fresh'), steps: 1 });
    expect(whole.loss).toBeLessThan(fresh.loss - 0.3);
  });

  test('finetuning with replay and a trainable subset: frozen parameters keep their bytes, a resume must bring the replay data', async () => {
    const init = path.join(dir, 'whole');
    const before = loadCheckpoint(init).params;
    const replay = { data: worldSequences(3, 32), ratio: 1 };
    const out = path.join(dir, 'ft');
    await trainGenerator({ ...opts, out, init, steps: 6, limit: 3, replay, trainable: 'head\\.bias|final_ln' });
    await expect(trainGenerator({ ...opts, out, init, steps: 6, resume: true })).rejects.toThrow(/was started with replay \(world seed 3, first 32 training-split scenes\); resume it with the same replay data/);
    await trainGenerator({ ...opts, out, init, steps: 6, resume: true, replay });
    const after = loadCheckpoint(out).params;
    for (const [k, p] of after) {
      const same = Buffer.from(p.data.buffer, p.data.byteOffset, p.data.byteLength).equals(Buffer.from(before.get(k)!.data.buffer, before.get(k)!.data.byteOffset, before.get(k)!.data.byteLength));
      expect([k, same]).toEqual([k, !/head\.bias|final_ln/.test(k)]);
    }
    await expect(trainGenerator({ ...opts, out: path.join(dir, 'bad'), init, steps: 2, trainable: 'nothing-like-this' })).rejects.toThrow(/trainable nothing-like-this: matches no parameter of the generator/);
  });
});
