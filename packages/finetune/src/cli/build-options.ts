import type { Argv } from 'yargs';
import { UserError } from '@richhf/reward';
import type { BuildOptions, ScorerSpec } from '../builder';
import { FORMAT_NAMES, FormatName } from '../writers/output';
import { listOption, paramsOption } from './guarded';

/** The RAHF model that scores: options of every command that opens one (`checkpoint` described per command). */
export function scorerOptions<T>(y: Argv<T>, checkpoint = 'RAHF checkpoint (folder, file, HF hub id) or ONNX export folder (default: bundled)') {
  return y
    .option('checkpoint', { type: 'string', describe: checkpoint })
    .option('engine', { type: 'string', choices: ['auto', 'ort', 'tfjs'], default: 'auto' })
    .option('threads', { type: 'number', describe: 'onnxruntime threads (default: CPUs)' })
    .option('cache-dir', { type: 'string', describe: 'ONNX export cache (default RAHF_CACHE_DIR or ~/.cache/richhf/onnx)' });
}

export interface ScorerArgs {
  checkpoint?: string;
  engine: string;
  threads?: number;
  'cache-dir'?: string;
}

export function scorerFromArgs(a: ScorerArgs): ScorerSpec {
  return { checkpoint: a.checkpoint, engine: a.engine as ScorerSpec['engine'], threads: a.threads, cacheDir: a['cache-dir'] };
}

/** Options shared by `build` and the queue commands: what to generate, how to select, how to score. */
export function generationOptions<T>(y: Argv<T>) {
  return scorerOptions(y)
    .option('generator', { type: 'string', demandOption: true, describe: 'folder:DIR | a1111:URL | comfyui:URL | sd-ort:DIR' })
    .option('n', { type: 'number', default: 8, describe: 'candidates per prompt' })
    .option('seed', { type: 'number', default: 0, describe: 'run seed (candidate seeds derive from it and the prompt id)' })
    .option('select', { type: 'string', default: 'plausibility', describe: 'score to rank by, or a mix: plausibility=0.7,aesthetics=0.3' })
    .option('min', { type: 'number', describe: 'keep only candidates whose selection score is at least this' })
    .option('top', { type: 'number', default: 1, describe: 'keep the best k candidates per prompt' })
    .option('pairs', { type: 'boolean', default: false, describe: 'form best-vs-worst preference pairs (for --format dpo)' })
    .option('margin', { type: 'number', default: 0.1, describe: 'minimum best − worst score of a pair' })
    .option('keywords', { type: 'boolean', default: true, describe: "decode accepted samples' misaligned prompt words" })
    .option('int8', { type: 'boolean', default: false, describe: 'score with the dynamically int8-quantised export' })
    .option('batch-size', { type: 'number', default: 8, describe: 'images per scorer forward pass' })
    .option('concurrency', { type: 'number', default: 2, describe: 'generator requests in flight' })
    .option('workflow', { type: 'string', describe: 'comfyui: API-format workflow JSON to patch' })
    .option('param', { type: 'string', array: true, describe: 'generator setting key=value (repeatable), e.g. steps=20' })
    .option('timeout', { type: 'number', default: 600, describe: 'HTTP generators: seconds per request' })
    .option('retries', { type: 'number', default: 3, describe: 'HTTP generators: tries per request' });
}

export interface GenerationArgs extends ScorerArgs {
  generator: string;
  n: number;
  seed: number;
  select: string;
  min?: number;
  top: number;
  pairs: boolean;
  margin: number;
  keywords: boolean;
  int8: boolean;
  'batch-size': number;
  concurrency: number;
  workflow?: string;
  param?: string[];
  timeout: number;
  retries: number;
}

export function generationFromArgs(a: GenerationArgs): Omit<BuildOptions, 'prompts' | 'out'> {
  return {
    generator: a.generator,
    generatorOptions: { workflow: a.workflow, params: paramsOption(a.param), timeoutSeconds: a.timeout, retries: a.retries },
    n: a.n,
    seed: a.seed,
    select: a.select,
    min: a.min,
    top: a.top,
    pairs: a.pairs,
    margin: a.margin,
    keywords: a.keywords,
    scorer: { ...scorerFromArgs(a), int8: a.int8 },
    batchSize: a['batch-size'],
    concurrency: a.concurrency,
  };
}

/** Options of the writing side: formats, image type, shard policy. */
export function outputOptions<T>(y: Argv<T>) {
  return y
    .option('out', { type: 'string', demandOption: true, describe: 'output folder (a rerun with the same options resumes)' })
    .option('format', { type: 'string', array: true, default: ['webdataset'], describe: `comma list of ${FORMAT_NAMES.join(', ')}` })
    .option('image-type', { type: 'string', choices: ['png', 'jpg'], default: 'png', describe: 'image type in webdataset and imagefolder' })
    .option('shard-samples', { type: 'number', default: 1000, describe: 'samples per shard' })
    .option('shard-mb', { type: 'number', default: 1024, describe: 'image MB per shard' })
    .option('commit-minutes', { type: 'number', default: 10, describe: 'commit at least this often (the most work a kill loses)' });
}

export interface OutputArgs {
  out: string;
  format: string[];
  'image-type': string;
  'shard-samples': number;
  'shard-mb': number;
  'commit-minutes': number;
}

export function outputFromArgs(a: OutputArgs): Pick<BuildOptions, 'out' | 'formats' | 'imageType' | 'shardSamples' | 'shardBytes' | 'commitSeconds'> {
  const formats = listOption(a.format);
  for (const f of formats) if (!(FORMAT_NAMES as readonly string[]).includes(f)) throw new UserError(`--format ${f}: expected ${FORMAT_NAMES.join(', ')}`);
  for (const [k, v] of [['--shard-samples', a['shard-samples']], ['--shard-mb', a['shard-mb']], ['--commit-minutes', a['commit-minutes']]] as const) {
    if (!(Number.isFinite(v) && v > 0)) throw new UserError(`${k} must be a positive number, got ${v}`);
  }
  return {
    out: a.out,
    formats: [...new Set(formats)] as FormatName[],
    imageType: a['image-type'] as 'png' | 'jpg',
    shardSamples: Math.ceil(a['shard-samples']),
    shardBytes: a['shard-mb'] * 2 ** 20,
    commitSeconds: a['commit-minutes'] * 60,
  };
}
