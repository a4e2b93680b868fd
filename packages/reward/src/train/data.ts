/**
 * Training data: a RichHF-format split (a synthetic world from `rahf synth`, or RichHF-18K records with
 * images from a folder / Pick-a-Pic parquet — the same joining as `rahf eval`) held in memory as 8-bit
 * buffers, and batches drawn from it. The order of examples is a fixed permutation per epoch and every
 * augmentation draw is keyed by (seed, step, slot), so batch k of a run is a pure function of the seed:
 * a resumed run sees exactly the batches an uninterrupted one would.
 */
import * as tf from '@tensorflow/tfjs';
import { decodeSampleImage, openEvalDataset, DatasetOptions, EvalSample } from '../eval/dataset';
import { inOrderAhead } from '../util/ahead';
import { normalizeRgb } from '../image';
import { parseLabels } from '../data/richhf';
import { promptWords } from '../rahf/keywords';
import { HEATMAP_NAMES, HeatmapName, RahfConfig, SCORE_NAMES, ScoreName, heatmapSize } from '../rahf/config';
import { SCORE_FIELDS } from '../eval/evaluate';
import { Rng } from '../data/synth/rng';
import { AugmentConfig, AugmentInput, augmentExample } from './augment';
import type { TensorBatch } from './loss';

/** One training example in memory: the image and its two maps (what augmentation transforms), and its labels. */
export interface TrainExample extends AugmentInput {
  uid: string;
  caption: string;
  /** Decoder target: prompt words with `_0` on misaligned ones. */
  target: string;
  /** Scores in SCORE_NAMES order, [0, 1]. */
  scores: Float32Array;
}

export interface TrainSet {
  examples: TrainExample[];
  /** The records file read. */
  source: string;
  /** Records skipped (no image / no prompt) and reader warnings. */
  skipped: number;
  warnings: string[];
}

/**
 * Keyword target from a prompt and its label string. A label/word count mismatch (reported by the
 * reader) pairs words and labels positionally; words without a label count as aligned.
 */
export function targetSequence(caption: string, label: string): string {
  const words = promptWords(caption);
  const labels = parseLabels(label);
  return words.map((w, i) => (labels[i] === 0 ? `${w}_0` : w)).join(' ');
}

/** Load a split into memory (the synthetic world's 128² images: ≈50 KB per example). */
export async function loadTrainSet(opts: DatasetOptions): Promise<TrainSet> {
  const ds = await openEvalDataset(opts);
  const examples: TrainExample[] = [];
  // Images decode on sharp's threads, 16 ahead (see readRichHF): 22 → 18 s for 2400 examples.
  const build = async (s: EvalSample): Promise<TrainExample> => {
    const r = s.record;
    if (r.artifactMap.width !== r.misalignmentMap.width || r.artifactMap.height !== r.misalignmentMap.height) {
      throw new Error(`${ds.recordsFile}: record ${r.index}: artifact and misalignment maps differ in size`);
    }
    const img = await decodeSampleImage(s);
    const rgb = new Uint8Array(img.data.length);
    for (let i = 0; i < rgb.length; i++) rgb[i] = Math.round(img.data[i] * 255);
    return {
      uid: s.uid,
      caption: s.caption,
      target: targetSequence(s.caption, r.promptMisalignmentLabel),
      rgb,
      width: img.width,
      height: img.height,
      maps: [r.artifactMap.data, r.misalignmentMap.data],
      mapWidth: r.artifactMap.width,
      mapHeight: r.artifactMap.height,
      scores: Float32Array.from(SCORE_NAMES.map((n) => r[SCORE_FIELDS[n]])),
    };
  };
  for await (const ex of inOrderAhead(ds.samples(), build, 16)) examples.push(ex);
  return {
    examples,
    source: ds.recordsFile,
    skipped: ds.missingImages.length + ds.missingCaptions.length,
    warnings: ds.warnings,
  };
}

/**
 * Indices of batch `step` (1-based): positions (step−1)·B … step·B−1 of the endless sequence of
 * per-epoch permutations of 0…n−1 (Fisher–Yates from Rng(seed, 'epoch', e)).
 */
export function batchIndices(n: number, batchSize: number, seed: number, step: number): number[] {
  if (n <= 0) throw new Error('batchIndices: empty training set');
  const out: number[] = [];
  let pos = (step - 1) * batchSize;
  let epoch = -1;
  let perm: number[] = [];
  while (out.length < batchSize) {
    const e = Math.floor(pos / n);
    if (e !== epoch) {
      epoch = e;
      perm = new Rng(seed, 'epoch', e).shuffle([...Array(n).keys()]);
    }
    out.push(perm[pos % n]);
    pos++;
  }
  return out;
}

/** A batch on the host: pixels normalised for the model, maps and scores as targets. */
export interface HostBatch {
  size: number;
  imageSize: number;
  heatmapSize: number;
  pixels: Float32Array;
  prompts: string[];
  targets: string[];
  uids: string[];
  /** [B·4], SCORE_NAMES order per example. */
  scores: Float32Array;
  /** Per heatmap type [B·H·W]. */
  maps: Record<HeatmapName, Float32Array>;
}

/** How batches are made: the model's input (size, normalisation, heatmap size), the augmentation, the run's seed. */
export type BatchOptions = Pick<RahfConfig, 'imageSize' | 'imageMean' | 'imageStd'> & { heatmapSize: number; augment: AugmentConfig; seed: number };

/** BatchOptions for a model config. */
export function batchOptionsFor(c: RahfConfig, augment: AugmentConfig, seed: number): BatchOptions {
  return { imageSize: c.imageSize, imageMean: c.imageMean, imageStd: c.imageStd, heatmapSize: heatmapSize(c), augment, seed };
}

/** Build batch `step` from the given example indices (augmentation keyed by seed, step and slot). */
export async function makeBatch(set: TrainExample[], indices: number[], step: number, o: BatchOptions): Promise<HostBatch> {
  const b = indices.length;
  const S = o.imageSize;
  const H = o.heatmapSize;
  const pixels = new Float32Array(b * S * S * 3);
  const maps = { implausibility: new Float32Array(b * H * H), misalignment: new Float32Array(b * H * H) };
  const scores = new Float32Array(b * SCORE_NAMES.length);
  const outs = await Promise.all(
    indices.map((idx, slot) => augmentExample(set[idx], o.augment, new Rng(o.seed, 'augment', step, slot), S, H)),
  );
  outs.forEach((a, i) => {
    const p = a.pixels;
    const off = i * S * S * 3;
    normalizeRgb(p, o.imageMean, o.imageStd, pixels, off);
    maps.implausibility.set(a.maps[0], i * H * H);
    maps.misalignment.set(a.maps[1], i * H * H);
    scores.set(set[indices[i]].scores, i * SCORE_NAMES.length);
  });
  return {
    size: b,
    imageSize: S,
    heatmapSize: H,
    pixels,
    prompts: indices.map((i) => set[i].caption),
    targets: indices.map((i) => set[i].target),
    uids: indices.map((i) => set[i].uid),
    scores,
    maps,
  };
}

/** Host batch → tensors (caller disposes with disposeBatch). */
export function toTensors(h: HostBatch): TensorBatch {
  const scores = {} as Record<ScoreName, tf.Tensor1D>;
  SCORE_NAMES.forEach((s, k) => {
    const v = new Float32Array(h.size);
    for (let i = 0; i < h.size; i++) v[i] = h.scores[i * SCORE_NAMES.length + k];
    scores[s] = tf.tensor1d(v);
  });
  const heatmaps = {} as Record<HeatmapName, tf.Tensor3D>;
  for (const m of HEATMAP_NAMES) heatmaps[m] = tf.tensor3d(h.maps[m], [h.size, h.heatmapSize, h.heatmapSize]);
  return {
    pixels: tf.tensor4d(h.pixels, [h.size, h.imageSize, h.imageSize, 3]),
    prompts: h.prompts,
    targets: h.targets,
    scores,
    heatmaps,
  };
}

export function disposeBatch(b: TensorBatch): void {
  tf.dispose([b.pixels, ...Object.values(b.scores), ...Object.values(b.heatmaps)]);
}
