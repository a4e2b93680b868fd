import * as tf from '@tensorflow/tfjs';
import { UserError } from '@richhf/reward';
import { ReadVaeOptions, VaeCheckpoint, partWeights, readVaeCheckpoint } from './checkpoint';
import { DifferentiableDecoder, LatentEncoder, checkLatents, checkPixels, scaleLatents } from './decoder';
import { TfOps, TfWeights } from './tf-ops';

/*
 * AutoencoderTiny (TAESD) and AutoencoderKL in tfjs, differentiable end to end: the tensor methods
 * (`decodeTensor`, `decodeDiffusersTensor`, `encodeTensor`) can sit inside tf.grad; the array methods meet
 * the package's decoder / encoder contracts (decoder.ts). Latents are always the sampler's (unscaled: the
 * model divides by scaling_factor itself), NCHW; pixels NHWC in [0, 1].
 */

type Shape4 = [number, number, number, number];

export class TfAutoencoder implements DifferentiableDecoder, LatentEncoder {
  readonly latentChannels: number;
  readonly scalingFactor: number;
  readonly shiftFactor: number;
  readonly upscale: number;
  readonly downscale: number;
  private readonly decoderWeights: TfWeights;
  private encoderWeights?: TfWeights;
  /** For messages: the model class and its folder. */
  readonly label: string;

  constructor(readonly checkpoint: VaeCheckpoint) {
    const a = checkpoint.arch;
    this.latentChannels = a.latentChannels;
    this.scalingFactor = a.scalingFactor;
    this.shiftFactor = a.shiftFactor;
    this.upscale = a.upscale;
    this.downscale = a.downscale;
    this.label = `${a.kind} ${checkpoint.dir}`;
    this.decoderWeights = new TfWeights(checkpoint.tensors, partWeights(checkpoint, 'decoder'));
  }

  /** The right class for the checkpoint (AutoencoderTiny or AutoencoderKL). */
  static fromCheckpoint(ckpt: VaeCheckpoint): TfAutoencoder {
    return ckpt.arch.kind === 'AutoencoderTiny' ? new AutoencoderTiny(ckpt) : new AutoencoderKL(ckpt);
  }

  /** Diffusers' `vae.decode(latents / scaling_factor + shift_factor).sample`, NCHW in [-1, 1]; differentiable. */
  decodeDiffusersTensor(latents: tf.Tensor4D): tf.Tensor4D {
    return tf.tidy(() => tf.transpose(this.decodeNHWC(latents), [0, 3, 1, 2]));
  }

  /** Pixels NHWC in [0, 1] (clamped, as diffusers' postprocess); differentiable. */
  decodeTensor(latents: tf.Tensor4D): tf.Tensor4D {
    return tf.tidy(() => tf.clipByValue(tf.add(tf.mul(this.decodeNHWC(latents), 0.5), 0.5), 0, 1) as tf.Tensor4D);
  }

  private decodeNHWC(latents: tf.Tensor4D): tf.Tensor4D {
    if (latents.shape[1] !== this.latentChannels) throw new UserError(`${this.label}: latents have ${latents.shape[1]} channels; this decoder takes ${this.latentChannels}`);
    const ops = new TfOps(this.decoderWeights);
    const u = this.checkpoint.arch.unscale;
    const z = ops.channelAffine(tf.transpose(latents, [0, 2, 3, 1]), u.scale, u.shift);
    return this.checkpoint.arch.decode(ops, z);
  }

  async decode(latents: Float32Array, shape: Shape4): Promise<Float32Array> {
    checkLatents(this.label, this.latentChannels, latents, shape);
    return this.run(() => this.decodeTensor(tf.tensor4d(latents, shape)));
  }

  async decodeDiffusers(latents: Float32Array, shape: Shape4): Promise<Float32Array> {
    checkLatents(this.label, this.latentChannels, latents, shape);
    return this.run(() => this.decodeDiffusersTensor(tf.tensor4d(latents, shape)));
  }

  async decodeVjp(latents: Float32Array, shape: Shape4, gradPixels: Float32Array): Promise<{ pixels: Float32Array; gradLatents: Float32Array }> {
    const r = await this.vjp((z) => this.decodeTensor(z), latents, shape, gradPixels, [shape[0], shape[2] * this.upscale, shape[3] * this.upscale, this.checkpoint.arch.imageChannels]);
    return { pixels: r.value, gradLatents: r.grad };
  }

  /** The VJP of `decodeDiffusers`: `gradSample` is d objective / d sample (NCHW). */
  async decodeDiffusersVjp(latents: Float32Array, shape: Shape4, gradSample: Float32Array): Promise<{ sample: Float32Array; gradLatents: Float32Array }> {
    const r = await this.vjp((z) => this.decodeDiffusersTensor(z), latents, shape, gradSample, [shape[0], this.checkpoint.arch.imageChannels, shape[2] * this.upscale, shape[3] * this.upscale]);
    return { sample: r.value, gradLatents: r.grad };
  }

  private async vjp(f: (z: tf.Tensor4D) => tf.Tensor4D, latents: Float32Array, shape: Shape4, dy: Float32Array, outShape: Shape4) {
    checkLatents(this.label, this.latentChannels, latents, shape);
    const n = outShape.reduce((a, b) => a * b, 1);
    if (dy.length !== n) throw new UserError(`${this.label}: the output gradient holds ${dy.length} values, the output [${outShape}] ${n}`);
    const { value, grad } = tf.tidy(() => tf.valueAndGrad((z: tf.Tensor4D) => f(z))(tf.tensor4d(latents, shape), tf.tensor4d(dy, outShape)));
    try {
      return { value: (await value.data()) as Float32Array, grad: (await grad.data()) as Float32Array };
    } finally {
      value.dispose();
      grad.dispose();
    }
  }

  private async run(f: () => tf.Tensor): Promise<Float32Array> {
    const y = tf.tidy(f);
    try {
      return (await y.data()) as Float32Array;
    } finally {
      y.dispose();
    }
  }

  private encoderOps(): TfOps {
    this.encoderWeights ??= new TfWeights(this.checkpoint.tensors, partWeights(this.checkpoint, 'encoder'));
    return new TfOps(this.encoderWeights);
  }

  /**
   * diffusers' latent distribution for pixels NHWC in [0, 1]: mean (and log-variance for AutoencoderKL),
   * NCHW, unscaled; differentiable.
   */
  encodeTensor(pixels: tf.Tensor4D): { mean: tf.Tensor4D; logvar?: tf.Tensor4D } {
    const ops = this.encoderOps();
    return tf.tidy(() => {
      const out = this.checkpoint.arch.encode(ops, tf.sub(tf.mul(pixels, 2), 1) as tf.Tensor4D);
      const nchw = (t: tf.Tensor4D) => tf.transpose(t, [0, 3, 1, 2]);
      return out.logvar ? { mean: nchw(out.mean), logvar: nchw(out.logvar) } : { mean: nchw(out.mean) };
    });
  }

  async encode(pixels: Float32Array, shape: Shape4, opts: { noise?: Float32Array } = {}): Promise<Float32Array> {
    const arch = this.checkpoint.arch;
    checkPixels(this.label, arch.imageChannels, this.downscale, pixels, shape);
    const input = tf.tensor4d(pixels, shape);
    const out = this.encodeTensor(input);
    input.dispose();
    try {
      const mean = (await out.mean.data()) as Float32Array;
      const logvar = out.logvar ? ((await out.logvar.data()) as Float32Array) : undefined;
      return scaleLatents(mean, logvar, opts.noise, arch.unscale, this.label, (shape[1] / this.downscale) * (shape[2] / this.downscale));
    } finally {
      out.mean.dispose();
      out.logvar?.dispose();
    }
  }

  async dispose(): Promise<void> {
    this.decoderWeights.dispose();
    this.encoderWeights?.dispose();
  }
}

/** TAESD (diffusers AutoencoderTiny) in tfjs. */
export class AutoencoderTiny extends TfAutoencoder {
  constructor(ckpt: VaeCheckpoint) {
    if (ckpt.arch.kind !== 'AutoencoderTiny') throw new UserError(`${ckpt.configFile}: _class_name is ${ckpt.arch.kind}, not AutoencoderTiny`);
    super(ckpt);
  }
  static async load(dirOrHubId: string, opts: ReadVaeOptions = {}): Promise<AutoencoderTiny> {
    return new AutoencoderTiny(await readVaeCheckpoint(dirOrHubId, opts));
  }
}

/** The Stable Diffusion VAE (diffusers AutoencoderKL) in tfjs. */
export class AutoencoderKL extends TfAutoencoder {
  constructor(ckpt: VaeCheckpoint) {
    if (ckpt.arch.kind !== 'AutoencoderKL') throw new UserError(`${ckpt.configFile}: _class_name is ${ckpt.arch.kind}, not AutoencoderKL`);
    super(ckpt);
  }
  static async load(dirOrHubId: string, opts: ReadVaeOptions = {}): Promise<AutoencoderKL> {
    return new AutoencoderKL(await readVaeCheckpoint(dirOrHubId, opts));
  }
}
