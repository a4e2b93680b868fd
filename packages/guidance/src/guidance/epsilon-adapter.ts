import { type NoiseLevel } from '../schedulers/scheduler';

/**
 * Adapter (a), for ε-prediction samplers (DDIM, DDPM, PNDM, DPM-Solver, …): classifier guidance on the noise
 * prediction, ε' = ε − s·√(1−ᾱ_t)·∇ log r (Dhariwal & Nichol's guided DDIM, Universal Guidance's forward
 * guidance), with ∇ = g_v the reward gradient w.r.t. the variance-preserving sample (core.ts). The reward R is
 * read as log r, i.e. the guided distribution is p(x)·exp(s·R(x)). A sampler that predicts v or x₀ converts to
 * ε and back around this (reward-guidance.ts does, through the scheduler helpers).
 */
export function guideEpsilon(eps: Float32Array, gradV: Float32Array, scale: number, level: NoiseLevel): Float32Array {
  if (eps.length !== gradV.length) throw new RangeError(`guideEpsilon: ε has ${eps.length} values, the gradient ${gradV.length}`);
  const k = scale * Math.sqrt(1 - level.alphaBar);
  const out = new Float32Array(eps.length);
  for (let i = 0; i < out.length; i++) out[i] = eps[i] - k * gradV[i];
  return out;
}
