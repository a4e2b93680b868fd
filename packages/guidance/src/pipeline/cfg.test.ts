import { combineGuidance, rescaleGuidance } from './cfg';

const std = (x: Float32Array) => {
  const m = x.reduce((a, b) => a + b, 0) / x.length;
  return Math.sqrt(x.reduce((a, b) => a + (b - m) ** 2, 0) / (x.length - 1));
};

test('guidance moves from the unconditional prediction past the conditional one by the scale', () => {
  const u = Float32Array.from([0, 1, -2, 0.5]);
  const c = Float32Array.from([1, 1, 0, -0.5]);
  expect([...combineGuidance(u, c, 7.5)]).toEqual([7.5, 1, 13, -7]);
  expect([...combineGuidance(u, c, 1)]).toEqual([...c]);
  expect([...combineGuidance(u, c, 0)]).toEqual([...u]);
});

test("rescale (φ = 1) gives each item the conditional prediction's standard deviation; φ = 0 changes nothing", () => {
  const guided = Float32Array.from([3, -3, 6, 0, /* item 2 */ 1, 2, 3, 4]);
  const cond = Float32Array.from([1, -1, 2, 0, /* item 2 */ 0, 0, 0, 8]);
  const full = rescaleGuidance(guided, cond, 1, 2);
  expect(std(full.subarray(0, 4))).toBeCloseTo(std(cond.subarray(0, 4)), 5);
  expect(std(full.subarray(4))).toBeCloseTo(std(cond.subarray(4)), 5);
  const half = rescaleGuidance(guided, cond, 0.5, 2);
  for (let i = 0; i < 8; i++) expect(half[i]).toBeCloseTo(0.5 * full[i] + 0.5 * guided[i], 5);
  expect(rescaleGuidance(guided, cond, 0, 2)).toBe(guided);
});
