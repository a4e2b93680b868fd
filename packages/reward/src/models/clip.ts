import * as tf from '@tensorflow/tfjs';
import { Params, checkParamShapes } from '../nn/params';
import { activation, additiveMask, layerNorm, linear } from '../nn/layers';
import { buildWithParams, expectModelType, field, intField, readHFFolder } from './hf-config';
import {
  PreLNBlockNames,
  PreLNBlockOptions,
  patchEmbed,
  positionEmbeddingsFor,
  preLNBlock,
  preLNBlockShapes,
  sizeField,
} from './vit';

export interface CLIPTextConfig {
  vocab_size: number;
  hidden_size: number;
  intermediate_size: number;
  num_hidden_layers: number;
  num_attention_heads: number;
  max_position_embeddings: number;
  hidden_act: string;
  layer_norm_eps: number;
  eos_token_id: number;
}

export interface CLIPVisionConfig {
  hidden_size: number;
  intermediate_size: number;
  num_hidden_layers: number;
  num_attention_heads: number;
  num_channels: number;
  image_size: number;
  patch_size: number;
  hidden_act: string;
  layer_norm_eps: number;
}

export interface CLIPConfig {
  text_config: CLIPTextConfig;
  vision_config: CLIPVisionConfig;
  projection_dim: number;
}

/** Parse an HF CLIPModel config.json object with HF's defaults for absent fields. */
export function clipConfigFromHF(json: any): CLIPConfig {
  expectModelType(json, ['clip']);
  // Very old configs spell the sub-configs text_config_dict / vision_config_dict.
  const t = json.text_config ?? json.text_config_dict ?? {};
  const v = json.vision_config ?? json.vision_config_dict ?? {};
  const text: CLIPTextConfig = {
    vocab_size: intField(t, 'vocab_size', 49408, 'text_config'),
    hidden_size: intField(t, 'hidden_size', 512, 'text_config'),
    intermediate_size: intField(t, 'intermediate_size', 2048, 'text_config'),
    num_hidden_layers: intField(t, 'num_hidden_layers', 12, 'text_config'),
    num_attention_heads: intField(t, 'num_attention_heads', 8, 'text_config'),
    max_position_embeddings: intField(t, 'max_position_embeddings', 77, 'text_config'),
    hidden_act: field(t, 'hidden_act', 'quick_gelu', 'text_config'),
    layer_norm_eps: field(t, 'layer_norm_eps', 1e-5, 'text_config'),
    eos_token_id: field(t, 'eos_token_id', 49407, 'text_config'),
  };
  const vision: CLIPVisionConfig = {
    hidden_size: intField(v, 'hidden_size', 768, 'vision_config'),
    intermediate_size: intField(v, 'intermediate_size', 3072, 'vision_config'),
    num_hidden_layers: intField(v, 'num_hidden_layers', 12, 'vision_config'),
    num_attention_heads: intField(v, 'num_attention_heads', 12, 'vision_config'),
    num_channels: intField(v, 'num_channels', 3, 'vision_config'),
    image_size: sizeField(v, 'image_size', 224, 'vision_config'),
    patch_size: sizeField(v, 'patch_size', 32, 'vision_config'),
    hidden_act: field(v, 'hidden_act', 'quick_gelu', 'vision_config'),
    layer_norm_eps: field(v, 'layer_norm_eps', 1e-5, 'vision_config'),
  };
  for (const [where, c] of [['text_config', text], ['vision_config', vision]] as const) {
    activation(c.hidden_act);
    if (c.hidden_size % c.num_attention_heads !== 0) {
      throw new Error(`${where}: hidden_size ${c.hidden_size} is not a multiple of num_attention_heads ${c.num_attention_heads}`);
    }
  }
  if (vision.image_size % vision.patch_size !== 0) {
    throw new Error(`vision_config: image_size ${vision.image_size} is not a multiple of patch_size ${vision.patch_size}`);
  }
  return { text_config: text, vision_config: vision, projection_dim: intField(json, 'projection_dim', 512) };
}

/** HF CLIPEncoderLayer names. */
export const CLIP_BLOCK: PreLNBlockNames = {
  ln1: 'layer_norm1',
  q: 'self_attn.q_proj',
  k: 'self_attn.k_proj',
  v: 'self_attn.v_proj',
  o: 'self_attn.out_proj',
  ln2: 'layer_norm2',
  fc1: 'mlp.fc1',
  fc2: 'mlp.fc2',
};

/** Every parameter CLIPModel reads, with its shape. */
export function clipParamShapes(c: CLIPConfig): [string, number[]][] {
  const v = c.vision_config;
  const t = c.text_config;
  const out: [string, number[]][] = [
    ['logit_scale', []],
    ['vision_model.embeddings.class_embedding', [v.hidden_size]],
    ['vision_model.embeddings.patch_embedding.weight', [v.hidden_size, v.num_channels, v.patch_size, v.patch_size]],
    ['vision_model.embeddings.position_embedding.weight', [(v.image_size / v.patch_size) ** 2 + 1, v.hidden_size]],
    ['vision_model.pre_layrnorm.weight', [v.hidden_size]],
    ['vision_model.pre_layrnorm.bias', [v.hidden_size]],
    ['vision_model.post_layernorm.weight', [v.hidden_size]],
    ['vision_model.post_layernorm.bias', [v.hidden_size]],
    ['visual_projection.weight', [c.projection_dim, v.hidden_size]],
    ['text_model.embeddings.token_embedding.weight', [t.vocab_size, t.hidden_size]],
    ['text_model.embeddings.position_embedding.weight', [t.max_position_embeddings, t.hidden_size]],
    ['text_model.final_layer_norm.weight', [t.hidden_size]],
    ['text_model.final_layer_norm.bias', [t.hidden_size]],
    ['text_projection.weight', [c.projection_dim, t.hidden_size]],
  ];
  for (let i = 0; i < v.num_hidden_layers; i++) {
    out.push(...preLNBlockShapes(`vision_model.encoder.layers.${i}.`, CLIP_BLOCK, v.hidden_size, v.intermediate_size, true));
  }
  for (let i = 0; i < t.num_hidden_layers; i++) {
    out.push(...preLNBlockShapes(`text_model.encoder.layers.${i}.`, CLIP_BLOCK, t.hidden_size, t.intermediate_size, true));
  }
  return out;
}

function l2normalize(x: tf.Tensor): tf.Tensor2D {
  return tf.div(x, tf.norm(x, 2, -1, true)) as tf.Tensor2D;
}

/** [1,1,L,L] additive causal mask: 0 on and below the diagonal, a large negative above. */
function causalBias(l: number): tf.Tensor4D {
  const m = new Float32Array(l * l);
  for (let i = 0; i < l; i++) for (let j = i + 1; j < l; j++) m[i * l + j] = -3.4028234663852886e38 / 2;
  return tf.tensor4d(m, [1, 1, l, l]);
}

/**
 * HF CLIPModel: both towers, projections and the learned temperature. Images enter NHWC and
 * normalised (CLIP mean/std); a size other than vision_config.image_size interpolates the
 * position embeddings (HF interpolate_pos_encoding=True). Text enters as token ids [B, L].
 */
export class CLIPModel {
  private readonly vAct: (x: tf.Tensor) => tf.Tensor;
  private readonly tAct: (x: tf.Tensor) => tf.Tensor;

  constructor(
    readonly config: CLIPConfig,
    readonly params: Params,
  ) {
    this.vAct = activation(config.vision_config.hidden_act);
    this.tAct = activation(config.text_config.hidden_act);
    checkParamShapes(params, clipParamShapes(config));
  }

  /** Vision tower last_hidden_state [B, 1+N, D] (encoder output; HF applies post_layernorm only to the pooled CLS). */
  visionHidden(pixels: tf.Tensor4D): tf.Tensor3D {
    return tf.tidy(() => {
      const c = this.config.vision_config;
      const p = this.params.scope('vision_model.');
      const { tokens, grid } = patchEmbed(pixels, p.get('embeddings.patch_embedding.weight')); // conv without bias
      const b = pixels.shape[0];
      const cls = tf.tile(p.get('embeddings.class_embedding').reshape([1, 1, c.hidden_size]), [b, 1, 1]);
      const pos = positionEmbeddingsFor(p.get('embeddings.position_embedding.weight') as tf.Tensor2D, grid);
      let x = tf.add(tf.concat([cls, tokens], 1), pos) as tf.Tensor3D;
      x = layerNorm(x, p, 'pre_layrnorm', c.layer_norm_eps) as tf.Tensor3D; // [sic], HF's name
      const opts: PreLNBlockOptions = { heads: c.num_attention_heads, eps: c.layer_norm_eps, act: this.vAct, qkvBias: true };
      for (let i = 0; i < c.num_hidden_layers; i++) x = preLNBlock(x, p.scope(`encoder.layers.${i}.`), CLIP_BLOCK, opts);
      return x;
    });
  }

  /** Projected image features before normalisation [B, projection_dim]. */
  imageFeatures(pixels: tf.Tensor4D): tf.Tensor2D {
    return tf.tidy(() => {
      const x = this.visionHidden(pixels);
      const [b, , d] = x.shape;
      const pooled = layerNorm(tf.slice(x, [0, 0, 0], [b, 1, d]).reshape([b, d]), this.params, 'vision_model.post_layernorm', this.config.vision_config.layer_norm_eps);
      return linear(pooled, this.params, 'visual_projection', false) as tf.Tensor2D;
    });
  }

  /** L2-normalised image embeddings [B, projection_dim]. */
  imageEmbeds(pixels: tf.Tensor4D): tf.Tensor2D {
    return tf.tidy(() => l2normalize(this.imageFeatures(pixels)));
  }

  /** Text tower last_hidden_state after final_layer_norm [B, L, D]. `mask` is 1 for real tokens. */
  textHidden(ids: tf.Tensor2D, mask?: tf.Tensor2D): tf.Tensor3D {
    return tf.tidy(() => {
      const c = this.config.text_config;
      const p = this.params.scope('text_model.');
      const [b, l] = ids.shape;
      if (l > c.max_position_embeddings) {
        throw new Error(`text of ${l} tokens exceeds max_position_embeddings ${c.max_position_embeddings}`);
      }
      if (mask && (mask.shape[0] !== b || mask.shape[1] !== l)) {
        throw new Error(`attention_mask shape [${mask.shape}] does not match input_ids [${ids.shape}]`);
      }
      const ids32 = ids.dtype === 'int32' ? ids : tf.cast(ids, 'int32');
      const tok = tf.gather(p.get('embeddings.token_embedding.weight'), ids32.reshape([-1])).reshape([b, l, c.hidden_size]);
      const pos = tf.slice(p.get('embeddings.position_embedding.weight'), [0, 0], [l, c.hidden_size]);
      let x = tf.add(tok, pos) as tf.Tensor3D;
      let bias: tf.Tensor = causalBias(l);
      if (mask) bias = tf.add(bias, additiveMask(mask));
      const opts: PreLNBlockOptions = { heads: c.num_attention_heads, eps: c.layer_norm_eps, act: this.tAct, qkvBias: true };
      for (let i = 0; i < c.num_hidden_layers; i++) x = preLNBlock(x, p.scope(`encoder.layers.${i}.`), CLIP_BLOCK, opts, bias);
      return layerNorm(x, p, 'final_layer_norm', c.layer_norm_eps) as tf.Tensor3D;
    });
  }

  /**
   * Pooling positions as HF CLIPTextTransformer: the first position holding eos_token_id, or — for
   * legacy configs with eos_token_id 2 — the position of the largest id (the original EOT token).
   * Returned as a one-hot [B, L] so pooling is a differentiable weighted sum, not a gather.
   */
  eosOneHot(ids: tf.Tensor2D): tf.Tensor2D {
    return tf.tidy(() => {
      const eos = this.config.text_config.eos_token_id;
      const ids32 = ids.dtype === 'int32' ? ids : tf.cast(ids, 'int32');
      const where = eos === 2 ? ids32 : tf.cast(tf.equal(ids32, eos), 'int32');
      // tf.argMax, like torch.argmax, returns the first maximal index (0 when no eos is present).
      const idx = tf.argMax(where, 1).reshape([-1, 1]);
      // Built with equal/cast: the wasm backend's OneHot ignores dtype 'float32' (writes int bits).
      return tf.cast(tf.equal(tf.range(0, ids.shape[1], 1, 'int32').reshape([1, -1]), idx), 'float32') as tf.Tensor2D;
    });
  }

  /** Projected text features before normalisation [B, projection_dim]. */
  textFeatures(ids: tf.Tensor2D, mask?: tf.Tensor2D): tf.Tensor2D {
    return tf.tidy(() => {
      const x = this.textHidden(ids, mask);
      const pooled = tf.sum(tf.mul(x, tf.expandDims(this.eosOneHot(ids), 2)), 1);
      return linear(pooled, this.params, 'text_projection', false) as tf.Tensor2D;
    });
  }

  /** L2-normalised text embeddings [B, projection_dim]. */
  textEmbeds(ids: tf.Tensor2D, mask?: tf.Tensor2D): tf.Tensor2D {
    return tf.tidy(() => l2normalize(this.textFeatures(ids, mask)));
  }

  /** exp(logit_scale), the learned inverse temperature (a scalar tensor). */
  logitScale(): tf.Scalar {
    return tf.tidy(() => tf.exp(this.params.get('logit_scale')) as tf.Scalar);
  }

  /** Image–text similarities [B_image, B_text] scaled by exp(logit_scale), as HF logits_per_image. */
  logitsPerImage(pixels: tf.Tensor4D, ids: tf.Tensor2D, mask?: tf.Tensor2D): tf.Tensor2D {
    return tf.tidy(() => {
      const img = this.imageEmbeds(pixels);
      const txt = this.textEmbeds(ids, mask);
      return tf.mul(tf.matMul(img, txt, false, true), this.logitScale()) as tf.Tensor2D;
    });
  }
}

export interface LoadCLIPOptions {
  /** Weight-name prefix inside the file ('' for an HF CLIPModel checkpoint). */
  prefix?: string;
  trainable?: boolean;
  /** Weights file inside `dir` (default model.safetensors). */
  weights?: string;
}

/** Load an HF CLIPModel directory (config.json + model.safetensors). */
export async function loadCLIP(dir: string, opts: LoadCLIPOptions = {}): Promise<CLIPModel> {
  const { config, host, file } = readHFFolder(dir, clipConfigFromHF, opts.weights);
  return buildWithParams(Params.fromHost(host, { trainable: opts.trainable }), file, (p) => new CLIPModel(config, p.scope(opts.prefix ?? '')));
}
