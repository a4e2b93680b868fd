import * as path from 'path';
import { readJsonConfig, withFile } from '../models/hf-config';
import { T5Config, t5ConfigFromHF } from '../models/t5';
import { ViTConfig, vitConfigFromHF } from '../models/vit';
import { UserError } from '../errors';

/** The four scores RAHF predicts (RichHF-18K's fine-grained ratings), in checkpoint order. */
export const SCORE_NAMES = ['plausibility', 'alignment', 'aesthetics', 'overall'] as const;
export type ScoreName = (typeof SCORE_NAMES)[number];

/** The two heatmaps: implausible/artifact regions and text-misaligned regions. */
export const HEATMAP_NAMES = ['implausibility', 'misalignment'] as const;
export type HeatmapName = (typeof HEATMAP_NAMES)[number];

/**
 * Task string of the augmented-prompt variant, as youweiliang/RichHF builds it: the caption is
 * prefixed with `<output> SCORE: plausibility </output> ` (or `HEATMAP: misalignment`) so one set of
 * heads serves every output, at one encoder pass per output.
 */
export const DEFAULT_AUGMENTED_PROMPT_FORMAT = '<output> {SCORE|HEATMAP}: {type} </output> {caption}';

/** Heatmap head widths of youweiliang/RichHF (fixed in its code). */
export const YOUWEILIANG_HEATMAP_CHANNELS: [number, number, number] = [768, 384, 192];
/** Hidden widths of the score head's dense layers in youweiliang/RichHF (a final width-1 layer follows). */
export const YOUWEILIANG_SCORE_LINEAR = [512, 128];

export type RahfVariant = 'multi_head' | 'augmented_prompt';

/**
 * One configuration covers every layout we run: youweiliang's public checkpoint, the paper-sized
 * preset and the tiny demo model. The checkpoint's config decides the layout; parameter names are
 * youweiliang's in every case.
 */
export interface RahfConfig {
  /** multi_head: separate score/heatmap heads per output; augmented_prompt: one of each, task in the text. */
  variant: RahfVariant;
  /** Side of the square model input (pixels). */
  imageSize: number;
  /** ViT patch side; the feature map is (imageSize / patchSize)² tokens. */
  patchSize: number;
  /**
   * Widths of the optional conv stem (rahf/stem.ts; `image_stem`, default none): k stride-2 stages, after
   * which the ViT patchifies with patch_size / 2^k on (image_size / 2^k)² maps of the last width.
   */
  imageStem: number[];
  /** `image_stem_skip`: add the projected stem map to the heads' feature map (rahf/stem.ts STEM_SKIP). */
  imageStemSkip: boolean;
  /**
   * `caption_pool`: add a linear projection of the caption positions' mean encoder output to the heads'
   * feature map (rahf/caption-pool.ts), so the score heads read the prompt side of the encoder too.
   */
  captionPool: boolean;
  /**
   * `word_grounding`: each caption position of the encoder output attends to the heads' image positions and
   * adds the projected read-out (rahf/word-grounding.ts) before the keyword decoder and the caption pooling read it.
   */
  wordGrounding: boolean;
  vit: ViTConfig;
  t5: T5Config;
  /** The HF config.json objects of the two towers, saved verbatim so a saved model is self-contained. */
  vitJson: Record<string, unknown>;
  t5Json: Record<string, unknown>;
  /** Heatmap head widths [c0, c1, c2]: convs to c0, c1; deconvs to c0, c1, c1, c2; last conv c2 → 1. */
  heatmapChannels: [number, number, number];
  /**
   * ×2 upsampling stages of the heatmap head (youweiliang: 4, so the map has the image's size at patch 16).
   * Fewer stages give a coarser map (upsampled to the image at prediction) for much less compute: the last
   * stage alone is ~¾ of a head's cost.
   */
  heatmapStages: number;
  /** Output widths of the score head's 3×3 convs (youweiliang: d, d/2, d/4, d/8, d/16, d/64). */
  scoreConv: number[];
  /** Hidden widths of the score head's dense layers; a width-1 layer and a sigmoid follow. */
  scoreLinear: number[];
  /** Feed the ViT CLS token to the T5 encoder too (youweiliang: yes; the feature map skips it). */
  keepClsInEncoder: boolean;
  /**
   * Mask the caption's pad tokens in the encoder and in cross-attention. youweiliang runs without a
   * mask (pad tokens are attended to, so outputs depend on the batch's longest caption); the public
   * weights were trained that way.
   */
  maskTextPadding: boolean;
  /** Leave pad positions of the target out of the sequence loss (youweiliang counts them). */
  lossIgnoresPadding: boolean;
  /** `{SCORE|HEATMAP}` (or `{kind}`), `{type}` and `{caption}` are substituted. */
  augmentedPromptFormat: string;
  /** Pixel normalisation of the ViT (google/vit-*: 0.5 / 0.5). */
  imageMean: [number, number, number];
  imageStd: [number, number, number];
  /** Caption length cap in tokens, </s> included (t5-base's model_max_length). */
  maxTextTokens: number;
  /**
   * Added to the logit of the `_0` mark's token at every greedy decoding step (0: plain greedy search, as
   * HF generate). The keyword decoder's decision threshold: `rahf calibrate` sets it on held-out data.
   */
  keywordMarkBias: number;
}

/** Patches per side. */
export function gridSize(c: Pick<RahfConfig, 'imageSize' | 'patchSize'>): number {
  return c.imageSize / c.patchSize;
}

/** Side of the predicted heatmaps: `heatmapStages` ×2 deconvolutions of the patch grid (default 4). */
export function heatmapSize(c: Pick<RahfConfig, 'imageSize' | 'patchSize'> & { heatmapStages?: number }): number {
  return gridSize(c) * 2 ** (c.heatmapStages ?? 4);
}

/** Image tokens the T5 encoder sees before the caption. */
export function visualTokenCount(c: RahfConfig): number {
  return gridSize(c) ** 2 + (c.keepClsInEncoder ? 1 : 0);
}

/** youweiliang's score-head conv widths for a T5 width d. */
export function youweiliangScoreConv(d: number): number[] {
  return [d, d >> 1, d >> 2, d >> 3, d >> 4, d >> 6];
}

/** Caption with the task of one output, per the config's augmented-prompt format. */
export function taskPrompt(format: string, kind: 'SCORE' | 'HEATMAP', type: string, caption: string): string {
  return format
    .replace(/\{SCORE\|HEATMAP\}|\{kind\}/g, kind)
    .replace(/\{type\}/g, type)
    .replace(/\{caption\}/g, caption);
}

function intList(v: unknown, key: string, fallback: number[], len?: number): number[] {
  if (v === undefined || v === null) return fallback;
  if (!Array.isArray(v) || v.some((x) => !Number.isInteger(x) || x <= 0) || (len !== undefined && v.length !== len)) {
    throw new UserError(`config.${key}: expected ${len ?? 'a list of'} positive integers, got ${JSON.stringify(v)}`);
  }
  return v as number[];
}

function triple(v: unknown, key: string, fallback: [number, number, number]): [number, number, number] {
  if (v === undefined || v === null) return fallback;
  if (typeof v === 'number') return [v, v, v];
  if (!Array.isArray(v) || v.length !== 3 || v.some((x) => typeof x !== 'number' || !Number.isFinite(x))) {
    throw new UserError(`config.${key}: expected a number or 3 numbers, got ${JSON.stringify(v)}`);
  }
  return v as [number, number, number];
}

function finite(v: unknown, key: string, fallback: number): number {
  if (v === undefined || v === null) return fallback;
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new UserError(`config.${key}: expected a number, got ${JSON.stringify(v)}`);
  return v;
}

function posInt(v: unknown, key: string, fallback?: number): number {
  if ((v === undefined || v === null) && fallback !== undefined) return fallback;
  if (!Number.isInteger(v) || (v as number) <= 0) throw new UserError(`config.${key}: expected a positive integer, got ${JSON.stringify(v)}`);
  return v as number;
}

function bool(v: unknown, key: string, fallback: boolean): boolean {
  if (v === undefined || v === null) return fallback;
  if (typeof v !== 'boolean') throw new UserError(`config.${key}: expected true or false, got ${JSON.stringify(v)}`);
  return v;
}

/** A sub-model config: an embedded object, or a directory (relative to `dir`) holding config.json. */
function subConfig(v: unknown, key: string, dir: string): { json: Record<string, unknown>; dir?: string } {
  if (v && typeof v === 'object' && !Array.isArray(v)) return { json: v as Record<string, unknown> };
  if (typeof v === 'string') {
    const sub = path.resolve(dir, v);
    return { json: readJsonConfig(sub), dir: sub };
  }
  throw new UserError(`config.${key}: expected an HF config object or a directory path, got ${JSON.stringify(v)}`);
}

/**
 * Upper bounds on a config's sizes, far above any RAHF or T5/ViT model (T5-XXL: 24 layers, d_model 4096,
 * d_ff 10240; ViT-H: 32 layers). They keep a hostile config.json (`num_decoder_layers: 2e9`) from
 * enumerating or allocating anything; a checkpoint's sizes are further checked against its weights
 * (checkpoint.ts) before a tensor is made.
 */
export const CONFIG_BOUNDS = {
  layers: 1024,
  width: 1 << 16,
  heads: 1024,
  vocab: 1 << 24,
  imageSize: 8192,
  listLength: 64,
  textTokens: 1 << 16,
} as const;

function bounded(key: string, v: number, max: number): void {
  if (!(Number.isInteger(v) && v >= 1 && v <= max)) throw new UserError(`config: ${key} must be an integer from 1 to ${max}, got ${v}`);
}

function checkBounds(c: RahfConfig): void {
  const B = CONFIG_BOUNDS;
  bounded('vit.num_hidden_layers', c.vit.num_hidden_layers, B.layers);
  bounded('t5.num_layers', c.t5.num_layers, B.layers);
  bounded('t5.num_decoder_layers', c.t5.num_decoder_layers, B.layers);
  for (const [k, v] of [['vit.hidden_size', c.vit.hidden_size], ['vit.intermediate_size', c.vit.intermediate_size], ['t5.d_model', c.t5.d_model], ['t5.d_ff', c.t5.d_ff], ['t5.d_kv', c.t5.d_kv], ['vit.num_channels', c.vit.num_channels], ['t5.relative_attention_num_buckets', c.t5.relative_attention_num_buckets]] as const) {
    bounded(k, v, B.width);
  }
  bounded('vit.num_attention_heads', c.vit.num_attention_heads, B.heads);
  bounded('t5.num_heads', c.t5.num_heads, B.heads);
  bounded('t5.vocab_size', c.t5.vocab_size, B.vocab);
  bounded('image_size', c.imageSize, B.imageSize);
  bounded('patch_size', c.patchSize, c.imageSize);
  bounded('vit.image_size', c.vit.image_size, B.imageSize);
  bounded('vit.patch_size', c.vit.patch_size, c.vit.image_size);
  bounded('max_text_tokens', c.maxTextTokens, B.textTokens);
  for (const [k, list] of [['image_stem', c.imageStem], ['score_conv', c.scoreConv], ['score_linear', c.scoreLinear], ['heatmap_channels', c.heatmapChannels]] as const) {
    if (list.length > B.listLength) throw new UserError(`config.${k}: at most ${B.listLength} entries, got ${list.length}`);
    list.forEach((v, i) => bounded(`${k}[${i}]`, v, B.width));
  }
  // A zero (or negative) std divides every pixel by 0: each score would be NaN.
  if (!c.imageStd.every((v) => Number.isFinite(v) && v > 0)) throw new UserError(`config.image_std: every value must be a finite number > 0, got ${JSON.stringify(c.imageStd)}`);
  if (!c.imageMean.every((v) => Number.isFinite(v))) throw new UserError(`config.image_mean: every value must be finite, got ${JSON.stringify(c.imageMean)}`);
}

/** Checks shared by every way of building a config. */
export function validateRahfConfig(c: RahfConfig): RahfConfig {
  checkBounds(c);
  const g = gridSize(c);
  if (!Number.isInteger(g)) throw new UserError(`config: image_size ${c.imageSize} is not a multiple of patch_size ${c.patchSize}`);
  if (!(Number.isInteger(c.heatmapStages) && c.heatmapStages >= 1 && c.heatmapStages <= 4)) {
    throw new UserError(`config: heatmap_stages must be an integer from 1 to 4, got ${c.heatmapStages}`);
  }
  const down = 2 ** c.imageStem.length;
  if (c.vit.patch_size * down !== c.patchSize) {
    const stem = c.imageStem.length ? ` × 2^${c.imageStem.length} (image_stem)` : '';
    throw new UserError(`config: patch_size ${c.patchSize} differs from the ViT's patch_size ${c.vit.patch_size}${stem}`);
  }
  if (c.imageStem.length && c.vit.image_size * down !== c.imageSize) {
    throw new UserError(`config: with image_stem ${JSON.stringify(c.imageStem)} the ViT's image_size must be ${c.imageSize / down}, not ${c.vit.image_size}`);
  }
  const channels = c.imageStem.length ? c.imageStem[c.imageStem.length - 1] : 3;
  if (c.vit.num_channels !== channels) {
    const why = c.imageStem.length ? 'the last image_stem width' : 'RGB';
    throw new UserError(`config: the ViT must take ${channels} channels (${why}), not ${c.vit.num_channels}`);
  }
  if (c.imageStemSkip && !(c.imageStem.length && c.vit.patch_size === 1)) {
    throw new UserError('config: image_stem_skip needs an image_stem whose map the ViT embeds one position per token (ViT patch_size 1)');
  }
  if (c.scoreConv.length === 0) throw new UserError('config.score_conv: needs at least one conv layer');
  if (c.variant !== 'multi_head' && c.variant !== 'augmented_prompt') throw new UserError(`config: unknown variant "${c.variant}"`);
  if (c.variant === 'augmented_prompt' && !c.augmentedPromptFormat.includes('{caption}')) {
    throw new UserError('config.augmented_prompt_format: must contain {caption}');
  }
  return c;
}

/** Where the tokenizer of a youweiliang-style config lives (its t5 sub-directory), if it names one. */
export function configTokenizerDirs(json: any, dir: string): string[] {
  const dirs = [dir];
  if (typeof json?.t5 === 'string') dirs.push(path.resolve(dir, json.t5));
  return dirs;
}

/**
 * RahfConfig from a checkpoint's config.json object. Accepts
 * (a) youweiliang style — model_type "rahf_youweiliang", `vit` / `t5` as sub-config directories relative
 *     to `dir` (or embedded objects), `multi_heads`, `image_size`, `patch_size`, `heatmap_channels`,
 *     `score_linear`; the behaviour of youweiliang/RichHF's model.py (CLS kept, no text mask, pads in
 *     the loss);
 * (b) ours — model_type "rahf", self-contained (as written by {@link rahfConfigToJson}).
 */
export function rahfConfigFromJson(json: any, dir: string): RahfConfig {
  const type = json?.model_type;
  if (type !== 'rahf' && type !== 'rahf_youweiliang') {
    throw new UserError(`config: model_type "${type}" is not "rahf" or "rahf_youweiliang"`);
  }
  const vitSrc = subConfig(json.vit, 'vit', dir);
  const t5Src = subConfig(json.t5, 't5', dir);
  const vit = withFile(vitSrc.dir ? path.join(vitSrc.dir, 'config.json') : 'config.vit', () => vitConfigFromHF(vitSrc.json));
  const t5 = withFile(t5Src.dir ? path.join(t5Src.dir, 'config.json') : 'config.t5', () => t5ConfigFromHF(t5Src.json));
  let variant: RahfVariant;
  if (json.variant !== undefined) {
    variant = json.variant;
  } else {
    variant = bool(json.multi_heads, 'multi_heads', true) ? 'multi_head' : 'augmented_prompt';
  }
  const heatmap = intList(json.heatmap_channels, 'heatmap_channels', YOUWEILIANG_HEATMAP_CHANNELS, 3) as [number, number, number];
  const c: RahfConfig = {
    variant,
    imageSize: posInt(json.image_size, 'image_size', vit.image_size),
    patchSize: posInt(json.patch_size, 'patch_size', vit.patch_size),
    imageStem: json.image_stem === undefined || json.image_stem === null ? [] : intList(json.image_stem, 'image_stem', []),
    imageStemSkip: bool(json.image_stem_skip, 'image_stem_skip', false),
    captionPool: bool(json.caption_pool, 'caption_pool', false),
    wordGrounding: bool(json.word_grounding, 'word_grounding', false),
    vit,
    t5,
    vitJson: vitSrc.json,
    t5Json: t5Src.json,
    heatmapChannels: heatmap,
    heatmapStages: posInt(json.heatmap_stages, 'heatmap_stages', 4),
    scoreConv: intList(json.score_conv, 'score_conv', youweiliangScoreConv(t5.d_model)),
    scoreLinear: intList(json.score_linear, 'score_linear', YOUWEILIANG_SCORE_LINEAR),
    keepClsInEncoder: bool(json.keep_cls_in_encoder, 'keep_cls_in_encoder', true),
    maskTextPadding: bool(json.mask_text_padding, 'mask_text_padding', false),
    lossIgnoresPadding: bool(json.loss_ignores_padding, 'loss_ignores_padding', false),
    augmentedPromptFormat:
      typeof json.augmented_prompt_format === 'string' ? json.augmented_prompt_format : DEFAULT_AUGMENTED_PROMPT_FORMAT,
    imageMean: triple(json.image_mean, 'image_mean', [0.5, 0.5, 0.5]),
    imageStd: triple(json.image_std, 'image_std', [0.5, 0.5, 0.5]),
    maxTextTokens: posInt(json.max_text_tokens, 'max_text_tokens', 512),
    keywordMarkBias: finite(json.keyword_mark_bias, 'keyword_mark_bias', 0),
  };
  return validateRahfConfig(c);
}

/** Our self-contained config.json (model_type "rahf"). */
export function rahfConfigToJson(c: RahfConfig): Record<string, unknown> {
  return {
    model_type: 'rahf',
    variant: c.variant,
    multi_heads: c.variant === 'multi_head',
    image_size: c.imageSize,
    patch_size: c.patchSize,
    ...(c.imageStem.length ? { image_stem: c.imageStem } : {}),
    ...(c.imageStemSkip ? { image_stem_skip: true } : {}),
    ...(c.captionPool ? { caption_pool: true } : {}),
    ...(c.wordGrounding ? { word_grounding: true } : {}),
    heatmap_channels: c.heatmapChannels,
    heatmap_stages: c.heatmapStages,
    score_conv: c.scoreConv,
    score_linear: c.scoreLinear,
    keep_cls_in_encoder: c.keepClsInEncoder,
    mask_text_padding: c.maskTextPadding,
    loss_ignores_padding: c.lossIgnoresPadding,
    augmented_prompt_format: c.augmentedPromptFormat,
    image_mean: c.imageMean,
    image_std: c.imageStd,
    max_text_tokens: c.maxTextTokens,
    keyword_mark_bias: c.keywordMarkBias,
    score_types: [...SCORE_NAMES],
    heatmap_types: [...HEATMAP_NAMES],
    vit: c.vitJson,
    t5: c.t5Json,
  };
}
