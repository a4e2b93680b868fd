import { GaussianGenerator } from '../random';
import { EulerDiscreteScheduler, karrasSigmas, sigmaToT } from './euler-discrete';

const SD = { beta_schedule: 'scaled_linear', beta_start: 0.00085, beta_end: 0.012, steps_offset: 1 } as const;
const gauss = (seed: number, n: number) => new GaussianGenerator(seed).normal(n);

test('defaults to linspace spacing: σ interpolated between training sigmas, init σ = σ_max, final σ = 0', () => {
  const s = new EulerDiscreteScheduler(SD);
  s.setTimesteps(30);
  expect(s.timesteps[0]).toBe(999);
  expect(s.timesteps[29]).toBe(0);
  const t1 = s.timesteps[1];
  const j = Math.floor(t1);
  const want = s.trainSigmas[j] + (s.trainSigmas[j + 1] - s.trainSigmas[j]) * (t1 - j);
  expect(s.sigmas[1]).toBe(Math.fround(want));
  expect(s.sigmas).toHaveLength(31);
  expect(s.sigmas[30]).toBe(0);
  expect(s.initNoiseSigma).toBe(s.sigmas[0]);
  // leading spacing: the first latents get √(σ_max² + 1).
  const lead = new EulerDiscreteScheduler({ ...SD, timestep_spacing: 'leading' });
  lead.setTimesteps(30);
  expect(lead.initNoiseSigma).toBeCloseTo(Math.sqrt(lead.sigmas[0] ** 2 + 1), 5);
});

test('one step is x + (x − x̂₀)/σ · (σ_next − σ), and the model sees x / √(σ² + 1)', () => {
  const s = new EulerDiscreteScheduler(SD);
  s.setTimesteps(10);
  const x = gauss(1, 32);
  const eps = gauss(2, 32);
  const t = s.timesteps[0];
  const [sigma, next] = [s.sigmas[0], s.sigmas[1]];
  const scaled = s.scaleModelInput(x, t);
  for (let i = 0; i < 32; i++) expect(scaled[i]).toBeCloseTo(x[i] / Math.sqrt(sigma * sigma + 1), 6);
  const out = s.step(eps, t, x);
  for (let i = 0; i < 32; i++) expect(out.prevSample[i]).toBeCloseTo(x[i] + eps[i] * (next - sigma), 4);
  expect(s.stepIndex).toBe(1);
});

test('step index: the second of two equal timesteps, or the begin index (img2img)', () => {
  const s = new EulerDiscreteScheduler(SD);
  s.setTimesteps(10);
  s.timesteps = [500, 500, 250, 0];
  s.sigmas = [3, 2, 1, 0.5, 0];
  expect(s.indexForTimestep(500)).toBe(1);
  s.setBeginIndex(2);
  s.scaleModelInput(new Float32Array(1), 500);
  expect(s.stepIndex).toBe(2);
  s.setTimesteps(10);
  expect(s.stepIndex).toBeUndefined();
  expect(() => s.indexForTimestep(123)).toThrow(/timestep 123 is not in this schedule/);
});

test('Karras σ (ρ = 7) between σ_min and σ_max, timesteps by log-σ interpolation', () => {
  const [lo, hi] = [0.1, 10];
  const mid = ((hi ** (1 / 7) + lo ** (1 / 7)) / 2) ** 7;
  const k = karrasSigmas(lo, hi, 3);
  expect(k[0]).toBeCloseTo(hi, 12);
  expect(k[1]).toBeCloseTo(mid, 12);
  expect(k[2]).toBeCloseTo(lo, 12);
  const s = new EulerDiscreteScheduler({ ...SD, use_karras_sigmas: true, sigma_min: lo, sigma_max: hi });
  s.setTimesteps(3);
  expect(s.sigmas.map((v) => +v.toFixed(5))).toEqual([hi, +Math.fround(mid).toFixed(5), lo, 0]);
  const logs = [...s.trainSigmas].map((v) => Math.log(v));
  expect(sigmaToT(s.trainSigmas[500], logs)).toBeCloseTo(500, 6);
  expect(sigmaToT(Math.exp((logs[200] + logs[201]) / 2), logs)).toBeCloseTo(200.5, 6);
  for (let i = 0; i < 3; i++) expect(s.timesteps[i]).toBeCloseTo(sigmaToT(s.sigmas[i], logs), 2);
  expect(s.timesteps[0]).toBeGreaterThan(s.timesteps[1]);
});

test('exponential σ, final σ_min, and the one-of check', () => {
  const e = new EulerDiscreteScheduler({ ...SD, use_exponential_sigmas: true, sigma_min: 0.5, sigma_max: 8, final_sigmas_type: 'sigma_min' });
  e.setTimesteps(5);
  expect(e.sigmas.slice(0, 5).map((v) => +v.toFixed(4))).toEqual([8, 4, 2, 1, 0.5]);
  const a0 = e.alphasCumprod[0];
  expect(e.sigmas[5]).toBeCloseTo(Math.sqrt((1 - a0) / a0), 6);
  expect(() => new EulerDiscreteScheduler({ use_karras_sigmas: true, use_exponential_sigmas: true }, { source: 'cfg.json' })).toThrow(
    'cfg.json: use_karras_sigmas and use_exponential_sigmas are both set; choose one',
  );
  expect(() => new EulerDiscreteScheduler({ use_beta_sigmas: true })).toThrow(/use_beta_sigmas true is not supported/);
});

test('continuous timesteps for v-prediction are 0.25·log σ', () => {
  const s = new EulerDiscreteScheduler({ ...SD, timestep_type: 'continuous', prediction_type: 'v_prediction' });
  s.setTimesteps(4);
  s.timesteps.forEach((t, i) => expect(t).toBeCloseTo(0.25 * Math.log(s.sigmas[i]), 5));
  expect(s.noiseLevel(s.timesteps[2]).sigma).toBe(s.sigmas[2]);
});
