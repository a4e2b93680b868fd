import * as tf from '@tensorflow/tfjs';
import { Params } from '../../nn/params';
import { HEATMAP_NAMES, RahfConfig, SCORE_NAMES, ScoreName } from '../../rahf/config';
import { RewardModel } from '../../rahf/model';
import { Tokenizer } from '../../tokenizer';
import { ALL_SCORES } from './harness';

// ------------------------------------------------------------------------------------------------
// Model copies: each backend gets its own variables (moving a webgpu tensor to cpu would read it
// synchronously, which Node cannot do).

export type HostParams = Map<string, { shape: number[]; data: Float32Array }>;

export interface HostModel {
  config: RahfConfig;
  tokenizer: Tokenizer;
  host: HostParams;
}

/** A model's variables (internal layout) on the host, to rebuild it on another backend. */
export async function hostModel(m: RewardModel): Promise<HostModel> {
  const host: HostParams = new Map();
  for (const [k, v] of m.params.tensors) host.set(k, { shape: [...v.shape], data: (await v.data()) as Float32Array });
  return { config: m.config, tokenizer: m.tokenizer, host };
}

/** The model on the current backend. */
export function modelFromHost(h: HostModel, trainable: boolean): RewardModel {
  const vars = new Map<string, tf.Variable>();
  for (const [k, p] of h.host) {
    const t = tf.tensor(p.data, p.shape, 'float32');
    vars.set(k, tf.variable(t, trainable, undefined, 'float32'));
    t.dispose();
  }
  return RewardModel.fromParts(h.config, h.tokenizer, new Params(vars));
}

// ------------------------------------------------------------------------------------------------

// What one backend computes for a case; everything comes back as host arrays.

export interface Outputs {
  scores: Record<string, Float32Array>;
  heatmaps?: Record<string, Float32Array>;
  gradScores?: Record<string, Float32Array>;
  grad?: Float32Array;
  keywordIds?: number[][];
  seqLoss?: number;
  paramGrads?: Map<string, Float32Array>;
}

export interface CaseInput {
  pixels01: Float32Array; // NHWC in [0,1]
  shape: [number, number, number, number];
  prompts: string[];
  targets?: string[]; // keyword sequences for the sequence loss
  keywordTokens?: number;
}

/** Scores + heatmaps (MSE to 0.5), the sequence loss: a multi-task loss touching every head. */
export function fixtureLoss(m: RewardModel, x: tf.Tensor4D, prompts: string[], targets: string[]): tf.Scalar {
  const out = m.forward(x, prompts, { heatmaps: true });
  let loss: tf.Tensor = m.sequenceLoss(x, prompts, targets);
  for (const t of SCORE_NAMES) loss = tf.add(loss, tf.mean(tf.square(tf.sub(out.scores[t], 0.5))));
  for (const t of HEATMAP_NAMES) loss = tf.add(loss, tf.mean(tf.square(tf.sub(out.heatmaps![t], 0.5))));
  return loss as tf.Scalar;
}

export interface Parts {
  heatmaps: boolean;
  grad: boolean;
  keywords: boolean;
  seqLoss: boolean;
  /** Gradients of the multi-task loss for every parameter, on the first `paramGradBatch` images. */
  paramGrads: boolean;
  paramGradBatch?: number;
  /** Skip the plain forward (scoreGrad returns the scores too). */
  noForward?: boolean;
  /** Score weights of scoreGrad (default: all four). */
  gradWeights?: Partial<Record<ScoreName, number>>;
}

export async function runCase(m: RewardModel, inp: CaseInput, parts: Parts): Promise<Outputs> {
  const x01 = tf.tensor4d(inp.pixels01, inp.shape);
  const x = m.preprocess(x01);
  try {
    const out: Outputs = { scores: {} };
    if (!(parts.noForward && parts.grad)) {
      const fwd = m.forward(x, inp.prompts, { heatmaps: parts.heatmaps });
      for (const t of SCORE_NAMES) out.scores[t] = (await fwd.scores[t].data()) as Float32Array;
      if (fwd.heatmaps) {
        out.heatmaps = {};
        for (const t of HEATMAP_NAMES) out.heatmaps[t] = (await fwd.heatmaps[t].data()) as Float32Array;
      }
      tf.dispose(fwd as unknown as tf.TensorContainer);
    }
    if (parts.grad) {
      const g = await m.scoreGrad(x01, inp.prompts, parts.gradWeights ?? ALL_SCORES);
      out.gradScores = g.scores;
      if (parts.noForward) out.scores = g.scores;
      out.grad = (await g.grad.data()) as Float32Array;
      g.grad.dispose();
    }
    if (parts.keywords) out.keywordIds = await m.generateKeywordIds(x, inp.prompts, inp.keywordTokens ?? 8);
    if (parts.seqLoss && inp.targets) {
      const l = m.sequenceLoss(x, inp.prompts, inp.targets);
      out.seqLoss = (await l.data())[0];
      l.dispose();
    }
    if (parts.paramGrads && inp.targets) {
      const vars = m.params.variables();
      const n = Math.min(parts.paramGradBatch ?? inp.shape[0], inp.shape[0]);
      const xb = n < inp.shape[0] ? tf.slice(x, [0, 0, 0, 0], [n, -1, -1, -1]) : x;
      const { value, grads } = tf.variableGrads(() => fixtureLoss(m, xb, inp.prompts.slice(0, n), inp.targets!.slice(0, n)), vars);
      value.dispose();
      if (xb !== x) xb.dispose();
      out.paramGrads = new Map();
      const names = new Map(vars.map((v) => [v.name, v]));
      const byVar = new Map([...m.params.tensors].map(([k, v]) => [v.name, k]));
      for (const [vn, g] of Object.entries(grads)) {
        if (names.has(vn)) out.paramGrads.set(byVar.get(vn) ?? vn, (await g.data()) as Float32Array);
      }
      tf.dispose(grads);
    }
    return out;
  } finally {
    tf.dispose([x01, x]);
  }
}

/** Worst relative error over all parameter gradients (each against its own scale). */
export function paramGradErr(a: Map<string, Float32Array>, b: Map<string, Float32Array>): { err: number; worst: string } {
  let globalMax = 0;
  for (const g of b.values()) for (const v of g) globalMax = Math.max(globalMax, Math.abs(v));
  let err = 0;
  let worst = '';
  for (const [k, gb] of b) {
    const ga = a.get(k);
    if (!ga) return { err: Infinity, worst: `${k} (missing)` };
    let d = 0;
    let m = 0;
    for (let i = 0; i < gb.length; i++) {
      d = Math.max(d, Number.isNaN(ga[i]) ? Infinity : Math.abs(ga[i] - gb[i]));
      m = Math.max(m, Math.abs(gb[i]));
    }
    // Parameters whose gradient is ~0 everywhere (unused relative-position buckets) are judged on the global scale.
    const e = d === 0 ? 0 : d / Math.max(m, 1e-3 * globalMax, 1e-30);
    if (!(e <= err)) {
      err = e;
      worst = k;
    }
  }
  return { err, worst };
}

export function concatScores(s: Record<string, Float32Array>): Float32Array {
  return Float32Array.from(SCORE_NAMES.flatMap((t) => [...s[t]]));
}
export function concatHeat(h: Record<string, Float32Array>): Float32Array {
  return Float32Array.from(HEATMAP_NAMES.flatMap((t) => [...h[t]]));
}
