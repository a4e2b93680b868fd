import { AttrValue, OnnxDType, OnnxNode, OnnxTensor, TensorData } from './proto';
import { ConstInt, ValueType } from './shape-math';

/*
 * The backward-graph writer of autodiff.ts: emits ONNX nodes and constants, tracking every value's type;
 * and the context an op's gradient rule (grad-rules.ts) works in.
 */

export const F32 = 'float32';

export function i64Tensor(name: string, data: number[], dims: number[]): OnnxTensor {
  return { name, dtype: 'int64', dims, data: BigInt64Array.from(data.map((v) => BigInt(v))) };
}

export function constTensor(name: string, c: ConstInt): OnnxTensor {
  let data: TensorData;
  if (c.dtype === 'int64') data = BigInt64Array.from(c.data.map((v) => BigInt(v)));
  else if (c.dtype === 'int32') data = Int32Array.from(c.data);
  else if (c.dtype === 'int8') data = Int8Array.from(c.data);
  else data = Uint8Array.from(c.data); // uint8, bool
  return { name, dtype: c.dtype, dims: c.dims, data };
}

export const eq = (a: number[], b: number[]) => a.length === b.length && a.every((v, i) => v === b[i]);

/** Emits the backward nodes; knows every value's type. */
export class Emitter {
  readonly nodes: OnnxNode[] = [];
  readonly inits: OnnxTensor[] = [];
  private readonly keyed = new Map<string, string>();
  private counter = 0;

  constructor(
    readonly names: Set<string>,
    readonly types: Map<string, ValueType>,
  ) {}

  fresh(stem: string): string {
    let n = `g/${stem}`;
    while (this.names.has(n)) n = `g/${stem}_${++this.counter}`;
    this.names.add(n);
    return n;
  }

  shape(v: string): number[] {
    const t = this.types.get(v);
    if (!t) throw new Error(`autodiff: no type for value "${v}"`);
    return t.shape;
  }

  op(op: string, inputs: string[], shape: number[], attrs?: Record<string, AttrValue>, dtype: OnnxDType = F32, stem?: string): string {
    const out = this.fresh(stem ?? op.toLowerCase());
    this.nodes.push({ op, inputs, outputs: [out], name: this.fresh(`n_${op.toLowerCase()}`), attrs });
    this.types.set(out, { dtype, shape });
    return out;
  }

  opN(op: string, inputs: string[], shapes: number[][], attrs?: Record<string, AttrValue>): string[] {
    const outs = shapes.map((s) => {
      const o = this.fresh(op.toLowerCase());
      this.types.set(o, { dtype: F32, shape: s });
      return o;
    });
    this.nodes.push({ op, inputs, outputs: outs, name: this.fresh(`n_${op.toLowerCase()}`), attrs });
    return outs;
  }

  i64(values: number[], dims: number[] = [values.length]): string {
    const key = `i64:${dims}:${values}`;
    const hit = this.keyed.get(key);
    if (hit) return hit;
    const name = this.fresh('c_i');
    this.inits.push(i64Tensor(name, values, dims));
    this.types.set(name, { dtype: 'int64', shape: dims });
    this.keyed.set(key, name);
    return name;
  }

  f32(v: number): string {
    const key = `f32:${v}`;
    const hit = this.keyed.get(key);
    if (hit) return hit;
    const name = this.fresh('c_f');
    this.inits.push({ name, dtype: F32, dims: [], data: Float32Array.of(v) });
    this.types.set(name, { dtype: F32, shape: [] });
    this.keyed.set(key, name);
    return name;
  }

  fill(shape: number[], v: number): string {
    return this.op('ConstantOfShape', [this.i64(shape)], shape, { value: { name: 'value', dtype: F32, dims: [1], data: Float32Array.of(v) } }, F32, 'fill');
  }

  // Small helpers (shapes follow broadcasting of the operands).
  bin(op: string, a: string, b: string): string {
    const sa = this.shape(a);
    const sb = this.shape(b);
    const r = Math.max(sa.length, sb.length);
    const pa = [...new Array(r - sa.length).fill(1), ...sa];
    const pb = [...new Array(r - sb.length).fill(1), ...sb];
    return this.op(op, [a, b], pa.map((d, i) => (d === 1 ? pb[i] : d)));
  }
  mul(a: string, b: string): string {
    return this.bin('Mul', a, b);
  }
  sub(a: string, b: string): string {
    return this.bin('Sub', a, b);
  }
  div(a: string, b: string): string {
    return this.bin('Div', a, b);
  }
  neg(a: string): string {
    return this.op('Neg', [a], this.shape(a));
  }
  reshape(a: string, shape: number[]): string {
    return eq(this.shape(a), shape) ? a : this.op('Reshape', [a, this.i64(shape)], shape);
  }
  transpose(a: string, perm: number[]): string {
    const s = this.shape(a);
    return this.op('Transpose', [a], perm.map((p) => s[p]), { perm });
  }
  reduceSum(a: string, axes: number[], keep: boolean): string {
    const s = this.shape(a);
    const out = keep ? s.map((d, i) => (axes.includes(i) ? 1 : d)) : s.filter((_, i) => !axes.includes(i));
    return this.op('ReduceSum', [a, this.i64(axes)], out, { keepdims: keep ? 1 : 0 });
  }
  reduceMean(a: string, axes: number[]): string {
    const s = this.shape(a);
    return this.op('ReduceMean', [a], s.map((d, i) => (axes.includes(i) ? 1 : d)), { axes, keepdims: 1 });
  }
  where(c: string, a: string, b: string, shape: number[]): string {
    return this.op('Where', [c, a, b], shape);
  }

  /** Sum `g` (shaped like the broadcast result) down to `shape`. */
  unbroadcast(g: string, shape: number[]): string {
    const gs = this.shape(g);
    if (eq(gs, shape)) return g;
    const off = gs.length - shape.length;
    const axes: number[] = [];
    for (let i = 0; i < gs.length; i++) if (i < off || (shape[i - off] === 1 && gs[i] !== 1)) axes.push(i);
    const r = axes.length ? this.reduceSum(g, axes, true) : g;
    return this.reshape(r, shape);
  }

  /** Σ of gradient contributions. */
  sum(parts: string[]): string {
    if (parts.length === 1) return parts[0];
    return this.op(parts.length === 2 ? 'Add' : 'Sum', parts, this.shape(parts[0]));
  }
}

export type Rule = (ctx: RuleContext) => (string | undefined)[];

export interface RuleContext {
  e: Emitter;
  node: OnnxNode;
  /** Gradient of each output (undefined: no gradient flows into it). */
  gy: (string | undefined)[];
  /** Whether input i needs a gradient. */
  need: (i: number) => boolean;
  shape: (v: string) => number[];
  /** Folded float scalar / integer constant of an input, if known. */
  constOf: (i: number) => number[] | undefined;
  where: string;
}
