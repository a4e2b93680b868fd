import * as tf from '@tensorflow/tfjs';
import { HEATMAP_NAMES, SCORE_NAMES, heatmapSize } from '../../rahf/config';
import { RewardModel } from '../../rahf/model';
import { disposeBatch } from '../../train/data';
import { LossWeights, TensorBatch, multiTaskLoss as trainLoss } from '../../train/loss';
import { AdamW, clipGlobalNorm } from '../../train/optimizer';
import { convModeNow, matMulMode } from '../../gpu/matmul';
import { fusedOpsEnabled } from '../../gpu/norm';
import { fusedSoftmaxEnabled } from '../../gpu/softmax';
import { CaseInput } from './cases';
import { ALL_SCORES, DRY, Json, PAPER_PRESET, RUNS, TARGET, TOL_GRAD, TRAIN_BATCH, failures, hostPixels, left, log, note, prompts, r3, result, save } from './harness';
import { Setting, SweepRow, sweepSettings } from './sweep';

// ------------------------------------------------------------------------------------------------
// c. timings

/** The webgpu knobs in effect (code defaults at start; the sweep's choice after it). */
export function webgpuSettings(): Json {
  const flags: Json = {};
  for (const k of ['WEBGPU_DEFERRED_SUBMIT_BATCH_SIZE', 'WEBGPU_USE_NAIVE_CONV2D_TRANSPOSE', 'WEBGPU_CONV_SEPARATE_IM2COL_SHADER', 'WEBGPU_CPU_FORWARD']) {
    flags[k] = tf.env().get(k);
  }
  return { matmul: matMulMode(), conv: convModeNow(), linear: process.env.RAHF_LINEAR_TRANSPOSE === 'explicit' ? 'explicit' : 'flag', fused: !fusedOpsEnabled() ? 'none' : fusedSoftmaxEnabled() ? 'all' : 'norms', flags };
}

export interface Timing {
  median_s: number;
  min_s: number;
  warmup_s: number;
  runs: number;
  [k: string]: unknown;
}

/**
 * Warm-up once, then up to RUNS timed runs as the budget allows (keeping `reserveS` for what follows).
 * `estimateS` is a guess of the warm-up's length; the part is skipped when even that does not fit.
 */
export async function timeIt(name: string, fn: () => Promise<void>, estimateS: number, reserveS = 0): Promise<Timing | undefined> {
  const timings = result.timings as Json;
  if (left() - reserveS < estimateS) {
    note(`skipped timing "${name}": ${left().toFixed(0)} s left, needs ~${estimateS} s`);
    timings[name] = 'skipped (budget)';
    return undefined;
  }
  let t0 = Date.now();
  await fn();
  const warmup = (Date.now() - t0) / 1000;
  const ts: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const last = ts.length ? ts[ts.length - 1] : warmup;
    if (ts.length > 0 && left() - reserveS < last * 1.2) {
      note(`timing "${name}": ${ts.length} of ${RUNS} runs (budget)`);
      break;
    }
    t0 = Date.now();
    await fn();
    ts.push((Date.now() - t0) / 1000);
  }
  ts.sort((a, b) => a - b);
  const t: Timing = { median_s: r3(ts[Math.floor(ts.length / 2)]) as number, min_s: r3(ts[0]) as number, warmup_s: r3(warmup) as number, runs: ts.length };
  timings[name] = t;
  log(`${name}: median ${t.median_s} s (min ${t.min_s}, warm-up ${t.warmup_s}, ${t.runs} runs)`);
  save();
  return t;
}

export function trainInput(m: RewardModel, b: number): CaseInput {
  const s = m.config.imageSize;
  return {
    pixels01: hostPixels(b * s * s * 3, 7 + b),
    shape: [b, s, s, 3],
    prompts: prompts(b),
    targets: prompts(b).map((p) => p.replace(/\b(cat|horse|river|soup)\b/, '$1_0')),
  };
}

/** The GPU issue's targets for the paper preset on one H200. */
export const TARGET_IMAGES_PER_S = 150;
export const TARGET_SCORE_GRAD_S = 0.6;

/**
 * Stage 1: the previous defaults (tfjs's matMul, explicit weight transposes, composed norms, tfjs's
 * flags) first — the reference every other setting's outputs are compared with — then the last
 * run's chosen settings with composed ops, with fused norms / GELU (src/gpu/norm.ts, gelu.ts) and with
 * the fused attention softmax too (src/gpu/softmax.ts), all timed on the same machine. Stage 2: single flag changes on the best.
 */
export const SUBMIT_64 = { WEBGPU_DEFERRED_SUBMIT_BATCH_SIZE: 64 };
export const SWEEP_STAGE1: Setting[] = [
  { name: 'previous: tfjs matMul+conv, explicit Wt', matmul: 'tfjs', conv: 'tfjs', linear: 'explicit', fused: 'none', flags: {} },
  { name: 'tiled matMul+conv, Wt by flag, submit 64', matmul: 'tiled', conv: 'tiled', linear: 'flag', fused: 'none', flags: SUBMIT_64 },
  { name: 'tiled, flag, submit 64, fused norms+GELU', matmul: 'tiled', conv: 'tiled', linear: 'flag', fused: 'norms', flags: SUBMIT_64 },
  { name: 'tiled, flag, submit 64, fused all', matmul: 'tiled', conv: 'tiled', linear: 'flag', fused: 'all', flags: SUBMIT_64 },
];
export const SWEEP_STAGE2: Setting['flags'][] = [{ WEBGPU_DEFERRED_SUBMIT_BATCH_SIZE: 128 }, { WEBGPU_DEFERRED_SUBMIT_BATCH_SIZE: 32 }];

export async function settingsSweep(m: RewardModel): Promise<void> {
  const rec: Json = { targets: { images_per_s_b32: TARGET_IMAGES_PER_S, scoreGrad_b1_s: TARGET_SCORE_GRAD_S } };
  result.settings_sweep = rec;
  const { rows, best } = await sweepSettings(m, SWEEP_STAGE1, SWEEP_STAGE2, {
    targetImagesPerS: TARGET_IMAGES_PER_S,
    targetScoreGradS: TARGET_SCORE_GRAD_S,
    tol: TOL_GRAD,
    forwardRuns: 4,
    gradRuns: 5,
    left,
    reserveS: 150,
    log,
    onRow: (r: SweepRow[]) => {
      rec.rows = r;
      save();
    },
    prompts,
    pixels: hostPixels,
  });
  rec.rows = rows;
  rec.chosen = best ?? null;
  if (!best) failures.push('settings sweep: no eligible setting');
  log(`sweep: chosen ${best ? JSON.stringify(best) : 'none'}`);
}

/**
 * GPU time per kernel of one scores-only forward at batch 32 (tf.profile; on webgpu every kernel is
 * then submitted alone with timestamp queries, so the wall time here is no timing). Shows whether the
 * forward is bound by GPU work or by per-dispatch CPU cost, and which kernels dominate.
 */
export async function profileForward(m: RewardModel, b: number): Promise<void> {
  const s = m.config.imageSize;
  const x = tf.tidy(() => m.preprocess(tf.tensor4d(hostPixels(b * s * s * 3, b), [b, s, s, 3])));
  try {
    const prof = await tf.profile(async () => {
      const out = m.forward(x, prompts(b), { heatmaps: false });
      await Promise.all(Object.values(out.scores).map((t) => t.data()));
      tf.dispose(out as unknown as tf.TensorContainer);
      return tf.scalar(0);
    });
    const by = new Map<string, { n: number; ms: number }>();
    let total = 0;
    for (const k of prof.kernels) {
      const ms = Number((k as unknown as { kernelTimeMs: number }).kernelTimeMs) || 0;
      total += ms;
      const e = by.get(k.name) ?? { n: 0, ms: 0 };
      e.n++;
      e.ms += ms;
      by.set(k.name, e);
    }
    const top = [...by].sort((a, b2) => b2[1].ms - a[1].ms).slice(0, 12).map(([name, e]) => ({ name, count: e.n, gpu_ms: r3(e.ms) }));
    (result.timings as Json)[`${PAPER_PRESET}_forward_scores_b${b}_profile`] = { kernels: prof.kernels.length, gpu_ms_total: r3(total), top };
    log(`profile b${b}: ${prof.kernels.length} kernels, ${total.toFixed(1)} ms GPU; top ${JSON.stringify(top.slice(0, 6))}`);
  } finally {
    x.dispose();
  }
}

export async function paperTimings(m: RewardModel): Promise<void> {
  const s = m.config.imageSize;
  const timings = result.timings as Json;
  const xs = new Map<number, tf.Tensor4D>();
  const pixels = (b: number) => {
    if (!xs.has(b)) xs.set(b, tf.tidy(() => m.preprocess(tf.tensor4d(hostPixels(b * s * s * 3, b), [b, s, s, 3]))));
    return xs.get(b)!;
  };
  const forward = (b: number, heatmaps: boolean) => async () => {
    const out = m.forward(pixels(b), prompts(b), { heatmaps });
    await Promise.all([...Object.values(out.scores), ...Object.values(out.heatmaps ?? {})].map((t) => t.data()));
    tf.dispose(out as unknown as tf.TensorContainer);
  };
  try {
    const f1 = await timeIt(`${PAPER_PRESET}_forward_scores_b1`, forward(1, false), DRY ? 60 : 30, 120);
    if (f1) f1.images_per_s = r3(1 / f1.median_s);
    const f32 = await timeIt(`${PAPER_PRESET}_forward_scores_b32`, forward(32, false), DRY ? 600 : 40, 100);
    if (f32) f32.images_per_s = r3(32 / f32.median_s);
    if (xs.has(32)) {
      xs.get(32)!.dispose();
      xs.delete(32);
    }
    await timeIt(`${PAPER_PRESET}_forward_heatmaps_b1`, forward(1, true), DRY ? 120 : 30, 80);
    const x01 = tf.tensor4d(hostPixels(s * s * 3, 1), [1, s, s, 3]);
    try {
      await timeIt(
        `${PAPER_PRESET}_scoreGrad_b1`,
        async () => {
          const g = await m.scoreGrad(x01, prompts(1), ALL_SCORES);
          await g.grad.data();
          g.grad.dispose();
        },
        DRY ? 120 : 40,
        60,
      );
    } finally {
      x01.dispose();
    }
  } finally {
    for (const x of xs.values()) x.dispose();
  }
  const mem = tf.memory() as tf.MemoryInfo & { numBytesInGPU?: number; numBytesInGPUAllocated?: number };
  timings.memory_after_paper = { numTensors: mem.numTensors, numBytes: mem.numBytes, numBytesInGPU: mem.numBytesInGPU, numBytesInGPUAllocated: mem.numBytesInGPUAllocated };
}

/**
 * The training step of src/train/trainer.ts on the tiny preset: tf.variableGrads of the multi-task
 * loss (scores MSE, heatmaps MSE, keyword sequence cross-entropy) through every parameter, global-norm
 * clipping and the AdamW update. clipGlobalNorm reads its norm with dataSync(), which webgpu in Node
 * cannot do (OffscreenCanvas): if it throws, that is recorded as a failure and the step is timed
 * without clipping.
 */
export async function trainTiming(m: RewardModel): Promise<void> {
  const inp = trainInput(m, TRAIN_BATCH);
  const b = TRAIN_BATCH;
  const h = heatmapSize(m.config);
  const batch: TensorBatch = {
    pixels: m.preprocess(tf.tensor4d(inp.pixels01, inp.shape)),
    prompts: inp.prompts,
    targets: inp.targets!,
    scores: Object.fromEntries(SCORE_NAMES.map((t, k) => [t, tf.tensor1d(hostPixels(b, 31 + k))])) as TensorBatch['scores'],
    heatmaps: Object.fromEntries(HEATMAP_NAMES.map((t, k) => [t, tf.tensor3d(hostPixels(b * h * h, 41 + k), [b, h, h])])) as TensorBatch['heatmaps'],
  };
  const weights: LossWeights = { heatmap: 1, score: 1, keywords: 1 };
  const vars = new Map(m.params.tensors);
  const byVarName = new Map([...vars].map(([k, v]) => [v.name, k]));
  const smallest = [...vars.values()].reduce((a, v) => (v.size < a.size ? v : a));
  const opt = new AdamW({ weightDecay: 0.01 });
  let clip = true;
  const step = async () => {
    const { value, grads } = tf.variableGrads(() => trainLoss(m, batch, weights).total, [...vars.values()]);
    const gradMap = new Map<string, tf.Tensor>();
    for (const [vn, g] of Object.entries(grads)) gradMap.set(byVarName.get(vn) ?? vn, g);
    await value.data();
    if (clip) {
      try {
        await clipGlobalNorm(gradMap, 1.0);
      } catch (e) {
        clip = false;
        failures.push(`train: clipGlobalNorm on ${TARGET}: ${(e as Error).message.split('\n')[0]}`);
        note(`clipGlobalNorm failed on ${TARGET} (${(e as Error).message.split('\n')[0]}); timing the step without clipping`);
      }
    }
    opt.apply(vars, gradMap, 1e-4);
    tf.dispose([value, ...gradMap.values()]);
    await smallest.data(); // the update has run
  };
  try {
    const t = await timeIt(`tiny_train_step_b${TRAIN_BATCH}`, step, 20, 30);
    if (t) {
      t.images_per_s = r3(TRAIN_BATCH / t.median_s);
      t.what = `src/train step: variableGrads of multiTaskLoss (heatmap, score, keywords) + ${clip ? 'clipGlobalNorm + ' : ''}AdamW, all ${vars.size} parameters`;
    }
  } finally {
    disposeBatch(batch);
    opt.dispose();
  }
}
