/**
 * Baselines evaluated in the same run as the model (RichHF paper, Tables 1–4):
 *
 * - Constant predictor: predicts the train split's mean for everything. Scores: the mean of each score.
 *   Heatmaps: the pixel-wise mean of the train maps (/255) — the best constant map under MSE and a
 *   spatial prior (a "centre bias" map, the standard saliency baseline). A map of one mean value would
 *   be a weaker straw man: CC/NSS/SIM 0 and AUC-Judd 0.5 by definition, whatever the data. Keywords: no
 *   misaligned words (the majority answer for every word), so precision, recall and F1 are 0.
 *   Its score correlations are 0 by convention (constant prediction, see metrics `correlations`).
 * - CLIP cosine score for alignment: cos(image embedding, text embedding) of an HF CLIPModel, the
 *   paper's CLIP baseline. PLCC/SRCC are invariant to the affine scaling CLIP applies to logits, so the
 *   raw cosine is used.
 */
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { readRichHF } from '../data/richhf';
import type { RichHFRecord } from '../data/record';
import { preprocessCLIP, CLIP_MEAN, CLIP_STD } from '../image';
import { ResolveOptions, resolveModel } from '../io/hub';
import { resizeBilinear } from '../metrics';
import type { Heatmap } from '../metrics';
import { CLIPModel, loadCLIP } from '../models/clip';
import { HEATMAP_NAMES, HeatmapName, SCORE_NAMES, ScoreName } from '../rahf/config';
import { Tokenizer } from '../tokenizer';
import { EvalItem, MAP_FIELDS, Predictor, SCORE_FIELDS } from './evaluate';

/** Means of the scores and pixel-wise mean maps (in [0, 1]) of a set of records. */
export interface DataMeans {
  count: number;
  /** What the means were taken over (for the report). */
  source: string;
  scores: Record<ScoreName, number>;
  maps: Record<HeatmapName, Heatmap>;
}

/**
 * Means over `records`. Maps are averaged at the first record's resolution; maps of another size are
 * resized to it (bilinear) first.
 */
export async function meansOf(records: AsyncIterable<RichHFRecord>, source: string): Promise<DataMeans> {
  const sums = Object.fromEntries(SCORE_NAMES.map((s) => [s, 0])) as Record<ScoreName, number>;
  const maps = {} as Record<HeatmapName, { data: Float64Array; width: number; height: number }>;
  let count = 0;
  for await (const r of records) {
    for (const s of SCORE_NAMES) sums[s] += r[SCORE_FIELDS[s]];
    for (const h of HEATMAP_NAMES) {
      const m = r[MAP_FIELDS[h]];
      if (!maps[h]) maps[h] = { data: new Float64Array(m.width * m.height), width: m.width, height: m.height };
      const acc = maps[h];
      const src = m.width === acc.width && m.height === acc.height ? m.data : resizeBilinear(m.data, m.width, m.height, acc.width, acc.height);
      for (let i = 0; i < acc.data.length; i++) acc.data[i] += src[i];
    }
    count++;
  }
  if (count === 0) throw new Error(`${source}: no records to average`);
  const scores = {} as Record<ScoreName, number>;
  for (const s of SCORE_NAMES) scores[s] = sums[s] / count;
  for (const h of HEATMAP_NAMES) {
    const d = maps[h].data;
    for (let i = 0; i < d.length; i++) d[i] /= count * 255;
  }
  return { count, source, scores, maps };
}

/** Means of a RichHF TFRecord file (scores outside [0, 1] are kept, as in evaluation). */
export function trainMeans(file: string): Promise<DataMeans> {
  return meansOf(readRichHF(file, { scoreRange: 'warn' }), file);
}

/** The constant (data-mean) predictor. */
export function constantPredictor(means: DataMeans): Predictor {
  return {
    name: 'constant',
    async predict(items) {
      return items.map(() => ({ scores: { ...means.scores }, heatmaps: { ...means.maps }, misaligned: [] }));
    },
  };
}

/** A CLIP model with what it needs to score image–text pairs. */
export interface ClipBaseline {
  model: CLIPModel;
  tokenizer: Tokenizer;
  /** Shortest-edge resize target and centre crop (CLIPImageProcessor). */
  size: number;
  crop: [number, number];
  mean: number[];
  std: number[];
  /** Text length cap in tokens, specials included (max_position_embeddings). */
  maxLength: number;
  dir: string;
  dispose(): void;
}

export interface LoadClipOptions {
  /** tokenizer.json file or its directory (default: the CLIP directory's tokenizer.json). */
  tokenizer?: string;
  hub?: ResolveOptions;
}

type Json = Record<string, unknown>;

/** CLIPImageProcessor settings: `size` {shortest_edge} or a number, `crop_size` {height, width} or a number. */
function processorSettings(dir: string, imageSize: number): { size: number; crop: [number, number]; mean: number[]; std: number[] } {
  const file = path.join(dir, 'preprocessor_config.json');
  const fallback = { size: imageSize, crop: [imageSize, imageSize] as [number, number], mean: CLIP_MEAN, std: CLIP_STD };
  if (!fs.existsSync(file)) return fallback;
  let j: Json;
  try {
    j = JSON.parse(fs.readFileSync(file, 'utf8')) as Json;
  } catch (e) {
    throw new Error(`${file}: not JSON (${(e as Error).message.split('\n')[0]})`);
  }
  const sz = j.size as number | { shortest_edge?: number } | undefined;
  const size = typeof sz === 'number' ? sz : (sz?.shortest_edge ?? imageSize);
  const cs = j.crop_size as number | { height?: number; width?: number } | undefined;
  const crop: [number, number] = typeof cs === 'number' ? [cs, cs] : [cs?.height ?? size, cs?.width ?? size];
  const arr = (v: unknown, d: number[]) => (Array.isArray(v) && v.length === 3 && v.every((x) => typeof x === 'number') ? (v as number[]) : d);
  return { size, crop, mean: arr(j.image_mean, CLIP_MEAN), std: arr(j.image_std, CLIP_STD) };
}

/** Loads an HF CLIPModel directory or hub id with its tokenizer.json (and preprocessor_config.json if any). */
export async function loadClipBaseline(ref: string, opts: LoadClipOptions = {}): Promise<ClipBaseline> {
  const dir = await resolveModel(ref, { ...opts.hub, files: opts.hub?.files ?? ['config.json', 'model.safetensors', 'tokenizer.json'] });
  let tokenizer: Tokenizer;
  if (opts.tokenizer) {
    tokenizer = fs.statSync(opts.tokenizer).isDirectory() ? Tokenizer.fromDir(opts.tokenizer) : Tokenizer.fromFile(opts.tokenizer);
  } else {
    if (!fs.existsSync(path.join(dir, 'tokenizer.json'))) throw new Error(`${dir}: no tokenizer.json for the CLIP baseline`);
    tokenizer = Tokenizer.fromDir(dir);
  }
  const model = await loadCLIP(dir);
  const p = processorSettings(dir, model.config.vision_config.image_size);
  return {
    model,
    tokenizer,
    ...p,
    maxLength: model.config.text_config.max_position_embeddings,
    dir,
    dispose: () => model.params.dispose(),
  };
}

/**
 * cos(image_i, text_i) for normalised NHWC pixels [B, h, w, 3] and token ids / mask [B, L]: the
 * diagonal of HF's logits_per_image without the exp(logit_scale) factor.
 */
export async function pairCosine(model: CLIPModel, pixels: tf.Tensor4D, ids: tf.Tensor2D, mask?: tf.Tensor2D): Promise<Float32Array> {
  if (pixels.shape[0] !== ids.shape[0]) throw new Error(`pairCosine: ${pixels.shape[0]} images but ${ids.shape[0]} texts`);
  const cos = tf.tidy(() => tf.sum(tf.mul(model.imageEmbeds(pixels), model.textEmbeds(ids, mask)), 1));
  try {
    return (await cos.data()) as Float32Array;
  } finally {
    cos.dispose();
  }
}

/** CLIP cosine similarity of each image with its caption (CLIPImageProcessor preprocessing, truncated text). */
export async function clipCosine(clip: ClipBaseline, items: Pick<EvalItem, 'image' | 'caption'>[]): Promise<Float32Array> {
  const [ch, cw] = clip.crop;
  const data = new Float32Array(items.length * ch * cw * 3);
  for (let i = 0; i < items.length; i++) {
    const x = await preprocessCLIP(items[i].image, clip.size, { cropSize: [ch, cw], mean: clip.mean, std: clip.std });
    data.set(x, i * ch * cw * 3);
  }
  const enc = clip.tokenizer.encodeBatch(
    items.map((i) => i.caption),
    { maxLength: clip.maxLength },
  );
  const pixels = tf.tensor4d(data, [items.length, ch, cw, 3]);
  const ids = tf.tensor2d(enc.ids, undefined, 'int32');
  const mask = tf.tensor2d(enc.mask, undefined, 'int32');
  try {
    return await pairCosine(clip.model, pixels, ids, mask);
  } finally {
    tf.dispose([pixels, ids, mask]);
  }
}

/** The CLIP baseline as a predictor: the alignment score only. */
export function clipPredictor(clip: ClipBaseline): Predictor {
  return {
    name: 'clip',
    async predict(items) {
      const cos = await clipCosine(clip, items);
      return items.map((_, i) => ({ scores: { alignment: cos[i] } }));
    },
  };
}
