import { GaussianGenerator } from '../random';
import { DDPMScheduler } from './ddpm';

const gauss = (seed: number, n: number) => new GaussianGenerator(seed).normal(n);
const base = { beta_schedule: 'linear', clip_sample: false } as const;

test('noise of the variance type is added at every step but t = 0', () => {
  for (const variance_type of ['fixed_small', 'fixed_small_log', 'fixed_large'] as const) {
    const s = new DDPMScheduler({ ...base, variance_type });
    s.setTimesteps(10);
    const x = gauss(1, 64);
    const m = gauss(2, 64);
    const noise = gauss(3, 64);
    const t = s.timesteps[3];
    const prevT = s.timesteps[4];
    const clean = s.step(m, t, x, { noise: new Float32Array(64) }).prevSample;
    const noisy = s.step(m, t, x, { noise }).prevSample;
    const a = s.alphasCumprod[t];
    const ap = s.alphasCumprod[prevT];
    const beta = 1 - a / ap;
    const std = variance_type === 'fixed_large' ? Math.sqrt(beta) : Math.sqrt(((1 - ap) / (1 - a)) * beta);
    for (let i = 0; i < 64; i++) expect(noisy[i] - clean[i]).toBeCloseTo(std * noise[i], 5);
    const last = s.timesteps[9];
    expect(last).toBe(0);
    expect(s.step(m, last, x, { noise }).prevSample).toEqual(s.step(m, last, x, { noise: gauss(9, 64) }).prevSample);
  }
});

test('the posterior mean: x̂₀ and x_t weighted by eq. 7 of Ho et al.', () => {
  const s = new DDPMScheduler({ ...base, prediction_type: 'sample' });
  s.setTimesteps(50);
  const [t, prevT] = [s.timesteps[10], s.timesteps[11]];
  expect(s.previousTimestep(t)).toBe(prevT);
  const x = gauss(4, 16);
  const x0 = gauss(5, 16);
  const out = s.step(x0, t, x, { noise: new Float32Array(16) });
  const a = s.alphasCumprod[t];
  const ap = s.alphasCumprod[prevT];
  for (let i = 0; i < 16; i++) {
    const want = ((Math.sqrt(ap) * (1 - a / ap)) / (1 - a)) * x0[i] + ((Math.sqrt(a / ap) * (1 - ap)) / (1 - a)) * x[i];
    expect(out.prevSample[i]).toBeCloseTo(want, 5);
  }
});

test('learned variances and thresholding are refused naming the key', () => {
  expect(() => new DDPMScheduler({ variance_type: 'learned_range' as never }, { source: 'x/scheduler_config.json' })).toThrow(
    'x/scheduler_config.json: variance_type "learned_range" is not one of fixed_small, fixed_small_log, fixed_large',
  );
  expect(() => new DDPMScheduler({ thresholding: true })).toThrow(/thresholding true is not supported/);
});
