import { type NoiseLevel, type Scheduler } from '../schedulers/scheduler';

/**
 * Universal Guidance's self-recurrence (Bansal et al. 2023, Algorithm 1): after a guided step t → t−1, noise
 * the result back to t and guide again, k times in all, so guidance has more steps to act without moving the
 * schedule. Here the trial step is DDIM's deterministic update from the guided x̂₀ and ε̂ to the next noise
 * level, and the way back is the forward process q(x_t | x_{t−1}); the composition is exactly
 * `scheduler.addNoise(x̂₀, n, t)` with the unit-variance noise n = (√(ᾱ_t/ᾱ_p)·√(1−ᾱ_p)·ε̂ + √(1−ᾱ_t/ᾱ_p)·ξ) / √(1−ᾱ_t),
 * so the scheduler's own add-noise (σ-space or variance-preserving) does the arithmetic. The scheduler's real
 * step runs once, after the last round (so stateful samplers such as Euler keep their step index).
 */
export function renoise(scheduler: Scheduler, t: number, x0: Float32Array, eps: Float32Array, xi: Float32Array, level: NoiseLevel, next: NoiseLevel): Float32Array {
  const ratio = level.alphaBar / next.alphaBar;
  const a = Math.sqrt(ratio * (1 - next.alphaBar));
  const b = Math.sqrt(Math.max(0, 1 - ratio));
  const norm = 1 / Math.sqrt(Math.max(1e-12, 1 - level.alphaBar));
  const n = new Float32Array(eps.length);
  for (let i = 0; i < n.length; i++) n[i] = (a * eps[i] + b * xi[i]) * norm;
  return scheduler.addNoise(x0, n, t);
}
