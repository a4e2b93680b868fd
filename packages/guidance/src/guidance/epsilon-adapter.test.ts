import { DDIMScheduler, predictedOriginal, modelOutputFromEpsilon, predictedEpsilon } from '../schedulers';
import { LinearDecoder, QuadraticReward } from '../testing/guidance-fakes';
import { rewardGradientAtX0 } from './core';
import { guideEpsilon } from './epsilon-adapter';
import { rewardGuidance } from './reward-guidance';

const rand = (n: number, seed: number) => Float32Array.from({ length: n }, (_, i) => Math.sin(i * 12.9898 + seed * 78.233));

test('ε − s·√(1−ᾱ)·g_v moves x̂₀ by exactly s·σ²·∇x̂₀ R, whatever the prediction type', async () => {
  const shape: [number, number, number, number] = [1, 4, 4, 4];
  const sample = rand(64, 1);
  const eps = rand(64, 2);
  for (const type of ['epsilon', 'v_prediction', 'sample'] as const) {
    const scheduler = new DDIMScheduler({ beta_schedule: 'scaled_linear', beta_start: 0.00085, beta_end: 0.012, prediction_type: type });
    scheduler.setTimesteps(10);
    const t = scheduler.timesteps[3];
    const level = scheduler.noiseLevel(t);
    const output = modelOutputFromEpsilon(eps, sample, level, type);
    const reward = new QuadraticReward();
    const decoder = new LinearDecoder();
    const guide = rewardGuidance({ reward, decoder, weights: { overall: 1 }, scale: 0.7 });
    const { modelOutput } = await guide.step({ step: 3, numSteps: 10, t, sample, shape, modelOutput: output, scheduler, prompts: ['p'] });
    const x0 = predictedOriginal(output, sample, level, type);
    const g0 = (await rewardGradientAtX0({ reward, decoder, weights: { overall: 1 }, decodeDownscale: 1 }, x0, shape, ['p'])).grad;
    const moved = predictedOriginal(modelOutput, sample, level, type);
    const s2 = level.sigma ** 2;
    for (const i of [0, 5, 33, 63]) expect(moved[i] - x0[i]).toBeCloseTo(0.7 * s2 * g0[i], 4);
    // And ε moved by −s·√(1−ᾱ)·g0/√ᾱ.
    const e2 = predictedEpsilon(modelOutput, sample, level, type);
    for (const i of [1, 40]) expect(e2[i] - eps[i]).toBeCloseTo((-0.7 * Math.sqrt(1 - level.alphaBar) * g0[i]) / Math.sqrt(level.alphaBar), 4);
  }
});

test('guideEpsilon is the textbook formula and refuses mismatched sizes', () => {
  const out = guideEpsilon(Float32Array.from([1, 2]), Float32Array.from([0.5, -1]), 2, { alphaBar: 0.36, sigma: 4 / 3, sampleScale: 1 });
  expect(Array.from(out)).toEqual([1 - 2 * 0.8 * 0.5, 2 + 2 * 0.8].map(Math.fround));
  expect(() => guideEpsilon(new Float32Array(2), new Float32Array(3), 1, { alphaBar: 0.5, sigma: 1, sampleScale: 1 })).toThrow(RangeError);
});
