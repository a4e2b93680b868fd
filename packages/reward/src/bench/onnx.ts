import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as ort from 'onnxruntime-node';
import { RewardModel } from '../rahf/model';
import { SCORE_NAMES, gridSize, visualTokenCount } from '../rahf/config';
import { exportRahf } from '../onnx/export';
import { OnnxScorer } from '../onnx/scorer';
import { exportOnnx } from '../onnx/export';
import { writeModel } from '../onnx/proto';

/*
 * onnxruntime-node figures of a RAHF preset with random weights (a benchmark, not a test): the model
 * is exported to a temporary folder, then scores-only forward at batch 1 and 8, forward with both
 * heatmaps at batch 1, and the same scores through a dynamically int8-quantised export with its
 * deviation from fp32. Each time is the median of `runs` after one warm-up run.
 */

export interface BenchOnnxOptions {
  preset?: string;
  runs?: number;
  /** intraOpNumThreads (default: number of CPUs). */
  threads?: number;
  /** tokenizer.json for the preset (default: the parity fixtures' T5 tokenizer). */
  tokenizer?: string;
  /** Include the heatmaps graph (default true). */
  heatmaps?: boolean;
  /** Include the int8 export (default true). */
  int8?: boolean;
  /** Export folder (default a temporary one, removed afterwards). */
  dir?: string;
  log?: (line: string) => void;
}

export interface BenchOnnxFigures {
  preset: string;
  threads: number;
  runs: number;
  /** Encoder sequence length: image tokens + prompt tokens. */
  tokens: number;
  /** FLOP count used for the GFLOP/s figure (multiply-adds × 2, scores-only forward of one image). */
  forward_gflop: number;
  export_s: number;
  forward_bs1_s: number;
  forward_bs8_s: number;
  forward_bs8_img_per_s: number;
  forward_bs1_gflops: number;
  forward_heatmaps_bs1_s?: number;
  /** Fastest run of each timed figure, in the order above (a busy machine inflates medians). */
  fastest_s: Record<string, number>;
  /** The model's ViT alone at batch 1 (ViT-B/16 for `paper`; the issue measured 0.137 s on an idle machine). */
  vit_bs1_s: number;
  /** Seconds to create the scores session (load + graph optimisation). */
  session_create_s: number;
  /** 1-minute load average before and after the timed runs (2 cores: above ~2 means other work competed). */
  load_avg: [number, number];
  int8?: { forward_bs1_s: number; forward_bs8_img_per_s: number; max_abs_score_diff: number; mean_abs_score_diff: number };
  model_mb: number;
}

/** Median (and fastest) of `runs` timed runs after one warm-up run, in seconds. */
async function timeRuns(runs: number, fn: () => Promise<unknown>): Promise<{ median: number; min: number }> {
  await fn();
  const ts: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = process.hrtime.bigint();
    await fn();
    ts.push(Number(process.hrtime.bigint() - t0) / 1e9);
  }
  ts.sort((a, b) => a - b);
  return { median: ts[Math.floor(ts.length / 2)], min: ts[0] };
}

async function median(runs: number, fn: () => Promise<unknown>, mins?: number[]): Promise<number> {
  const t = await timeRuns(runs, fn);
  mins?.push(t.min);
  return t.median;
}

/** Multiply-add count ×2 of the scores-only forward of one image (ViT + projection + T5 encoder + score heads). */
export function rahfForwardFlops(model: RewardModel, textTokens: number): number {
  const c = model.config;
  const v = c.vit;
  const n = gridSize(c) ** 2;
  const lv = n + 1;
  let f = 0;
  const pd = v.patch_size * v.patch_size * 3;
  f += n * pd * v.hidden_size; // patch embedding
  f += v.num_hidden_layers * (lv * (4 * v.hidden_size ** 2 + 2 * v.hidden_size * v.intermediate_size) + 2 * lv * lv * v.hidden_size);
  const t = c.t5;
  const nv = visualTokenCount(c);
  const l = nv + textTokens;
  const inner = t.num_heads * t.d_kv;
  f += nv * v.hidden_size * t.d_model; // projection
  const ffn = (t.is_gated_act ? 3 : 2) * t.d_model * t.d_ff;
  f += t.num_layers * (l * (4 * t.d_model * inner + ffn) + 2 * l * l * inner);
  const g = gridSize(c);
  let cin = t.d_model;
  let head = 0;
  for (const w of c.scoreConv) {
    head += g * g * 9 * cin * w;
    cin = w;
  }
  let fin = cin * g * g;
  for (const w of [...c.scoreLinear, 1]) {
    head += fin * w;
    fin = w;
  }
  f += SCORE_NAMES.length * head;
  return 2 * f;
}

function dirSize(dir: string): number {
  return fs.readdirSync(dir).reduce((a, f) => a + fs.statSync(path.join(dir, f)).size, 0);
}

export async function benchOnnx(opts: BenchOnnxOptions = {}): Promise<BenchOnnxFigures> {
  const preset = opts.preset ?? 'paper';
  const runs = opts.runs ?? 5;
  const threads = opts.threads ?? os.cpus().length;
  const log = opts.log ?? ((s: string) => process.stderr.write(s + '\n'));
  const tokenizer = opts.tokenizer ?? path.resolve(__dirname, '../../test/fixtures/parity/rahf/t5/tokenizer.json');
  const withHeat = opts.heatmaps ?? true;
  const dir = opts.dir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'rahf-onnx-bench-'));
  // 33 tokens with the fixture tokenizer: 196 + 33 ≈ the ~228-token sequence of the FLOP estimate.
  const prompt = 'a photo of a red cat sitting on a blue sofa next to two green apples';
  try {
    const model = await RewardModel.fromPreset(preset, { tokenizer, seed: 0 });
    const textTokens = model.tokenizer.encode(prompt).length;
    const flops = rahfForwardFlops(model, textTokens);
    const t0 = process.hrtime.bigint();
    exportRahf(model, path.join(dir, 'model.onnx'), { heatmaps: withHeat, log });
    const exportS = Number(process.hrtime.bigint() - t0) / 1e9;
    if (opts.int8 ?? true) exportRahf(model, path.join(dir, 'int8', 'model.onnx'), { quantize: 'int8', log });
    const s = model.config.imageSize;
    // The image tower alone, as a yardstick timed alongside: the issue measured ORT ViT-B/16 at batch 1
    // in 137 ms on this machine when idle, so vit_bs1_s / 0.137 shows how busy the machine was.
    writeModel(exportOnnx(model.vit, 'vit'), path.join(dir, 'vit.onnx'));
    model.dispose();
    const px = (b: number) => {
      const x = new Float32Array(b * s * s * 3);
      for (let i = 0; i < x.length; i++) x[i] = Math.sin(i * 0.37) * 0.9;
      return x;
    };
    const prompts = (b: number) => Array.from({ length: b }, () => prompt);
    const x1 = px(1);
    const x8 = px(8);
    const mins: number[] = [];
    const timeScorer = async (sc: OnnxScorer) => {
      const bs1 = await median(runs, () => sc.run(x1, prompts(1)), mins);
      const bs8 = await median(runs, () => sc.run(x8, prompts(8)), mins);
      return { bs1, bs8 };
    };
    const load0 = os.loadavg()[0];
    const tc = process.hrtime.bigint();
    const sc = await OnnxScorer.create(path.join(dir, 'model.onnx'), { threads });
    const sessionCreate = Number(process.hrtime.bigint() - tc) / 1e9;
    const f32 = await timeScorer(sc);
    const vit = await ort.InferenceSession.create(path.join(dir, 'vit.onnx'), { intraOpNumThreads: threads, interOpNumThreads: 1, graphOptimizationLevel: 'all' });
    const vitFeed = { pixel_values: new ort.Tensor('float32', x1, [1, s, s, 3]) };
    const vitTime = await timeRuns(runs, () => vit.run(vitFeed));
    await vit.release();
    log(`ORT fp32 ViT alone (yardstick): batch 1 ${vitTime.median.toFixed(3)} s`);
    log(`ORT fp32 scores: batch 1 ${f32.bs1.toFixed(3)} s, batch 8 ${f32.bs8.toFixed(3)} s (${(8 / f32.bs8).toFixed(2)} img/s)`);
    const figures: BenchOnnxFigures = {
      preset,
      threads,
      runs,
      tokens: visualTokenCount(model.config) + textTokens,
      forward_gflop: flops / 1e9,
      export_s: exportS,
      forward_bs1_s: f32.bs1,
      forward_bs8_s: f32.bs8,
      forward_bs8_img_per_s: 8 / f32.bs8,
      forward_bs1_gflops: flops / 1e9 / f32.bs1,
      model_mb: dirSize(dir) / 2 ** 20,
      fastest_s: {},
      session_create_s: sessionCreate,
      vit_bs1_s: vitTime.median,
      load_avg: [load0, 0],
    };
    figures.fastest_s.forward_bs1_s = mins[0];
    figures.fastest_s.forward_bs8_s = mins[1];
    if (withHeat) {
      figures.forward_heatmaps_bs1_s = await median(runs, () => sc.run(x1, prompts(1), { heatmaps: true }), mins);
      figures.fastest_s.forward_heatmaps_bs1_s = mins[2];
      log(`ORT fp32 scores + heatmaps: batch 1 ${figures.forward_heatmaps_bs1_s.toFixed(3)} s`);
    }
    const ref = await sc.run(x8, prompts(8));
    await sc.dispose();
    if (opts.int8 ?? true) {
      const q = await OnnxScorer.create(path.join(dir, 'int8', 'model.onnx'), { threads });
      const t = await timeScorer(q);
      const got = await q.run(x8, prompts(8));
      let max = 0;
      let sum = 0;
      let cnt = 0;
      for (const k of SCORE_NAMES) {
        for (let i = 0; i < 8; i++) {
          const d = Math.abs(got.scores[k][i] - ref.scores[k][i]);
          max = Math.max(max, d);
          sum += d;
          cnt++;
        }
      }
      await q.dispose();
      figures.fastest_s.int8_forward_bs1_s = mins[mins.length - 2];
      figures.fastest_s.int8_forward_bs8_s = mins[mins.length - 1];
      figures.int8 = { forward_bs1_s: t.bs1, forward_bs8_img_per_s: 8 / t.bs8, max_abs_score_diff: max, mean_abs_score_diff: sum / cnt };
      log(`ORT int8 scores: batch 1 ${t.bs1.toFixed(3)} s, batch 8 ${(8 / t.bs8).toFixed(2)} img/s, |Δscore| max ${max.toExponential(2)}`);
    }
    figures.load_avg[1] = os.loadavg()[0];
    return figures;
  } finally {
    if (!opts.dir) fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** onnxruntime-node version in use (for reports). */
export function ortVersion(): string {
  return ort.env.versions?.node ?? 'unknown';
}
