import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Rng } from '@richhf/reward/data';
import { loadCheckpoint } from './checkpoint';
import { worldSequences } from './data';
import { learningRate, makeBatch, trainGenerator } from './train';
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
});
