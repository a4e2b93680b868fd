/**
 * Training the scene generator with onnxruntime: the masked-token objective of MaskGIT — per sequence a
 * mask ratio from the cosine schedule, that share of the scene tokens masked at random, cross-entropy on
 * the masked ones — with the prompt dropped (all [NULL]) for a share of sequences so the same model is the
 * unconditional one of classifier-free guidance. The loss graph is differentiated by `gradientModel` of
 * `@richhf/reward/onnx` and one onnxruntime run gives loss and gradients; `HostAdamW` of `@richhf/reward`
 * applies them. A run folder resumes where it stopped: `train-state.safetensors` (weights, Adam moments,
 * step) is written in one atomic rename, and batches are drawn from a stream keyed by (seed, step).
 */
import * as fs from 'fs';
import * as path from 'path';
import { HostAdamW, UserError } from '@richhf/reward';
import { Rng } from '@richhf/reward/data';
import { readSafetensors, writeSafetensors, type TensorMap } from '@richhf/reward/io';
import { encodeModel } from '@richhf/reward/onnx';
import { Progress, writeFileAtomic } from '@richhf/reward/util';
import { loadCheckpoint, ort, saveCheckpoint, sessionOptions } from './checkpoint';
import { sequenceAt, type Sequences } from './data';
import { defaultConfig, initParams, paramShapes, trainingModel, type Params, type SynthModelConfig } from './model';
import { maskSchedule } from './sample';
import { MASK_ID, NULL_ID, PROMPT_LEN, SCENE_LEN, SEQ_LEN } from './tokens';

export interface TrainOptions {
  /** Run folder: the checkpoint (config.json, model.safetensors) and the state to resume from. */
  out: string;
  data: Sequences;
  /** Optimiser steps in all (a resumed run continues to this many). */
  steps: number;
  /** Stop after this many minutes, or this many steps, in this invocation (the state is saved; rerun with resume). */
  minutes?: number;
  limit?: number;
  resume?: boolean;
  /** Start from this checkpoint (finetuning) instead of fresh weights. */
  init?: string;
  model?: Partial<Pick<SynthModelConfig, 'hidden_size' | 'num_layers' | 'num_heads' | 'intermediate_size'>>;
  batch?: number;
  lr?: number;
  /** Linear warm-up steps (default 5 % of the steps, at most 500); then cosine decay to 10 % of lr. */
  warmup?: number;
  weightDecay?: number;
  /** Share of sequences trained with the prompt dropped (default 0.1). */
  promptDropout?: number;
  /**
   * Replay against self-training drift: `ratio` rows of `data` (the generator's original training
   * sequences) per row of the finetune set in every batch, e.g. 1 for half and half.
   */
  replay?: { data: Sequences; ratio: number };
  /** Train only the parameters whose names match this regular expression (the rest stay frozen); default all. */
  trainable?: string;
  /** With `trainable`: the learning-rate factor of the other parameters (default 0: frozen). */
  restLrScale?: number;
  seed?: number;
  checkpointEvery?: number;
  threads?: number;
  progress?: boolean;
  log?: (line: string) => void;
}

export interface TrainResult {
  out: string;
  step: number;
  done: boolean;
  /** Mean masked-token cross-entropy over the last 50 steps of this invocation. */
  loss: number;
  seconds: number;
}

const STATE = 'train-state.safetensors';

/** Learning rate at `step`: linear warm-up, then cosine decay to 10 %. */
export function learningRate(step: number, steps: number, lr: number, warmup: number): number {
  if (step < warmup) return (lr * (step + 1)) / warmup;
  const r = Math.min(1, (step - warmup) / Math.max(1, steps - warmup));
  return lr * (0.1 + 0.45 * (1 + Math.cos(Math.PI * r)));
}

/** Rows of a batch drawn from the replay data at `ratio` replay rows per finetune row. */
export const replayRows = (batch: number, ratio: number): number => Math.min(batch - 1, Math.round((batch * ratio) / (1 + ratio)));

/**
 * One training batch: `batch` random sequences, each with a cosine-schedule share of its scene tokens
 * masked (at least one), some with the prompt dropped. Returns ids and the loss targets (1/masked count
 * at each masked position's true id, so the loss is the mean cross-entropy of the masked tokens). With
 * `replay`, its last `replay.rows` rows come from `replay.data` instead.
 */
export function makeBatch(data: Sequences, batch: number, V: number, rng: Rng, promptDropout: number, replay?: { data: Sequences; rows: number }): { ids: BigInt64Array; targets: Float32Array; masked: number } {
  const ids = new BigInt64Array(batch * SEQ_LEN);
  const targets = new Float32Array(batch * SEQ_LEN * V);
  const where: Array<[number, number]> = [];
  const order = Array.from({ length: SCENE_LEN }, (_, i) => PROMPT_LEN + i);
  for (let b = 0; b < batch; b++) {
    const from = replay && b >= batch - replay.rows ? replay.data : data;
    const s = sequenceAt(from, rng.int(0, from.rows - 1));
    const drop = rng.chance(promptDropout);
    for (let p = 0; p < SEQ_LEN; p++) ids[b * SEQ_LEN + p] = BigInt(p < PROMPT_LEN && drop ? NULL_ID : s[p]);
    const n = Math.max(1, Math.ceil(maskSchedule(rng.next()) * SCENE_LEN));
    for (let i = 0; i < n; i++) {
      const j = i + Math.floor(rng.next() * (SCENE_LEN - i));
      [order[i], order[j]] = [order[j], order[i]];
      const p = order[i];
      ids[b * SEQ_LEN + p] = BigInt(MASK_ID);
      where.push([b * SEQ_LEN + p, s[p]]);
    }
  }
  for (const [bp, tok] of where) targets[bp * V + tok] = 1 / where.length;
  return { ids, targets, masked: where.length };
}

function clipGlobalNorm(grads: Map<string, Float32Array>, max: number): number {
  let sq = 0;
  for (const g of grads.values()) for (let i = 0; i < g.length; i++) sq += g[i] * g[i];
  const norm = Math.sqrt(sq);
  if (norm > max) for (const g of grads.values()) for (let i = 0; i < g.length; i++) g[i] *= max / (norm + 1e-6);
  return norm;
}

function parsePattern(src: string): RegExp {
  try {
    return new RegExp(src);
  } catch (e) {
    throw new UserError(`trainable ${src}: not a regular expression (${(e as Error).message})`);
  }
}

interface SavedRun {
  config: SynthModelConfig;
  options: Record<string, unknown>;
}

/** Train (or finetune) the scene generator; see the file comment. */
export async function trainGenerator(o: TrainOptions): Promise<TrainResult> {
  const t0 = Date.now();
  const log = o.log ?? ((l: string) => process.stderr.write(l + '\n'));
  const statePath = path.join(o.out, STATE);
  const runPath = path.join(o.out, 'run.json');
  if (!(Number.isInteger(o.steps) && o.steps >= 1)) throw new UserError(`--steps must be an integer ≥ 1, got ${o.steps}`);
  const exists = fs.existsSync(statePath);
  if (exists && !o.resume) throw new UserError(`--out ${o.out} holds a training run already; pass --resume to continue it or choose another folder`);

  let config: SynthModelConfig;
  let params: Params;
  let options: Record<string, unknown>;
  const adam = new HostAdamW({ weightDecay: o.weightDecay ?? 0.01 });
  let step = 0;
  if (exists) {
    const run: SavedRun = JSON.parse(fs.readFileSync(runPath, 'utf8'));
    config = run.config;
    options = run.options;
    const state = readSafetensors(statePath);
    params = new Map();
    const shapes = new Map<string, { shape: number[] }>();
    for (const [name, shape] of paramShapes(config)) {
      params.set(name, { data: Float32Array.from(state.get(`param.${name}`)!.data as Float32Array), shape });
      shapes.set(name, { shape });
    }
    const moments: TensorMap = new Map([...state].filter(([k]) => k.startsWith('m.') || k.startsWith('v.')));
    step = Number(state.get('step')!.data[0]);
    adam.load(moments, step, shapes);
    log(`resuming ${o.out} at step ${step}`);
  } else {
    if (o.init) {
      const ck = loadCheckpoint(o.init);
      config = ck.config;
      params = ck.params;
    } else {
      config = defaultConfig(o.model);
      params = initParams(config, o.seed ?? 0);
    }
    options = {
      batch: o.batch ?? 64, lr: o.lr ?? 1e-3, warmup: o.warmup ?? Math.min(500, Math.round(0.05 * o.steps)),
      weightDecay: o.weightDecay ?? 0.01, promptDropout: o.promptDropout ?? 0.1, seed: o.seed ?? 0,
      init: o.init ?? null, data: o.data.source, rows: o.data.rows,
      ...(o.replay ? { replay: o.replay.data.source, replayRatio: o.replay.ratio } : {}),
      ...(o.trainable ? { trainable: o.trainable, restLrScale: o.restLrScale ?? 0 } : {}),
    };
    fs.mkdirSync(o.out, { recursive: true });
    writeFileAtomic(runPath, JSON.stringify({ config, options }, null, 2) + '\n');
  }
  const batch = Number(options.batch);
  const lr = Number(options.lr);
  const warmup = Number(options.warmup);
  const seed = Number(options.seed);
  const dropout = Number(options.promptDropout);
  const ratio = Number(options.replayRatio ?? 0);
  if (ratio > 0 && !o.replay) throw new UserError(`--out ${o.out} was started with replay (${String(options.replay)}); resume it with the same replay data`);
  const trainable = options.trainable ? parsePattern(String(options.trainable)) : undefined;
  if (trainable && ![...params.keys()].some((k) => trainable.test(k))) throw new UserError(`trainable ${String(options.trainable)}: matches no parameter of the generator`);
  const rest = Number(options.restLrScale ?? 0);
  const lrScale = trainable && rest > 0 ? (k: string) => (trainable.test(k) ? 1 : rest) : undefined;
  const replay = o.replay && ratio > 0 ? { data: o.replay.data, rows: replayRows(batch, ratio) } : undefined;

  const session = await ort().InferenceSession.create(encodeModel(trainingModel(config, batch)), sessionOptions(o.threads));
  const save = () => {
    const tensors: TensorMap = new Map();
    for (const [k, p] of params) tensors.set(`param.${k}`, { dtype: 'float32', shape: p.shape, data: p.data });
    return adam.state().then((m) => {
      for (const [k, t] of m) tensors.set(k, t);
      tensors.set('step', { dtype: 'int32', shape: [1], data: Int32Array.of(step) });
      writeSafetensors(statePath, tensors);
      saveCheckpoint(o.out, config, params, { step: String(step), data: o.data.source });
    });
  };

  const every = o.checkpointEvery ?? 250;
  const deadline = o.minutes !== undefined ? t0 + o.minutes * 60_000 : Infinity;
  const stopAt = Math.min(o.steps, o.limit !== undefined ? step + o.limit : Infinity);
  const progress = new Progress(stopAt - step, 'train', { enabled: o.progress ?? true, unit: 'steps' });
  const recent: number[] = [];
  const V = config.vocab_size;
  const paramTensors = () => Object.fromEntries([...params].map(([k, p]) => [k, new (ort().Tensor)('float32', p.data, p.shape)]));
  try {
    while (step < stopAt && Date.now() < deadline) {
      const { ids, targets } = makeBatch(o.data, batch, V, new Rng('synth-train', seed, step), dropout, replay);
      const out = await session.run({
        ids: new (ort().Tensor)('int64', ids, [batch, SEQ_LEN]),
        targets: new (ort().Tensor)('float32', targets, [batch, SEQ_LEN, V]),
        ...paramTensors(),
      });
      const loss = out.loss.data[0] as number;
      if (!Number.isFinite(loss)) throw new Error(`synth generator training: loss is ${loss} at step ${step}`);
      const grads = new Map<string, Float32Array>();
      for (const k of params.keys()) if (!trainable || rest > 0 || trainable.test(k)) grads.set(k, out[`grad_${k}`].data as Float32Array);
      clipGlobalNorm(grads, 1);
      const rate = learningRate(step, o.steps, lr, warmup);
      adam.apply(params, grads, rate, lrScale);
      step++;
      recent.push(loss);
      if (recent.length > 50) recent.shift();
      progress.tick(1, `loss ${(recent.reduce((a, b) => a + b, 0) / recent.length).toFixed(4)} lr ${rate.toExponential(2)}`);
      if (step % every === 0 && step < o.steps) await save();
    }
    await save();
  } finally {
    await session.release();
  }
  return { out: o.out, step, done: step >= o.steps, loss: recent.reduce((a, b) => a + b, 0) / Math.max(1, recent.length), seconds: (Date.now() - t0) / 1000 };
}
