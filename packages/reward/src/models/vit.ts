import * as tf from '@tensorflow/tfjs';
import { Params, checkParamShapes } from '../nn/params';
import { activation, attention, layerNorm, linear, matMulWeightT, mergeHeads, splitHeads } from '../nn/layers';
import { buildWithParams, expectModelType, field, intField, readHFFolder } from './hf-config';

/** The fields of HF `ViTConfig` that ViTModel (no pooler) depends on. */
export interface ViTConfig {
  hidden_size: number;
  num_hidden_layers: number;
  num_attention_heads: number;
  intermediate_size: number;
  hidden_act: string;
  layer_norm_eps: number;
  image_size: number;
  patch_size: number;
  num_channels: number;
  qkv_bias: boolean;
}

/** Parse an HF ViT config.json object; absent fields take HF's defaults (ViT-B/16 at 224). */
export function vitConfigFromHF(json: any): ViTConfig {
  expectModelType(json, ['vit']);
  const c: ViTConfig = {
    hidden_size: intField(json, 'hidden_size', 768),
    num_hidden_layers: intField(json, 'num_hidden_layers', 12),
    num_attention_heads: intField(json, 'num_attention_heads', 12),
    intermediate_size: intField(json, 'intermediate_size', 3072),
    hidden_act: field(json, 'hidden_act', 'gelu'),
    layer_norm_eps: field(json, 'layer_norm_eps', 1e-12),
    image_size: sizeField(json, 'image_size', 224),
    patch_size: sizeField(json, 'patch_size', 16),
    num_channels: intField(json, 'num_channels', 3),
    qkv_bias: field(json, 'qkv_bias', true),
  };
  activation(c.hidden_act); // fail at load time, not mid-forward
  if (c.hidden_size % c.num_attention_heads !== 0) {
    throw new Error(`config: hidden_size ${c.hidden_size} is not a multiple of num_attention_heads ${c.num_attention_heads}`);
  }
  return c;
}

/** HF allows image_size / patch_size as an int or a square [h, w] pair. */
export function sizeField(json: any, key: string, fallback: number, where = 'config'): number {
  const v = json?.[key];
  if (Array.isArray(v)) {
    if (v.length !== 2 || v[0] !== v[1]) throw new Error(`${where}.${key}: only square sizes are supported, got ${JSON.stringify(v)}`);
    return intField({ [key]: v[0] }, key, fallback, where);
  }
  return intField(json, key, fallback, where);
}

// ---------------------------------------------------------------------------------------------
// Pieces shared with CLIP's vision and text towers.

/** Parameter names (relative to one layer) of a pre-LayerNorm transformer block. */
export interface PreLNBlockNames {
  ln1: string;
  q: string;
  k: string;
  v: string;
  o: string;
  ln2: string;
  fc1: string;
  fc2: string;
}

/** HF ViTLayer names. */
export const VIT_BLOCK: PreLNBlockNames = {
  ln1: 'layernorm_before',
  q: 'attention.attention.query',
  k: 'attention.attention.key',
  v: 'attention.attention.value',
  o: 'attention.output.dense',
  ln2: 'layernorm_after',
  fc1: 'intermediate.dense',
  fc2: 'output.dense',
};

export interface PreLNBlockOptions {
  heads: number;
  eps: number;
  act: (x: tf.Tensor) => tf.Tensor;
  qkvBias: boolean;
}

/** `linear` that insists on the bias when one is expected (a missing bias must not pass silently). */
export function dense(x: tf.Tensor, p: Params, name: string, bias: boolean): tf.Tensor {
  const y = linear(x, p, name, false);
  return bias ? tf.add(y, p.get(`${name}.bias`)) : y;
}

/**
 * x + Attn(LN1(x)), then + MLP(LN2(·)) — the block of ViT, CLIP and most post-2020 encoders.
 * `bias` (broadcastable to [B,H,L,L]) carries causal / padding masks.
 */
export function preLNBlock(x: tf.Tensor3D, p: Params, n: PreLNBlockNames, o: PreLNBlockOptions, bias?: tf.Tensor): tf.Tensor3D {
  const d = x.shape[2];
  const h = layerNorm(x, p, n.ln1, o.eps);
  const q = splitHeads(dense(h, p, n.q, o.qkvBias), o.heads);
  const k = splitHeads(dense(h, p, n.k, o.qkvBias), o.heads);
  const v = splitHeads(dense(h, p, n.v, o.qkvBias), o.heads);
  const a = mergeHeads(attention(q, k, v, 1 / Math.sqrt(d / o.heads), bias));
  const x1 = tf.add(x, dense(a, p, n.o, true));
  const m = dense(o.act(dense(layerNorm(x1, p, n.ln2, o.eps), p, n.fc1, true)), p, n.fc2, true);
  return tf.add(x1, m) as tf.Tensor3D;
}

/** Expected [name, shape] of one pre-LN block's parameters. */
export function preLNBlockShapes(prefix: string, n: PreLNBlockNames, d: number, inner: number, qkvBias: boolean): [string, number[]][] {
  const out: [string, number[]][] = [];
  for (const lin of [n.q, n.k, n.v]) {
    out.push([`${prefix}${lin}.weight`, [d, d]]);
    if (qkvBias) out.push([`${prefix}${lin}.bias`, [d]]);
  }
  out.push([`${prefix}${n.o}.weight`, [d, d]], [`${prefix}${n.o}.bias`, [d]]);
  for (const ln of [n.ln1, n.ln2]) out.push([`${prefix}${ln}.weight`, [d]], [`${prefix}${ln}.bias`, [d]]);
  out.push([`${prefix}${n.fc1}.weight`, [inner, d]], [`${prefix}${n.fc1}.bias`, [inner]]);
  out.push([`${prefix}${n.fc2}.weight`, [d, inner]], [`${prefix}${n.fc2}.bias`, [d]]);
  return out;
}

/**
 * Non-overlapping patch embedding (a stride-P conv) as reshape/transpose + one matMul, so it has
 * gradients on every backend. pixels NHWC [B,H,W,C]; weight PyTorch conv layout [D,C,P,P].
 * Like the conv, trailing rows/columns that do not fill a patch are dropped.
 * Returns [B, gh*gw, D] in row-major patch order (HF's flatten(2)) and the grid size.
 */
export function patchEmbed(pixels: tf.Tensor4D, weight: tf.Tensor, bias?: tf.Tensor): { tokens: tf.Tensor3D; grid: [number, number] } {
  const [b, h, w, c] = pixels.shape;
  const [d, wc, p] = weight.shape;
  if (wc !== c) throw new Error(`patch embedding expects ${wc} channels, pixels have ${c} (pixels must be NHWC)`);
  const gh = Math.floor(h / p);
  const gw = Math.floor(w / p);
  if (gh === 0 || gw === 0) throw new Error(`image ${h}x${w} is smaller than one ${p}x${p} patch`);
  let x: tf.Tensor = pixels;
  if (gh * p !== h || gw * p !== w) x = tf.slice(x, [0, 0, 0, 0], [b, gh * p, gw * p, c]);
  // [B*gh, P, gw, P*C] → [B*gh, gw, P, P*C]: each row is one patch flattened as (py, px, c).
  const patches = x.reshape([b * gh, p, gw, p * c]).transpose([0, 2, 1, 3]).reshape([b * gh * gw, p * p * c]);
  const wm = weight.transpose([0, 2, 3, 1]).reshape([d, p * p * c]); // same (py, px, c) order
  let y: tf.Tensor = matMulWeightT(patches as tf.Tensor2D, wm as tf.Tensor2D);
  if (bias) y = tf.add(y, bias);
  return { tokens: y.reshape([b, gh * gw, d]) as tf.Tensor3D, grid: [gh, gw] };
}

const CUBIC_A = -0.75; // PyTorch's bicubic (Keys kernel with a = -0.75)

function cubic1(x: number): number {
  return ((CUBIC_A + 2) * x - (CUBIC_A + 3)) * x * x + 1; // |x| ≤ 1
}
function cubic2(x: number): number {
  return ((CUBIC_A * x - 5 * CUBIC_A) * x + 8 * CUBIC_A) * x - 4 * CUBIC_A; // 1 < |x| < 2
}

/**
 * 1-D resampling matrix [outSize, inSize] of torch.nn.functional.interpolate(mode='bicubic',
 * align_corners=False, size=outSize): source coordinate (i+0.5)·in/out − 0.5, four taps with the
 * a = −0.75 kernel, taps beyond the edge clamped to the border sample (PyTorch's
 * upsample_bicubic2d; idea ported, not code). Same size gives the identity.
 */
export function bicubicMatrix(inSize: number, outSize: number): Float32Array {
  const m = new Float32Array(outSize * inSize);
  const scale = inSize / outSize;
  for (let i = 0; i < outSize; i++) {
    const src = scale * (i + 0.5) - 0.5;
    const x0 = Math.floor(src);
    const t = src - x0;
    const w = [cubic2(t + 1), cubic1(t), cubic1(1 - t), cubic2(2 - t)];
    for (let k = 0; k < 4; k++) {
      const idx = Math.min(Math.max(x0 - 1 + k, 0), inSize - 1);
      m[i * inSize + idx] += w[k];
    }
  }
  return m;
}

/**
 * Bicubic resize of a position-embedding grid [gh*gw, D] (row-major grid) to [nh*nw, D], as one
 * matMul with the Kronecker product of the row and column matrices: exact and differentiable.
 */
export function interpolatePosGrid(pos: tf.Tensor2D, from: [number, number], to: [number, number]): tf.Tensor2D {
  const [gh, gw] = from;
  const [nh, nw] = to;
  if (pos.shape[0] !== gh * gw) throw new Error(`position grid has ${pos.shape[0]} rows, expected ${gh}x${gw}`);
  if (gh === nh && gw === nw) return pos;
  const my = bicubicMatrix(gh, nh);
  const mx = bicubicMatrix(gw, nw);
  const k = new Float32Array(nh * nw * gh * gw);
  for (let i = 0; i < nh; i++)
    for (let j = 0; j < nw; j++) {
      const row = (i * nw + j) * gh * gw;
      for (let a = 0; a < gh; a++) {
        const wy = my[i * gh + a];
        if (wy === 0) continue;
        for (let b = 0; b < gw; b++) k[row + a * gw + b] = wy * mx[j * gw + b];
      }
    }
  return tf.tidy(() => tf.matMul(tf.tensor2d(k, [nh * nw, gh * gw]), pos));
}

/**
 * Position embeddings [1+N, D] (CLS first, then a square grid) adapted to a patch grid, per HF
 * interpolate_pos_encoding: unchanged for the trained grid, else the patch part resized bicubically.
 */
export function positionEmbeddingsFor(pos: tf.Tensor2D, grid: [number, number]): tf.Tensor2D {
  const n0 = pos.shape[0] - 1;
  const g0 = Math.round(Math.sqrt(n0));
  if (g0 * g0 !== n0) throw new Error(`position embeddings hold ${n0} patches, not a square grid`);
  if (grid[0] === g0 && grid[1] === g0) return pos;
  const [cls, patches] = tf.split(pos, [1, n0], 0);
  return tf.concat([cls, interpolatePosGrid(patches as tf.Tensor2D, [g0, g0], grid)], 0) as tf.Tensor2D;
}

// ---------------------------------------------------------------------------------------------

/**
 * HF ViTModel with add_pooling_layer=False: returns last_hidden_state after the final LayerNorm.
 * Pooler weights in the checkpoint are ignored. Inputs are NHWC, already normalised; any size that
 * is a whole number of patches works (positions interpolated as HF's interpolate_pos_encoding).
 */
export class ViTModel {
  private readonly act: (x: tf.Tensor) => tf.Tensor;

  constructor(
    readonly config: ViTConfig,
    readonly params: Params,
  ) {
    this.act = activation(config.hidden_act);
    checkParamShapes(params, vitParamShapes(config));
  }

  /** Patch + CLS + position embeddings: [B, 1+N, D]. */
  embeddings(pixels: tf.Tensor4D): tf.Tensor3D {
    return tf.tidy(() => {
      const p = this.params.scope('embeddings.');
      const { tokens, grid } = patchEmbed(
        pixels,
        p.get('patch_embeddings.projection.weight'),
        p.get('patch_embeddings.projection.bias'),
      );
      const b = pixels.shape[0];
      const d = this.config.hidden_size;
      const cls = tf.tile(p.get('cls_token'), [b, 1, 1]);
      const pos = positionEmbeddingsFor(p.get('position_embeddings').reshape([-1, d]) as tf.Tensor2D, grid);
      return tf.add(tf.concat([cls, tokens], 1), pos) as tf.Tensor3D;
    });
  }

  /** last_hidden_state [B, 1+N, D]. */
  forward(pixels: tf.Tensor4D): tf.Tensor3D {
    return tf.tidy(() => {
      let x = this.embeddings(pixels);
      const opts: PreLNBlockOptions = {
        heads: this.config.num_attention_heads,
        eps: this.config.layer_norm_eps,
        act: this.act,
        qkvBias: this.config.qkv_bias,
      };
      for (let i = 0; i < this.config.num_hidden_layers; i++) {
        x = preLNBlock(x, this.params.scope(`encoder.layer.${i}.`), VIT_BLOCK, opts);
      }
      return layerNorm(x, this.params, 'layernorm', this.config.layer_norm_eps) as tf.Tensor3D;
    });
  }
}

/** Every parameter ViTModel reads, with its shape. */
export function vitParamShapes(c: ViTConfig): [string, number[]][] {
  const d = c.hidden_size;
  const n = (c.image_size / c.patch_size) ** 2;
  if (!Number.isInteger(n)) throw new Error(`config: image_size ${c.image_size} is not a multiple of patch_size ${c.patch_size}`);
  const out: [string, number[]][] = [
    ['embeddings.cls_token', [1, 1, d]],
    ['embeddings.position_embeddings', [1, n + 1, d]],
    ['embeddings.patch_embeddings.projection.weight', [d, c.num_channels, c.patch_size, c.patch_size]],
    ['embeddings.patch_embeddings.projection.bias', [d]],
  ];
  for (let i = 0; i < c.num_hidden_layers; i++) {
    out.push(...preLNBlockShapes(`encoder.layer.${i}.`, VIT_BLOCK, d, c.intermediate_size, c.qkv_bias));
  }
  out.push(['layernorm.weight', [d]], ['layernorm.bias', [d]]);
  return out;
}

export interface LoadViTOptions {
  /** Weight-name prefix ('vit.' in RAHF checkpoints); detected from the file when omitted. */
  prefix?: string;
  trainable?: boolean;
  /** Weights file inside `dir` (default model.safetensors). */
  weights?: string;
}

/** Load an HF ViT directory (config.json + model.safetensors). */
export async function loadViT(dir: string, opts: LoadViTOptions = {}): Promise<ViTModel> {
  const { config, host, file } = readHFFolder(dir, vitConfigFromHF, opts.weights);
  const prefix = opts.prefix ?? (host.has('embeddings.cls_token') || !host.has('vit.embeddings.cls_token') ? '' : 'vit.');
  return buildWithParams(Params.fromHost(host, { trainable: opts.trainable }), file, (p) => new ViTModel(config, p.scope(prefix)));
}
