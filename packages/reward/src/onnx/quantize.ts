import { OnnxModel, OnnxNode, OnnxTensor } from './proto';

/*
 * Dynamic int8 quantisation of MatMul weights, in the standard ONNX pattern that onnxruntime fuses
 * into its DynamicQuantizeMatMul kernel (int8 GEMM; VNNI where the CPU has it):
 *
 *   x ─DynamicQuantizeLinear→ (x_q uint8, x_scale, x_zero) ─MatMulInteger(x_q, W_q int8, x_zero)→ int32
 *     ─Cast→ float ─Mul(x_scale · w_scale)→ y
 *
 * Weights are quantised symmetrically per output column (w_scale [N], zero point 0), activations per
 * tensor at run time. Convolutions (the heads' 3×3 convs), Gather tables and the tied lm head (Gemm)
 * stay float.
 */

export interface QuantizeOptions {
  /** Quantise only weights with at least this many elements (default 4096). */
  minElements?: number;
  /**
   * 7-bit weights ([−63, 63]) so that u8·s8 pair sums cannot saturate int16 on CPUs without VNNI
   * (AVX2 vpmaddubsw); costs accuracy. Default false (this machine and recent Xeons have VNNI).
   */
  reduceRange?: boolean;
}

/** Per-column symmetric int8 of a [K, N] weight: W ≈ W_q · scale[n]. */
export function quantizeWeight(w: Float32Array, k: number, n: number, qmax = 127): { q: Int8Array; scale: Float32Array } {
  const scale = new Float32Array(n);
  for (let i = 0; i < k; i++) {
    for (let j = 0; j < n; j++) {
      const a = Math.abs(w[i * n + j]);
      if (a > scale[j]) scale[j] = a;
    }
  }
  for (let j = 0; j < n; j++) scale[j] = scale[j] > 0 ? scale[j] / qmax : 1;
  const q = new Int8Array(k * n);
  for (let i = 0; i < k; i++) {
    for (let j = 0; j < n; j++) {
      const v = Math.round(w[i * n + j] / scale[j]);
      q[i * n + j] = v > qmax ? qmax : v < -qmax ? -qmax : v;
    }
  }
  return { q, scale };
}

/** A copy of `model` with every MatMul on a constant 2-D float weight replaced by the int8 pattern. */
export function quantizeDynamic(model: OnnxModel, opts: QuantizeOptions = {}): OnnxModel {
  const minElements = opts.minElements ?? 4096;
  const qmax = opts.reduceRange ? 63 : 127;
  const g = model.graph;
  const inits = new Map(g.initializers.map((t) => [t.name, t]));
  const quantised = new Map<string, { q: string; scale: string }>(); // weight name → int8 twin
  const newInits: OnnxTensor[] = [];
  const nodes: OnnxNode[] = [];
  let serial = 0;
  const fresh = (s: string) => `${s}__q${serial++}`;
  // Weights still read by a non-MatMul node (e.g. a tied table) keep their float copy.
  const floatUsers = new Set<string>();
  for (const n of g.nodes) {
    if (n.op === 'MatMul') continue;
    for (const i of n.inputs) floatUsers.add(i);
  }
  for (const n of g.nodes) {
    const w = n.op === 'MatMul' ? inits.get(n.inputs[1]) : undefined;
    if (!w || w.dtype !== 'float32' || w.dims.length !== 2 || w.data.length < minElements) {
      nodes.push(n);
      continue;
    }
    let qw = quantised.get(w.name);
    if (!qw) {
      const [k, nn] = w.dims;
      const { q, scale } = quantizeWeight(w.data as Float32Array, k, nn, qmax);
      qw = { q: `${w.name}_int8`, scale: `${w.name}_scale` };
      newInits.push({ name: qw.q, dtype: 'int8', dims: [k, nn], data: q }, { name: qw.scale, dtype: 'float32', dims: [nn], data: scale });
      quantised.set(w.name, qw);
    }
    const [xq, xs, xz] = [fresh('x_q'), fresh('x_scale'), fresh('x_zero')];
    const [acc, accF, sc] = [fresh('mm_int32'), fresh('mm_float'), fresh('scale')];
    nodes.push({ op: 'DynamicQuantizeLinear', inputs: [n.inputs[0]], outputs: [xq, xs, xz], name: fresh('dql') });
    nodes.push({ op: 'MatMulInteger', inputs: [xq, qw.q, xz], outputs: [acc], name: fresh('mmi') });
    nodes.push({ op: 'Cast', inputs: [acc], outputs: [accF], name: fresh('cast'), attrs: { to: 1 } });
    nodes.push({ op: 'Mul', inputs: [xs, qw.scale], outputs: [sc], name: fresh('scale_mul') });
    nodes.push({ op: 'Mul', inputs: [accF, sc], outputs: n.outputs, name: fresh('out_mul') });
  }
  const keep = g.initializers.filter((t) => !quantised.has(t.name) || floatUsers.has(t.name));
  return {
    ...model,
    graph: { ...g, nodes, initializers: [...keep, ...newInits] },
    docString: `${model.docString ?? ''} (dynamic int8 MatMul weights${opts.reduceRange ? ', 7-bit' : ''})`.trim(),
  };
}
