import * as tf from '@tensorflow/tfjs';
import * as ort from 'onnxruntime-node';
import { initBackend } from '../backend';
import { RewardModel } from '../rahf/model';
import { LOSS_PARTS, LossWeights, multiTaskLoss } from './loss';
import { synthTokenizerFile } from './tokenizer-build';
import { ortFeeds, syntheticBatch, tensorBatch } from '../testing/train-batch';
import { TrainGraphOptions, exportTrainGraph, lossOutput, trainFeeds } from './loss-graph';
import { encodeModel } from '../onnx/proto';

// The ONNX training-loss graph against src/train/loss.ts multiTaskLoss on a random `tiny` model: every
// part and the total, with texts padded past the batch's longest (fixed-length padding is exact for
// masked configs).

let model: RewardModel;
beforeAll(async () => {
  await initBackend();
  model = await RewardModel.fromPreset('tiny', { tokenizer: synthTokenizerFile(), seed: 3 });
});
afterAll(() => model.dispose());

async function check(weights: LossWeights, heatmapLoss: 'bce' | 'mse', b: number): Promise<void> {
  const hb = syntheticBatch(model, b, b);
  const o: TrainGraphOptions = { batch: b, textLen: 40, targetLen: 48, weights, heatmapLoss };
  const tg = exportTrainGraph(model, o);
  const session = await ort.InferenceSession.create(encodeModel(tg.graph.model()));
  const feeds = ortFeeds(trainFeeds(model, tg, o, hb));
  for (const p of tg.params) {
    const v = model.params.tensors.get(p)!;
    feeds[p] = new ort.Tensor('float32', Float32Array.from(v.dataSync() as Float32Array), [...v.shape]);
  }
  const out = await session.run(feeds);
  const tb = tensorBatch(model, hb);
  const ref = tf.tidy(() => {
    const r = multiTaskLoss(model, tb, weights, { heatmapLoss });
    return [r.total, ...LOSS_PARTS.map((k) => r.parts[k] ?? tf.scalar(NaN))].map((t) => t.dataSync()[0]);
  });
  tf.dispose([tb.pixels, ...Object.values(tb.scores), ...Object.values(tb.heatmaps)]);
  const names = ['total', ...LOSS_PARTS] as const;
  names.forEach((k, i) => {
    const want = ref[i];
    if (Number.isNaN(want)) {
      expect(out[lossOutput(k as never)]).toBeUndefined();
      return;
    }
    const got = out[lossOutput(k)].data[0] as number;
    expect(Math.abs(got - want) / Math.abs(want)).toBeLessThan(1e-5);
  });
  await session.release();
}

test('loss graph equals multiTaskLoss (bce heatmaps, every part)', async () => {
  await check({ heatmap: 10, score: 1, keywords: 0.2 }, 'bce', 3);
});

test('loss graph equals multiTaskLoss (mse heatmaps; zero weights drop parts and their parameters)', async () => {
  await check({ heatmap: 1, score: 2, keywords: 0 }, 'mse', 2);
  await check({ heatmap: 0, score: 0, keywords: 1 }, 'bce', 4);
  const tg = exportTrainGraph(model, { batch: 2, textLen: 40, targetLen: 48, weights: { heatmap: 0, score: 1, keywords: 0 }, heatmapLoss: 'bce' });
  expect(tg.parts).toEqual(['score']);
  expect(tg.params.some((p) => p.startsWith('heatmap_predictor.') || p.includes('decoder.'))).toBe(false);
  expect(tg.params).toContain('score_predictor.plausibility.linear_layers.0.weight');
});

test('texts longer than the graph lengths are refused in one line', () => {
  const o: TrainGraphOptions = { batch: 2, textLen: 4, targetLen: 48, weights: { heatmap: 1, score: 1, keywords: 1 }, heatmapLoss: 'bce' };
  const tg = exportTrainGraph(model, o);
  expect(() => trainFeeds(model, tg, o, syntheticBatch(model, 2, 0))).toThrow(/a caption is longer than the graph's 4 tokens/);
});
