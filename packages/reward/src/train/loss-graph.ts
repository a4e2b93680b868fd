import { HEATMAP_NAMES, HeatmapName, SCORE_NAMES, heatmapSize } from '../rahf/config';
import { RewardModel } from '../rahf/model';
import { HeatmapLoss, LossPart, LossWeights } from './loss';
import { GraphBuilder } from '../onnx/graph';
import { heatmapHeadG, scoreHeadG } from '../onnx/export-heads';
import { t5DecoderG } from '../onnx/export-t5';
import { rahfTrunkG } from '../onnx/export-rahf';
import { OnnxDType } from '../onnx/proto';

/*
 * The training objective of a multi-head RAHF model as one ONNX graph: src/train/loss.ts multiTaskLoss
 * (score MSE, heatmap BCE/MSE averaged over the two maps, teacher-forced keyword cross-entropy, the
 * weighted total) with every model parameter a graph input named by its RewardModel parameter name,
 * in the model's own layout. The inference exporters run in trainable mode (GraphBuilder.paramNames):
 * their export-time weight transforms (linear transposes, fused q/k/v concatenation, filter layouts, the
 * T5 position-bias lookup) become graph nodes, so a gradient graph of this one reaches the raw
 * parameters and the tfjs variables stay the single source of truth.
 *
 * Shapes are static per run: a fixed batch size and texts padded to fixed lengths. That is exact only
 * for configs that mask text padding and keep it out of the keyword loss (the presets other than
 * large384); {@link fixedPaddingExact} says whether a config is one.
 *
 * Inputs (besides the parameters):
 *   pixel_values [B, S, S, 3] f32        normalised NHWC pixels (as RewardModel.forward)
 *   input_ids, attention_mask [B, L] i64  the caption (mask only for maskTextPadding configs)
 *   score_targets [B, 4] f32              SCORE_NAMES order                      (score weight > 0)
 *   heatmap_target_<type> [B, H, H] f32   HEATMAP_NAMES                          (heatmap weight > 0)
 *   decoder_input_ids, labels [B, T] i64  labels shifted right / the target ids  (keywords weight > 0)
 *   label_weights [B, T] f32              1 = label counted in the mean, 0 = ignored (HF's −100)
 * Outputs: loss (the weighted total) and loss_<part> (unweighted) for each part with a non-zero weight.
 */

export interface TrainGraphOptions {
  batch: number;
  /** Caption length the ids are padded to. */
  textLen: number;
  /** Keyword target length the labels are padded to. */
  targetLen: number;
  weights: LossWeights;
  heatmapLoss: HeatmapLoss;
}

export interface TrainGraph {
  graph: GraphBuilder;
  /** Parameter names that are graph inputs (those the enabled loss parts use), in input order. */
  params: string[];
  /** Loss parts computed (non-zero weight), in the order of their outputs after `loss`. */
  parts: LossPart[];
}

/** Graph output of a loss part. */
export const lossOutput = (part: LossPart | 'total'): string => (part === 'total' ? 'loss' : `loss_${part}`);

/** Whether fixed-length text padding gives exactly the per-batch-padded loss of src/train/loss.ts. */
export function fixedPaddingExact(model: RewardModel): boolean {
  return model.config.maskTextPadding && model.config.lossIgnoresPadding;
}

/** The training-loss graph of a multi-head model (see the file comment). */
export function exportTrainGraph(model: RewardModel, o: TrainGraphOptions): TrainGraph {
  const c = model.config;
  if (c.variant !== 'multi_head') throw new Error(`onnx training graph: only multi_head models are supported, got ${c.variant}`);
  const w = o.weights;
  if (!(w.score > 0 || w.heatmap > 0 || w.keywords > 0)) throw new Error('onnx training graph: every loss weight is 0');
  const B = o.batch;
  const s = c.imageSize;
  const g = new GraphBuilder('rahf_train');
  g.paramNames = new Map([...model.params.tensors].map(([k, v]) => [v.id, k]));
  const px = g.input('pixel_values', 'float32', [B, s, s, 3]);
  const ids = g.input('input_ids', 'int64', [B, o.textLen]);
  const mask = c.maskTextPadding ? g.input('attention_mask', 'int64', [B, o.textLen]) : undefined;

  // RewardModel.run (multi-head): ViT → projection → T5 encoder over [visual; caption].
  const trunk = rahfTrunkG(g, model, px);
  const hidden = trunk.encode(ids, mask);
  const feature = trunk.featureMap(hidden, mask);
  const head = (base: string, type: string) => model.params.scope(`${base}${type}.`);

  const parts: LossPart[] = [];
  const terms: string[] = [];
  const meanAll = (t: string) => g.op('ReduceMean', [t], { keepdims: 0 });
  const emit = (part: LossPart, value: string, weight: number) => {
    g.output(value, lossOutput(part), 'float32', []);
    parts.push(part);
    terms.push(g.mul(value, g.f32(weight)));
  };
  if (w.score > 0) {
    const preds = SCORE_NAMES.map((t) => g.unsqueeze(scoreHeadG(g, feature, head('score_predictor.', t), c.scoreConv, c.scoreLinear), [1]));
    const diff = g.sub(g.concat(preds, 1), g.input('score_targets', 'float32', [B, SCORE_NAMES.length]));
    emit('score', meanAll(g.mul(diff, diff)), w.score);
  }
  if (w.heatmap > 0) {
    const side = heatmapSize(c);
    const per = HEATMAP_NAMES.map((t) => {
      const p = heatmapHeadG(g, feature, head('heatmap_predictor.', t), side, c.heatmapStages);
      const y = g.input(heatmapTargetInput(t), 'float32', [B, side, side]);
      if (o.heatmapLoss === 'mse') {
        const diff = g.sub(p, y);
        return meanAll(g.mul(diff, diff));
      }
      // loss.ts bce: p clipped to [1e-6, 1 − 1e-6], −mean(y log q + (1 − y) log(1 − q)).
      const q = g.op('Min', [g.op('Max', [p, g.f32(1e-6)]), g.f32(1 - 1e-6)]); // = Clip, with plain autodiff rules
      const one = g.f32(1);
      const ll = g.add(g.mul(y, g.op('Log', [q])), g.mul(g.sub(one, y), g.op('Log', [g.sub(one, q)])));
      return g.op('Neg', [meanAll(ll)]);
    });
    emit('heatmap', g.div(per.reduce((a, b) => g.add(a, b)), g.f32(per.length)), w.heatmap);
  }
  if (w.keywords > 0) {
    // RewardModel.sequenceLoss: the decoder cross-attends to the caption states (grounded for word_grounding configs).
    const T = o.targetLen;
    const decIds = g.input('decoder_input_ids', 'int64', [B, T]);
    const labels = g.input('labels', 'int64', [B, T]);
    const lw = g.input('label_weights', 'float32', [B, T]);
    const caption = trunk.caption(hidden);
    const logits = t5DecoderG(g, model.t5, decIds, caption, mask, false); // [B, T, V]
    const logp = g.op('LogSoftmax', [logits], { axis: -1 });
    const vocab = g.op('Range', [g.i64(0), g.i64(c.t5.vocab_size), g.i64(1)]);
    const onehot = g.cast(g.op('Equal', [g.unsqueeze(labels, [2]), vocab]), 'float32'); // [B, T, V]
    const nll = g.op('Neg', [g.op('ReduceSum', [g.mul(logp, onehot), g.i64([2])], { keepdims: 0 })]);
    const sumAll = (t: string) => g.op('ReduceSum', [t], { keepdims: 0 });
    emit('keywords', g.div(sumAll(g.mul(nll, lw)), sumAll(lw)), w.keywords);
  }
  g.output(terms.reduce((a, b) => g.add(a, b)), lossOutput('total'), 'float32', []);
  const params = g
    .build()
    .inputs.map((i) => i.name)
    .filter((nm) => model.params.tensors.has(nm));
  return { graph: g, params, parts };
}

export const heatmapTargetInput = (t: HeatmapName): string => `heatmap_target_${t}`;

/** A host array for one graph input. */
export interface HostFeed {
  dtype: OnnxDType;
  dims: number[];
  data: Float32Array | BigInt64Array;
}

/** One training batch on the host (src/train/data.ts HostBatch has this shape). */
export interface TrainBatchHost {
  size: number;
  pixels: Float32Array;
  prompts: string[];
  targets: string[];
  /** [B·4] in SCORE_NAMES order. */
  scores: Float32Array;
  maps: Record<HeatmapName, Float32Array>;
}

/**
 * The non-parameter inputs of a training graph for one batch: texts tokenised with the model's
 * tokenizer and padded to the graph's lengths, labels shifted right as HF T5 (`shiftRight`).
 */
export function trainFeeds(model: RewardModel, tg: TrainGraph, o: TrainGraphOptions, b: TrainBatchHost): Map<string, HostFeed> {
  const c = model.config;
  if (b.size !== o.batch) throw new Error(`onnx training graph: batch of ${b.size} examples, graph built for ${o.batch}`);
  const s = c.imageSize;
  const f = new Map<string, HostFeed>();
  const i64 = (rows: number[][]): BigInt64Array => BigInt64Array.from(rows.flat().map((v) => BigInt(v)));
  const pad = (texts: string[], len: number, what: string) => {
    try {
      return model.tokenizer.encodeBatch(texts, { maxLength: c.maxTextTokens, padTo: len });
    } catch (e) {
      throw new Error(`onnx training graph: ${what} longer than the graph's ${len} tokens (${(e as Error).message})`);
    }
  };
  f.set('pixel_values', { dtype: 'float32', dims: [o.batch, s, s, 3], data: b.pixels });
  const cap = pad(b.prompts, o.textLen, 'a caption is');
  f.set('input_ids', { dtype: 'int64', dims: [o.batch, o.textLen], data: i64(cap.ids) });
  if (c.maskTextPadding) f.set('attention_mask', { dtype: 'int64', dims: [o.batch, o.textLen], data: i64(cap.mask) });
  if (tg.parts.includes('score')) f.set('score_targets', { dtype: 'float32', dims: [o.batch, SCORE_NAMES.length], data: b.scores });
  if (tg.parts.includes('heatmap')) {
    const side = heatmapSize(c);
    for (const t of HEATMAP_NAMES) f.set(heatmapTargetInput(t), { dtype: 'float32', dims: [o.batch, side, side], data: b.maps[t] });
  }
  if (tg.parts.includes('keywords')) {
    const T = o.targetLen;
    const tgt = pad(b.targets, T, 'a keyword target is');
    const ignore = c.lossIgnoresPadding;
    // T5Model.shiftRight: [decoder start, labels[:-1]] with ignored (−100) labels as the config's pad id.
    const dec = tgt.ids.map((row, i) => [c.t5.decoder_start_token_id, ...row.slice(0, T - 1).map((v, j) => (ignore && tgt.mask[i][j] === 0 ? c.t5.pad_token_id : v))]);
    const weights = new Float32Array(o.batch * T);
    tgt.mask.forEach((row, i) => row.forEach((m, j) => (weights[i * T + j] = ignore ? m : 1)));
    f.set('decoder_input_ids', { dtype: 'int64', dims: [o.batch, T], data: i64(dec) });
    f.set('labels', { dtype: 'int64', dims: [o.batch, T], data: i64(tgt.ids) });
    f.set('label_weights', { dtype: 'float32', dims: [o.batch, T], data: weights });
  }
  return f;
}
