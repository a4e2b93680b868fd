import * as tf from '@tensorflow/tfjs';
import { TensorMap, sameShape } from '../io/tensors';

/**
 * Named parameters with Hugging Face / checkpoint names. Models read their weights through a prefixed
 * view (`params.scope('encoder.')`) so one store serves a whole composite model, and every read is
 * recorded so loaders can report keys a checkpoint has that the model never used.
 */
export class Params {
  private readonly used: Set<string>;
  constructor(
    readonly tensors: Map<string, tf.Variable>,
    private readonly prefix = '',
    used?: Set<string>,
  ) {
    this.used = used ?? new Set();
  }

  static fromHost(map: TensorMap, opts: { trainable?: boolean; rename?: (k: string) => string | undefined } = {}): Params {
    const out = new Map<string, tf.Variable>();
    for (const [k0, t] of map) {
      const k = opts.rename ? opts.rename(k0) : k0;
      if (k === undefined) continue;
      const tensor = tf.tensor(t.data as Float32Array, t.shape, t.dtype === 'bool' ? 'bool' : t.dtype);
      out.set(k, tf.variable(tensor, opts.trainable ?? false, undefined, t.dtype === 'bool' ? 'bool' : t.dtype));
      tensor.dispose();
    }
    return new Params(out);
  }

  scope(prefix: string): Params {
    return new Params(this.tensors, this.prefix + prefix, this.used);
  }

  has(name: string): boolean {
    return this.tensors.has(this.prefix + name);
  }

  get(name: string): tf.Variable {
    const full = this.prefix + name;
    const t = this.tensors.get(full);
    if (!t) throw new Error(`missing parameter "${full}"`);
    this.used.add(full);
    return t;
  }

  /** `get` when present, otherwise undefined (optional biases). */
  maybe(name: string): tf.Variable | undefined {
    return this.has(name) ? this.get(name) : undefined;
  }

  set(name: string, value: tf.Tensor, trainable = false): void {
    const full = this.prefix + name;
    this.tensors.get(full)?.dispose();
    this.tensors.set(full, tf.variable(value, trainable));
  }

  unused(): string[] {
    return [...this.tensors.keys()].filter((k) => k.startsWith(this.prefix) && !this.used.has(k));
  }

  variables(): tf.Variable[] {
    return [...this.tensors.entries()].filter(([k]) => k.startsWith(this.prefix)).map(([, v]) => v);
  }

  dispose(): void {
    for (const v of this.tensors.values()) v.dispose();
    this.tensors.clear();
  }
}

/** Throws one line naming the first parameter that is missing or has the wrong shape. */
export function checkParamShapes(p: Params, expected: [string, number[]][]): void {
  for (const [name, shape] of expected) {
    const t = p.get(name); // throws `missing parameter "<full name>"`
    if (!sameShape(t.shape, shape)) {
      throw new Error(`parameter "${name}" has shape [${t.shape}], expected [${shape}]`);
    }
  }
}
