import * as tf from '@tensorflow/tfjs';
import { Params } from './params';
import { fusedGelu, fusedGeluActive } from '../gpu/gelu';
import { RMS_NORM, fusedLayerNorm, fusedNormsActive, fusedRmsNorm } from '../gpu/norm';
import { fusedScaledSoftmax, fusedSoftmaxActive } from '../gpu/softmax';

/** x·Wᵀ with the transposed copy of W freed at once (left to an enclosing tidy, the copies of all
 * weights would live together and double the model's memory: the paper preset overflows wasm's 4 GB). */
function forwardWeightT(x: tf.Tensor2D, w: tf.Tensor2D): tf.Tensor2D {
  const wt = tf.transpose(w) as tf.Tensor2D;
  const y = tf.matMul(x, wt) as tf.Tensor2D;
  wt.dispose();
  return y;
}

// Both inputs differentiable (training): dx = dy W (no transpose at all), dW = dyᵀ x.
const weightTTrainable = tf.customGrad(((x: tf.Tensor, w: tf.Tensor, save: tf.GradSaveFunc) => {
  save([x, w]);
  return {
    value: forwardWeightT(x as tf.Tensor2D, w as tf.Tensor2D),
    gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) => {
      const [xs, ws] = saved as [tf.Tensor2D, tf.Tensor2D];
      const g = dy as tf.Tensor2D;
      const gt = tf.transpose(g);
      const dw = tf.matMul(gt, xs);
      gt.dispose();
      return [tf.matMul(g, ws), dw];
    },
  };
}) as unknown as Parameters<typeof tf.customGrad>[0]) as (x: tf.Tensor2D, w: tf.Tensor2D) => tf.Tensor2D;

/**
 * GPU path only: on webgpu the tiled matMul (src/gpu/matmul.ts) reads either operand layout at full
 * speed, so x·Wᵀ goes in one dispatch with W passed transposed by flag, and tfjs's own gradient
 * (dx = dy·W, dW = dyᵀ·x by flag; no dW for a frozen W, which is off the differentiated path) needs
 * no explicit transposes either. RAHF_LINEAR_TRANSPOSE=explicit keeps the form below there too (the
 * GPU check compares both). The same products, so the same results up to summation order.
 */
function transposeByFlag(): boolean {
  return tf.getBackend() === 'webgpu' && process.env.RAHF_LINEAR_TRANSPOSE !== 'explicit';
}

/**
 * x Wᵀ for x [N, in] and a PyTorch-layout weight W [out, in], with a gradient that avoids matMul's
 * transpose flags: on tfjs-wasm a transposed operand takes a slow path (≈10× at every size measured:
 * 1.6 s vs 0.2 s for [200,768]×[3072,768]ᵀ), while an explicit transpose of W costs a few percent.
 * A frozen weight (a non-trainable variable, as in inference and scoreGrad) is closed over as a
 * constant, so the backward pass computes dx only and never a weight-sized dW.
 */
export function matMulWeightT(x: tf.Tensor2D, w: tf.Tensor2D): tf.Tensor2D {
  if (transposeByFlag()) return tf.matMul(x, w, false, true);
  if (!(w instanceof tf.Variable) || w.trainable) return weightTTrainable(x, w);
  const f = tf.customGrad(((xi: tf.Tensor, save: tf.GradSaveFunc) => {
    save([]);
    return {
      value: forwardWeightT(xi as tf.Tensor2D, w),
      // dx = dy·W computed as (Wᵀ·dyᵀ)ᵀ: tfjs-wasm keeps XNNPACK's packed copy of a matMul's right
      // operand for as long as that tensor lives, so W itself as the right operand would pin a second
      // packed copy of every weight (the paper preset then runs out of wasm memory).
      gradFunc: (dy: tf.Tensor | tf.Tensor[]) => [
        tf.tidy(() => tf.transpose(tf.matMul(tf.transpose(w), tf.transpose(dy as tf.Tensor2D)))),
      ],
    };
  }) as unknown as Parameters<typeof tf.customGrad>[0]) as (x: tf.Tensor2D) => tf.Tensor2D;
  return f(x);
}

/** y = x Wᵀ + b with a PyTorch-layout weight [out, in]; x may have any number of leading dims. */
export function linear(x: tf.Tensor, p: Params, name: string, bias = true): tf.Tensor {
  const w = p.get(`${name}.weight`);
  const inDim = x.shape[x.shape.length - 1];
  const lead = x.shape.slice(0, -1);
  let y: tf.Tensor = matMulWeightT(x.reshape([-1, inDim]) as tf.Tensor2D, w as tf.Tensor2D);
  const b = bias ? p.maybe(`${name}.bias`) : undefined;
  if (b) y = tf.add(y, b);
  return y.reshape([...lead, w.shape[0]]);
}

export function layerNorm(x: tf.Tensor, p: Params, name: string, eps: number): tf.Tensor {
  // webgpu only: one fused kernel each way (src/gpu/norm.ts); every other backend composes ops.
  const w = p.get(`${name}.weight`);
  const bias = p.get(`${name}.bias`);
  if (bias.rank === 1 && fusedNormsActive(x, w)) return fusedLayerNorm(x, w, bias, eps);
  const axis = x.rank - 1;
  const mean = tf.mean(x, axis, true);
  const xc = tf.sub(x, mean);
  const variance = tf.mean(tf.square(xc), axis, true);
  const y = tf.mul(xc, tf.rsqrt(tf.add(variance, eps)));
  return tf.add(tf.mul(y, w), bias);
}

/** T5 / RMS norm: no mean subtraction, no bias. */
export function rmsNorm(x: tf.Tensor, weight: tf.Tensor, eps: number, axis = x.rank - 1): tf.Tensor {
  if (axis === x.rank - 1 && fusedNormsActive(x, weight, RMS_NORM)) return fusedRmsNorm(x, weight, eps);
  const variance = tf.mean(tf.square(x), axis, true);
  return tf.mul(tf.mul(x, tf.rsqrt(tf.add(variance, eps))), weight);
}

const SQRT_2_OVER_PI = Math.sqrt(2 / Math.PI);

/** Exact GELU (erf), HF "gelu". */
export function gelu(x: tf.Tensor): tf.Tensor {
  if (fusedGeluActive(x)) return fusedGelu(x); // webgpu only (src/gpu/gelu.ts)
  return tf.mul(tf.mul(x, 0.5), tf.add(1, tf.erf(tf.mul(x, Math.SQRT1_2))));
}

/** Tanh approximation, HF "gelu_new" / "gelu_pytorch_tanh". */
export function geluNew(x: tf.Tensor): tf.Tensor {
  const inner = tf.mul(tf.add(x, tf.mul(tf.pow(x, 3), 0.044715)), SQRT_2_OVER_PI);
  return tf.mul(tf.mul(x, 0.5), tf.add(1, tf.tanh(inner)));
}

/** CLIP's x·σ(1.702x), HF "quick_gelu". */
export function quickGelu(x: tf.Tensor): tf.Tensor {
  return tf.mul(x, tf.sigmoid(tf.mul(x, 1.702)));
}

export function activation(name: string): (x: tf.Tensor) => tf.Tensor {
  switch (name) {
    case 'gelu':
      return gelu;
    case 'gelu_new':
    case 'gelu_pytorch_tanh':
    case 'gelu_fast':
      return geluNew;
    case 'quick_gelu':
      return quickGelu;
    case 'relu':
      return tf.relu;
    default:
      throw new Error(`unsupported activation "${name}"`);
  }
}

/** [B, L, H*Dh] → [B, H, L, Dh] */
export function splitHeads(x: tf.Tensor, heads: number): tf.Tensor4D {
  const [b, l, d] = x.shape;
  return x.reshape([b, l, heads, d / heads]).transpose([0, 2, 1, 3]) as tf.Tensor4D;
}

/** [B, H, L, Dh] → [B, L, H*Dh] */
export function mergeHeads(x: tf.Tensor): tf.Tensor3D {
  const [b, h, l, dh] = x.shape;
  return x.transpose([0, 2, 1, 3]).reshape([b, l, h * dh]) as tf.Tensor3D;
}

/**
 * Scaled dot-product attention over split heads. `scale` multiplies QKᵀ (T5 uses 1, others 1/√Dh);
 * `bias` (broadcastable to [B,H,Lq,Lk]) is added before softmax — relative positions and masks go here.
 */
export function attention(q: tf.Tensor4D, k: tf.Tensor4D, v: tf.Tensor4D, scale: number, bias?: tf.Tensor): tf.Tensor4D {
  let s: tf.Tensor = tf.matMul(q, k, false, true);
  // webgpu only: scale, bias and softmax in one kernel each way (src/gpu/softmax.ts).
  if (fusedSoftmaxActive(s, bias)) return tf.matMul(fusedScaledSoftmax(s, scale, bias), v) as tf.Tensor4D;
  if (scale !== 1) s = tf.mul(s, scale);
  if (bias) s = tf.add(s, bias);
  return tf.matMul(tf.softmax(s), v) as tf.Tensor4D;
}

/** Additive mask from a [B, Lk] 0/1 mask: 0 where attended, a large negative where masked. */
export function additiveMask(mask: tf.Tensor): tf.Tensor {
  const [b, l] = mask.shape;
  return tf.mul(tf.sub(1, tf.cast(mask, 'float32')), -3.4028234663852886e38 / 2).reshape([b, 1, 1, l]);
}
