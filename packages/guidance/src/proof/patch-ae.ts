import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as ort from 'onnxruntime-node';
import { HostAdamW, UserError } from '@richhf/reward';
import { readSafetensors, writeSafetensors, type HostTensor, type TensorMap } from '@richhf/reward/io';
import { GraphBuilder, OPSET, encodeModel, gradientModel, type OnnxModel } from '@richhf/reward/onnx';
import { Progress, writeFileAtomic } from '@richhf/reward/util';
import { checkLatents, type DifferentiableDecoder } from '../decoders/decoder';

/*
 * The synthetic world's autoencoder: a linear patch code (a k×k stride-s convolution to 4 latent channels and
 * its transposed convolution back; by default 2×2 patches, so 128² images have [4, 64, 64] latents, SD's latent
 * shape for 512² images), trained on synthetic-world images with onnxruntime — the graph written with the
 * reward package's GraphBuilder, differentiated w.r.t. its weights by its autodiff, updated by its host AdamW —
 * and scaled to unit variance like SD's latents.
 *
 * Why so plain (README, "The synthetic world"): what the proof needs is that the reward still sees in decoded
 * images what the world's truth measures. Measured on the bundled set (within-prompt Pearson r of the reward's
 * weighted score with the true overall, 384 images): originals 0.53; a TAESD-shaped network (diffusers'
 * AutoencoderTiny, 16×16×4 latents) after 1000 steps here ≈ 0 — it reconstructed worse than an 8×8 block
 * average and lost colour; linear codes at 8× (4×4 and lapped 8×8 windows) 0.10–0.44, the reward reading their
 * blur and block edges as artifacts; at 2× 0.56. A linear code needs no long training (it converges to the
 * principal components) and its VJP is exact and cheap.
 */

export interface PatchAeConfig {
  _class_name: 'PatchAutoencoder';
  latent_channels: number;
  /** Window side and stride: latents are 1/stride of the image side. */
  kernel: number;
  stride: number;
  /** Sampler latents = code · scaling_factor (unit variance on the training world). */
  scaling_factor: number;
}

export const PATCH_AE_CONFIG: Readonly<PatchAeConfig> = Object.freeze({ _class_name: 'PatchAutoencoder', latent_channels: 4, kernel: 2, stride: 2, scaling_factor: 1 });

const pad = (c: PatchAeConfig) => (c.kernel - c.stride) / 2;

function checkConfig(c: PatchAeConfig, label: string): PatchAeConfig {
  if (c._class_name !== 'PatchAutoencoder') throw new UserError(`${label}: _class_name ${JSON.stringify(c._class_name)} is not PatchAutoencoder`);
  for (const k of ['latent_channels', 'kernel', 'stride'] as const) if (!Number.isInteger(c[k]) || c[k] < 1) throw new UserError(`${label}: "${k}" must be an integer ≥ 1`);
  if ((c.kernel - c.stride) % 2 !== 0) throw new UserError(`${label}: kernel − stride must be even`);
  if (!(Number.isFinite(c.scaling_factor) && c.scaling_factor > 0)) throw new UserError(`${label}: "scaling_factor" must be a number > 0`);
  return c;
}

/** encoder.weight [C, 3, k, k], encoder.bias [C], decoder.weight [C, 3, k, k] (ConvTranspose), decoder.bias [3]. */
export function initPatchWeights(c: PatchAeConfig, seed = 0): TensorMap {
  let s = (seed + 0x9e3779b9) >>> 0;
  const rnd = () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s / 4294967296 - 0.5;
  };
  const k = c.kernel;
  const w = (scale: number) => Float32Array.from({ length: c.latent_channels * 3 * k * k }, () => rnd() * scale);
  return new Map<string, HostTensor>([
    ['encoder.weight', { dtype: 'float32', shape: [c.latent_channels, 3, k, k], data: w(2 / k) }],
    ['encoder.bias', { dtype: 'float32', shape: [c.latent_channels], data: new Float32Array(c.latent_channels) }],
    ['decoder.weight', { dtype: 'float32', shape: [c.latent_channels, 3, k, k], data: w(2 / k) }],
    ['decoder.bias', { dtype: 'float32', shape: [3], data: new Float32Array(3) }],
  ]);
}

type Weight = (name: string) => string;

/** code [B, C, h, w] → image NCHW in [−1, 1] (unclamped). */
function decodeOps(g: GraphBuilder, c: PatchAeConfig, z: string, w: Weight): string {
  const p = pad(c);
  return g.op('ConvTranspose', [z, w('decoder.weight'), w('decoder.bias')], { kernel_shape: [c.kernel, c.kernel], strides: [c.stride, c.stride], pads: [p, p, p, p] });
}

/** image NCHW in [−1, 1] → code [B, C, H/stride, W/stride]. */
function encodeOps(g: GraphBuilder, c: PatchAeConfig, x: string, w: Weight): string {
  const p = pad(c);
  return g.op('Conv', [x, w('encoder.weight'), w('encoder.bias')], { kernel_shape: [c.kernel, c.kernel], strides: [c.stride, c.stride], pads: [p, p, p, p] });
}

const toSigned = (g: GraphBuilder, pixels: string) => g.add(g.mul(g.transpose(pixels, [0, 3, 1, 2]), g.f32(2)), g.f32(-1));

export class PatchAutoencoder {
  private readonly sessions = new Map<string, Promise<ort.InferenceSession>>();

  constructor(
    readonly config: PatchAeConfig,
    readonly weights: TensorMap,
    readonly label = 'patch autoencoder',
    private readonly threads = os.cpus().length,
  ) {
    checkConfig(config, label);
  }

  static load(dir: string, opts: { threads?: number } = {}): PatchAutoencoder {
    const cfgFile = path.join(dir, 'config.json');
    if (!fs.existsSync(cfgFile)) throw new UserError(`${dir}: no config.json (a patch autoencoder folder, as guide synth-ldm writes it)`);
    const config = JSON.parse(fs.readFileSync(cfgFile, 'utf8')) as PatchAeConfig;
    const weights = readSafetensors(path.join(dir, 'model.safetensors'));
    const ae = new PatchAutoencoder(checkConfig(config, cfgFile), weights, dir, opts.threads);
    for (const [k, t] of initPatchWeights(config)) {
      const got = weights.get(k);
      if (!got || got.shape.join() !== t.shape.join()) throw new UserError(`${dir}/model.safetensors: tensor "${k}" must have shape [${t.shape}]`);
    }
    return ae;
  }

  save(dir: string): void {
    fs.mkdirSync(dir, { recursive: true });
    writeSafetensors(path.join(dir, 'model.safetensors'), this.weights);
    writeFileAtomic(path.join(dir, 'config.json'), JSON.stringify(this.config, null, 2) + '\n');
  }

  get latentChannels(): number {
    return this.config.latent_channels;
  }
  get factor(): number {
    return this.config.stride;
  }

  private session(key: string, build: () => OnnxModel): Promise<ort.InferenceSession> {
    let s = this.sessions.get(key);
    if (!s) {
      s = ort.InferenceSession.create(encodeModel(build()), { intraOpNumThreads: this.threads, interOpNumThreads: 1, graphOptimizationLevel: 'all' });
      this.sessions.set(key, s);
    }
    return s;
  }

  private init(g: GraphBuilder): Weight {
    return (name) => g.memo(`w:${name}`, () => g.init(name, this.weights.get(name)!.data as Float32Array, this.weights.get(name)!.shape));
  }

  /** Sampler latents [B, C, h, w] → pixels NHWC in [0, 1] (clamped like diffusers' postprocess). */
  decoderModel(shape: [number, number, number, number], grad: boolean): OnnxModel {
    const c = this.config;
    const [b, ch, h, w] = shape;
    const [H, W] = [h * c.stride, w * c.stride];
    const g = new GraphBuilder('patch_decoder');
    const z = g.mul(g.input('latents', 'float32', [b, ch, h, w]), g.f32(1 / c.scaling_factor));
    const y = decodeOps(g, c, z, this.init(g));
    const p01 = g.op('Min', [g.op('Max', [g.add(g.mul(y, g.f32(0.5)), g.f32(0.5)), g.f32(0)]), g.f32(1)]);
    g.output(g.transpose(p01, [0, 2, 3, 1]), 'pixels', 'float32', [b, H, W, 3]);
    const graph = g.build();
    if (!grad) return { graph, opset: OPSET, producer: '@richhf/guidance' };
    return gradientModel(graph, { inputShapes: { latents: shape }, seeds: [{ value: 'pixels', input: 'grad_pixels' }], wrt: ['latents'], keepOutputs: ['pixels'] });
  }

  async decode(latents: Float32Array, shape: [number, number, number, number]): Promise<Float32Array> {
    checkLatents(this.label, this.latentChannels, latents, shape);
    const s = await this.session(`dec:${shape}`, () => this.decoderModel(shape, false));
    return (await s.run({ latents: new ort.Tensor('float32', latents, shape) })).pixels.data as Float32Array;
  }

  async decodeVjp(latents: Float32Array, shape: [number, number, number, number], gradPixels: Float32Array): Promise<{ pixels: Float32Array; gradLatents: Float32Array }> {
    checkLatents(this.label, this.latentChannels, latents, shape);
    const [b, , h, w] = shape;
    const ps = [b, h * this.factor, w * this.factor, 3];
    if (gradPixels.length !== ps.reduce((x, y) => x * y, 1)) throw new UserError(`${this.label}: the pixel gradient holds ${gradPixels.length} values, the pixels [${ps}]`);
    const s = await this.session(`vjp:${shape}`, () => this.decoderModel(shape, true));
    const r = await s.run({ latents: new ort.Tensor('float32', latents, shape), grad_pixels: new ort.Tensor('float32', gradPixels, ps) });
    return { pixels: r.pixels.data as Float32Array, gradLatents: r.grad_latents.data as Float32Array };
  }

  /** Pixels NHWC [B, H, W, 3] in [0, 1] (sides multiples of the stride) → sampler latents. */
  async encode(pixels: Float32Array, shape: [number, number, number, number]): Promise<Float32Array> {
    const [b, H, W] = shape;
    const c = this.config;
    if (H % c.stride || W % c.stride || pixels.length !== b * H * W * 3) throw new UserError(`${this.label}: pixels [${shape}] do not fit (sides multiples of ${c.stride}, 3 channels)`);
    const s = await this.session(`enc:${shape}`, () => {
      const g = new GraphBuilder('patch_encoder');
      const z = encodeOps(g, c, toSigned(g, g.input('pixels', 'float32', [b, H, W, 3])), this.init(g));
      g.output(g.mul(z, g.f32(c.scaling_factor)), 'latents', 'float32', [b, c.latent_channels, H / c.stride, W / c.stride]);
      return { graph: g.build(), opset: OPSET, producer: '@richhf/guidance' };
    });
    return (await s.run({ pixels: new ort.Tensor('float32', pixels, shape) })).latents.data as Float32Array;
  }

  /** The same weights with another scaling factor (sessions are not shared). */
  withScaling(scaling: number): PatchAutoencoder {
    return new PatchAutoencoder({ ...this.config, scaling_factor: scaling }, this.weights, this.label, this.threads);
  }

  async dispose(): Promise<void> {
    const all = [...this.sessions.values()];
    this.sessions.clear();
    for (const s of all) await (await s.catch(() => undefined))?.release();
  }
}

/** The decoder half as the package's decoder contract (what guidance and the proof take). */
export class PatchDecoder implements DifferentiableDecoder {
  readonly scalingFactor: number;
  readonly upscale: number;
  readonly latentChannels: number;
  constructor(readonly ae: PatchAutoencoder) {
    this.scalingFactor = ae.config.scaling_factor;
    this.upscale = ae.factor;
    this.latentChannels = ae.latentChannels;
  }
  decode(latents: Float32Array, shape: [number, number, number, number]): Promise<Float32Array> {
    return this.ae.decode(latents, shape);
  }
  decodeVjp(latents: Float32Array, shape: [number, number, number, number], gradPixels: Float32Array) {
    return this.ae.decodeVjp(latents, shape, gradPixels);
  }
  dispose(): Promise<void> {
    return this.ae.dispose();
  }
}

export interface TrainPatchAeOptions {
  batchAt: (step: number) => Float32Array;
  batch: number;
  size: number;
  steps: number;
  lr?: number;
  seed?: number;
  threads?: number;
  /** Resumable state (weights, moments, step), saved every `saveEvery` steps (default 100). */
  stateDir?: string;
  saveEvery?: number;
  progress?: boolean;
  log?: (line: string) => void;
}

/** Trains the autoencoder (mean squared error in [−1, 1]); returns it with scaling factor 1 and the last steps' mean error. */
export async function trainPatchAutoencoder(o: TrainPatchAeOptions, config: PatchAeConfig = { ...PATCH_AE_CONFIG }): Promise<{ ae: PatchAutoencoder; mse: number; seconds: number }> {
  checkConfig(config, 'patch autoencoder config');
  const log = o.log ?? ((l: string) => process.stderr.write(l + '\n'));
  const key = JSON.stringify({ config, batch: o.batch, size: o.size, steps: o.steps, lr: o.lr, seed: o.seed });
  const weights = initPatchWeights(config, o.seed ?? 0);
  const adam = new HostAdamW({ weightDecay: 0 });
  let start = 0;
  let before = { seconds: 0, mse: NaN };
  const meta = o.stateDir && path.join(o.stateDir, 'state.json');
  if (meta && fs.existsSync(meta)) {
    const m = JSON.parse(fs.readFileSync(meta, 'utf8')) as { key: string; step: number; seconds?: number; mse?: number };
    if (m.key !== key) throw new UserError(`${o.stateDir}: a training run with other options is there; remove it to start afresh`);
    const saved = readSafetensors(path.join(o.stateDir!, 'state.safetensors'));
    const moments: TensorMap = new Map();
    for (const [k, t] of saved) (k.startsWith('m.') || k.startsWith('v.') ? moments : weights).set(k, t);
    adam.load(moments, m.step, weights);
    start = m.step;
    before = { seconds: m.seconds ?? 0, mse: m.mse ?? NaN };
    log(`patch autoencoder: resuming at step ${start} of ${o.steps}`);
  }
  const params = new Map([...weights].map(([k, t]) => [k, { data: t.data as Float32Array, shape: t.shape }]));
  const g = new GraphBuilder('patch_ae_train');
  const w: Weight = (name) => g.memo(`in:${name}`, () => g.input(name, 'float32', weights.get(name)!.shape));
  const x = toSigned(g, g.input('pixels', 'float32', [o.batch, o.size, o.size, 3]));
  const d = g.sub(decodeOps(g, config, encodeOps(g, config, x, w), w), x);
  g.output(g.op('ReduceMean', [g.mul(d, d)], { keepdims: 0 }), 'loss', 'float32', []);
  const inputShapes: Record<string, number[]> = { pixels: [o.batch, o.size, o.size, 3] };
  for (const [k, t] of weights) inputShapes[k] = t.shape;
  const model = gradientModel(g.build(), { inputShapes, loss: 'loss', wrt: [...weights.keys()], keepOutputs: ['loss'] });
  const session = await ort.InferenceSession.create(encodeModel(model), { intraOpNumThreads: o.threads ?? os.cpus().length, interOpNumThreads: 1 });
  const save = async () => {
    if (!o.stateDir) return;
    fs.mkdirSync(o.stateDir, { recursive: true });
    const all: TensorMap = new Map(weights);
    for (const [k, t] of await adam.state()) all.set(k, t);
    writeSafetensors(path.join(o.stateDir, 'state.safetensors'), all);
    writeFileAtomic(meta!, JSON.stringify({ key, step: adam.step, seconds: seconds(), mse: mse() }) + '\n');
  };
  const progress = new Progress(o.steps - start, 'autoencoder', { enabled: o.progress !== false, unit: 'step' });
  const t0 = Date.now();
  const recent: number[] = [];
  const seconds = () => before.seconds + (Date.now() - t0) / 1000;
  const mse = () => (recent.length ? recent.reduce((a, b) => a + b, 0) / recent.length : before.mse);
  const peak = o.lr ?? 3e-3;
  try {
    for (let step = start; step < o.steps; step++) {
      const feeds: Record<string, ort.Tensor> = { pixels: new ort.Tensor('float32', o.batchAt(step), [o.batch, o.size, o.size, 3]) };
      for (const [k, p] of params) feeds[k] = new ort.Tensor('float32', p.data, p.shape);
      const r = await session.run(feeds);
      const loss = (r.loss.data as Float32Array)[0];
      if (!Number.isFinite(loss)) throw new Error(`patch autoencoder: the loss is ${loss} at step ${step}`);
      const grads = new Map([...params.keys()].map((k) => [k, r[`grad_${k}`].data as Float32Array]));
      adam.apply(params, grads, peak * 0.5 * (1 + Math.cos((Math.PI * step) / o.steps)));
      recent.push(loss);
      if (recent.length > 50) recent.shift();
      progress.tick(1, `mse ${(recent.reduce((a, b) => a + b, 0) / recent.length).toFixed(5)}`);
      if ((step + 1) % (o.saveEvery ?? 100) === 0) await save();
    }
    await save();
  } finally {
    await session.release();
  }
  return { ae: new PatchAutoencoder(config, weights, 'patch autoencoder', o.threads), mse: mse(), seconds: seconds() };
}
