import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as ort from 'onnxruntime-node';
import { HostAdamW, UserError } from '@richhf/reward';
import { readSafetensors, writeSafetensors, type HostTensor, type TensorMap } from '@richhf/reward/io';
import { GraphBuilder, encodeModel, gradientModel } from '@richhf/reward/onnx';
import { Progress, writeFileAtomic } from '@richhf/reward/util';
import { TinyArch, tinyConfig } from '../decoders/autoencoder-tiny-arch';
import { ConfigReader, type ConvSpec, type NetOps, type ShapeT } from '../decoders/net';
import { OnnxOps } from '../decoders/onnx-ops';

/*
 * A tiny TAESD-shaped autoencoder (diffusers' AutoencoderTiny config, small channel counts) trained from
 * scratch on synthetic-world images with onnxruntime: the encoder → decoder graph is written with the
 * decoders' own OnnxOps (so the trained weights are exactly what loadDecoder runs), differentiated w.r.t.
 * every weight by the reward package's autodiff, and updated on the host with its AdamW. The result is an
 * ordinary diffusers folder (config.json + diffusion_pytorch_model.safetensors) that loadDecoder /
 * loadEncoder open on either engine. Training resumes from `<out>.train/` (weights, moments, step).
 */

/** The bundled architecture: 128² RGB ↔ 4 × 16 × 16 latents (TAESD's 8× factor), ~0.2 M weights. */
export const TINY_AE_CONFIG = Object.freeze({
  _class_name: 'AutoencoderTiny',
  in_channels: 3,
  out_channels: 3,
  latent_channels: 4,
  encoder_block_out_channels: [8, 16, 32, 32],
  num_encoder_blocks: [1, 1, 1, 1],
  decoder_block_out_channels: [32, 32, 16, 8],
  num_decoder_blocks: [2, 2, 1, 1],
  act_fn: 'relu',
  upsampling_scaling_factor: 2,
  scaling_factor: 1,
  shift_factor: 0,
});

export interface TrainAeOptions {
  /** Folder to write (config.json + diffusion_pytorch_model.safetensors). */
  out: string;
  /** A batch of NHWC images in [0, 1] for a step ([batch, size, size, 3]). */
  batchAt: (step: number) => Float32Array;
  size: number;
  batch: number;
  steps: number;
  /** Peak learning rate (linear warm-up over the first 5 %, cosine to 10 % of it). */
  lr?: number;
  /** Weight of mean(z²), which keeps latents inside TAESD's ±3 soft clamp. */
  latentPenalty?: number;
  config?: Record<string, unknown>;
  seed?: number;
  threads?: number;
  /** Where the resumable state goes (default `<out>.train`). */
  stateDir?: string;
  /** Save every this many steps (default 100). */
  saveEvery?: number;
  progress?: boolean;
  log?: (line: string) => void;
}

/** Parameter names and shapes an architecture reads (a shape walk that records instead of checking). */
class ParamShapes implements NetOps<ShapeT> {
  readonly params = new Map<string, number[]>();
  channels(x: ShapeT): number {
    return x[0];
  }
  conv(x: ShapeT, name: string, s: ConvSpec): ShapeT {
    this.params.set(`${name}.weight`, [s.out, x[0], s.k, s.k]);
    if (s.bias !== false) this.params.set(`${name}.bias`, [s.out]);
    const st = s.stride ?? 1;
    return [s.out, Math.floor((x[1] + 2 * (s.k >> 1) - s.k) / st) + 1, Math.floor((x[2] + 2 * (s.k >> 1) - s.k) / st) + 1];
  }
  act(x: ShapeT): ShapeT {
    return x;
  }
  groupNorm(x: ShapeT, name: string): ShapeT {
    this.params.set(`${name}.weight`, [x[0]]);
    this.params.set(`${name}.bias`, [x[0]]);
    return x;
  }
  upsample(x: ShapeT, f: number): ShapeT {
    return [x[0], x[1] * f, x[2] * f];
  }
  upsampleConv(x: ShapeT, f: number, name: string, s: ConvSpec): ShapeT {
    return this.conv(this.upsample(x, f), name, s);
  }
  add(a: ShapeT): ShapeT {
    return a;
  }
  affine(x: ShapeT): ShapeT {
    return x;
  }
  channelAffine(x: ShapeT): ShapeT {
    return x;
  }
  tanh(x: ShapeT): ShapeT {
    return x;
  }
  sliceChannels(x: ShapeT, a: number, b: number): ShapeT {
    return [b - a, x[1], x[2]];
  }
  spatialAttention(x: ShapeT): ShapeT {
    throw new Error('ParamShapes: attention is not part of AutoencoderTiny');
  }
}

/** A small deterministic uniform source (xorshift32) for weight initialisation. */
function uniform(seed: number): () => number {
  let s = (seed >>> 0) || 0x9e3779b9;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s / 4294967296;
  };
}

export function archOf(config: Record<string, unknown>): TinyArch {
  return new TinyArch(tinyConfig(new ConfigReader(config, 'tiny autoencoder config')));
}

/**
 * Fresh weights: He-uniform convolutions (U(±√(6/fan_in)), for the ReLUs), zero biases, the last conv of every
 * residual block and of the decoder zero (each block starts as the identity, the output at the bias), the
 * encoder's last conv at a tenth — with PyTorch's default (±1/√fan_in) the
 * ~25 stacked convs start with vanishing activations and the colours took thousands of steps to appear.
 */
export function initWeights(config: Record<string, unknown>, seed = 0): TensorMap {
  const arch = archOf(config);
  const shapes = new ParamShapes();
  arch.encode(shapes, [arch.imageChannels, 64, 64]);
  arch.decode(shapes, [arch.latentChannels, 8, 8]);
  const rnd = uniform(seed + 1);
  const out: TensorMap = new Map();
  const convs = [...shapes.params.keys()].filter((k) => k.endsWith('.weight'));
  const lastOf = (part: string) => convs.filter((k) => k.startsWith(part)).pop();
  // The encoder's last conv starts small (latents near 0) and the decoder's last at zero (output = bias).
  const gain = new Map([[lastOf('encoder.'), 0.1], [lastOf('decoder.'), 0]]);
  for (const [name, shape] of shapes.params) {
    const data = new Float32Array(shape.reduce((a, b) => a * b, 1));
    const g = name.endsWith('.conv.4.weight') ? 0 : gain.get(name) ?? 1;
    if (name.endsWith('.weight') && g !== 0) {
      const bound = g * Math.sqrt(6 / shape.slice(1).reduce((a, b) => a * b, 1));
      for (let i = 0; i < data.length; i++) data[i] = (2 * rnd() - 1) * bound;
    }
    // The decoder's image comes out of [0, 1] (TAESD), so its last bias starts at mid-grey.
    if (name === lastOf('decoder.')?.replace(/weight$/, 'bias')) data.fill(0.5);
    out.set(name, { dtype: 'float32', shape, data });
  }
  return out;
}

/** The training graph: pixels → encoder → decoder; loss = mean((x̂ − x)²) + λ·mean(z²) in [−1, 1] units; weights are inputs. */
export function trainGraph(config: Record<string, unknown>, weights: TensorMap, batch: number, size: number, latentPenalty: number) {
  const arch = archOf(config);
  const g = new GraphBuilder('tiny_ae_train');
  // Plain upsample + conv (no sub-pixel rewrite), so every weight input keeps its checkpoint shape.
  const ops = new OnnxOps(g, weights, false);
  const px = g.input('pixels', 'float32', [batch, size, size, 3]);
  const x = ops.withChannels(g.add(g.mul(g.transpose(px, [0, 3, 1, 2]), g.f32(2)), g.f32(-1)), 3);
  const z = arch.encode(ops, x).mean;
  const y = arch.decode(ops, z);
  const d = g.sub(y, x);
  const rec = g.op('ReduceMean', [g.mul(d, d)], { keepdims: 0 });
  const pen = g.op('ReduceMean', [g.mul(z, z)], { keepdims: 0 });
  g.output(g.add(rec, g.mul(pen, g.f32(latentPenalty))), 'loss', 'float32', []);
  g.output(rec, 'mse', 'float32', []);
  const graph = g.build();
  // The weights become graph inputs, fed each step.
  const names = new Set(weights.keys());
  const inits = graph.initializers.filter((t) => !names.has(t.name));
  const inputs = [...graph.inputs, ...graph.initializers.filter((t) => names.has(t.name)).map((t) => ({ name: t.name, dtype: 'float32' as const, shape: t.dims }))];
  const full = { ...graph, initializers: inits, inputs };
  const inputShapes: Record<string, number[]> = { pixels: [batch, size, size, 3] };
  for (const [k, t] of weights) inputShapes[k] = t.shape;
  return gradientModel(full, { inputShapes, loss: 'loss', wrt: [...names], keepOutputs: ['loss', 'mse'] });
}

const lrAt = (step: number, steps: number, peak: number) => {
  const warm = Math.max(1, Math.round(0.05 * steps));
  if (step < warm) return (peak * (step + 1)) / warm;
  const p = (step - warm) / Math.max(1, steps - warm);
  return peak * (0.1 + 0.45 * (1 + Math.cos(Math.PI * p)));
};

/** Train (or resume) and write the diffusers folder; returns the final mean squared error (running mean of the last 50 steps). */
export async function trainTinyAutoencoder(o: TrainAeOptions): Promise<{ mse: number; steps: number; seconds: number }> {
  const config = { ...(o.config ?? TINY_AE_CONFIG) };
  const log = o.log ?? ((l: string) => process.stderr.write(l + '\n'));
  const stateDir = o.stateDir ?? `${o.out.replace(/[\\/]+$/, '')}.train`;
  const stateFile = path.join(stateDir, 'state.safetensors');
  const metaFile = path.join(stateDir, 'state.json');
  const key = JSON.stringify({ init: 'he-zero-residual', config, batch: o.batch, steps: o.steps, size: o.size, lr: o.lr, latentPenalty: o.latentPenalty, seed: o.seed });
  let weights = initWeights(config, o.seed ?? 0);
  const adam = new HostAdamW({ weightDecay: 0 });
  let start = 0;
  if (fs.existsSync(metaFile)) {
    const meta = JSON.parse(fs.readFileSync(metaFile, 'utf8')) as { key: string; step: number };
    if (meta.key !== key) throw new UserError(`${stateDir}: a training run with other options is there; remove it to start afresh`);
    const saved = readSafetensors(stateFile);
    const moments: TensorMap = new Map();
    for (const [k, t] of saved) (k.startsWith('m.') || k.startsWith('v.') ? moments : weights).set(k, t);
    adam.load(moments, meta.step, weights);
    start = meta.step;
    log(`tiny autoencoder: resuming at step ${start} of ${o.steps}`);
  }
  const params = new Map([...weights].map(([k, t]) => [k, { data: t.data as Float32Array, shape: t.shape }]));
  const model = trainGraph(config, weights, o.batch, o.size, o.latentPenalty ?? 1e-3);
  const session = await ort.InferenceSession.create(encodeModel(model), {
    intraOpNumThreads: o.threads ?? os.cpus().length,
    interOpNumThreads: 1,
    graphOptimizationLevel: 'all',
    extra: { session: { set_denormal_as_zero: '1' } },
  });
  const save = async () => {
    fs.mkdirSync(stateDir, { recursive: true });
    const all: TensorMap = new Map(weights);
    for (const [k, t] of await adam.state()) all.set(k, t);
    writeSafetensors(stateFile, all);
    writeFileAtomic(metaFile, JSON.stringify({ key, step: adam.step }) + '\n');
  };
  const progress = new Progress(o.steps - start, 'autoencoder', { enabled: o.progress !== false, unit: 'step' });
  const t0 = Date.now();
  const recent: number[] = [];
  try {
    for (let step = start; step < o.steps; step++) {
      const feeds: Record<string, ort.Tensor> = { pixels: new ort.Tensor('float32', o.batchAt(step), [o.batch, o.size, o.size, 3]) };
      for (const [k, p] of params) feeds[k] = new ort.Tensor('float32', p.data, p.shape);
      const r = await session.run(feeds);
      const grads = new Map<string, Float32Array>();
      for (const k of params.keys()) grads.set(k, r[`grad_${k}`].data as Float32Array);
      const mse = (r.mse.data as Float32Array)[0];
      if (!Number.isFinite(mse)) throw new Error(`tiny autoencoder: the loss is ${mse} at step ${step}`);
      adam.apply(params, grads, lrAt(step, o.steps, o.lr ?? 2e-3));
      recent.push(mse);
      if (recent.length > 50) recent.shift();
      progress.tick(1, `mse ${(recent.reduce((a, b) => a + b, 0) / recent.length).toFixed(5)}`);
      if ((step + 1) % (o.saveEvery ?? 100) === 0) await save();
    }
    await save();
  } finally {
    await session.release();
  }
  weights = new Map([...params].map(([k, p]) => [k, { dtype: 'float32', shape: p.shape, data: p.data } as HostTensor]));
  writeAeFolder(o.out, config, weights);
  return { mse: recent.length ? recent.reduce((a, b) => a + b, 0) / recent.length : NaN, steps: o.steps, seconds: (Date.now() - t0) / 1000 };
}

/** config.json + diffusion_pytorch_model.safetensors, each written atomically. */
export function writeAeFolder(dir: string, config: Record<string, unknown>, weights: TensorMap): void {
  fs.mkdirSync(dir, { recursive: true });
  writeSafetensors(path.join(dir, 'diffusion_pytorch_model.safetensors'), weights);
  writeFileAtomic(path.join(dir, 'config.json'), JSON.stringify(config, null, 2) + '\n');
}
