// `@richhf/reward/data`: the data the reward model learns from and is judged on — RichHF-18K records
// (TFRecords of tf.train.Example), their images from Pick-a-Pic parquet files, raw per-annotator
// annotations and their consolidation, JSONL sidecars, and the synthetic world with known ground truth.
export { type RichHFRecord, type GrayMap, uidOf } from './record';
export {
  type IndexedRichHFRecord,
  type ReadRichHFOptions,
  SCORE_KEYS,
  MAP_KEYS,
  readRichHF,
  readRichHFAll,
  writeRichHF,
  decodeRichHFExample,
  encodeRichHFExample,
  decodeGrayMap,
  encodeGrayMap,
  parseLabels,
} from './richhf';
export { type TFRecord, type ReadTFRecordOptions, readTFRecords, TFRecordWriter, writeTFRecords, crc32c } from './tfrecord';
export { type Example, type Feature, decodeExample, encodeExample, feature } from './example-proto';
export { type JoinedImage, type ImageSource, type JoinResult, joinImages, imagesFromParquet } from './pickapic';
export { consolidateAll, consolidateImage, readRawAnnotations, type RawAnnotation } from './consolidate';
export { type JsonlLine, parseJsonl, readJsonl, readJsonlMap } from './jsonl';
export {
  type Split,
  type WorldOptions,
  type WriteWorldOptions,
  type WorldSummary,
  type SynthTruth,
  type SynthExample,
  SPLITS,
  WORLD_MANIFEST,
  generateExample,
  writeSynthWorld,
  splitOf,
  uidFor,
} from './synth/world';
export { type PromptSpec, samplePrompt, parsePrompt, nounFor, COLOURS, KINDS, POSITIONS, BACKGROUNDS } from './synth/grammar';
export { Rng } from './synth/rng';
export {
  type Scene,
  type SceneOptions,
  type SampledScene,
  type SceneTruth,
  type RenderedScene,
  type RenderOptions,
  sampleScene,
  renderScene,
} from './synth/scene';
export { judgeAlignment, POSITION_TOLERANCE } from './synth/judge';
export { type ArtifactSpec, artifactSpec, artifactFromSpec } from './synth/artifact-spec';
export { type Artifact, type ArtifactType, type MisalignmentEdit, type MisalignmentType, type Depiction, severity } from './synth/defects';
export { type PlacedObject, objectBox, objectParts, CATALOGUE } from './synth/objects';
export { type Grade } from './synth/render';
export { type Box } from './synth/canvas';
export { type Background, type ColourName, type Kind, type Position, type GroupSpec, type Word, POSITION_REGION, COLOUR_NAMES } from './synth/grammar';
