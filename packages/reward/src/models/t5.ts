import * as tf from '@tensorflow/tfjs';
import { Params, checkParamShapes } from '../nn/params';
import { activation, additiveMask, attention, linear, mergeHeads, rmsNorm, splitHeads } from '../nn/layers';
import { buildWithParams, expectModelType, field, intField, readHFFolder, withFile } from './hf-config';

// T5 (T5ForConditionalGeneration) with Hugging Face semantics: pre-RMS-norm blocks, unscaled attention,
// bucketed relative position biases from layer 0 of each stack, optional gated FFN, and the
// d_model^-0.5 output scaling of the original T5. Ported from the ideas of HF modeling_t5.py.

export interface T5Config {
  vocab_size: number;
  d_model: number;
  d_kv: number;
  d_ff: number;
  num_layers: number;
  num_decoder_layers: number;
  num_heads: number;
  relative_attention_num_buckets: number;
  relative_attention_max_distance: number;
  layer_norm_epsilon: number;
  feed_forward_proj: string;
  /** Derived from feed_forward_proj: the FFN activation ("gated-gelu" → gelu_new, like HF). */
  dense_act_fn: string;
  /** Derived from feed_forward_proj: wi_0/wi_1 gated FFN (T5 v1.1, Flan) instead of wi. */
  is_gated_act: boolean;
  /** Head = shared.weight when true, lm_head.weight when false. */
  tie_word_embeddings: boolean;
  /**
   * Multiply the decoder output by d_model^-0.5 before the head. transformers ≥ 5 saves it in
   * config.json (it no longer follows tie_word_embeddings: Flan/v1.1 files say tied but unscaled);
   * older configs imply it from tie_word_embeddings, as transformers 4 did.
   */
  scale_decoder_outputs: boolean;
  decoder_start_token_id: number;
  /** First of HF's eos ids when config.json gives a list. */
  eos_token_id: number;
  pad_token_id: number;
}

function intOrFirst(json: any, key: string, fallback: number): number {
  const v = json?.[key];
  if (Array.isArray(v)) {
    if (v.length === 0 || !Number.isInteger(v[0])) throw new Error(`config.${key}: expected an integer or a list of integers`);
    return v[0];
  }
  const n = field(json, key, fallback);
  if (!Number.isInteger(n) || n < 0) throw new Error(`config.${key}: expected a non-negative integer, got ${n}`);
  return n;
}

/** T5Config from an HF config.json object, with HF's T5Config defaults. */
export function t5ConfigFromHF(json: any): T5Config {
  expectModelType(json, ['t5', 'mt5']);
  const numLayers = intField(json, 'num_layers', 6);
  const ffp = field<string>(json, 'feed_forward_proj', 'relu');
  const parts = ffp.split('-');
  if (parts.length > 2 || (parts.length === 2 && parts[0] !== 'gated')) {
    throw new Error(`config.feed_forward_proj: "${ffp}" is not "<act>" or "gated-<act>"`);
  }
  const isGated = parts.length === 2;
  const act = ffp === 'gated-gelu' ? 'gelu_new' : parts[parts.length - 1];
  activation(act); // unsupported activations fail at load time, not mid-forward
  const tie = field<boolean>(json, 'tie_word_embeddings', true);
  const pad = intOrFirst(json, 'pad_token_id', 0);
  return {
    vocab_size: intField(json, 'vocab_size', 32128),
    d_model: intField(json, 'd_model', 512),
    d_kv: intField(json, 'd_kv', 64),
    d_ff: intField(json, 'd_ff', 2048),
    num_layers: numLayers,
    num_decoder_layers: intField(json, 'num_decoder_layers', numLayers),
    num_heads: intField(json, 'num_heads', 8),
    relative_attention_num_buckets: intField(json, 'relative_attention_num_buckets', 32),
    relative_attention_max_distance: intField(json, 'relative_attention_max_distance', 128),
    layer_norm_epsilon: field(json, 'layer_norm_epsilon', 1e-6),
    feed_forward_proj: ffp,
    dense_act_fn: act,
    is_gated_act: isGated,
    tie_word_embeddings: tie,
    scale_decoder_outputs: field(json, 'scale_decoder_outputs', tie),
    decoder_start_token_id: intOrFirst(json, 'decoder_start_token_id', pad),
    eos_token_id: intOrFirst(json, 'eos_token_id', 1),
    pad_token_id: pad,
  };
}

/**
 * HF `T5Attention._relative_position_bucket` for one relative position (key − query). The log branch
 * is evaluated in float32 step by step, as torch does, so boundary cases land in the same bucket.
 */
export function relativePositionBucket(rel: number, bidirectional: boolean, numBuckets: number, maxDistance: number): number {
  let nb = numBuckets;
  let bucket = 0;
  let n: number;
  if (bidirectional) {
    nb = Math.floor(nb / 2);
    if (rel > 0) bucket += nb;
    n = Math.abs(rel);
  } else {
    n = -Math.min(rel, 0);
  }
  const maxExact = Math.floor(nb / 2);
  if (n < maxExact) return bucket + n;
  const f = Math.fround;
  const ratio = f(f(Math.log(f(n / maxExact))) / f(Math.log(maxDistance / maxExact)));
  const large = maxExact + Math.trunc(f(ratio * (nb - maxExact)));
  return bucket + Math.min(large, nb - 1);
}

/**
 * Relative position bias [1, H, Lq, Lk] for queries at positions qStart..qStart+Lq-1 and keys 0..Lk-1,
 * from a [buckets, H] table. The bias depends only on the distance, so we look up the Lq+Lk-1
 * distinct distances with a constant one-hot matMul (differentiable on every backend; gather has no
 * gradient on wasm), then lay them out as the Toeplitz [Lq, Lk] matrix with the "skew" trick:
 * repeat the row of distances, flatten, and re-read it with a stride one shorter — only
 * broadcast/reshape/slice, all with gradients, and no [Lq*Lk, buckets] constant.
 */
export function relativePositionBias(
  table: tf.Tensor,
  lq: number,
  lk: number,
  bidirectional: boolean,
  maxDistance: number,
  qStart = 0,
): tf.Tensor4D {
  return tf.tidy(() => {
    const [nb, h] = table.shape as [number, number];
    const n = lq + lk - 1;
    // Row r holds distance (key − query) = r − (qStart + lq − 1).
    const oneHot = new Float32Array(n * nb);
    const d0 = -(qStart + lq - 1);
    for (let r = 0; r < n; r++) oneHot[r * nb + relativePositionBucket(d0 + r, bidirectional, nb, maxDistance)] = 1;
    const byDistance = tf.matMul(tf.tensor2d(oneHot, [n, nb]), table as tf.Tensor2D).transpose() as tf.Tensor2D; // [H, N]
    if (lq === 1) return byDistance.reshape([1, h, 1, lk]) as tf.Tensor4D;
    // M[i, j] = byDistance[j − i + lq − 1]: flat index lq−1 + i(N−1) + j is ≡ j − i + lq − 1 (mod N).
    const tiled = tf.broadcastTo(byDistance.reshape([h, 1, n]), [h, lq + 1, n]).reshape([h, (lq + 1) * n]);
    const skew = tf.slice(tiled, [0, lq - 1], [h, lq * (n - 1)]).reshape([h, lq, n - 1]);
    return tf.slice(skew, [0, 0, 0], [h, lq, lk]).reshape([1, h, lq, lk]) as tf.Tensor4D;
  });
}

/**
 * Embedding lookup whose gradient w.r.t. the table is a scatter-add (ScatterNd, available on wasm)
 * instead of tfjs's UnsortedSegmentSum-based gather gradient, which wasm lacks.
 */
export function embeddingLookup(table: tf.Tensor2D, ids: tf.Tensor): tf.Tensor {
  const lookup = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [t, idx, save] = args as [tf.Tensor, tf.Tensor, tf.GradSaveFunc];
    save([idx]);
    return {
      value: tf.gather(t, idx),
      gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) => [
        tf.scatterND(saved[0].reshape([-1, 1]), dy as tf.Tensor, t.shape),
        tf.zerosLike(saved[0]), // ids are integer constants; never on a gradient path
      ],
    };
  });
  return tf.tidy(() => tf.reshape(lookup(table, ids.reshape([-1]).toInt()), [...ids.shape, table.shape[1]]));
}

/** Additive causal mask [1, 1, L, L]: 0 on and below the diagonal, very negative above. */
function causalMask(l: number): tf.Tensor4D {
  const m = new Float32Array(l * l);
  for (let i = 0; i < l; i++) for (let j = i + 1; j < l; j++) m[i * l + j] = -3.4028234663852886e38 / 2;
  return tf.tensor4d(m, [1, 1, l, l]);
}

/** Keys and values of one attention layer, split into heads: [B, H, L, d_kv]. */
type KV = { k: tf.Tensor4D; v: tf.Tensor4D };

/** Every parameter T5Model reads, with its shape (names relative to the model's scope). */
export function t5ParamShapes(c: T5Config): [string, number[]][] {
  const d = c.d_model;
  const inner = c.num_heads * c.d_kv;
  const out: [string, number[]][] = [['shared.weight', [c.vocab_size, d]]];
  const attn = (prefix: string, withBias: boolean) => {
    out.push([`${prefix}.q.weight`, [inner, d]], [`${prefix}.k.weight`, [inner, d]]);
    out.push([`${prefix}.v.weight`, [inner, d]], [`${prefix}.o.weight`, [d, inner]]);
    if (withBias) out.push([`${prefix}.relative_attention_bias.weight`, [c.relative_attention_num_buckets, c.num_heads]]);
  };
  const ffn = (prefix: string) => {
    if (c.is_gated_act) out.push([`${prefix}.DenseReluDense.wi_0.weight`, [c.d_ff, d]], [`${prefix}.DenseReluDense.wi_1.weight`, [c.d_ff, d]]);
    else out.push([`${prefix}.DenseReluDense.wi.weight`, [c.d_ff, d]]);
    out.push([`${prefix}.DenseReluDense.wo.weight`, [d, c.d_ff]], [`${prefix}.layer_norm.weight`, [d]]);
  };
  for (let i = 0; i < c.num_layers; i++) {
    const b = `encoder.block.${i}.layer`;
    attn(`${b}.0.SelfAttention`, i === 0);
    out.push([`${b}.0.layer_norm.weight`, [d]]);
    ffn(`${b}.1`);
  }
  out.push(['encoder.final_layer_norm.weight', [d]]);
  for (let i = 0; i < c.num_decoder_layers; i++) {
    const b = `decoder.block.${i}.layer`;
    attn(`${b}.0.SelfAttention`, i === 0);
    out.push([`${b}.0.layer_norm.weight`, [d]]);
    attn(`${b}.1.EncDecAttention`, false);
    out.push([`${b}.1.layer_norm.weight`, [d]]);
    ffn(`${b}.2`);
  }
  out.push(['decoder.final_layer_norm.weight', [d]]);
  if (!c.tie_word_embeddings) out.push(['lm_head.weight', [c.vocab_size, d]]);
  return out;
}

export class T5Model {
  private readonly act: (x: tf.Tensor) => tf.Tensor;

  constructor(
    readonly config: T5Config,
    readonly params: Params,
  ) {
    this.act = activation(config.dense_act_fn);
    withFile('T5', () => checkParamShapes(params, t5ParamShapes(config)));
  }

  /** Token embeddings [B, L, D] from the shared table. */
  embed(ids: tf.Tensor2D): tf.Tensor3D {
    return embeddingLookup(this.params.get('shared.weight') as tf.Tensor2D, ids) as tf.Tensor3D;
  }

  /** Encoder last_hidden_state [B, L, D] from ids or embeddings; no mask means every position is attended. */
  encode(opts: { inputIds?: tf.Tensor2D; inputsEmbeds?: tf.Tensor3D; attentionMask?: tf.Tensor2D }): tf.Tensor3D {
    if ((opts.inputIds === undefined) === (opts.inputsEmbeds === undefined)) {
      throw new Error('T5.encode: pass exactly one of inputIds and inputsEmbeds');
    }
    return tf.tidy(() => {
      const c = this.config;
      let x = opts.inputsEmbeds ?? this.embed(opts.inputIds!);
      const l = x.shape[1];
      const p = this.params.scope('encoder.');
      let bias: tf.Tensor = this.positionBias(p, l, l, true);
      if (opts.attentionMask) bias = tf.add(bias, additiveMask(opts.attentionMask));
      for (let i = 0; i < c.num_layers; i++) {
        const b = p.scope(`block.${i}.layer.`);
        const h = this.norm(x, b, '0.layer_norm');
        x = tf.add(x, this.attend(h, this.kv(b.scope('0.SelfAttention.'), h), b.scope('0.SelfAttention.'), bias));
        x = tf.add(x, this.ffn(this.norm(x, b, '1.layer_norm'), b.scope('1.DenseReluDense.')));
      }
      return this.norm(x, p, 'final_layer_norm') as tf.Tensor3D;
    });
  }

  /** Teacher-forced decoder: logits [B, Ld, V]. `encoderMask` masks padded encoder positions. */
  decode(decoderInputIds: tf.Tensor2D, encoderHidden: tf.Tensor3D, encoderMask?: tf.Tensor2D): tf.Tensor3D {
    return tf.tidy(() => this.lmHead(this.decodeHidden(decoderInputIds, encoderHidden, encoderMask)));
  }

  /** Decoder final hidden states [B, Ld, D] (after the final norm, before output scaling and head). */
  decodeHidden(decoderInputIds: tf.Tensor2D, encoderHidden: tf.Tensor3D, encoderMask?: tf.Tensor2D): tf.Tensor3D {
    return tf.tidy(() => {
      const c = this.config;
      const p = this.params.scope('decoder.');
      let x: tf.Tensor = this.embed(decoderInputIds);
      const l = x.shape[1]!;
      const selfBias = tf.add(this.positionBias(p, l, l, false), causalMask(l));
      const crossBias = encoderMask ? additiveMask(encoderMask) : undefined;
      for (let i = 0; i < c.num_decoder_layers; i++) {
        const b = p.scope(`block.${i}.layer.`);
        const h = this.norm(x, b, '0.layer_norm');
        x = tf.add(x, this.attend(h, this.kv(b.scope('0.SelfAttention.'), h), b.scope('0.SelfAttention.'), selfBias));
        const h2 = this.norm(x, b, '1.layer_norm');
        x = tf.add(x, this.attend(h2, this.kv(b.scope('1.EncDecAttention.'), encoderHidden), b.scope('1.EncDecAttention.'), crossBias));
        x = tf.add(x, this.ffn(this.norm(x, b, '2.layer_norm'), b.scope('2.DenseReluDense.')));
      }
      return this.norm(x, p, 'final_layer_norm') as tf.Tensor3D;
    });
  }

  /** Decoder hidden [.., D] → logits [.., V]: optional d_model^-0.5 scaling, then the tied or separate head. */
  lmHead(hidden: tf.Tensor): tf.Tensor3D {
    return tf.tidy(() => {
      const c = this.config;
      const h = c.scale_decoder_outputs ? tf.mul(hidden, c.d_model ** -0.5) : hidden;
      return linear(h, this.params, c.tie_word_embeddings ? 'shared' : 'lm_head', false) as tf.Tensor3D;
    });
  }

  /**
   * Greedy decoding like HF `generate` (num_beams 1, do_sample false): rows start with
   * decoder_start_token_id; a row that emitted eos is padded with pad_token_id; decoding stops after
   * maxNewTokens or as soon as every row has finished, so the result has 1 + (steps taken) columns.
   * Each step feeds only the newest token: self-attention keys/values are cached per layer and the
   * cross-attention keys/values are computed once from `encoderHidden`. `logitBias` (token id → value) is
   * added to those logits before each argmax (none: exactly HF's greedy search).
   */
  async generate(
    encoderHidden: tf.Tensor3D,
    encoderMask: tf.Tensor2D | undefined,
    opts: { maxNewTokens: number; logitBias?: ReadonlyMap<number, number> },
  ): Promise<number[][]> {
    const c = this.config;
    const [batch] = encoderHidden.shape;
    const rows: number[][] = Array.from({ length: batch }, () => [c.decoder_start_token_id]);
    const done = new Array<boolean>(batch).fill(false);
    const p = this.params.scope('decoder.');
    const layers = Array.from({ length: c.num_decoder_layers }, (_, i) => p.scope(`block.${i}.layer.`));
    const cross = tf.tidy(() => layers.map((b) => this.kv(b.scope('1.EncDecAttention.'), encoderHidden))) as KV[];
    const crossBias = encoderMask ? tf.tidy(() => additiveMask(encoderMask)) : undefined;
    let cache: KV[] = [];
    try {
      for (let step = 0; step < opts.maxNewTokens; step++) {
        const last = tf.tensor2d(rows.map((r) => r[r.length - 1]), [batch, 1], 'int32');
        const [logits, next] = tf.tidy((): tf.TensorContainer => {
          let x: tf.Tensor = this.embed(last);
          const selfBias = this.positionBias(p, 1, step + 1, false, step);
          const nextCache: KV[] = [];
          for (let i = 0; i < layers.length; i++) {
            const b = layers[i];
            const h = this.norm(x, b, '0.layer_norm');
            const fresh = this.kv(b.scope('0.SelfAttention.'), h);
            const kv = step === 0 ? fresh : { k: tf.concat([cache[i].k, fresh.k], 2), v: tf.concat([cache[i].v, fresh.v], 2) };
            nextCache.push(kv as KV);
            x = tf.add(x, this.attend(h, kv as KV, b.scope('0.SelfAttention.'), selfBias));
            const h2 = this.norm(x, b, '1.layer_norm');
            x = tf.add(x, this.attend(h2, cross[i], b.scope('1.EncDecAttention.'), crossBias));
            x = tf.add(x, this.ffn(this.norm(x, b, '2.layer_norm'), b.scope('2.DenseReluDense.')));
          }
          const out = this.lmHead(this.norm(x, p, 'final_layer_norm')).reshape([batch, -1]);
          return [out, nextCache];
        }) as [tf.Tensor, KV[]];
        last.dispose();
        for (const kv of cache) tf.dispose([kv.k, kv.v]);
        cache = next;
        const v = c.vocab_size;
        const data = await logits.data();
        logits.dispose();
        addLogitBias(data, v, opts.logitBias);
        for (let r = 0; r < batch; r++) {
          let tok = c.pad_token_id;
          if (!done[r]) {
            let best = 0; // first maximum, like torch.argmax
            for (let j = 1; j < v; j++) if (data[r * v + j] > data[r * v + best]) best = j;
            tok = best;
            if (tok === c.eos_token_id) done[r] = true;
          }
          rows[r].push(tok);
        }
        if (done.every(Boolean)) break;
      }
    } finally {
      for (const kv of [...cache, ...cross]) tf.dispose([kv.k, kv.v]);
      crossBias?.dispose();
    }
    return rows;
  }

  /**
   * HF T5 loss: mean token cross-entropy over positions whose label is not `ignoreIndex` (-100).
   * Like torch's CrossEntropyLoss, a batch with no counted position gives NaN. Differentiable
   * w.r.t. logits without gather (one-hot product).
   */
  sequenceLoss(logits: tf.Tensor3D, labels: tf.Tensor2D, ignoreIndex = -100): tf.Scalar {
    return tf.tidy(() => {
      const v = logits.shape[2];
      const lab = labels.reshape([-1]).toInt();
      const valid = tf.notEqual(lab, ignoreIndex);
      const safe = tf.where(valid, lab, tf.zerosLike(lab));
      const logp = tf.logSoftmax(logits.reshape([-1, v]));
      const nll = tf.neg(tf.sum(tf.mul(logp, tf.oneHot(safe, v)), 1));
      const w = tf.cast(valid, 'float32');
      return tf.div(tf.sum(tf.mul(nll, w)), tf.sum(w)) as tf.Scalar;
    });
  }

  /** HF `_shift_right`: decoder inputs = [decoder_start, labels[:, :-1]] with -100 replaced by pad. */
  shiftRight(labels: tf.Tensor2D): tf.Tensor2D {
    return tf.tidy(() => {
      const [b, l] = labels.shape;
      const lab = labels.toInt();
      const start = tf.fill([b, 1], this.config.decoder_start_token_id, 'int32');
      const shifted = l > 1 ? tf.concat([start, tf.slice(lab, [0, 0], [b, l - 1])], 1) : start;
      return tf.where(tf.equal(shifted, -100), tf.fill([b, l], this.config.pad_token_id, 'int32'), shifted) as tf.Tensor2D;
    });
  }

  dispose(): void {
    this.params.dispose();
  }

  // Stack-level relative bias from layer 0's table (shared by every layer of the stack).
  private positionBias(stack: Params, lq: number, lk: number, bidirectional: boolean, qStart = 0): tf.Tensor4D {
    const table = stack.get('block.0.layer.0.SelfAttention.relative_attention_bias.weight');
    return relativePositionBias(table, lq, lk, bidirectional, this.config.relative_attention_max_distance, qStart);
  }

  private norm(x: tf.Tensor, p: Params, name: string): tf.Tensor {
    return rmsNorm(x, p.get(`${name}.weight`), this.config.layer_norm_epsilon);
  }

  private kv(p: Params, source: tf.Tensor): KV {
    const h = this.config.num_heads;
    return { k: splitHeads(linear(source, p, 'k', false), h), v: splitHeads(linear(source, p, 'v', false), h) };
  }

  // T5 attention: no 1/sqrt(d) scaling (folded into the initialisation of q).
  private attend(x: tf.Tensor, kv: KV, p: Params, bias?: tf.Tensor): tf.Tensor {
    const q = splitHeads(linear(x, p, 'q', false), this.config.num_heads);
    return linear(mergeHeads(attention(q, kv.k, kv.v, 1, bias)), p, 'o', false);
  }

  private ffn(x: tf.Tensor, p: Params): tf.Tensor {
    const h = this.config.is_gated_act
      ? tf.mul(this.act(linear(x, p, 'wi_0', false)), linear(x, p, 'wi_1', false))
      : this.act(linear(x, p, 'wi', false));
    return linear(h, p, 'wo', false);
  }
}

export interface LoadT5Options {
  /** Weight-name prefix inside the file (e.g. 't5.'); default none. */
  prefix?: string;
  trainable?: boolean;
  /** Weights file inside `dir` (default model.safetensors). */
  weights?: string;
}

/**
 * Rename function for `Params.fromHost` that drops the copies of the shared table some checkpoints
 * also store (encoder/decoder.embed_tokens, and lm_head when the config ties it) and, for a file with
 * no shared.weight, uses encoder.embed_tokens.weight as it. Keys outside `prefix` pass unchanged,
 * so it also serves composite checkpoints (RAHF's 't5.' part).
 */
export function t5Rename(config: T5Config, keys: { has(k: string): boolean }, prefix = ''): (k: string) => string | undefined {
  const shared = `${prefix}shared.weight`;
  const alias = keys.has(shared) ? undefined : `${prefix}encoder.embed_tokens.weight`;
  return (k) => {
    if (k === alias) return shared;
    if (k === `${prefix}encoder.embed_tokens.weight` || k === `${prefix}decoder.embed_tokens.weight`) return undefined;
    if (config.tie_word_embeddings && k === `${prefix}lm_head.weight`) return undefined;
    return k;
  };
}

/** Load an HF T5 directory (config.json + model.safetensors); see `t5Rename` for duplicated tables. */
export async function loadT5(dir: string, opts: LoadT5Options = {}): Promise<T5Model> {
  const { config, host, file } = readHFFolder(dir, t5ConfigFromHF, opts.weights);
  const pre = opts.prefix ?? '';
  return buildWithParams(Params.fromHost(host, { trainable: opts.trainable, rename: t5Rename(config, host, pre) }), file, (p) => new T5Model(config, p.scope(pre)));
}

/** Adds `bias` (token id → value) to every row of row-major logits [B, V], in place. */
export function addLogitBias(logits: { [i: number]: number; length: number }, vocab: number, bias?: ReadonlyMap<number, number>): void {
  if (!bias || bias.size === 0) return;
  for (const [tok, b] of bias) {
    if (!(Number.isInteger(tok) && tok >= 0 && tok < vocab)) throw new Error(`logit bias: token id ${tok} is outside the vocabulary (${vocab})`);
    for (let r = tok; r < logits.length; r += vocab) logits[r] += b;
  }
}
