import { DDIMScheduler } from '../schedulers';
import { GaussianGenerator } from '../random';
import { EmpiricalDenoiser } from './empirical-denoiser';

const D = 32;
const members = new GaussianGenerator(9).normal(12 * D);
const groups = [0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1];
const den = new EmpiricalDenoiser(members, groups);
const member = (i: number) => members.subarray(i * D, (i + 1) * D);

test('x̂₀ is the nearest member of the group at low noise and the group mean at high noise; ε̂ inverts v', () => {
  const v = Float32Array.from(member(2), (x) => x * Math.sqrt(0.9999) + 0.001);
  const { x0, eps } = den.predict(v, 0.9999, [0]);
  for (let j = 0; j < D; j++) expect(x0[j]).toBeCloseTo(member(2)[j], 5);
  for (let j = 0; j < D; j++) expect(Math.sqrt(0.9999) * x0[j] + Math.sqrt(1 - 0.9999) * eps[j]).toBeCloseTo(v[j], 5);
  // Group 1 never answers with a group 0 member.
  const other = den.predict(v, 0.9999, [1]).x0;
  expect(Math.max(...[6, 7, 8, 9, 10, 11].map((m) => -Math.hypot(...other.map((x, j) => x - member(m)[j]))))).toBeGreaterThan(-1e-3);
  const far = den.predict(new Float32Array(D), 1e-8, [1]).x0;
  for (let j = 0; j < D; j++) expect(far[j]).toBeCloseTo([6, 7, 8, 9, 10, 11].reduce((s, m) => s + member(m)[j], 0) / 6, 5);
  const w = den.weights(new GaussianGenerator(1).normal(D), 0, 0.3, 0).weight;
  expect(w.reduce((s, x) => s + x, 0)).toBeCloseTo(1, 12);
});

test('DDIM driven by it ends at members of the asked group (the residual is the final step’s noise), spacing and nearest agree', async () => {
  const s = new DDIMScheduler({ beta_schedule: 'scaled_linear', beta_start: 0.00085, beta_end: 0.012, set_alpha_to_one: true, clip_sample: false });
  s.setTimesteps(25);
  const g = [0, 1, 0, 1];
  let x: Float32Array = new GaussianGenerator(3).normal(4 * D);
  for (const t of s.timesteps) x = s.step(den.predict(x, s.noiseLevel(t).alphaBar, g).eps, t, x).prevSample;
  const near = den.nearest(x);
  near.forEach((n, i) => {
    expect(groups[n.member]).toBe(g[i]);
    expect(n.distance).toBeLessThan(1e-3);
  });
  expect(den.memberSpacing()).toBeGreaterThan(1);
});
