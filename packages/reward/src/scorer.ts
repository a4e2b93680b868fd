import type { RgbImage } from './image';
import type { RahfConfig } from './rahf/config';
import type { RichFeedback } from './rahf/model';

/**
 * The one scoring verb of @richhf/reward: rich feedback for images and their prompts, whichever engine
 * runs the model (tfjs: `RewardModel`; onnxruntime-node: `OnnxScorer`). Other packages depend on this
 * interface, never on an engine.
 */
export interface Scorer {
  readonly engine: 'tfjs' | 'ort';
  readonly config: RahfConfig;
  /**
   * Scores (and, when asked, heatmaps and misaligned prompt words) for `images[i]` with `prompts[i]`:
   * decoded images of any size, or a Float32Array of NHWC pixels in [0, 1] ([B, H, W, 3], H×W from
   * `opts.size`, default the model's input size).
   */
  score(images: RgbImage[] | Float32Array, prompts: string[], opts?: ScoreOptions): Promise<RichFeedback[]>;
  /** Release sessions / tensors. */
  dispose(): Promise<void>;
}

export interface ScoreOptions {
  /** Predict the two heatmaps (default: the scorer's default). */
  heatmaps?: boolean;
  /** Decode the misaligned prompt words (default: the scorer's default). */
  keywords?: boolean;
  /** Images per forward pass (default 8). */
  batchSize?: number;
  /** Cap on generated keyword tokens (default 100, as youweiliang/RichHF). */
  maxNewTokens?: number;
  /** [height, width] of a Float32Array input (default the model's input size). */
  size?: [number, number];
}
