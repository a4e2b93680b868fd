import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../backend';
import { BUNDLED_TOKENIZER } from '../bundled';
import { SCORE_NAMES, ScoreName } from '../rahf/config';
import { RewardModel } from '../rahf/model';
import { OrtScoreGrad } from './grad-scorer';

/*
 * The ORT gradient path against tfjs: RewardModel.scoreGrad and OrtScoreGrad.scoreGrad on the same
 * random tiny model, pixels and prompts must agree to 1e-3 relative (max |Δ| / max |tfjs|), at the model
 * size and through the in-graph resize, for the multi-head and the augmented-prompt variants.
 */

beforeAll(async () => {
  await initBackend();
});

function relErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let d = 0;
  let m = 0;
  for (let i = 0; i < b.length; i++) {
    const e = Math.abs(a[i] - b[i]);
    if (!(e <= d)) d = Number.isNaN(e) ? Infinity : e;
    m = Math.max(m, Math.abs(b[i]));
  }
  return d / m;
}

function pixels(n: number, seed: number): Float32Array {
  return Float32Array.from({ length: n }, (_, i) => 0.5 + 0.45 * Math.sin(i * 0.731 + seed) * Math.cos(i * 0.0173));
}

async function compare(model: RewardModel, ort: OrtScoreGrad, b: number, h: number, w: number, prompts: string[], weights: Partial<Record<ScoreName, number>>) {
  const px = pixels(b * h * w * 3, h + w);
  const x = tf.tensor4d(px, [b, h, w, 3]);
  const ref = await model.scoreGrad(x, prompts, weights);
  x.dispose();
  const refGrad = (await ref.grad.data()) as Float32Array;
  ref.grad.dispose();
  const got = await ort.scoreGrad(px, prompts, weights, [h, w]);
  for (const t of SCORE_NAMES) expect(relErr(got.scores[t], ref.scores[t])).toBeLessThan(1e-4);
  const err = relErr(got.grad, refGrad);
  expect(Math.max(...Array.from(refGrad, Math.abs))).toBeGreaterThan(0); // a gradient that actually flows
  expect(err).toBeLessThan(1e-3);
}

describe('OrtScoreGrad matches RewardModel.scoreGrad', () => {
  test('multi-head tiny model: model size (batch 2, two weighted scores) and a resized input', async () => {
    const model = await RewardModel.fromPreset('tiny', { tokenizer: BUNDLED_TOKENIZER, seed: 3 });
    const g = new OrtScoreGrad(model, { threads: 2 });
    try {
      await compare(model, g, 2, 128, 128, ['a red cat on a sofa', 'two green apples'], { aesthetics: 1, overall: 0.5 });
      await compare(model, g, 1, 96, 160, ['a blue dog'], { plausibility: -2 });
    } finally {
      await g.dispose();
      model.dispose();
    }
  });

  test('augmented-prompt tiny model', async () => {
    const model = await RewardModel.fromPreset('tiny', { tokenizer: BUNDLED_TOKENIZER, seed: 4, variant: 'augmented_prompt' });
    const g = new OrtScoreGrad(model, { threads: 2 });
    try {
      await compare(model, g, 1, 128, 128, ['a house by a lake'], { alignment: 1, overall: 1 });
    } finally {
      await g.dispose();
      model.dispose();
    }
  });

  test('bad arguments fail with one line', async () => {
    const model = await RewardModel.fromPreset('tiny', { tokenizer: BUNDLED_TOKENIZER, seed: 5 });
    const g = new OrtScoreGrad(model, { threads: 1 });
    try {
      await expect(g.scoreGrad(new Float32Array(10), ['a'], { overall: 1 })).rejects.toThrow(/pixels hold 10 values, expected 1×128×128×3/);
      await expect(g.scoreGrad(new Float32Array(128 * 128 * 3), ['a'], {})).rejects.toThrow(/at least one score/);
      await expect(g.scoreGrad(new Float32Array(128 * 128 * 3), ['a'], { beauty: 1 } as never)).rejects.toThrow(/unknown score "beauty"/);
    } finally {
      await g.dispose();
      model.dispose();
    }
  });
});
