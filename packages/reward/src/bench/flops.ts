import { OnnxGraph } from '../onnx/proto';
import { inferShapes } from '../onnx/shape-infer';

/*
 * FLOPs of a graph as it runs, counted from its nodes and their inferred shapes (onnx/shape-infer.ts):
 * 2 × multiply-adds of every MatMul, Gemm, Conv and ConvTranspose — the ops that carry the time and that
 * the MatMul yardstick (gemm.ts) measures. Element-wise ops, norms and softmax are left out (a few per
 * cent of the FLOPs), so FLOPs / time is a lower bound on the rate achieved. Counted on the graph itself,
 * not on a formula, so a gradient graph (whose backward MatMuls are its own business) is counted the same.
 */

const prod = (a: number[]) => a.reduce((x, y) => x * y, 1);

export interface FlopCount {
  total: number;
  /** FLOPs by op type. */
  byOp: Record<string, number>;
}

/** FLOPs of one run of `graph` with the given input shapes. */
export function graphFlops(graph: OnnxGraph, inputShapes: Record<string, number[]>): FlopCount {
  const { types } = inferShapes(graph, inputShapes);
  const shape = (v: string) => {
    const t = types.get(v);
    if (!t) throw new Error(`graphFlops: no shape for "${v}"`);
    return t.shape;
  };
  const byOp: Record<string, number> = {};
  let total = 0;
  for (const n of graph.nodes) {
    let f = 0;
    if (n.op === 'MatMul') {
      const a = shape(n.inputs[0]);
      f = 2 * prod(shape(n.outputs[0])) * a[a.length - 1]; // every output element is a K-long dot product
    } else if (n.op === 'Gemm') {
      const a = shape(n.inputs[0]);
      const transA = Number(n.attrs?.transA ?? 0);
      f = 2 * prod(shape(n.outputs[0])) * (transA ? a[0] : a[1]);
    } else if (n.op === 'Conv') {
      const w = shape(n.inputs[1]); // [Cout, Cin/group, kh, kw]
      f = 2 * prod(shape(n.outputs[0])) * prod(w.slice(1));
    } else if (n.op === 'ConvTranspose') {
      const w = shape(n.inputs[1]); // [Cin, Cout/group, kh, kw]: each input element is scattered through Cout/group·kh·kw weights
      f = 2 * prod(shape(n.inputs[0])) * prod(w.slice(1));
    } else continue;
    byOp[n.op] = (byOp[n.op] ?? 0) + f;
    total += f;
  }
  return { total, byOp };
}
