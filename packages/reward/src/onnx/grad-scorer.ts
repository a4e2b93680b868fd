import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as ort from 'onnxruntime-node';
import { RahfConfig, SCORE_NAMES, ScoreName, rahfConfigFromJson, taskPrompt } from '../rahf/config';
import { RewardModel } from '../rahf/model';
import { pilBilinearMatrix } from '../rahf/resize';
import { Tokenizer } from '../tokenizer';
import { gradientModel } from './autodiff';
import { exportRahfGraph, rahfTextInputs } from './export-rahf';
import { findManifest, int64, readManifest } from './scorer';
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

export interface OrtScoreGradResult {
  scores: Record<ScoreName, Float32Array>;
  /** d(weighted score sum)/d(pixels), the input's layout [B, H, W, 3]. */
  grad: Float32Array;
}

/** Models whose initializers exceed this go through a file (ORT parses at most 2 GiB of protobuf). */
const INLINE_LIMIT = 1.5 * 2 ** 30;

/** Graph nodes that take pixels01 [B, H, W, 3] to normalised pixel_values [B, S, S, 3] (RewardModel.preprocess). */
function preprocessNodes(b: number, h: number, w: number, s: number, mean: number[], std: number[]): { nodes: OnnxNode[]; inits: OnnxTensor[] } {
  const nodes: OnnxNode[] = [];
  const inits: OnnxTensor[] = [];
  let k = 0;
  const i64 = (v: number[]) => {
    const name = `pre/c${k++}`;
    inits.push({ name, dtype: 'int64', dims: [v.length], data: BigInt64Array.from(v.map(BigInt)) });
    return name;
  };
  const f32 = (v: Float32Array, dims: number[]) => {
    const name = `pre/c${k++}`;
    inits.push({ name, dtype: 'float32', dims, data: v });
    return name;
  };
  const node = (op: string, inputs: string[], attrs?: OnnxNode['attrs'], out?: string) => {
    const o = out ?? `pre/v${k++}`;
    nodes.push({ op, inputs, outputs: [o], name: `pre/n${k++}`, attrs });
    return o;
  };
  let x = 'pixels01';
  if (h !== s || w !== s) {
    // Each pass one 2-D MatMul on the resized axis moved to the front, as resizeBilinearPil.
    let y = node('Transpose', [x], { perm: [1, 0, 2, 3] }); // [h, B, w, 3]
    if (h !== s) y = node('Reshape', [node('MatMul', [f32(pilBilinearMatrix(h, s), [s, h]), node('Reshape', [y, i64([h, -1])])]), i64([s, b, w, 3])]);
    y = node('Transpose', [y], { perm: [2, 1, 0, 3] }); // [w, B, s, 3]
    if (w !== s) y = node('Reshape', [node('MatMul', [f32(pilBilinearMatrix(w, s), [s, w]), node('Reshape', [y, i64([w, -1])])]), i64([s, b, s, 3])]);
    x = node('Transpose', [y], { perm: [1, 2, 0, 3] });
  }
  node('Div', [node('Sub', [x, f32(Float32Array.from(mean), [3])]), f32(Float32Array.from(std), [3])], undefined, 'pixel_values');
  return { nodes, inits };
}

interface Entry {
  session: ort.InferenceSession;
  textInputs: { ids: string; mask?: string; kind: string; type?: string }[];
}

export class OrtScoreGrad {
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

  /** Token ids (and masks) of every text input of the scores graph. */
  private texts(prompts: string[]): { feeds: Record<string, ort.Tensor>; lens: number[] } {
    const c = this.source.config;
    const feeds: Record<string, ort.Tensor> = {};
    const lens: number[] = [];
    for (const t of rahfTextInputs(c, 'scores')) {
      const texts = t.kind === 'caption' ? prompts : prompts.map((p) => taskPrompt(c.augmentedPromptFormat, t.kind as 'SCORE' | 'HEATMAP', t.type!, p));
      const enc = this.source.tokenizer.encodeBatch(texts, { maxLength: c.maxTextTokens });
      feeds[t.ids] = int64(enc.ids);
      if (t.mask) feeds[t.mask] = int64(enc.mask);
      lens.push(enc.ids[0]?.length ?? 0);
    }
    return { feeds, lens };
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
   * ([B, H, W, 3], `size` = [H, W], default the model size) and B prompts — RewardModel.scoreGrad's
   * semantics.
   */
  async scoreGrad(pixels01: Float32Array, prompts: string[], weights: Partial<Record<ScoreName, number>>, size?: [number, number]): Promise<OrtScoreGradResult> {
    const ws = Object.entries(weights).filter(([, w]) => w !== undefined) as [ScoreName, number][];
    for (const [k, w] of ws) {
      if (!(SCORE_NAMES as readonly string[]).includes(k)) throw new Error(`OrtScoreGrad: unknown score "${k}" (expected ${SCORE_NAMES.join(', ')})`);
      if (!Number.isFinite(w)) throw new Error(`OrtScoreGrad: weight of "${k}" is not a finite number`);
    }
    if (ws.length === 0) throw new Error('OrtScoreGrad: weights must name at least one score');
    const s = this.source.config.imageSize;
    const [h, w] = size ?? [s, s];
    const b = prompts.length;
    if (b === 0) throw new Error('OrtScoreGrad: no prompts');
    if (pixels01.length !== b * h * w * 3) throw new Error(`OrtScoreGrad: pixels hold ${pixels01.length} values, expected ${b}×${h}×${w}×3 for ${b} prompts`);
    const { feeds, lens } = this.texts(prompts);
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
