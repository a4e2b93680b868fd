/**
 * Noise schedules as diffusers builds them (schedulers/scheduling_ddpm.py and siblings, huggingface/diffusers),
 * reproduced to the bit: diffusers computes them in torch float32, so every operation here is a float64
 * operation rounded to float32 (`Math.fround`), which equals the float32 operation for + − × ÷ and sqrt.
 * The timestep lists and sigmas a user compares with diffusers come out identical, not merely close.
 */

const f32 = Math.fround;

export type BetaSchedule = 'linear' | 'scaled_linear' | 'squaredcos_cap_v2';
export const BETA_SCHEDULES: readonly BetaSchedule[] = ['linear', 'scaled_linear', 'squaredcos_cap_v2'];

/**
 * torch.linspace(start, end, steps, dtype=float32) on CPU: the step is a float32 quotient, the first half
 * counts up from `start`, the second half down from `end`, each element one fused multiply-add (a single
 * rounding — the product of a float32 and a small integer is exact in float64). Measured against diffusers'
 * alphas_cumprod (test fixture): this variant matches all 1000 entries, separate roundings do not.
 */
export function torchLinspaceF32(start: number, end: number, steps: number): Float32Array {
  const out = new Float32Array(steps);
  if (steps === 1) {
    out[0] = f32(start);
    return out;
  }
  const s = f32(start);
  const e = f32(end);
  const step = f32(f32(e - s) / (steps - 1));
  const half = Math.floor(steps / 2);
  for (let i = 0; i < steps; i++) out[i] = i < half ? s + step * i : e - step * (steps - i - 1);
  return out;
}

/** diffusers' betas_for_alpha_bar with the cosine ("squaredcos_cap_v2", GLIDE) transform: float64, then float32. */
export function cosineBetas(n: number, maxBeta = 0.999): Float32Array {
  const alphaBar = (t: number) => Math.cos(((t + 0.008) / 1.008) * (Math.PI / 2)) ** 2;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.min(1 - alphaBar((i + 1) / n) / alphaBar(i / n), maxBeta);
  return out;
}

export interface BetaOptions {
  numTrainTimesteps: number;
  betaStart: number;
  betaEnd: number;
  betaSchedule: BetaSchedule;
  trainedBetas?: readonly number[];
  rescaleBetasZeroSnr: boolean;
}

/** The betas of a diffusers scheduler config. */
export function makeBetas(o: BetaOptions): Float32Array {
  let betas: Float32Array;
  if (o.trainedBetas) betas = Float32Array.from(o.trainedBetas);
  else if (o.betaSchedule === 'linear') betas = torchLinspaceF32(o.betaStart, o.betaEnd, o.numTrainTimesteps);
  else if (o.betaSchedule === 'scaled_linear') {
    betas = torchLinspaceF32(Math.sqrt(o.betaStart), Math.sqrt(o.betaEnd), o.numTrainTimesteps);
    for (let i = 0; i < betas.length; i++) betas[i] = betas[i] * betas[i];
  } else betas = cosineBetas(o.numTrainTimesteps);
  return o.rescaleBetasZeroSnr ? rescaleZeroTerminalSnr(betas) : betas;
}

/**
 * torch.cumprod(1 - betas) in float32: torch's CPU kernel accumulates in double (acc_type of float) and
 * rounds each output, which is what this does.
 */
export function alphasCumprod(betas: Float32Array): Float32Array {
  const out = new Float32Array(betas.length);
  let acc = 1;
  for (let i = 0; i < betas.length; i++) {
    acc *= f32(1 - betas[i]);
    out[i] = acc;
  }
  return out;
}

/** Lin et al. 2023 (arXiv 2305.08891) Algorithm 1: shift √ᾱ so the last step has zero SNR, in float32 as diffusers. */
export function rescaleZeroTerminalSnr(betas: Float32Array): Float32Array {
  const n = betas.length;
  const sqrtBar = new Float32Array(n);
  let acc = 1;
  for (let i = 0; i < n; i++) {
    acc *= f32(1 - betas[i]);
    sqrtBar[i] = Math.sqrt(f32(acc));
  }
  const first = sqrtBar[0];
  const last = sqrtBar[n - 1];
  const scale = f32(first / f32(first - last));
  const bar = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const v = f32(f32(sqrtBar[i] - last) * scale);
    bar[i] = v * v;
  }
  const out = new Float32Array(n);
  out[0] = f32(1 - bar[0]);
  for (let i = 1; i < n; i++) out[i] = f32(1 - f32(bar[i] / bar[i - 1]));
  return out;
}

/** σ of each training timestep, ((1 − ᾱ) / ᾱ)^½ in float32 as the Euler schedulers compute it. */
export function trainSigmas(alphasCumprod: Float32Array): Float32Array {
  const out = new Float32Array(alphasCumprod.length);
  for (let i = 0; i < out.length; i++) out[i] = Math.sqrt(f32(f32(1 - alphasCumprod[i]) / alphasCumprod[i]));
  return out;
}
