import * as tf from '@tensorflow/tfjs';
import { HostTensor, TensorMap } from '../io/tensors';
import { readMoments } from './optimizer-state';

/**
 * AdamW (Loshchilov & Hutter) with PyTorch's update order: decoupled decay p ← p·(1 − lr·wd), then
 * p ← p − lr·m̂/(√v̂ + eps) with bias-corrected moments. tfjs's AdamOptimizer has no decoupled decay and
 * keeps its state out of reach, so checkpoints could not hold it; this one exposes the moments as named
 * tensors (saved beside the weights so a resumed run continues exactly).
 *
 * Weight decay applies to matrices and filters only (rank ≥ 2): biases and norm scales are not decayed,
 * the usual practice for transformers (decaying RMSNorm scales towards 0 fights the normalisation).
 */
export interface AdamWOptions {
  beta1?: number;
  beta2?: number;
  eps?: number;
  weightDecay?: number;
}

export class AdamW {
  readonly beta1: number;
  readonly beta2: number;
  readonly eps: number;
  readonly weightDecay: number;
  /** Updates applied so far (bias correction uses step + 1 for the next one). */
  step = 0;
  private readonly m = new Map<string, tf.Variable>();
  private readonly v = new Map<string, tf.Variable>();

  constructor(opts: AdamWOptions = {}) {
    this.beta1 = opts.beta1 ?? 0.9;
    this.beta2 = opts.beta2 ?? 0.999;
    this.eps = opts.eps ?? 1e-8;
    this.weightDecay = opts.weightDecay ?? 0.01;
  }

  private slot(map: Map<string, tf.Variable>, name: string, like: tf.Tensor): tf.Variable {
    let s = map.get(name);
    if (!s) {
      s = tf.variable(tf.zerosLike(like), false);
      map.set(name, s);
    }
    return s;
  }

  /** One update of every variable that has a gradient, at learning rate `lr`. */
  apply(vars: Map<string, tf.Variable>, grads: Map<string, tf.Tensor>, lr0: number, lrScale?: (name: string) => number): void {
    this.step++;
    const t = this.step;
    const bc1 = 1 - this.beta1 ** t;
    const bc2 = 1 - this.beta2 ** t;
    for (const [name, g] of grads) {
      const p = vars.get(name);
      if (!p) throw new Error(`AdamW: gradient for unknown variable "${name}"`);
      const m = this.slot(this.m, name, p);
      const v = this.slot(this.v, name, p);
      const lr = lr0 * (lrScale ? lrScale(name) : 1);
      tf.tidy(() => {
        const m1 = tf.add(tf.mul(m, this.beta1), tf.mul(g, 1 - this.beta1));
        const v1 = tf.add(tf.mul(v, this.beta2), tf.mul(tf.square(g), 1 - this.beta2));
        m.assign(m1);
        v.assign(v1);
        const decayed = p.rank >= 2 && this.weightDecay > 0 ? tf.mul(p, 1 - lr * this.weightDecay) : p;
        const denom = tf.add(tf.sqrt(tf.div(v1, bc2)), this.eps);
        p.assign(tf.sub(decayed, tf.mul(tf.div(tf.div(m1, bc1), denom), lr)));
      });
    }
  }

  /** Moments as host tensors, named `m.<param>` / `v.<param>` (for a safetensors file). */
  async state(): Promise<TensorMap> {
    const out: TensorMap = new Map();
    for (const [prefix, map] of [['m.', this.m], ['v.', this.v]] as const) {
      for (const [k, t] of map) {
        out.set(prefix + k, { dtype: 'float32', shape: [...t.shape], data: (await t.data()) as Float32Array } as HostTensor);
      }
    }
    return out;
  }

  /** Restore moments saved by {@link state} and the step count. */
  load(state: TensorMap, step: number, vars: Map<string, tf.Variable>): void {
    this.dispose();
    for (const { slot, name, tensor: t } of readMoments(state, vars)) {
      (slot === 'm' ? this.m : this.v).set(name, tf.variable(tf.tensor(t.data as Float32Array, t.shape, 'float32'), false));
    }
    this.step = step;
  }

  dispose(): void {
    for (const s of [...this.m.values(), ...this.v.values()]) s.dispose();
    this.m.clear();
    this.v.clear();
  }
}

/**
 * Scale gradients so their global L2 norm is at most `maxNorm` (in place in the map); returns the norm
 * before clipping. maxNorm ≤ 0 or Infinity disables clipping.
 */
export async function clipGlobalNorm(grads: Map<string, tf.Tensor>, maxNorm: number): Promise<number> {
  // Summed in name order: the result must not depend on the map's insertion order (a resumed model
  // lists its variables in checkpoint order), or a resumed run would drift from an uninterrupted one.
  const norm = tf.tidy(() => {
    const sq = [...grads.keys()].sort().map((k) => tf.sum(tf.square(grads.get(k)!)));
    return tf.sqrt(tf.addN(sq));
  });
  // Async read: dataSync() is unavailable on tfjs-webgpu in Node (it needs OffscreenCanvas).
  const n = (await norm.data())[0];
  norm.dispose();
  if (maxNorm > 0 && Number.isFinite(maxNorm) && n > maxNorm) {
    const scale = maxNorm / (n + 1e-6);
    for (const [k, g] of grads) {
      grads.set(k, tf.mul(g, scale));
      g.dispose();
    }
  }
  return n;
}
