import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../backend';
import { readSafetensors } from '../io/safetensors';
import { TensorMap } from '../io/tensors';
import { HEATMAP_NAMES, SCORE_NAMES } from '../rahf/config';
import { RewardModel } from '../rahf/model';
import { caseDirs, compare, expectClose } from './fixtures';

// RAHF against youweiliang/RichHF's model.py (PyTorch) on the fixture checkpoints: every case directory
// under <parity>/rahf with a config.json and an io.safetensors, once per weights file it ships.

beforeAll(async () => {
  await initBackend();
});

const WEIGHT_FILES = ['model.safetensors', 'model.pt'];
const cases = caseDirs('rahf').filter(
  (d) => fs.existsSync(path.join(d, 'config.json')) && fs.existsSync(path.join(d, 'io.safetensors')),
);

/** NCHW fixture pixels → NHWC tensor. */
function pixelsOf(io: TensorMap): tf.Tensor4D {
  const t = io.get('pixel_values_nchw')!;
  return tf.tidy(() => tf.tensor4d(t.data as Float32Array, t.shape as [number, number, number, number]).transpose([0, 2, 3, 1]));
}

/** Worst error per output key, printed at the end for the record. */
const measured: string[] = [];
afterAll(() => {
  if (measured.length) console.log(`rahf parity max errors:\n${measured.join('\n')}`);
});

test('parity fixtures contain RAHF cases', () => {
  expect(cases.length).toBeGreaterThan(0);
});

for (const dir of cases) {
  const name = path.basename(dir);
  const cfg = JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8'));
  const io = readSafetensors(path.join(dir, 'io.safetensors'));
  const captions: string[] = cfg.captions;
  const targets: string[] = cfg.target_text_for_loss;
  const outputKeys = [...io.keys()].filter((k) => /^(score|heatmap)_/.test(k)).sort();

  for (const weights of WEIGHT_FILES.filter((w) => fs.existsSync(path.join(dir, w)))) {
    describe(`rahf/${name} (${weights})`, () => {
      let model: RewardModel;
      let pixels: tf.Tensor4D;
      const got = new Map<string, Float32Array>();

      beforeAll(async () => {
        model = await RewardModel.load(dir, { weights });
        pixels = pixelsOf(io);
        const out = model.forward(pixels, captions, { heatmaps: true });
        for (const t of SCORE_NAMES) got.set(`score_${t}`, (await out.scores[t].data()) as Float32Array);
        for (const t of HEATMAP_NAMES) got.set(`heatmap_${t}`, (await out.heatmaps![t].data()) as Float32Array);
        tf.dispose(out as unknown as tf.TensorContainer);
      });
      afterAll(() => {
        pixels?.dispose();
        model?.dispose();
      });

      test('fixture has score and heatmap outputs', () => {
        expect(outputKeys.length).toBe(SCORE_NAMES.length + HEATMAP_NAMES.length);
      });

      for (const key of outputKeys) {
        test(key, () => {
          const want = io.get(key)!;
          const have = got.get(key);
          if (!have) throw new Error(`model produced no ${key}`);
          expectClose(key, have, want.data as Float32Array);
          measured.push(`  ${name}/${weights} ${key}: ${compare(have, want.data as Float32Array).maxErr.toExponential(2)}`);
        });
      }

      test('generated_ids (greedy T5 decoding of the caption part)', async () => {
        const want = io.get('generated_ids')!;
        const [b, w] = want.shape;
        const ids = await model.generateKeywordIds(pixels, captions, w - 1);
        // HF pads finished rows to the batch's length; ours stops when all rows end, so pad to compare.
        const flat = ids.flatMap((r) => [...r, ...new Array(w - r.length).fill(model.config.t5.pad_token_id)]);
        expect(ids.length).toBe(b);
        expect(flat).toEqual([...want.data]);
      });

      test('teacher_forced_seq_loss', () => {
        const want = io.get('teacher_forced_seq_loss')!.data as Float32Array;
        const loss = model.sequenceLoss(pixels, captions, targets);
        const have = loss.dataSync() as Float32Array;
        loss.dispose();
        expectClose('teacher_forced_seq_loss', have, want);
        measured.push(`  ${name}/${weights} teacher_forced_seq_loss: ${compare(have, want).maxErr.toExponential(2)}`);
      });
    });
  }
}

// The remaining checks use the first case (any fixture RAHF model will do).
const first = cases[0];

/** Throws naming `label` unless both arrays hold the same bytes. */
function expectSameBits(label: string, a: ArrayBufferView, b: ArrayBufferView): void {
  const x = Buffer.from(a.buffer, a.byteOffset, a.byteLength);
  const y = Buffer.from(b.buffer, b.byteOffset, b.byteLength);
  if (!x.equals(y)) throw new Error(`${label}: differs after save → load`);
}

describe(`RewardModel save → load on rahf/${path.basename(first)}`, () => {
  test('round trip keeps every parameter and output bit for bit', async () => {
    const io = readSafetensors(path.join(first, 'io.safetensors'));
    const captions: string[] = JSON.parse(fs.readFileSync(path.join(first, 'config.json'), 'utf8')).captions;
    const a = await RewardModel.load(first);
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'rahf-save-'));
    try {
      await a.save(tmp);
      expect(fs.existsSync(path.join(tmp, 'tokenizer.json'))).toBe(true);
      expect(JSON.parse(fs.readFileSync(path.join(tmp, 'config.json'), 'utf8')).model_type).toBe('rahf');
      const b = await RewardModel.load(tmp);
      try {
        expect([...b.params.tensors.keys()].sort()).toEqual([...a.params.tensors.keys()].sort());
        for (const [k, v] of a.params.tensors) expectSameBits(k, b.params.get(k).dataSync(), v.dataSync());
        const pixels = pixelsOf(io);
        const oa = a.forward(pixels, captions);
        const ob = b.forward(pixels, captions);
        for (const t of SCORE_NAMES) expectSameBits(t, ob.scores[t].dataSync(), oa.scores[t].dataSync());
        for (const t of HEATMAP_NAMES) expectSameBits(t, ob.heatmaps![t].dataSync(), oa.heatmaps![t].dataSync());
        tf.dispose([pixels, oa, ob] as unknown as tf.TensorContainer);
      } finally {
        b.dispose();
      }
    } finally {
      a.dispose();
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  });
});

// Finite differences on the multi-head case: its objective is smoother than the augmented variant's
// (one encoder pass instead of one per score), so fp32 central differences settle within 1e-2.
const fdCase = cases.find((d) => JSON.parse(fs.readFileSync(path.join(d, 'config.json'), 'utf8')).multi_heads === true) ?? first;

describe(`RewardModel.scoreGrad on rahf/${path.basename(fdCase)}`, () => {
  test('gradient has the pixel shape, is finite, and matches finite differences', async () => {
    const model = await RewardModel.load(fdCase);
    const captions: string[] = JSON.parse(fs.readFileSync(path.join(fdCase, 'config.json'), 'utf8')).captions.slice(0, 2);
    // 72×72 input: the resize to the model's 64 is inside the differentiated function.
    const rng = tf.randomUniform([2, 72, 72, 3], 0, 1, 'float32', 7) as tf.Tensor4D;
    const weights = { plausibility: 1, overall: 0.5 };
    const objective = (x: tf.Tensor4D): number =>
      tf.tidy(() => {
        const { scores } = model.forward(model.preprocess(x), captions, { heatmaps: false });
        return tf.add(tf.sum(scores.plausibility), tf.mul(tf.sum(scores.overall), 0.5)).dataSync()[0];
      });
    try {
      const { scores, grad } = await model.scoreGrad(rng, captions, weights);
      expect(grad.shape).toEqual([2, 72, 72, 3]);
      const g = grad.dataSync() as Float32Array;
      grad.dispose();
      expect(g.every(Number.isFinite)).toBe(true);
      expect(g.some((v) => v !== 0)).toBe(true);
      for (const t of SCORE_NAMES) expect(scores[t].length).toBe(2);
      // Scores agree with a plain forward pass.
      const ref = tf.tidy(() => model.forward(model.preprocess(rng), captions, { heatmaps: false }).scores.plausibility.dataSync());
      expect(compare(scores.plausibility, ref).maxErr).toBeLessThan(1e-6);

      // Finite differences judged by the best agreement over several step sizes and over central, forward
      // and backward differences: the objective has ReLU kinks, so a step can straddle one (then the
      // central difference averages two slopes, 2–9 % off, while the one-sided difference on the kink-free
      // side agrees), and too small a step drowns in the objective's fp32 rounding. A correct gradient
      // agrees somewhere; a wrong one nowhere.
      const base = rng.dataSync() as Float32Array;
      const at = (move: (x: Float32Array) => void): number => {
        const x = base.slice();
        move(x);
        const t = tf.tensor4d(x, rng.shape);
        const f = objective(t);
        t.dispose();
        return f;
      };
      const f0 = objective(rng);
      const bestAgreement = (label: string, want: number, move: (x: Float32Array, eps: number) => void): number => {
        let best = { rel: Infinity, fd: NaN, how: '' };
        for (const eps of [3e-4, 1e-3, 3e-3, 1e-2]) {
          const fp = at((x) => move(x, eps));
          const fm = at((x) => move(x, -eps));
          const tries: [string, number][] = [['central', (fp - fm) / (2 * eps)], ['forward', (fp - f0) / eps], ['backward', (f0 - fm) / eps]];
          for (const [how, fd] of tries) {
            const rel = Math.abs(fd - want) / Math.max(Math.abs(want), 1e-6);
            if (rel < best.rel) best = { rel, fd, how: `${how}, step ${eps}` };
          }
        }
        measured.push(`  scoreGrad FD ${label}: grad ${want.toExponential(3)} fd ${best.fd.toExponential(3)} (${best.how}) rel ${best.rel.toExponential(2)}`);
        return best.rel;
      };
      // The pixels with the largest gradients (fp32: ~1e-2 relative is realistic)…
      const order = [...g.keys()].sort((i, j) => Math.abs(g[j]) - Math.abs(g[i])).slice(0, 3);
      for (const idx of order) expect(bestAgreement(`at pixel ${idx}`, g[idx], (x, eps) => (x[idx] += eps))).toBeLessThan(1e-2);
      // …and the directional derivative along the gradient (|g|), which moves every pixel at once and so
      // checks the whole gradient, not three of its entries.
      const norm = Math.sqrt(g.reduce((a, x) => a + x * x, 0));
      expect(bestAgreement('along the gradient', norm, (x, eps) => x.forEach((_, i) => (x[i] += (eps * g[i]) / norm)))).toBeLessThan(1e-2);
    } finally {
      rng.dispose();
      model.dispose();
    }
  });
});
