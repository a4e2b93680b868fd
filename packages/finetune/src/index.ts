// Public API of @richhf/finetune: best-of-N finetune sets from any generator, scored by RAHF.

// The builder (also `finetune build`).
export { build, buildAll, openScorerSpec, type BuildOptions, type BuildRun, type BuildSummary, type ScorerSpec } from './builder';
export type { PromptResult } from './results';

// Prompts and keys.
export { readPrompts, type PromptEntry } from './prompts';
export { safeKey, sampleKey, candidateSeeds } from './ids';

// Generators: one contract, several adapters, a registry for more.
export { GeneratorError, type Candidate, type GenerateRequest, type Generator } from './generator';
export { openGenerator, registerGenerator, type GeneratorFactory, type GeneratorOptions } from './generators/open';
export { FolderGenerator } from './generators/folder';
export { A1111Generator, type InpaintRequest } from './generators/a1111';
export { ComfyUIGenerator, findSlots, type WorkflowSlots } from './generators/comfyui';
export { SdOrtGenerator, type SdOrtSettings } from './generators/sd-ort';

// Scoring and selection.
export { decodeCandidates, scoreGroups, type DecodedCandidate, type ScoredCandidate, type Group } from './scoring';
export { parseSelect, formatMix, mixValue, selectCandidates, type ScoreMix, type Scores, type ScoreName, type SelectOptions, type Selection, type Ranked } from './selection';
export { StatsAccumulator, promptStats, HIST_BINS, type RunStats, type Histogram } from './stats';
export { writeReport } from './report';
export { scoreChartSpec, scoreChartPng } from './chart';

// Writers, the journal, the output folder.
export { WebdatasetWriter } from './writers/webdataset';
export { ImagefolderWriter } from './writers/imagefolder';
export { DpoParquetWriter } from './writers/dpo-parquet';
export { EncodedImage, FORMAT_NAMES, type FormatName, type ImageType, type DatasetWriter, type OutputSample, type OutputPair, type PromptOutputs, type CommitActions } from './writers/output';
export { Journal, type CommitRecord, type PromptRecord } from './journal';
export { OutputSet, type OutputSetOptions, type ShardPolicy } from './output-set';
export { verifyOutput, readTar, parquetRows, type VerifyReport } from './verify';

// Scale-out on BullMQ (also `finetune enqueue | worker | collect`).
export { enqueuePrompts, jobId, type EnqueueOptions } from './queue/enqueue';
export { runWorker, type WorkerOptions } from './queue/worker';
export { collect, type CollectOptions, type CollectSummary } from './queue/collect';
export type { QueueRunSpec } from './queue/spec';

// The synthetic world's scene-token masked transformer (`--generator synth`), the finetuning proof on truth,
// heatmap-masked inpainting (also `finetune generator | proof | inpaint`).
import './synth/register';
export { SynthGenerator, synthSettings, pngOf as scenePng, rgbImageOf as sceneImage, type SynthSettings } from './synth/generator';
export { SynthModel, loadCheckpoint, saveCheckpoint, BUNDLED_SYNTH_GENERATOR, BUNDLED_SYNTH_FINETUNED, type SynthCheckpoint } from './synth/checkpoint';
export { defaultConfig as synthModelConfig, type SynthModelConfig } from './synth/model';
export { decodeScenes, maskSchedule, type DecodeItem, type DecodeOptions } from './synth/sample';
export { trainGenerator, type TrainOptions as GeneratorTrainOptions, type TrainResult as GeneratorTrainResult } from './synth/train';
export { worldSequences, cachedWorldSequences, keptSequences, type Sequences } from './synth/data';
export { encodeScene, decodeScene, promptTokens, tokenHash, PROMPT_LEN, SCENE_LEN, SEQ_LEN, VOCAB, type DecodedScene } from './synth/tokens';
export { renderTokens, synthPrompt, type RenderedSample } from './synth/scenes';
export { truthRates, worldRates, splitIndices, exactCopies, type TruthRates } from './synth/rates';
export { evaluateGenerator, type GeneratorEval, type GeneratorEvalOptions } from './synth/evaluate';
export { runProof, heldOutItems, evaluateOn, type ProofOptions, type ProofResult, type GeneratorStats, type Delta } from './proof/proof';
export { bootstrapMean, pairedDifference, type Interval } from './proof/bootstrap';
export { heatmapMask, snapToGrid, dilate, maskPng, type Mask, type MaskOptions } from './inpaint/mask';
export { inpaintScene, inpaintImage, sceneFootprint, type Attempt, type InpaintOptions } from './inpaint/region';
export { runInpaint, type InpaintRunOptions, type InpaintSummary, type InpaintLine } from './inpaint/run';
