import * as tf from '@tensorflow/tfjs';
import { T5Config, T5Model, relativePositionBucket } from '../models/t5';
import { Params } from '../nn/params';
import { GraphBuilder, MASK_VALUE } from './graph';
import {
  activationG,
  additiveMaskG,
  attentionG,
  attentionHeadsG,
  dimScalar,
  fusedLinearG,
  linearG,
  linearWeight,
  mergeHeadsG,
  rmsNormG,
  splitHeadsG,
  weight,
} from './export-common';

/*
 * T5 encoder and decoder (src/models/t5.ts) as ONNX subgraphs with dynamic batch and lengths.
 *
 * Relative position bias: the bucket of a distance saturates beyond relative_attention_max_distance,
 * so the bias of every distance is a constant table over the clipped range [−C, C] (C = the first
 * distance from which the bucket no longer changes), computed at export with the same bucket function
 * as tfjs (no float log in the graph, so no bucket can flip at a boundary). In the graph the distance
 * matrix j − i comes from Range, is clipped to ±C and looks the table up with one Gather: any length
 * works. The decoder's table also carries the causal mask (distances > 0 masked), added in float32
 * exactly as tfjs adds bias and mask.
 */

/** Smallest C ≥ max_distance with bucket(±n) = bucket(±C) for every n ≥ C. */
function saturation(c: T5Config, bidirectional: boolean): number {
  const nb = c.relative_attention_num_buckets;
  const md = c.relative_attention_max_distance;
  let C = Math.max(md, nb);
  const b = (n: number) => relativePositionBucket(n, bidirectional, nb, md);
  // The bucket is monotone in |n| and capped at the last bucket; check a long stretch to be sure.
  while ([1, 10, 100, 1000, 100000].some((k) => b(C + k) !== b(C) || b(-C - k) !== b(-C))) C *= 2;
  return C;
}

/** Bias by clipped distance: [2C+1, H], row r = table[bucket(r − C)] (+ causal mask for r > C). */
function biasByDistance(table: tf.Tensor, c: T5Config, bidirectional: boolean, causal: boolean): { data: Float32Array; C: number } {
  const C = saturation(c, bidirectional);
  const [nb, h] = table.shape as [number, number];
  const t = table.dataSync() as Float32Array;
  const out = new Float32Array((2 * C + 1) * h);
  for (let r = 0; r <= 2 * C; r++) {
    const bucket = relativePositionBucket(r - C, bidirectional, nb, c.relative_attention_max_distance);
    for (let j = 0; j < h; j++) {
      const v = t[bucket * h + j];
      out[r * h + j] = causal && r > C ? Math.fround(v + MASK_VALUE) : v;
    }
  }
  return { data: out, C };
}

/** Range(0, L) as int64 [L], L = Shape(x)[axis]. */
function positions(g: GraphBuilder, x: string, axis: number): string {
  return g.op('Range', [g.i64(0), dimScalar(g, x, axis), g.i64(1)]);
}

/**
 * Position bias [1, H, Lq, Lk] for queries at positions 0..Lq−1 (of `qOf` axis 1) and keys 0..Lk−1,
 * or only the last query position when `lastQuery` (decoder step graphs).
 */
export function positionBiasG(g: GraphBuilder, table: tf.Tensor, c: T5Config, x: string, bidirectional: boolean, causal: boolean, stem: string): string {
  const pos = positions(g, x, 1);
  const rel = g.sub(g.unsqueeze(pos, [0]), g.unsqueeze(pos, [1])); // [Lq, Lk] = key − query
  if (g.paramNames) return trainablePositionBiasG(g, table, c, rel, bidirectional, causal);
  const { data, C } = biasByDistance(table, c, bidirectional, causal);
  const h = table.shape[1]!;
  const tab = g.init(`${stem}.bias_by_distance`, data, [2 * C + 1, h], `${table.id}:bias:${bidirectional}:${causal}`);
  const idx = g.add(g.op('Min', [g.op('Max', [rel, g.i64(-C)]), g.i64(C)]), g.i64(C));
  const bias = g.op('Gather', [tab, idx], { axis: 0 }); // [L, L, H]
  return g.unsqueeze(g.transpose(bias, [2, 0, 1]), [0]);
}

/**
 * Trainable mode: the bias looked up from the table parameter itself (gradients reach it): bucket of
 * each clipped distance (a constant computed with tfjs's bucket function), Gather from the table, then
 * the causal mask added in float32 as tfjs adds causalMask.
 */
function trainablePositionBiasG(g: GraphBuilder, table: tf.Tensor, c: T5Config, rel: string, bidirectional: boolean, causal: boolean): string {
  const C = saturation(c, bidirectional);
  const nb = c.relative_attention_num_buckets;
  const buckets = Array.from({ length: 2 * C + 1 }, (_, r) => relativePositionBucket(r - C, bidirectional, nb, c.relative_attention_max_distance));
  const idx = g.add(g.op('Min', [g.op('Max', [rel, g.i64(-C)]), g.i64(C)]), g.i64(C));
  const bucket = g.op('Gather', [g.i64(buckets), idx], { axis: 0 }); // [Lq, Lk]
  const bias = g.op('Gather', [weight(g, table, 'relative_attention_bias'), bucket], { axis: 0 }); // [Lq, Lk, H]
  const b4 = g.unsqueeze(g.transpose(bias, [2, 0, 1]), [0]);
  if (!causal) return b4;
  const mask = g.mul(g.cast(g.op('Greater', [rel, g.i64(0)]), 'float32'), g.f32(MASK_VALUE));
  return g.add(b4, mask);
}

/**
 * Position bias [1, H, 1, T+1] of one query at position T = Shape(past)[2] over keys 0..T (decoder
 * steps with a KV cache; distances ≤ 0, never masked).
 */
function stepPositionBiasG(g: GraphBuilder, table: tf.Tensor, c: T5Config, past: string, stem: string): string {
  const { data, C } = biasByDistance(table, c, false, true);
  const h = table.shape[1]!;
  const tab = g.init(`${stem}.bias_by_distance`, data, [2 * C + 1, h], `${table.id}:bias:false:true`);
  const t = dimScalar(g, past, 2);
  const keys = g.op('Range', [g.i64(0), g.add(t, g.i64(1)), g.i64(1)]);
  const idx = g.add(g.op('Max', [g.sub(keys, t), g.i64(-C)]), g.i64(C)); // distances −T..0
  const bias = g.op('Gather', [tab, idx], { axis: 0 }); // [T+1, H]
  return g.reshape(g.transpose(bias, [1, 0]), [1, h, 1, -1]);
}

function norm(g: GraphBuilder, x: string, p: Params, name: string, eps: number): string {
  return rmsNormG(g, x, weight(g, p.get(`${name}.weight`), `${name}.weight`), eps);
}

function ffnG(g: GraphBuilder, x: string, p: Params, c: T5Config): string {
  let h: string;
  if (c.is_gated_act) {
    const [a, b] = fusedLinearG(g, x, p, ['wi_0', 'wi_1'], false);
    h = g.mul(activationG(g, c.dense_act_fn, a), b);
  } else {
    h = activationG(g, c.dense_act_fn, linearG(g, x, p, 'wi', false));
  }
  return linearG(g, h, p, 'wo', false);
}

/** T5 attention (no 1/√d scaling) with q from x and k, v from `kvSource`. */
function t5AttentionG(g: GraphBuilder, x: string, kvSource: string | undefined, p: Params, c: T5Config, bias?: string): string {
  let q: string, k: string, v: string;
  if (kvSource === undefined) [q, k, v] = fusedLinearG(g, x, p, ['q', 'k', 'v'], false);
  else {
    q = linearG(g, x, p, 'q', false);
    [k, v] = fusedLinearG(g, kvSource, p, ['k', 'v'], false);
  }
  return linearG(g, attentionG(g, q, k, v, c.num_heads, c.d_kv, 1, bias), p, 'o', false);
}

/** Embedding lookup in the shared table: ids [B, L] int64 → [B, L, D]. */
export function embedG(g: GraphBuilder, model: T5Model, ids: string): string {
  return g.op('Gather', [weight(g, model.params.get('shared.weight'), 't5.shared'), ids], { axis: 0 });
}

/** T5Model.encode on inputs_embeds [B, L, D]; `mask` a 0/1 int64 [B, L] or none. */
export function t5EncoderG(g: GraphBuilder, model: T5Model, x0: string, mask?: string): string {
  const c = model.config;
  const p = model.params.scope('encoder.');
  let bias = positionBiasG(g, p.get('block.0.layer.0.SelfAttention.relative_attention_bias.weight'), c, x0, true, false, 't5.encoder');
  if (mask) bias = g.add(bias, additiveMaskG(g, mask));
  let x = x0;
  for (let i = 0; i < c.num_layers; i++) {
    const b = p.scope(`block.${i}.layer.`);
    x = g.add(x, t5AttentionG(g, norm(g, x, b, '0.layer_norm', c.layer_norm_epsilon), undefined, b.scope('0.SelfAttention.'), c, bias));
    x = g.add(x, ffnG(g, norm(g, x, b, '1.layer_norm', c.layer_norm_epsilon), b.scope('1.DenseReluDense.'), c));
  }
  return norm(g, x, p, 'final_layer_norm', c.layer_norm_epsilon);
}

/**
 * T5 decoder (teacher forced, causal) → logits. `lastOnly`: logits [B, V] of the last position only
 * (a cache-free decoder step graph: the whole prefix is re-run each step); otherwise
 * [B, Ld, V].
 */
export function t5DecoderG(g: GraphBuilder, model: T5Model, ids: string, enc: string, encMask: string | undefined, lastOnly: boolean): string {
  const c = model.config;
  const p = model.params.scope('decoder.');
  const x0 = embedG(g, model, ids);
  const selfBias = positionBiasG(g, p.get('block.0.layer.0.SelfAttention.relative_attention_bias.weight'), c, x0, false, true, 't5.decoder');
  const crossBias = encMask ? additiveMaskG(g, encMask) : undefined;
  let x = x0;
  for (let i = 0; i < c.num_decoder_layers; i++) {
    const b = p.scope(`block.${i}.layer.`);
    const eps = c.layer_norm_epsilon;
    x = g.add(x, t5AttentionG(g, norm(g, x, b, '0.layer_norm', eps), undefined, b.scope('0.SelfAttention.'), c, selfBias));
    x = g.add(x, t5AttentionG(g, norm(g, x, b, '1.layer_norm', eps), enc, b.scope('1.EncDecAttention.'), c, crossBias));
    x = g.add(x, ffnG(g, norm(g, x, b, '2.layer_norm', eps), b.scope('2.DenseReluDense.'), c));
  }
  if (lastOnly) x = g.op('Squeeze', [g.slice(x, 1, -1, 2 ** 62), g.i64([1])]); // [B, D]
  let h = norm(g, x, p, 'final_layer_norm', c.layer_norm_epsilon);
  if (c.scale_decoder_outputs) h = g.mul(h, g.f32(c.d_model ** -0.5));
  // The tied head reuses the embedding table through Gemm(transB) instead of storing a transposed copy.
  if (c.tie_word_embeddings && lastOnly) {
    return g.op('Gemm', [h, weight(g, model.params.get('shared.weight'), 't5.shared')], { transB: 1 });
  }
  const w = c.tie_word_embeddings ? model.params.get('shared.weight') : model.params.get('lm_head.weight');
  return g.matMul(h, linearWeight(g, w, 't5.lm_head'));
}

/** Plain T5 encoder graph: input_ids, attention_mask [B, L] (int64) → last_hidden_state [B, L, D]. */
export function exportT5EncoderGraph(model: T5Model): GraphBuilder {
  const g = new GraphBuilder('t5_encoder');
  const ids = g.input('input_ids', 'int64', ['batch', 'seq']);
  const mask = g.input('attention_mask', 'int64', ['batch', 'seq']);
  g.output(t5EncoderG(g, model, embedG(g, model, ids), mask), 'last_hidden_state', 'float32', ['batch', 'seq', model.config.d_model]);
  return g;
}

/**
 * Plain T5 decoder graph: decoder_input_ids [B, Ld], encoder_hidden_states [B, L, D], encoder_attention_mask
 * [B, L] → logits [B, Ld, V] (teacher forced); with `lastOnly`, logits [B, V] of the last position.
 */
export function exportT5DecoderGraph(model: T5Model, opts: { lastOnly?: boolean; encoderMask?: boolean } = {}): GraphBuilder {
  const c = model.config;
  const g = new GraphBuilder(opts.lastOnly ? 't5_decoder_step' : 't5_decoder');
  const ids = g.input('decoder_input_ids', 'int64', ['batch', 'dec_len']);
  const enc = g.input('encoder_hidden_states', 'float32', ['batch', 'enc_len', c.d_model]);
  const mask = opts.encoderMask === false ? undefined : g.input('encoder_attention_mask', 'int64', ['batch', 'enc_len']);
  const logits = t5DecoderG(g, model, ids, enc, mask, !!opts.lastOnly);
  g.output(logits, 'logits', 'float32', opts.lastOnly ? ['batch', c.vocab_size] : ['batch', 'dec_len', c.vocab_size]);
  return g;
}

/** Names of the cache tensors of decoder layer i (HF layout [B, H, T, d_kv]). */
export const cacheNames = (i: number) => ({
  pastKey: `past_key_${i}`,
  pastValue: `past_value_${i}`,
  presentKey: `present_key_${i}`,
  presentValue: `present_value_${i}`,
  crossKey: `cross_key_${i}`,
  crossValue: `cross_value_${i}`,
});

/**
 * Cross-attention keys and values of every decoder layer from the encoder output, computed once per
 * decoding: encoder_hidden_states [B, L, D] → cross_key_i, cross_value_i [B, H, L, d_kv].
 */
export function exportT5CrossKVGraph(model: T5Model): GraphBuilder {
  const c = model.config;
  const g = new GraphBuilder('t5_decoder_cross_kv');
  const enc = g.input('encoder_hidden_states', 'float32', ['batch', 'enc_len', c.d_model]);
  for (let i = 0; i < c.num_decoder_layers; i++) {
    const p = model.params.scope(`decoder.block.${i}.layer.1.EncDecAttention.`);
    const [k, v] = fusedLinearG(g, enc, p, ['k', 'v'], false);
    const n = cacheNames(i);
    const shape = ['batch', c.num_heads, 'enc_len', c.d_kv];
    g.output(splitHeadsG(g, k, c.num_heads, c.d_kv), n.crossKey, 'float32', shape);
    g.output(splitHeadsG(g, v, c.num_heads, c.d_kv), n.crossValue, 'float32', shape);
  }
  return g;
}

/**
 * One decoder step with a KV cache (as T5Model.generate): decoder_input_ids [B, 1] (the newest token),
 * past_key_i / past_value_i [B, H, T, d_kv] (T = 0 at the first step), cross_key_i / cross_value_i from
 * {@link exportT5CrossKVGraph} and, with `encoderMask`, encoder_attention_mask [B, L] → logits [B, V]
 * and present_key_i / present_value_i [B, H, T+1, d_kv].
 */
export function exportT5CachedStepGraph(model: T5Model, opts: { encoderMask: boolean }): GraphBuilder {
  const c = model.config;
  const g = new GraphBuilder('t5_decoder_step_cached');
  const ids = g.input('decoder_input_ids', 'int64', ['batch', 1]);
  const mask = opts.encoderMask ? g.input('encoder_attention_mask', 'int64', ['batch', 'enc_len']) : undefined;
  const names = Array.from({ length: c.num_decoder_layers }, (_, i) => cacheNames(i));
  const kv = ['batch', c.num_heads, 'past_len', c.d_kv];
  const cross = ['batch', c.num_heads, 'enc_len', c.d_kv];
  const inputs = names.map((n) => ({
    pk: g.input(n.pastKey, 'float32', kv),
    pv: g.input(n.pastValue, 'float32', kv),
    ck: g.input(n.crossKey, 'float32', cross),
    cv: g.input(n.crossValue, 'float32', cross),
  }));
  const p = model.params.scope('decoder.');
  const eps = c.layer_norm_epsilon;
  const selfBias = stepPositionBiasG(g, p.get('block.0.layer.0.SelfAttention.relative_attention_bias.weight'), c, inputs[0].pk, 't5.decoder');
  const crossBias = mask ? additiveMaskG(g, mask) : undefined;
  let x = embedG(g, model, ids);
  const present: [string, string][] = [];
  for (let i = 0; i < c.num_decoder_layers; i++) {
    const b = p.scope(`block.${i}.layer.`);
    const sa = b.scope('0.SelfAttention.');
    const [q, k, v] = fusedLinearG(g, norm(g, x, b, '0.layer_norm', eps), sa, ['q', 'k', 'v'], false);
    const keys = g.concat([inputs[i].pk, splitHeadsG(g, k, c.num_heads, c.d_kv)], 2);
    const values = g.concat([inputs[i].pv, splitHeadsG(g, v, c.num_heads, c.d_kv)], 2);
    present.push([keys, values]);
    const a = attentionHeadsG(g, splitHeadsG(g, q, c.num_heads, c.d_kv), keys, values, 1, selfBias);
    x = g.add(x, linearG(g, mergeHeadsG(g, a, c.num_heads, c.d_kv), sa, 'o', false));
    const ca = b.scope('1.EncDecAttention.');
    const q2 = splitHeadsG(g, linearG(g, norm(g, x, b, '1.layer_norm', eps), ca, 'q', false), c.num_heads, c.d_kv);
    const a2 = attentionHeadsG(g, q2, inputs[i].ck, inputs[i].cv, 1, crossBias);
    x = g.add(x, linearG(g, mergeHeadsG(g, a2, c.num_heads, c.d_kv), ca, 'o', false));
    x = g.add(x, ffnG(g, norm(g, x, b, '2.layer_norm', eps), b.scope('2.DenseReluDense.'), c));
  }
  let h = norm(g, g.reshape(x, [-1, c.d_model]), p, 'final_layer_norm', eps); // [B, D]
  if (c.scale_decoder_outputs) h = g.mul(h, g.f32(c.d_model ** -0.5));
  const logits = c.tie_word_embeddings
    ? g.op('Gemm', [h, weight(g, model.params.get('shared.weight'), 't5.shared')], { transB: 1 })
    : g.matMul(h, linearWeight(g, model.params.get('lm_head.weight'), 't5.lm_head'));
  g.output(logits, 'logits', 'float32', ['batch', c.vocab_size]);
  const out = ['batch', c.num_heads, 'past_len_plus_1', c.d_kv];
  present.forEach(([k, v], i) => {
    g.output(k, names[i].presentKey, 'float32', out);
    g.output(v, names[i].presentValue, 'float32', out);
  });
  return g;
}
