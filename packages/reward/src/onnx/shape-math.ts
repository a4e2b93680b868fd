import { OnnxDType, OnnxNode, OnnxTensor } from './proto';

/*
 * The arithmetic of shape inference (shape-infer.ts) and of the gradient rules that rely on it:
 * broadcasting, slicing and reshape targets, conv output sizes, node attributes, and the evaluation of
 * small folded integer tensors.
 */

export interface ValueType {
  dtype: OnnxDType;
  shape: number[];
}

/** A folded integer (or bool) tensor: values as JS numbers (int64 values here are small). */
export interface ConstInt {
  dtype: OnnxDType;
  dims: number[];
  data: number[];
}

export interface Inferred {
  types: Map<string, ValueType>;
  consts: Map<string, ConstInt>;
}

export const FOLD_LIMIT = 1 << 20; // fold integer tensors up to this many elements

export const CODE_DTYPE: Record<number, OnnxDType> = { 1: 'float32', 2: 'uint8', 3: 'int8', 6: 'int32', 7: 'int64', 9: 'bool' };

export function dtypeFromCode(code: number, where: string): OnnxDType {
  const d = CODE_DTYPE[code];
  if (!d) throw new Error(`${where}: unsupported element type code ${code}`);
  return d;
}

export const size = (s: number[]): number => s.reduce((a, b) => a * b, 1);

export function normAxis(a: number, rank: number, where: string): number {
  const r = a < 0 ? a + rank : a;
  if (r < 0 || r >= rank) throw new Error(`${where}: axis ${a} out of range for rank ${rank}`);
  return r;
}

export function broadcastShapes(shapes: number[][], where: string): number[] {
  const rank = Math.max(...shapes.map((s) => s.length));
  const out: number[] = [];
  for (let i = 0; i < rank; i++) {
    let d = 1;
    for (const s of shapes) {
      const k = s.length - rank + i;
      const v = k < 0 ? 1 : s[k];
      if (v === 1) continue;
      if (d !== 1 && d !== v) throw new Error(`${where}: shapes ${shapes.map((x) => `[${x}]`).join(', ')} do not broadcast`);
      d = v;
    }
    out.push(d);
  }
  return out;
}

export function strides(s: number[]): number[] {
  const st = new Array(s.length).fill(1);
  for (let i = s.length - 2; i >= 0; i--) st[i] = st[i + 1] * s[i + 1];
  return st;
}

/** Elementwise op over broadcast integer constants. */
export function broadcastEval(xs: ConstInt[], f: (...v: number[]) => number, dtype: OnnxDType, where: string): ConstInt {
  const dims = broadcastShapes(
    xs.map((x) => x.dims),
    where,
  );
  const n = size(dims);
  const st = xs.map((x) => {
    const s = strides(x.dims);
    const off = dims.length - x.dims.length;
    return dims.map((_, i) => (i < off || x.dims[i - off] === 1 ? 0 : s[i - off]));
  });
  const ost = strides(dims);
  const data = new Array<number>(n);
  for (let i = 0; i < n; i++) {
    const idx = xs.map(() => 0);
    let r = i;
    for (let a = 0; a < dims.length; a++) {
      const c = Math.floor(r / ost[a]);
      r -= c * ost[a];
      for (let k = 0; k < xs.length; k++) idx[k] += c * st[k][a];
    }
    data[i] = f(...idx.map((j, k) => xs[k].data[j]));
  }
  return { dtype, dims, data };
}

export function transposeEval(x: ConstInt, perm: number[]): ConstInt {
  const dims = perm.map((p) => x.dims[p]);
  const ist = strides(x.dims);
  const ost = strides(dims);
  const data = new Array<number>(x.data.length);
  for (let i = 0; i < data.length; i++) {
    let r = i;
    let j = 0;
    for (let a = 0; a < dims.length; a++) {
      const c = Math.floor(r / ost[a]);
      r -= c * ost[a];
      j += c * ist[perm[a]];
    }
    data[i] = x.data[j];
  }
  return { dtype: x.dtype, dims, data };
}

export function initConst(t: OnnxTensor): ConstInt | undefined {
  if (t.dtype === 'float32' || t.data.length > FOLD_LIMIT) return undefined;
  return { dtype: t.dtype, dims: [...t.dims], data: Array.from(t.data as ArrayLike<number | bigint>, (v) => Number(v)) };
}

/** Normalised Slice parameters (steps 1 only where `unitOnly`): per axis start/end/step. */
export function sliceParams(shape: number[], starts: number[], ends: number[], axes: number[] | undefined, steps: number[] | undefined, where: string): { axis: number; start: number; end: number; step: number }[] {
  const ax = axes ?? starts.map((_, i) => i);
  return ax.map((a0, i) => {
    const a = normAxis(a0, shape.length, where);
    const d = shape[a];
    const step = steps?.[i] ?? 1;
    if (step === 0) throw new Error(`${where}: slice step 0`);
    let s = starts[i];
    let e = ends[i];
    if (s < 0) s += d;
    if (e < 0) e += d;
    if (step > 0) {
      s = Math.min(Math.max(s, 0), d);
      e = Math.min(Math.max(e, 0), d);
    } else {
      s = Math.min(Math.max(s, 0), d - 1);
      e = Math.min(Math.max(e, -1), d - 1);
    }
    return { axis: a, start: s, end: e, step };
  });
}

export function sliceLen(p: { start: number; end: number; step: number }): number {
  return Math.max(0, Math.ceil((p.end - p.start) / p.step));
}

/** Resolve a Reshape target (0 = copy, −1 = infer). */
export function reshapeTarget(inShape: number[], target: number[], allowZero: boolean, where: string): number[] {
  const out = target.map((t, i) => (t === 0 && !allowZero ? inShape[i] : t));
  const neg = out.indexOf(-1);
  if (neg >= 0) {
    const known = size(out.filter((_, i) => i !== neg));
    out[neg] = known === 0 ? 0 : size(inShape) / known;
  }
  if (size(out) !== size(inShape) || out.some((v) => !Number.isInteger(v) || v < 0))
    throw new Error(`${where}: cannot reshape [${inShape}] to [${target}]`);
  return out;
}

export function attr<T>(n: OnnxNode, name: string, dflt: T): T {
  const v = n.attrs?.[name];
  if (v === undefined) return dflt;
  if (typeof v === 'object' && !Array.isArray(v) && 'float' in v) return v.float as unknown as T;
  return v as unknown as T;
}

export function convOutShape(x: number[], w: number[], n: OnnxNode, transpose: boolean, where: string): number[] {
  const sp = x.length - 2;
  const k: number[] = attr(n, 'kernel_shape', w.slice(2));
  const s: number[] = attr(n, 'strides', new Array(sp).fill(1));
  const d: number[] = attr(n, 'dilations', new Array(sp).fill(1));
  const p: number[] = attr(n, 'pads', new Array(2 * sp).fill(0));
  const group: number = attr(n, 'group', 1);
  if (attr(n, 'auto_pad', 'NOTSET') !== 'NOTSET') throw new Error(`${where}: auto_pad is not supported`);
  if (transpose) {
    const op: number[] = attr(n, 'output_padding', new Array(sp).fill(0));
    if (n.attrs?.output_shape) throw new Error(`${where}: output_shape is not supported`);
    return [x[0], w[1] * group, ...x.slice(2).map((h, i) => s[i] * (h - 1) + op[i] + (k[i] - 1) * d[i] + 1 - p[i] - p[i + sp])];
  }
  return [x[0], w[0], ...x.slice(2).map((h, i) => Math.floor((h + p[i] + p[i + sp] - ((k[i] - 1) * d[i] + 1)) / s[i]) + 1)];
}
