import * as tf from '@tensorflow/tfjs';
import { t5ParamShapes } from '../models/t5';
import { vitParamShapes } from '../models/vit';
import { HEATMAP_NAMES, RahfConfig, SCORE_NAMES, gridSize } from './config';
import { TORCH_TO_TF_FILTER } from './conv';
import { ParamShapes, heatmapHeadShapes, scoreHeadShapes } from './heads';
import { STEM_PREFIX, STEM_SKIP, imageStemShapes } from './stem';
import { CAPTION_POOL } from './caption-pool';
import { WORD_GROUNDING_LAYERS } from './word-grounding';

/** Prefix of each part of the model in checkpoints (youweiliang's module names). */
export const VIT_PREFIX = 'vit.';
export const T5_PREFIX = 't5.';
export const PROJECTION = 'visual_token_projection';

/** Whether a parameter is a head or stem conv weight, which the model holds as a tfjs filter (see conv.ts). */
export function isHeadFilter(name: string, rank: number): boolean {
  return rank === 4 && (name.startsWith('score_predictor.') || name.startsWith('heatmap_predictor.') || name.startsWith(STEM_PREFIX));
}

/** Shape of a parameter inside the model, given its checkpoint shape. */
export function internalShape(name: string, shape: number[]): number[] {
  return isHeadFilter(name, shape.length) ? TORCH_TO_TF_FILTER.map((i) => shape[i]) : shape;
}

/** Every parameter of a RAHF model with its full (checkpoint) name and checkpoint (PyTorch) shape. */
export function rahfParamShapes(c: RahfConfig): ParamShapes {
  const out: ParamShapes = imageStemShapes(c.imageStem);
  for (const [n, s] of vitParamShapes(c.vit)) out.push([VIT_PREFIX + n, s]);
  for (const [n, s] of t5ParamShapes(c.t5)) out.push([T5_PREFIX + n, s]);
  out.push([`${PROJECTION}.weight`, [c.t5.d_model, c.vit.hidden_size]], [`${PROJECTION}.bias`, [c.t5.d_model]]);
  if (c.imageStemSkip) {
    out.push([`${STEM_SKIP}.weight`, [c.t5.d_model, c.imageStem[c.imageStem.length - 1]]], [`${STEM_SKIP}.bias`, [c.t5.d_model]]);
  }
  if (c.captionPool) out.push([`${CAPTION_POOL}.weight`, [c.t5.d_model, c.t5.d_model]], [`${CAPTION_POOL}.bias`, [c.t5.d_model]]);
  if (c.wordGrounding) for (const n of WORD_GROUNDING_LAYERS) out.push([`${n}.weight`, [c.t5.d_model, c.t5.d_model]], [`${n}.bias`, [c.t5.d_model]]);
  const d = c.t5.d_model;
  const score = scoreHeadShapes(d, gridSize(c), c.scoreConv, c.scoreLinear);
  const heat = heatmapHeadShapes(d, c.heatmapChannels, c.heatmapStages);
  for (const [prefix, shapes, names] of [
    ['score_predictor.', score, SCORE_NAMES],
    ['heatmap_predictor.', heat, HEATMAP_NAMES],
  ] as const) {
    if (c.variant === 'multi_head') {
      for (const t of names) for (const [n, s] of shapes) out.push([`${prefix}${t}.${n}`, s]);
    } else {
      for (const [n, s] of shapes) out.push([prefix + n, s]);
    }
  }
  return out;
}

/** Total number of parameters of a configuration. */
export function countParams(shapes: ParamShapes): number {
  return shapes.reduce((a, [, s]) => a + s.reduce((x, y) => x * y, 1), 0);
}

type Init = { kind: 'normal'; std: number } | { kind: 'uniform'; bound: number } | { kind: 'const'; value: number };

/**
 * Initialisation of one parameter, following what the reference model starts from:
 * ViT as HF ViTPreTrainedModel (weights N(0, initializer_range), biases 0, LayerNorm 1/0); T5 as HF
 * T5PreTrainedModel (per-matrix normal scales with initializer_factor); the projection and heads as
 * PyTorch's default Linear/Conv init (U(±1/√fan_in) for weight and bias), norm scales 1.
 */
function initFor(name: string, shape: number[], c: RahfConfig, shapes: Map<string, number[]>): Init {
  if (name.startsWith(VIT_PREFIX)) {
    const std = typeof c.vitJson.initializer_range === 'number' ? c.vitJson.initializer_range : 0.02;
    if (/layernorm/.test(name)) return { kind: 'const', value: name.endsWith('.weight') ? 1 : 0 };
    if (name.endsWith('.bias')) return { kind: 'const', value: 0 };
    return { kind: 'normal', std };
  }
  if (name.startsWith(T5_PREFIX)) {
    const f = typeof c.t5Json.initializer_factor === 'number' ? c.t5Json.initializer_factor : 1;
    const { d_model: d, d_kv: dkv, d_ff: dff, num_heads: h } = c.t5;
    if (name.endsWith('layer_norm.weight')) return { kind: 'const', value: f };
    if (name.endsWith('shared.weight') || name.endsWith('lm_head.weight')) return { kind: 'normal', std: f };
    if (name.endsWith('.q.weight')) return { kind: 'normal', std: f * (d * dkv) ** -0.5 };
    if (name.endsWith('.k.weight') || name.endsWith('.v.weight')) return { kind: 'normal', std: f * d ** -0.5 };
    if (name.endsWith('.o.weight')) return { kind: 'normal', std: f * (h * dkv) ** -0.5 };
    if (name.endsWith('relative_attention_bias.weight')) return { kind: 'normal', std: f * d ** -0.5 };
    if (/\.wi(_[01])?\.weight$/.test(name)) return { kind: 'normal', std: f * d ** -0.5 };
    if (name.endsWith('.wo.weight')) return { kind: 'normal', std: f * dff ** -0.5 };
    throw new Error(`init: no T5 rule for "${name}"`);
  }
  if (name.endsWith('.scale')) return { kind: 'const', value: 1 };
  // PyTorch Conv2d / ConvTranspose2d / Linear: fan_in = size(1) · kernel area (also for the bias).
  const w = name.endsWith('.bias') ? shapes.get(name.slice(0, -'.bias'.length) + '.weight') : shape;
  if (!w) throw new Error(`init: bias "${name}" has no weight`);
  const fanIn = w.slice(1).reduce((a, b) => a * b, 1);
  return { kind: 'uniform', bound: 1 / Math.sqrt(fanIn) };
}

/** 32-bit FNV-1a of a name mixed with the seed: every parameter gets its own reproducible stream. */
function nameSeed(name: string, seed: number): number {
  let h = 0x811c9dc5 ^ (seed >>> 0);
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193) >>> 0;
  return h >>> 0;
}

// Module-level aliases: inside Jest's vm context every `Math.x` lookup goes through the sandbox global
// and makes these loops several times slower.
const { sqrt, log } = Math;
const U32_TO_SIGNED_UNIT = 1 / 2 ** 31; // uint32 · this − 1 ∈ [−1, 1)

/**
 * Samples of one initialiser: an inline xorshift32 stream (seeded per parameter) and Marsaglia's polar
 * method for normals. Written for speed — tf.randomNormal takes minutes for a paper-sized model, a
 * closure-based generator with Box–Muller tens of seconds.
 */
function sample(init: Init, n: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  if (init.kind === 'const') return out.fill(init.value);
  let x = seed >>> 0 || 0x9e3779b9; // xorshift32 must not start at 0
  if (init.kind === 'uniform') {
    const b = init.bound;
    for (let i = 0; i < n; i++) {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      out[i] = ((x >>> 0) * U32_TO_SIGNED_UNIT - 1) * b;
    }
    return out;
  }
  const std = init.std;
  for (let i = 0; i < n; ) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    const u = (x >>> 0) * U32_TO_SIGNED_UNIT - 1;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    const v = (x >>> 0) * U32_TO_SIGNED_UNIT - 1;
    const s = u * u + v * v;
    if (s >= 1 || s === 0) continue;
    const m = sqrt((-2 * log(s)) / s) * std;
    out[i++] = u * m;
    if (i < n) out[i++] = v * m;
  }
  return out;
}

/**
 * Random parameters for a configuration (seeded; the same seed and config give the same weights
 * whatever else is loaded), in the model's internal layout. `skip` leaves names out (parts loaded
 * from pretrained checkpoints).
 */
export function initRahfParams(c: RahfConfig, seed = 0, opts: { skip?: (name: string) => boolean; trainable?: boolean } = {}): Map<string, tf.Variable> {
  const shapes = rahfParamShapes(c);
  const byName = new Map(shapes);
  const out = new Map<string, tf.Variable>();
  for (const [name, shape] of shapes) {
    if (opts.skip?.(name)) continue;
    const init = initFor(name, shape, c, byName);
    const n = shape.reduce((a, b) => a * b, 1);
    // Entries are i.i.d., so sampling straight into the internal layout is equivalent.
    const t = tf.tensor(sample(init, n, nameSeed(name, seed)), internalShape(name, shape), 'float32');
    out.set(name, tf.variable(t, opts.trainable ?? false, undefined, 'float32'));
    t.dispose();
  }
  return out;
}
