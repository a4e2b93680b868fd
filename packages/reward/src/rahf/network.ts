import * as tf from '@tensorflow/tfjs';
import { normalizePixels } from '../image';
import { T5Model } from '../models/t5';
import { ViTModel } from '../models/vit';
import { linear } from '../nn/layers';
import { Params } from '../nn/params';
import { Tokenizer } from '../tokenizer';
import { HEATMAP_NAMES, HeatmapName, RahfConfig, SCORE_NAMES, ScoreName, gridSize, taskPrompt, visualTokenCount } from './config';
import { heatmapHead, scoreHead } from './heads';
import { STEM_SKIP, imageStem } from './stem';
import { captionPool } from './caption-pool';
import { groundCaption } from './word-grounding';
import { PROJECTION, T5_PREFIX, VIT_PREFIX } from './init';
import { resizeBilinearPil } from './preprocess';

export interface ForwardOutput {
  scores: Record<ScoreName, tf.Tensor1D>;
  heatmaps?: Record<HeatmapName, tf.Tensor3D>;
}

/** What the heads and the keyword decoder read from one joint encoding (RewardModel.encodeParts). */
export interface JointParts {
  image: tf.Tensor3D;
  caption: tf.Tensor3D;
  textMask: tf.Tensor2D;
}

/** Internal forward result: outputs plus, on request, the caption's encoder states for the decoder. */
export type RunOutput = ForwardOutput & { caption?: { hidden: tf.Tensor3D; mask: tf.Tensor2D } };

/** tf.tidy for functions returning tensor records (tidy's own typing wants a TensorContainer). */
export function tidyRecord<T>(fn: () => T): T {
  return tf.tidy(() => fn() as unknown as tf.TensorContainer) as unknown as T;
}

/**
 * The RAHF network — Rich Automatic Human Feedback (Liang et al., CVPR 2024): ViT image tokens and T5
 * caption embeddings fused by the T5 encoder; the image positions form a feature map read by score and
 * heatmap heads; the caption states feed the T5 decoder. Every function here is differentiable;
 * RewardModel (model.ts) builds the user-facing verbs on it.
 */
export class RahfNetwork {
  readonly vit: ViTModel;
  readonly t5: T5Model;

  protected constructor(
    readonly config: RahfConfig,
    readonly tokenizer: Tokenizer,
    readonly params: Params,
  ) {
    this.vit = new ViTModel(config.vit, params.scope(VIT_PREFIX));
    this.t5 = new T5Model(config.t5, params.scope(T5_PREFIX));
    if (tokenizer.vocabSize > config.t5.vocab_size) {
      throw new Error(`tokenizer ${tokenizer.file} has ${tokenizer.vocabSize} tokens but the T5 vocabulary holds ${config.t5.vocab_size}`);
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Building blocks (all differentiable).

  /**
   * ViT tokens (with or without CLS, per config) projected to the T5 width: [B, Nv, D], and the conv stem's
   * map when there is one (the heads' skip input; the keyword paths ignore it).
   */
  protected visual(pixelsNorm: tf.Tensor4D): { tokens: tf.Tensor3D; stem?: tf.Tensor4D } {
    const cfg = this.config;
    const s = cfg.imageSize;
    const [b, h, w, c] = pixelsNorm.shape;
    if (h !== s || w !== s || c !== 3) {
      throw new Error(`RAHF expects normalised NHWC pixels [B, ${s}, ${s}, 3], got [${pixelsNorm.shape}] (predict/scoreGrad resize)`);
    }
    const stem = cfg.imageStem.length ? imageStem(pixelsNorm, this.params, cfg.imageStem) : undefined;
    const hidden = this.vit.forward(stem ?? pixelsNorm);
    const n = gridSize(cfg) ** 2;
    const tokens = cfg.keepClsInEncoder ? hidden : tf.slice(hidden, [0, 1, 0], [b, n, hidden.shape[2]]);
    return { tokens: linear(tokens, this.params, PROJECTION) as tf.Tensor3D, stem };
  }

  /** Token ids and mask of captions, padded to the longest and capped at maxTextTokens. */
  protected tokenize(texts: string[]): { ids: tf.Tensor2D; mask: tf.Tensor2D } {
    const enc = this.tokenizer.encodeBatch(texts, { maxLength: this.config.maxTextTokens });
    return { ids: tf.tensor2d(enc.ids, undefined, 'int32'), mask: tf.tensor2d(enc.mask, undefined, 'int32') };
  }

  /**
   * T5 encoder over [image tokens; caption embeddings]. Without maskTextPadding no mask is used at all,
   * as youweiliang does (pad tokens of shorter captions are attended to).
   */
  protected encodeJoint(visual: tf.Tensor3D, texts: string[]): { hidden: tf.Tensor3D; textMask: tf.Tensor2D } {
    const { ids, mask } = this.tokenize(texts);
    const emb = this.t5.embed(ids);
    const b = visual.shape[0];
    const attentionMask = this.config.maskTextPadding
      ? (tf.concat([tf.ones([b, visual.shape[1]], 'int32'), mask], 1) as tf.Tensor2D)
      : undefined;
    const hidden = this.t5.encode({ inputsEmbeds: tf.concat([visual, emb], 1) as tf.Tensor3D, attentionMask });
    return { hidden, textMask: mask };
  }

  /** image_stem_skip: the stem's map projected to the T5 width (NHWC [B, g, g, D]); none without a stem skip. */
  protected stemSkip(stem?: tf.Tensor4D): tf.Tensor4D | undefined {
    return stem && this.config.imageStemSkip ? (linear(stem, this.params, STEM_SKIP) as tf.Tensor4D) : undefined;
  }

  /**
   * The parts of a joint encoding the heads and the decoder read: the encoder positions of the patches (CLS
   * skipped) plus the stem skip, [B, N, D]; the caption states — the caption part of the encoder output,
   * grounded in those image positions when the config has word_grounding (rahf/word-grounding.ts); the
   * caption's token mask.
   */
  protected encodeParts(visual: tf.Tensor3D, skip: tf.Tensor4D | undefined, texts: string[]): JointParts {
    const { hidden, textMask } = this.encodeJoint(visual, texts);
    const n = gridSize(this.config) ** 2;
    const [b, , d] = hidden.shape;
    const start = this.config.keepClsInEncoder ? 1 : 0;
    let image = tf.slice(hidden, [0, start, 0], [b, n, d]) as tf.Tensor3D;
    if (skip) image = tf.add(image, skip.reshape([b, n, d]));
    const caption = this.captionHidden(hidden);
    return { image, caption: this.config.wordGrounding ? groundCaption(caption, image, this.params) : caption, textMask };
  }

  /** The heads' input: the image positions as an NHWC map [B, g, g, D], plus the pooled caption if configured (caption-pool.ts). */
  protected featureMap(parts: JointParts): tf.Tensor4D {
    const g = gridSize(this.config);
    const [b, , d] = parts.image.shape;
    let map = parts.image.reshape([b, g, g, d]) as tf.Tensor4D;
    if (this.config.captionPool) {
      const mask = this.config.maskTextPadding ? parts.textMask : undefined;
      map = tf.add(map, captionPool(parts.caption, mask, this.params));
    }
    return map;
  }

  /** The caption part of the encoder output (what the keyword decoder reads, unless word grounding adds to it). */
  protected captionHidden(hidden: tf.Tensor3D): tf.Tensor3D {
    const nv = visualTokenCount(this.config);
    const [b, l, d] = hidden.shape;
    return tf.slice(hidden, [0, nv, 0], [b, l - nv, d]) as tf.Tensor3D;
  }

  protected headParams(kind: 'score' | 'heatmap', type: string): Params {
    const base = kind === 'score' ? 'score_predictor.' : 'heatmap_predictor.';
    return this.params.scope(this.config.variant === 'multi_head' ? `${base}${type}.` : base);
  }

  protected scoreHead(feature: tf.Tensor4D, type: ScoreName): tf.Tensor1D {
    return scoreHead(feature, this.headParams('score', type), this.config.scoreConv, this.config.scoreLinear);
  }

  protected heatmap(feature: tf.Tensor4D, type: HeatmapName): tf.Tensor3D {
    return heatmapHead(feature, this.headParams('heatmap', type), this.config.heatmapStages);
  }

  /**
   * Scores (and heatmaps) of normalised pixels [B, S, S, 3] and prompts. Multi-head: one encoder pass
   * feeds every head. Augmented prompt: one encoder pass per output with the task string in the text.
   * `caption` also returns the plain-caption encoder output for the keyword decoder.
   */
  protected run(
    pixelsNorm: tf.Tensor4D,
    prompts: string[],
    opts: { heatmaps: boolean; caption: boolean },
  ): RunOutput {
    if (prompts.length !== pixelsNorm.shape[0]) {
      throw new Error(`got ${pixelsNorm.shape[0]} images but ${prompts.length} prompts`);
    }
    const { tokens: visual, stem } = this.visual(pixelsNorm);
    // image_stem_skip: the stem's map projected to the T5 width, added to every feature map the heads read.
    const skip = this.stemSkip(stem);
    const scores = {} as Record<ScoreName, tf.Tensor1D>;
    const heatmaps = {} as Record<HeatmapName, tf.Tensor3D>;
    let caption: { hidden: tf.Tensor3D; mask: tf.Tensor2D } | undefined;
    if (this.config.variant === 'multi_head') {
      const parts = this.encodeParts(visual, skip, prompts);
      const feature = this.featureMap(parts);
      for (const t of SCORE_NAMES) scores[t] = this.scoreHead(feature, t);
      if (opts.heatmaps) for (const t of HEATMAP_NAMES) heatmaps[t] = this.heatmap(feature, t);
      if (opts.caption) caption = { hidden: parts.caption, mask: parts.textMask };
    } else {
      const fmt = this.config.augmentedPromptFormat;
      const task = (kind: 'SCORE' | 'HEATMAP', t: string) =>
        this.featureMap(this.encodeParts(visual, skip, prompts.map((p) => taskPrompt(fmt, kind, t, p))));
      for (const t of SCORE_NAMES) scores[t] = this.scoreHead(task('SCORE', t), t);
      if (opts.heatmaps) for (const t of HEATMAP_NAMES) heatmaps[t] = this.heatmap(task('HEATMAP', t), t);
      if (opts.caption) {
        const parts = this.encodeParts(visual, skip, prompts);
        caption = { hidden: parts.caption, mask: parts.textMask };
      }
    }
    return { scores, heatmaps: opts.heatmaps ? heatmaps : undefined, caption };
  }

  /**
   * Differentiable forward on normalised NHWC pixels at the model size: scores [B] per type in (0,1)
   * and, unless `heatmaps: false`, heatmaps [B, H, W] per type in (0,1).
   */
  forward(pixelsNorm: tf.Tensor4D, prompts: string[], opts: { heatmaps?: boolean } = {}): ForwardOutput {
    return tidyRecord(() => {
      const out = this.run(pixelsNorm, prompts, { heatmaps: opts.heatmaps ?? true, caption: false });
      return { scores: out.scores, heatmaps: out.heatmaps };
    });
  }

  /**
   * Pixels in [0,1] (NHWC, any size) → normalised model input: PIL-bilinear resize to the model size
   * and (x − mean) / std, differentiable. Decoded images go through src/image.ts (PIL-exact, 8-bit).
   */
  preprocess(pixels01: tf.Tensor4D): tf.Tensor4D {
    const { imageSize: s, imageMean, imageStd } = this.config;
    return tf.tidy(() => normalizePixels(resizeBilinearPil(pixels01, s, s), imageMean, imageStd));
  }

  /** The joint encoding for the keyword paths; the stem skip is projected only when word grounding reads it. */
  protected keywordParts(pixelsNorm: tf.Tensor4D, prompts: string[]): JointParts {
    const { tokens, stem } = this.visual(pixelsNorm);
    return this.encodeParts(tokens, this.config.wordGrounding ? this.stemSkip(stem) : undefined, prompts);
  }

  /** The caption's encoder output and token mask, what the keyword decoder reads. */
  protected captionStates(pixelsNorm: tf.Tensor4D, prompts: string[]): { hidden: tf.Tensor3D; mask: tf.Tensor2D } {
    return tf.tidy(() => {
      const { caption, textMask } = this.keywordParts(pixelsNorm, prompts);
      return { hidden: caption, mask: textMask };
    });
  }

  /** Number of parameters. */
  get numParams(): number {
    let n = 0;
    for (const v of this.params.tensors.values()) n += v.size;
    return n;
  }

  dispose(): void {
    this.params.dispose();
  }
}
