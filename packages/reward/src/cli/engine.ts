import * as os from 'os';
import type { Argv } from 'yargs';
import { currentBackend, initBackend } from '../backend';
import { UserError } from '../errors';
import { OnnxScorer } from '../onnx/onnx-scorer';
import { EngineChoice, chooseEngine, openScorer } from '../open';
import { Scorer } from '../rahf/scorer';
import { checkInt, CliIO } from './command';

/*
 * How `rahf score`, `rahf eval` and `rahf demo` choose and open their engine: `--engine auto` (the
 * default) is onnxruntime-node on the CPU and tfjs when tfjs runs on a GPU backend (webgpu, or
 * tfjs-node-gpu; `--backend` / RAHF_BACKEND pick one), as openScorer decides for library users.
 * `--engine ort` and `--int8` never bring tfjs up in this process: the checkpoint's graphs come from
 * the export cache (exported once, in a child process).
 */

export const ENGINE_CHOICES: EngineChoice[] = ['auto', 'ort', 'tfjs'];

export interface EngineCliOptions {
  /** auto | ort | tfjs (default auto). */
  engine?: string;
  /** The dynamically int8-quantised graphs (onnxruntime only). */
  int8?: boolean;
  /** onnxruntime intra-op threads (default: the number of CPUs). */
  threads?: number;
  /** tfjs backend (`--backend`), read by 'auto' to see whether a GPU backend is active. */
  backend?: string;
  /** Export cache folder (default RAHF_CACHE_DIR or ~/.cache/richhf/onnx). */
  cacheDir?: string;
}

/** The engine options of a command's yargs builder. */
export function withEngineOptions<T>(y: Argv<T>) {
  return y
    .option('engine', { type: 'string', default: 'auto', choices: ENGINE_CHOICES, describe: 'onnxruntime-node (ort) or tfjs; auto: ort on the CPU, tfjs on a GPU backend' })
    .option('int8', { type: 'boolean', default: false, describe: 'dynamically int8-quantised graphs (onnxruntime; faster, scores within ~1e-3)' })
    .option('threads', { type: 'number', describe: 'onnxruntime intra-op threads (default: the number of CPUs)' });
}

/** Check the engine options (before any work: commands call this first). */
export function checkEngineOptions(opts: EngineCliOptions): EngineChoice {
  const engine = (opts.engine ?? 'auto') as EngineChoice;
  if (!ENGINE_CHOICES.includes(engine)) throw new UserError(`--engine must be one of ${ENGINE_CHOICES.join(', ')}, got "${String(opts.engine)}"`);
  checkInt('threads', opts.threads);
  if (opts.int8 && engine === 'tfjs') throw new UserError('--int8: the quantised graphs run on onnxruntime only (--engine ort or auto)');
  return engine;
}

/** The engine the options mean here (brings tfjs up only when it may be chosen). */
export async function resolveCliEngine(opts: EngineCliOptions): Promise<'ort' | 'tfjs'> {
  const engine = checkEngineOptions(opts);
  if (engine === 'ort' || opts.int8) return 'ort';
  await initBackend(opts.backend, { quiet: true });
  return chooseEngine(engine);
}

/** One line saying what runs the model. */
export function engineLine(scorer: Scorer): string {
  if (scorer instanceof OnnxScorer) {
    return `engine ort${scorer.manifest.quantize === 'int8' ? ' int8' : ''} (onnxruntime-node, ${scorer.threads} thread${scorer.threads === 1 ? '' : 's'} of ${os.cpus().length} CPUs)`;
  }
  return `engine tfjs (${currentBackend() ?? 'no backend'})`;
}

/**
 * The scorer a command asked for, with its defaults (heatmaps, keywords, batch size); export-cache
 * progress and the engine line go to stderr.
 */
export async function openCliScorer(
  checkpoint: string | undefined,
  opts: EngineCliOptions & { heatmaps?: boolean; keywords?: boolean; batchSize?: number },
  io: CliIO,
): Promise<Scorer> {
  const engine = await resolveCliEngine(opts);
  const scorer = await openScorer(checkpoint, {
    engine,
    int8: opts.int8,
    threads: opts.threads,
    cacheDir: opts.cacheDir,
    heatmaps: opts.heatmaps,
    keywords: opts.keywords,
    batchSize: opts.batchSize,
    log: (l) => io.stderr(`rahf: ${l}`),
  });
  io.stderr(`rahf: ${engineLine(scorer)}`);
  return scorer;
}
