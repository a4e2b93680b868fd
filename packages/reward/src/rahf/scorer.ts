import type { RgbImage } from '../image';
import type { RahfConfig } from './config';
import type { RichFeedback } from './feedback';

/** The engines that run the reward model: tfjs (differentiable, any backend) or onnxruntime-node (fast CPU). */
export type EngineName = 'tfjs' | 'ort';

/**
 * The one scoring verb of @richhf/reward: rich feedback for images and their prompts, whichever engine
 * runs the model (tfjs: `RewardModel`; onnxruntime-node: `OnnxScorer`; `openScorer` picks one). Other
 * packages depend on this interface, never on an engine.
 */
export interface Scorer {
  readonly engine: EngineName;
  readonly config: RahfConfig;
  /**
   * Scores (and, when asked, heatmaps and misaligned prompt words) for `images[i]` with `prompts[i]`:
   * decoded images of any size, or a Float32Array of NHWC pixels in [0, 1] ([B, H, W, 3], H×W from
   * `opts.size`, default the model's input size). Defaults: {@link SCORE_DEFAULTS}, unless the scorer
   * was opened with others.
   */
  score(images: RgbImage[] | Float32Array, prompts: string[], opts?: ScoreOptions): Promise<RichFeedback[]>;
  /** Release sessions / tensors (await it: the onnxruntime engine releases asynchronously). */
  dispose(): void | Promise<void>;
}

export interface ScoreOptions {
  /** Predict the two heatmaps (default: the scorer's, {@link SCORE_DEFAULTS} false). */
  heatmaps?: boolean;
  /** Decode the misaligned prompt words (default: the scorer's, {@link SCORE_DEFAULTS} false). */
  keywords?: boolean;
  /** Images per forward pass (default: the scorer's, 8). */
  batchSize?: number;
  /** Cap on generated keyword tokens (default 100, as youweiliang/RichHF). */
  maxNewTokens?: number;
  /** [height, width] of a Float32Array input (default the model's input size). */
  size?: [number, number];
  /**
   * How a Float32Array input is read: 'pixels01' (default) — NHWC in [0, 1], resized to the model size
   * (PIL-bilinear weights) and normalised; 'normalised' — already the model input ([B, S, S, 3],
   * (x − mean) / std, `size` must be the model's).
   */
  input?: 'pixels01' | 'normalised';
}

/** What a scorer does when neither it was opened with, nor the call gives, an option. */
export interface ScoreDefaults {
  heatmaps: boolean;
  keywords: boolean;
  batchSize: number;
}

/**
 * Defaults of the scoring verb, the same for every engine: scores only. Heatmaps and keywords cost a
 * second graph and a decoder loop, and the two heaviest callers (best-of-N selection, evaluation of
 * scores) do not read them; ask for them per call or when opening the scorer.
 */
export const SCORE_DEFAULTS: Readonly<ScoreDefaults> = Object.freeze({ heatmaps: false, keywords: false, batchSize: 8 });

/** Check and fill a scorer's defaults (`who` names the caller in errors). */
export function resolveScoreDefaults(opts: Partial<ScoreDefaults>, who: string): ScoreDefaults {
  const d = { ...SCORE_DEFAULTS, ...Object.fromEntries(Object.entries(opts).filter(([, v]) => v !== undefined)) };
  checkBatchSize(d.batchSize, who);
  return d;
}

export function checkBatchSize(batch: number, who: string): void {
  if (!(Number.isInteger(batch) && batch > 0)) throw new Error(`${who}: batchSize must be a positive integer, got ${batch}`);
}

/**
 * The pixel size of a Float32Array input, checked against the number of prompts (`who` names the caller
 * in errors): [h, w] from `size`, default the model's input size.
 */
export function pixelArraySize(pixels: Float32Array, n: number, modelSize: number, size: [number, number] | undefined, who: string): [number, number] {
  const [h, w] = size ?? [modelSize, modelSize];
  if (!(Number.isInteger(h) && Number.isInteger(w) && h > 0 && w > 0)) throw new Error(`${who}: size must be two positive integers, got [${size}]`);
  if (pixels.length !== n * h * w * 3) {
    throw new Error(`${who}: pixel array holds ${pixels.length} values, expected ${n}×${h}×${w}×3 for ${n} prompts`);
  }
  return [h, w];
}
