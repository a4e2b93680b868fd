/**
 * Settings sweep of the GPU check: the webgpu knobs that change speed but not the model's math
 * (which matMul and 3×3 conv programs run, whether linear layers pass W transposed by flag, whether
 * LayerNorm / RMS norm / GELU / attention softmax run as the fused kernels of src/gpu/norm.ts, gelu.ts and
 * softmax.ts, tfjs-backend-webgpu flags), each timed on the paper preset at the two targets of the GPU issue — scores-only forward
 * at batch 32 and scoreGrad at batch 1 — and each checked against the first setting's outputs on the
 * same inputs (scores at batch 32, heatmaps and the pixel gradient at batch 1). A setting whose
 * outputs drift beyond `tol` is not eligible. Stage 1 compares whole configurations; stage 2 tries
 * one change at a time on the best and keeps it when it helps. The winner is left applied.
 */
import * as tf from '@tensorflow/tfjs';
import { HEATMAP_NAMES, SCORE_NAMES, ScoreName } from '../../rahf/config';
import { RewardModel } from '../../rahf/model';
import { relErr } from '../../parity/fixtures';

export { relErr } from '../../parity/fixtures';
import { MatMulMode, matMulCalls, setConvMode, setMatMulMode } from '../../gpu/matmul';
import { setFusedOps } from '../../gpu/norm';
import { setFusedSoftmax } from '../../gpu/softmax';

export type FusedMode = 'none' | 'norms' | 'all';

export interface Setting {
  name: string;
  matmul: MatMulMode;
  /** 3×3 'same' convolutions: the tiled implicit GEMM or tfjs's Conv2D */
  conv: MatMulMode;
  /** RAHF_LINEAR_TRANSPOSE: 'flag' (W transposed by matMul's flag) or 'explicit' (tf.transpose first). */
  linear: 'flag' | 'explicit';
  /**
   * Fused kernels (src/gpu/norm.ts, gelu.ts, softmax.ts) or tfjs's composed ops: none, LayerNorm / RMS
   * norm / GELU ('norms'), or those and the attention softmax ('all').
   */
  fused: FusedMode;
  /** tfjs-backend-webgpu flags; those not named take tfjs's defaults. */
  flags: Record<string, number | boolean>;
}

/** Every flag any setting touches, with tfjs's default, so each setting starts from the same state. */
const TFJS_DEFAULTS: Record<string, number | boolean> = {
  WEBGPU_DEFERRED_SUBMIT_BATCH_SIZE: 15,
  WEBGPU_USE_NAIVE_CONV2D_TRANSPOSE: true,
  WEBGPU_CONV_SEPARATE_IM2COL_SHADER: false,
  WEBGPU_THRESHOLD_TO_INCREASE_WORKGROUPS_FOR_MATMUL: -1,
};

export function applySetting(s: Setting): void {
  setMatMulMode(s.matmul);
  setConvMode(s.conv);
  process.env.RAHF_LINEAR_TRANSPOSE = s.linear;
  setFusedOps(s.fused !== 'none');
  setFusedSoftmax(s.fused === 'all');
  for (const [k, v] of Object.entries({ ...TFJS_DEFAULTS, ...s.flags })) tf.env().set(k, v);
}

export interface SweepRow {
  setting: string;
  forward_b32_median_s: number;
  images_per_s: number;
  scoreGrad_b1_median_s: number;
  scoreGrad_b1_min_s: number;
  /** max over outputs of max|Δ| / max|reference| against the first setting */
  rel_vs_first: number;
  /** the same per output: scores at batch 32, heatmaps at batch 1, scoreGrad's pixel gradient at batch 1 */
  rel_parts?: { scores_b32: number; heatmaps_b1: number; grad_b1: number };
  eligible: boolean;
  /** max(forward_b32 / target, scoreGrad / target): ≤ 1 meets both targets; lower is better */
  score: number;
  matmul_calls_b32?: { tiled: number; fallback: number };
  error?: string;
}

export interface SweepOptions {
  /** images/s at batch 32 and seconds of scoreGrad at batch 1 that the issue asks for */
  targetImagesPerS: number;
  targetScoreGradS: number;
  tol: number;
  forwardRuns: number;
  gradRuns: number;
  /** seconds left in the check's budget (the sweep stops adding settings below `reserveS`) */
  left: () => number;
  reserveS: number;
  log: (msg: string) => void;
  /** called after every row (the check saves its JSON) */
  onRow: (rows: SweepRow[]) => void;
  prompts: (n: number) => string[];
  pixels: (n: number, seed: number) => Float32Array;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];


interface Outputs {
  scores32: Float32Array;
  heat1: Float32Array;
  grad1: Float32Array;
}

/**
 * Time one setting: forward b32 (one warm-up, then `forwardRuns`), one heatmaps forward at b1 (for the
 * comparison only), scoreGrad b1 (two warm-ups: the first compiles, the second settles buffer pools).
 */
async function measure(m: RewardModel, s: Setting, o: SweepOptions, x32: tf.Tensor4D, x1: tf.Tensor4D, x01: tf.Tensor4D) {
  applySetting(s);
  const weights: Record<ScoreName, number> = { plausibility: 1, alignment: 1, aesthetics: 1, overall: 1 };
  let scores32: Float32Array = new Float32Array(0);
  const fwd = async () => {
    const out = m.forward(x32, o.prompts(32), { heatmaps: false });
    const vals = await Promise.all(SCORE_NAMES.map((t) => out.scores[t].data()));
    scores32 = Float32Array.from(vals.flatMap((v) => [...(v as Float32Array)]));
    tf.dispose(out as unknown as tf.TensorContainer);
  };
  matMulCalls(true);
  await fwd();
  const calls = matMulCalls(true);
  const tf32: number[] = [];
  for (let i = 0; i < o.forwardRuns; i++) {
    const t0 = performance.now();
    await fwd();
    tf32.push((performance.now() - t0) / 1000);
  }
  const h = m.forward(x1, o.prompts(1), { heatmaps: true });
  const hv = await Promise.all(HEATMAP_NAMES.map((t) => h.heatmaps![t].data()));
  tf.dispose(h as unknown as tf.TensorContainer);
  let grad1: Float32Array = new Float32Array(0);
  const sg = async () => {
    const g = await m.scoreGrad(x01, o.prompts(1), weights);
    grad1 = (await g.grad.data()) as Float32Array;
    g.grad.dispose();
  };
  await sg();
  await sg();
  const tg: number[] = [];
  for (let i = 0; i < o.gradRuns; i++) {
    const t0 = performance.now();
    await sg();
    tg.push((performance.now() - t0) / 1000);
  }
  const out: Outputs = { scores32, heat1: Float32Array.from(hv.flatMap((v) => [...(v as Float32Array)])), grad1 };
  return { fwdS: median(tf32), gradS: median(tg), gradMin: Math.min(...tg), out, calls };
}

/** Run the sweep; returns the rows and the winning setting (already applied), or undefined if none ran. */
export async function sweepSettings(m: RewardModel, stage1: Setting[], stage2: Setting['flags'][], o: SweepOptions): Promise<{ rows: SweepRow[]; best?: Setting }> {
  const s = m.config.imageSize;
  const x32 = tf.tidy(() => m.preprocess(tf.tensor4d(o.pixels(32 * s * s * 3, 32), [32, s, s, 3])));
  const x1 = tf.tidy(() => m.preprocess(tf.tensor4d(o.pixels(s * s * 3, 1), [1, s, s, 3])));
  const x01 = tf.tensor4d(o.pixels(s * s * 3, 5), [1, s, s, 3]);
  const rows: SweepRow[] = [];
  let ref: Outputs | undefined;
  let best: { setting: Setting; row: SweepRow } | undefined;
  const r3 = (x: number) => Number(x.toPrecision(3));
  const run = async (setting: Setting): Promise<SweepRow | undefined> => {
    if (o.left() < o.reserveS) {
      o.log(`sweep: no time for "${setting.name}" (${o.left().toFixed(0)} s left)`);
      return undefined;
    }
    let row: SweepRow;
    try {
      const r = await measure(m, setting, o, x32, x1, x01);
      const parts = ref
        ? { scores_b32: relErr(r.out.scores32, ref.scores32), heatmaps_b1: relErr(r.out.heat1, ref.heat1), grad_b1: relErr(r.out.grad1, ref.grad1) }
        : { scores_b32: 0, heatmaps_b1: 0, grad_b1: 0 };
      const rel = Math.max(parts.scores_b32, parts.heatmaps_b1, parts.grad_b1);
      if (!ref) ref = r.out;
      const score = Math.max(r.fwdS / (32 / o.targetImagesPerS), r.gradS / o.targetScoreGradS);
      row = {
        setting: setting.name,
        forward_b32_median_s: r3(r.fwdS),
        images_per_s: r3(32 / r.fwdS),
        scoreGrad_b1_median_s: r3(r.gradS),
        scoreGrad_b1_min_s: r3(r.gradMin),
        rel_vs_first: r3(rel),
        rel_parts: { scores_b32: r3(parts.scores_b32), heatmaps_b1: r3(parts.heatmaps_b1), grad_b1: r3(parts.grad_b1) },
        eligible: rel <= o.tol,
        score: r3(score),
        matmul_calls_b32: r.calls,
      };
    } catch (e) {
      row = {
        setting: setting.name,
        forward_b32_median_s: NaN,
        images_per_s: NaN,
        scoreGrad_b1_median_s: NaN,
        scoreGrad_b1_min_s: NaN,
        rel_vs_first: NaN,
        eligible: false,
        score: Infinity,
        error: (e as Error).message.split('\n')[0],
      };
    }
    rows.push(row);
    o.log(
      `sweep ${row.setting.padEnd(34)} b32 ${row.forward_b32_median_s} s (${row.images_per_s}/s)  scoreGrad ${row.scoreGrad_b1_median_s} s (min ${row.scoreGrad_b1_min_s})  rel ${row.rel_vs_first}  score ${row.score}${row.error ? `  ERROR ${row.error}` : ''}`,
    );
    o.onRow(rows);
    if (row.eligible && (!best || row.score < best.row.score)) best = { setting, row };
    return row;
  };
  try {
    for (const st of stage1) await run(st);
    // Stage 2: one flag change at a time on the best so far; kept only if it beats it by 2 %.
    for (const change of stage2) {
      if (!best) break;
      const base = best;
      const merged = { ...TFJS_DEFAULTS, ...base.setting.flags };
      if (Object.entries(change).every(([k, v]) => merged[k] === v)) continue; // already in the best
      // The separate im2col shader only changes tfjs's Conv2D, which the tiled conv replaces.
      if ('WEBGPU_CONV_SEPARATE_IM2COL_SHADER' in change && base.setting.conv === 'tiled') continue;
      const flags = { ...base.setting.flags, ...change };
      const root = base.setting.name.split(' + ')[0];
      const setting: Setting = {
        name: `${root} + ${Object.entries(flags).map(([k, v]) => `${k.replace(/^WEBGPU_/, '')}=${v}`).join(', ')}`,
        matmul: base.setting.matmul,
        conv: base.setting.conv,
        linear: base.setting.linear,
        fused: base.setting.fused,
        flags,
      };
      const row = await run(setting);
      if (row && best !== base && !(row.score < base.row.score * 0.98)) best = base;
    }
  } finally {
    tf.dispose([x32, x1, x01]);
  }
  if (best) applySetting(best.setting);
  return { rows, best: best?.setting };
}
