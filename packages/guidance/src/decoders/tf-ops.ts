import * as tf from '@tensorflow/tfjs';
import type { TensorMap } from '@richhf/reward/io';
import { Activation, ConvSpec, NetOps } from './net';

/*
 * The network ops in tfjs, NHWC (tfjs convolutions take channels last on every backend). Every op has a
 * tfjs gradient, so tf.grad / tf.valueAndGrad work through a whole decoder.
 */

/** Weights as tfjs tensors: conv filters moved to HWIO once, everything else as stored. */
export class TfWeights {
  private readonly tensors = new Map<string, tf.Tensor>();

  constructor(host: TensorMap, names: Iterable<string>) {
    for (const name of names) {
      const t = host.get(name);
      if (!t) throw new Error(`TfWeights: no tensor "${name}"`);
      const x = tf.tensor(t.data as Float32Array, t.shape, 'float32');
      if (t.shape.length === 4) {
        this.tensors.set(name, tf.transpose(x, [2, 3, 1, 0]));
        x.dispose();
      } else this.tensors.set(name, x);
    }
  }

  get(name: string): tf.Tensor {
    const t = this.tensors.get(name);
    if (!t) throw new Error(`TfWeights: no tensor "${name}"`);
    return t;
  }

  /** The filter of a stride-1 conv's input gradient: spatially flipped, in and out swapped (made once). */
  flipped(name: string): tf.Tensor4D {
    const key = `${name}#flipped`;
    let t = this.tensors.get(key);
    if (!t) {
      const f = this.get(name) as tf.Tensor4D;
      // Kept: first made inside a caller's tidy, it outlives it (disposed with the weights).
      t = tf.keep(tf.tidy(() => tf.transpose(tf.reverse(f, [0, 1]), [0, 1, 3, 2])));
      this.tensors.set(key, t);
    }
    return t as tf.Tensor4D;
  }

  has(name: string): boolean {
    return this.tensors.has(name);
  }

  dispose(): void {
    for (const t of this.tensors.values()) t.dispose();
    this.tensors.clear();
  }
}

export class TfOps implements NetOps<tf.Tensor4D> {
  constructor(private readonly w: TfWeights) {}

  channels(x: tf.Tensor4D): number {
    return x.shape[3];
  }

  conv(x: tf.Tensor4D, name: string, s: ConvSpec): tf.Tensor4D {
    const h = s.k >> 1;
    const [t, l, b, r] = s.pad ?? [h, h, h, h];
    const stride = s.stride ?? 1;
    const filter = this.w.get(`${name}.weight`) as tf.Tensor4D;
    const bias = s.bias === false ? undefined : this.w.get(`${name}.bias`);
    const same = stride === 1 && t === h && l === h && b === h && r === h;
    const input = same || (t | l | b | r) === 0 ? x : tf.pad(x, [[0, 0], [t, b], [l, r], [0, 0]]);
    // Not tf.fused.conv2d: its gradient always computes the filter gradient, a kernel tfjs-wasm lacks.
    const y = same ? this.convSame(input, `${name}.weight`) : tf.conv2d(input, filter, stride, 'valid');
    return bias ? tf.add(y, bias) : y;
  }

  /**
   * A stride-1 "same" conv whose input gradient is the forward conv with the flipped filter: tfjs-wasm's
   * Conv2DBackpropInput is ~14× slower than its Conv2D (measured on TAESD at 128²: 4.6 s against 0.33 s).
   * Weights get no gradient (they are constants here).
   */
  private convSame(x: tf.Tensor4D, name: string): tf.Tensor4D {
    const filter = this.w.get(name) as tf.Tensor4D;
    const back = this.w.flipped(name);
    const f = tf.customGrad((input) => ({
      value: tf.conv2d(input as tf.Tensor4D, filter, 1, 'same'),
      gradFunc: (dy: tf.Tensor) => tf.conv2d(dy as tf.Tensor4D, back, 1, 'same'),
    }));
    return f(x) as tf.Tensor4D;
  }

  act(x: tf.Tensor4D, fn: Activation): tf.Tensor4D {
    if (fn === 'relu') return tf.relu(x);
    if (fn === 'silu') return tf.mul(x, tf.sigmoid(x));
    return tf.mul(tf.mul(x, 0.5), tf.add(1, tf.erf(tf.mul(x, Math.SQRT1_2))));
  }

  groupNorm(x: tf.Tensor4D, name: string, groups: number, eps: number): tf.Tensor4D {
    const [n, hh, ww, c] = x.shape;
    const g = tf.reshape(x, [n, hh, ww, groups, c / groups]);
    const { mean, variance } = tf.moments(g, [1, 2, 4], true);
    const y = tf.reshape(tf.mul(tf.sub(g, mean), tf.rsqrt(tf.add(variance, eps))), x.shape);
    return tf.add(tf.mul(y, this.w.get(`${name}.weight`)), this.w.get(`${name}.bias`)) as tf.Tensor4D;
  }

  upsample(x: tf.Tensor4D, f: number): tf.Tensor4D {
    // align_corners = half_pixel = false: source index ⌊dst / f⌋, torch's "nearest".
    return tf.image.resizeNearestNeighbor(x, [x.shape[1] * f, x.shape[2] * f]);
  }

  upsampleConv(x: tf.Tensor4D, f: number, name: string, s: ConvSpec): tf.Tensor4D {
    return this.conv(this.upsample(x, f), name, s);
  }

  add(a: tf.Tensor4D, b: tf.Tensor4D): tf.Tensor4D {
    return tf.add(a, b);
  }

  affine(x: tf.Tensor4D, a: number, b: number): tf.Tensor4D {
    const y: tf.Tensor4D = a === 1 ? x : tf.mul(x, a);
    return b === 0 ? y : tf.add(y, b);
  }

  channelAffine(x: tf.Tensor4D, a: number[], b: number[]): tf.Tensor4D {
    if (a.every((v) => v === 1) && b.every((v) => v === 0)) return x;
    return tf.add(tf.mul(x, tf.tensor1d(a)), tf.tensor1d(b));
  }

  tanh(x: tf.Tensor4D): tf.Tensor4D {
    return tf.tanh(x);
  }

  sliceChannels(x: tf.Tensor4D, start: number, end: number): tf.Tensor4D {
    return tf.slice(x, [0, 0, 0, start], [-1, -1, -1, end - start]);
  }

  spatialAttention(x: tf.Tensor4D, name: string, heads: number): tf.Tensor4D {
    const [n, h, w, c] = x.shape;
    const d = c / heads;
    const tokens = tf.reshape(x, [n * h * w, c]) as tf.Tensor2D;
    const proj = (p: string, v: tf.Tensor2D): tf.Tensor2D => tf.add(tf.matMul(v, this.w.get(`${name}.${p}.weight`) as tf.Tensor2D, false, true), this.w.get(`${name}.${p}.bias`)) as tf.Tensor2D;
    const split = (v: tf.Tensor2D) => tf.transpose(tf.reshape(v, [n, h * w, heads, d]), [0, 2, 1, 3]) as tf.Tensor4D;
    const q = split(proj('to_q', tokens));
    const k = split(proj('to_k', tokens));
    const v = split(proj('to_v', tokens));
    const att = tf.softmax(tf.mul(tf.matMul(q, k, false, true), 1 / Math.sqrt(d)));
    const o = tf.reshape(tf.transpose(tf.matMul(att, v), [0, 2, 1, 3]), [n * h * w, c]) as tf.Tensor2D;
    return tf.reshape(proj('to_out.0', o), [n, h, w, c]);
  }
}
