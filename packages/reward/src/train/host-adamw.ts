import { HostTensor, TensorMap } from '../io/tensors';
import { readMoments } from './optimizer-state';

/**
 * AdamW and global-norm clipping of optimizer.ts on host Float32Arrays, for gradients that arrive on the
 * host (the ORT engine). Same update — PyTorch's order, decay of rank ≥ 2 parameters only, bias-corrected
 * moments — and the same checkpoint format (`m.<param>` / `v.<param>`), so runs resume across engines.
 * Why not wrap the gradients as tensors for AdamW: that is ~15 tfjs ops per parameter and step, ≈0.6 s
 * of a tiny-preset step on tfjs-wasm (275 parameters), as long as the ORT backward itself without heatmaps.
 */
export class HostAdamW {
  readonly beta1: number;
  readonly beta2: number;
  readonly eps: number;
  readonly weightDecay: number;
  step = 0;
  private readonly m = new Map<string, Float32Array>();
  private readonly v = new Map<string, Float32Array>();
  private readonly shapes = new Map<string, number[]>();

  constructor(opts: { beta1?: number; beta2?: number; eps?: number; weightDecay?: number } = {}) {
    this.beta1 = opts.beta1 ?? 0.9;
    this.beta2 = opts.beta2 ?? 0.999;
    this.eps = opts.eps ?? 1e-8;
    this.weightDecay = opts.weightDecay ?? 0.01;
  }

  /** One update of every parameter that has a gradient, in place in `params[name].data`, at learning rate `lr`. */
  apply(
    params: Map<string, { data: Float32Array; shape: number[] }>,
    grads: Map<string, Float32Array>,
    lr0: number,
    /** Per-parameter learning-rate factor (default 1). */
    lrScale?: (name: string) => number,
  ): void {
    this.step++;
    const { beta1: b1, beta2: b2, eps } = this;
    const bc1 = 1 - b1 ** this.step;
    const bc2 = 1 - b2 ** this.step;
    for (const [name, g] of grads) {
      const p = params.get(name);
      if (!p) throw new Error(`AdamW: gradient for unknown variable "${name}"`);
      if (p.data.length !== g.length) throw new Error(`AdamW: gradient of "${name}" has ${g.length} values, parameter ${p.data.length}`);
      const m = slot(this.m, name, g.length);
      const v = slot(this.v, name, g.length);
      this.shapes.set(name, p.shape);
      const lr = lr0 * (lrScale ? lrScale(name) : 1);
      const decay = p.shape.length >= 2 && this.weightDecay > 0 ? 1 - lr * this.weightDecay : 1;
      const x = p.data;
      for (let i = 0; i < g.length; i++) {
        const m1 = m[i] * b1 + g[i] * (1 - b1);
        const v1 = v[i] * b2 + g[i] * g[i] * (1 - b2);
        m[i] = m1;
        v[i] = v1;
        x[i] = x[i] * decay - (m1 / bc1 / (Math.sqrt(v1 / bc2) + eps)) * lr;
      }
    }
  }

  async state(): Promise<TensorMap> {
    const out: TensorMap = new Map();
    for (const [prefix, map] of [['m.', this.m], ['v.', this.v]] as const) {
      for (const [k, t] of map) out.set(prefix + k, { dtype: 'float32', shape: [...this.shapes.get(k)!], data: t.slice() } as HostTensor);
    }
    return out;
  }

  /** Restore moments saved by {@link state} (or AdamW.state) and the step count. */
  load(state: TensorMap, step: number, shapes: Map<string, { shape: number[] }>): void {
    this.dispose();
    for (const { slot, name, tensor: t } of readMoments(state, shapes)) {
      (slot === 'm' ? this.m : this.v).set(name, Float32Array.from(t.data as Float32Array));
      this.shapes.set(name, [...t.shape]);
    }
    this.step = step;
  }

  dispose(): void {
    this.m.clear();
    this.v.clear();
    this.shapes.clear();
  }
}

function slot(map: Map<string, Float32Array>, name: string, n: number): Float32Array {
  let s = map.get(name);
  if (!s) {
    s = new Float32Array(n);
    map.set(name, s);
  }
  return s;
}

/**
 * clipGlobalNorm of optimizer.ts on host arrays (in place): the norm summed in name order, gradients
 * scaled by maxNorm / (norm + 1e-6) when it exceeds maxNorm (≤ 0 or Infinity: off). Returns the norm.
 */
export function clipGlobalNormHost(grads: Map<string, Float32Array>, maxNorm: number): number {
  let sq = 0;
  for (const k of [...grads.keys()].sort()) {
    const g = grads.get(k)!;
    let s = 0;
    for (let i = 0; i < g.length; i++) s += g[i] * g[i];
    sq += s;
  }
  const n = Math.sqrt(sq);
  if (maxNorm > 0 && Number.isFinite(maxNorm) && n > maxNorm) {
    const scale = maxNorm / (n + 1e-6);
    for (const g of grads.values()) for (let i = 0; i < g.length; i++) g[i] *= scale;
  }
  return n;
}
