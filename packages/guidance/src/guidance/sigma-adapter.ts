import { type NoiseLevel } from '../schedulers/scheduler';

/**
 * Adapter (b), for σ-parameterised (k-diffusion style) samplers whose model is a denoiser D(x; σ) on samples
 * x = x₀ + σ·ε (Euler, Heun, DPM++ in k-diffusion / diffusers' Euler): denoised' = denoised + s·σ²·∇_x R.
 * With ε̂ held constant, x̂₀ = x − σ·ε̂, so ∇_x R = ∇_x̂₀ R; in the canonical unit of core.ts (v = x / √(1+σ²))
 * that is g_v / √(1+σ²). It is the same update as the ε adapter's ε' = ε − s·σ·∇_x R: both move x̂₀ by s·σ²·∇.
 */
export function guideDenoised(denoised: Float32Array, gradV: Float32Array, scale: number, level: NoiseLevel): Float32Array {
  if (denoised.length !== gradV.length) throw new RangeError(`guideDenoised: denoised has ${denoised.length} values, the gradient ${gradV.length}`);
  const k = (scale * level.sigma * level.sigma) / Math.sqrt(1 + level.sigma * level.sigma);
  const out = new Float32Array(denoised.length);
  for (let i = 0; i < out.length; i++) out[i] = denoised[i] + k * gradV[i];
  return out;
}

/** The noise level of a σ (ᾱ = 1 / (1 + σ²), samples x₀ + σ·ε). */
export function sigmaLevel(sigma: number): NoiseLevel {
  return { alphaBar: 1 / (1 + sigma * sigma), sigma, sampleScale: Math.sqrt(1 + sigma * sigma) };
}
