import { OnnxGraph, OnnxNode, OnnxTensor } from './proto';
import {
  ConstInt,
  FOLD_LIMIT,
  Inferred,
  ValueType,
  attr,
  broadcastEval,
  broadcastShapes,
  convOutShape,
  dtypeFromCode,
  initConst,
  normAxis,
  reshapeTarget,
  size,
  sliceLen,
  sliceParams,
  strides,
  transposeEval,
} from './shape-math';

/*
 * Static shape and dtype inference for the graphs our exporters write, given fixed input shapes, with
 * constant folding of the small integer values derived from shapes (Shape → Squeeze → Range → …), so
 * that Reshape / Expand / Slice / Pad operands are known numbers. The autodiff (autodiff.ts) needs
 * every value's shape to undo broadcasting and to size its gradient ops; the folded integers become
 * initializers of the gradient graph.
 *
 * Covers the ops of src/onnx/export-*.ts and src/train/loss-graph.ts; anything else fails with the op and node named.
 */

export { type ValueType, type ConstInt, type Inferred, dtypeFromCode, size, broadcastShapes, sliceParams, reshapeTarget } from './shape-math';

/**
 * Types of every value of `graph` for the given input shapes (inputs not named keep their declared
 * shape, which must then be fully numeric), plus the folded integer constants.
 */
export function inferShapes(graph: OnnxGraph, inputShapes: Record<string, number[]>): Inferred {
  const types = new Map<string, ValueType>();
  const consts = new Map<string, ConstInt>();
  for (const t of graph.initializers) {
    types.set(t.name, { dtype: t.dtype, shape: [...t.dims] });
    const c = initConst(t);
    if (c) consts.set(t.name, c);
  }
  for (const v of graph.inputs) {
    const s = inputShapes[v.name] ?? v.shape;
    if (s.some((d) => typeof d !== 'number')) throw new Error(`shape inference: no static shape for input "${v.name}" [${v.shape}]`);
    if (s.length !== v.shape.length || s.some((d, i) => typeof v.shape[i] === 'number' && v.shape[i] !== d))
      throw new Error(`shape inference: input "${v.name}" is [${v.shape}], got [${s}]`);
    types.set(v.name, { dtype: v.dtype, shape: s as number[] });
  }
  for (const n of graph.nodes) inferNode(n, types, consts);
  return { types, consts };
}

function inferNode(n: OnnxNode, types: Map<string, ValueType>, consts: Map<string, ConstInt>): void {
  const where = `shape inference: ${n.op} node "${n.name}"`;
  const ty = (i: number): ValueType => {
    const name = n.inputs[i];
    const t = types.get(name);
    if (!t) throw new Error(`${where}: unknown input "${name}"`);
    return t;
  };
  const has = (i: number) => i < n.inputs.length && n.inputs[i] !== '';
  const cst = (i: number): ConstInt | undefined => (has(i) ? consts.get(n.inputs[i]) : undefined);
  const need = (i: number, what: string): number[] => {
    const c = cst(i);
    if (!c) throw new Error(`${where}: ${what} (input ${i}, "${n.inputs[i]}") is not a constant`);
    return c.data;
  };
  const set = (i: number, t: ValueType, c?: ConstInt) => {
    types.set(n.outputs[i], t);
    if (c && c.data.length <= FOLD_LIMIT) consts.set(n.outputs[i], c);
  };
  const allConst = n.inputs.every((x, i) => !has(i) || consts.has(x));
  const x0 = n.inputs.length > 0 && has(0) ? ty(0) : undefined;

  switch (n.op) {
    case 'Identity': {
      set(0, x0!, cst(0));
      return;
    }
    case 'Add':
    case 'Sub':
    case 'Mul':
    case 'Div':
    case 'Pow':
    case 'Max':
    case 'Min':
    case 'Sum':
    case 'Equal':
    case 'Greater':
    case 'Less':
    case 'GreaterOrEqual':
    case 'LessOrEqual': {
      const shapes = n.inputs.map((_, i) => ty(i).shape);
      const cmp = ['Equal', 'Greater', 'Less', 'GreaterOrEqual', 'LessOrEqual'].includes(n.op);
      const dtype = cmp ? 'bool' : x0!.dtype;
      const shape = broadcastShapes(shapes, where);
      let c: ConstInt | undefined;
      if (allConst && x0!.dtype !== 'float32' && size(shape) <= FOLD_LIMIT) {
        const f: Record<string, (...v: number[]) => number> = {
          Add: (a, b) => a + b,
          Sub: (a, b) => a - b,
          Mul: (a, b) => a * b,
          Div: (a, b) => Math.trunc(a / b),
          Pow: (a, b) => a ** b,
          Max: (...v) => Math.max(...v),
          Min: (...v) => Math.min(...v),
          Sum: (...v) => v.reduce((a, b) => a + b, 0),
          Equal: (a, b) => +(a === b),
          Greater: (a, b) => +(a > b),
          Less: (a, b) => +(a < b),
          GreaterOrEqual: (a, b) => +(a >= b),
          LessOrEqual: (a, b) => +(a <= b),
        };
        c = broadcastEval(
          n.inputs.map((_, i) => cst(i)!),
          f[n.op],
          dtype,
          where,
        );
      }
      set(0, { dtype, shape }, c);
      return;
    }
    case 'Where': {
      const shape = broadcastShapes([ty(0).shape, ty(1).shape, ty(2).shape], where);
      const dtype = ty(1).dtype;
      const c = allConst && dtype !== 'float32' ? broadcastEval([cst(0)!, cst(1)!, cst(2)!], (k, a, b) => (k ? a : b), dtype, where) : undefined;
      set(0, { dtype, shape }, c);
      return;
    }
    case 'Not': {
      set(0, x0!, allConst ? { ...cst(0)!, data: cst(0)!.data.map((v) => +!v) } : undefined);
      return;
    }
    case 'Neg':
    case 'Abs':
    case 'Sign':
    case 'Sqrt':
    case 'Exp':
    case 'Log':
    case 'Erf':
    case 'Tanh':
    case 'Relu':
    case 'Sigmoid':
    case 'Softmax':
    case 'LogSoftmax':
    case 'Reciprocal': {
      let c: ConstInt | undefined;
      if (allConst && x0!.dtype !== 'float32' && (n.op === 'Neg' || n.op === 'Abs' || n.op === 'Relu'))
        c = { ...cst(0)!, data: cst(0)!.data.map((v) => (n.op === 'Neg' ? -v : n.op === 'Abs' ? Math.abs(v) : Math.max(v, 0))) };
      set(0, { ...x0! }, c);
      return;
    }
    case 'Cast': {
      const dtype = dtypeFromCode(attr(n, 'to', 0), where);
      const c = cst(0);
      set(0, { dtype, shape: x0!.shape }, c && dtype !== 'float32' ? { dtype, dims: c.dims, data: dtype === 'bool' ? c.data.map((v) => +!!v) : c.data.map(Math.trunc) } : undefined);
      return;
    }
    case 'Shape': {
      const r = x0!.shape.length;
      let s: number = attr(n, 'start', 0);
      let e: number = attr(n, 'end', r);
      if (s < 0) s += r;
      if (e < 0) e += r;
      s = Math.min(Math.max(s, 0), r);
      e = Math.min(Math.max(e, 0), r);
      const data = x0!.shape.slice(s, Math.max(s, e));
      set(0, { dtype: 'int64', shape: [data.length] }, { dtype: 'int64', dims: [data.length], data });
      return;
    }
    case 'Size': {
      set(0, { dtype: 'int64', shape: [] }, { dtype: 'int64', dims: [], data: [size(x0!.shape)] });
      return;
    }
    case 'ConstantOfShape': {
      const shape = need(0, 'shape');
      const v = n.attrs?.value as OnnxTensor | undefined;
      const dtype = v?.dtype ?? 'float32';
      const c = dtype !== 'float32' && size(shape) <= FOLD_LIMIT ? { dtype, dims: shape, data: new Array(size(shape)).fill(v ? Number(v.data[0]) : 0) } : undefined;
      set(0, { dtype, shape }, c);
      return;
    }
    case 'Range': {
      const [s, l, d] = [need(0, 'start')[0], need(1, 'limit')[0], need(2, 'delta')[0]];
      const len = Math.max(0, Math.ceil((l - s) / d));
      const data = Array.from({ length: len }, (_, i) => s + i * d);
      set(0, { dtype: x0!.dtype, shape: [len] }, x0!.dtype !== 'float32' ? { dtype: x0!.dtype, dims: [len], data } : undefined);
      return;
    }
    case 'Reshape': {
      const shape = reshapeTarget(x0!.shape, need(1, 'shape'), attr<number>(n, 'allowzero', 0) === 1, where);
      const c = cst(0);
      set(0, { dtype: x0!.dtype, shape }, c ? { ...c, dims: shape } : undefined);
      return;
    }
    case 'Flatten': {
      const a = attr(n, 'axis', 1);
      const ax = a < 0 ? a + x0!.shape.length : a;
      const shape = [size(x0!.shape.slice(0, ax)), size(x0!.shape.slice(ax))];
      const c = cst(0);
      set(0, { dtype: x0!.dtype, shape }, c ? { ...c, dims: shape } : undefined);
      return;
    }
    case 'Unsqueeze': {
      const axesIn = has(1) ? need(1, 'axes') : (attr(n, 'axes', []) as number[]);
      const rank = x0!.shape.length + axesIn.length;
      const axes = axesIn.map((a) => normAxis(a, rank, where)).sort((a, b) => a - b);
      const shape = [...x0!.shape];
      for (const a of axes) shape.splice(a, 0, 1);
      const c = cst(0);
      set(0, { dtype: x0!.dtype, shape }, c ? { ...c, dims: shape } : undefined);
      return;
    }
    case 'Squeeze': {
      const axesIn = has(1) ? need(1, 'axes') : (attr(n, 'axes', undefined as unknown as number[]) ?? x0!.shape.map((d, i) => (d === 1 ? i : -1)).filter((i) => i >= 0));
      const axes = new Set(axesIn.map((a) => normAxis(a, x0!.shape.length, where)));
      for (const a of axes) if (x0!.shape[a] !== 1) throw new Error(`${where}: cannot squeeze axis ${a} of [${x0!.shape}]`);
      const shape = x0!.shape.filter((_, i) => !axes.has(i));
      const c = cst(0);
      set(0, { dtype: x0!.dtype, shape }, c ? { ...c, dims: shape } : undefined);
      return;
    }
    case 'Transpose': {
      const perm: number[] = attr(n, 'perm', x0!.shape.map((_, i) => x0!.shape.length - 1 - i));
      const c = cst(0);
      set(0, { dtype: x0!.dtype, shape: perm.map((p) => x0!.shape[p]) }, c ? transposeEval(c, perm) : undefined);
      return;
    }
    case 'Concat': {
      const shapes = n.inputs.map((_, i) => ty(i).shape);
      const a = normAxis(attr(n, 'axis', 0), shapes[0].length, where);
      const shape = [...shapes[0]];
      shape[a] = shapes.reduce((s, x) => s + x[a], 0);
      let c: ConstInt | undefined;
      if (allConst) {
        const outer = size(shape.slice(0, a));
        const data: number[] = [];
        for (let o = 0; o < outer; o++)
          for (let i = 0; i < shapes.length; i++) {
            const blk = size(shapes[i].slice(a));
            data.push(...cst(i)!.data.slice(o * blk, (o + 1) * blk));
          }
        c = { dtype: x0!.dtype, dims: shape, data };
      }
      set(0, { dtype: x0!.dtype, shape }, c);
      return;
    }
    case 'Split': {
      const a = normAxis(attr(n, 'axis', 0), x0!.shape.length, where);
      const d = x0!.shape[a];
      const sizes = has(1) ? need(1, 'split') : (attr(n, 'split', undefined as unknown as number[]) ?? new Array(n.outputs.length).fill(d / n.outputs.length));
      if (sizes.reduce((s, v) => s + v, 0) !== d) throw new Error(`${where}: split sizes [${sizes}] do not add up to ${d}`);
      sizes.forEach((k, i) => {
        const shape = [...x0!.shape];
        shape[a] = k;
        set(i, { dtype: x0!.dtype, shape });
      });
      return;
    }
    case 'Slice': {
      const p = sliceParams(x0!.shape, need(1, 'starts'), need(2, 'ends'), has(3) ? need(3, 'axes') : undefined, has(4) ? need(4, 'steps') : undefined, where);
      const shape = [...x0!.shape];
      for (const q of p) shape[q.axis] = sliceLen(q);
      let c: ConstInt | undefined;
      const x = cst(0);
      if (x) {
        const ist = strides(x0!.shape);
        const ost = strides(shape);
        const start = x0!.shape.map(() => 0);
        const step = x0!.shape.map(() => 1);
        for (const q of p) {
          start[q.axis] = q.start;
          step[q.axis] = q.step;
        }
        const data = new Array<number>(size(shape));
        for (let i = 0; i < data.length; i++) {
          let r = i;
          let j = 0;
          for (let a = 0; a < shape.length; a++) {
            const k = Math.floor(r / ost[a]);
            r -= k * ost[a];
            j += (start[a] + k * step[a]) * ist[a];
          }
          data[i] = x.data[j];
        }
        c = { dtype: x0!.dtype, dims: shape, data };
      }
      set(0, { dtype: x0!.dtype, shape }, c);
      return;
    }
    case 'Expand': {
      const target = need(1, 'shape');
      const shape = broadcastShapes([x0!.shape, target], where);
      const c = cst(0);
      set(0, { dtype: x0!.dtype, shape }, c && size(shape) <= FOLD_LIMIT ? broadcastEval([c, { dtype: 'int64', dims: shape, data: new Array(size(shape)).fill(0) }], (a) => a, c.dtype, where) : undefined);
      return;
    }
    case 'Pad': {
      const pads = need(1, 'pads');
      const r = x0!.shape.length;
      if (has(3)) throw new Error(`${where}: the axes input is not supported`);
      const shape = x0!.shape.map((d, i) => d + pads[i] + pads[i + r]);
      set(0, { dtype: x0!.dtype, shape });
      return;
    }
    case 'Gather': {
      const data = x0!;
      const idx = ty(1);
      const a = normAxis(attr(n, 'axis', 0), data.shape.length, where);
      const shape = [...data.shape.slice(0, a), ...idx.shape, ...data.shape.slice(a + 1)];
      let c: ConstInt | undefined;
      const dc = cst(0);
      const ic = cst(1);
      if (dc && ic && size(shape) <= FOLD_LIMIT) {
        const outer = size(data.shape.slice(0, a));
        const inner = size(data.shape.slice(a + 1));
        const out: number[] = [];
        for (let o = 0; o < outer; o++)
          for (const k0 of ic.data) {
            const k = k0 < 0 ? k0 + data.shape[a] : k0;
            out.push(...dc.data.slice((o * data.shape[a] + k) * inner, (o * data.shape[a] + k + 1) * inner));
          }
        c = { dtype: data.dtype, dims: shape, data: out };
      }
      set(0, { dtype: data.dtype, shape }, c);
      return;
    }
    case 'GatherND': {
      const b = attr(n, 'batch_dims', 0);
      const idx = ty(1).shape;
      const last = idx[idx.length - 1];
      set(0, { dtype: x0!.dtype, shape: [...idx.slice(0, -1), ...x0!.shape.slice(b + last)] });
      return;
    }
    case 'ScatterND':
    case 'ScatterElements': {
      set(0, { ...x0! });
      return;
    }
    case 'ArgMax':
    case 'ReduceMean':
    case 'ReduceSum':
    case 'ReduceMax': {
      const r = x0!.shape.length;
      let axes: number[];
      if (n.op === 'ArgMax') axes = [attr(n, 'axis', 0)];
      else if (n.op === 'ReduceSum' && has(1)) axes = need(1, 'axes');
      else axes = attr(n, 'axes', undefined as unknown as number[]) ?? [];
      const noop = n.op !== 'ArgMax' && axes.length === 0 && attr<number>(n, 'noop_with_empty_axes', 0) === 1;
      const set_ = new Set((axes.length === 0 && !noop ? x0!.shape.map((_, i) => i) : axes).map((a) => normAxis(a, r, where)));
      const keep = attr<number>(n, 'keepdims', 1) === 1;
      const shape = noop ? [...x0!.shape] : keep ? x0!.shape.map((d, i) => (set_.has(i) ? 1 : d)) : x0!.shape.filter((_, i) => !set_.has(i));
      set(0, { dtype: n.op === 'ArgMax' ? 'int64' : x0!.dtype, shape });
      return;
    }
    case 'LayerNormalization': {
      const a = normAxis(attr(n, 'axis', -1), x0!.shape.length, where);
      set(0, { ...x0! });
      const stat = x0!.shape.map((d, i) => (i < a ? d : 1));
      for (let i = 1; i < n.outputs.length; i++) if (n.outputs[i]) set(i, { dtype: 'float32', shape: stat });
      return;
    }
    case 'MatMul': {
      const a = x0!.shape;
      const b = ty(1).shape;
      if (a.length < 2 || b.length < 2) throw new Error(`${where}: 1-D operands are not supported`);
      if (a[a.length - 1] !== b[b.length - 2]) throw new Error(`${where}: [${a}] @ [${b}] inner dimensions differ`);
      const batch = broadcastShapes([a.slice(0, -2), b.slice(0, -2)], where);
      set(0, { dtype: x0!.dtype, shape: [...batch, a[a.length - 2], b[b.length - 1]] });
      return;
    }
    case 'Gemm': {
      const a = x0!.shape;
      const b = ty(1).shape;
      const m = attr(n, 'transA', 0) ? a[1] : a[0];
      const k = attr(n, 'transA', 0) ? a[0] : a[1];
      const k2 = attr(n, 'transB', 0) ? b[1] : b[0];
      const nn = attr(n, 'transB', 0) ? b[0] : b[1];
      if (k !== k2) throw new Error(`${where}: Gemm inner dimensions ${k} and ${k2} differ`);
      set(0, { dtype: x0!.dtype, shape: [m, nn] });
      return;
    }
    case 'Conv':
    case 'ConvTranspose': {
      set(0, { dtype: x0!.dtype, shape: convOutShape(x0!.shape, ty(1).shape, n, n.op === 'ConvTranspose', where) });
      return;
    }
    default:
      throw new Error(`${where}: op ${n.op} is not supported`);
  }
}
