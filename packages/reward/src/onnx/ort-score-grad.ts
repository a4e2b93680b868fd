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
import { RewardGradient, ScoreGradOptions, ScoreGradResult, ScoreWeights, checkHeatmapPenalty, checkScoreWeights } from '../rahf/reward-gradient';
import { UserError } from '../errors';
import { EngineName, pixelArraySize } from '../rahf/scorer';
import { OnnxGraph, OnnxNode, OnnxTensor, encodeModel, writeModel } from './proto';
import { readGraph } from './read-graph';

/*
 * RewardModel.scoreGrad in onnxruntime-node: d(Σ_type w_type · Σ_batch score_type) / d(pixels), pixels
 * NHWC in [0, 1] at any size, resized (PIL-bilinear matrices, rows then columns, as resizeBilinearPil)
 * and normalised inside the graph exactly as RewardModel.preprocess does. The scores graph of the
 * model (export-rahf.ts) gets that preprocessing in front, and autodiff.ts writes its backward pass;
 * forward and backward then run as one ordinary onnxruntime session (tfjs-wasm is single-threaded).
 *
 * Gradient graphs are built for fixed shapes, so one is built and cached per (batch, image size, prompt
 * token lengths, set of weighted scores, penalty on or off); the weights themselves are fed at run time (seed
 * inputs), and so are the heatmap penalty's −λ and 1/τ. With the penalty the 'heatmaps' graph replaces the
 * scores graph and a soft-max mean of `heatmap_implausibility` is appended (reward-gradient.ts
 * heatmapPenaltyReduce); autodiff prunes the misalignment head, which nothing then reads.
 * The scores graph comes from a RewardModel (exported in memory) or from a `rahf export` folder (fp32).
 */

/**
 * What OrtScoreGrad needs of a model: its config, tokenizer and scores graph (export-rahf.ts 'scores'), and for
 * the heatmap penalty its scores-and-heatmaps graph (export-rahf.ts 'heatmaps'; absent: the penalty is refused).
 */
export interface ScoresGraphSource {
  config: RahfConfig;
  tokenizer: Tokenizer;
  graph(): OnnxGraph;
  heatmapsGraph?(): OnnxGraph;
  /** Named in the error when the penalty needs a heatmaps graph the source lacks. */
  label?: string;
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
  /**
   * Let onnxruntime pre-pack MatMul / Gemm weights (default true). A gradient graph reads each weight twice (forward
   * MatMul, backward Gemm with transB) and each kernel packs its own copy: false saves ~0.75 GB resident with the
   * paper preset's 0.94 GB of weights, at a few % of speed, and changes the summation order (its gradient then
   * differs from the default's by ~3e-3 of its largest entry with random weights, as much as tfjs's does).
   */
  prepack?: boolean;
  /**
   * onnxruntime's CPU memory arena (default false: activations are allocated per run and freed after). The arena
   * grows in power-of-two steps and never shrinks: +0.4 GB at the paper preset's peak, for ~3 % of system time.
   */
  memArena?: boolean;
  /**
   * Let idle intra-op threads spin-wait for work (onnxruntime's default; here default false): spinning saves a
   * wake-up per parallel op on idle cores, but on a machine shared with other jobs it burns the cores they wait for.
   */
  spin?: boolean;
  /**
   * Keep the scores graph (the weights, in JS memory) after a session is built (default false: a new shape
   * re-reads or re-exports it — about a second for the paper preset — instead of holding a second copy of the
   * weights beside onnxruntime's for the object's lifetime).
   */
  keepGraph?: boolean;
}

/**
 * Models whose initializers exceed this go through a file (ORT parses at most 2 GiB of protobuf). From a file
 * onnxruntime maps the external weights instead of copying them out of a parsed buffer: building the paper
 * preset's session from bytes left ~1 GB of freed-but-held heap and a 0.9 GB buffer for the GC behind it.
 */
const INLINE_LIMIT = 256 * 2 ** 20;

interface Entry {
  session: ort.InferenceSession;
  textInputs: { ids: string; mask?: string; kind: string; type?: string }[];
}

const PENALTY = 'heatmap_penalty';
const PENALTY_INV_TEMPERATURE = 'heatmap_penalty_inv_temperature';

/** heatmapPenaltyReduce as nodes: heatmap_implausibility [B, H, W] → heatmap_penalty [B], 1/τ a [1] input. */
function penaltyNodes(b: number): { nodes: OnnxNode[]; inits: OnnxTensor[] } {
  const shape: OnnxTensor = { name: 'hp/shape', dtype: 'int64', dims: [2], data: BigInt64Array.from([BigInt(b), -1n]) };
  const axes: OnnxTensor = { name: 'hp/axes', dtype: 'int64', dims: [1], data: BigInt64Array.from([1n]) };
  const node = (op: string, inputs: string[], output: string, attrs?: OnnxNode['attrs']): OnnxNode => ({ op, inputs, outputs: [output], name: `${output}/node`, attrs });
  return {
    nodes: [
      node('Reshape', ['heatmap_implausibility', shape.name], 'hp/flat'),
      node('Mul', ['hp/flat', PENALTY_INV_TEMPERATURE], 'hp/scaled'),
      node('Softmax', ['hp/scaled'], 'hp/weights', { axis: -1 }),
      node('Mul', ['hp/weights', 'hp/flat'], 'hp/weighted'),
      node('ReduceSum', ['hp/weighted', axes.name], PENALTY, { keepdims: 0 }),
    ],
    inits: [shape, axes],
  };
}

export class OrtScoreGrad implements RewardGradient {
  readonly engine: EngineName = 'ort';
  private readonly sessions = new Map<string, Promise<Entry>>();
  private scoresGraph?: OnnxGraph;
  private heatGraph?: OnnxGraph;
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
      model instanceof RewardModel
        ? { config: model.config, tokenizer: model.tokenizer, graph: () => exportRahfGraph(model, 'scores').build(), heatmapsGraph: () => exportRahfGraph(model, 'heatmaps').build() }
        : model;
  }

  /** From a `rahf export` folder (or its .onnx / manifest): the fp32 scores graph, config and tokenizer. */
  static fromExport(onnxFileOrDir: string, opts: OrtScoreGradOptions = {}): OrtScoreGrad {
    const mf = findManifest(onnxFileOrDir);
    const dir = path.dirname(mf);
    const manifest = readManifest(mf);
    if (manifest.quantize) throw new Error(`${mf}: a ${manifest.quantize} export has no gradient (export without --quantize)`);
    const config = rahfConfigFromJson(manifest.config, dir);
    const tokenizer = Tokenizer.fromFile(path.join(dir, manifest.tokenizer));
    const heat = manifest.files.heatmaps;
    return new OrtScoreGrad(
      { config, tokenizer, graph: () => readGraph(path.join(dir, manifest.files.scores)).graph, heatmapsGraph: heat ? () => readGraph(path.join(dir, heat)).graph : undefined, label: mf },
      opts,
    );
  }

  get config(): RahfConfig {
    return this.source.config;
  }

  /** The scores graph, or with `heatmaps` the scores-and-heatmaps graph (each built or read once). */
  private graph(heatmaps = false): OnnxGraph {
    if (!heatmaps) return (this.scoresGraph ??= this.source.graph());
    if (!this.source.heatmapsGraph) {
      throw new UserError(`OrtScoreGrad: ${this.source.label ?? 'this model source'} has no heatmaps graph; heatmapPenalty needs one (\`rahf export --heatmaps\`; openRewardGradient's cached export has it)`);
    }
    return (this.heatGraph ??= this.source.heatmapsGraph());
  }

  /**
   * Build the forward + backward model for the given shapes and weighted scores; with `penalty` the heatmaps
   * graph plus the penalty's soft-max mean, seeded by the run-time input `weight_heatmap_penalty` (−λ).
   */
  buildModel(b: number, h: number, w: number, lens: number[], weighted: ScoreName[], penalty = false) {
    const c = this.source.config;
    const s = c.imageSize;
    const g = this.graph(penalty);
    const pre = preprocessNodes(b, h, w, s, c.imageMean, c.imageStd);
    const textInputs = rahfTextInputs(c, penalty ? 'heatmaps' : 'scores');
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
    const seeds = weighted.map((t) => ({ value: `score_${t}`, input: `weight_${t}` }));
    const keep = SCORE_NAMES.map((t) => `score_${t}`);
    if (penalty) {
      const p = penaltyNodes(b);
      full.nodes.push(...p.nodes);
      full.initializers.push(...p.inits);
      full.inputs.push({ name: PENALTY_INV_TEMPERATURE, dtype: 'float32', shape: [1] });
      inputShapes[PENALTY_INV_TEMPERATURE] = [1];
      seeds.push({ value: PENALTY, input: `weight_${PENALTY}` });
      keep.push(PENALTY);
    }
    return gradientModel(full, { inputShapes, seeds, wrt: ['pixels01'], keepOutputs: keep });
  }

  private async entry(b: number, h: number, w: number, lens: number[], weighted: ScoreName[], penalty = false): Promise<Entry> {
    const key = `${b}:${h}x${w}:${lens.join(',')}:${weighted.join(',')}${penalty ? ':heatmap-penalty' : ''}`;
    let e = this.sessions.get(key);
    if (e) {
      this.sessions.delete(key); // re-insert as most recent
      this.sessions.set(key, e);
      return e;
    }
    const create = async (): Promise<Entry> => {
      const model = this.buildModel(b, h, w, lens, weighted, penalty);
      const so: ort.InferenceSession.SessionOptions = {
        intraOpNumThreads: this.opts.threads ?? os.cpus().length,
        interOpNumThreads: 1,
        executionMode: 'sequential',
        graphOptimizationLevel: this.opts.graphOptimizationLevel ?? 'all',
        enableCpuMemArena: this.opts.memArena ?? false,
        extra: { session: { disable_prepacking: this.opts.prepack === false ? '1' : '0', 'intra_op.allow_spinning': this.opts.spin ? '1' : '0' } },
      };
      const bytes = model.graph.initializers.reduce((a, t) => a + t.data.byteLength, 0);
      let session: ort.InferenceSession;
      if (bytes <= INLINE_LIMIT) session = await ort.InferenceSession.create(encodeModel(model), so);
      else {
        const dir = this.opts.workDir ?? (this.tmpDir ??= fs.mkdtempSync(path.join(os.tmpdir(), 'rahf-scoregrad-')));
        const file = path.join(dir, `scoregrad-${key.replace(/[^0-9a-z]+/gi, '_')}.onnx`);
        const written = writeModel(model, file, { externalDataThreshold: 0 });
        session = await ort.InferenceSession.create(file, so);
        // The session holds (maps) the weights now: a temporary copy per shape would fill the disk over many prompt
        // lengths. (Where a mapped file cannot be unlinked, as on Windows, dispose removes the folder.)
        if (!this.opts.workDir) for (const f of [file, written.dataFile]) if (f) fs.rm(f, { force: true }, () => undefined);
      }
      if (!this.opts.keepGraph) this.scoresGraph = this.heatGraph = undefined; // onnxruntime holds the weights now
      return { session, textInputs: rahfTextInputs(this.source.config, penalty ? 'heatmaps' : 'scores') };
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
   * Scores and d(Σ_type weights[type] · Σ_batch score_type − λ · Σ_batch P)/d(pixels01) for NHWC pixels01 in
   * [0, 1] ([B, H, W, 3], `opts.size` = [H, W], default the model size) and B prompts, P the implausibility
   * heatmap's soft-max mean when `opts.heatmapPenalty` = λ > 0: the {@link RewardGradient} contract,
   * RewardModel.scoreGrad's semantics. (A bare [H, W] as the fourth argument, this method's old form, is still
   * read as `size`.)
   */
  async scoreGrad(pixels01: Float32Array, prompts: string[], weights: ScoreWeights, opts: ScoreGradOptions | [number, number] = {}): Promise<ScoreGradResult> {
    const o: ScoreGradOptions = Array.isArray(opts) ? { size: opts } : opts;
    const size = o.size;
    const ws = checkScoreWeights(weights, 'OrtScoreGrad');
    const pen = checkHeatmapPenalty(o, 'OrtScoreGrad');
    const c = this.source.config;
    const b = prompts.length;
    if (b === 0) throw new Error('OrtScoreGrad: no prompts');
    const [h, w] = pixelArraySize(pixels01, b, c.imageSize, size, 'OrtScoreGrad');
    const { feeds, lens } = textFeeds(c, this.source.tokenizer, rahfTextInputs(c, pen ? 'heatmaps' : 'scores'), prompts);
    const weighted = SCORE_NAMES.filter((t) => ws.some(([k]) => k === t));
    const e = await this.entry(b, h, w, lens, weighted, pen !== undefined);
    feeds.pixels01 = new ort.Tensor('float32', pixels01, [b, h, w, 3]);
    for (const [k, v] of ws) feeds[`weight_${k}`] = new ort.Tensor('float32', new Float32Array(b).fill(v), [b]);
    if (pen) {
      feeds[`weight_${PENALTY}`] = new ort.Tensor('float32', new Float32Array(b).fill(-pen.lambda), [b]);
      feeds[PENALTY_INV_TEMPERATURE] = new ort.Tensor('float32', Float32Array.of(1 / pen.temperature), [1]);
    }
    const out = await e.session.run(feeds);
    const scores = {} as Record<ScoreName, Float32Array>;
    for (const t of SCORE_NAMES) scores[t] = out[`score_${t}`].data as Float32Array;
    const result: ScoreGradResult = { scores, grad: out.grad_pixels01.data as Float32Array };
    if (pen) result.penalty = out[PENALTY].data as Float32Array;
    return result;
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
