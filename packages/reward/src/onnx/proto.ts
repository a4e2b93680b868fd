import * as fs from 'fs';
import * as path from 'path';
import * as protobuf from 'protobufjs';

/**
 * The part of onnx.proto (proto3 flavour, https://github.com/onnx/onnx/blob/main/onnx/onnx.proto) that
 * a model writer needs, with the upstream field numbers. Messages are encoded by protobufjs; a model is
 * written field by field (see {@link writeModel}) so that multi-gigabyte initializers never sit in one
 * buffer and tensors can move to an external data file.
 */
const ONNX_PROTO = `
syntax = "proto3";
package onnx;

message AttributeProto {
  enum AttributeType {
    UNDEFINED = 0; FLOAT = 1; INT = 2; STRING = 3; TENSOR = 4; GRAPH = 5; SPARSE_TENSOR = 11; TYPE_PROTO = 13;
    FLOATS = 6; INTS = 7; STRINGS = 8; TENSORS = 9; GRAPHS = 10; SPARSE_TENSORS = 12; TYPE_PROTOS = 14;
  }
  string name = 1;
  string ref_attr_name = 21;
  string doc_string = 13;
  AttributeType type = 20;
  float f = 2;
  int64 i = 3;
  bytes s = 4;
  TensorProto t = 5;
  GraphProto g = 6;
  repeated float floats = 7;
  repeated int64 ints = 8;
  repeated bytes strings = 9;
  repeated TensorProto tensors = 10;
  repeated GraphProto graphs = 11;
}

message ValueInfoProto {
  string name = 1;
  TypeProto type = 2;
  string doc_string = 3;
}

message NodeProto {
  repeated string input = 1;
  repeated string output = 2;
  string name = 3;
  string op_type = 4;
  string domain = 7;
  repeated AttributeProto attribute = 5;
  string doc_string = 6;
}

message StringStringEntryProto {
  string key = 1;
  string value = 2;
}

message OperatorSetIdProto {
  string domain = 1;
  int64 version = 2;
}

message ModelProto {
  int64 ir_version = 1;
  repeated OperatorSetIdProto opset_import = 8;
  string producer_name = 2;
  string producer_version = 3;
  string domain = 4;
  int64 model_version = 5;
  string doc_string = 6;
  GraphProto graph = 7;
  repeated StringStringEntryProto metadata_props = 14;
}

message GraphProto {
  repeated NodeProto node = 1;
  string name = 2;
  repeated TensorProto initializer = 5;
  string doc_string = 10;
  repeated ValueInfoProto input = 11;
  repeated ValueInfoProto output = 12;
  repeated ValueInfoProto value_info = 13;
}

message TensorProto {
  enum DataType {
    UNDEFINED = 0; FLOAT = 1; UINT8 = 2; INT8 = 3; UINT16 = 4; INT16 = 5; INT32 = 6; INT64 = 7; STRING = 8;
    BOOL = 9; FLOAT16 = 10; DOUBLE = 11; UINT32 = 12; UINT64 = 13;
  }
  enum DataLocation { DEFAULT = 0; EXTERNAL = 1; }
  repeated int64 dims = 1;
  int32 data_type = 2;
  repeated float float_data = 4 [packed = true];
  repeated int32 int32_data = 5 [packed = true];
  repeated int64 int64_data = 7 [packed = true];
  string name = 8;
  string doc_string = 12;
  bytes raw_data = 9;
  repeated StringStringEntryProto external_data = 13;
  DataLocation data_location = 14;
}

message TensorShapeProto {
  message Dimension {
    oneof value {
      int64 dim_value = 1;
      string dim_param = 2;
    }
    string denotation = 3;
  }
  repeated Dimension dim = 1;
}

message TypeProto {
  message Tensor {
    int32 elem_type = 1;
    TensorShapeProto shape = 2;
  }
  oneof value {
    Tensor tensor_type = 1;
  }
  string denotation = 6;
}
`;

const root = protobuf.parse(ONNX_PROTO, { keepCase: true }).root;

export const ModelProto = root.lookupType('onnx.ModelProto');
export const GraphProto = root.lookupType('onnx.GraphProto');
export const NodeProto = root.lookupType('onnx.NodeProto');
export const TensorProto = root.lookupType('onnx.TensorProto');
export const ValueInfoProto = root.lookupType('onnx.ValueInfoProto');
export const AttributeProto = root.lookupType('onnx.AttributeProto');
export const OperatorSetIdProto = root.lookupType('onnx.OperatorSetIdProto');

/** Element types we write, with their TensorProto.DataType code and byte size. */
export type OnnxDType = 'float32' | 'int64' | 'int32' | 'int8' | 'uint8' | 'bool';
export const DTYPE_CODE: Record<OnnxDType, number> = { float32: 1, uint8: 2, int8: 3, int32: 6, int64: 7, bool: 9 };
export const DTYPE_BYTES: Record<OnnxDType, number> = { float32: 4, uint8: 1, int8: 1, int32: 4, int64: 8, bool: 1 };

export type TensorData = Float32Array | Int32Array | BigInt64Array | Int8Array | Uint8Array;

/** An initializer: a named constant tensor of the graph. */
export interface OnnxTensor {
  name: string;
  dtype: OnnxDType;
  dims: number[];
  data: TensorData;
}

/** A graph input or output: symbolic dims are strings ("batch", "text_len"). */
export interface OnnxValueInfo {
  name: string;
  dtype: OnnxDType;
  shape: (number | string)[];
}

export type AttrValue = number | string | number[] | string[] | { float: number } | { floats: number[] } | OnnxTensor;

export interface OnnxNode {
  op: string;
  inputs: string[];
  outputs: string[];
  name: string;
  domain?: string;
  attrs?: Record<string, AttrValue>;
}

export interface OnnxGraph {
  name: string;
  nodes: OnnxNode[];
  initializers: OnnxTensor[];
  inputs: OnnxValueInfo[];
  outputs: OnnxValueInfo[];
}

export interface OnnxModel {
  graph: OnnxGraph;
  /** Opset of the default ONNX domain. */
  opset: number;
  /** Extra operator sets (e.g. com.microsoft) used by some nodes. */
  extraOpsets?: { domain: string; version: number }[];
  producer?: string;
  docString?: string;
  metadata?: Record<string, string>;
}

/** IR version that goes with an opset (onnx/helper.py's VERSION_TABLE). */
export function irVersionFor(opset: number): number {
  if (opset <= 8) return 3;
  if (opset <= 10) return 5;
  if (opset <= 12) return 7;
  if (opset <= 18) return 8;
  if (opset <= 20) return 9;
  return 10;
}

function bytesOf(data: TensorData): Uint8Array {
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

function typeProto(v: OnnxValueInfo): Record<string, unknown> {
  return {
    tensor_type: {
      elem_type: DTYPE_CODE[v.dtype],
      shape: { dim: v.shape.map((d) => (typeof d === 'number' ? { dim_value: d } : { dim_param: d })) },
    },
  };
}

function attrProto(name: string, v: AttrValue): Record<string, unknown> {
  // Plain numbers are ints (axes, flags); floats are spelled {float: x} so 1.0 stays a FLOAT.
  if (typeof v === 'number') {
    if (!Number.isInteger(v)) throw new Error(`onnx attribute ${name}: ${v} is not an integer (write {float: ${v}})`);
    return { name, type: 2, i: v };
  }
  if (typeof v === 'string') return { name, type: 3, s: Buffer.from(v, 'utf8') };
  if (Array.isArray(v)) {
    if (v.every((x) => typeof x === 'string')) return { name, type: 8, strings: (v as string[]).map((s) => Buffer.from(s, 'utf8')) };
    if (!v.every((x) => Number.isInteger(x))) throw new Error(`onnx attribute ${name}: ints expected, got ${JSON.stringify(v)}`);
    return { name, type: 7, ints: v };
  }
  if ('float' in v) return { name, type: 1, f: v.float };
  if ('floats' in v) return { name, type: 6, floats: v.floats };
  return { name, type: 4, t: TensorProto.decode(tensorProto(v)) };
}

/**
 * TensorProto fields except raw_data, which the writers append from the typed array itself (a field
 * may come in any order), so weights are never copied into protobuf buffers.
 */
function tensorHead(t: OnnxTensor, external?: { location: string; offset: number; length: number }): Uint8Array {
  const n = t.dims.reduce((a, b) => a * b, 1);
  if (n !== t.data.length) throw new Error(`onnx tensor ${t.name}: dims [${t.dims}] hold ${n} values, data has ${t.data.length}`);
  const msg: Record<string, unknown> = { name: t.name, dims: t.dims, data_type: DTYPE_CODE[t.dtype] };
  if (external) {
    msg.data_location = 1;
    msg.external_data = [
      { key: 'location', value: external.location },
      { key: 'offset', value: String(external.offset) },
      { key: 'length', value: String(external.length) },
    ];
  }
  return TensorProto.encode(TensorProto.fromObject(msg)).finish();
}

const RAW_DATA_FIELD = 9; // TensorProto.raw_data

/** The chunks of one serialised TensorProto (inline data as its own chunk, not copied). */
function tensorChunks(t: OnnxTensor, external?: { location: string; offset: number; length: number }): Uint8Array[] {
  const head = tensorHead(t, external);
  if (external) return [head];
  const raw = bytesOf(t.data);
  return [head, fieldHeader(RAW_DATA_FIELD, raw.length), raw];
}

function tensorProto(t: OnnxTensor): Uint8Array {
  return Buffer.concat(tensorChunks(t));
}

function nodeProto(n: OnnxNode): Record<string, unknown> {
  return {
    name: n.name,
    op_type: n.op,
    domain: n.domain ?? '',
    input: n.inputs,
    output: n.outputs,
    attribute: Object.entries(n.attrs ?? {}).map(([k, v]) => attrProto(k, v)),
  };
}

function varint(n: number): Uint8Array {
  const out: number[] = [];
  while (n >= 0x80) {
    out.push((n % 0x80) | 0x80);
    n = Math.floor(n / 0x80);
  }
  out.push(n);
  return Uint8Array.from(out);
}

/** Bytes of a length-delimited field (wire type 2). */
function fieldHeader(field: number, length: number): Uint8Array {
  const tag = varint((field << 3) | 2);
  const len = varint(length);
  const out = new Uint8Array(tag.length + len.length);
  out.set(tag, 0);
  out.set(len, tag.length);
  return out;
}

const GRAPH_FIELD = 7; // ModelProto.graph
const INITIALIZER_FIELD = 5; // GraphProto.initializer

export interface WriteOptions {
  /**
   * Move initializers to an external data file when their total size exceeds this many bytes
   * (default 1.9 GiB: protobuf cannot parse a message of 2 GiB or more).
   */
  externalDataThreshold?: number;
  /** Tensors smaller than this stay inline even when external data is used (default 1024 bytes). */
  externalMinBytes?: number;
  /** Name of the external data file, beside the model (default `<model file name>.data`). */
  externalDataName?: string;
}

export interface WriteResult {
  file: string;
  bytes: number;
  /** The external data file, when one was written. */
  dataFile?: string;
  dataBytes?: number;
}

const DEFAULT_EXTERNAL_THRESHOLD = Math.floor(1.9 * 2 ** 30);
const ALIGN = 4096; // external data offsets page-aligned, so ORT can map them

/** Where serialised bytes go: a file descriptor or a list of chunks. */
class Sink {
  bytes = 0;
  readonly chunks: Uint8Array[] = [];
  constructor(private readonly fd?: number) {}
  write(b: Uint8Array): void {
    if (this.fd === undefined) this.chunks.push(b);
    else for (let off = 0; off < b.length; ) off += fs.writeSync(this.fd, b, off, b.length - off);
    this.bytes += b.length;
  }
}

/** Write `file` through a temporary file, fsync and rename; returns the bytes written. */
function withTmp(file: string, body: (sink: Sink) => void): number {
  const tmp = `${file}.tmp-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
  const fd = fs.openSync(tmp, 'w');
  try {
    const sink = new Sink(fd);
    body(sink);
    fs.fsyncSync(fd);
    fs.closeSync(fd);
    fs.renameSync(tmp, file);
    return sink.bytes;
  } catch (e) {
    try {
      fs.closeSync(fd);
    } catch {
      // already closed
    }
    fs.rmSync(tmp, { force: true });
    throw e;
  }
}

type External = Map<string, { location: string; offset: number; length: number }>;

/**
 * The model's protobuf, streamed: the small fields encoded by protobufjs, then each initializer as a
 * repeated GraphProto field (protobuf defines repeated fields in several pieces as one message).
 */
function serialise(model: OnnxModel, external: External, sink: Sink): void {
  const g = model.graph;
  const graphHead = GraphProto.encode(
    GraphProto.fromObject({
      name: g.name,
      node: g.nodes.map(nodeProto),
      input: g.inputs.map((v) => ({ name: v.name, type: typeProto(v) })),
      output: g.outputs.map((v) => ({ name: v.name, type: typeProto(v) })),
    }),
  ).finish();
  const tensors = g.initializers.map((t) => {
    const chunks = tensorChunks(t, external.get(t.name));
    const len = chunks.reduce((a, c) => a + c.length, 0);
    return { chunks: [fieldHeader(INITIALIZER_FIELD, len), ...chunks], len };
  });
  const graphLen = graphHead.length + tensors.reduce((a, t) => a + t.chunks[0].length + t.len, 0);
  const modelHead = ModelProto.encode(
    ModelProto.fromObject({
      ir_version: irVersionFor(model.opset),
      opset_import: [{ domain: '', version: model.opset }, ...(model.extraOpsets ?? [])],
      producer_name: model.producer ?? 'richhf-ts',
      producer_version: '0.1.0',
      doc_string: model.docString ?? '',
      metadata_props: Object.entries(model.metadata ?? {}).map(([key, value]) => ({ key, value })),
    }),
  ).finish();
  sink.write(modelHead);
  sink.write(fieldHeader(GRAPH_FIELD, graphLen));
  sink.write(graphHead);
  for (const t of tensors) for (const c of t.chunks) sink.write(c);
}

/**
 * Serialise a model to `file` atomically (temporary file + rename). Over the threshold, initializers
 * of at least `externalMinBytes` go to `<file>.data` (TensorProto.data_location = EXTERNAL with
 * external_data location / offset / length, offsets page-aligned), written first so a model file
 * never points at a missing data file.
 */
export function writeModel(model: OnnxModel, file: string, opts: WriteOptions = {}): WriteResult {
  fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
  const g = model.graph;
  const total = g.initializers.reduce((a, t) => a + t.data.byteLength, 0);
  const threshold = opts.externalDataThreshold ?? DEFAULT_EXTERNAL_THRESHOLD;
  const minBytes = opts.externalMinBytes ?? 1024;
  const external: External = new Map();
  let dataFile: string | undefined;
  let dataBytes: number | undefined;
  if (total > threshold) {
    const location = opts.externalDataName ?? `${path.basename(file)}.data`;
    dataFile = path.join(path.dirname(file), location);
    dataBytes = withTmp(dataFile, (sink) => {
      for (const t of g.initializers) {
        if (t.data.byteLength < minBytes) continue;
        const pad = (ALIGN - (sink.bytes % ALIGN)) % ALIGN;
        if (pad) sink.write(new Uint8Array(pad));
        external.set(t.name, { location, offset: sink.bytes, length: t.data.byteLength });
        sink.write(bytesOf(t.data));
      }
    });
  }
  const bytes = withTmp(file, (sink) => serialise(model, external, sink));
  return { file, bytes, dataFile, dataBytes };
}

/** The whole model as bytes, initializers inline (small models: tests, in-memory sessions). */
export function encodeModel(model: OnnxModel): Uint8Array {
  const sink = new Sink();
  serialise(model, new Map(), sink);
  return Buffer.concat(sink.chunks);
}

/** Decode a model's protobuf (tests and inspection; external data is not resolved). */
export function decodeModel(bytes: Uint8Array): any {
  return ModelProto.toObject(ModelProto.decode(bytes), { longs: Number, bytes: Buffer, defaults: false });
}
