// Public API of @richhf/reward. Everything else is internal and may change.
export { initBackend, currentBackend, isGpuBackend, type BackendName } from './backend';
export { BUNDLED_CHECKPOINT, resolveCheckpoint } from './bundled';
export { UserError, FileFormatError, LimitError, formatError, runGuarded } from './errors';

// The reward model.
export { RewardModel, type TensorScoreGrad, type ForwardOutput, type LoadOptions, type PresetOptions, type PredictOptions } from './rahf/model';
export { type RichFeedback } from './rahf/feedback';

// One scoring verb and one reward-gradient contract across engines (tfjs, onnxruntime-node).
export { type Scorer, type ScoreOptions, type ScoreDefaults, type EngineName, SCORE_DEFAULTS } from './rahf/scorer';
export { type RewardGradient, type ScoreGradOptions, type ScoreGradResult, type ScoreWeights, HEATMAP_PENALTY_TEMPERATURE, heatmapPenaltyReduce } from './rahf/reward-gradient';
export { openScorer, openRewardGradient, chooseEngine, type EngineChoice, type OpenOptions, type OpenScorerOptions } from './open';
export { defaultExportCacheDir } from './onnx/export-cache';
export { type RahfConfig, type ScoreName, type HeatmapName, SCORE_NAMES, HEATMAP_NAMES, rahfConfigFromJson } from './rahf/config';
export { PRESETS, type PresetName, presetNames } from './rahf/presets';
export { promptWords, misalignedWords, labelsToSequence, sequenceToLabels } from './rahf/keywords';

// Building blocks with Hugging Face semantics.
export { ViTModel, type ViTConfig, loadViT, vitConfigFromHF } from './models/vit';
export { T5Model, type T5Config, loadT5, t5ConfigFromHF } from './models/t5';
export { CLIPModel, type CLIPConfig, loadCLIP, clipConfigFromHF } from './models/clip';
export { Params } from './nn/params';
export { Tokenizer } from './tokenizer';
export { type RgbImage, loadImage, resizeForViT, preprocessCLIP, normalizePixels } from './image';
export {
  type Heatmap,
  type Heatmap16,
  type OverlayOptions,
  type OverlayScale,
  type HeatmapPeak,
  heatmapPng,
  heatmapPng16,
  readHeatmapPng16,
  overlayPng,
  overlayScale,
  heatmapPeak,
} from './heatmap-image';

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
export { writeSynthWorld, generateExample, type SynthTruth, type SynthExample, type WorldOptions } from './data/synth/world';

// Evaluation metrics (paper Tables 1–4).
export * from './metrics';

// Fast paths in onnxruntime-node: export, scoring, reward gradients (autodiff of the exported graph).
export { exportRahf, exportOnnx, type ExportRahfOptions, type ExportRahfResult } from './onnx/export';
export { type RahfOnnxManifest } from './onnx/manifest';
export { OnnxScorer, type OnnxScorerOptions } from './onnx/onnx-scorer';
export { OrtScoreGrad } from './onnx/ort-score-grad';
export { gradientGraph, gradientModel, type GradientSpec } from './onnx/autodiff';

// Training and evaluation.
export { train, type TrainOptions, type TrainResult } from './train/trainer';
export { HostAdamW } from './train/host-adamw';
export { evaluateSamples, modelPredictor, type EvaluationRun, type Predictor, type Prediction, type EvalItem, type MethodResult } from './eval/evaluate';
export { openEvalDataset, type DatasetOptions, type EvalDataset, type EvalSample } from './eval/dataset';
export { constantPredictor, trainMeans, type DataMeans } from './eval/baselines';
export { formatTables, type EvalReport } from './eval/table';
