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
  /** Decode unscaled latents `[B, C, h, w]` to pixels `[B, h·upscale, w·upscale, 3]` in [0, 1]. */
  decode(latents: Float32Array, shape: [number, number, number, number]): Promise<Float32Array>;
  /** Release sessions / weights. */
  dispose(): Promise<void>;
}

/**
 * A decoder that can also backpropagate: the vector–Jacobian product of `decode` at `latents` with
 * `gradPixels` (d objective / d pixels, NHWC like the pixels) gives d objective / d latents (NCHW, w.r.t. the
 * unscaled latents, so it includes the 1 / scalingFactor). Guidance needs exactly this.
 */
export interface DifferentiableDecoder extends LatentDecoder {
  decodeVjp(
    latents: Float32Array,
    shape: [number, number, number, number],
    gradPixels: Float32Array,
  ): Promise<{ pixels: Float32Array; gradLatents: Float32Array }>;
}
