import * as tf from '@tensorflow/tfjs';
import * as ort from 'onnxruntime-node';
import { Rng } from '../data/synth/rng';
import { HostFeed, TrainBatchHost } from '../train/loss-graph';
import { HEATMAP_NAMES, HeatmapName, SCORE_NAMES, ScoreName, heatmapSize } from '../rahf/config';
import { RewardModel } from '../rahf/model';
import { TensorBatch } from '../train/loss';

// Synthetic training batches shared by the ONNX training-graph and ORT engine tests.

const PROMPTS = ['a red cube on a table', 'two dogs', 'a small green ball next to a large blue box under a tree', 'a cat'];
const TARGETS = ['a red_0 cube on a table', 'two_0 dogs', 'a small green_0 ball next to a large blue box under_0 a tree', 'a cat_0'];

/** A synthetic batch of `b` examples (soft, partly empty heatmaps as in the data). */
export function syntheticBatch(m: RewardModel, b: number, seed: number): TrainBatchHost {
  const rng = new Rng(seed, 'batch');
  const s = m.config.imageSize;
  const h = heatmapSize(m.config);
  const pixels = Float32Array.from({ length: b * s * s * 3 }, () => rng.next() * 2 - 1);
  const scores = Float32Array.from({ length: b * SCORE_NAMES.length }, () => rng.next());
  const map = () => Float32Array.from({ length: b * h * h }, () => (rng.next() < 0.7 ? 0 : rng.next()));
  return {
    size: b,
    pixels,
    prompts: PROMPTS.slice(0, b),
    targets: TARGETS.slice(0, b),
    scores,
    maps: { implausibility: map(), misalignment: map() },
  };
}

export function tensorBatch(m: RewardModel, hb: TrainBatchHost): TensorBatch {
  const s = m.config.imageSize;
  const h = heatmapSize(m.config);
  const scores = {} as Record<ScoreName, tf.Tensor1D>;
  SCORE_NAMES.forEach((n, k) => (scores[n] = tf.tensor1d(Array.from({ length: hb.size }, (_, i) => hb.scores[i * SCORE_NAMES.length + k]))));
  const heatmaps = {} as Record<HeatmapName, tf.Tensor3D>;
  for (const n of HEATMAP_NAMES) heatmaps[n] = tf.tensor3d(hb.maps[n], [hb.size, h, h]);
  return { pixels: tf.tensor4d(hb.pixels, [hb.size, s, s, 3]), prompts: hb.prompts, targets: hb.targets, scores, heatmaps };
}

export function ortFeeds(feeds: Map<string, HostFeed>): Record<string, ort.Tensor> {
  const out: Record<string, ort.Tensor> = {};
  for (const [k, f] of feeds) out[k] = new ort.Tensor(f.dtype as 'float32' | 'int64', f.data, f.dims);
  return out;
}

