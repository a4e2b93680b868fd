import * as os from 'os';
import * as ort from 'onnxruntime-node';
import { UserError } from '@richhf/reward';
import { OnnxModel, encodeModel, gradientModel } from '@richhf/reward/onnx';
import { ReadVaeOptions, VaeCheckpoint, partWeights, readVaeCheckpoint } from './checkpoint';
import { DecodedWithVjp, DifferentiableDecoder, LatentEncoder, checkLatents, checkPixels, scaleLatents } from './decoder';
import { splitVjp } from './split-vjp';
import { asModel, decoderGraph, encoderGraph } from './onnx-graph';

/*
 * The VAE in onnxruntime-node, multi-threaded: the decoder graph (onnx-graph.ts) and, for the
 * vector–Jacobian products, its gradient graph written by the reward package's autodiff (seed input = d
 * objective / d output, wrt = the latents), forward and backward in one session. Gradient graphs are built
 * for fixed shapes, so sessions are built per (output, batch, latent size) on first use and kept (least
 * recently used dropped first), as the reward package's OrtScoreGrad does.
 */

export interface OrtVaeOptions {
  /** intraOpNumThreads (default: the number of CPUs). */
  threads?: number;
  /** Sessions kept at once (default 4). */
  maxSessions?: number;
  /** onnxruntime graph optimisation (default 'all'). */
  graphOptimizationLevel?: 'disabled' | 'basic' | 'extended' | 'all';
  /**
   * Let idle intra-op threads spin-wait for work (onnxruntime's default; here default false). Spinning saves a
   * wake-up per parallel op on idle cores but burns them while other jobs wait: on the shared 2-core machine the
   * guided TAESD step took 0.8 CPU-s without it, 1.1–1.3 with (README, Speed).
   */
  spin?: boolean;
}

type Shape4 = [number, number, number, number];

/** Sessions built on demand and kept per key (least recently used dropped first); one key may hold several. */
class SessionCache {
  private readonly sessions = new Map<string, Promise<ort.InferenceSession[]>>();

  constructor(private readonly opts: OrtVaeOptions) {
    const t = opts.threads ?? os.cpus().length;
    if (!(Number.isInteger(t) && t > 0)) throw new UserError(`threads must be a positive integer, got ${t}`);
  }

  async get(key: string, build: () => OnnxModel): Promise<ort.InferenceSession> {
    return (await this.getMany(key, () => [build()]))[0];
  }

  getMany(key: string, build: () => OnnxModel[]): Promise<ort.InferenceSession[]> {
    let s = this.sessions.get(key);
    if (s) {
      this.sessions.delete(key);
      this.sessions.set(key, s);
      return s;
    }
    s = (async () => {
      const made: ort.InferenceSession[] = [];
      try {
        for (const m of build()) made.push(await ort.InferenceSession.create(encodeModel(m), this.sessionOptions()));
        return made;
      } catch (e) {
        for (const x of made) await x.release();
        throw e;
      }
    })();
    this.sessions.set(key, s);
    s.catch(() => this.sessions.delete(key));
    while (this.sessions.size > (this.opts.maxSessions ?? 4)) {
      const [oldKey, old] = this.sessions.entries().next().value as [string, Promise<ort.InferenceSession[]>];
      this.sessions.delete(oldKey);
      void old.then((o) => Promise.all(o.map((x) => x.release()))).catch(() => undefined);
    }
    return s;
  }

  private sessionOptions(): ort.InferenceSession.SessionOptions {
    return {
      intraOpNumThreads: this.opts.threads ?? os.cpus().length,
      interOpNumThreads: 1,
      executionMode: 'sequential',
      graphOptimizationLevel: this.opts.graphOptimizationLevel ?? 'all',
      // Flush denormals: small gradients multiplied through many layers can reach them, and x86 arithmetic
      // on denormals takes a slow path.
      extra: { session: { set_denormal_as_zero: '1', 'intra_op.allow_spinning': this.opts.spin ? '1' : '0' } },
    };
  }

  async dispose(): Promise<void> {
    const all = [...this.sessions.values()];
    this.sessions.clear();
    for (const s of all) for (const x of (await s.catch(() => undefined)) ?? []) await x.release();
  }
}

export class OrtDecoder implements DifferentiableDecoder {
  readonly latentChannels: number;
  readonly scalingFactor: number;
  readonly shiftFactor: number;
  readonly upscale: number;
  readonly label: string;
  private readonly cache: SessionCache;

  constructor(
    readonly checkpoint: VaeCheckpoint,
    opts: OrtVaeOptions = {},
  ) {
    const a = checkpoint.arch;
    this.latentChannels = a.latentChannels;
    this.scalingFactor = a.scalingFactor;
    this.shiftFactor = a.shiftFactor;
    this.upscale = a.upscale;
    this.label = `${a.kind} ${checkpoint.dir}`;
    this.cache = new SessionCache(opts);
    partWeights(checkpoint, 'decoder');
  }

  static async load(dirOrHubId: string, opts: OrtVaeOptions & ReadVaeOptions = {}): Promise<OrtDecoder> {
    return new OrtDecoder(await readVaeCheckpoint(dirOrHubId, opts), opts);
  }

  private outShape(out: 'pixels' | 'sample', s: Shape4): Shape4 {
    const [b, , h, w] = s;
    const c = this.checkpoint.arch.imageChannels;
    return out === 'pixels' ? [b, h * this.upscale, w * this.upscale, c] : [b, c, h * this.upscale, w * this.upscale];
  }

  /** The forward graph, or with `grad` the gradient graph (inputs latents, grad_<out>; outputs <out>, grad_latents). */
  buildModel(out: 'pixels' | 'sample', shape: Shape4, grad: boolean): OnnxModel {
    const graph = decoderGraph(this.checkpoint, { shape, outputs: [out] });
    if (!grad) return asModel(graph);
    return gradientModel(graph, { inputShapes: { latents: shape }, seeds: [{ value: out, input: `grad_${out}` }], wrt: ['latents'], keepOutputs: [out] });
  }

  private async forward(out: 'pixels' | 'sample', latents: Float32Array, shape: Shape4): Promise<Float32Array> {
    checkLatents(this.label, this.latentChannels, latents, shape);
    const s = await this.cache.get(`${out}:${shape}`, () => this.buildModel(out, shape, false));
    const r = await s.run({ latents: new ort.Tensor('float32', latents, shape) });
    return r[out].data as Float32Array;
  }

  private async vjp(out: 'pixels' | 'sample', latents: Float32Array, shape: Shape4, dy: Float32Array): Promise<{ value: Float32Array; grad: Float32Array }> {
    checkLatents(this.label, this.latentChannels, latents, shape);
    const os_ = this.outShape(out, shape);
    const n = os_.reduce((a, b) => a * b, 1);
    if (dy.length !== n) throw new UserError(`${this.label}: the output gradient holds ${dy.length} values, the output [${os_}] ${n}`);
    const s = await this.cache.get(`grad_${out}:${shape}`, () => this.buildModel(out, shape, true));
    const r = await s.run({ latents: new ort.Tensor('float32', latents, shape), [`grad_${out}`]: new ort.Tensor('float32', dy, os_) });
    return { value: r[out].data as Float32Array, grad: r.grad_latents.data as Float32Array };
  }

  decode(latents: Float32Array, shape: Shape4): Promise<Float32Array> {
    return this.forward('pixels', latents, shape);
  }

  /**
   * Decode, keeping what the backward pass needs (the gradient graph split at its seed, split-vjp.ts): the
   * VJP then runs only the backward half, where `decode` + `decodeVjp` would run the forward twice.
   */
  async decodeWithVjp(latents: Float32Array, shape: Shape4): Promise<DecodedWithVjp> {
    checkLatents(this.label, this.latentChannels, latents, shape);
    const [fwd, bwd] = await this.cache.getMany(`split_pixels:${shape}`, () => {
      const s = splitVjp(this.buildModel('pixels', shape, true), ['grad_pixels'], { latents: shape, grad_pixels: this.outShape('pixels', shape) }, ['pixels']);
      return [s.forward, s.backward];
    });
    const lat = new ort.Tensor('float32', latents, shape);
    const r = await fwd.run({ latents: lat });
    const os_ = this.outShape('pixels', shape);
    const n = os_.reduce((a, b) => a * b, 1);
    const feeds: Record<string, ort.Tensor> = {};
    // (A copy of the latents where the backward reads them: the caller may reuse its array before calling vjp.)
    for (const name of bwd.inputNames) if (name !== 'grad_pixels') feeds[name] = name === 'latents' ? new ort.Tensor('float32', latents.slice(), shape) : r[name];
    return {
      pixels: r.pixels.data as Float32Array,
      vjp: async (dy) => {
        if (dy.length !== n) throw new UserError(`${this.label}: the output gradient holds ${dy.length} values, the output [${os_}] ${n}`);
        const o = await bwd.run({ ...feeds, grad_pixels: new ort.Tensor('float32', dy, os_) });
        return o.grad_latents.data as Float32Array;
      },
    };
  }

  /** diffusers' `vae.decode(latents / scaling_factor).sample`, NCHW in [-1, 1]. */
  decodeDiffusers(latents: Float32Array, shape: Shape4): Promise<Float32Array> {
    return this.forward('sample', latents, shape);
  }

  async decodeVjp(latents: Float32Array, shape: Shape4, gradPixels: Float32Array): Promise<{ pixels: Float32Array; gradLatents: Float32Array }> {
    const r = await this.vjp('pixels', latents, shape, gradPixels);
    return { pixels: r.value, gradLatents: r.grad };
  }

  /** The VJP of `decodeDiffusers`: `gradSample` is d objective / d sample (NCHW). */
  async decodeDiffusersVjp(latents: Float32Array, shape: Shape4, gradSample: Float32Array): Promise<{ sample: Float32Array; gradLatents: Float32Array }> {
    const r = await this.vjp('sample', latents, shape, gradSample);
    return { sample: r.value, gradLatents: r.grad };
  }

  async dispose(): Promise<void> {
    await this.cache.dispose();
  }
}

/** The VAE's encoder in onnxruntime (forward only): diffusers' latent distribution, scaled as samplers hold latents. */
export class OrtEncoder implements LatentEncoder {
  readonly latentChannels: number;
  readonly scalingFactor: number;
  readonly shiftFactor: number;
  readonly downscale: number;
  readonly label: string;
  private readonly cache: SessionCache;

  constructor(
    readonly checkpoint: VaeCheckpoint,
    opts: OrtVaeOptions = {},
  ) {
    const a = checkpoint.arch;
    this.latentChannels = a.latentChannels;
    this.scalingFactor = a.scalingFactor;
    this.shiftFactor = a.shiftFactor;
    this.downscale = a.downscale;
    this.label = `${a.kind} ${checkpoint.dir}`;
    this.cache = new SessionCache(opts);
    partWeights(checkpoint, 'encoder');
  }

  static async load(dirOrHubId: string, opts: OrtVaeOptions & ReadVaeOptions = {}): Promise<OrtEncoder> {
    return new OrtEncoder(await readVaeCheckpoint(dirOrHubId, opts), opts);
  }

  async encode(pixels: Float32Array, shape: Shape4, opts: { noise?: Float32Array } = {}): Promise<Float32Array> {
    checkPixels(this.label, this.checkpoint.arch.imageChannels, this.downscale, pixels, shape);
    const s = await this.cache.get(`${shape}`, () => asModel(encoderGraph(this.checkpoint, { shape })));
    const r = await s.run({ pixels: new ort.Tensor('float32', pixels, shape) });
    const logvar = r.logvar?.data as Float32Array | undefined;
    return scaleLatents(r.mean.data as Float32Array, logvar, opts.noise, this.checkpoint.arch.unscale, this.label, (shape[1] / this.downscale) * (shape[2] / this.downscale));
  }

  async dispose(): Promise<void> {
    await this.cache.dispose();
  }
}
