import { AttrValue, OnnxDType, OnnxGraph, OnnxModel, OnnxNode, OnnxTensor, OnnxValueInfo, TensorData } from './proto';
import { OPSET } from './graph';
import { ConstInt, ValueType, inferShapes, size, sliceParams } from './shape-infer';

/*
 * Reverse-mode automatic differentiation of ONNX graphs, as plain ONNX ops: onnxruntime-node has no
 * training ops, so the backward pass is generated here and runs with the forward pass as one ordinary
 * inference session (the gradients of RewardModel.scoreGrad, training steps with parameters fed as graph
 * inputs).
 *
 * API:
 *   gradientGraph(graph, spec) → OnnxGraph; gradientModel(graph, spec) → OnnxModel (opset GRAD_OPSET).
 *   spec.inputShapes  static shapes of the graph inputs (each gradient graph is built for fixed shapes:
 *                     shapes of every value are inferred and Shape-derived integers are folded into
 *                     constants, see shape-infer.ts);
 *   spec.loss         a float value of the forward graph; its sum is differentiated (a scalar loss is the
 *                     usual case), or
 *   spec.seeds        [{value, weight?}] to differentiate Σ weight·sum(value) (weight default 1), or
 *                     [{value, input: name}] where the graph gets an extra input `name` of the value's shape
 *                     holding dL/dvalue (upstream gradients or per-run weights fed at run time);
 *   spec.wrt          graph inputs and/or initializers to differentiate;
 *   spec.keepOutputs  forward values to keep as outputs (default: none);
 *   spec.gradName     output name of the gradient of each wrt (default `grad_<name>`).
 * The result has the original inputs (all of them, with the static shapes), the seed inputs, the kept
 * outputs and one output per wrt (zeros when the loss does not depend on it). Only nodes between `wrt` and
 * the loss get gradient nodes; forward nodes nothing needs are pruned.
 *
 * Every op of src/onnx/export-*.ts that float values flow through has a rule below (integer and bool
 * values are not differentiated). Rules follow the textbook adjoints; the non-obvious ones:
 * - broadcasting binary ops reduce the gradient back to each operand's shape (ReduceSum + Reshape);
 * - MatMul with a 2-D right operand (weights) uses Gemm with transA/transB on the flattened rows, so no
 *   transposed copy of a weight is ever made;
 * - LayerNormalization asks the forward node for its Mean and InvStdDev outputs and writes the backward
 *   as (ĝ − mean(ĝ) − x̂·mean(ĝ·x̂))·rstd with ĝ = g·scale;
 * - Conv's input gradient is a ConvTranspose with the same filter (stride 1: a Conv with the filter
 *   transposed and flipped, which onnxruntime runs much faster), its filter gradient an im2col (strided
 *   Slices of the padded input) and one Gemm; ConvTranspose is the mirror image;
 * - Gather's table gradient is one-hot(indices)ᵀ · dy (Gemms over chunks of indices; ScatterND's "add" loses
 *   updates to repeated rows when onnxruntime runs it on several threads).
 */

export interface GradientSeed {
  value: string;
  /** Constant factor (default 1). */
  weight?: number;
  /** Feed dL/dvalue as graph input `input` instead of a constant. */
  input?: string;
}

export interface GradientSpec {
  inputShapes: Record<string, number[]>;
  loss?: string;
  seeds?: GradientSeed[];
  wrt: string[];
  keepOutputs?: string[];
  gradName?: (wrt: string) => string;
}

/** Opset of gradient graphs: LayerNormalization needs 17. */
export const GRAD_OPSET = Math.max(OPSET, 17);

const F32 = 'float32';

function i64Tensor(name: string, data: number[], dims: number[]): OnnxTensor {
  return { name, dtype: 'int64', dims, data: BigInt64Array.from(data.map((v) => BigInt(v))) };
}

function constTensor(name: string, c: ConstInt): OnnxTensor {
  let data: TensorData;
  if (c.dtype === 'int64') data = BigInt64Array.from(c.data.map((v) => BigInt(v)));
  else if (c.dtype === 'int32') data = Int32Array.from(c.data);
  else if (c.dtype === 'int8') data = Int8Array.from(c.data);
  else data = Uint8Array.from(c.data); // uint8, bool
  return { name, dtype: c.dtype, dims: c.dims, data };
}

const eq = (a: number[], b: number[]) => a.length === b.length && a.every((v, i) => v === b[i]);

function attr<T>(n: OnnxNode, name: string, dflt: T): T {
  const v = n.attrs?.[name];
  if (v === undefined) return dflt;
  if (typeof v === 'object' && !Array.isArray(v) && 'float' in v) return v.float as unknown as T;
  return v as unknown as T;
}

/** Emits the backward nodes; knows every value's type. */
class Emitter {
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

type Rule = (ctx: RuleContext) => (string | undefined)[];

interface RuleContext {
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

function unary(f: (c: RuleContext, g: string) => string): Rule {
  return (c) => [c.need(0) ? f(c, c.gy[0]!) : undefined];
}

const sameShape = (c: RuleContext, g: string) => c.e.reshape(g, c.shape(c.node.inputs[0]));

const RULES: Record<string, Rule> = {
  Identity: unary((_c, g) => g),
  Cast: unary((c, g) => g),
  Neg: unary((c, g) => c.e.neg(g)),
  Reshape: unary(sameShape),
  Flatten: unary(sameShape),
  Squeeze: unary(sameShape),
  Unsqueeze: unary(sameShape),
  Add: (c) => [c.need(0) ? c.e.unbroadcast(c.gy[0]!, c.shape(c.node.inputs[0])) : undefined, c.need(1) ? c.e.unbroadcast(c.gy[0]!, c.shape(c.node.inputs[1])) : undefined],
  // Negations go after the reduction to the operand's shape (often a small tensor).
  Sub: (c) => [c.need(0) ? c.e.unbroadcast(c.gy[0]!, c.shape(c.node.inputs[0])) : undefined, c.need(1) ? c.e.neg(c.e.unbroadcast(c.gy[0]!, c.shape(c.node.inputs[1]))) : undefined],
  Mul: (c) => {
    const [a, b] = c.node.inputs;
    const g = c.gy[0]!;
    return [c.need(0) ? c.e.unbroadcast(c.e.mul(g, b), c.shape(a)) : undefined, c.need(1) ? c.e.unbroadcast(c.e.mul(g, a), c.shape(b)) : undefined];
  },
  Div: (c) => {
    const [a, b] = c.node.inputs;
    const gb = c.e.div(c.gy[0]!, b);
    return [
      c.need(0) ? c.e.unbroadcast(gb, c.shape(a)) : undefined,
      c.need(1) ? c.e.neg(c.e.unbroadcast(c.e.mul(gb, c.node.outputs[0]), c.shape(b))) : undefined,
    ];
  },
  Pow: (c) => {
    if (c.need(1)) throw new Error(`${c.where}: the gradient of a Pow exponent is not supported`);
    const k = c.constOf(1);
    if (!k || k.length !== 1) throw new Error(`${c.where}: Pow needs a constant scalar exponent`);
    const [x] = c.node.inputs;
    const e = c.e;
    const p = k[0];
    let d: string; // d x^p / dx
    if (p === 1) d = e.f32(1);
    else if (p === 2) d = e.mul(x, e.f32(2));
    else if (p === 3) d = e.mul(e.mul(x, x), e.f32(3));
    else d = e.mul(e.bin('Pow', x, e.f32(p - 1)), e.f32(p));
    return [e.unbroadcast(e.mul(c.gy[0]!, d), c.shape(x))];
  },
  Sqrt: unary((c, g) => c.e.div(c.e.mul(g, c.e.f32(0.5)), c.node.outputs[0])),
  Exp: unary((c, g) => c.e.mul(g, c.node.outputs[0])),
  Log: unary((c, g) => c.e.div(g, c.node.inputs[0])),
  Reciprocal: unary((c, g) => {
    const y = c.node.outputs[0];
    return c.e.neg(c.e.mul(g, c.e.mul(y, y)));
  }),
  Abs: unary((c, g) => {
    const x = c.node.inputs[0];
    const s = c.shape(x);
    return c.e.mul(g, c.e.op('Sign', [x], s));
  }),
  Erf: unary((c, g) => {
    const x = c.node.inputs[0];
    const e = c.e;
    const ex = e.op('Exp', [e.neg(e.mul(x, x))], c.shape(x));
    return e.mul(g, e.mul(ex, e.f32(2 / Math.sqrt(Math.PI))));
  }),
  Tanh: unary((c, g) => {
    const y = c.node.outputs[0];
    return c.e.mul(g, c.e.bin('Sub', c.e.f32(1), c.e.mul(y, y)));
  }),
  Sigmoid: unary((c, g) => {
    const y = c.node.outputs[0];
    return c.e.mul(g, c.e.mul(y, c.e.bin('Sub', c.e.f32(1), y)));
  }),
  Relu: unary((c, g) => {
    const y = c.node.outputs[0];
    const s = c.shape(y);
    return c.e.where(c.e.op('Greater', [y, c.e.f32(0)], s, undefined, 'bool'), g, c.e.f32(0), s);
  }),
  Softmax: unary((c, g) => {
    const y = c.node.outputs[0];
    const s = c.shape(y);
    const a0 = attr(c.node, 'axis', -1);
    const axis = a0 < 0 ? a0 + s.length : a0;
    const e = c.e;
    return e.mul(y, e.sub(g, e.reduceSum(e.mul(g, y), [axis], true)));
  }),
  LogSoftmax: unary((c, g) => {
    const y = c.node.outputs[0];
    const s = c.shape(y);
    const a0 = attr(c.node, 'axis', -1);
    const axis = a0 < 0 ? a0 + s.length : a0;
    const e = c.e;
    return e.sub(g, e.mul(e.op('Exp', [y], s), e.reduceSum(g, [axis], true)));
  }),
  ReduceMean: unary((c, g) => reduceGrad(c, g, true)),
  ReduceSum: unary((c, g) => reduceGrad(c, g, false)),
  Transpose: unary((c, g) => {
    const s = c.shape(c.node.inputs[0]);
    const perm: number[] = attr(c.node, 'perm', s.map((_, i) => s.length - 1 - i));
    const inv = new Array<number>(perm.length);
    perm.forEach((p, i) => (inv[p] = i));
    return c.e.transpose(g, inv);
  }),
  Expand: unary((c, g) => c.e.unbroadcast(g, c.shape(c.node.inputs[0]))),
  Concat: (c) => {
    const shapes = c.node.inputs.map((x) => c.shape(x));
    const a0 = attr(c.node, 'axis', 0);
    const axis = a0 < 0 ? a0 + shapes[0].length : a0;
    const parts = c.e.opN(
      'Split',
      [c.gy[0]!, c.e.i64(shapes.map((s) => s[axis]))],
      shapes,
      { axis },
    );
    return parts.map((p, i) => (c.need(i) ? p : undefined));
  },
  Split: (c) => {
    const x = c.node.inputs[0];
    const s = c.shape(x);
    const a0 = attr(c.node, 'axis', 0);
    const axis = a0 < 0 ? a0 + s.length : a0;
    const parts = c.node.outputs.map((o, i) => c.gy[i] ?? c.e.fill(c.shape(o), 0));
    return [c.e.op('Concat', parts, s, { axis })];
  },
  Slice: unary((c, g) => {
    const x = c.node.inputs[0];
    const s = c.shape(x);
    const k = (i: number) => (i < c.node.inputs.length && c.node.inputs[i] ? c.constOf(i) : undefined);
    const starts = k(1);
    const ends = k(2);
    if (!starts || !ends) throw new Error(`${c.where}: Slice needs constant starts and ends`);
    const p = sliceParams(s, starts, ends, k(3), k(4), c.where);
    const pads = new Array(2 * s.length).fill(0);
    for (const q of p) {
      if (q.step !== 1) throw new Error(`${c.where}: the gradient of a strided Slice is not supported`);
      pads[q.axis] = q.start;
      pads[q.axis + s.length] = s[q.axis] - Math.max(q.end, q.start);
    }
    return c.e.op('Pad', [g, c.e.i64(pads)], s, { mode: 'constant' });
  }),
  Pad: (c) => {
    if (attr(c.node, 'mode', 'constant') !== 'constant') throw new Error(`${c.where}: only constant Pad is differentiable`);
    if (c.need(2)) throw new Error(`${c.where}: the gradient of the Pad value is not supported`);
    const x = c.node.inputs[0];
    const s = c.shape(x);
    const pads = c.constOf(1);
    if (!pads) throw new Error(`${c.where}: Pad needs constant pads`);
    if (pads.some((p) => p < 0)) throw new Error(`${c.where}: negative pads are not supported`);
    const starts = s.map((_, i) => pads[i]);
    const ends = s.map((d, i) => pads[i] + d);
    const axes = s.map((_, i) => i);
    return [c.e.op('Slice', [c.gy[0]!, c.e.i64(starts), c.e.i64(ends), c.e.i64(axes)], s)];
  },
  Where: (c) => {
    const [cond, a, b] = c.node.inputs;
    const g = c.gy[0]!;
    const s = c.shape(c.node.outputs[0]);
    const z = c.e.f32(0);
    return [
      undefined,
      c.need(1) ? c.e.unbroadcast(c.e.where(cond, g, z, s), c.shape(a)) : undefined,
      c.need(2) ? c.e.unbroadcast(c.e.where(cond, z, g, s), c.shape(b)) : undefined,
    ];
  },
  Max: (c) => minMax(c, 'GreaterOrEqual'),
  Min: (c) => minMax(c, 'LessOrEqual'),
  Gather: (c) => {
    if (c.need(1)) throw new Error(`${c.where}: Gather indices are not differentiable`);
    const [table, idx] = c.node.inputs;
    const s = c.shape(table);
    const a0 = attr(c.node, 'axis', 0);
    const axis = a0 < 0 ? a0 + s.length : a0;
    if (axis !== 0) throw new Error(`${c.where}: the gradient of Gather on axis ${axis} is not supported (axis 0 only)`);
    // table gradient = one-hot(idx)ᵀ · dy, as Gemms over chunks of indices. Not ScatterND(reduction "add"):
    // onnxruntime's CPU kernel runs its updates on the intra-op threads and loses some of those that hit the
    // same row (measured: the tiny preset's relative-attention-bias gradient, 87 000 updates into 32 rows,
    // was off by 1.5e-2 relative with 2 threads and exact with 1).
    const is = c.shape(idx);
    const e = c.e;
    const n = size(is);
    const rows = s[0];
    const d = size(s) / rows;
    const idxType = c.e.types.get(idx)!.dtype;
    const flatIdx = e.op('Reshape', [idx, e.i64([n, 1])], [n, 1], undefined, idxType);
    const flatG = e.reshape(c.gy[0]!, [n, d]);
    const range64 = e.i64(Array.from({ length: rows }, (_, r) => r), [1, rows]);
    const range = idxType === 'int32' ? e.op('Cast', [range64], [1, rows], { to: 6 }, 'int32') : range64;
    // Chunks keep each one-hot block under 2^22 floats (16 MB).
    const chunk = Math.max(1, Math.min(n, Math.floor(2 ** 22 / rows)));
    const parts: string[] = [];
    for (let start = 0; start < n; start += chunk) {
      const len = Math.min(chunk, n - start);
      const ci = len === n ? flatIdx : e.op('Slice', [flatIdx, e.i64([start]), e.i64([start + len]), e.i64([0])], [len, 1], undefined, idxType);
      const cg = len === n ? flatG : e.op('Slice', [flatG, e.i64([start]), e.i64([start + len]), e.i64([0])], [len, d]);
      const hot = e.op('Cast', [e.op('Equal', [ci, range], [len, rows], undefined, 'bool')], [len, rows], { to: 1 });
      parts.push(e.op('Gemm', [hot, cg], [rows, d], { transA: 1 }));
    }
    return [e.reshape(e.sum(parts), s), undefined];
  },
  MatMul: (c) => {
    const [a, b] = c.node.inputs;
    const g = c.gy[0]!;
    const e = c.e;
    const sa = c.shape(a);
    const sb = c.shape(b);
    const sg = c.shape(g);
    const [m, k] = sa.slice(-2);
    const n = sb[sb.length - 1];
    const out: (string | undefined)[] = [undefined, undefined];
    if (sb.length === 2) {
      // Weights on the right: flatten rows and use Gemm's transpose flags (no transposed weight copy).
      const g2 = e.reshape(g, [size(sg) / n, n]);
      if (c.need(0)) {
        const ga = e.op('Gemm', [g2, b], [size(sg) / n, k], { transB: 1 });
        out[0] = e.unbroadcast(e.reshape(ga, [...sg.slice(0, -1), k]), sa);
      }
      if (c.need(1)) {
        // a's batch dims are g's (a 2-D b broadcasts along them).
        const a2 = e.reshape(sa.length === sg.length ? a : e.op('Expand', [a, e.i64([...sg.slice(0, -1), k])], [...sg.slice(0, -1), k]), [size(sg) / n, k]);
        out[1] = e.op('Gemm', [a2, g2], [k, n], { transA: 1 });
      }
      return out;
    }
    const swap = (r: number) => [...Array.from({ length: r - 2 }, (_, i) => i), r - 1, r - 2];
    if (c.need(0)) out[0] = e.unbroadcast(e.op('MatMul', [g, e.transpose(b, swap(sb.length))], [...sg.slice(0, -1), k]), sa);
    if (c.need(1)) out[1] = e.unbroadcast(e.op('MatMul', [e.transpose(a, swap(sa.length)), g], [...sg.slice(0, -2), k, n]), sb);
    void m;
    return out;
  },
  Gemm: (c) => {
    const [a, b, cc] = c.node.inputs;
    const g = c.gy[0]!;
    const e = c.e;
    const alpha = attr(c.node, 'alpha', 1);
    const beta = attr(c.node, 'beta', 1);
    const ta = attr(c.node, 'transA', 0);
    const tb = attr(c.node, 'transB', 0);
    const sa = c.shape(a);
    const sb = c.shape(b);
    const sg = c.shape(g);
    const out: (string | undefined)[] = [undefined, undefined, undefined];
    if (c.need(0)) {
      // d(A') = α g B'ᵀ; A = A' or A'ᵀ.
      const k = tb ? sb[1] : sb[0];
      const da = e.op('Gemm', [g, b], [sg[0], k], { alpha: { float: alpha }, transB: 1 - tb });
      out[0] = ta ? e.transpose(da, [1, 0]) : da;
      void sa;
    }
    if (c.need(1)) {
      // d(B') = α A'ᵀ g.
      const k = ta ? sa[0] : sa[1];
      const db = e.op('Gemm', [a, g], [k, sg[1]], { alpha: { float: alpha }, transA: 1 - ta });
      out[1] = tb ? e.transpose(db, [1, 0]) : db;
    }
    if (cc && c.need(2)) {
      const gc = beta === 1 ? g : e.mul(g, e.f32(beta));
      out[2] = e.unbroadcast(gc, c.shape(cc));
    }
    return out;
  },
  Conv: (c) => convGrad(c),
  ConvTranspose: (c) => convTransposeGrad(c),
};

function minMax(c: RuleContext, cmp: string): (string | undefined)[] {
  if (c.node.inputs.length !== 2) throw new Error(`${c.where}: the gradient of ${c.node.op} with ${c.node.inputs.length} inputs is not supported`);
  const [a, b] = c.node.inputs;
  const s = c.shape(c.node.outputs[0]);
  const e = c.e;
  const mask = e.op(cmp, [a, b], s, undefined, 'bool');
  const z = e.f32(0);
  return [
    c.need(0) ? e.unbroadcast(e.where(mask, c.gy[0]!, z, s), c.shape(a)) : undefined,
    c.need(1) ? e.unbroadcast(e.where(mask, z, c.gy[0]!, s), c.shape(b)) : undefined,
  ];
}

function reduceGrad(c: RuleContext, g: string, mean: boolean): string {
  const x = c.node.inputs[0];
  const s = c.shape(x);
  let axes: number[] | undefined;
  if (c.node.op === 'ReduceSum' && c.node.inputs.length > 1 && c.node.inputs[1]) {
    axes = c.constOf(1);
    if (!axes) throw new Error(`${c.where}: ReduceSum needs constant axes`);
  } else axes = attr(c.node, 'axes', undefined as unknown as number[]);
  if (!axes || axes.length === 0) {
    if (attr<number>(c.node, 'noop_with_empty_axes', 0) === 1) return g;
    axes = s.map((_, i) => i);
  }
  const ax = axes.map((a) => (a < 0 ? a + s.length : a));
  const kept = s.map((d, i) => (ax.includes(i) ? 1 : d));
  let gk = c.e.reshape(g, kept);
  if (mean) gk = c.e.mul(gk, c.e.f32(1 / ax.reduce((p, a) => p * s[a], 1)));
  return c.e.op('Expand', [gk, c.e.i64(s)], s);
}

function convAttrs(c: RuleContext, sp: number) {
  const n = c.node;
  const group = attr(n, 'group', 1);
  const dil: number[] = attr(n, 'dilations', new Array(sp).fill(1));
  if (group !== 1) throw new Error(`${c.where}: the gradient of grouped convolutions is not supported`);
  if (dil.some((d) => d !== 1)) throw new Error(`${c.where}: the gradient of dilated convolutions is not supported`);
  if (attr(n, 'auto_pad', 'NOTSET') !== 'NOTSET') throw new Error(`${c.where}: auto_pad is not supported`);
  const w = c.shape(n.inputs[1]);
  return {
    k: attr(n, 'kernel_shape', w.slice(2)) as number[],
    s: attr(n, 'strides', new Array(sp).fill(1)) as number[],
    p: attr(n, 'pads', new Array(2 * sp).fill(0)) as number[],
  };
}

const SWAP01 = (r: number) => [1, 0, ...Array.from({ length: r - 2 }, (_, i) => i + 2)];

/**
 * Filter gradient by im2col: out[o, c, tap] = Σ_{b, pos} a[b, o, pos] · src[b, c, pos·s + tap − pb] for every
 * filter tap (src zero outside). The taps of the padded `src` are strided Slices stacked into [C·K, B·P]
 * and one Gemm against `a` as [O, B·P] gives [O, C, k…]. Conv: a = output gradient, src = input; ConvTranspose:
 * a = input, src = output gradient. Measured 2–4× faster in onnxruntime than a Conv with batch and
 * channels swapped (768 channels at 14×14: 36 ms vs 145 ms; 64 channels at 8×8, batch 8: 2.7 vs 3.8 ms).
 */
function filterGradIm2col(e: Emitter, a: string, src: string, k: number[], s: number[], pb: number[]): string {
  const sa = e.shape(a);
  const ss = e.shape(src);
  const sp = k.length;
  const pos = sa.slice(2);
  const [b, o] = sa;
  const c = ss[1];
  const taps = size(k);
  // Padded extent each axis needs: the last tap at the last position.
  const need = pos.map((p, i) => (p - 1) * s[i] + k[i]);
  const pe = need.map((n, i) => Math.max(0, n - ss[2 + i] - pb[i]));
  const padded = pb.some((v) => v > 0) || pe.some((v) => v > 0);
  const xp = padded
    ? e.op('Pad', [src, e.i64([0, 0, ...pb, 0, 0, ...pe])], [b, c, ...ss.slice(2).map((d, i) => d + pb[i] + pe[i])], { mode: 'constant' })
    : src;
  const axes = k.map((_, i) => i + 2);
  const cols: string[] = [];
  for (let t = 0; t < taps; t++) {
    const off: number[] = [];
    let r = t;
    for (let i = sp - 1; i >= 0; i--) {
      off[i] = r % k[i];
      r = Math.floor(r / k[i]);
    }
    const sl = e.op('Slice', [xp, e.i64(off), e.i64(off.map((v, i) => v + (pos[i] - 1) * s[i] + 1)), e.i64(axes), e.i64(s)], [b, c, ...pos]);
    cols.push(e.op('Unsqueeze', [sl, e.i64([2])], [b, c, 1, ...pos]));
  }
  const stacked = taps === 1 ? cols[0] : e.op('Concat', cols, [b, c, taps, ...pos], { axis: 2 });
  const np = b * size(pos);
  const colsT = e.reshape(e.transpose(stacked, [1, 2, 0, ...axes.map((x) => x + 1)]), [c * taps, np]);
  const am = e.reshape(e.transpose(a, SWAP01(sa.length)), [o, np]);
  return e.reshape(e.op('Gemm', [am, colsT], [o, c * taps], { transB: 1 }), [o, c, ...k]);
}

function convGrad(c: RuleContext): (string | undefined)[] {
  const [x, w, b] = c.node.inputs;
  const e = c.e;
  const g = c.gy[0]!;
  const sx = c.shape(x);
  const sg = c.shape(g);
  const sp = sx.length - 2;
  const { k, s, p } = convAttrs(c, sp);
  const out: (string | undefined)[] = [undefined, undefined, undefined];
  if (c.need(0)) {
    if (s.every((v) => v === 1) && p.every((v, i) => v <= k[i % sp] - 1)) {
      // Stride 1: a plain Conv with the filter transposed ([Cin, Cout, k…]) and flipped, padded k−1−p
      // (onnxruntime's Conv is much faster than its ConvTranspose; the flip of a constant filter folds).
      const sw = c.shape(w);
      const wt = e.transpose(w, SWAP01(sw.length));
      const axes = k.map((_, i) => i + 2);
      const flipped = e.op('Slice', [wt, e.i64(k.map(() => -1)), e.i64(k.map(() => -(2 ** 62))), e.i64(axes), e.i64(k.map(() => -1))], e.shape(wt));
      const pads = p.map((v, i) => k[i % sp] - 1 - v);
      out[0] = e.op('Conv', [g, flipped], sx, { kernel_shape: k, pads, strides: s });
    } else {
      // The adjoint of a strided conv: ConvTranspose with output_padding restoring the rows the stride dropped.
      const op = sx.slice(2).map((h, i) => h - ((sg[2 + i] - 1) * s[i] - p[i] - p[i + sp] + k[i]));
      out[0] = e.op('ConvTranspose', [g, w], sx, { kernel_shape: k, pads: p, strides: s, output_padding: op });
    }
  }
  if (c.need(1)) {
    out[1] = filterGradIm2col(e, g, x, k, s, p.slice(0, sp));
  }
  if (b && c.need(2)) out[2] = e.reduceSum(g, [0, ...Array.from({ length: sp }, (_, i) => i + 2)], false);
  return out;
}

function convTransposeGrad(c: RuleContext): (string | undefined)[] {
  const [x, w, b] = c.node.inputs;
  const e = c.e;
  const g = c.gy[0]!;
  const sx = c.shape(x);
  const sp = sx.length - 2;
  const { k, s, p } = convAttrs(c, sp);
  const out: (string | undefined)[] = [undefined, undefined, undefined];
  if (c.need(0)) out[0] = e.op('Conv', [g, w], sx, { kernel_shape: k, pads: p, strides: s });
  if (c.need(1)) {
    // Conv's filter gradient with the roles of input and output gradient swapped: [Cin, Cout, k…].
    out[1] = filterGradIm2col(e, x, g, k, s, p.slice(0, sp));
  }
  if (b && c.need(2)) out[2] = e.reduceSum(g, [0, ...Array.from({ length: sp }, (_, i) => i + 2)], false);
  return out;
}

/** LayerNormalization: needs the forward node's Mean and InvStdDev (added to it when missing). */
function layerNormGrad(c: RuleContext, mean: string, rstd: string): (string | undefined)[] {
  const [x, scale, bias] = c.node.inputs;
  const e = c.e;
  const g = c.gy[0]!;
  const s = c.shape(x);
  const a0 = attr(c.node, 'axis', -1);
  const axis = a0 < 0 ? a0 + s.length : a0;
  const axes = s.map((_, i) => i).filter((i) => i >= axis);
  const xhat = e.mul(e.sub(x, mean), rstd);
  const out: (string | undefined)[] = [undefined, undefined, undefined];
  if (c.need(0)) {
    const gh = e.mul(g, scale);
    const m1 = e.reduceMean(gh, axes);
    const m2 = e.reduceMean(e.mul(gh, xhat), axes);
    out[0] = e.mul(e.sub(e.sub(gh, m1), e.mul(xhat, m2)), rstd);
  }
  if (c.need(1)) out[1] = e.unbroadcast(e.mul(g, xhat), c.shape(scale));
  if (bias && c.need(2)) out[2] = e.unbroadcast(g, c.shape(bias));
  return out;
}

const NON_DIFFERENTIABLE = new Set(['Shape', 'Size', 'Range', 'Equal', 'Greater', 'Less', 'GreaterOrEqual', 'LessOrEqual', 'Not', 'ArgMax', 'ConstantOfShape']);

/** The gradient graph of `graph` (see the file header). */
export function gradientGraph(graph: OnnxGraph, spec: GradientSpec): OnnxGraph {
  const { types, consts } = inferShapes(graph, spec.inputShapes);
  const initByName = new Map(graph.initializers.map((t) => [t.name, t]));
  const inputNames = new Set(graph.inputs.map((v) => v.name));
  for (const w of spec.wrt) {
    if (!inputNames.has(w) && !initByName.has(w)) throw new Error(`autodiff: wrt "${w}" is neither a graph input nor an initializer`);
    if (types.get(w)!.dtype !== F32) throw new Error(`autodiff: wrt "${w}" is not float32`);
  }
  const seeds: GradientSeed[] = spec.seeds ?? (spec.loss !== undefined ? [{ value: spec.loss }] : []);
  if (seeds.length === 0) throw new Error('autodiff: give a loss or seeds');
  for (const s of seeds) {
    const t = types.get(s.value);
    if (!t) throw new Error(`autodiff: loss/seed value "${s.value}" is not in the graph`);
    if (t.dtype !== F32) throw new Error(`autodiff: loss/seed value "${s.value}" is not float32`);
  }

  // Values that depend on a wrt through float ops.
  const active = new Set(spec.wrt);
  for (const n of graph.nodes) {
    if (NON_DIFFERENTIABLE.has(n.op)) continue;
    if (!n.inputs.some((v) => active.has(v))) continue;
    for (const o of n.outputs) if (o && types.get(o)?.dtype === F32) active.add(o);
  }

  const names = new Set<string>([...types.keys(), ...graph.inputs.map((v) => v.name)]);
  const e = new Emitter(names, types);
  const fwd = graph.nodes.map((n) => ({ ...n, outputs: [...n.outputs] }));
  const extraInputs: OnnxValueInfo[] = [];
  const grads = new Map<string, string[]>();
  const addGrad = (v: string, g: string) => {
    const l = grads.get(v);
    if (l) l.push(g);
    else grads.set(v, [g]);
  };
  for (const s of seeds) {
    const shape = types.get(s.value)!.shape;
    if (s.input !== undefined) {
      // Declared even when the loss does not depend on it, so callers can always feed it.
      if (names.has(s.input)) throw new Error(`autodiff: seed input name "${s.input}" is already used`);
      names.add(s.input);
      types.set(s.input, { dtype: F32, shape });
      extraInputs.push({ name: s.input, dtype: F32, shape });
    }
    if (!active.has(s.value)) continue;
    let g: string;
    if (s.input !== undefined) {
      g = s.input;
      if (s.weight !== undefined && s.weight !== 1) g = e.mul(g, e.f32(s.weight));
    } else g = e.fill(shape, s.weight ?? 1);
    addGrad(s.value, g);
  }

  const constOf = (v: string): number[] | undefined => {
    const c = consts.get(v);
    if (c) return c.data;
    const t = initByName.get(v);
    if (t && t.dtype === F32 && t.data.length <= 16) return Array.from(t.data as Float32Array);
    return undefined;
  };

  for (let ni = fwd.length - 1; ni >= 0; ni--) {
    const node = fwd[ni];
    const gy = node.outputs.map((o) => {
      const l = grads.get(o);
      return l ? e.sum(l) : undefined;
    });
    if (gy.every((g) => g === undefined)) continue;
    const need = (i: number) => i < node.inputs.length && !!node.inputs[i] && active.has(node.inputs[i]);
    if (!node.inputs.some((_, i) => need(i))) continue;
    const where = `autodiff: ${node.op} node "${node.name}"`;
    const ctx: RuleContext = { e, node, gy, need, shape: (v) => e.shape(v), constOf: (i) => constOf(node.inputs[i]), where };
    let gx: (string | undefined)[];
    if (node.op === 'LayerNormalization') {
      if (gy.slice(1).some((g) => g !== undefined)) throw new Error(`${where}: gradients of Mean/InvStdDev are not supported`);
      // Ask the forward node for its statistics.
      const s = types.get(node.inputs[0])!.shape;
      const a0 = attr(node, 'axis', -1);
      const axis = a0 < 0 ? a0 + s.length : a0;
      const stat = s.map((d, i) => (i < axis ? d : 1));
      for (const k of [1, 2]) {
        if (!node.outputs[k]) {
          node.outputs[k] = e.fresh(k === 1 ? 'ln_mean' : 'ln_rstd');
          types.set(node.outputs[k], { dtype: F32, shape: stat });
        }
      }
      gx = layerNormGrad(ctx, node.outputs[1], node.outputs[2]);
    } else {
      const rule = RULES[node.op];
      if (!rule) throw new Error(`${where}: no gradient rule for ${node.op}`);
      gx = rule(ctx);
    }
    gx.forEach((g, i) => {
      if (g !== undefined && need(i)) addGrad(node.inputs[i], g);
    });
  }

  // Gradient outputs.
  const gradName = spec.gradName ?? ((w: string) => `grad_${w}`);
  const outputs: OnnxValueInfo[] = [];
  const outNames = new Set<string>();
  const emitOutput = (v: string, name: string) => {
    if (outNames.has(name)) throw new Error(`autodiff: output name "${name}" used twice`);
    outNames.add(name);
    const t = types.get(v)!;
    let src = v;
    if (v !== name) {
      if (names.has(name)) throw new Error(`autodiff: output name "${name}" is already a value of the graph`);
      names.add(name);
      e.nodes.push({ op: 'Identity', inputs: [v], outputs: [name], name: e.fresh('n_out') });
      src = name;
    }
    outputs.push({ name: src, dtype: t.dtype, shape: t.shape });
  };
  for (const v of spec.keepOutputs ?? []) {
    if (!types.has(v)) throw new Error(`autodiff: keepOutputs value "${v}" is not in the graph`);
    emitOutput(v, v);
  }
  for (const w of spec.wrt) {
    const l = grads.get(w);
    const g = l ? e.sum(l) : e.fill(types.get(w)!.shape, 0);
    emitOutput(g, gradName(w));
  }

  // Prune: keep the forward nodes that the backward nodes and outputs need; folded integers become initializers.
  const needed = new Set<string>();
  for (const n of e.nodes) for (const v of n.inputs) needed.add(v);
  for (const o of outputs) needed.add(o.name);
  const keptFwd: OnnxNode[] = [];
  const folded: OnnxTensor[] = [];
  const foldedNames = new Set<string>();
  for (let i = fwd.length - 1; i >= 0; i--) {
    const n = fwd[i];
    if (!n.outputs.some((o) => o && needed.has(o))) continue;
    if (n.outputs.length === 1 && consts.has(n.outputs[0]) && !initByName.has(n.outputs[0])) {
      folded.push(constTensor(n.outputs[0], consts.get(n.outputs[0])!));
      foldedNames.add(n.outputs[0]);
      continue;
    }
    keptFwd.push(n);
    for (const v of n.inputs) if (v) needed.add(v);
  }
  keptFwd.reverse();
  const inits = graph.initializers.filter((t) => needed.has(t.name));
  return {
    name: `${graph.name}_grad`,
    nodes: [...keptFwd, ...e.nodes],
    initializers: [...inits, ...folded, ...e.inits.filter((t) => needed.has(t.name))],
    inputs: [
      // Every original input stays (unused ones too), so one feed works for any spec.
      ...graph.inputs.map((v) => ({ ...v, shape: types.get(v.name)!.shape })),
      ...extraInputs,
    ],
    outputs,
  };
}

/** gradientGraph as a model at GRAD_OPSET. */
export function gradientModel(graph: OnnxGraph, spec: GradientSpec, meta: { docString?: string; metadata?: Record<string, string> } = {}): OnnxModel {
  const g = gradientGraph(graph, spec);
  const domains = new Set(g.nodes.map((n) => n.domain ?? '').filter((d) => d !== ''));
  return { graph: g, opset: GRAD_OPSET, extraOpsets: [...domains].map((domain) => ({ domain, version: 1 })), ...meta };
}
