import * as fs from 'fs';
import * as path from 'path';
import { AttrValue, OnnxDType, OnnxGraph, OnnxNode, OnnxTensor, OnnxValueInfo, TensorData, decodeModel } from './proto';
import { dtypeFromCode } from './shape-math';

/*
 * An ONNX model file back into the OnnxGraph of proto.ts (the writer's in-memory form), so graphs
 * written by `rahf export` can be transformed again (autodiff.ts gradient graphs) without the tfjs model.
 * Initializers come from raw_data or the typed *_data fields, or from the external data file beside the
 * model (TensorProto.data_location = EXTERNAL). Only the subset of onnx.proto that proto.ts writes.
 */

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Any = any;

function typed(dtype: OnnxDType, bytes: Uint8Array): TensorData {
  // A copy: protobuf views are unaligned and share the whole file's buffer.
  const buf = new Uint8Array(bytes.length);
  buf.set(bytes);
  switch (dtype) {
    case 'float32':
      return new Float32Array(buf.buffer);
    case 'int64':
      return new BigInt64Array(buf.buffer);
    case 'int32':
      return new Int32Array(buf.buffer);
    case 'int8':
      return new Int8Array(buf.buffer);
    default:
      return buf; // uint8, bool
  }
}

function tensorOf(t: Any, file: string, dataCache: Map<string, number>): OnnxTensor {
  const where = `${file}: initializer "${t.name}"`;
  const dtype = dtypeFromCode(t.data_type, where);
  const dims: number[] = (t.dims ?? []).map(Number);
  const n = dims.reduce((a, b) => a * b, 1);
  let data: TensorData;
  if (t.data_location === 1 || (t.external_data && t.external_data.length)) {
    const kv = Object.fromEntries((t.external_data ?? []).map((e: Any) => [e.key, e.value]));
    const loc = path.join(path.dirname(file), kv.location ?? '');
    const offset = Number(kv.offset ?? 0);
    const length = Number(kv.length ?? 0);
    let fd = dataCache.get(loc);
    if (fd === undefined) {
      if (!fs.existsSync(loc)) throw new Error(`${where}: external data file ${loc} is missing`);
      fd = fs.openSync(loc, 'r');
      dataCache.set(loc, fd);
    }
    const bytes = new Uint8Array(length);
    for (let off = 0; off < length; ) {
      const r = fs.readSync(fd, bytes, off, length - off, offset + off);
      if (r === 0) throw new Error(`${where}: external data file ${loc} ends before offset ${offset + length}`);
      off += r;
    }
    data = typed(dtype, bytes);
  } else if (t.raw_data && t.raw_data.length) {
    data = typed(dtype, t.raw_data);
  } else if (dtype === 'float32') data = Float32Array.from(t.float_data ?? []);
  else if (dtype === 'int64') data = BigInt64Array.from((t.int64_data ?? []).map((v: number) => BigInt(v)));
  else if (dtype === 'int32') data = Int32Array.from(t.int32_data ?? []);
  else if (dtype === 'int8') data = Int8Array.from(t.int32_data ?? []);
  else data = Uint8Array.from(t.int32_data ?? []);
  if (data.length !== n) throw new Error(`${where}: dims [${dims}] hold ${n} values, the data has ${data.length}`);
  return { name: t.name, dtype, dims, data };
}

function attrOf(a: Any, file: string, cache: Map<string, number>): AttrValue {
  switch (a.type) {
    case 1:
      return { float: a.f ?? 0 };
    case 2:
      return Number(a.i ?? 0);
    case 3:
      return Buffer.from(a.s ?? []).toString('utf8');
    case 4:
      return tensorOf(a.t, file, cache);
    case 6:
      return { floats: a.floats ?? [] };
    case 7:
      return (a.ints ?? []).map(Number);
    case 8:
      return (a.strings ?? []).map((s: Uint8Array) => Buffer.from(s).toString('utf8'));
    default:
      throw new Error(`${file}: attribute "${a.name}" has an unsupported type ${a.type}`);
  }
}

function valueInfo(v: Any, file: string): OnnxValueInfo {
  const tt = v.type?.tensor_type;
  if (!tt) throw new Error(`${file}: value "${v.name}" is not a tensor`);
  const shape = (tt.shape?.dim ?? []).map((d: Any) => (d.dim_param !== undefined && d.dim_param !== '' ? d.dim_param : Number(d.dim_value ?? 0)));
  return { name: v.name, dtype: dtypeFromCode(tt.elem_type, `${file}: value "${v.name}"`), shape };
}

/** Read an ONNX model file (and its external data) as an OnnxGraph plus its default-domain opset. */
export function readGraph(file: string): { graph: OnnxGraph; opset: number } {
  if (!fs.existsSync(file)) throw new Error(`${file}: no such file`);
  let m: Any;
  try {
    m = decodeModel(fs.readFileSync(file));
  } catch (e) {
    throw new Error(`${file}: not an ONNX model (${String((e as Error).message).split('\n')[0]})`);
  }
  const g = m.graph;
  if (!g) throw new Error(`${file}: the model has no graph`);
  const cache = new Map<string, number>();
  try {
    const nodes: OnnxNode[] = (g.node ?? []).map((n: Any, i: number) => {
      const attrs: Record<string, AttrValue> = {};
      for (const a of n.attribute ?? []) attrs[a.name] = attrOf(a, file, cache);
      const node: OnnxNode = { op: n.op_type, inputs: n.input ?? [], outputs: n.output ?? [], name: n.name || `node_${i}` };
      if (n.domain) node.domain = n.domain;
      if (Object.keys(attrs).length) node.attrs = attrs;
      return node;
    });
    const initializers = (g.initializer ?? []).map((t: Any) => tensorOf(t, file, cache));
    const inits = new Set(initializers.map((t: OnnxTensor) => t.name));
    const opset = (m.opset_import ?? []).find((o: Any) => !o.domain)?.version;
    return {
      graph: {
        name: g.name ?? 'graph',
        nodes,
        initializers,
        // Older writers list initializers among the inputs too.
        inputs: (g.input ?? []).filter((v: Any) => !inits.has(v.name)).map((v: Any) => valueInfo(v, file)),
        outputs: (g.output ?? []).map((v: Any) => valueInfo(v, file)),
      },
      opset: Number(opset ?? 0),
    };
  } finally {
    for (const fd of cache.values()) fs.closeSync(fd);
  }
}
