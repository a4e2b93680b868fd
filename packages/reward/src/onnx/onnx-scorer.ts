import * as os from 'os';
import * as path from 'path';
import * as ort from 'onnxruntime-node';
import { RgbImage } from '../image';
import { HEATMAP_NAMES, HeatmapName, RahfConfig, SCORE_NAMES, ScoreName, rahfConfigFromJson } from '../rahf/config';
import { markLogitBias } from '../rahf/keywords';
import { RichFeedback, feedbackRows } from '../rahf/feedback';
import { imagesToModelInput, pixelsToModelInput } from '../rahf/preprocess';
import { EngineName, ScoreDefaults, ScoreOptions, Scorer, checkBatchSize, pixelArraySize, resolveScoreDefaults } from '../rahf/scorer';
import { Tokenizer } from '../tokenizer';
import { textFeeds } from './feeds';
import { greedyDecodeCached } from './greedy-decode';
import { RahfOnnxManifest, findManifest, readManifest } from './manifest';

export interface OnnxScorerOptions {
  /** Threads of onnxruntime's intra-op pool (default: the number of CPUs). */
  threads?: number;
  /** Load the scores + heatmaps graph and return heatmaps by default (the export needs --heatmaps). */
  heatmaps?: boolean;
  /** Decode misaligned keywords by default (loads the decoder graph on first use). Default false. */
  keywords?: boolean;
  /** Images per session run (default 8). */
  batchSize?: number;
  /**
   * Images per run of the heatmaps graph (default 1): its heads upsample to full resolution, about
   * 200 MB of activations per image for the paper preset (onnxruntime's arena keeps its peak), and on
   * the CPU a batch of 8 runs no faster per image than one.
   */
  heatmapBatchSize?: number;
}

/** Raw graph outputs of one batch. */
export interface OnnxBatchOutput {
  scores: Record<ScoreName, Float32Array>;
  heatmaps?: Record<HeatmapName, Float32Array>;
  /** Caption part of the encoder output [B, L, D] and its mask (for keyword decoding). */
  encoderHidden?: ort.Tensor;
  captionMask?: ort.Tensor;
}

type Manifest = RahfOnnxManifest;

/**
 * RAHF in onnxruntime-node for every use without gradients: scores (and heatmaps, and misaligned
 * keywords through the exported decoder step graph) for images and prompts, in batches. Built from
 * the folder `rahf export` writes (graphs, manifest, tokenizer).
 */
export class OnnxScorer implements Scorer {
  readonly engine: EngineName = 'ort';
  private readonly sessions = new Map<string, Promise<ort.InferenceSession>>();

  private constructor(
    readonly dir: string,
    readonly manifest: Manifest,
    readonly config: RahfConfig,
    readonly tokenizer: Tokenizer,
    private readonly sessionOptions: ort.InferenceSession.SessionOptions,
    private readonly defaults: ScoreDefaults,
    readonly heatmapBatchSize: number,
  ) {}

  /** onnxruntime intra-op threads of every session. */
  get threads(): number {
    return this.sessionOptions.intraOpNumThreads!;
  }

  /** Open an exported model: its .onnx file, its manifest, or the folder holding one manifest. */
  static async create(onnxFileOrDir: string, opts: OnnxScorerOptions = {}): Promise<OnnxScorer> {
    const mf = findManifest(onnxFileOrDir);
    const dir = path.dirname(mf);
    const manifest = readManifest(mf);
    const config = rahfConfigFromJson(manifest.config, dir);
    const tokenizer = Tokenizer.fromFile(path.join(dir, manifest.tokenizer));
    const threads = opts.threads ?? os.cpus().length;
    if (!(Number.isInteger(threads) && threads > 0)) throw new Error(`OnnxScorer: threads must be a positive integer, got ${threads}`);
    const heatmapBatchSize = opts.heatmapBatchSize ?? 1;
    checkBatchSize(heatmapBatchSize, 'OnnxScorer (heatmapBatchSize)');
    const defaults = resolveScoreDefaults({ heatmaps: opts.heatmaps, keywords: opts.keywords, batchSize: opts.batchSize }, 'OnnxScorer');
    if (opts.heatmaps && !manifest.files.heatmaps) throw new Error(`${mf}: exported without heatmaps (re-export with --heatmaps)`);
    const scorer = new OnnxScorer(
      dir,
      manifest,
      config,
      tokenizer,
      { intraOpNumThreads: threads, interOpNumThreads: 1, executionMode: 'sequential', graphOptimizationLevel: 'all' },
      defaults,
      heatmapBatchSize,
    );
    await scorer.session(opts.heatmaps ? 'heatmaps' : 'scores'); // fail early on a broken file
    return scorer;
  }

  private session(part: keyof Manifest['files']): Promise<ort.InferenceSession> {
    let s = this.sessions.get(part);
    if (!s) {
      const file = this.manifest.files[part];
      if (!file) throw new Error(`${this.dir}: the export has no ${part} graph`);
      s = ort.InferenceSession.create(path.join(this.dir, file), this.sessionOptions).catch((e) => {
        this.sessions.delete(part);
        throw new Error(`${path.join(this.dir, file)}: onnxruntime cannot load it (${String((e as Error).message ?? e).split('\n')[0]})`);
      });
      this.sessions.set(part, s);
    }
    return s;
  }

  /**
   * One batch through the scores (or heatmaps) graph: normalised NHWC pixels [B, S, S, 3] and B prompts
   * → raw outputs. `encoderHidden` is filled when `caption` is asked for (from the same pass for
   * multi-head models, from the encoder graph otherwise). The heatmaps graph runs `heatmapBatchSize`
   * images at a time (the prompts still padded as one batch, so results do not depend on the split).
   */
  async run(pixelsNorm: Float32Array, prompts: string[], opts: { heatmaps?: boolean; caption?: boolean } = {}): Promise<OnnxBatchOutput> {
    const s = this.config.imageSize;
    const b = prompts.length;
    if (pixelsNorm.length !== b * s * s * 3) {
      throw new Error(`OnnxScorer: pixels hold ${pixelsNorm.length} values, expected ${b}×${s}×${s}×3 for ${b} prompts`);
    }
    const part = opts.heatmaps ? 'heatmaps' : 'scores';
    const sess = await this.session(part);
    const text = textFeeds(this.config, this.tokenizer, this.manifest.inputs[part], prompts);
    const step = opts.heatmaps ? this.heatmapBatchSize : b;
    const parts: Record<string, ort.Tensor>[] = [];
    for (let i = 0; i < b; i += step) {
      const j = Math.min(b, i + step);
      const pixels = new ort.Tensor('float32', pixelsNorm.subarray(i * s * s * 3, j * s * s * 3), [j - i, s, s, 3]);
      parts.push(await sess.run({ pixel_values: pixels, ...(i === 0 && j === b ? text.feeds : sliceRows(text.feeds, i, j)) }));
    }
    const out = parts.length === 1 ? parts[0] : concatRows(parts);
    const res: OnnxBatchOutput = { scores: {} as Record<ScoreName, Float32Array> };
    for (const t of SCORE_NAMES) res.scores[t] = out[`score_${t}`].data as Float32Array;
    if (opts.heatmaps) {
      res.heatmaps = {} as Record<HeatmapName, Float32Array>;
      for (const t of HEATMAP_NAMES) res.heatmaps[t] = out[`heatmap_${t}`].data as Float32Array;
    }
    if (opts.caption) {
      let captionMask = text.captionMask;
      if (this.manifest.encoderHiddenFromScores) {
        res.encoderHidden = out.encoder_hidden;
      } else {
        const enc = await this.session('encoder');
        const et = textFeeds(this.config, this.tokenizer, this.manifest.inputs.encoder, prompts);
        captionMask = et.captionMask;
        const pixels = new ort.Tensor('float32', pixelsNorm, [b, s, s, 3]);
        res.encoderHidden = (await enc.run({ pixel_values: pixels, ...et.feeds })).encoder_hidden;
      }
      res.captionMask = captionMask!;
    }
    return res;
  }

  /**
   * Greedy keyword decoding through the cached decoder graphs (see {@link greedyDecodeCached}) from
   * the caption's encoder output and its token mask.
   */
  async generateIds(encoderHidden: ort.Tensor, captionMask: ort.Tensor, maxNewTokens = 100): Promise<number[][]> {
    const [init, step] = await Promise.all([this.session('decoderInit'), this.session('decoder')]);
    const logitBias = markLogitBias((t) => this.tokenizer.encode(t), this.config.keywordMarkBias);
    return greedyDecodeCached(init, step, encoderHidden, captionMask, this.config.t5, maxNewTokens, logitBias);
  }

  /** Generated keyword ids (as RewardModel.generateKeywordIds) for normalised pixels at the model size. */
  async generateKeywordIds(pixelsNorm: Float32Array, prompts: string[], maxNewTokens = 100): Promise<number[][]> {
    const out = await this.run(pixelsNorm, prompts, { caption: true });
    return this.generateIds(out.encoderHidden!, out.captionMask!, maxNewTokens);
  }

  /** Normalised model input [n, S, S, 3] for images [start, end) of the input. */
  private async pixelsFor(images: Float32Array | RgbImage[], start: number, end: number, opts: ScoreOptions): Promise<Float32Array> {
    if (Array.isArray(images)) return imagesToModelInput(images.slice(start, end), this.config);
    const s = this.config.imageSize;
    const [h, w] = opts.size ?? [s, s];
    const slice = images.subarray(start * h * w * 3, end * h * w * 3);
    if (opts.input !== 'normalised') return pixelsToModelInput(slice, end - start, h, w, this.config);
    if (h !== s || w !== s) throw new Error(`OnnxScorer: normalised input must be ${s}×${s}, got ${h}×${w}`);
    return slice;
  }

  /**
   * Rich feedback (scores; heatmaps and misaligned keywords when asked) for images and prompts, in
   * batches (the {@link Scorer} verb): decoded RgbImages of any size (PIL-exact resize, as
   * RewardModel.score), or a Float32Array NHWC batch (see ScoreOptions.input / size).
   */
  async score(images: Float32Array | RgbImage[], prompts: string[], opts: ScoreOptions = {}): Promise<RichFeedback[]> {
    const n = prompts.length;
    if (Array.isArray(images)) {
      if (images.length !== n) throw new Error(`OnnxScorer.score: ${images.length} images but ${n} prompts`);
    } else pixelArraySize(images, n, this.config.imageSize, opts.size, 'OnnxScorer.score');
    const heat = opts.heatmaps ?? this.defaults.heatmaps;
    const kw = opts.keywords ?? this.defaults.keywords;
    const batch = opts.batchSize ?? this.defaults.batchSize;
    checkBatchSize(batch, 'OnnxScorer.score');
    if (heat && !this.manifest.files.heatmaps) throw new Error(`${this.dir}: exported without heatmaps (re-export with --heatmaps)`);
    const results: RichFeedback[] = [];
    for (let start = 0; start < n; start += batch) {
      const end = Math.min(n, start + batch);
      const px = await this.pixelsFor(images, start, end, opts);
      const out = await this.run(px, prompts.slice(start, end), { heatmaps: heat, caption: kw });
      let sequences: string[] | undefined;
      if (kw) {
        const ids = await this.generateIds(out.encoderHidden!, out.captionMask!, opts.maxNewTokens ?? 100);
        sequences = ids.map((row) => this.tokenizer.decode(row, true).trim());
      }
      const side = heat ? Math.round(Math.sqrt(out.heatmaps![HEATMAP_NAMES[0]].length / (end - start))) : 0;
      results.push(...feedbackRows({ scores: out.scores, heatmaps: out.heatmaps && { maps: out.heatmaps, height: side, width: side }, sequences }, end - start));
    }
    return results;
  }

  /** Release the onnxruntime sessions. */
  async dispose(): Promise<void> {
    const all = [...this.sessions.values()];
    this.sessions.clear();
    for (const s of all) await (await s.catch(() => undefined))?.release();
  }
}

/** Rows [i, j) of every [B, …] feed tensor. */
function sliceRows(feeds: Record<string, ort.Tensor>, i: number, j: number): Record<string, ort.Tensor> {
  const out: Record<string, ort.Tensor> = {};
  for (const [k, t] of Object.entries(feeds)) {
    const row = t.dims.slice(1).reduce((a, d) => a * d, 1);
    const data = t.data as Float32Array | BigInt64Array;
    out[k] = new ort.Tensor(t.type as 'float32', data.subarray(i * row, j * row) as Float32Array, [j - i, ...t.dims.slice(1)]);
  }
  return out;
}

/** The outputs of consecutive row slices joined along the batch axis. */
function concatRows(parts: Record<string, ort.Tensor>[]): Record<string, ort.Tensor> {
  const out: Record<string, ort.Tensor> = {};
  for (const name of Object.keys(parts[0])) {
    const ts = parts.map((p) => p[name]);
    const n = ts.reduce((a, t) => a + t.dims[0], 0);
    const data = new Float32Array(ts.reduce((a, t) => a + (t.data as Float32Array).length, 0));
    let at = 0;
    for (const t of ts) {
      data.set(t.data as Float32Array, at);
      at += (t.data as Float32Array).length;
    }
    out[name] = new ort.Tensor('float32', data, [n, ...ts[0].dims.slice(1)]);
  }
  return out;
}
