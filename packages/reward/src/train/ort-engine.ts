/**
 * Training steps in onnxruntime-node: the loss graph of src/train/loss-graph.ts, differentiated by
 * src/onnx/autodiff.ts with respect to the trained parameters, run as one inference session per run
 * (forward and backward in a single `run`). The tfjs variables stay the source of truth: each step
 * feeds their current values and returns the loss parts and the gradients as host arrays (the trainer
 * clips and applies them with host-adamw.ts). On tfjs-wasm (one thread) the tiny preset's heatmap
 * heads make a step take seconds; onnxruntime runs the same step on every core.
 */
import * as os from 'os';
import type * as Ort from 'onnxruntime-node';
import { gradientModel } from '../onnx/autodiff';
import { HostFeed, TrainBatchHost, TrainGraph, TrainGraphOptions, exportTrainGraph, fixedPaddingExact, lossOutput, trainFeeds } from './loss-graph';
import { encodeModel } from '../onnx/proto';
import { RewardModel } from '../rahf/model';
import type { LossPart } from './loss';

let ortModule: typeof Ort | null | undefined;

/** onnxruntime-node, or undefined when its native binding does not load on this machine. */
export function loadOrt(): typeof Ort | undefined {
  if (ortModule === undefined) {
    try {
      // eslint-disable-next-line @typescript-eslint/no-var-requires
      ortModule = require('onnxruntime-node') as typeof Ort;
    } catch {
      ortModule = null;
    }
  }
  return ortModule ?? undefined;
}

/** Why a model cannot train on the ORT engine (undefined when it can). */
export function ortUnsupported(model: RewardModel): string | undefined {
  if (!loadOrt()) return 'onnxruntime-node does not load here';
  if (model.config.variant !== 'multi_head') return `the ${model.config.variant} variant has no ONNX training graph`;
  if (!fixedPaddingExact(model)) return 'the config does not mask text padding (fixed-length padding would change the loss)';
  return undefined;
}

export interface OrtStepResult {
  loss: number;
  /** Unweighted parts with a non-zero weight. */
  parts: Partial<Record<LossPart, number>>;
  /** dLoss/dparam by parameter name, for every trained parameter the loss depends on. */
  grads: Map<string, Float32Array>;
}

export interface OrtEngineOptions extends TrainGraphOptions {
  /** Parameters to differentiate (the rest are fed as constants). */
  trainable: string[];
  /** intra-op threads (default: every core). */
  threads?: number;
}

export const gradOutput = (param: string): string => `grad_${param}`;

export class OrtTrainEngine {
  private constructor(
    private readonly ort: typeof Ort,
    private readonly model: RewardModel,
    private readonly session: Ort.InferenceSession,
    private readonly tg: TrainGraph,
    private readonly opts: OrtEngineOptions,
    /** Trained parameters the loss depends on (those with a gradient output). */
    readonly wrt: string[],
  ) {}

  /** Build the loss + gradient graph for fixed shapes and open its session. */
  static async create(model: RewardModel, opts: OrtEngineOptions): Promise<OrtTrainEngine> {
    const why = ortUnsupported(model);
    if (why) throw new Error(`ORT training engine: ${why}`);
    const ort = loadOrt()!;
    const tg = exportTrainGraph(model, opts);
    const trainable = new Set(opts.trainable);
    const wrt = tg.params.filter((p) => trainable.has(p));
    const graph = tg.graph.build();
    const inputShapes: Record<string, number[]> = {};
    for (const i of graph.inputs) inputShapes[i.name] = i.shape as number[];
    const keepOutputs = tg.parts.map((p) => lossOutput(p));
    const onnx = gradientModel(graph, { inputShapes, loss: lossOutput('total'), wrt, keepOutputs: [lossOutput('total'), ...keepOutputs], gradName: gradOutput });
    const session = await ort.InferenceSession.create(encodeModel(onnx), {
      intraOpNumThreads: opts.threads ?? os.cpus().length,
      graphOptimizationLevel: 'all',
      // Spinning idle workers cost 2–3× step time when the cores are shared (measured: 7.5 s → 3.0 s per
      // batch-8 step with other jobs on the 2 cores); a step's ops are large enough that waking is cheap.
      extra: { session: { intra_op: { allow_spinning: '0' } } },
    });
    return new OrtTrainEngine(ort, model, session, tg, opts, wrt);
  }

  /** Forward and backward on one batch at the parameters' current values. */
  async step(batch: TrainBatchHost): Promise<OrtStepResult> {
    const ort = this.ort;
    const feeds: Record<string, Ort.Tensor> = {};
    const tensor = (f: HostFeed) => new ort.Tensor(f.dtype as 'float32' | 'int64', f.data, f.dims);
    for (const [k, f] of trainFeeds(this.model, this.tg, this.opts, batch)) feeds[k] = tensor(f);
    for (const p of this.tg.params) {
      const v = this.model.params.tensors.get(p)!;
      feeds[p] = new ort.Tensor('float32', v.dataSync() as Float32Array, [...v.shape]);
    }
    const out = await this.session.run(feeds);
    const parts: Partial<Record<LossPart, number>> = {};
    for (const p of this.tg.parts) parts[p] = out[lossOutput(p)].data[0] as number;
    const grads = new Map<string, Float32Array>();
    for (const p of this.wrt) grads.set(p, out[gradOutput(p)].data as Float32Array);
    return { loss: out[lossOutput('total')].data[0] as number, parts, grads };
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}
