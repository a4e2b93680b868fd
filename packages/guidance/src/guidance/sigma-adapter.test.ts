import { EulerDiscreteScheduler, predictedOriginal } from '../schedulers';
import { LinearDecoder, QuadraticReward } from '../testing/guidance-fakes';
import { rewardGuidance } from './reward-guidance';

const rand = (n: number, seed: number) => Float32Array.from({ length: n }, (_, i) => Math.sin(i * 12.9898 + seed * 78.233));

test('σ-space denoised + s·σ²·∇ is the same update the ε adapter makes inside an Euler scheduler', async () => {
  const scheduler = new EulerDiscreteScheduler({ beta_schedule: 'scaled_linear', beta_start: 0.00085, beta_end: 0.012 });
  scheduler.setTimesteps(12);
  const shape: [number, number, number, number] = [2, 4, 4, 4];
  const step = 4;
  const t = scheduler.timesteps[step];
  const level = scheduler.noiseLevel(t);
  expect(level.sampleScale).toBeGreaterThan(1);
  const x = rand(128, 1).map((v) => v * level.sampleScale);
  const eps = rand(128, 2);
  const opts = { weights: { aesthetics: 1, overall: 1 }, scale: 0.3, normalize: true } as const;
  const viaEps = rewardGuidance({ reward: new QuadraticReward(), decoder: new LinearDecoder(), ...opts });
  const { modelOutput } = await viaEps.step({ step, numSteps: 12, t, sample: x, shape, modelOutput: eps, scheduler, prompts: ['a', 'b'] });
  const denoised = predictedOriginal(eps, x, level, 'epsilon');
  const viaSigma = rewardGuidance({ reward: new QuadraticReward(), decoder: new LinearDecoder(), ...opts });
  const guided = await viaSigma.denoised({ step, numSteps: 12, sigma: level.sigma, sample: x, denoised, shape, prompts: ['a', 'b'] });
  const fromEps = predictedOriginal(modelOutput, x, level, 'epsilon');
  let maxDiff = 0;
  let moved = 0;
  for (let i = 0; i < guided.length; i++) {
    maxDiff = Math.max(maxDiff, Math.abs(guided[i] - fromEps[i]));
    moved = Math.max(moved, Math.abs(guided[i] - denoised[i]));
  }
  expect(moved).toBeGreaterThan(1e-2);
  expect(maxDiff).toBeLessThan(1e-5 * Math.max(1, moved));
});
