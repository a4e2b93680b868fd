import { UserError, type RewardGradient, type ScoreName, type ScoreWeights } from '@richhf/reward';
import { type DifferentiableDecoder, decodeWithVjp } from '../decoders/decoder';
import { type NoiseLevel } from '../schedulers/scheduler';
import { type GradientShaping } from './options';

/*
 * The guidance core: from a predicted clean latent x̂₀ to d reward / d x_t.
 *
 *   x̂₀ ─(avg-pool, optional)─► decoder ─► pixels in [0, 1] ─► reward (resized to its input inside) ─► R = Σ w·score − λ·P
 *
 * (P: the soft-max mean of the reward's implausibility heatmap, with `heatmapPenalty` λ > 0; computed and
 * differentiated inside the reward-gradient contract, like the scores.)
 *
 * and back: d R / d pixels from the reward-gradient contract, through the decoder's VJP to d R / d x̂₀, then to
 * the sample. The Jacobian of x̂₀ w.r.t. x_t is Universal Guidance's *forward guidance* one: the network's ε
 * prediction is held constant, so x̂₀ = (x_t / sampleScale − √(1−ᾱ)·ε̂) / √ᾱ gives ∂x̂₀/∂x_t = 1 / (√ᾱ · sampleScale),
 * whatever the prediction type (ε, v and sample outputs are converted to ε̂ first). Backpropagating through the
 * network as well (UG's "backward" variant) would need the UNet's own VJP, which an ONNX UNet does not offer.
 *
 * Gradients are carried in one canonical unit, g_v = d R / d v with v = x_t / sampleScale the variance-preserving
 * sample (√ᾱ·x₀ + √(1−ᾱ)·ε); each adapter turns g_v into its own update.
 */

export type Shape4 = [number, number, number, number];

export interface GuidanceParts {
  reward: RewardGradient;
  decoder: DifferentiableDecoder;
  weights: ScoreWeights;
  /** λ of the implausibility-heatmap penalty (0 or absent: off). */
  heatmapPenalty?: number;
  /** Decode x̂₀ average-pooled by this factor (1 = full resolution). */
  decodeDownscale: number;
}

export interface X0Gradient {
  /** d R / d x̂₀, NCHW like x̂₀; an image whose gradient or reward is not finite gets zeros. */
  grad: Float32Array;
  /** Σ_k w_k·score_k / Σ_k |w_k| per image: the weighted mean score, in [0, 1] for positive weights (penalty not included). */
  reward: Float32Array;
  scores: Record<ScoreName, Float32Array>;
  /** With a heatmap penalty: P per image (the gradient is that of Σ w·score − λ·P). */
  penalty?: Float32Array;
  /** Per image: whether its reward and gradient were finite. */
  finite: boolean[];
  /** The decoded pixels, NHWC [B, H, W, 3] in [0, 1] (at the reduced resolution when pooled). */
  pixels: Float32Array;
  pixelShape: Shape4;
}

/** Average pooling of NCHW latents by an integer factor (sides must divide). */
export function avgPool(x: Float32Array, shape: Shape4, f: number): { data: Float32Array; shape: Shape4 } {
  if (f === 1) return { data: x, shape };
  const [b, c, h, w] = shape;
  if (h % f || w % f) throw new UserError(`decodeDownscale ${f}: the latent size ${h}×${w} is not a multiple of it`);
  const [H, W] = [h / f, w / f];
  const out = new Float32Array(b * c * H * W);
  const inv = 1 / (f * f);
  for (let p = 0; p < b * c; p++) {
    for (let i = 0; i < h; i++) {
      for (let j = 0; j < w; j++) out[p * H * W + Math.floor(i / f) * W + Math.floor(j / f)] += x[p * h * w + i * w + j] * inv;
    }
  }
  return { data: out, shape: [b, c, H, W] };
}

/** The adjoint of {@link avgPool}: each pooled gradient spread evenly back over its f×f cell. */
export function avgPoolAdjoint(g: Float32Array, shape: Shape4, f: number): Float32Array {
  if (f === 1) return g;
  const [b, c, h, w] = shape;
  const [H, W] = [h / f, w / f];
  const out = new Float32Array(b * c * h * w);
  const inv = 1 / (f * f);
  for (let p = 0; p < b * c; p++) {
    for (let i = 0; i < h; i++) {
      for (let j = 0; j < w; j++) out[p * h * w + i * w + j] = g[p * H * W + Math.floor(i / f) * W + Math.floor(j / f)] * inv;
    }
  }
  return out;
}

/** The reward of decode(x̂₀) and its gradient w.r.t. x̂₀ (see the file header). */
export async function rewardGradientAtX0(parts: GuidanceParts, x0: Float32Array, shape: Shape4, prompts: readonly string[]): Promise<X0Gradient> {
  const { decoder, reward, weights } = parts;
  const [b] = shape;
  if (prompts.length !== b) throw new UserError(`reward prompts: ${prompts.length} for a batch of ${b}`);
  const pooled = avgPool(x0, shape, parts.decodeDownscale);
  // One forward: the decoder keeps what its VJP needs (decodeWithVjp), rather than decode now and again in decodeVjp.
  const { pixels, vjp } = await decodeWithVjp(decoder, pooled.data, pooled.shape);
  const H = pooled.shape[2] * decoder.upscale;
  const W = pooled.shape[3] * decoder.upscale;
  const lambda = parts.heatmapPenalty ?? 0;
  const { scores, grad: gradPixels, penalty } = await reward.scoreGrad(pixels, [...prompts], weights, lambda > 0 ? { size: [H, W], heatmapPenalty: lambda } : { size: [H, W] });
  if (lambda > 0 && !penalty) throw new UserError(`heatmapPenalty ${lambda}: the reward (engine ${reward.engine}) returned no penalty; it does not implement the heatmap penalty`);
  const gradLatents = await vjp(gradPixels);
  const grad = avgPoolAdjoint(gradLatents, shape, parts.decodeDownscale);

  const entries = Object.entries(weights).filter(([, w]) => w !== undefined && w !== 0) as [ScoreName, number][];
  const norm = entries.reduce((s, [, w]) => s + Math.abs(w), 0);
  const rewardOut = new Float32Array(b);
  const finite: boolean[] = [];
  const per = grad.length / b;
  for (let i = 0; i < b; i++) {
    rewardOut[i] = entries.reduce((s, [k, w]) => s + w * scores[k][i], 0) / norm;
    let ok = Number.isFinite(rewardOut[i]) && (!penalty || Number.isFinite(penalty[i]));
    for (let j = i * per; ok && j < (i + 1) * per; j++) ok = Number.isFinite(grad[j]);
    if (!ok) grad.fill(0, i * per, (i + 1) * per);
    finite.push(ok);
  }
  return { grad, reward: rewardOut, scores, ...(penalty ? { penalty } : {}), finite, pixels, pixelShape: [b, H, W, 3] };
}

/** g_v = d R / d v from d R / d x̂₀ under the forward-guidance Jacobian (∂x̂₀/∂v = 1/√ᾱ). */
export function gradWrtSample(gradX0: Float32Array, level: NoiseLevel): Float32Array {
  const k = 1 / Math.sqrt(level.alphaBar);
  return gradX0.map((g) => g * k);
}

const rms = (x: Float32Array, a: number, b: number) => {
  let s = 0;
  for (let i = a; i < b; i++) s += x[i] * x[i];
  return Math.sqrt(s / Math.max(1, b - a));
};

/**
 * Per image, in place: `normalize` rescales g to the root-mean-square of the model's ε prediction `eps` (so a
 * scale of 1 moves ε by √(1−ᾱ)·|ε|), then `clip` caps its root-mean-square. Images with a zero gradient stay zero.
 */
export function shapeGradient(g: Float32Array, eps: Float32Array, batch: number, s: GradientShaping): Float32Array {
  if (!s.normalize && s.clip === undefined) return g;
  const per = g.length / batch;
  for (let i = 0; i < batch; i++) {
    const [a, b] = [i * per, (i + 1) * per];
    let r = rms(g, a, b);
    if (r === 0) continue;
    let k = 1;
    if (s.normalize) {
      k = rms(eps, a, b) / r;
      r *= k;
    }
    if (s.clip !== undefined && r > s.clip) k *= s.clip / r;
    if (k !== 1) for (let j = a; j < b; j++) g[j] *= k;
  }
  return g;
}
