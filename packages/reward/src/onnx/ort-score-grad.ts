import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as ort from 'onnxruntime-node';
import { RahfConfig, SCORE_NAMES, ScoreName, rahfConfigFromJson } from '../rahf/config';
import { RewardModel } from '../rahf/model';
import { preprocessNodes } from './preprocess-graph';
import { Tokenizer } from '../tokenizer';
import { gradientModel } from './autodiff';
import { exportRahfGraph, rahfTextInputs } from './export-rahf';
import { findManifest, readManifest } from './manifest';
import { textFeeds } from './feeds';
import { RewardGradient, ScoreGradOptions, ScoreGradResult, ScoreWeights, checkScoreWeights } from '../rahf/reward-gradient';
import { EngineName, pixelArraySize } from '../rahf/scorer';
import { OnnxGraph, encodeModel, writeModel } from './proto';
import { readGraph } from './read-graph';

/*
 * RewardModel.scoreGrad in onnxruntime-node: d(Σ_type w_type · Σ_batch score_type) / d(pixels), pixels
 * NHWC in [0, 1] at any size, resized (PIL-bilinear matrices, rows then columns, as resizeBilinearPil)
 * and normalised inside the graph exactly as RewardModel.preprocess does. The scores graph of the
 * model (export-rahf.ts) gets that preprocessing in front, and autodiff.ts writes its backward pass;
 * forward and backward then run as one ordinary onnxruntime session (tfjs-wasm is single-threaded).
 *
 * Gradient graphs are built for fixed shapes, so one is built and cached per (batch, image size, prompt
 * token lengths, set of weighted scores); the weights themselves are fed at run time (seed inputs).
 * The scores graph comes from a RewardModel (exported in memory) or from a `rahf export` folder (fp32).
 */

/** What OrtScoreGrad needs of a model: its config, tokenizer and scores graph (export-rahf.ts 'scores'). */
export interface ScoresGraphSource {
  config: RahfConfig;
  tokenizer: Tokenizer;
  graph(): OnnxGraph;
}

export interface OrtScoreGradOptions {
  /** intraOpNumThreads (default: the number of CPUs). */
  threads?: number;
  /** onnxruntime graph optimisation (default 'all'). */
  graphOptimizationLevel?: 'disabled' | 'basic' | 'extended' | 'all';
  /** Sessions kept at once (least recently used dropped first; default 4). */
  maxSessions?: number;
  /** Where models too big to pass as bytes are written (default: a temporary folder, removed on dispose). */
  workDir?: string;
}

/** Models whose initializers exceed this go through a file (ORT parses at most 2 GiB of protobuf). */
const INLINE_LIMIT = 1.5 * 2 ** 30;

interface Entry {
  session: ort.InferenceSession;
  textInputs: { ids: string; mask?: string; kind: string; type?: string }[];
}

export class OrtScoreGrad implements RewardGradient {
  readonly engine: EngineName = 'ort';
  private readonly sessions = new Map<string, Promise<Entry>>();
  private scoresGraph?: OnnxGraph;
  private tmpDir?: string;
  private readonly source: ScoresGraphSource;

  /** From a RewardModel (its weights are read out of tfjs on the first call) or any scores-graph source. */
  constructor(
    model: RewardModel | ScoresGraphSource,
    private readonly opts: OrtScoreGradOptions = {},
  ) {
    const t = opts.threads ?? os.cpus().length;
    if (!(Number.isInteger(t) && t > 0)) throw new Error(`OrtScoreGrad: threads must be a positive integer, got ${t}`);
    this.source =
      model instanceof RewardModel ? { config: model.config, tokenizer: model.tokenizer, graph: () => exportRahfGraph(model, 'scores').build() } : model;
  }

  /** From a `rahf export` folder (or its .onnx / manifest): the fp32 scores graph, config and tokenizer. */
  static fromExport(onnxFileOrDir: string, opts: OrtScoreGradOptions = {}): OrtScoreGrad {
    const mf = findManifest(onnxFileOrDir);
    const dir = path.dirname(mf);
    const manifest = readManifest(mf);
    if (manifest.quantize) throw new Error(`${mf}: a ${manifest.quantize} export has no gradient (export without --quantize)`);
    const config = rahfConfigFromJson(manifest.config, dir);
    const tokenizer = Tokenizer.fromFile(path.join(dir, manifest.tokenizer));
    return new OrtScoreGrad({ config, tokenizer, graph: () => readGraph(path.join(dir, manifest.files.scores)).graph }, opts);
  }

  get config(): RahfConfig {
    return this.source.config;
  }

  /** The scores graph (built or read once). */
  private graph(): OnnxGraph {
    if (!this.scoresGraph) this.scoresGraph = this.source.graph();
    return this.scoresGraph;
  }

  /** Build the forward + backward model for the given shapes and weighted scores. */
  buildModel(b: number, h: number, w: number, lens: number[], weighted: ScoreName[]) {
    const c = this.source.config;
    const s = c.imageSize;
    const g = this.graph();
    const pre = preprocessNodes(b, h, w, s, c.imageMean, c.imageStd);
    const textInputs = rahfTextInputs(c, 'scores');
    const inputShapes: Record<string, number[]> = { pixels01: [b, h, w, 3] };
    textInputs.forEach((t, i) => {
      inputShapes[t.ids] = [b, lens[i]];
      if (t.mask) inputShapes[t.mask] = [b, lens[i]];
    });
    const full: OnnxGraph = {
      name: 'rahf_scores_pixels01',
      nodes: [...pre.nodes, ...g.nodes],
      initializers: [...pre.inits, ...g.initializers],
      inputs: [{ name: 'pixels01', dtype: 'float32', shape: [b, h, w, 3] }, ...g.inputs.filter((v) => v.name !== 'pixel_values')],
      outputs: g.outputs,
    };
    return gradientModel(full, {
      inputShapes,
      seeds: weighted.map((t) => ({ value: `score_${t}`, input: `weight_${t}` })),
      wrt: ['pixels01'],
      keepOutputs: SCORE_NAMES.map((t) => `score_${t}`),
    });
  }

  private async entry(b: number, h: number, w: number, lens: number[], weighted: ScoreName[]): Promise<Entry> {
    const key = `${b}:${h}x${w}:${lens.join(',')}:${weighted.join(',')}`;
    let e = this.sessions.get(key);
    if (e) {
      this.sessions.delete(key); // re-insert as most recent
      this.sessions.set(key, e);
      return e;
    }
    const create = async (): Promise<Entry> => {
      const model = this.buildModel(b, h, w, lens, weighted);
      const so: ort.InferenceSession.SessionOptions = {
        intraOpNumThreads: this.opts.threads ?? os.cpus().length,
        interOpNumThreads: 1,
        executionMode: 'sequential',
        graphOptimizationLevel: this.opts.graphOptimizationLevel ?? 'all',
      };
      const bytes = model.graph.initializers.reduce((a, t) => a + t.data.byteLength, 0);
      let session: ort.InferenceSession;
      if (bytes <= INLINE_LIMIT) session = await ort.InferenceSession.create(encodeModel(model), so);
      else {
        const dir = this.opts.workDir ?? (this.tmpDir ??= fs.mkdtempSync(path.join(os.tmpdir(), 'rahf-scoregrad-')));
        const file = path.join(dir, `scoregrad-${key.replace(/[^0-9a-z]+/gi, '_')}.onnx`);
        writeModel(model, file, { externalDataThreshold: 0 });
        session = await ort.InferenceSession.create(file, so);
      }
      return { session, textInputs: rahfTextInputs(this.source.config, 'scores') };
    };
    e = create();
    this.sessions.set(key, e);
    e.catch(() => this.sessions.delete(key));
    const max = this.opts.maxSessions ?? 4;
    while (this.sessions.size > max) {
      const [oldKey, old] = this.sessions.entries().next().value as [string, Promise<Entry>];
      this.sessions.delete(oldKey);
      void old.then((o) => o.session.release()).catch(() => undefined);
    }
    return e;
  }

  /**
   * Scores and d(Σ_type weights[type] · Σ_batch score_type)/d(pixels01) for NHWC pixels01 in [0, 1]
   * ([B, H, W, 3], `opts.size` = [H, W], default the model size) and B prompts: the
   * {@link RewardGradient} contract, RewardModel.scoreGrad's semantics. (A bare [H, W] as the fourth
   * argument, this method's old form, is still read as `size`.)
   */
  async scoreGrad(pixels01: Float32Array, prompts: string[], weights: ScoreWeights, opts: ScoreGradOptions | [number, number] = {}): Promise<ScoreGradResult> {
    const size = Array.isArray(opts) ? opts : opts.size;
    const ws = checkScoreWeights(weights, 'OrtScoreGrad');
    const c = this.source.config;
    const b = prompts.length;
    if (b === 0) throw new Error('OrtScoreGrad: no prompts');
    const [h, w] = pixelArraySize(pixels01, b, c.imageSize, size, 'OrtScoreGrad');
    const { feeds, lens } = textFeeds(c, this.source.tokenizer, rahfTextInputs(c, 'scores'), prompts);
    const weighted = SCORE_NAMES.filter((t) => ws.some(([k]) => k === t));
    const e = await this.entry(b, h, w, lens, weighted);
    feeds.pixels01 = new ort.Tensor('float32', pixels01, [b, h, w, 3]);
    for (const [k, v] of ws) feeds[`weight_${k}`] = new ort.Tensor('float32', new Float32Array(b).fill(v), [b]);
    const out = await e.session.run(feeds);
    const scores = {} as Record<ScoreName, Float32Array>;
    for (const t of SCORE_NAMES) scores[t] = out[`score_${t}`].data as Float32Array;
    return { scores, grad: out.grad_pixels01.data as Float32Array };
  }

  /** Release the sessions (and the temporary folder of large models). */
  async dispose(): Promise<void> {
    const all = [...this.sessions.values()];
    this.sessions.clear();
    for (const s of all) await (await s.catch(() => undefined))?.session.release();
    if (this.tmpDir) fs.rmSync(this.tmpDir, { recursive: true, force: true });
    this.tmpDir = undefined;
  }
}
