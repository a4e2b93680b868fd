import * as tf from '@tensorflow/tfjs';
import { HEATMAP_NAMES, HeatmapName, SCORE_NAMES, ScoreName } from '../rahf/config';
import type { RewardModel } from '../rahf/model';

/**
 * RAHF's multi-task objective (paper sec. 4.2): pixel-wise MSE between predicted and ground-truth
 * heatmaps, MSE between predicted and ground-truth scores, and the teacher-forced token cross-entropy
 * of the misaligned-keyword sequence — a weighted sum. A part whose weight is 0 is not computed at all
 * (no heatmap heads, no decoder pass), which makes single-task runs cheaper.
 */
export interface LossWeights {
  heatmap: number;
  score: number;
  keywords: number;
}

export const LOSS_PARTS = ['heatmap', 'score', 'keywords'] as const;

/**
 * Pixel-wise heatmap loss. `mse` is the paper's. `bce` (cross-entropy with the soft targets) has the same
 * minimiser — the expected map, E[y | x], for targets in [0, 1] — but its gradient at the logit is p − y,
 * whereas MSE through the heads' sigmoid multiplies it by p(1 − p): once a from-scratch head has pushed
 * the (mostly empty) maps towards 0, MSE's gradient on the few hot pixels all but vanishes and the maps
 * stop learning. BCE is what lets the tiny model learn heatmaps in minutes.
 */
export type HeatmapLoss = 'mse' | 'bce';
export const HEATMAP_LOSSES: readonly HeatmapLoss[] = ['mse', 'bce'];
export type LossPart = (typeof LOSS_PARTS)[number];

/** A training batch as tensors (pixels normalised for the model, targets on the model's scale). */
export interface TensorBatch {
  /** [B, S, S, 3] normalised pixels at the model size. */
  pixels: tf.Tensor4D;
  prompts: string[];
  /** Keyword sequences ("a yellow_0 cat"), the decoder's target. */
  targets: string[];
  /** Ground-truth scores in [0, 1] per type, [B]. */
  scores: Record<ScoreName, tf.Tensor1D>;
  /** Ground-truth heatmaps in [0, 1] at the model's heatmap size, [B, H, W]. */
  heatmaps: Record<HeatmapName, tf.Tensor3D>;
}

export interface LossOutput {
  total: tf.Scalar;
  /** Unweighted parts (only those with a non-zero weight). */
  parts: Partial<Record<LossPart, tf.Scalar>>;
}

/**
 * Parse "heatmap=1,score=1,keywords=0.5" (any subset; the rest keep `defaults`). Errors are one line
 * naming the bad piece.
 */
export function parseLossWeights(text: string, defaults: LossWeights): LossWeights {
  const out = { ...defaults };
  for (const piece of text.split(',').map((s) => s.trim()).filter(Boolean)) {
    const m = /^([a-z_]+)\s*=\s*(.+)$/.exec(piece);
    if (!m) throw new Error(`--loss-weights: "${piece}" is not name=value (names: ${LOSS_PARTS.join(', ')})`);
    const name = m[1] === 'keyword' ? 'keywords' : m[1] === 'heatmaps' ? 'heatmap' : m[1] === 'scores' ? 'score' : m[1];
    if (!(LOSS_PARTS as readonly string[]).includes(name)) {
      throw new Error(`--loss-weights: unknown part "${m[1]}" (expected ${LOSS_PARTS.join(', ')})`);
    }
    const v = Number(m[2]);
    if (!Number.isFinite(v) || v < 0 || m[2].trim() === '') throw new Error(`--loss-weights: ${m[1]} must be a number >= 0, got "${m[2]}"`);
    out[name as LossPart] = v;
  }
  if (out.heatmap + out.score + out.keywords <= 0) throw new Error('--loss-weights: at least one weight must be positive');
  return out;
}

/** Mean binary cross-entropy of probabilities `p` against soft targets `y` in [0, 1] (p clipped to [1e-6, 1 − 1e-6]). */
export function bce(p: tf.Tensor, y: tf.Tensor): tf.Scalar {
  return tf.tidy(() => {
    const q = tf.clipByValue(p, 1e-6, 1 - 1e-6);
    const ll = tf.add(tf.mul(y, tf.log(q)), tf.mul(tf.sub(1, y), tf.log(tf.sub(1, q))));
    return tf.neg(tf.mean(ll)) as tf.Scalar;
  });
}

/** Mean squared error over every element. */
export function mse(pred: tf.Tensor, target: tf.Tensor): tf.Scalar {
  return tf.tidy(() => tf.mean(tf.squaredDifference(pred, target)) as tf.Scalar);
}

/** Weighted loss of the model on a batch (differentiable; call inside tf.variableGrads or tf.tidy). */
export function multiTaskLoss(model: RewardModel, batch: TensorBatch, w: LossWeights, opts: { heatmapLoss?: HeatmapLoss } = {}): LossOutput {
  const heatLoss = opts.heatmapLoss === 'bce' ? bce : mse;
  const parts: Partial<Record<LossPart, tf.Scalar>> = {};
  const terms: tf.Scalar[] = [];
  if (w.score > 0 || w.heatmap > 0) {
    const out = model.forward(batch.pixels, batch.prompts, { heatmaps: w.heatmap > 0 });
    if (w.score > 0) {
      parts.score = tf.tidy(() => {
        const pred = tf.stack(SCORE_NAMES.map((s) => out.scores[s]), 1);
        const gt = tf.stack(SCORE_NAMES.map((s) => batch.scores[s]), 1);
        return mse(pred, gt);
      });
      terms.push(tf.mul(parts.score, w.score) as tf.Scalar);
    }
    if (w.heatmap > 0) {
      parts.heatmap = tf.tidy(() => {
        const per = HEATMAP_NAMES.map((h) => {
          const pred = out.heatmaps![h];
          const gt = batch.heatmaps[h];
          if (pred.shape[1] !== gt.shape[1] || pred.shape[2] !== gt.shape[2]) {
            throw new Error(`heatmap loss: prediction is ${pred.shape[1]}×${pred.shape[2]}, target ${gt.shape[1]}×${gt.shape[2]}`);
          }
          return heatLoss(pred, gt);
        });
        return tf.div(tf.addN(per), per.length) as tf.Scalar;
      });
      terms.push(tf.mul(parts.heatmap, w.heatmap) as tf.Scalar);
    }
  }
  if (w.keywords > 0) {
    parts.keywords = model.sequenceLoss(batch.pixels, batch.prompts, batch.targets);
    terms.push(tf.mul(parts.keywords, w.keywords) as tf.Scalar);
  }
  // Intermediates stay alive: the gradient tape needs them. Callers run this inside tf.variableGrads or
  // tf.tidy, which free them.
  const total = terms.length === 1 ? terms[0] : (tf.addN(terms) as tf.Scalar);
  return { total, parts };
}
