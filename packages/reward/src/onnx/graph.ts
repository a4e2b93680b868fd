import { AttrValue, OnnxDType, OnnxGraph, OnnxModel, OnnxNode, OnnxTensor, OnnxValueInfo, TensorData } from './proto';

/** Opset of the exported graphs: LayerNormalization needs 17; axes stay attributes (ReduceMean). */
export const OPSET = 17;

/** Additive mask value of the tfjs models (src/nn/layers.ts additiveMask): −float32 max / 2. */
export const MASK_VALUE = -3.4028234663852886e38 / 2;

/**
 * A small typed builder for ONNX graphs. Values are tensor names; every op helper returns the name of
 * its output. Initializers are deduplicated by key so shared weights (tied tables, one head serving
 * several passes) are stored once.
 */
export class GraphBuilder {
  private readonly nodes: OnnxNode[] = [];
  private readonly inits = new Map<string, OnnxTensor>();
  private readonly inputs: OnnxValueInfo[] = [];
  private readonly outputs: OnnxValueInfo[] = [];
  private readonly keyed = new Map<string, string>();
  private readonly names = new Set<string>();
  private counter = 0;
  private readonly memos = new Map<string, string>();
  /**
   * Trainable export (train/loss-graph.ts): tfjs variable id → parameter name. When set, the exporters'
   * weights become float32 graph inputs named by the parameter (in the model's own layout) and their
   * export-time transforms become graph nodes, so a gradient graph reaches the raw parameters.
   */
  paramNames?: Map<number, string>;

  constructor(readonly name: string) {}

  /** The value made once per `key` (later calls return the first one's name). */
  memo(key: string, make: () => string): string {
    const hit = this.memos.get(key);
    if (hit !== undefined) return hit;
    const v = make();
    this.memos.set(key, v);
    return v;
  }

  /** A fresh value name from a readable stem. */
  fresh(stem: string): string {
    const base = stem.replace(/[^A-Za-z0-9_.:/-]/g, '_');
    let n = base;
    while (this.names.has(n)) n = `${base}_${++this.counter}`;
    this.names.add(n);
    return n;
  }

  input(name: string, dtype: OnnxDType, shape: (number | string)[]): string {
    if (this.names.has(name)) throw new Error(`onnx graph ${this.name}: duplicate name "${name}"`);
    this.names.add(name);
    this.inputs.push({ name, dtype, shape });
    return name;
  }

  /** Expose `value` as graph output `name` (an Identity when the names differ). */
  output(value: string, name: string, dtype: OnnxDType, shape: (number | string)[]): void {
    let v = value;
    if (value !== name) {
      if (this.names.has(name)) throw new Error(`onnx graph ${this.name}: output name "${name}" already used`);
      this.names.add(name);
      this.nodes.push({ op: 'Identity', inputs: [value], outputs: [name], name: `out_${name}` });
      v = name;
    }
    this.outputs.push({ name: v, dtype, shape });
  }

  /** A constant tensor stored as an initializer; `key` deduplicates (same key → same initializer). */
  init(stem: string, data: TensorData, dims: number[], key?: string): string {
    if (key !== undefined) {
      const hit = this.keyed.get(key);
      if (hit) return hit;
    }
    const dtype = dtypeOf(data);
    const name = this.fresh(stem);
    this.inits.set(name, { name, dtype, dims, data });
    if (key !== undefined) this.keyed.set(key, name);
    return name;
  }

  /** Small constants, deduplicated by value. */
  f32(values: number | number[], dims?: number[]): string {
    const arr = typeof values === 'number' ? [values] : values;
    const d = dims ?? (typeof values === 'number' ? [] : [arr.length]);
    return this.init('c_f', Float32Array.from(arr), d, `f32:${d}:${arr.join(',')}`);
  }

  i64(values: number | number[], dims?: number[]): string {
    const arr = typeof values === 'number' ? [values] : values;
    const d = dims ?? (typeof values === 'number' ? [] : [arr.length]);
    return this.init('c_i', BigInt64Array.from(arr.map((v) => BigInt(v))), d, `i64:${d}:${arr.join(',')}`);
  }

  /** A node with one output. */
  op(op: string, inputs: string[], attrs?: Record<string, AttrValue>, stem?: string, domain?: string): string {
    return this.opN(op, inputs, 1, attrs, stem, domain)[0];
  }

  /** A node with `n` outputs. */
  opN(op: string, inputs: string[], n: number, attrs?: Record<string, AttrValue>, stem?: string, domain?: string): string[] {
    const base = stem ?? op.toLowerCase();
    const outputs = Array.from({ length: n }, (_, i) => this.fresh(n === 1 ? base : `${base}_${i}`));
    this.nodes.push({ op, inputs, outputs, name: this.fresh(`n_${base}`), attrs, domain });
    return outputs;
  }

  // --- Helpers for common ops -----------------------------------------------------------------

  add(a: string, b: string): string {
    return this.op('Add', [a, b]);
  }
  sub(a: string, b: string): string {
    return this.op('Sub', [a, b]);
  }
  mul(a: string, b: string): string {
    return this.op('Mul', [a, b]);
  }
  div(a: string, b: string): string {
    return this.op('Div', [a, b]);
  }
  matMul(a: string, b: string): string {
    return this.op('MatMul', [a, b]);
  }
  relu(x: string): string {
    return this.op('Relu', [x]);
  }
  sigmoid(x: string): string {
    return this.op('Sigmoid', [x]);
  }
  reshape(x: string, shape: number[]): string {
    return this.op('Reshape', [x, this.i64(shape)]);
  }
  transpose(x: string, perm: number[]): string {
    return this.op('Transpose', [x], { perm });
  }
  concat(xs: string[], axis: number): string {
    return this.op('Concat', xs, { axis });
  }
  /** Slice along one axis; `end` may be a large number for "to the end". */
  slice(x: string, axis: number, start: number, end: number): string {
    return this.op('Slice', [x, this.i64([start]), this.i64([end]), this.i64([axis])]);
  }
  split(x: string, sizes: number[], axis: number): string[] {
    return this.opN('Split', [x, this.i64(sizes)], sizes.length, { axis });
  }
  unsqueeze(x: string, axes: number[]): string {
    return this.op('Unsqueeze', [x, this.i64(axes)]);
  }
  cast(x: string, to: OnnxDType): string {
    return this.op('Cast', [x], { to: CAST_CODE[to] });
  }
  /** Shape(x)[start:end] as int64 [end-start]. */
  shape(x: string, start: number, end: number): string {
    return this.op('Shape', [x], { start, end });
  }

  build(): OnnxGraph {
    return { name: this.name, nodes: this.nodes, initializers: [...this.inits.values()], inputs: this.inputs, outputs: this.outputs };
  }

  model(meta: { docString?: string; metadata?: Record<string, string>; opset?: number } = {}): OnnxModel {
    const domains = new Set(this.nodes.map((n) => n.domain ?? '').filter((d) => d !== ''));
    return {
      graph: this.build(),
      opset: meta.opset ?? OPSET,
      extraOpsets: [...domains].map((domain) => ({ domain, version: 1 })),
      docString: meta.docString,
      metadata: meta.metadata,
    };
  }
}

const CAST_CODE: Record<OnnxDType, number> = { float32: 1, uint8: 2, int8: 3, int32: 6, int64: 7, bool: 9 };

function dtypeOf(d: TensorData): OnnxDType {
  if (d instanceof Float32Array) return 'float32';
  if (d instanceof BigInt64Array) return 'int64';
  if (d instanceof Int32Array) return 'int32';
  if (d instanceof Int8Array) return 'int8';
  if (d instanceof Uint8Array) return 'uint8';
  throw new Error('onnx graph: unsupported initializer array type');
}
