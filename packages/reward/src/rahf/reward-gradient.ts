import type { RahfConfig, ScoreName } from './config';
import { SCORE_NAMES } from './config';
import type { EngineName } from './scorer';
import { UserError } from '../errors';

/** Weight of each score in the differentiated sum; unnamed scores are returned but not differentiated. */
export type ScoreWeights = Partial<Record<ScoreName, number>>;

export interface ScoreGradOptions {
  /** [height, width] of the pixel array (default the model's input size). */
  size?: [number, number];
  /**
   * λ ≥ 0: subtract λ · P(implausibility heatmap) per image from the differentiated sum, P the soft-max mean of
   * the map ({@link heatmapPenaltyReduce}). 0 or absent: no heatmap head runs, exactly the penalty-free result.
   */
  heatmapPenalty?: number;
  /** τ > 0 of P's soft-max (default {@link HEATMAP_PENALTY_TEMPERATURE}); a large τ makes P the plain mean. */
  heatmapTemperature?: number;
}

export interface ScoreGradResult {
  /** Every score type, [B] each (only the weighted ones are differentiated). */
  scores: Record<ScoreName, Float32Array>;
  /**
   * d(Σ_type weights[type] · Σ_batch score_type − λ · Σ_batch penalty)/d(pixels01), the input's layout [B, H, W, 3]
   * (λ = `heatmapPenalty`, 0 when absent).
   */
  grad: Float32Array;
  /** With a `heatmapPenalty` > 0: P of each image's implausibility heatmap, [B] (before the factor λ). */
  penalty?: Float32Array;
}

/**
 * The default temperature of the penalty's soft-max mean. Why a soft-max and this τ: on the synthetic world's 384
 * decoded members the bundled checkpoint's implausibility map, reduced per image, correlates (within prompt) with the
 * true has-an-artifact label at r = 0.46 as a plain mean, 0.50 / 0.53 / 0.53 as soft-max means at τ = 0.05 / 0.02 /
 * 0.01 (0.49 the top-10 % mean, 0.53 the maximum; `guide proof --fidelity` reports the mean and τ = 0.02): artifacts
 * are local, a mean dilutes them. The soft-max keeps
 * a gradient on every pixel, weighted towards the hottest ones, where a top-k or a max would move a few pixels.
 */
export const HEATMAP_PENALTY_TEMPERATURE = 0.02;

/** The checked penalty of ScoreGradOptions: undefined when off (λ absent or 0). */
export function checkHeatmapPenalty(opts: ScoreGradOptions, who: string): { lambda: number; temperature: number } | undefined {
  const { heatmapPenalty: l, heatmapTemperature: t } = opts;
  if (l !== undefined && !(typeof l === 'number' && Number.isFinite(l) && l >= 0)) throw new UserError(`${who}: heatmapPenalty ${String(l)}: expected a finite number ≥ 0`);
  if (t !== undefined && !(typeof t === 'number' && Number.isFinite(t) && t > 0)) throw new UserError(`${who}: heatmapTemperature ${String(t)}: expected a finite number > 0`);
  if (!l) return undefined;
  return { lambda: l, temperature: t ?? HEATMAP_PENALTY_TEMPERATURE };
}

/**
 * P(map) = Σ_p softmax(map / τ)_p · map_p per image, over every position of an [B, H, W] heatmap in (0, 1): between
 * the map's mean (τ → ∞) and its maximum (τ → 0). The host reference of what both engines differentiate.
 */
export function heatmapPenaltyReduce(map: Float32Array, batch: number, temperature = HEATMAP_PENALTY_TEMPERATURE): Float32Array {
  const per = map.length / batch;
  const out = new Float32Array(batch);
  for (let b = 0; b < batch; b++) {
    const m = map.subarray(b * per, (b + 1) * per);
    let hi = -Infinity;
    for (const v of m) hi = Math.max(hi, v / temperature);
    let z = 0;
    let s = 0;
    for (const v of m) {
      const e = Math.exp(v / temperature - hi);
      z += e;
      s += e * v;
    }
    out[b] = s / z;
  }
  return out;
}

/**
 * The reward-gradient contract of @richhf/reward: scores and their weighted sum's gradient with respect
 * to the pixels, whichever engine computes it (tfjs: `RewardModel`; onnxruntime-node: `OrtScoreGrad`;
 * `openRewardGradient` picks one). Pixels are NHWC in [0, 1] at any size; resize to the model size and
 * normalisation happen inside the differentiated function; heatmap heads are skipped unless a heatmap penalty
 * asks for the implausibility map.
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
