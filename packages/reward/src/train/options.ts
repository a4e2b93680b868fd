import { RahfVariant } from '../rahf/config';
import { AugmentMode } from './augment';
import { HeatmapLoss, LossWeights } from './loss';
import { ScheduleName } from './schedule';

/** The options of a training run (train/trainer.ts train()); `rahf train` fills them from TRAIN_DEFAULTS. */
export interface TrainOptions {
  /** Data folder with train.tfrecord (+ images/, captions.jsonl), as `rahf eval --data` takes. */
  data: string;
  /** Image folder / parquet files / captions for RichHF-18K records (see eval/dataset.ts). */
  images?: string;
  parquet?: string[];
  captions?: string;
  /** Run folder (metrics, checkpoints, final model). */
  out: string;
  /** Start from a preset's random init (default "tiny") … */
  preset?: string;
  /** … or from an existing RAHF checkpoint (fine-tuning). */
  init?: string;
  variant?: RahfVariant;
  /** Conv stem widths in front of a preset's ViT (rahf/stem.ts). */
  imageStem?: number[];
  imageStemSkip?: boolean;
  /** Caption pooling into the heads' feature map (rahf/caption-pool.ts). */
  captionPool?: boolean;
  /** Word grounding of the caption states (rahf/word-grounding.ts). */
  wordGrounding?: boolean;
  /** tokenizer.json for a preset without a T5 checkpoint. */
  tokenizer?: string;
  /** HF ViT / T5 checkpoints (dir or hub id) for the towers of a preset. */
  initVit?: string;
  initT5?: string;
  /** Stop after this many updates and/or this many minutes of training (whichever comes first). */
  steps?: number;
  minutes?: number;
  batchSize: number;
  lr: number;
  warmup: number;
  schedule: ScheduleName;
  minLr?: number;
  /**
   * Fraction of the run (by steps or minutes, whichever ends it) over which the rate falls linearly to 0
   * (schedule.ts cooldownFactor); 0 or absent = none. A resume may change it, as it may the run's length.
   */
  cooldown?: number;
  weightDecay: number;
  /** Global gradient-norm clip (0 = off). */
  clipNorm: number;
  lossWeights: LossWeights;
  /** Pixel-wise heatmap loss: the paper's MSE or cross-entropy (see loss.ts). */
  heatmapLoss: HeatmapLoss;
  augment: AugmentMode;
  /** Train only the projection and the heads (ViT and T5 frozen). */
  freezeBackbone: boolean;
  checkpointEvery: number;
  /** Checkpoints kept (older ones are deleted). */
  keepCheckpoints: number;
  /** Dev-split evaluation (teacher-forced losses on up to evalLimit examples) every N steps; 0 = off. */
  evalEvery: number;
  evalLimit: number;
  /** Continue from RUN/checkpoints/latest. */
  resume: boolean;
  seed: number;
  /** Progress line on stderr (default true). */
  progress?: boolean;
  /** Limit of training examples loaded (tests). */
  limit?: number;
  /** Where gradients are computed: onnxruntime-node, tfjs, or auto (ORT when it can run the model). */
  engine?: TrainEngine;
  /** Learning-rate factor of the score heads (default 1). */
  scoreHeadLrScale?: number;
  /**
   * Learning-rate factor of the word grounding layers (rahf/word-grounding.ts; default 1). Grounding added to a
   * trained run (scripts/grow-checkpoint.js) starts at the run's decayed rate, where it was not taken up.
   */
  wordGroundingLrScale?: number;
}

export type TrainEngine = 'ort' | 'tfjs' | 'auto';
export const TRAIN_ENGINES: readonly TrainEngine[] = ['ort', 'tfjs', 'auto'];

/**
 * Defaults, tuned for the `tiny` preset on the synthetic world on two CPU cores (see
 * assets/rahf-tiny/TRAINING.md for what they reach in how long). `synthN` / `synthSeed`: the synthetic
 * world `rahf train` generates when no data is given.
 */
export const TRAIN_DEFAULTS = {
  preset: 'tiny',
  batchSize: 8,
  lr: 2e-3,
  warmup: 100,
  schedule: 'rsqrt' as ScheduleName,
  weightDecay: 0.01,
  clipNorm: 1,
  lossWeights: { heatmap: 10, score: 3, keywords: 0.5 } as LossWeights,
  heatmapLoss: 'bce' as HeatmapLoss,
  augment: 'crop' as AugmentMode,
  checkpointEvery: 200,
  keepCheckpoints: 2,
  evalEvery: 0,
  evalLimit: 64,
  seed: 0,
  synthN: 16000,
  scoreHeadLrScale: 0.1,
  synthSeed: 1,
};
