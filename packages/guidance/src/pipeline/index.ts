// The Stable Diffusion pipeline on onnxruntime-node and its parts.
export { StableDiffusion, type FromPretrainedOptions, type GenerateOptions, type GenerateResult } from './stable-diffusion';
export { type GuidanceHook, type GuidedStep, type StepEndCallback, type StepContext, type StepEndContext } from './hooks';
export { ClipTokenizer, clipTokenizerJson } from './clip-tokenizer';
export { OnnxTextEncoder, type Embeddings } from './text-encoder';
export { OnnxUNet, type Shape4 } from './unet';
export { OnnxVaeDecoder, samplesToPixels } from './onnx-vae-decoder';
export { resolveSdFolder, type SdFolder, type FolderOptions } from './model-folder';
export { type OrtOptions } from './ort-graph';
export { combineGuidance, rescaleGuidance } from './cfg';
export { encodePng } from './png';
