import * as tf from '@tensorflow/tfjs';
import { RgbImage } from '../image';
import { imagesToModelInput } from './preprocess';
import { Params } from '../nn/params';
import { Tokenizer } from '../tokenizer';
import { HEATMAP_NAMES, HeatmapName, RahfConfig, SCORE_NAMES, ScoreName } from './config';
import { markLogitBias, misalignedWords } from './keywords';
import { RichFeedback, feedbackRows } from './feedback';
import { EngineName, Scorer, ScoreDefaults, ScoreOptions, SCORE_DEFAULTS, checkBatchSize, pixelArraySize } from './scorer';
import { RewardGradient, ScoreGradOptions, ScoreGradResult, ScoreWeights, checkHeatmapPenalty, checkScoreWeights } from './reward-gradient';
import { LoadOptions, ModelParts, PresetOptions, checkParams, loadParts, presetParts, writeParts } from './checkpoint';
import { RahfNetwork, tidyRecord } from './network';

export { type LoadOptions, type PresetOptions } from './checkpoint';
export { type ForwardOutput } from './network';

/** RewardModel.scoreGrad of a tensor: the contract's result with the gradient kept as a tensor. */
export type TensorScoreGrad = Omit<ScoreGradResult, 'grad'> & { grad: tf.Tensor4D };

/** Options of the deprecated `predict` (defaults: heatmaps and keywords on); see ScoreOptions. */
export type PredictOptions = ScoreOptions;

/**
 * RAHF — Rich Automatic Human Feedback (Liang et al., CVPR 2024) as a model to load, score with, decode
 * keywords with and differentiate: the network (network.ts) plus checkpoints (checkpoint.ts), the
 * scoring verb (scorer.ts), keyword decoding and the reward-gradient contract (reward-gradient.ts).
 * Layout and parameter names follow youweiliang/RichHF (its public checkpoint loads as is); the config
 * chooses between its quirks and the cleaner behaviour of our presets.
 */
export class RewardModel extends RahfNetwork implements Scorer, RewardGradient {
  readonly engine: EngineName = 'tfjs';
  /** What `score` does when a call does not say (openScorer sets them from its options). */
  scoreDefaults: ScoreDefaults = { ...SCORE_DEFAULTS };

  private constructor(config: RahfConfig, tokenizer: Tokenizer, params: Params) {
    super(config, tokenizer, params);
  }

  /**
   * A model from its parts; `params` must hold exactly the config's parameters (checked), in the
   * model's layout: checkpoint names and shapes, except head conv weights as tfjs filters
   * ([kh, kw, in, out]; [kh, kw, out, in] for the transposed convs).
   */
  static fromParts(config: RahfConfig, tokenizer: Tokenizer, params: Params): RewardModel {
    checkParams(config, params);
    return new RewardModel(config, tokenizer, params);
  }

  /** The model of loaded parts, which it owns from here (released when the model cannot be made). */
  private static own(parts: ModelParts): RewardModel {
    try {
      return new RewardModel(parts.config, parts.tokenizer, parts.params);
    } catch (e) {
      parts.params.dispose();
      throw e;
    }
  }

  /**
   * Load a checkpoint directory, hub id or weights file: config.json (ours, model_type "rahf", or
   * youweiliang style "rahf_youweiliang") and model.safetensors / a sharded index / a torch
   * state_dict (.pt). Without a config.json (youweiliang's public .pt) the layout is inferred from the
   * tensor shapes and the tokenizer must be given (t5-base's) unless a tokenizer.json sits beside it.
   */
  static async load(ref: string, opts: LoadOptions = {}): Promise<RewardModel> {
    return RewardModel.own(await loadParts(ref, opts));
  }

  /**
   * A model of a named layout (see presets.ts) with random weights (seeded), optionally starting the
   * towers from HF ViT / T5 checkpoints (their config.json then replaces the preset's tower config).
   * Without a T5 checkpoint the vocabulary is the tokenizer's, rounded up to a multiple of 128.
   */
  static async fromPreset(name: string, opts: PresetOptions = {}): Promise<RewardModel> {
    return RewardModel.own(await presetParts(name, opts));
  }

  // ---------------------------------------------------------------------------------------------
  // Public API.

  private async preprocessImages(images: RgbImage[]): Promise<tf.Tensor4D> {
    const s = this.config.imageSize;
    return tf.tensor4d(await imagesToModelInput(images, this.config), [images.length, s, s, 3]);
  }

  /**
   * Rich feedback for images and their prompts, in batches (the {@link Scorer} verb): decoded RgbImages of
   * any size (PIL-exact 8-bit resize, src/image.ts), a Float32Array of NHWC pixels in [0, 1] (`opts.size`,
   * default the model size) or a [B, H, W, 3] tensor in [0, 1] (both resized by `preprocess`; with
   * `input: 'normalised'`, already the model input). Heatmaps come at the head's resolution (16 × the
   * patch grid). Defaults: `scoreDefaults` (scores only, {@link SCORE_DEFAULTS}).
   */
  async score(images: RgbImage[] | Float32Array | tf.Tensor4D, prompts: string[], opts: ScoreOptions = {}): Promise<RichFeedback[]> {
    const n = prompts.length;
    const s = this.config.imageSize;
    let size: [number, number] = [s, s];
    if (Array.isArray(images)) {
      if (images.length !== n) throw new Error(`RewardModel.score: ${images.length} images but ${n} prompts`);
    } else if (images instanceof tf.Tensor) {
      if (images.shape[0] !== n) throw new Error(`RewardModel.score: ${images.shape[0]} images but ${n} prompts`);
      size = [images.shape[1], images.shape[2]];
    } else size = pixelArraySize(images, n, s, opts.size, 'RewardModel.score');
    const normalised = opts.input === 'normalised';
    if (normalised && !Array.isArray(images) && (size[0] !== s || size[1] !== s)) {
      throw new Error(`RewardModel.score: normalised input must be ${s}×${s}, got ${size[0]}×${size[1]}`);
    }
    const wantHeat = opts.heatmaps ?? this.scoreDefaults.heatmaps;
    const wantKw = opts.keywords ?? this.scoreDefaults.keywords;
    const batch = opts.batchSize ?? this.scoreDefaults.batchSize;
    checkBatchSize(batch, 'RewardModel.score');
    const results: RichFeedback[] = [];
    for (let start = 0; start < n; start += batch) {
      const end = Math.min(n, start + batch);
      const pixels = await this.inputBatch(images, start, end, size, normalised);
      const out = tidyRecord(() => this.run(pixels, prompts.slice(start, end), { heatmaps: wantHeat, caption: wantKw }));
      pixels.dispose();
      try {
        const scores = Object.fromEntries(await Promise.all(SCORE_NAMES.map(async (t) => [t, await out.scores[t].data()]))) as Record<ScoreName, Float32Array>;
        let heatmaps;
        if (wantHeat) {
          const [height, width] = out.heatmaps![HEATMAP_NAMES[0]].shape.slice(1);
          const maps = Object.fromEntries(await Promise.all(HEATMAP_NAMES.map(async (t) => [t, await out.heatmaps![t].data()]))) as Record<HeatmapName, Float32Array>;
          heatmaps = { maps, height, width };
        }
        const sequences = wantKw ? await this.decodeKeywords(out.caption!.hidden, out.caption!.mask, opts.maxNewTokens ?? 100) : undefined;
        results.push(...feedbackRows({ scores, heatmaps, sequences }, end - start));
      } finally {
        tf.dispose(out as unknown as tf.TensorContainer);
      }
    }
    return results;
  }

  /** Normalised model input for images [start, end) of a score() input. */
  private async inputBatch(images: RgbImage[] | Float32Array | tf.Tensor4D, start: number, end: number, [h, w]: [number, number], normalised: boolean): Promise<tf.Tensor4D> {
    if (Array.isArray(images)) return this.preprocessImages(images.slice(start, end));
    return tf.tidy(() => {
      const x =
        images instanceof tf.Tensor
          ? (tf.slice(images, [start, 0, 0, 0], [end - start, -1, -1, -1]) as tf.Tensor4D)
          : tf.tensor4d(images.subarray(start * h * w * 3, end * h * w * 3), [end - start, h, w, 3]);
      return normalised ? x : this.preprocess(x);
    });
  }

  /**
   * @deprecated Use {@link RewardModel.score}, the verb every engine shares. `predict` keeps its old
   * defaults: heatmaps and keywords on.
   */
  predict(images: tf.Tensor4D | RgbImage[], prompts: string[], opts: PredictOptions = {}): Promise<RichFeedback[]> {
    return this.score(images, prompts, { ...opts, heatmaps: opts.heatmaps ?? true, keywords: opts.keywords ?? true });
  }

  /** Greedy T5 decoding from the caption's encoder output; returns the decoded texts. */
  private async decodeKeywords(captionHidden: tf.Tensor3D, mask: tf.Tensor2D, maxNewTokens: number): Promise<string[]> {
    const ids = await this.generateIds(captionHidden, mask, maxNewTokens);
    return ids.map((row) => this.tokenizer.decode(row, true).trim());
  }

  private generateIds(captionHidden: tf.Tensor3D, mask: tf.Tensor2D, maxNewTokens: number, markBias = this.config.keywordMarkBias): Promise<number[][]> {
    const logitBias = markLogitBias((t) => this.tokenizer.encode(t), markBias);
    return this.t5.generate(captionHidden, this.config.maskTextPadding ? mask : undefined, { maxNewTokens, logitBias });
  }

  /**
   * Raw generated ids of the keyword decoder (HF `generate` output: starts with the decoder start
   * token, padded after eos), for normalised pixels at the model size. `markBias` overrides the config's
   * keywordMarkBias (calibration).
   */
  async generateKeywordIds(pixelsNorm: tf.Tensor4D, prompts: string[], maxNewTokens = 100, markBias?: number): Promise<number[][]> {
    const cap = this.captionStates(pixelsNorm, prompts);
    try {
      return await this.generateIds(cap.hidden, cap.mask, maxNewTokens, markBias);
    } finally {
      tf.dispose([cap.hidden, cap.mask]);
    }
  }

  /** The keyword sequences ("a yellow_0 cat") for normalised pixels at the model size. */
  async generateKeywords(pixelsNorm: tf.Tensor4D, prompts: string[], maxNewTokens = 100, markBias?: number): Promise<string[]> {
    const ids = await this.generateKeywordIds(pixelsNorm, prompts, maxNewTokens, markBias);
    return ids.map((row) => this.tokenizer.decode(row, true).trim());
  }

  /**
   * Misaligned words of each image under each mark bias (see RahfConfig.keywordMarkBias), from one encoder
   * pass: result[k][i] is image i's words with biases[k]. For calibrating the decision threshold.
   */
  async misalignedWordsPerBias(images: RgbImage[], prompts: string[], biases: number[], maxNewTokens = 100): Promise<string[][][]> {
    if (prompts.length !== images.length) throw new Error(`misalignedWordsPerBias: ${images.length} images but ${prompts.length} prompts`);
    const pixels = await this.preprocessImages(images);
    const cap = this.captionStates(pixels, prompts);
    pixels.dispose();
    try {
      const out: string[][][] = [];
      for (const b of biases) {
        const ids = await this.generateIds(cap.hidden, cap.mask, maxNewTokens, b);
        out.push(ids.map((row) => misalignedWords(this.tokenizer.decode(row, true).trim())));
      }
      return out;
    } finally {
      tf.dispose([cap.hidden, cap.mask]);
    }
  }

  /** Misaligned prompt words per image (the `_0`-marked words of the generated sequence). */
  async misalignedWords(pixelsNorm: tf.Tensor4D, prompts: string[], maxNewTokens = 100): Promise<string[][]> {
    return (await this.generateKeywords(pixelsNorm, prompts, maxNewTokens)).map(misalignedWords);
  }

  /**
   * Teacher-forced token cross-entropy of `targets` (e.g. "a yellow_0 cat") given images and prompts,
   * like HF T5 with labels: decoder inputs are the labels shifted right; the mean runs over every label
   * position, pads included, unless the config's lossIgnoresPadding leaves them out. Differentiable.
   */
  sequenceLoss(pixelsNorm: tf.Tensor4D, prompts: string[], targets: string[]): tf.Scalar {
    if (targets.length !== prompts.length) throw new Error(`sequenceLoss: ${prompts.length} prompts but ${targets.length} targets`);
    return tf.tidy(() => {
      const { caption, textMask } = this.keywordParts(pixelsNorm, prompts);
      const enc = this.tokenizer.encodeBatch(targets, { maxLength: this.config.maxTextTokens });
      let labels = tf.tensor2d(enc.ids, undefined, 'int32');
      if (this.config.lossIgnoresPadding) {
        labels = tf.where(tf.cast(tf.tensor2d(enc.mask, undefined, 'int32'), 'bool'), labels, tf.fill(labels.shape, -100, 'int32'));
      }
      const logits = this.t5.decode(this.t5.shiftRight(labels), caption, this.config.maskTextPadding ? textMask : undefined);
      return this.t5.sequenceLoss(logits, labels);
    });
  }

  /**
   * Scores and d(Σ_i Σ_k w_k·score_k,i − λ·Σ_i P_i)/d pixels for pixels in [0,1] (NHWC, any size): resize and
   * normalisation are inside the differentiated function. P is the implausibility heatmap's soft-max mean
   * (`opts.heatmapPenalty` = λ > 0, reward-gradient.ts); without it the heatmap heads are skipped. Every score
   * type is returned; only weighted ones contribute to the gradient. A Float32Array input is the
   * {@link RewardGradient} contract (size from `opts.size`, gradient on the host); a tensor input keeps the
   * gradient as a tensor.
   */
  scoreGrad(pixels01: Float32Array, prompts: string[], weights: ScoreWeights, opts?: ScoreGradOptions): Promise<ScoreGradResult>;
  scoreGrad(pixels01: tf.Tensor4D, prompts: string[], weights: ScoreWeights, opts?: Omit<ScoreGradOptions, 'size'>): Promise<TensorScoreGrad>;
  async scoreGrad(pixels01: Float32Array | tf.Tensor4D, prompts: string[], weights: ScoreWeights, opts: ScoreGradOptions = {}): Promise<ScoreGradResult | TensorScoreGrad> {
    if (pixels01 instanceof tf.Tensor) return this.scoreGradTensor(pixels01, prompts, weights, opts);
    const [h, w] = pixelArraySize(pixels01, prompts.length, this.config.imageSize, opts.size, 'scoreGrad');
    const x = tf.tensor4d(pixels01, [prompts.length, h, w, 3]);
    try {
      const { grad, ...rest } = await this.scoreGradTensor(x, prompts, weights, opts);
      const g = (await grad.data()) as Float32Array;
      grad.dispose();
      return { ...rest, grad: g };
    } finally {
      x.dispose();
    }
  }

  private async scoreGradTensor(pixels01: tf.Tensor4D, prompts: string[], weights: ScoreWeights, opts: ScoreGradOptions): Promise<TensorScoreGrad> {
    const ws = checkScoreWeights(weights, 'scoreGrad');
    const pen = checkHeatmapPenalty(opts, 'scoreGrad');
    const kept = {} as Record<ScoreName, tf.Tensor1D>;
    let keptPenalty: tf.Tensor1D | undefined;
    const f = (x: tf.Tensor) => {
      const { scores, heatmaps } = this.run(this.preprocess(x as tf.Tensor4D), prompts, { heatmaps: pen !== undefined, caption: false });
      for (const t of SCORE_NAMES) kept[t] = tf.keep(scores[t]);
      let total: tf.Tensor = tf.scalar(0);
      for (const [k, w] of ws) total = tf.add(total, tf.mul(tf.sum(scores[k]), w));
      if (pen) {
        // heatmapPenaltyReduce on tensors: Σ_p softmax(map / τ)_p · map_p per image.
        const map = tf.reshape(heatmaps!.implausibility, [prompts.length, -1]);
        const p = tf.sum(tf.mul(tf.softmax(tf.div(map, pen.temperature)), map), 1) as tf.Tensor1D;
        keptPenalty = tf.keep(p);
        total = tf.sub(total, tf.mul(tf.sum(p), pen.lambda));
      }
      return total as tf.Scalar;
    };
    const { value, grad } = tf.valueAndGrad(f)(pixels01);
    value.dispose();
    try {
      const scores = {} as Record<ScoreName, Float32Array>;
      for (const t of SCORE_NAMES) scores[t] = (await kept[t].data()) as Float32Array;
      const out: TensorScoreGrad = { scores, grad: grad as tf.Tensor4D };
      if (keptPenalty) out.penalty = (await keptPenalty.data()) as Float32Array;
      return out;
    } finally {
      tf.dispose([...Object.values(kept), ...(keptPenalty ? [keptPenalty] : [])]);
    }
  }

  /**
   * Write the model as a checkpoint folder (rahf/checkpoint.ts writeParts): weights first, config.json
   * last, each atomically, so a folder with a config is always complete.
   */
  async save(dir: string): Promise<void> {
    await writeParts(dir, this);
  }

}
