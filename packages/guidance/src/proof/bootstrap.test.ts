import { pairedBootstrap } from './bootstrap';

test('the paired bootstrap gives the mean difference and an interval around it, the same on every run', () => {
  const a = Array.from({ length: 200 }, (_, i) => Math.sin(i) * 0.2 + 0.1);
  const b = Array.from({ length: 200 }, (_, i) => Math.sin(i) * 0.2 + Math.cos(i * 7) * 0.05);
  const r = pairedBootstrap(a, b, { seed: 3 });
  expect(r.value).toBeCloseTo(a.reduce((s, x, i) => s + x - b[i], 0) / 200, 12);
  expect(r.lo).toBeLessThan(r.value);
  expect(r.hi).toBeGreaterThan(r.value);
  // The difference's standard error is ≈ 0.05/√2/√200 = 0.0025: the 95 % interval spans about ±0.005.
  expect(r.hi - r.lo).toBeGreaterThan(0.006);
  expect(r.hi - r.lo).toBeLessThan(0.014);
  expect(pairedBootstrap(a, b, { seed: 3 })).toEqual(r);
  // Pairing: a constant shift has a zero-width interval however noisy the values.
  expect(pairedBootstrap(a.map((x) => x + 1), a)).toEqual({ value: 1, lo: 1, hi: 1 });
  expect(() => pairedBootstrap([1], [1, 2])).toThrow(RangeError);
});
