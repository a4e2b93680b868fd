import { type NoiseLevel } from '../schedulers/scheduler';

/**
 * Adapter (c), a post-step latent update in the style of diffusers' `callback_on_step_end(latents)`: after the
 * scheduler's step t → t−1, the step's x̂₀ moves by Δx̂₀ = s·σ_t²·∇_x̂₀ R (what the ε and σ adapters do to it;
 * σ_t²·∇_x̂₀ R = (1−ᾱ_t)/√ᾱ_t · g_v), and the new latents by their signal share of that move,
 * sampleScale_{t−1}·√ᾱ_{t−1}·Δx̂₀. Unlike the ε adapter it leaves the step's noise direction alone, so it
 * suits samplers whose step cannot be reached (a black-box step, or guidance added to a finished loop).
 */
export function guideLatents(latents: Float32Array, gradV: Float32Array, scale: number, level: NoiseLevel, next: NoiseLevel): Float32Array {
  if (latents.length !== gradV.length) throw new RangeError(`guideLatents: latents have ${latents.length} values, the gradient ${gradV.length}`);
  const k = scale * ((1 - level.alphaBar) / Math.sqrt(level.alphaBar)) * next.sampleScale * Math.sqrt(next.alphaBar);
  const out = new Float32Array(latents.length);
  for (let i = 0; i < out.length; i++) out[i] = latents[i] + k * gradV[i];
  return out;
}

/** The noise level after the last step: clean samples. */
export const CLEAN: NoiseLevel = Object.freeze({ alphaBar: 1, sigma: 0, sampleScale: 1 });
