import { attr, size, sliceParams } from './shape-math';
import { Rule, RuleContext } from './grad-emitter';

export { type Rule, type RuleContext } from './grad-emitter';
import { convGrad, convTransposeGrad } from './grad-rules-conv';

/*
 * The adjoint of each ONNX op autodiff.ts differentiates (autodiff.ts's header lists the non-obvious
 * ones). A rule gets the output gradients and returns one gradient per input (undefined: none).
 */

function unary(f: (c: RuleContext, g: string) => string): Rule {
  return (c) => [c.need(0) ? f(c, c.gy[0]!) : undefined];
}

/** A (Log)Softmax node's output, its shape and its axis (made non-negative). */
function softmaxOutput(c: RuleContext): { y: string; s: number[]; axis: number } {
  const y = c.node.outputs[0];
  const s = c.shape(y);
  const a0 = attr(c.node, 'axis', -1);
  return { y, s, axis: a0 < 0 ? a0 + s.length : a0 };
}

const sameShape = (c: RuleContext, g: string) => c.e.reshape(g, c.shape(c.node.inputs[0]));

export const RULES: Record<string, Rule> = {
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
    const { y, axis } = softmaxOutput(c);
    const e = c.e;
    return e.mul(y, e.sub(g, e.reduceSum(e.mul(g, y), [axis], true)));
  }),
  LogSoftmax: unary((c, g) => {
    const { y, s, axis } = softmaxOutput(c);
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


/** LayerNormalization: needs the forward node's Mean and InvStdDev (added to it when missing). */
export function layerNormGrad(c: RuleContext, mean: string, rstd: string): (string | undefined)[] {
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

export const NON_DIFFERENTIABLE = new Set(['Shape', 'Size', 'Range', 'Equal', 'Greater', 'Less', 'GreaterOrEqual', 'LessOrEqual', 'Not', 'ArgMax', 'ConstantOfShape']);
