// `@richhf/reward/onnx`: build ONNX graphs in TypeScript, differentiate them, write and quantise them — the
// toolkit the reward model's exports are made with, for other packages' graphs (decoders, generators).
export { GraphBuilder, OPSET, MASK_VALUE } from './graph';
export { gradientGraph, gradientModel, GRAD_OPSET, type GradientSpec, type GradientSeed } from './autodiff';
export {
  writeModel,
  encodeModel,
  decodeModel,
  type OnnxDType,
  type OnnxTensor,
  type OnnxValueInfo,
  type OnnxNode,
  type OnnxGraph,
  type OnnxModel,
  type AttrValue,
  type TensorData,
  type WriteOptions,
  type WriteResult,
} from './proto';
export { readGraph } from './read-graph';
export { inferShapes } from './shape-infer';
export { quantizeDynamic, type QuantizeOptions } from './quantize';
export { cachedExport, checkpointKey, sweepExportCache, defaultExportCacheDir, type ExportCacheOptions } from './export-cache';
