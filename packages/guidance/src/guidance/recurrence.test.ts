import { DDIMScheduler, EulerDiscreteScheduler } from '../schedulers';
import { renoise } from './recurrence';

const rand = (n: number, seed: number) => Float32Array.from({ length: n }, (_, i) => Math.sin(i * 12.9898 + seed * 78.233) * 1.7);

test('re-noising keeps unit-variance noise: the same level gives addNoise(x̂₀, ε̂), the noise mix has variance 1', () => {
  for (const scheduler of [new DDIMScheduler({ beta_schedule: 'scaled_linear' }), new EulerDiscreteScheduler({ beta_schedule: 'scaled_linear' })]) {
    scheduler.setTimesteps(10);
    const t = scheduler.timesteps[2];
    const level = scheduler.noiseLevel(t);
    const x0 = rand(64, 1);
    const eps = rand(64, 2);
    const xi = rand(64, 3);
    const same = renoise(scheduler, t, x0, eps, xi, level, level);
    const direct = scheduler.addNoise(x0, eps, t);
    for (let i = 0; i < 64; i++) expect(same[i]).toBeCloseTo(direct[i], 4);
  }
  // Independent unit normals in, unit variance out (a² + b² = 1 − ᾱ_t after the normalisation).
  const scheduler = new DDIMScheduler({ beta_schedule: 'scaled_linear' });
  scheduler.setTimesteps(10);
  const [t, tp] = [scheduler.timesteps[3], scheduler.timesteps[4]];
  const n = 20000;
  let a = 12345;
  const normal = () => {
    a = (a * 1103515245 + 12345) >>> 0;
    const u = (a + 1) / 4294967297;
    a = (a * 1103515245 + 12345) >>> 0;
    const v = a / 4294967296;
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  };
  const eps = Float32Array.from({ length: n }, normal);
  const xi = Float32Array.from({ length: n }, normal);
  const level = scheduler.noiseLevel(t);
  const x = renoise(scheduler, t, new Float32Array(n), eps, xi, level, scheduler.noiseLevel(tp));
  const variance = x.reduce((s, v) => s + v * v, 0) / n / (1 - level.alphaBar);
  expect(variance).toBeGreaterThan(0.96);
  expect(variance).toBeLessThan(1.04);
});
