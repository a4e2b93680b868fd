import { GaussianGenerator } from '../random';
import { createScheduler, SCHEDULER_NAMES } from './index';
import { type SchedulerConfigJson } from './config';
import { modelOutputFromEpsilon, predictedEpsilon, predictedOriginal, type Scheduler } from './scheduler';

// The contract every scheduler keeps, checked for all four on a spread of diffusers configs.

const SD = { beta_schedule: 'scaled_linear', beta_start: 0.00085, beta_end: 0.012, steps_offset: 1, timestep_spacing: 'leading' };
const CONFIGS: Record<string, SchedulerConfigJson> = {
  'SD 1.x': { ...SD, clip_sample: false, set_alpha_to_one: false },
  'linear / trailing': { beta_schedule: 'linear', timestep_spacing: 'trailing' },
  'cosine / linspace / v': { beta_schedule: 'squaredcos_cap_v2', timestep_spacing: 'linspace', prediction_type: 'v_prediction' },
  'SD / sample prediction': { ...SD, prediction_type: 'sample' },
  'zero terminal SNR / trailing / v': { ...SD, rescale_betas_zero_snr: true, timestep_spacing: 'trailing', prediction_type: 'v_prediction' },
};

const gauss = (seed: number, n: number) => new GaussianGenerator(seed).normal(n);
const finite = (a: Float32Array) => a.every((v) => Number.isFinite(v));

function maxRel(a: Float32Array, b: Float32Array): number {
  let scale = 0;
  let err = 0;
  for (let i = 0; i < a.length; i++) {
    scale = Math.max(scale, Math.abs(b[i]));
    err = Math.max(err, Math.abs(a[i] - b[i]));
  }
  return err / Math.max(scale, 1e-30);
}

describe.each(SCHEDULER_NAMES.flatMap((name) => Object.entries(CONFIGS).map(([label, cfg]) => [name, label, cfg] as const)))('%s, %s', (name, _label, cfg) => {
  const make = (extra: SchedulerConfigJson = {}): Scheduler => createScheduler(name, { ...cfg, ...extra });
  const n = 64; // a [1, 4, 4, 4] latent

  test.each([1, 2, 10, 50])('a zero model output gives finite samples at every one of %i steps', (steps) => {
    const s = make();
    s.setTimesteps(steps);
    expect(s.timesteps).toHaveLength(steps);
    let x: Float32Array = gauss(1, n).map((v) => v * s.initNoiseSigma);
    const zero = new Float32Array(n);
    for (const [i, t] of s.timesteps.entries()) {
      const out = s.step(zero, t, x, { noise: gauss(100 + i, n) });
      expect([t, finite(out.prevSample), finite(out.predOriginalSample), finite(s.scaleModelInput(x, t))]).toEqual([t, true, true, true]);
      x = out.prevSample;
    }
  });

  test('the noise level describes addNoise: sample = sampleScale·(√ᾱ·x₀ + √(1−ᾱ)·ε)', () => {
    const s = make();
    s.setTimesteps(10);
    const x0 = gauss(2, n);
    const eps = gauss(3, n);
    for (const t of s.timesteps) {
      const lv = s.noiseLevel(t);
      expect(lv.sigma).toBeCloseTo(Math.sqrt((1 - lv.alphaBar) / lv.alphaBar), 4);
      const want = x0.map((v, i) => lv.sampleScale * (Math.sqrt(lv.alphaBar) * v + Math.sqrt(1 - lv.alphaBar) * eps[i]));
      expect(maxRel(s.addNoise(x0, eps, t), want)).toBeLessThan(1e-5);
    }
  });

  test("the hook conversions agree with step's x̂₀, and ε ↔ model output round-trips", () => {
    const s = make({ clip_sample: false });
    s.setTimesteps(10);
    const t = s.timesteps[3];
    const x = gauss(4, n);
    const m = gauss(5, n);
    const lv = s.noiseLevel(t);
    const x0 = predictedOriginal(m, x, lv, s.predictionType);
    const out = s.step(m, t, x, { noise: new Float32Array(n) });
    expect(maxRel(out.predOriginalSample, x0)).toBeLessThan(1e-5);
    const back = modelOutputFromEpsilon(predictedEpsilon(m, x, lv, s.predictionType), x, lv, s.predictionType);
    expect(maxRel(back, m)).toBeLessThan(1e-4);
  });

  test('epsilon, v and sample parametrisations of one prediction step to the same sample', () => {
    const results = (['epsilon', 'v_prediction', 'sample'] as const).map((type) => {
      const s = make({ prediction_type: type, clip_sample: false });
      s.setTimesteps(10);
      const t = s.timesteps[2];
      const lv = s.noiseLevel(t);
      const x = s.addNoise(gauss(6, n), gauss(7, n), t);
      s.scaleModelInput(x, t);
      const eps = gauss(8, n); // the "model's" noise estimate
      return s.step(modelOutputFromEpsilon(eps, x, lv, type), t, x, { noise: gauss(9, n) }).prevSample;
    });
    expect(maxRel(results[1], results[0])).toBeLessThan(1e-4);
    expect(maxRel(results[2], results[0])).toBeLessThan(1e-4);
  });

  test('step noise: the caller’s, else the generator’s, item by item with a list of generators', () => {
    const s = make();
    s.setTimesteps(10);
    const t = s.timesteps[1];
    const x = gauss(10, 2 * n);
    const m = gauss(11, 2 * n);
    const run = (opts: Parameters<Scheduler['step']>[3]) => {
      const fresh = make();
      fresh.setTimesteps(10);
      fresh.scaleModelInput(x, t);
      return fresh.step(m, t, x, opts).prevSample;
    };
    expect(run({ noise: gauss(12, 2 * n) })).toEqual(run({ noise: gauss(12, 2 * n) }));
    expect(run({})).toEqual(run({})); // the scheduler's own generator, seed 0
    const pair = run({ generator: [new GaussianGenerator(21), new GaussianGenerator(22)] });
    const stream = new Float32Array(2 * n);
    stream.set(new GaussianGenerator(21).normal(n), 0);
    stream.set(new GaussianGenerator(22).normal(n), n);
    expect(pair).toEqual(run({ noise: stream }));
    expect(s.step(m, t, x, { noise: new Float32Array(2 * n) }).prevSample).toBeInstanceOf(Float32Array);
  });
});

test('bad step arguments are refused with the reason', () => {
  const s = createScheduler('ddim', CONFIGS['SD 1.x']);
  expect(() => s.setTimesteps(0)).toThrow('steps 0: expected an integer ≥ 1');
  expect(() => s.setTimesteps(1001)).toThrow(/more than the 1000 training timesteps/);
  s.setTimesteps(10);
  expect(() => s.step(new Float32Array(3), 901, new Float32Array(4))).toThrow(/model output: 3 values against the sample's 4/);
  expect(() => s.noiseLevel(1000)).toThrow(/timestep 1000/);
});
