import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../backend';
import type { RewardModel } from '../rahf/model';
import { mse, multiTaskLoss, parseLossWeights, TensorBatch } from './loss';

beforeAll(async () => {
  await initBackend();
});

/** A stand-in model with fixed outputs, so every loss part has a hand-computed value. */
function fakeModel(calls: string[]): RewardModel {
  return {
    forward: (_p: tf.Tensor4D, _t: string[], o: { heatmaps?: boolean }) => {
      calls.push(`forward heatmaps=${o.heatmaps}`);
      return {
        scores: {
          plausibility: tf.tensor1d([0.5, 1]),
          alignment: tf.tensor1d([0, 0]),
          aesthetics: tf.tensor1d([1, 1]),
          overall: tf.tensor1d([0.25, 0.75]),
        },
        heatmaps: o.heatmaps
          ? { implausibility: tf.tensor3d([1, 0, 0, 0, 0, 0, 0, 0], [2, 2, 2]), misalignment: tf.zeros([2, 2, 2]) }
          : undefined,
      };
    },
    sequenceLoss: () => {
      calls.push('sequenceLoss');
      return tf.scalar(2.5);
    },
  } as unknown as RewardModel;
}

function batch(): TensorBatch {
  return {
    pixels: tf.zeros([2, 4, 4, 3]),
    prompts: ['a cat', 'a dog'],
    targets: ['a cat_0', 'a dog'],
    scores: {
      plausibility: tf.tensor1d([0.5, 0.5]), // errors 0, 0.5
      alignment: tf.tensor1d([1, 0]), // errors 1, 0
      aesthetics: tf.tensor1d([1, 1]), // 0, 0
      overall: tf.tensor1d([0.25, 0.25]), // 0, 0.5
    },
    heatmaps: {
      implausibility: tf.zeros([2, 2, 2]) as tf.Tensor3D, // one pixel off by 1 of 8
      misalignment: tf.tensor3d([0.5, 0, 0, 0, 0, 0, 0, 0.5], [2, 2, 2]), // two pixels off by 0.5 of 8
    },
  };
}

describe('multi-task loss', () => {
  it('computes each part and the weighted total by hand', async () => {
    const calls: string[] = [];
    const out = multiTaskLoss(fakeModel(calls), batch(), { heatmap: 10, score: 2, keywords: 0.5 });
    const score = (0 + 0.25 + 1 + 0 + 0 + 0 + 0 + 0.25) / 8; // mean over 2 samples × 4 scores
    const heat = (1 / 8 + (0.25 + 0.25) / 8) / 2; // mean of the two maps' pixel MSE
    expect((await out.parts.score!.data())[0]).toBeCloseTo(score, 6);
    expect((await out.parts.heatmap!.data())[0]).toBeCloseTo(heat, 6);
    expect((await out.parts.keywords!.data())[0]).toBeCloseTo(2.5, 6);
    expect((await out.total.data())[0]).toBeCloseTo(10 * heat + 2 * score + 0.5 * 2.5, 6);
    expect(calls).toEqual(['forward heatmaps=true', 'sequenceLoss']);
  });

  it('skips parts with weight 0 (no heatmap heads, no decoder pass)', async () => {
    const calls: string[] = [];
    const out = multiTaskLoss(fakeModel(calls), batch(), { heatmap: 0, score: 1, keywords: 0 });
    expect(Object.keys(out.parts)).toEqual(['score']);
    expect(calls).toEqual(['forward heatmaps=false']);
    const calls2: string[] = [];
    const kw = multiTaskLoss(fakeModel(calls2), batch(), { heatmap: 0, score: 0, keywords: 1 });
    expect(calls2).toEqual(['sequenceLoss']);
    expect((await kw.total.data())[0]).toBeCloseTo(2.5, 6);
  });

  it('mse is the mean squared difference', async () => {
    expect((await mse(tf.tensor1d([1, 2, 3]), tf.tensor1d([1, 0, 0])).data())[0]).toBeCloseTo(13 / 3, 6);
  });
});

describe('parseLossWeights', () => {
  const d = { heatmap: 1, score: 1, keywords: 1 };
  it('parses any subset', () => {
    expect(parseLossWeights('heatmap=10, keywords=0.5', d)).toEqual({ heatmap: 10, score: 1, keywords: 0.5 });
    expect(parseLossWeights('score=0', d)).toEqual({ heatmap: 1, score: 0, keywords: 1 });
  });
  it('gives one-line errors for bad input', () => {
    expect(() => parseLossWeights('heat=1', d)).toThrow('--loss-weights: unknown part "heat" (expected heatmap, score, keywords)');
    expect(() => parseLossWeights('score', d)).toThrow(/"score" is not name=value/);
    expect(() => parseLossWeights('score=-1', d)).toThrow(/score must be a number >= 0/);
    expect(() => parseLossWeights('score=abc', d)).toThrow(/score must be a number >= 0/);
    expect(() => parseLossWeights('score=0,heatmap=0,keywords=0', d)).toThrow(/at least one weight must be positive/);
  });
});
