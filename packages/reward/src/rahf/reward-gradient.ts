import type { RahfConfig, ScoreName } from './config';
import { SCORE_NAMES } from './config';
import type { EngineName } from './scorer';

/** Weight of each score in the differentiated sum; unnamed scores are returned but not differentiated. */
export type ScoreWeights = Partial<Record<ScoreName, number>>;

export interface ScoreGradOptions {
  /** [height, width] of the pixel array (default the model's input size). */
  size?: [number, number];
  // An implausibility-heatmap penalty (issue #29) will join here; the contract's arguments stay as they are.
}

export interface ScoreGradResult {
  /** Every score type, [B] each (only the weighted ones are differentiated). */
  scores: Record<ScoreName, Float32Array>;
  /** d(Σ_type weights[type] · Σ_batch score_type)/d(pixels01), the input's layout [B, H, W, 3]. */
  grad: Float32Array;
}

/**
 * The reward-gradient contract of @richhf/reward: scores and their weighted sum's gradient with respect
 * to the pixels, whichever engine computes it (tfjs: `RewardModel`; onnxruntime-node: `OrtScoreGrad`;
 * `openRewardGradient` picks one). Pixels are NHWC in [0, 1] at any size; resize to the model size and
 * normalisation happen inside the differentiated function, heatmap heads are skipped.
 */
export interface RewardGradient {
  readonly engine: EngineName;
  readonly config: RahfConfig;
  scoreGrad(pixels01: Float32Array, prompts: string[], weights: ScoreWeights, opts?: ScoreGradOptions): Promise<ScoreGradResult>;
  /** Release sessions / tensors (await it: the onnxruntime engine releases asynchronously). */
  dispose(): void | Promise<void>;
}

/** The named weights as [score, weight] pairs, checked: known scores, finite weights, at least one. */
export function checkScoreWeights(weights: ScoreWeights, who: string): [ScoreName, number][] {
  const ws = Object.entries(weights).filter(([, w]) => w !== undefined) as [ScoreName, number][];
  for (const [k, w] of ws) {
    if (!(SCORE_NAMES as readonly string[]).includes(k)) throw new Error(`${who}: unknown score "${k}" (expected ${SCORE_NAMES.join(', ')})`);
    if (!Number.isFinite(w)) throw new Error(`${who}: weight of "${k}" is not a finite number`);
  }
  if (ws.length === 0) throw new Error(`${who}: weights must name at least one score`);
  return ws;
}
