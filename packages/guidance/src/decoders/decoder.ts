import { UserError } from '@richhf/reward';

/**
 * The contract every latent decoder of this package meets (TAESD and AutoencoderKL in tfjs, the same
 * exported to onnxruntime with their gradient graphs, an optimum `vae_decoder/model.onnx`), so a pipeline or a
 * guidance hook can take any of them.
 *
 * Layouts follow each side's ecosystem: latents are NCHW `[B, C, h, w]` as diffusers and the UNet graphs use
 * them, *unscaled* (what the sampler holds; the decoder divides by `scalingFactor` itself); pixels are NHWC
 * `[B, H, W, 3]` in [0, 1], as images and the reward model's gradient contract take them.
 */
export interface LatentDecoder {
  /** Channels of the latents it takes (4 for SD 1.x / 2.x, TAESD). */
  readonly latentChannels: number;
  /** diffusers' `vae.config.scaling_factor`: the decoder sees `latents / scalingFactor`. */
  readonly scalingFactor: number;
  /** Pixels per latent along each side (8 for SD's VAE and TAESD). */
  readonly upscale: number;
  /**
   * Decode unscaled latents `[B, C, h, w]` to pixels `[B, h·upscale, w·upscale, 3]` in [0, 1]: diffusers'
   * `vae.decode(latents / scaling_factor).sample` (plus `shift_factor`, or per channel with `latents_mean` /
   * `latents_std`, as the pipelines apply them) through its image postprocess `(x / 2 + 0.5).clamp(0, 1)`.
   * A channel count other than `latentChannels` is a one-line UserError before any work.
   */
  decode(latents: Float32Array, shape: [number, number, number, number]): Promise<Float32Array>;
  /** Release sessions / weights. */
  dispose(): Promise<void>;
}

/**
 * A decoder that can also backpropagate: the vector–Jacobian product of `decode` at `latents` with
 * `gradPixels` (d objective / d pixels, NHWC like the pixels) gives d objective / d latents (NCHW, w.r.t. the
 * unscaled latents, so it includes the 1 / scalingFactor). Guidance needs exactly this. Where the [0, 1] clamp
 * is active the pixel passes no gradient, as in PyTorch.
 */
export interface DifferentiableDecoder extends LatentDecoder {
  decodeVjp(
    latents: Float32Array,
    shape: [number, number, number, number],
    gradPixels: Float32Array,
  ): Promise<{ pixels: Float32Array; gradLatents: Float32Array }>;
  /**
   * Optional, for decoders that can keep their forward pass: decode now, backpropagate later (`jax.vjp`'s
   * shape) — for callers whose d objective / d pixels depends on the pixels, as guidance's does, this saves
   * the second forward pass that `decode` then `decodeVjp` costs. `vjp` may be called more than once.
   */
  decodeWithVjp?(latents: Float32Array, shape: [number, number, number, number]): Promise<DecodedWithVjp>;
}

/** Pixels of a decode and the VJP at the same latents (see {@link DifferentiableDecoder.decodeWithVjp}). */
export interface DecodedWithVjp {
  pixels: Float32Array;
  /** d objective / d latents for d objective / d pixels (NHWC like the pixels). */
  vjp(gradPixels: Float32Array): Promise<Float32Array>;
}

/** `decoder.decodeWithVjp` where it has one, else `decode` now and `decodeVjp` (a second forward) later. */
export async function decodeWithVjp(decoder: DifferentiableDecoder, latents: Float32Array, shape: [number, number, number, number]): Promise<DecodedWithVjp> {
  if (decoder.decodeWithVjp) return decoder.decodeWithVjp(latents, shape);
  const pixels = await decoder.decode(latents, shape);
  return { pixels, vjp: async (g) => (await decoder.decodeVjp(latents, shape, g)).gradLatents };
}

/**
 * The inverse direction, for img2img and inpainting: pixels NHWC `[B, H, W, 3]` in [0, 1] (H and W multiples
 * of `downscale`) to latents NCHW as a sampler holds them, i.e. diffusers'
 * `(vae.encode(2·pixels − 1).latent_dist.{mean | sample()} − shift_factor) · scaling_factor`. The mean
 * unless `noise` (standard normal, shaped like the latents) is given: then mean + σ·noise, the posterior
 * sample, reproducible with the caller's generator. TAESD's encoder is deterministic (noise is ignored).
 */
export interface LatentEncoder {
  readonly latentChannels: number;
  readonly scalingFactor: number;
  /** Pixels per latent along each side (8 for SD's VAE and TAESD). */
  readonly downscale: number;
  encode(pixels: Float32Array, shape: [number, number, number, number], opts?: { noise?: Float32Array }): Promise<Float32Array>;
  dispose(): Promise<void>;
}

/** One-line UserError unless `latents` fit `shape` and the decoder's channel count; `label` names the model. */
export function checkLatents(label: string, latentChannels: number, latents: Float32Array, shape: readonly number[]): void {
  if (shape.length !== 4 || shape.some((d) => !Number.isInteger(d) || d < 1)) throw new UserError(`${label}: latent shape [${shape}] is not [batch, channels, height, width]`);
  if (shape[1] !== latentChannels) throw new UserError(`${label}: latents have ${shape[1]} channels; this decoder takes ${latentChannels}`);
  const n = shape.reduce((a, b) => a * b, 1);
  if (latents.length !== n) throw new UserError(`${label}: latents hold ${latents.length} values, but shape [${shape}] needs ${n}`);
}

/** One-line UserError unless `pixels` fit `shape` ([B, H, W, C]) with H, W multiples of `downscale`. */
export function checkPixels(label: string, channels: number, downscale: number, pixels: Float32Array, shape: readonly number[]): void {
  if (shape.length !== 4 || shape.some((d) => !Number.isInteger(d) || d < 1)) throw new UserError(`${label}: pixel shape [${shape}] is not [batch, height, width, channels]`);
  if (shape[3] !== channels) throw new UserError(`${label}: pixels have ${shape[3]} channels; this encoder takes ${channels}`);
  if (shape[1] % downscale || shape[2] % downscale) throw new UserError(`${label}: image size ${shape[1]}×${shape[2]} is not a multiple of ${downscale}`);
  const n = shape.reduce((a, b) => a * b, 1);
  if (pixels.length !== n) throw new UserError(`${label}: pixels hold ${pixels.length} values, but shape [${shape}] needs ${n}`);
}

/**
 * diffusers' posterior sample and the pipeline's scaling on the host (NCHW): z = mean + exp(½·clamp(logvar,
 * −30, 20))·noise, then (z − shift[c]) / scale[c] — `(z − shift_factor) · scaling_factor` usually.
 * Latent-sized, so not worth a graph.
 */
export function scaleLatents(mean: Float32Array, logvar: Float32Array | undefined, noise: Float32Array | undefined, unscale: { scale: number[]; shift: number[] }, label: string, plane: number): Float32Array {
  if (noise && noise.length !== mean.length) throw new UserError(`${label}: noise holds ${noise.length} values, the latents ${mean.length}`);
  const out = new Float32Array(mean.length);
  const channels = unscale.scale.length;
  for (let i = 0; i < out.length; i++) {
    let z = mean[i];
    if (noise && logvar) z += Math.exp(0.5 * Math.min(20, Math.max(-30, logvar[i]))) * noise[i];
    const c = Math.floor(i / plane) % channels;
    out[i] = (z - unscale.shift[c]) / unscale.scale[c];
  }
  return out;
}
