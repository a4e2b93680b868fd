import * as tf from '@tensorflow/tfjs';
import { Params } from '../nn/params';
import { GraphBuilder, MASK_VALUE } from './graph';

/*
 * Pieces shared by the exporters: weights read from tfjs variables into initializers, and the
 * layers of src/nn/layers.ts as ONNX subgraphs with the same arithmetic (so outputs match tfjs within
 * float rounding). Activations are [B, L, D] unless noted; weights enter MatMul as [in, out].
 */

/** Host copy of a tensor (optionally transformed in tfjs first). */
export function hostData(t: tf.Tensor, fn?: (x: tf.Tensor) => tf.Tensor): { data: Float32Array; dims: number[] } {
  // dataSync gives a copy (wasm) or the backend's own array (cpu); either is kept read-only.
  if (!fn) return { data: t.dataSync() as Float32Array, dims: [...t.shape] };
  const y = tf.tidy(() => fn(t));
  const out = { data: y.dataSync() as Float32Array, dims: [...y.shape] };
  y.dispose();
  return out;
}

/**
 * An export-time weight transform: `fn` on the tfjs tensor for initializers, `graph` as nodes on the
 * raw parameter input in trainable mode (GraphBuilder.paramNames) — the same arithmetic either way.
 */
export interface WeightTransform {
  tag: string;
  fn: (x: tf.Tensor) => tf.Tensor;
  graph: (g: GraphBuilder, x: string) => string;
}

/** Trainable mode: the graph input of a variable, named by its parameter name (created once). */
export function paramInput(g: GraphBuilder, v: tf.Tensor): string {
  const name = g.paramNames!.get(v.id);
  if (name === undefined) throw new Error(`onnx graph ${g.name}: tensor ${v.id} [${v.shape}] is not a model parameter`);
  return g.memo(`param:${name}`, () => g.input(name, 'float32', [...v.shape]));
}

/** Initializer of a variable as stored (deduplicated per variable and transform tag); a graph input in trainable mode. */
export function weight(g: GraphBuilder, v: tf.Tensor, stem: string, transform?: WeightTransform): string {
  const key = `${v.id}:${transform?.tag ?? ''}`;
  if (g.paramNames) {
    return g.memo(`w:${key}`, () => {
      const x = paramInput(g, v);
      return transform ? transform.graph(g, x) : x;
    });
  }
  const { data, dims } = hostData(v, transform?.fn);
  return g.init(stem, data, dims, key);
}

/** A PyTorch [out, in] linear weight as the [in, out] MatMul operand. */
export function linearWeight(g: GraphBuilder, w: tf.Tensor, stem: string): string {
  return weight(g, w, stem, { tag: 'T', fn: (x) => tf.transpose(x), graph: (gb, x) => gb.transpose(x, [1, 0]) });
}

/** Several [out_i, in] linear weights fused into one [in, Σ out_i] operand (one MatMul, then Split). */
export function fusedLinearWeight(g: GraphBuilder, ws: tf.Tensor[], stem: string): string {
  const key = `fused:${ws.map((w) => w.id).join(',')}`;
  if (g.paramNames) {
    return g.memo(`w:${key}`, () => g.transpose(g.concat(ws.map((w) => paramInput(g, w)), 0), [1, 0]));
  }
  const { data, dims } = hostData(ws[0], () => tf.transpose(tf.concat(ws, 0)));
  return g.init(stem, data, dims, key);
}

/** Biases of fused linears concatenated (matching {@link fusedLinearWeight}). */
function fusedBias(g: GraphBuilder, bs: tf.Tensor[], stem: string): string {
  const key = `fusedbias:${bs.map((t) => t.id).join(',')}`;
  if (g.paramNames) return g.memo(`w:${key}`, () => g.concat(bs.map((b) => paramInput(g, b)), 0));
  const { data, dims } = hostData(bs[0], () => tf.concat(bs, 0));
  return g.init(stem, data, dims, key);
}

/** `linear` of src/nn/layers.ts: x Wᵀ (+ b). */
export function linearG(g: GraphBuilder, x: string, p: Params, name: string, bias = true): string {
  let y = g.matMul(x, linearWeight(g, p.get(`${name}.weight`), `${name}.weight`));
  const b = bias ? p.maybe(`${name}.bias`) : undefined;
  if (b) y = g.add(y, weight(g, b, `${name}.bias`));
  return y;
}

/** q, k, v (or any group of linears on one input) as one MatMul + Split: returns the parts. */
export function fusedLinearG(g: GraphBuilder, x: string, p: Params, names: string[], bias: boolean): string[] {
  const ws = names.map((n) => p.get(`${n}.weight`));
  let y = g.matMul(x, fusedLinearWeight(g, ws, `${names[0]}.fused_weight`));
  if (bias) {
    y = g.add(y, fusedBias(g, names.map((n) => p.get(`${n}.bias`)), `${names[0]}.fused_bias`));
  }
  return g.split(y, ws.map((w) => w.shape[0]), -1);
}

/** LayerNormalization (opset 17) over the last axis. */
export function layerNormG(g: GraphBuilder, x: string, p: Params, name: string, eps: number): string {
  const scale = weight(g, p.get(`${name}.weight`), `${name}.weight`);
  const bias = weight(g, p.get(`${name}.bias`), `${name}.bias`);
  return g.op('LayerNormalization', [x, scale, bias], { axis: -1, epsilon: { float: eps } }, 'layernorm');
}

/**
 * RMS norm x / sqrt(mean(x²) + eps) · w over `axis`, written in the Pow → ReduceMean → Add → Sqrt →
 * Div → Mul form that onnxruntime fuses into SimplifiedLayerNormalization (last axis).
 */
export function rmsNormG(g: GraphBuilder, x: string, w: string, eps: number, axis = -1): string {
  const variance = g.op('ReduceMean', [g.op('Pow', [x, g.f32(2)])], { axes: [axis], keepdims: 1 });
  const y = g.div(x, g.op('Sqrt', [g.add(variance, g.f32(eps))]));
  return g.mul(y, w);
}

const SQRT_2_OVER_PI = Math.sqrt(2 / Math.PI);

/** The activations of src/nn/layers.ts `activation(name)`. */
export function activationG(g: GraphBuilder, name: string, x: string): string {
  switch (name) {
    case 'gelu': // x·½·(1 + erf(x/√2)): the pattern onnxruntime fuses into Gelu
      return g.mul(g.mul(x, g.add(g.op('Erf', [g.div(x, g.f32(Math.SQRT2))]), g.f32(1))), g.f32(0.5));
    case 'gelu_new':
    case 'gelu_pytorch_tanh':
    case 'gelu_fast': {
      const inner = g.mul(g.add(x, g.mul(g.op('Pow', [x, g.f32(3)]), g.f32(0.044715))), g.f32(SQRT_2_OVER_PI));
      return g.mul(g.mul(x, g.f32(0.5)), g.add(g.op('Tanh', [inner]), g.f32(1)));
    }
    case 'quick_gelu':
      return g.mul(x, g.sigmoid(g.mul(x, g.f32(1.702))));
    case 'relu':
      return g.relu(x);
    default:
      throw new Error(`onnx export: unsupported activation "${name}"`);
  }
}

/** [B, L, H·Dh] → [B, H, L, Dh] */
export function splitHeadsG(g: GraphBuilder, x: string, heads: number, dh: number): string {
  return g.transpose(g.reshape(x, [0, 0, heads, dh]), [0, 2, 1, 3]);
}

/** [B, H, L, Dh] → [B, L, H·Dh] */
export function mergeHeadsG(g: GraphBuilder, x: string, heads: number, dh: number): string {
  return g.reshape(g.transpose(x, [0, 2, 1, 3]), [0, 0, heads * dh]);
}

/** softmax(q kᵀ · scale + bias) v on split heads: q [B, H, Lq, Dh], k, v [B, H, Lk, Dh] → [B, H, Lq, Dh]. */
export function attentionHeadsG(g: GraphBuilder, qh: string, kh: string, vh: string, scale: number, bias?: string): string {
  let s = g.matMul(qh, g.transpose(kh, [0, 1, 3, 2]));
  if (scale !== 1) s = g.mul(s, g.f32(scale));
  if (bias) s = g.add(s, bias);
  return g.matMul(g.op('Softmax', [s], { axis: -1 }), vh);
}

/**
 * Multi-head attention on projected q [B, Lq, H·Dh], k, v [B, Lk, H·Dh] → [B, Lq, H·Dh]: softmax(q kᵀ ·
 * scale + bias) v per head, as src/nn/layers.ts `attention` (bias broadcastable to [B, H, Lq, Lk]).
 */
export function attentionG(g: GraphBuilder, q: string, k: string, v: string, heads: number, dh: number, scale: number, bias?: string): string {
  const qh = splitHeadsG(g, q, heads, dh);
  const kh = g.transpose(g.reshape(k, [0, 0, heads, dh]), [0, 2, 3, 1]); // straight to [B, H, Dh, Lk]
  const vh = splitHeadsG(g, v, heads, dh);
  let s = g.matMul(qh, kh);
  if (scale !== 1) s = g.mul(s, g.f32(scale));
  if (bias) s = g.add(s, bias);
  return mergeHeadsG(g, g.matMul(g.op('Softmax', [s], { axis: -1 }), vh), heads, dh);
}

/** Additive key mask [B, 1, 1, L] from a 0/1 mask [B, L] (int64), as src/nn/layers.ts additiveMask. */
export function additiveMaskG(g: GraphBuilder, mask: string): string {
  const m = g.cast(mask, 'float32');
  return g.unsqueeze(g.mul(g.sub(g.f32(1), m), g.f32(MASK_VALUE)), [1, 2]);
}

/** Shape(x)[axis] as an int64 scalar. */
export function dimScalar(g: GraphBuilder, x: string, axis: number): string {
  return g.op('Squeeze', [g.shape(x, axis, axis + 1), g.i64([0])]);
}

/** Tile a [1, ..] tensor along axis 0 to the batch of `like` (Expand with the batch taken from `like`). */
export function expandToBatch(g: GraphBuilder, t: string, like: string, rest: number[]): string {
  return g.op('Expand', [t, g.concat([g.shape(like, 0, 1), g.i64(rest)], 0)]);
}
