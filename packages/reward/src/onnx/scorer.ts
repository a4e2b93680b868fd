import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as ort from 'onnxruntime-node';
import { Heatmap } from '../heatmap-image';
import { RgbImage, resizeForViT } from '../image';
import { HEATMAP_NAMES, HeatmapName, RahfConfig, SCORE_NAMES, ScoreName, rahfConfigFromJson, taskPrompt } from '../rahf/config';
import { markLogitBias, misalignedWords } from '../rahf/keywords';
import { RichFeedback } from '../rahf/model';
import { pilBilinearMatrix } from '../rahf/resize';
import { Tokenizer } from '../tokenizer';
import { T5Config, addLogitBias } from '../models/t5';
import { RahfOnnxManifest } from './export';

export interface OnnxScorerOptions {
  /** Threads of onnxruntime's intra-op pool (default: the number of CPUs). */
  threads?: number;
  /** Load the scores + heatmaps graph and return heatmaps by default (the export needs --heatmaps). */
  heatmaps?: boolean;
  /** Decode misaligned keywords by default (loads the decoder graph on first use). Default false. */
  keywords?: boolean;
  /** Images per session run (default 8). */
  batchSize?: number;
}

export interface ScoreOptions {
  /** Override the scorer's default (true needs a scorer created with heatmaps). */
  heatmaps?: boolean;
  keywords?: boolean;
  batchSize?: number;
  /** Cap on generated keyword tokens (default 100, as the model). */
  maxNewTokens?: number;
  /**
   * How a Float32Array input is to be read: 'pixels01' (default) — NHWC in [0,1], resized (PIL-bilinear
   * weights in float, as RewardModel.preprocess) when `size` differs from the model's and normalised;
   * 'normalised' — already the model input ([B, S, S, 3], (x − mean) / std).
   */
  input?: 'pixels01' | 'normalised';
  /** [height, width] of a Float32Array input (default the model size). */
  size?: [number, number];
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

export function findManifest(ref: string): string {
  if (!fs.existsSync(ref)) throw new Error(`${ref}: no such file or directory`);
  if (fs.statSync(ref).isDirectory()) {
    const found = fs.readdirSync(ref).filter((f) => f.endsWith('.rahf.json'));
    if (found.length === 0) throw new Error(`${ref}: no *.rahf.json manifest (export the model with \`rahf export\`)`);
    if (found.length > 1) throw new Error(`${ref}: several manifests (${found.join(', ')}); pass the .onnx file`);
    return path.join(ref, found[0]);
  }
  const mf = path.join(path.dirname(ref), `${path.basename(ref).replace(/\.(onnx|rahf\.json)$/i, '')}.rahf.json`);
  if (!fs.existsSync(mf)) throw new Error(`${ref}: no manifest ${path.basename(mf)} beside it (export the model with \`rahf export\`)`);
  return mf;
}

export function readManifest(file: string): Manifest {
  let m: Manifest;
  try {
    m = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    throw new Error(`${file}: not a readable JSON manifest (${(e as Error).message.split('\n')[0]})`);
  }
  if (m?.format !== 'rahf-onnx' || m.version !== 1) throw new Error(`${file}: not a rahf-onnx version 1 manifest`);
  return m;
}

/** Rows of ids as an int64 tensor [B, L]. */
export function int64(rows: number[][]): ort.Tensor {
  const b = rows.length;
  const l = rows[0]?.length ?? 0;
  const data = new BigInt64Array(b * l);
  rows.forEach((r, i) => r.forEach((v, j) => (data[i * l + j] = BigInt(v))));
  return new ort.Tensor('int64', data, [b, l]);
}

/** Resize NHWC [B, h, w, 3] to [B, s, s, 3] with PIL-bilinear weights (RewardModel.preprocess's resize). */
function resizeNhwc(x: Float32Array, b: number, h: number, w: number, s: number): Float32Array {
  if (h === s && w === s) return x;
  const my = pilBilinearMatrix(h, s);
  const mx = pilBilinearMatrix(w, s);
  const rows = new Float32Array(b * s * w * 3); // resize rows first, as the model (rows, then columns)
  for (let n = 0; n < b; n++)
    for (let o = 0; o < s; o++)
      for (let i = 0; i < h; i++) {
        const wt = my[o * h + i];
        if (wt === 0) continue;
        const src = (n * h + i) * w * 3;
        const dst = (n * s + o) * w * 3;
        for (let k = 0; k < w * 3; k++) rows[dst + k] += wt * x[src + k];
      }
  const out = new Float32Array(b * s * s * 3);
  for (let n = 0; n < b; n++)
    for (let r = 0; r < s; r++)
      for (let o = 0; o < s; o++)
        for (let j = 0; j < w; j++) {
          const wt = mx[o * w + j];
          if (wt === 0) continue;
          const src = ((n * s + r) * w + j) * 3;
          const dst = ((n * s + r) * s + o) * 3;
          for (let c = 0; c < 3; c++) out[dst + c] += wt * rows[src + c];
        }
  return out;
}

/**
 * Greedy decoding with a decoder step graph (inputs decoder_input_ids, encoder_hidden_states and,
 * when the graph has it, encoder_attention_mask; output logits [B, V] of the last position), like
 * T5Model.generate / HF generate: rows start with decoder_start_token_id, a finished row is padded
 * with pad_token_id, decoding stops after maxNewTokens or when every row has emitted eos. Each step
 * re-runs the prefix (the graph has no KV cache).
 */
export async function greedyDecode(
  session: ort.InferenceSession,
  encoderHidden: ort.Tensor,
  encoderMask: ort.Tensor | undefined,
  t5: Pick<T5Config, 'decoder_start_token_id' | 'eos_token_id' | 'pad_token_id'>,
  maxNewTokens: number,
  logitBias?: ReadonlyMap<number, number>,
): Promise<number[][]> {
  const b = encoderHidden.dims[0];
  const rows: number[][] = Array.from({ length: b }, () => [t5.decoder_start_token_id]);
  const done = new Array<boolean>(b).fill(false);
  const feeds: Record<string, ort.Tensor> = { encoder_hidden_states: encoderHidden };
  if (session.inputNames.includes('encoder_attention_mask')) {
    if (!encoderMask) throw new Error('greedyDecode: the decoder graph needs encoder_attention_mask');
    feeds.encoder_attention_mask = encoderMask;
  }
  for (let step = 0; step < maxNewTokens; step++) {
    feeds.decoder_input_ids = int64(rows);
    const logits = (await session.run(feeds)).logits;
    const best = argmaxRows(logits, logitBias);
    logits.dispose();
    for (let r = 0; r < b; r++) {
      let tok = t5.pad_token_id;
      if (!done[r]) {
        tok = best[r];
        if (tok === t5.eos_token_id) done[r] = true;
      }
      rows[r].push(tok);
    }
    if (done.every(Boolean)) break;
  }
  return rows;
}

/** First maximum of each row of logits [B, V] (torch.argmax's tie rule), after an optional logit bias. */
function argmaxRows(logits: ort.Tensor, logitBias?: ReadonlyMap<number, number>): number[] {
  const [b, v] = logits.dims as [number, number];
  let data = logits.data as Float32Array;
  if (logitBias && logitBias.size > 0) {
    data = data.slice();
    addLogitBias(data, v, logitBias);
  }
  const out: number[] = [];
  for (let r = 0; r < b; r++) {
    let best = 0;
    for (let j = 1; j < v; j++) if (data[r * v + j] > data[r * v + best]) best = j;
    out.push(best);
  }
  return out;
}

/**
 * Greedy decoding with the KV-cached decoder graphs (export-t5.ts exportT5CrossKVGraph /
 * exportT5CachedStepGraph), token for token the computation of T5Model.generate: the cross keys and
 * values are computed once, each step feeds only the newest token and the cache.
 */
export async function greedyDecodeCached(
  init: ort.InferenceSession,
  step: ort.InferenceSession,
  encoderHidden: ort.Tensor,
  encoderMask: ort.Tensor | undefined,
  t5: Pick<T5Config, 'decoder_start_token_id' | 'eos_token_id' | 'pad_token_id' | 'num_decoder_layers' | 'num_heads' | 'd_kv'>,
  maxNewTokens: number,
  logitBias?: ReadonlyMap<number, number>,
): Promise<number[][]> {
  const b = encoderHidden.dims[0];
  const rows: number[][] = Array.from({ length: b }, () => [t5.decoder_start_token_id]);
  const done = new Array<boolean>(b).fill(false);
  const cross = await init.run({ encoder_hidden_states: encoderHidden });
  const feeds: Record<string, ort.Tensor> = {};
  const empty = new ort.Tensor('float32', new Float32Array(0), [b, t5.num_heads, 0, t5.d_kv]);
  for (let i = 0; i < t5.num_decoder_layers; i++) {
    feeds[`cross_key_${i}`] = cross[`cross_key_${i}`];
    feeds[`cross_value_${i}`] = cross[`cross_value_${i}`];
    feeds[`past_key_${i}`] = empty;
    feeds[`past_value_${i}`] = empty;
  }
  if (step.inputNames.includes('encoder_attention_mask')) {
    if (!encoderMask) throw new Error('greedyDecodeCached: the decoder graph needs encoder_attention_mask');
    feeds.encoder_attention_mask = encoderMask;
  }
  try {
    for (let s = 0; s < maxNewTokens; s++) {
      feeds.decoder_input_ids = int64(rows.map((r) => [r[r.length - 1]]));
      const out = await step.run(feeds);
      const best = argmaxRows(out.logits, logitBias);
      out.logits.dispose();
      for (let i = 0; i < t5.num_decoder_layers; i++) {
        if (s > 0) {
          feeds[`past_key_${i}`].dispose();
          feeds[`past_value_${i}`].dispose();
        }
        feeds[`past_key_${i}`] = out[`present_key_${i}`];
        feeds[`past_value_${i}`] = out[`present_value_${i}`];
      }
      for (let r = 0; r < b; r++) {
        let tok = t5.pad_token_id;
        if (!done[r]) {
          tok = best[r];
          if (tok === t5.eos_token_id) done[r] = true;
        }
        rows[r].push(tok);
      }
      if (done.every(Boolean)) break;
    }
  } finally {
    for (const t of Object.values(cross)) t.dispose();
  }
  return rows;
}

/**
 * RAHF in onnxruntime-node for every use without gradients: scores (and heatmaps, and misaligned
 * keywords through the exported decoder step graph) for images and prompts, in batches. Built from
 * the folder `rahf export` writes (graphs, manifest, tokenizer).
 */
export class OnnxScorer {
  private readonly sessions = new Map<string, Promise<ort.InferenceSession>>();

  private constructor(
    readonly dir: string,
    readonly manifest: Manifest,
    readonly config: RahfConfig,
    readonly tokenizer: Tokenizer,
    private readonly sessionOptions: ort.InferenceSession.SessionOptions,
    private readonly defaults: Required<Omit<OnnxScorerOptions, 'threads'>>,
  ) {}

  /** Open an exported model: its .onnx file, its manifest, or the folder holding one manifest. */
  static async create(onnxFileOrDir: string, opts: OnnxScorerOptions = {}): Promise<OnnxScorer> {
    const mf = findManifest(onnxFileOrDir);
    const dir = path.dirname(mf);
    const manifest = readManifest(mf);
    const config = rahfConfigFromJson(manifest.config, dir);
    const tokenizer = Tokenizer.fromFile(path.join(dir, manifest.tokenizer));
    const threads = opts.threads ?? os.cpus().length;
    if (!(Number.isInteger(threads) && threads > 0)) throw new Error(`OnnxScorer: threads must be a positive integer, got ${threads}`);
    const batchSize = opts.batchSize ?? 8;
    if (!(Number.isInteger(batchSize) && batchSize > 0)) throw new Error(`OnnxScorer: batchSize must be a positive integer, got ${batchSize}`);
    if (opts.heatmaps && !manifest.files.heatmaps) throw new Error(`${mf}: exported without heatmaps (re-export with --heatmaps)`);
    const scorer = new OnnxScorer(
      dir,
      manifest,
      config,
      tokenizer,
      { intraOpNumThreads: threads, interOpNumThreads: 1, executionMode: 'sequential', graphOptimizationLevel: 'all' },
      { heatmaps: opts.heatmaps ?? false, keywords: opts.keywords ?? false, batchSize },
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

  /** Token ids (and mask, for masked configs) of texts, as the model tokenizes them. */
  private texts(texts: string[], feeds: Record<string, ort.Tensor>, ids: string, mask?: string): ort.Tensor {
    const enc = this.tokenizer.encodeBatch(texts, { maxLength: this.config.maxTextTokens });
    feeds[ids] = int64(enc.ids);
    const m = int64(enc.mask);
    if (mask) feeds[mask] = m;
    return m;
  }

  /**
   * One batch through the scores (or heatmaps) graph: normalised NHWC pixels [B, S, S, 3] and B prompts
   * → raw outputs. `encoderHidden` is filled when `caption` is asked for (from the same pass for
   * multi-head models, from the encoder graph otherwise).
   */
  async run(pixelsNorm: Float32Array, prompts: string[], opts: { heatmaps?: boolean; caption?: boolean } = {}): Promise<OnnxBatchOutput> {
    const s = this.config.imageSize;
    const b = prompts.length;
    if (pixelsNorm.length !== b * s * s * 3) {
      throw new Error(`OnnxScorer: pixels hold ${pixelsNorm.length} values, expected ${b}×${s}×${s}×3 for ${b} prompts`);
    }
    const part = opts.heatmaps ? 'heatmaps' : 'scores';
    const sess = await this.session(part);
    const pixels = new ort.Tensor('float32', pixelsNorm, [b, s, s, 3]);
    const feeds: Record<string, ort.Tensor> = { pixel_values: pixels };
    let captionMask: ort.Tensor | undefined;
    for (const t of this.manifest.inputs[part]) {
      const texts = t.kind === 'caption' ? prompts : prompts.map((p) => taskPrompt(this.config.augmentedPromptFormat, t.kind as 'SCORE' | 'HEATMAP', t.type!, p));
      const m = this.texts(texts, feeds, t.ids, t.mask);
      if (t.kind === 'caption') captionMask = m;
    }
    const out = await sess.run(feeds);
    const res: OnnxBatchOutput = { scores: {} as Record<ScoreName, Float32Array> };
    for (const t of SCORE_NAMES) res.scores[t] = out[`score_${t}`].data as Float32Array;
    if (opts.heatmaps) {
      res.heatmaps = {} as Record<HeatmapName, Float32Array>;
      for (const t of HEATMAP_NAMES) res.heatmaps[t] = out[`heatmap_${t}`].data as Float32Array;
    }
    if (opts.caption) {
      if (this.manifest.encoderHiddenFromScores) {
        res.encoderHidden = out.encoder_hidden;
      } else {
        const enc = await this.session('encoder');
        const ef: Record<string, ort.Tensor> = { pixel_values: pixels };
        for (const t of this.manifest.inputs.encoder) captionMask = this.texts(prompts, ef, t.ids, t.mask);
        res.encoderHidden = (await enc.run(ef)).encoder_hidden;
      }
      res.captionMask = captionMask ?? this.tokenMask(prompts);
    }
    return res;
  }

  private tokenMask(prompts: string[]): ort.Tensor {
    return int64(this.tokenizer.encodeBatch(prompts, { maxLength: this.config.maxTextTokens }).mask);
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
    const { imageSize: s, imageMean: mean, imageStd: std } = this.config;
    const n = end - start;
    if (Array.isArray(images)) {
      const out = new Float32Array(n * s * s * 3);
      for (let i = start; i < end; i++) out.set(await resizeForViT(images[i], s, { mean, std }), (i - start) * s * s * 3);
      return out;
    }
    const [h, w] = opts.size ?? [s, s];
    const per = h * w * 3;
    const slice = images.subarray(start * per, end * per);
    if ((opts.input ?? 'pixels01') === 'normalised') {
      if (h !== s || w !== s) throw new Error(`OnnxScorer: normalised input must be ${s}×${s}, got ${h}×${w}`);
      return slice;
    }
    const x = resizeNhwc(slice, n, h, w, s);
    const out = new Float32Array(n * s * s * 3);
    for (let i = 0; i < out.length; i++) out[i] = (x[i] - mean[i % 3]) / std[i % 3];
    return out;
  }

  /**
   * Rich feedback (scores; heatmaps and misaligned keywords when asked) for images and prompts, in
   * batches: decoded RgbImages of any size (PIL-exact resize, as RewardModel.predict), or a
   * Float32Array NHWC batch (see ScoreOptions.input / size).
   */
  async score(images: Float32Array | RgbImage[], prompts: string[], opts: ScoreOptions = {}): Promise<RichFeedback[]> {
    const n = prompts.length;
    if (Array.isArray(images)) {
      if (images.length !== n) throw new Error(`OnnxScorer.score: ${images.length} images but ${n} prompts`);
    } else {
      const [h, w] = opts.size ?? [this.config.imageSize, this.config.imageSize];
      if (images.length !== n * h * w * 3) {
        throw new Error(`OnnxScorer.score: pixel array holds ${images.length} values, expected ${n}×${h}×${w}×3 for ${n} prompts`);
      }
    }
    const heat = opts.heatmaps ?? this.defaults.heatmaps;
    const kw = opts.keywords ?? this.defaults.keywords;
    const batch = opts.batchSize ?? this.defaults.batchSize;
    if (!(Number.isInteger(batch) && batch > 0)) throw new Error(`OnnxScorer.score: batchSize must be a positive integer, got ${batch}`);
    if (heat && !this.manifest.files.heatmaps) throw new Error(`${this.dir}: exported without heatmaps (re-export with --heatmaps)`);
    const results: RichFeedback[] = [];
    for (let start = 0; start < n; start += batch) {
      const end = Math.min(n, start + batch);
      const texts = prompts.slice(start, end);
      const px = await this.pixelsFor(images, start, end, opts);
      const out = await this.run(px, texts, { heatmaps: heat, caption: kw });
      let seqs: string[] = [];
      if (kw) {
        const ids = await this.generateIds(out.encoderHidden!, out.captionMask!, opts.maxNewTokens ?? 100);
        seqs = ids.map((row) => this.tokenizer.decode(row, true).trim());
      }
      const side = heat ? Math.round(Math.sqrt(out.heatmaps![HEATMAP_NAMES[0]].length / (end - start))) : 0;
      for (let i = 0; i < end - start; i++) {
        const fb: RichFeedback = { scores: Object.fromEntries(SCORE_NAMES.map((t) => [t, out.scores[t][i]])) as Record<ScoreName, number> };
        if (heat) {
          fb.heatmaps = Object.fromEntries(
            HEATMAP_NAMES.map((t) => [t, { data: out.heatmaps![t].slice(i * side * side, (i + 1) * side * side), width: side, height: side } as Heatmap]),
          ) as Record<HeatmapName, Heatmap>;
        }
        if (kw) {
          fb.keywordSequence = seqs[i];
          fb.misaligned = misalignedWords(seqs[i]);
        }
        results.push(fb);
      }
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
