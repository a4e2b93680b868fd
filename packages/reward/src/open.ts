import * as fs from 'fs';
import { currentBackend, initBackend, isGpuBackend } from './backend';
import { resolveCheckpoint } from './bundled';
import { UserError } from './errors';
import { ResolveOptions, resolveModel } from './io/hub';
import { cachedExport } from './onnx/export-cache';
import { OrtScoreGrad } from './onnx/ort-score-grad';
import { OnnxScorer } from './onnx/onnx-scorer';
import { RewardModel } from './rahf/model';
import { RewardGradient } from './rahf/reward-gradient';
import { EngineName, Scorer, resolveScoreDefaults } from './rahf/scorer';

/*
 * Opening the reward model on an engine: the one place that chooses between tfjs and onnxruntime-node,
 * so callers hold a Scorer or a RewardGradient and never an engine.
 */

/** 'auto': onnxruntime-node unless the active tfjs backend runs on a GPU (then tfjs). */
export type EngineChoice = 'auto' | EngineName;

export interface OpenOptions {
  /** Engine (default 'auto'). */
  engine?: EngineChoice;
  /** onnxruntime intra-op threads (default: the number of CPUs; tfjs ignores it). */
  threads?: number;
  /** Where onnxruntime exports of checkpoints are cached (default: RAHF_CACHE_DIR or ~/.cache/richhf/onnx). */
  cacheDir?: string;
  /** Hugging Face hub options for a hub id. */
  hub?: ResolveOptions;
  /** Progress lines (the one-time export). */
  log?: (line: string) => void;
}

export interface OpenScorerOptions extends OpenOptions {
  /** Dynamically int8-quantised graphs (onnxruntime only; 'auto' then means 'ort'). */
  int8?: boolean;
  /** Scorer defaults (see SCORE_DEFAULTS: scores only, batches of 8). */
  heatmaps?: boolean;
  keywords?: boolean;
  batchSize?: number;
  /** onnxruntime: images per run of the heatmaps graph (default 1; see OnnxScorerOptions). */
  heatmapBatchSize?: number;
}

const ENGINES: EngineChoice[] = ['auto', 'ort', 'tfjs'];

/** The engine an `engine` option means on this machine now. */
export function chooseEngine(engine: EngineChoice = 'auto'): EngineName {
  if (!ENGINES.includes(engine)) throw new UserError(`engine "${engine as string}": expected ${ENGINES.join(', ')}`);
  if (engine !== 'auto') return engine;
  return isGpuBackend() ? 'tfjs' : 'ort';
}

/** A local checkpoint folder or weights file: the bundled checkpoint by default, hub ids resolved. */
async function localCheckpoint(checkpoint: string | undefined, hub?: ResolveOptions): Promise<string> {
  const ref = resolveCheckpoint(checkpoint);
  return fs.existsSync(ref) ? ref : resolveModel(ref, hub);
}

async function loadTfjs(ref: string): Promise<RewardModel> {
  if (!currentBackend()) await initBackend(undefined, { quiet: true });
  return RewardModel.load(ref);
}

/**
 * The scoring verb for a checkpoint (folder, weights file or hub id; default the bundled one) on the
 * chosen engine. 'ort' exports the checkpoint's graphs once into the cache (onnx/export-cache.ts: keyed
 * by the checkpoint's content, exported in a child process, written whole or not at all) and reuses
 * them after; this process then holds only onnxruntime sessions, never the tfjs weights.
 */
export async function openScorer(checkpoint?: string, opts: OpenScorerOptions = {}): Promise<Scorer> {
  const engine = opts.int8 && (opts.engine ?? 'auto') === 'auto' ? 'ort' : chooseEngine(opts.engine);
  if (opts.int8 && engine !== 'ort') throw new UserError('int8: quantised graphs run on the onnxruntime engine only (engine "ort" or "auto")');
  const defaults = resolveScoreDefaults({ heatmaps: opts.heatmaps, keywords: opts.keywords, batchSize: opts.batchSize }, 'openScorer');
  const ref = await localCheckpoint(checkpoint, opts.hub);
  if (engine === 'tfjs') {
    const model = await loadTfjs(ref);
    model.scoreDefaults = defaults;
    return model;
  }
  const dir = await cachedExport(ref, { cacheDir: opts.cacheDir, int8: opts.int8, log: opts.log });
  return OnnxScorer.create(dir, { threads: opts.threads, heatmapBatchSize: opts.heatmapBatchSize, ...defaults });
}

/**
 * The reward-gradient contract for a checkpoint on the chosen engine: 'ort' differentiates the cached
 * fp32 export's scores graph (OrtScoreGrad), 'tfjs' loads the RewardModel.
 */
export async function openRewardGradient(checkpoint?: string, opts: OpenOptions = {}): Promise<RewardGradient> {
  const engine = chooseEngine(opts.engine);
  const ref = await localCheckpoint(checkpoint, opts.hub);
  if (engine === 'tfjs') return loadTfjs(ref);
  const dir = await cachedExport(ref, { cacheDir: opts.cacheDir, log: opts.log });
  return OrtScoreGrad.fromExport(dir, { threads: opts.threads });
}
