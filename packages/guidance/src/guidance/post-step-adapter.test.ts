import { guideLatents, CLEAN } from './post-step-adapter';

test('latents move by sampleScale_{t−1}·√ᾱ_{t−1}·s·σ_t²·∇x̂₀ R', () => {
  const level = { alphaBar: 0.25, sigma: Math.sqrt(3), sampleScale: 1 };
  const next = { alphaBar: 0.64, sigma: 0.75, sampleScale: 1 };
  const g0 = 0.5; // d R / d x̂₀; the canonical g_v is g0 / √ᾱ
  const out = guideLatents(Float32Array.from([1]), Float32Array.from([g0 / 0.5]), 2, level, next);
  expect(out[0]).toBeCloseTo(1 + 0.8 * 2 * 3 * g0, 6);
  // After the last step (clean latents) the whole x̂₀ move lands on the latents.
  expect(guideLatents(Float32Array.from([0]), Float32Array.from([g0 / 0.5]), 1, level, CLEAN)[0]).toBeCloseTo(3 * g0, 6);
  expect(() => guideLatents(new Float32Array(1), new Float32Array(2), 1, level, next)).toThrow(RangeError);
});
