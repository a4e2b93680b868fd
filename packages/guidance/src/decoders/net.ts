import { UserError } from '@richhf/reward';
import type { HostTensor, TensorMap } from '@richhf/reward/io';

/*
 * The two VAE architectures (autoencoder-tiny-arch.ts, autoencoder-kl-arch.ts) are written once against the
 * small op set below and run by three backends: tfjs (tf-ops.ts, differentiable with tf.grad), ONNX graphs
 * (onnx-ops.ts, differentiated by the reward package's autodiff and run in onnxruntime) and a shape walk
 * (ShapeOps here) that checks every weight of a checkpoint before any work. One description of the network
 * means the tfjs and ONNX paths cannot drift apart.
 *
 * Tensors are images in the backend's own layout (tfjs NHWC, ONNX NCHW); ops name channels, never axes.
 */

export type Activation = 'relu' | 'silu' | 'gelu';

export interface ConvSpec {
  /** Output channels; the checkpoint's weight is `[out, in, k, k]` (PyTorch layout). */
  out: number;
  k: number;
  stride?: number;
  /** Zero padding [top, left, bottom, right] (default ⌊k/2⌋ on every side). */
  pad?: [number, number, number, number];
  /** Whether the conv has `<name>.bias` (default true). */
  bias?: boolean;
}

export interface NetOps<T> {
  channels(x: T): number;
  /** `<name>.weight` [out, in, k, k] (+ `<name>.bias`), cross-correlation as torch.nn.Conv2d. */
  conv(x: T, name: string, spec: ConvSpec): T;
  act(x: T, fn: Activation): T;
  /** torch.nn.GroupNorm with affine `<name>.weight` / `<name>.bias` [C]. */
  groupNorm(x: T, name: string, groups: number, eps: number): T;
  /** Nearest-neighbour upsampling by an integer factor (torch `interpolate(mode="nearest")`). */
  upsample(x: T, factor: number): T;
  /** `conv(upsample(x, factor), name, spec)`, which a backend may compute without the upsampled image. */
  upsampleConv(x: T, factor: number, name: string, spec: ConvSpec): T;
  add(a: T, b: T): T;
  /** x·a + b with scalars. */
  affine(x: T, a: number, b: number): T;
  /** x·a[c] + b[c] per channel c. */
  channelAffine(x: T, a: number[], b: number[]): T;
  tanh(x: T): T;
  /** Channels [start, end). */
  sliceChannels(x: T, start: number, end: number): T;
  /**
   * diffusers' Attention over the spatial positions without its group norm and residual: q/k/v
   * projections `<name>.to_q|to_k|to_v` ([C, C] + bias), softmax(q kᵀ / √d) v per head, `<name>.to_out.0`.
   */
  spatialAttention(x: T, name: string, heads: number): T;
}

export interface LatentAffine {
  scale: number[];
  shift: number[];
}

/** The pipeline's latent unscaling (see VaeArch.unscale) from a config's factors. */
export function latentAffine(channels: number, scaling: number, shift: number, mean?: number[], std?: number[]): LatentAffine {
  if (mean && std) return { scale: std.map((s) => s / scaling), shift: [...mean] };
  return { scale: new Array(channels).fill(1 / scaling), shift: new Array(channels).fill(shift) };
}

/** What an encoder computes: the posterior mean (the latents of a deterministic encoder) and its log-variance. */
export interface EncoderOutput<T> {
  mean: T;
  logvar?: T;
}

/** A VAE architecture parsed from a diffusers config.json. */
export interface VaeArch {
  readonly kind: 'AutoencoderTiny' | 'AutoencoderKL';
  readonly latentChannels: number;
  readonly imageChannels: number;
  /** diffusers' `scaling_factor`: the decoder sees `latents / scalingFactor + shiftFactor`. */
  readonly scalingFactor: number;
  /** diffusers' `shift_factor` (0 when the config has none; SD3 / Flux VAEs use it). */
  readonly shiftFactor: number;
  /**
   * What the pipeline does before `vae.decode`, per latent channel: z = latents · scale[c] + shift[c].
   * `latents / scaling_factor + shift_factor`, or with a config's `latents_mean` / `latents_std` (SDXL-style
   * pipelines) `latents · std / scaling_factor + mean`. Encoders invert it.
   */
  readonly unscale: LatentAffine;
  /** Pixels per latent along each side when decoding. */
  readonly upscale: number;
  /** Pixels per latent along each side when encoding (an image side must be a multiple of it). */
  readonly downscale: number;
  /** Decoder input (latents already unscaled) → diffusers' `vae.decode(z).sample`, [-1, 1]. */
  decode<T>(ops: NetOps<T>, z: T): T;
  /** Image in [-1, 1] → the latent distribution (diffusers' `vae.encode(x)`, before any scaling). */
  encode<T>(ops: NetOps<T>, x: T): EncoderOutput<T>;
}

export function activationOf(name: unknown, where: string): Activation {
  if (name === 'relu') return 'relu';
  if (name === 'silu' || name === 'swish') return 'silu';
  if (name === 'gelu') return 'gelu';
  throw new UserError(`${where}: act_fn ${JSON.stringify(name)} is not supported (relu, silu/swish, gelu)`);
}

/** Shapes only: `[channels, height, width]` per image. */
export type ShapeT = [number, number, number];

/**
 * Runs an architecture on shapes: every weight it reads must exist in `tensors` with the shape the config
 * implies. The first problem becomes a one-line UserError naming `label` (the checkpoint file). Records the
 * weights read, so a loader knows what a part of the network needs.
 */
export class ShapeOps implements NetOps<ShapeT> {
  readonly used = new Set<string>();

  constructor(
    private readonly tensors: TensorMap,
    private readonly label: string,
  ) {}

  private weight(name: string, shape: number[]): HostTensor {
    const t = this.tensors.get(name);
    if (!t) throw new UserError(`${this.label}: missing tensor "${name}" (expected shape [${shape}]); the checkpoint does not match its config.json`);
    if (t.dtype !== 'float32') throw new UserError(`${this.label}: tensor "${name}" is ${t.dtype}, expected a floating-point tensor`);
    if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) {
      throw new UserError(`${this.label}: tensor "${name}" has shape [${t.shape}], expected [${shape}] from config.json`);
    }
    this.used.add(name);
    return t;
  }

  channels(x: ShapeT): number {
    return x[0];
  }
  conv(x: ShapeT, name: string, s: ConvSpec): ShapeT {
    this.weight(`${name}.weight`, [s.out, x[0], s.k, s.k]);
    if (s.bias !== false) this.weight(`${name}.bias`, [s.out]);
    const [t, l, b, r] = s.pad ?? [s.k >> 1, s.k >> 1, s.k >> 1, s.k >> 1];
    const st = s.stride ?? 1;
    const h = Math.floor((x[1] + t + b - s.k) / st) + 1;
    const w = Math.floor((x[2] + l + r - s.k) / st) + 1;
    if (h < 1 || w < 1) throw new UserError(`${this.label}: the image is too small for "${name}" (${x[1]}×${x[2]})`);
    return [s.out, h, w];
  }
  act(x: ShapeT): ShapeT {
    return x;
  }
  groupNorm(x: ShapeT, name: string, groups: number): ShapeT {
    if (x[0] % groups !== 0) throw new UserError(`${this.label}: "${name}" normalises ${x[0]} channels in ${groups} groups (norm_num_groups must divide every block's channels)`);
    this.weight(`${name}.weight`, [x[0]]);
    this.weight(`${name}.bias`, [x[0]]);
    return x;
  }
  upsample(x: ShapeT, f: number): ShapeT {
    return [x[0], x[1] * f, x[2] * f];
  }
  upsampleConv(x: ShapeT, f: number, name: string, s: ConvSpec): ShapeT {
    return this.conv(this.upsample(x, f), name, s);
  }
  add(a: ShapeT, b: ShapeT): ShapeT {
    if (a.some((d, i) => d !== b[i])) throw new Error(`ShapeOps: add of [${a}] and [${b}]`);
    return a;
  }
  affine(x: ShapeT): ShapeT {
    return x;
  }
  channelAffine(x: ShapeT, a: number[], b: number[]): ShapeT {
    if (a.length !== x[0] || b.length !== x[0]) throw new Error(`ShapeOps: per-channel affine of ${a.length} values on ${x[0]} channels`);
    return x;
  }
  tanh(x: ShapeT): ShapeT {
    return x;
  }
  sliceChannels(x: ShapeT, start: number, end: number): ShapeT {
    return [end - start, x[1], x[2]];
  }
  spatialAttention(x: ShapeT, name: string, heads: number): ShapeT {
    const c = x[0];
    if (c % heads !== 0) throw new UserError(`${this.label}: "${name}" splits ${c} channels into ${heads} heads`);
    for (const p of ['to_q', 'to_k', 'to_v', 'to_out.0']) {
      this.weight(`${name}.${p}.weight`, [c, c]);
      this.weight(`${name}.${p}.bias`, [c]);
    }
    return x;
  }
}

/** The weights the decoder (or encoder) of `arch` reads, after checking them all against `tensors`. */
export function checkWeights(arch: VaeArch, tensors: TensorMap, label: string, part: 'decoder' | 'encoder'): Set<string> {
  const ops = new ShapeOps(tensors, label);
  const n = 8 * arch.upscale; // any size the network takes; weights do not depend on it
  if (part === 'decoder') arch.decode(ops, [arch.latentChannels, n, n]);
  else arch.encode(ops, [arch.imageChannels, n * arch.downscale, n * arch.downscale]);
  return ops.used;
}

/** Typed reads of a diffusers config.json; a wrong type is a one-line UserError naming the file and key. */
export class ConfigReader {
  constructor(
    readonly json: Record<string, unknown>,
    readonly label: string,
  ) {}

  private bad(key: string, what: string): UserError {
    return new UserError(`${this.label}: "${key}" must be ${what}, got ${JSON.stringify(this.json[key])}`);
  }
  num(key: string, dflt: number): number {
    const v = this.json[key] ?? dflt;
    if (typeof v !== 'number' || !Number.isFinite(v)) throw this.bad(key, 'a number');
    return v;
  }
  int(key: string, dflt: number, min = 1): number {
    const v = this.num(key, dflt);
    if (!Number.isInteger(v) || v < min) throw this.bad(key, `an integer ≥ ${min}`);
    return v;
  }
  ints(key: string, dflt: number[]): number[] {
    const v = this.json[key] ?? dflt;
    if (!Array.isArray(v) || v.length === 0 || v.some((x) => !Number.isInteger(x) || x < 1)) throw this.bad(key, 'a non-empty list of positive integers');
    return v as number[];
  }
  strs(key: string, dflt: string[]): string[] {
    const v = this.json[key] ?? dflt;
    if (!Array.isArray(v) || v.some((x) => typeof x !== 'string')) throw this.bad(key, 'a list of strings');
    return v as string[];
  }
  bool(key: string, dflt: boolean): boolean {
    const v = this.json[key] ?? dflt;
    if (typeof v !== 'boolean') throw this.bad(key, 'true or false');
    return v;
  }
  /** A list of numbers of length `n`, or undefined when absent / null. */
  optNums(key: string, n: number): number[] | undefined {
    const v = this.json[key];
    if (v === undefined || v === null) return undefined;
    if (!Array.isArray(v) || v.length !== n || v.some((x) => typeof x !== 'number' || !Number.isFinite(x))) throw this.bad(key, `null or a list of ${n} numbers`);
    return v as number[];
  }
  str(key: string, dflt: string): string {
    const v = this.json[key] ?? dflt;
    if (typeof v !== 'string') throw this.bad(key, 'a string');
    return v;
  }
  error(msg: string): UserError {
    return new UserError(`${this.label}: ${msg}`);
  }
}
