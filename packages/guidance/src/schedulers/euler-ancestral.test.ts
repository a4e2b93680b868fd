import { GaussianGenerator } from '../random';
import { EulerAncestralDiscreteScheduler } from './euler-ancestral';

const gauss = (seed: number, n: number) => new GaussianGenerator(seed).normal(n);

test('a step splits σ_next into a deterministic σ_down and fresh noise σ_up (σ_down² + σ_up² = σ_next²)', () => {
  const s = new EulerAncestralDiscreteScheduler({ beta_schedule: 'scaled_linear', beta_start: 0.00085, beta_end: 0.012 });
  s.setTimesteps(8);
  const x = gauss(1, 32);
  const eps = gauss(2, 32);
  const noise = gauss(3, 32);
  const [from, to] = [s.sigmas[2], s.sigmas[3]];
  const up = Math.sqrt((to * to * (from * from - to * to)) / (from * from));
  const down = Math.sqrt(to * to - up * up);
  expect(down * down + up * up).toBeCloseTo(to * to, 10);
  s.setBeginIndex(2);
  const out = s.step(eps, s.timesteps[2], x, { noise });
  for (let i = 0; i < 32; i++) expect(out.prevSample[i]).toBeCloseTo(x[i] + eps[i] * (down - from) + noise[i] * up, 4);
});

test('the last step lands on x̂₀ exactly (σ = 0, no noise) and each step draws from the generator', () => {
  const s = new EulerAncestralDiscreteScheduler({ timestep_spacing: 'trailing' });
  s.setTimesteps(4);
  s.generator = new GaussianGenerator(5);
  let x: Float32Array = gauss(4, 16).map((v) => v * s.initNoiseSigma);
  let last;
  for (const t of s.timesteps) {
    s.scaleModelInput(x, t);
    last = s.step(gauss(t, 16), t, x);
    x = last.prevSample;
  }
  expect(last!.prevSample).toEqual(last!.predOriginalSample);
  expect(s.generator.position).toBe(4 * 16);
});
