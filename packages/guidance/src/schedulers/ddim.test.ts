import { GaussianGenerator } from '../random';
import { DDIMScheduler } from './ddim';
import { DDPMScheduler } from './ddpm';

const SD = { beta_schedule: 'scaled_linear', beta_start: 0.00085, beta_end: 0.012, steps_offset: 1, clip_sample: false, set_alpha_to_one: false } as const;
const gauss = (seed: number, n: number) => new GaussianGenerator(seed).normal(n);

function maxRel(a: Float32Array, b: Float32Array): number {
  let scale = 0;
  let err = 0;
  for (let i = 0; i < a.length; i++) {
    scale = Math.max(scale, Math.abs(b[i]));
    err = Math.max(err, Math.abs(a[i] - b[i]));
  }
  return err / scale;
}

test('DDIM with η = 1 is DDPM: the same chain from the same noise', () => {
  // DDPM ends on ᾱ = 1 (its `one`), as DDIM does with set_alpha_to_one.
  const ddim = new DDIMScheduler({ ...SD, set_alpha_to_one: true });
  const ddpm = new DDPMScheduler(SD);
  ddim.setTimesteps(20);
  ddpm.setTimesteps(20);
  expect(ddim.timesteps).toEqual(ddpm.timesteps);
  let a: Float32Array = gauss(1, 256);
  let b = a;
  ddim.timesteps.forEach((t, i) => {
    const eps = gauss(100 + i, 256); // a stand-in model output, the same for both
    const noise = gauss(200 + i, 256);
    a = ddim.step(eps, t, a, { eta: 1, noise }).prevSample;
    b = ddpm.step(eps, t, b, { noise }).prevSample;
  });
  expect(maxRel(a, b)).toBeLessThan(1e-5);
});

test('η > 0 adds σ_t(η)·noise to the deterministic step; the scheduler-wide eta is the default', () => {
  const s = new DDIMScheduler(SD);
  s.setTimesteps(10);
  const t = s.timesteps[4];
  const x = gauss(1, 64);
  const eps = gauss(2, 64);
  const noise = gauss(3, 64);
  const det = s.step(eps, t, x).prevSample;
  const half = s.step(eps, t, x, { eta: 0.5, noise }).prevSample;
  s.eta = 0.5;
  expect(s.step(eps, t, x, { noise }).prevSample).toEqual(half);
  const a = s.alphasCumprod[t];
  const ap = s.alphasCumprod[t - 100];
  const std = 0.5 * Math.sqrt(((1 - ap) / (1 - a)) * (1 - a / ap));
  const x0 = x.map((v, i) => (v - Math.sqrt(1 - a) * eps[i]) / Math.sqrt(a));
  const want = x0.map((v, i) => Math.sqrt(ap) * v + Math.sqrt(1 - ap - std * std) * eps[i] + std * noise[i]);
  expect(maxRel(half, want)).toBeLessThan(1e-5);
  expect(maxRel(half, det)).toBeGreaterThan(1e-3);
});

test('set_alpha_to_one: the last step returns x̂₀ itself; otherwise it lands on ᾱ₀', () => {
  const x = gauss(4, 64);
  const eps = gauss(5, 64);
  const one = new DDIMScheduler({ ...SD, set_alpha_to_one: true });
  one.setTimesteps(10);
  const last = one.timesteps[9];
  expect(last).toBe(1);
  const out = one.step(eps, last, x);
  expect(out.prevSample).toEqual(out.predOriginalSample);
  const zero = new DDIMScheduler(SD);
  zero.setTimesteps(10);
  expect(zero.finalAlphaCumprod).toBe(zero.alphasCumprod[0]);
  expect(zero.step(eps, last, x).prevSample).not.toEqual(out.prevSample);
});

test('clip_sample clamps x̂₀ to ±clip_sample_range before the step uses it', () => {
  const s = new DDIMScheduler({ ...SD, clip_sample: true, clip_sample_range: 0.5 });
  s.setTimesteps(10);
  const out = s.step(gauss(6, 64), s.timesteps[0], gauss(7, 64).map((v) => 3 * v));
  expect(Math.max(...out.predOriginalSample.map(Math.abs))).toBe(0.5);
});

test('previous timestep is t − N // n whatever the spacing (diffusers quirk kept)', () => {
  const s = new DDIMScheduler({ ...SD, timestep_spacing: 'trailing' });
  s.setTimesteps(16);
  expect(s.timesteps[1]).toBe(937);
  expect(s.previousTimestep(999)).toBe(999 - 62);
});
