import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../backend';
import { BUNDLED_CHECKPOINT } from '../bundled';
import { RewardModel } from './model';
import { HEATMAP_PENALTY_TEMPERATURE, checkHeatmapPenalty, heatmapPenaltyReduce } from './reward-gradient';

/*
 * The heatmap penalty of the reward-gradient contract on the tfjs engine: P is the soft-max mean of the
 * implausibility map score() returns, d(−λ·P)/d pixels matches a central difference of it, and λ = 0 is the
 * penalty-free result bit for bit. (The onnxruntime engine against this one: onnx/ort-score-grad-penalty.test.ts.)
 */

beforeAll(async () => {
  await initBackend();
});

describe('checkHeatmapPenalty and heatmapPenaltyReduce', () => {
  test('off for absent or 0, one-line errors for a negative, NaN or infinite λ and a bad τ', () => {
    expect(checkHeatmapPenalty({}, 'x')).toBeUndefined();
    expect(checkHeatmapPenalty({ heatmapPenalty: 0 }, 'x')).toBeUndefined();
    expect(checkHeatmapPenalty({ heatmapPenalty: 2 }, 'x')).toEqual({ lambda: 2, temperature: HEATMAP_PENALTY_TEMPERATURE });
    expect(checkHeatmapPenalty({ heatmapPenalty: 2, heatmapTemperature: 0.5 }, 'x')).toEqual({ lambda: 2, temperature: 0.5 });
    expect(() => checkHeatmapPenalty({ heatmapPenalty: -1 }, 'scoreGrad')).toThrow(/^scoreGrad: heatmapPenalty -1: expected a finite number ≥ 0$/);
    expect(() => checkHeatmapPenalty({ heatmapPenalty: NaN }, 'x')).toThrow(/heatmapPenalty NaN/);
    expect(() => checkHeatmapPenalty({ heatmapPenalty: Infinity }, 'x')).toThrow(/heatmapPenalty Infinity/);
    expect(() => checkHeatmapPenalty({ heatmapPenalty: 1, heatmapTemperature: 0 }, 'x')).toThrow(/heatmapTemperature 0: expected a finite number > 0/);
  });

  test('P lies between the map mean (large τ) and its maximum (small τ), per image', () => {
    const map = Float32Array.from([0.1, 0.2, 0.9, 0.1, /* image 2 */ 0.5, 0.5, 0.5, 0.5]);
    const p = heatmapPenaltyReduce(map, 2);
    expect(p[0]).toBeGreaterThan(0.325);
    expect(p[0]).toBeLessThan(0.9);
    expect(p[1]).toBeCloseTo(0.5, 6);
    expect(heatmapPenaltyReduce(map, 2, 1e4)[0]).toBeCloseTo(0.325, 4);
    expect(heatmapPenaltyReduce(map, 2, 1e-3)[0]).toBeCloseTo(0.9, 4);
  });
});

describe('RewardModel.scoreGrad with a heatmap penalty', () => {
  let model: RewardModel;
  beforeAll(async () => {
    model = await RewardModel.load(BUNDLED_CHECKPOINT);
  });
  afterAll(() => model.dispose());

  const pixels = (n: number, seed: number) => Float32Array.from({ length: n }, (_, i) => 0.5 + 0.4 * Math.sin(i * 0.377 + seed) * Math.cos(i * 0.0191 + 2 * seed));

  test('λ = 0 is the penalty-free result exactly (no penalty field); P is the soft-max mean of score()’s map', async () => {
    const h = 96;
    const px = pixels(2 * h * h * 3, 1);
    const prompts = ['a red circle', 'two blue squares'];
    const w = { aesthetics: 1, overall: 1 };
    const none = await model.scoreGrad(px, prompts, w, { size: [h, h] });
    const zero = await model.scoreGrad(px, prompts, w, { size: [h, h], heatmapPenalty: 0 });
    expect(zero.penalty).toBeUndefined();
    expect(none.penalty).toBeUndefined();
    expect(Buffer.from(zero.grad.buffer).equals(Buffer.from(none.grad.buffer))).toBe(true);
    const on = await model.scoreGrad(px, prompts, w, { size: [h, h], heatmapPenalty: 3 });
    expect(on.scores.overall).toEqual(none.scores.overall);
    const fb = await model.score(px, prompts, { size: [h, h], heatmaps: true });
    const ref = fb.map((f) => heatmapPenaltyReduce(f.heatmaps!.implausibility.data, 1)[0]);
    for (let i = 0; i < 2; i++) expect(on.penalty![i]).toBeCloseTo(ref[i], 5);
    await expect(model.scoreGrad(px, prompts, w, { size: [h, h], heatmapPenalty: -0.5 })).rejects.toThrow(/heatmapPenalty -0.5/);
  });

  test('the penalty’s gradient matches a central difference of −λ·P', async () => {
    // At the model size (a resize is linear and would not change the check); at 64² the central difference of this
    // map still moves by ±20 % between ε = 1e-2 and 1e-3 (ReLU kinks within reach), at 128² it is steady.
    const h = 128;
    const px = pixels(h * h * 3, 3);
    const prompt = ['a green triangle'];
    const lambda = 2;
    const tau = 0.05;
    const w = { overall: 1 };
    const on = await model.scoreGrad(px, prompt, w, { size: [h, h], heatmapPenalty: lambda, heatmapTemperature: tau });
    const off = await model.scoreGrad(px, prompt, w, { size: [h, h] });
    const dir = pixels(px.length, 9).map((v) => v - 0.5);
    let analytic = 0;
    for (let i = 0; i < px.length; i++) analytic += (on.grad[i] - off.grad[i]) * dir[i];
    const P = async (eps: number) => {
      const x = px.map((v, i) => v + eps * dir[i]);
      const fb = await model.score(x, prompt, { size: [h, h], heatmaps: true });
      return heatmapPenaltyReduce(fb[0].heatmaps!.implausibility.data, 1, tau)[0];
    };
    const eps = 3e-3;
    const numeric = (-lambda * ((await P(eps)) - (await P(-eps)))) / (2 * eps);
    expect(Math.abs(numeric)).toBeGreaterThan(1e-4); // the penalty actually moves
    expect(Math.abs(analytic - numeric)).toBeLessThan(0.03 * Math.abs(numeric));
  });

  test('a tensor input keeps the gradient as a tensor and returns the penalty too', async () => {
    const s = model.config.imageSize;
    const x = tf.tensor4d(pixels(s * s * 3, 5), [1, s, s, 3]);
    const r = await model.scoreGrad(x, ['a cat'], { aesthetics: 1 }, { heatmapPenalty: 1 });
    x.dispose();
    expect(r.grad.shape).toEqual([1, s, s, 3]);
    expect(r.penalty).toHaveLength(1);
    r.grad.dispose();
  });
});
