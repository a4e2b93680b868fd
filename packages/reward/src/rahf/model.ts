import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { Heatmap } from '../heatmap-image';
import { RgbImage, resizeForViT } from '../image';
import { ResolveOptions, resolveModel } from '../io/hub';
import { writeSafetensors } from '../io/safetensors';
import { HostTensor, TensorMap } from '../io/tensors';
import { loadWeights, loadWeightsFile } from '../io/weights';
import { readJsonConfig, withFile } from '../models/hf-config';
import { T5Model, t5ConfigFromHF } from '../models/t5';
import { ViTModel, vitConfigFromHF } from '../models/vit';
import { linear } from '../nn/layers';
import { Params } from '../nn/params';
import { Tokenizer } from '../tokenizer';
import { writeFileAtomic } from '../util/atomic';
import { BUNDLED_TOKENIZER } from '../bundled';
import {
  HEATMAP_NAMES,
  HeatmapName,
  RahfConfig,
  RahfVariant,
  SCORE_NAMES,
  ScoreName,
  configTokenizerDirs,
  gridSize,
  rahfConfigFromJson,
  rahfConfigToJson,
  taskPrompt,
  validateRahfConfig,
  visualTokenCount,
} from './config';
import { heatmapHead, scoreHead } from './heads';
import { TF_TO_TORCH_FILTER, TORCH_TO_TF_FILTER } from './conv';
import { STEM_SKIP, imageStem } from './stem';
import { captionPool } from './caption-pool';
import { groundCaption } from './word-grounding';
import { PROJECTION, T5_PREFIX, VIT_PREFIX, initRahfParams, internalShape, isHeadFilter, rahfParamShapes } from './init';
import { markLogitBias, misalignedWords } from './keywords';
import { inferYouweiliangConfig } from './youweiliang';
import { getPreset } from './presets';
import { resizeBilinearPil } from './resize';

/** Rich feedback for one image–prompt pair. */
export interface RichFeedback {
  scores: Record<ScoreName, number>;
  heatmaps?: Record<HeatmapName, Heatmap>;
  /** The decoder's output: the prompt words with `_0` on misaligned ones. */
  keywordSequence?: string;
  /** Words of `keywordSequence` marked `_0`. */
  misaligned?: string[];
}

export interface ForwardOutput {
  scores: Record<ScoreName, tf.Tensor1D>;
  heatmaps?: Record<HeatmapName, tf.Tensor3D>;
}

/** What the heads and the keyword decoder read from one joint encoding (RewardModel.encodeParts). */
interface JointParts {
  image: tf.Tensor3D;
  caption: tf.Tensor3D;
  textMask: tf.Tensor2D;
}

/** Internal forward result: outputs plus, on request, the caption's encoder states for the decoder. */
type RunOutput = ForwardOutput & { caption?: { hidden: tf.Tensor3D; mask: tf.Tensor2D } };

/** tf.tidy for functions returning tensor records (tidy's own typing wants a TensorContainer). */
function tidyRecord<T>(fn: () => T): T {
  return tf.tidy(() => fn() as unknown as tf.TensorContainer) as unknown as T;
}

export interface LoadOptions {
  /** Weights file inside the directory (default: model.safetensors, else a torch .pt/.bin). */
  weights?: string;
  /** tokenizer.json file or directory (default: the checkpoint's, else its t5 sub-directory's). */
  tokenizer?: string;
  trainable?: boolean;
  hub?: ResolveOptions;
}

export interface PresetOptions {
  /** Seed of the random initialisation (default 0). */
  seed?: number;
  /** HF ViT checkpoint (directory or hub id) to start the image tower from. */
  vit?: string;
  /** HF T5 checkpoint (directory or hub id) to start the text tower from; also supplies the tokenizer. */
  t5?: string;
  /** tokenizer.json file or directory or hub id (needed when `t5` is not given). */
  tokenizer?: string;
  variant?: RahfVariant;
  /**
   * Widths of the conv stem in front of the ViT (rahf/stem.ts), replacing the preset's (`[]`: none; the
   * default with `vit`); the preset's ViT is resized to patchify the stem's output.
   */
  imageStem?: number[];
  /** Add the projected stem map to the heads' feature map (default: the preset's; rahf/stem.ts STEM_SKIP). */
  imageStemSkip?: boolean;
  /** Add the pooled caption, projected, to the heads' feature map (default: the preset's; rahf/caption-pool.ts). */
  captionPool?: boolean;
  /** Ground the caption states in the image positions (default: the preset's; rahf/word-grounding.ts). */
  wordGrounding?: boolean;
  trainable?: boolean;
  hub?: ResolveOptions;
}

export interface PredictOptions {
  /** Predict heatmaps (default true; the heatmap heads dominate the cost of large models). */
  heatmaps?: boolean;
  /** Generate the misaligned-keyword sequence (default true). */
  keywords?: boolean;
  /** Images per forward pass (default 8). */
  batchSize?: number;
  /** Cap on generated tokens (default 100, as youweiliang/RichHF). */
  maxNewTokens?: number;
}

/** Names of tied copies of the T5 table that checkpoints may hold beside `shared.weight`. */
const T5_EMBED_COPIES = [`${T5_PREFIX}encoder.embed_tokens.weight`, `${T5_PREFIX}decoder.embed_tokens.weight`];

/**
 * Bring checkpoint tensors to exactly the model's parameter set: tied copies of the T5 embedding and
 * the unused ViT pooler are dropped (a file with only a copy of the table gets it as shared.weight),
 * then every name must be expected with the expected shape, and every expected name present.
 */
function canonicalise(host: TensorMap, c: RahfConfig, label: string): TensorMap {
  const expected = new Map(rahfParamShapes(c));
  const out: TensorMap = new Map();
  const shared = `${T5_PREFIX}shared.weight`;
  for (const [k, t] of host) {
    if (T5_EMBED_COPIES.includes(k) || k.startsWith(`${VIT_PREFIX}pooler.`)) continue;
    if (k === `${T5_PREFIX}lm_head.weight` && c.t5.tie_word_embeddings) continue;
    out.set(k, t);
  }
  if (!out.has(shared)) {
    const copy = T5_EMBED_COPIES.find((k) => host.has(k));
    if (copy) out.set(shared, host.get(copy)!);
  }
  for (const [k, t] of out) {
    const want = expected.get(k);
    if (!want) throw new Error(`${label}: unexpected parameter "${k}" for this config (variant ${c.variant})`);
    if (t.dtype !== 'float32') throw new Error(`${label}: parameter "${k}" is ${t.dtype}, expected float32`);
    if (want.length !== t.shape.length || want.some((s, i) => s !== t.shape[i])) {
      throw new Error(`${label}: parameter "${k}" has shape [${t.shape}], expected [${want}]`);
    }
  }
  const missing = [...expected.keys()].filter((k) => !out.has(k));
  if (missing.length > 0) {
    const more = missing.length > 1 ? ` (and ${missing.length - 1} more)` : '';
    throw new Error(`${label}: missing parameter "${missing[0]}"${more}`);
  }
  return out;
}

/** tokenizer.json of the first directory that has one. */
function findTokenizer(dirs: string[], label: string): Tokenizer {
  for (const d of dirs) {
    const f = path.join(d, 'tokenizer.json');
    if (fs.existsSync(f)) return Tokenizer.fromFile(f);
  }
  throw new Error(`${label}: no tokenizer.json (looked in ${dirs.join(', ')}); pass the tokenizer option`);
}

async function tokenizerFrom(ref: string, hub?: ResolveOptions): Promise<Tokenizer> {
  if (fs.existsSync(ref) && fs.statSync(ref).isFile()) return Tokenizer.fromFile(ref);
  return Tokenizer.fromDir(await resolveModel(ref, { ...hub, files: hub?.files ?? ['tokenizer.json'] }));
}

/** HF tower checkpoint → tensors named for our model (`prefix` + the tower's own names). */
function towerWeights(dir: string, prefix: string, accept: Set<string>, c: RahfConfig): TensorMap {
  const host = loadWeights(dir);
  const out: TensorMap = new Map();
  // ViTForImageClassification and similar wrap the tower as `vit.`; T5 files may keep tied copies.
  const strip = prefix === VIT_PREFIX && [...host.keys()].some((k) => k.startsWith('vit.')) ? 'vit.' : '';
  for (const [k0, t] of host) {
    if (strip && !k0.startsWith(strip)) continue;
    let k = prefix + k0.slice(strip.length);
    if (prefix === T5_PREFIX && !host.has('shared.weight') && k0 === 'encoder.embed_tokens.weight') k = `${T5_PREFIX}shared.weight`;
    if (accept.has(k)) out.set(k, t);
  }
  const missing = [...accept].filter((k) => !out.has(k));
  if (missing.length) throw new Error(`${dir}: missing parameter "${missing[0].slice(prefix.length)}" for the ${prefix.slice(0, -1)} tower`);
  return canonicalShapes(out, c, dir);
}

function canonicalShapes(m: TensorMap, c: RahfConfig, label: string): TensorMap {
  const expected = new Map(rahfParamShapes(c));
  for (const [k, t] of m) {
    const want = expected.get(k)!;
    if (want.length !== t.shape.length || want.some((s, i) => s !== t.shape[i])) {
      throw new Error(`${label}: parameter "${k}" has shape [${t.shape}], expected [${want}]`);
    }
  }
  return m;
}

/** Checkpoint tensors → variables in the model's layout (head conv weights become tfjs filters). */
function toVariables(m: TensorMap, trainable: boolean, into: Map<string, tf.Variable>): void {
  for (const [k, t] of m) {
    const x = tf.tidy(() => {
      const raw = tf.tensor(t.data as Float32Array, t.shape, 'float32');
      return isHeadFilter(k, t.shape.length) ? tf.transpose(raw, TORCH_TO_TF_FILTER) : raw;
    });
    into.set(k, tf.variable(x, trainable, undefined, 'float32'));
    x.dispose();
  }
}

/**
 * RAHF — Rich Automatic Human Feedback (Liang et al., CVPR 2024): ViT image tokens and T5 caption
 * embeddings fused by the T5 encoder; the image positions form a feature map read by score and
 * heatmap heads; the T5 decoder writes the caption with misaligned words marked. Layout and
 * parameter names follow youweiliang/RichHF (its public checkpoint loads as is); the config chooses
 * between its quirks and the cleaner behaviour of our presets.
 */
export class RewardModel {
  readonly vit: ViTModel;
  readonly t5: T5Model;

  private constructor(
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

  /**
   * A model from its parts; `params` must hold exactly the config's parameters (checked), in the
   * model's layout: checkpoint names and shapes, except head conv weights as tfjs filters
   * ([kh, kw, in, out]; [kh, kw, out, in] for the transposed convs).
   */
  static fromParts(config: RahfConfig, tokenizer: Tokenizer, params: Params): RewardModel {
    const expected = new Map(rahfParamShapes(validateRahfConfig(config)).map(([k, s]) => [k, internalShape(k, s)]));
    for (const [k, v] of params.tensors) {
      const want = expected.get(k);
      if (!want) throw new Error(`unexpected parameter "${k}" for this config`);
      if (want.length !== v.shape.length || want.some((s, i) => s !== v.shape[i])) {
        throw new Error(`parameter "${k}" has shape [${v.shape}], expected [${want}]`);
      }
    }
    const missing = [...expected.keys()].find((k) => !params.tensors.has(k));
    if (missing) throw new Error(`missing parameter "${missing}"`);
    return new RewardModel(config, tokenizer, params);
  }

  /**
   * Load a checkpoint directory, hub id or weights file: config.json (ours, model_type "rahf", or
   * youweiliang style "rahf_youweiliang") and model.safetensors / a sharded index / a torch
   * state_dict (.pt). Without a config.json (youweiliang's public .pt) the layout is inferred from the
   * tensor shapes and the tokenizer must be given (t5-base's) unless a tokenizer.json sits beside it.
   */
  static async load(ref: string, opts: LoadOptions = {}): Promise<RewardModel> {
    // A weights file (e.g. the public state_dict .pt) is loaded from its directory.
    const isFile = fs.existsSync(ref) && fs.statSync(ref).isFile();
    const dir = isFile ? path.dirname(ref) : await resolveModel(ref, opts.hub);
    const file = isFile ? ref : opts.weights ? path.join(dir, opts.weights) : undefined;
    const host = file ? loadWeightsFile(file) : loadWeights(dir);
    const label = file ?? dir;
    const cfgFile = path.join(dir, 'config.json');
    // Without a config.json, the layout is read off a youweiliang checkpoint's tensor shapes.
    const json = fs.existsSync(cfgFile) ? readJsonConfig(cfgFile) : inferYouweiliangConfig(host, label);
    const config = withFile(fs.existsSync(cfgFile) ? cfgFile : label, () => rahfConfigFromJson(json, dir));
    const tensors = canonicalise(host, config, label);
    const tokenizer = opts.tokenizer
      ? await tokenizerFrom(opts.tokenizer, opts.hub)
      : findTokenizer(configTokenizerDirs(json, dir), dir);
    const vars = new Map<string, tf.Variable>();
    toVariables(tensors, opts.trainable ?? false, vars);
    const params = new Params(vars);
    try {
      return new RewardModel(config, tokenizer, params);
    } catch (e) {
      params.dispose();
      throw e;
    }
  }

  /**
   * A model of a named layout (see presets.ts) with random weights (seeded), optionally starting the
   * towers from HF ViT / T5 checkpoints (their config.json then replaces the preset's tower config).
   * Without a T5 checkpoint the vocabulary is the tokenizer's, rounded up to a multiple of 128.
   */
  static async fromPreset(name: string, opts: PresetOptions = {}): Promise<RewardModel> {
    const preset = getPreset(name);
    if (opts.variant) preset.variant = opts.variant;
    const vitDir = opts.vit ? await resolveModel(opts.vit, opts.hub) : undefined;
    const t5Dir = opts.t5 ? await resolveModel(opts.t5, opts.hub) : undefined;
    if (vitDir) {
      preset.vitJson = readJsonConfig(vitDir);
      // The checkpoint's patch embedding fixes the patch size; the image size stays the preset's.
      if (typeof preset.vitJson.patch_size === 'number') preset.patchSize = preset.vitJson.patch_size;
    }
    if (t5Dir) preset.t5Json = readJsonConfig(t5Dir);
    // A pretrained ViT embeds pixels itself: the preset's stem is dropped unless asked for.
    if (opts.imageStem !== undefined) preset.imageStem = [...opts.imageStem];
    else if (vitDir) preset.imageStem = [];
    if (opts.imageStemSkip !== undefined) preset.imageStemSkip = opts.imageStemSkip;
    // The preset's skip needs one stem position per token; another stem (or none) goes without it.
    else if (!preset.imageStem.length || preset.patchSize !== 2 ** preset.imageStem.length) preset.imageStemSkip = false;
    if (opts.captionPool !== undefined) preset.captionPool = opts.captionPool;
    if (opts.wordGrounding !== undefined) preset.wordGrounding = opts.wordGrounding;
    const stages = preset.imageStem.length;
    if (stages && vitDir) throw new Error(`preset "${name}": an image stem changes the ViT's input, so it cannot start from a pretrained ViT`);
    const down = 2 ** stages;
    if (preset.patchSize % down !== 0) {
      throw new Error(`preset "${name}": ${stages} stem stages need a patch size divisible by ${down}, not ${preset.patchSize}`);
    }
    // The ViT patchifies what the stem leaves (the image itself without one).
    if (!vitDir) {
      Object.assign(preset.vitJson, {
        image_size: preset.imageSize / down,
        patch_size: preset.patchSize / down,
        num_channels: stages ? preset.imageStem[stages - 1] : 3,
      });
    }
    let tokenizer: Tokenizer;
    if (opts.tokenizer) tokenizer = await tokenizerFrom(opts.tokenizer, opts.hub);
    else if (t5Dir) tokenizer = Tokenizer.fromDir(t5Dir);
    else if (fs.existsSync(BUNDLED_TOKENIZER)) tokenizer = Tokenizer.fromFile(BUNDLED_TOKENIZER);
    else throw new Error(`preset "${name}": pass a tokenizer (tokenizer option) or a T5 checkpoint (t5 option)`);
    if (!t5Dir) preset.t5Json.vocab_size = Math.ceil(tokenizer.vocabSize / 128) * 128;
    const config = validateRahfConfig({
      ...preset,
      vit: withFile(vitDir ? path.join(vitDir, 'config.json') : `preset ${name} vit`, () => vitConfigFromHF(preset.vitJson)),
      t5: withFile(t5Dir ? path.join(t5Dir, 'config.json') : `preset ${name} t5`, () => t5ConfigFromHF(preset.t5Json)),
    });
    const names = rahfParamShapes(config).map(([n]) => n);
    const fromVit = new Set(vitDir ? names.filter((n) => n.startsWith(VIT_PREFIX)) : []);
    const fromT5 = new Set(t5Dir ? names.filter((n) => n.startsWith(T5_PREFIX)) : []);
    const trainable = opts.trainable ?? false;
    const vars = initRahfParams(config, opts.seed ?? 0, { skip: (n) => fromVit.has(n) || fromT5.has(n), trainable });
    try {
      if (vitDir) toVariables(towerWeights(vitDir, VIT_PREFIX, fromVit, config), trainable, vars);
      if (t5Dir) toVariables(towerWeights(t5Dir, T5_PREFIX, fromT5, config), trainable, vars);
      return RewardModel.fromParts(config, tokenizer, new Params(vars));
    } catch (e) {
      for (const v of vars.values()) v.dispose();
      throw e;
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Building blocks (all differentiable).

  /**
   * ViT tokens (with or without CLS, per config) projected to the T5 width: [B, Nv, D], and the conv stem's
   * map when there is one (the heads' skip input; the keyword paths ignore it).
   */
  private visual(pixelsNorm: tf.Tensor4D): { tokens: tf.Tensor3D; stem?: tf.Tensor4D } {
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
  private tokenize(texts: string[]): { ids: tf.Tensor2D; mask: tf.Tensor2D } {
    const enc = this.tokenizer.encodeBatch(texts, { maxLength: this.config.maxTextTokens });
    return { ids: tf.tensor2d(enc.ids, undefined, 'int32'), mask: tf.tensor2d(enc.mask, undefined, 'int32') };
  }

  /**
   * T5 encoder over [image tokens; caption embeddings]. Without maskTextPadding no mask is used at all,
   * as youweiliang does (pad tokens of shorter captions are attended to).
   */
  private encodeJoint(visual: tf.Tensor3D, texts: string[]): { hidden: tf.Tensor3D; textMask: tf.Tensor2D } {
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
  private stemSkip(stem?: tf.Tensor4D): tf.Tensor4D | undefined {
    return stem && this.config.imageStemSkip ? (linear(stem, this.params, STEM_SKIP) as tf.Tensor4D) : undefined;
  }

  /**
   * The parts of a joint encoding the heads and the decoder read: the encoder positions of the patches (CLS
   * skipped) plus the stem skip, [B, N, D]; the caption states — the caption part of the encoder output,
   * grounded in those image positions when the config has word_grounding (rahf/word-grounding.ts); the
   * caption's token mask.
   */
  private encodeParts(visual: tf.Tensor3D, skip: tf.Tensor4D | undefined, texts: string[]): JointParts {
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
  private featureMap(parts: JointParts): tf.Tensor4D {
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
  private captionHidden(hidden: tf.Tensor3D): tf.Tensor3D {
    const nv = visualTokenCount(this.config);
    const [b, l, d] = hidden.shape;
    return tf.slice(hidden, [0, nv, 0], [b, l - nv, d]) as tf.Tensor3D;
  }

  private headParams(kind: 'score' | 'heatmap', type: string): Params {
    const base = kind === 'score' ? 'score_predictor.' : 'heatmap_predictor.';
    return this.params.scope(this.config.variant === 'multi_head' ? `${base}${type}.` : base);
  }

  private score(feature: tf.Tensor4D, type: ScoreName): tf.Tensor1D {
    return scoreHead(feature, this.headParams('score', type), this.config.scoreConv, this.config.scoreLinear);
  }

  private heatmap(feature: tf.Tensor4D, type: HeatmapName): tf.Tensor3D {
    return heatmapHead(feature, this.headParams('heatmap', type), this.config.heatmapStages);
  }

  /**
   * Scores (and heatmaps) of normalised pixels [B, S, S, 3] and prompts. Multi-head: one encoder pass
   * feeds every head. Augmented prompt: one encoder pass per output with the task string in the text.
   * `caption` also returns the plain-caption encoder output for the keyword decoder.
   */
  private run(
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
      for (const t of SCORE_NAMES) scores[t] = this.score(feature, t);
      if (opts.heatmaps) for (const t of HEATMAP_NAMES) heatmaps[t] = this.heatmap(feature, t);
      if (opts.caption) caption = { hidden: parts.caption, mask: parts.textMask };
    } else {
      const fmt = this.config.augmentedPromptFormat;
      const task = (kind: 'SCORE' | 'HEATMAP', t: string) =>
        this.featureMap(this.encodeParts(visual, skip, prompts.map((p) => taskPrompt(fmt, kind, t, p))));
      for (const t of SCORE_NAMES) scores[t] = this.score(task('SCORE', t), t);
      if (opts.heatmaps) for (const t of HEATMAP_NAMES) heatmaps[t] = this.heatmap(task('HEATMAP', t), t);
      if (opts.caption) {
        const parts = this.encodeParts(visual, skip, prompts);
        caption = { hidden: parts.caption, mask: parts.textMask };
      }
    }
    return { scores, heatmaps: opts.heatmaps ? heatmaps : undefined, caption };
  }

  // ---------------------------------------------------------------------------------------------
  // Public API.

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
    return tf.tidy(() => {
      const x = resizeBilinearPil(pixels01, s, s);
      return tf.div(tf.sub(x, tf.tensor1d(imageMean)), tf.tensor1d(imageStd)) as tf.Tensor4D;
    });
  }

  private async preprocessImages(images: RgbImage[]): Promise<tf.Tensor4D> {
    const s = this.config.imageSize;
    const data = new Float32Array(images.length * s * s * 3);
    for (let i = 0; i < images.length; i++) {
      data.set(await resizeForViT(images[i], s, { mean: this.config.imageMean, std: this.config.imageStd }), i * s * s * 3);
    }
    return tf.tensor4d(data, [images.length, s, s, 3]);
  }

  /**
   * Rich feedback for images (decoded RgbImages, or a [B, H, W, 3] tensor in [0,1]) and their prompts,
   * in batches. Heatmaps come at the head's resolution (16 × the patch grid, = the model input size
   * for 16-pixel patches).
   */
  async predict(images: tf.Tensor4D | RgbImage[], prompts: string[], opts: PredictOptions = {}): Promise<RichFeedback[]> {
    const n = Array.isArray(images) ? images.length : images.shape[0];
    if (prompts.length !== n) throw new Error(`predict: ${n} images but ${prompts.length} prompts`);
    const batch = opts.batchSize ?? 8;
    if (!(Number.isInteger(batch) && batch > 0)) throw new Error(`predict: batchSize must be a positive integer, got ${batch}`);
    const wantHeat = opts.heatmaps ?? true;
    const wantKw = opts.keywords ?? true;
    const results: RichFeedback[] = [];
    for (let start = 0; start < n; start += batch) {
      const end = Math.min(n, start + batch);
      const texts = prompts.slice(start, end);
      const pixels = Array.isArray(images)
        ? await this.preprocessImages(images.slice(start, end))
        : tf.tidy(() => this.preprocess(tf.slice(images, [start, 0, 0, 0], [end - start, -1, -1, -1]) as tf.Tensor4D));
      const out = tidyRecord(() => this.run(pixels, texts, { heatmaps: wantHeat, caption: wantKw }));
      pixels.dispose();
      try {
        const scores = await Promise.all(SCORE_NAMES.map((t) => out.scores[t].data()));
        const heat = wantHeat ? await Promise.all(HEATMAP_NAMES.map((t) => out.heatmaps![t].data())) : [];
        const [hh, hw] = wantHeat ? out.heatmaps![HEATMAP_NAMES[0]].shape.slice(1) : [0, 0];
        let seqs: string[] = [];
        if (wantKw) seqs = await this.decodeKeywords(out.caption!.hidden, out.caption!.mask, opts.maxNewTokens ?? 100);
        for (let i = 0; i < end - start; i++) {
          const fb: RichFeedback = {
            scores: Object.fromEntries(SCORE_NAMES.map((t, k) => [t, scores[k][i]])) as Record<ScoreName, number>,
          };
          if (wantHeat) {
            fb.heatmaps = Object.fromEntries(
              HEATMAP_NAMES.map((t, k) => [t, { data: (heat[k] as Float32Array).slice(i * hh * hw, (i + 1) * hh * hw), width: hw, height: hh }]),
            ) as Record<HeatmapName, Heatmap>;
          }
          if (wantKw) {
            fb.keywordSequence = seqs[i];
            fb.misaligned = misalignedWords(seqs[i]);
          }
          results.push(fb);
        }
      } finally {
        tf.dispose(out as unknown as tf.TensorContainer);
      }
    }
    return results;
  }

  /** The joint encoding for the keyword paths; the stem skip is projected only when word grounding reads it. */
  private keywordParts(pixelsNorm: tf.Tensor4D, prompts: string[]): JointParts {
    const { tokens, stem } = this.visual(pixelsNorm);
    return this.encodeParts(tokens, this.config.wordGrounding ? this.stemSkip(stem) : undefined, prompts);
  }

  /** The caption's encoder output and token mask, what the keyword decoder reads. */
  private captionStates(pixelsNorm: tf.Tensor4D, prompts: string[]): { hidden: tf.Tensor3D; mask: tf.Tensor2D } {
    return tf.tidy(() => {
      const { caption, textMask } = this.keywordParts(pixelsNorm, prompts);
      return { hidden: caption, mask: textMask };
    });
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
   * Scores and d(Σ_i Σ_k w_k·score_k,i)/d pixels for pixels in [0,1] (NHWC, any size): resize and
   * normalisation are inside the differentiated function, heatmap heads are skipped. Every score type
   * is returned; only weighted ones contribute to the gradient.
   */
  async scoreGrad(
    pixels01: tf.Tensor4D,
    prompts: string[],
    weights: Partial<Record<ScoreName, number>>,
  ): Promise<{ scores: Record<ScoreName, Float32Array>; grad: tf.Tensor4D }> {
    const ws = Object.entries(weights).filter(([, w]) => w !== undefined) as [ScoreName, number][];
    for (const [k, w] of ws) {
      if (!(SCORE_NAMES as readonly string[]).includes(k)) throw new Error(`scoreGrad: unknown score "${k}" (expected ${SCORE_NAMES.join(', ')})`);
      if (!Number.isFinite(w)) throw new Error(`scoreGrad: weight of "${k}" is not a finite number`);
    }
    if (ws.length === 0) throw new Error('scoreGrad: weights must name at least one score');
    const kept = {} as Record<ScoreName, tf.Tensor1D>;
    const f = (x: tf.Tensor) => {
      const { scores } = this.run(this.preprocess(x as tf.Tensor4D), prompts, { heatmaps: false, caption: false });
      for (const t of SCORE_NAMES) kept[t] = tf.keep(scores[t]);
      let total: tf.Tensor = tf.scalar(0);
      for (const [k, w] of ws) total = tf.add(total, tf.mul(tf.sum(scores[k]), w));
      return total as tf.Scalar;
    };
    const { value, grad } = tf.valueAndGrad(f)(pixels01);
    value.dispose();
    try {
      const scores = {} as Record<ScoreName, Float32Array>;
      for (const t of SCORE_NAMES) scores[t] = (await kept[t].data()) as Float32Array;
      return { scores, grad: grad as tf.Tensor4D };
    } finally {
      tf.dispose(Object.values(kept));
    }
  }

  /**
   * Write config.json (model_type "rahf", self-contained), model.safetensors (youweiliang's names and
   * PyTorch layouts; the tied T5 table once, as shared.weight) and the tokenizer files. Weights are written first and
   * config.json last, each atomically, so a directory with a config is always complete.
   */
  async save(dir: string): Promise<void> {
    fs.mkdirSync(dir, { recursive: true });
    const map: TensorMap = new Map();
    for (const [k, v] of this.params.tensors) {
      const t = isHeadFilter(k, v.rank) ? tf.transpose(v, TF_TO_TORCH_FILTER) : v;
      const data = (await t.data()) as Float32Array;
      map.set(k, { dtype: 'float32', shape: [...t.shape], data } as HostTensor);
      if (t !== v) t.dispose();
    }
    writeSafetensors(path.join(dir, 'model.safetensors'), map, { format: 'pt' });
    // From memory, not copied from tokenizer.file: that directory may be gone (a resumed run prunes the checkpoint it
    // started from), and a model saved without its tokenizer would load with another one.
    this.tokenizer.saveTo(dir);
    writeFileAtomic(path.join(dir, 'config.json'), JSON.stringify(rahfConfigToJson(this.config), null, 2) + '\n');
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
