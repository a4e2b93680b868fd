// Latent decoders and encoders: TAESD (AutoencoderTiny) and AutoencoderKL from diffusers folders, in tfjs and
// in onnxruntime with generated gradient graphs.
export { type LatentDecoder, type DifferentiableDecoder, type DecodedWithVjp, type LatentEncoder, checkLatents, decodeWithVjp } from './decoder';
export { loadDecoder, loadEncoder, type LoadVaeOptions, type VaeDecoder, type VaeEncoder, type VaeEngine } from './load';
export { TfAutoencoder, AutoencoderTiny, AutoencoderKL } from './autoencoder';
export { OrtDecoder, OrtEncoder, type OrtVaeOptions } from './ort-decoder';
export { readVaeCheckpoint, type VaeCheckpoint, type ReadVaeOptions } from './checkpoint';
export { exportDecoderOnnx, type ExportDecoderOptions } from './export-onnx';
export { splitVjp, type SplitVjp } from './split-vjp';
export { decoderGraph, encoderGraph, type DecoderGraphSpec, type EncoderGraphSpec } from './onnx-graph';
export { type VaeArch } from './net';
