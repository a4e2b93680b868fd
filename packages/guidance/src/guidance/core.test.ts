import { UserError, type ScoreGradOptions, type ScoreGradResult, type ScoreWeights } from '@richhf/reward';
import { avgPool, avgPoolAdjoint, rewardGradientAtX0, shapeGradient } from './core';
import { LinearDecoder, QuadraticReward } from '../testing/guidance-fakes';

/** QuadraticReward plus a stand-in heatmap penalty P = mean(green²) per image, honouring `heatmapPenalty`. */
class PenalisedReward extends QuadraticReward {
  options: ScoreGradOptions[] = [];
  override async scoreGrad(pixels: Float32Array, prompts: string[], weights: ScoreWeights, opts: ScoreGradOptions = {}): Promise<ScoreGradResult> {
    this.options.push(opts);
    const r = await super.scoreGrad(pixels, prompts, weights, opts);
    const l = opts.heatmapPenalty ?? 0;
    if (l === 0) return r;
    const per = pixels.length / prompts.length;
    const penalty = new Float32Array(prompts.length);
    for (let j = 1; j < pixels.length; j += 3) {
      penalty[Math.floor(j / per)] += (pixels[j] * pixels[j]) / (per / 3);
      r.grad[j] -= (l * 2 * pixels[j]) / (per / 3);
    }
    return { ...r, penalty };
  }
}

const rand = (n: number, seed: number) => Float32Array.from({ length: n }, (_, i) => Math.sin(i * 12.9898 + seed * 78.233) * 0.8);

test('average pooling and its adjoint satisfy <P x, y> = <x, Pᵀ y>', () => {
  const shape: [number, number, number, number] = [2, 3, 4, 6];
  const x = rand(2 * 3 * 4 * 6, 1);
  const p = avgPool(x, shape, 2);
  expect(p.shape).toEqual([2, 3, 2, 3]);
  const y = rand(p.data.length, 2);
  const lhs = p.data.reduce((s, v, i) => s + v * y[i], 0);
  const back = avgPoolAdjoint(y, shape, 2);
  const rhs = x.reduce((s, v, i) => s + v * back[i], 0);
  expect(lhs).toBeCloseTo(rhs, 5);
  expect(() => avgPool(x, [2, 3, 4, 6], 4)).toThrow(/not a multiple of it/);
});

test('d reward / d x̂₀ matches central finite differences, pooled or not', async () => {
  const shape: [number, number, number, number] = [2, 4, 4, 4];
  const x0 = rand(2 * 64, 3);
  const weights = { aesthetics: 1, plausibility: 0.5 };
  for (const f of [1, 2]) {
    const parts = { reward: new QuadraticReward(), decoder: new LinearDecoder(), weights, decodeDownscale: f };
    const r = await rewardGradientAtX0(parts, x0, shape, ['a', 'b']);
    expect(r.finite).toEqual([true, true]);
    expect(r.pixelShape).toEqual([2, 8 / f, 8 / f, 3]);
    const total = async (x: Float32Array) => {
      const q = await rewardGradientAtX0(parts, x, shape, ['a', 'b']);
      return q.reward.reduce((s, v) => s + v, 0) * 1.5; // reward is the weighted mean: Σw·score / Σ|w|
    };
    for (const i of [0, 17, 70, 100]) {
      const h = 1e-2;
      const up = Float32Array.from(x0);
      const dn = Float32Array.from(x0);
      up[i] += h;
      dn[i] -= h;
      expect(r.grad[i]).toBeCloseTo(((await total(up)) - (await total(dn))) / (2 * h), 4);
    }
  }
});

test('with a heatmap penalty λ the gradient is that of Σ w·score − λ·P (finite differences); λ = 0 asks for none', async () => {
  const shape: [number, number, number, number] = [2, 4, 4, 4];
  const x0 = rand(2 * 64, 5);
  const reward = new PenalisedReward();
  const parts = { reward, decoder: new LinearDecoder(), weights: { overall: 1 }, heatmapPenalty: 4, decodeDownscale: 1 };
  const r = await rewardGradientAtX0(parts, x0, shape, ['a', 'b']);
  expect(reward.options[0]).toEqual({ size: [8, 8], heatmapPenalty: 4 });
  expect(r.penalty).toHaveLength(2);
  const objective = async (x: Float32Array) => {
    const q = await rewardGradientAtX0(parts, x, shape, ['a', 'b']);
    return q.reward.reduce((s, v) => s + v, 0) - 4 * q.penalty!.reduce((s, v) => s + v, 0);
  };
  for (const i of [16, 20, 90]) {
    const h = 1e-2;
    const up = Float32Array.from(x0);
    const dn = Float32Array.from(x0);
    up[i] += h;
    dn[i] -= h;
    expect(r.grad[i]).toBeCloseTo(((await objective(up)) - (await objective(dn))) / (2 * h), 4);
  }
  const off = await rewardGradientAtX0({ ...parts, heatmapPenalty: 0 }, x0, shape, ['a', 'b']);
  expect(reward.options.at(-1)).toEqual({ size: [8, 8] });
  expect(off.penalty).toBeUndefined();
  // A reward that ignores the option is a clear error, not a silently unpenalised run.
  await expect(rewardGradientAtX0({ ...parts, reward: new QuadraticReward() }, x0, shape, ['a', 'b'])).rejects.toThrow(
    new UserError('heatmapPenalty 4: the reward (engine ort) returned no penalty; it does not implement the heatmap penalty'),
  );
});

test('a non-finite gradient zeroes that image only and is reported', async () => {
  const parts = { reward: new QuadraticReward(undefined, (_, i) => i === 1), decoder: new LinearDecoder(), weights: { overall: 1 }, decodeDownscale: 1 };
  const r = await rewardGradientAtX0(parts, rand(128, 4), [2, 4, 4, 4], ['a', 'b']);
  expect(r.finite).toEqual([true, false]);
  expect(r.grad.subarray(64).every((v) => v === 0)).toBe(true);
  expect(r.grad.subarray(0, 64).some((v) => v !== 0)).toBe(true);
});

test('normalize rescales each image to the ε norm, clip caps the root-mean-square', () => {
  const g = Float32Array.from([3, 4, 0, 0, 0.1, 0.1, 0.1, 0.1]);
  const eps = Float32Array.from([1, 1, 1, 1, 2, 2, 2, 2]);
  const rms = (a: Float32Array) => Math.sqrt(a.reduce((s, v) => s + v * v, 0) / a.length);
  const n = shapeGradient(Float32Array.from(g), eps, 2, { normalize: true });
  expect(rms(n.subarray(0, 4))).toBeCloseTo(1, 6);
  expect(rms(n.subarray(4))).toBeCloseTo(2, 6);
  const c = shapeGradient(Float32Array.from(g), eps, 2, { clip: 1 });
  expect(rms(c.subarray(0, 4))).toBeCloseTo(1, 6);
  expect(Array.from(c.subarray(4))).toEqual(Array.from(g.subarray(4))); // under the cap: untouched
  expect(shapeGradient(new Float32Array(4), eps.subarray(0, 4), 1, { normalize: true }).every((v) => v === 0)).toBe(true);
});
