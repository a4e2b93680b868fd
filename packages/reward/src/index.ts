// Public API of @richhf/reward. Everything else is internal and may change.
export { initBackend, currentBackend, type BackendName } from './backend';
export { BUNDLED_CHECKPOINT, resolveCheckpoint } from './bundled';
export { UserError, formatError } from './errors';

// The reward model.
export { RewardModel, type RichFeedback, type ForwardOutput, type LoadOptions, type PresetOptions, type PredictOptions } from './rahf/model';
export { type RahfConfig, SCORE_NAMES, HEATMAP_NAMES, rahfConfigFromJson } from './rahf/config';
export { PRESETS, type PresetName, presetNames } from './rahf/presets';
export { promptWords, misalignedWords, labelsToSequence, sequenceToLabels } from './rahf/keywords';

// Building blocks with Hugging Face semantics.
export { ViTModel, type ViTConfig, loadViT, vitConfigFromHF } from './models/vit';
export { T5Model, type T5Config, loadT5, t5ConfigFromHF } from './models/t5';
export { CLIPModel, type CLIPConfig, loadCLIP, clipConfigFromHF } from './models/clip';
export { Params } from './nn/params';
export { Tokenizer } from './tokenizer';
export { type RgbImage, loadImage, resizeForViT, preprocessCLIP, normalizePixels } from './image';
export { type Heatmap, heatmapPng, overlayPng } from './heatmap-image';

// Checkpoint files.
export { type HostTensor, type TensorMap } from './io/tensors';
export { readSafetensors, writeSafetensors, readShardedSafetensors } from './io/safetensors';
export { readTorchCheckpoint } from './io/torch-pickle';
export { loadWeights, loadWeightsFile } from './io/weights';
export { resolveModel } from './io/hub';

// Data: RichHF-18K records, Pick-a-Pic images, raw annotations, the synthetic world.
export { type RichHFRecord, type GrayMap, uidOf } from './data/record';
export { readRichHF, readRichHFAll, writeRichHF } from './data/richhf';
export { readTFRecords, TFRecordWriter, writeTFRecords, crc32c } from './data/tfrecord';
export { joinImages } from './data/pickapic';
export { consolidateAll, consolidateImage, readRawAnnotations, type RawAnnotation } from './data/consolidate';
export { writeSynthWorld } from './data/synth/world';

// Evaluation metrics (paper Tables 1–4).
export * from './metrics';

// Fast paths in onnxruntime-node: export, scoring, reward gradients (autodiff of the exported graph).
export { exportRahf, exportOnnx, type ExportRahfOptions, type ExportRahfResult, type RahfOnnxManifest } from './onnx/export';
export { OnnxScorer, type OnnxScorerOptions, type ScoreOptions } from './onnx/scorer';
export { OrtScoreGrad } from './onnx/grad-scorer';
export { gradientGraph, gradientModel, type GradientSpec } from './onnx/autodiff';

// Training and evaluation.
export { train, type TrainOptions, type TrainResult } from './train/trainer';
export { evaluateSamples, modelPredictor, type EvaluationRun } from './eval/evaluate';
