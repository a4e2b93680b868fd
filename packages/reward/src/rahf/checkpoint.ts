import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { BUNDLED_TOKENIZER } from '../bundled';
import { ResolveOptions, resolveModel } from '../io/hub';
import { writeSafetensors } from '../io/safetensors';
import { HostTensor, TensorMap, sameShape } from '../io/tensors';
import { loadWeights, loadWeightsFile } from '../io/weights';
import { readJsonConfig, withFile } from '../models/hf-config';
import { t5ConfigFromHF } from '../models/t5';
import { vitConfigFromHF } from '../models/vit';
import { Params } from '../nn/params';
import { Tokenizer } from '../tokenizer';
import { writeFileAtomic } from '../util/atomic';
import { RahfConfig, RahfVariant, configTokenizerDirs, rahfConfigFromJson, rahfConfigToJson, validateRahfConfig } from './config';
import { TF_TO_TORCH_FILTER, TORCH_TO_TF_FILTER } from './conv';
import { T5_PREFIX, VIT_PREFIX, initRahfParams, internalShape, isHeadFilter, rahfParamShapes } from './init';
import { getPreset } from './presets';
import { inferYouweiliangConfig } from './youweiliang';
import { UserError } from '../errors';

/*
 * RAHF checkpoints: a folder (or hub id, or weights file) → the parts a RewardModel is made of, a preset
 * → parts with seeded random weights (towers optionally from HF checkpoints), parts → a folder. Names and
 * layouts are youweiliang/RichHF's, so its public checkpoint loads as is.
 */

/** What a RewardModel is made of. `params` are in the model's layout (head conv weights as tfjs filters). */
export interface ModelParts {
  config: RahfConfig;
  tokenizer: Tokenizer;
  params: Params;
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
    if (!want) throw new UserError(`${label}: unexpected parameter "${k}" for this config (variant ${c.variant})`);
    if (t.dtype !== 'float32') throw new UserError(`${label}: parameter "${k}" is ${t.dtype}, expected float32`);
    if (!sameShape(t.shape, want)) {
      throw new UserError(`${label}: parameter "${k}" has shape [${t.shape}], expected [${want}]`);
    }
  }
  const missing = [...expected.keys()].filter((k) => !out.has(k));
  if (missing.length > 0) {
    const more = missing.length > 1 ? ` (and ${missing.length - 1} more)` : '';
    throw new UserError(`${label}: missing parameter "${missing[0]}"${more}`);
  }
  return out;
}

/** Blocks numbered `<prefix><i>.` in the weights: the highest i + 1 (0 when none). */
function blockCount(host: TensorMap, prefix: string): number {
  let n = 0;
  for (const k of host.keys()) {
    if (!k.startsWith(prefix)) continue;
    const m = /^(\d+)\./.exec(k.slice(prefix.length));
    if (m) n = Math.max(n, Number(m[1]) + 1);
  }
  return n;
}

/** Layer counts of the config must be the weights' (cheap, and before anything is enumerated from them). */
function checkCountsAgainstWeights(c: RahfConfig, host: TensorMap): void {
  const counts: Array<[string, number, string]> = [
    ['vit.num_hidden_layers', c.vit.num_hidden_layers, `${VIT_PREFIX}encoder.layer.`],
    ['t5.num_layers', c.t5.num_layers, `${T5_PREFIX}encoder.block.`],
    ['t5.num_decoder_layers', c.t5.num_decoder_layers, `${T5_PREFIX}decoder.block.`],
  ];
  for (const [key, want, prefix] of counts) {
    const have = blockCount(host, prefix);
    if (have !== want) throw new UserError(`config: ${key} is ${want} but the weights hold ${have} (${prefix}N.*)`);
  }
}

/** tokenizer.json of the first directory that has one. */
function findTokenizer(dirs: string[], label: string): Tokenizer {
  for (const d of dirs) {
    const f = path.join(d, 'tokenizer.json');
    if (fs.existsSync(f)) return Tokenizer.fromFile(f);
  }
  throw new UserError(`${label}: no tokenizer.json (looked in ${dirs.join(', ')}); pass the tokenizer option`);
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
  if (missing.length) throw new UserError(`${dir}: missing parameter "${missing[0].slice(prefix.length)}" for the ${prefix.slice(0, -1)} tower`);
  return canonicalShapes(out, c, dir);
}

/** Every tensor in the shape the config expects of it. */
function canonicalShapes(m: TensorMap, c: RahfConfig, label: string): TensorMap {
  const expected = new Map(rahfParamShapes(c));
  for (const [k, t] of m) {
    const want = expected.get(k)!;
    if (!sameShape(t.shape, want)) {
      throw new UserError(`${label}: parameter "${k}" has shape [${t.shape}], expected [${want}]`);
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

/** Throws unless `params` hold exactly the config's parameters in the model's layout. */
export function checkParams(config: RahfConfig, params: Params): void {
  const expected = new Map(rahfParamShapes(validateRahfConfig(config)).map(([k, s]) => [k, internalShape(k, s)]));
  for (const [k, v] of params.tensors) {
    const want = expected.get(k);
    if (!want) throw new UserError(`unexpected parameter "${k}" for this config`);
    if (!sameShape(v.shape, want)) throw new UserError(`parameter "${k}" has shape [${v.shape}], expected [${want}]`);
  }
  const missing = [...expected.keys()].find((k) => !params.tensors.has(k));
  if (missing) throw new UserError(`missing parameter "${missing}"`);
}

/** A checkpoint's parts (RewardModel.load documents what is read). */
export async function loadParts(ref: string, opts: LoadOptions = {}): Promise<ModelParts> {
  // A weights file (e.g. the public state_dict .pt) is loaded from its directory.
  const isFile = fs.existsSync(ref) && fs.statSync(ref).isFile();
  const dir = isFile ? path.dirname(ref) : await resolveModel(ref, opts.hub);
  const file = isFile ? ref : opts.weights ? path.join(dir, opts.weights) : undefined;
  const host = file ? loadWeightsFile(file) : loadWeights(dir);
  const label = file ?? dir;
  const cfgFile = path.join(dir, 'config.json');
  // Without a config.json, the layout is read off a youweiliang checkpoint's tensor shapes.
  const hasConfig = fs.existsSync(cfgFile);
  const json = hasConfig ? readJsonConfig(cfgFile) : inferYouweiliangConfig(host, label);
  const config = withFile(hasConfig ? cfgFile : label, () => rahfConfigFromJson(json, dir));
  // The config's sizes against the weights, before a parameter list is built or a tensor allocated.
  withFile(hasConfig ? cfgFile : label, () => checkCountsAgainstWeights(config, host));
  let tensors: TensorMap;
  try {
    tensors = canonicalise(host, config, label);
  } catch (e) {
    // Without config.json the layout was guessed as youweiliang's: say so rather than blame one tensor.
    if (hasConfig || !(e instanceof UserError)) throw e;
    throw new UserError(`${dir}: no config.json, and the weights are not a youweiliang/RichHF checkpoint (${e.message.slice(label.length + 2)})`);
  }
  const tokenizer = opts.tokenizer
    ? await tokenizerFrom(opts.tokenizer, opts.hub)
    : findTokenizer(configTokenizerDirs(json, dir), dir);
  const vars = new Map<string, tf.Variable>();
  toVariables(tensors, opts.trainable ?? false, vars);
  return { config, tokenizer, params: new Params(vars) };
}

/** A preset's parts (RewardModel.fromPreset documents the options); checked as RewardModel.fromParts does. */
export async function presetParts(name: string, opts: PresetOptions = {}): Promise<ModelParts> {
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
  if (stages && vitDir) throw new UserError(`preset "${name}": an image stem changes the ViT's input, so it cannot start from a pretrained ViT`);
  const down = 2 ** stages;
  if (preset.patchSize % down !== 0) {
    throw new UserError(`preset "${name}": ${stages} stem stages need a patch size divisible by ${down}, not ${preset.patchSize}`);
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
  else throw new UserError(`preset "${name}": pass a tokenizer (tokenizer option) or a T5 checkpoint (t5 option)`);
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
    const params = new Params(vars);
    checkParams(config, params);
    return { config, tokenizer, params };
  } catch (e) {
    for (const v of vars.values()) v.dispose();
    throw e;
  }
}

/**
 * Write config.json (model_type "rahf", self-contained), model.safetensors (youweiliang's names and
 * PyTorch layouts; the tied T5 table once, as shared.weight) and the tokenizer files. Weights are written
 * first and config.json last, each atomically, so a directory with a config is always complete.
 */
export async function writeParts(dir: string, parts: ModelParts): Promise<void> {
  fs.mkdirSync(dir, { recursive: true });
  const map: TensorMap = new Map();
  for (const [k, v] of parts.params.tensors) {
    const t = isHeadFilter(k, v.rank) ? tf.transpose(v, TF_TO_TORCH_FILTER) : v;
    const data = (await t.data()) as Float32Array;
    map.set(k, { dtype: 'float32', shape: [...t.shape], data } as HostTensor);
    if (t !== v) t.dispose();
  }
  writeSafetensors(path.join(dir, 'model.safetensors'), map, { format: 'pt' });
  // From memory, not copied from tokenizer.file: that directory may be gone (a resumed run prunes the checkpoint it
  // started from), and a model saved without its tokenizer would load with another one.
  parts.tokenizer.saveTo(dir);
  writeFileAtomic(path.join(dir, 'config.json'), JSON.stringify(rahfConfigToJson(parts.config), null, 2) + '\n');
}
