import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as ort from 'onnxruntime-node';
import { RewardModel } from '../rahf/model';
import { SCORE_NAMES, gridSize, visualTokenCount } from '../rahf/config';
import { OnnxScorer } from '../onnx/onnx-scorer';
import { exportOnnx, exportRahf } from '../onnx/export';
import { writeModel } from '../onnx/proto';
import { BUNDLED_TOKENIZER } from '../bundled';

/*
 * onnxruntime-node figures of a RAHF preset with random weights (a benchmark, not a test): the model
 * is exported to a temporary folder, then scores-only forward at batch 1 and 8, forward with both
 * heatmaps at batch 1, and the same scores through a dynamically int8-quantised export with its
 * deviation from fp32. Each time is the median of `runs` after one warm-up run.
 *
 * A yardstick runs between the timed runs: the preset's ViT alone (ViT-B/16 for `paper`, which the
 * issue measured at 0.137 s on this machine when idle). On a machine shared with other work the
 * absolute times inflate, but the ratio to the yardstick measured in the same moments stays put, so
 * `ratio_to_vit` × 0.137 s estimates the idle figure.
 */

export interface BenchOnnxOptions {
  preset?: string;
  runs?: number;
  /** intraOpNumThreads (default: number of CPUs). */
  threads?: number;
  /** tokenizer.json for the preset (default: the bundled synthetic-world tokenizer). */
  tokenizer?: string;
  /** Include the heatmaps graph (default true). */
  heatmaps?: boolean;
  /** Include the int8 export (default true). */
  int8?: boolean;
  /** Export folder (default a temporary one, removed afterwards). */
  dir?: string;
  log?: (line: string) => void;
}

export interface Timing {
  /** Median and fastest of the timed runs, seconds. */
  median_s: number;
  min_s: number;
  /** Median over runs of (this run / the yardstick run just before it). */
  ratio_to_vit: number;
}

export interface BenchOnnxFigures {
  preset: string;
  threads: number;
  runs: number;
  onnxruntime: string;
  /** Encoder sequence length: image tokens + prompt tokens. */
  tokens: number;
  /** FLOPs (multiply-adds × 2) of the scores-only forward of one image, for the GFLOP/s figure. */
  forward_gflop: number;
  export_s: number;
  /** Seconds to create the scores session (load + graph optimisation). */
  session_create_s: number;
  forward_bs1_s: number;
  forward_bs8_s: number;
  forward_bs8_img_per_s: number;
  forward_bs1_gflops: number;
  forward_heatmaps_bs1_s?: number;
  /** The yardstick (the preset's ViT alone, batch 1), median seconds. */
  vit_bs1_s: number;
  timings: Record<string, Timing>;
  int8?: { forward_bs1_s: number; forward_bs8_img_per_s: number; max_abs_score_diff: number; mean_abs_score_diff: number };
  /** Size of the exported folder (fp32 graphs), MiB. */
  model_mb: number;
  /** 1-minute load average before and after (2 cores: above ~2 means other work competed). */
  load_avg: [number, number];
}

function seconds(t0: bigint): number {
  return Number(process.hrtime.bigint() - t0) / 1e9;
}

/** `runs` timed runs of `fn` after a warm-up, each preceded by one yardstick run. */
async function timeAgainst(runs: number, fn: () => Promise<unknown>, yardstick: () => Promise<unknown>): Promise<Timing> {
  await fn();
  await yardstick();
  const ts: number[] = [];
  const ratios: number[] = [];
  for (let i = 0; i < runs; i++) {
    let t0 = process.hrtime.bigint();
    await yardstick();
    const y = seconds(t0);
    t0 = process.hrtime.bigint();
    await fn();
    const t = seconds(t0);
    ts.push(t);
    ratios.push(t / y);
  }
  const med = (a: number[]) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];
  return { median_s: med(ts), min_s: Math.min(...ts), ratio_to_vit: med(ratios) };
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
  return fs
    .readdirSync(dir, { withFileTypes: true })
    .filter((e) => e.isFile())
    .reduce((a, e) => a + fs.statSync(path.join(dir, e.name)).size, 0);
}

export async function benchOnnx(opts: BenchOnnxOptions = {}): Promise<BenchOnnxFigures> {
  const preset = opts.preset ?? 'paper';
  const runs = opts.runs ?? 5;
  const threads = opts.threads ?? os.cpus().length;
  const log = opts.log ?? ((s: string) => process.stderr.write(s + '\n'));
  const tokenizer = opts.tokenizer ?? BUNDLED_TOKENIZER;
  const withHeat = opts.heatmaps ?? true;
  const withInt8 = opts.int8 ?? true;
  const dir = opts.dir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'rahf-onnx-bench-'));
  // ~33 tokens: 196 + 33 ≈ the ~228-token sequence of the FLOP estimate.
  const prompt = 'a photo of a red cat sitting on a blue sofa next to two green apples';
  const closers: (() => Promise<void>)[] = [];
  try {
    const model = await RewardModel.fromPreset(preset, { tokenizer, seed: 0 });
    const config = model.config;
    const textTokens = model.tokenizer.encode(prompt).length;
    const flops = rahfForwardFlops(model, textTokens);
    let t0 = process.hrtime.bigint();
    exportRahf(model, path.join(dir, 'model.onnx'), { heatmaps: withHeat, log });
    const exportS = seconds(t0);
    if (withInt8) exportRahf(model, path.join(dir, 'int8', 'model.onnx'), { quantize: 'int8', log });
    writeModel(exportOnnx(model.vit, 'vit'), path.join(dir, 'vit.onnx'));
    model.dispose();

    const s = config.imageSize;
    const px = (b: number) => Float32Array.from({ length: b * s * s * 3 }, (_, i) => Math.sin(i * 0.37) * 0.9);
    const prompts = (b: number) => Array.from({ length: b }, () => prompt);
    const [x1, x8] = [px(1), px(8)];
    const vit = await ort.InferenceSession.create(path.join(dir, 'vit.onnx'), { intraOpNumThreads: threads, interOpNumThreads: 1, graphOptimizationLevel: 'all' });
    closers.push(() => vit.release());
    // The ViT's own input: the image itself, or (presets with a conv stem, e.g. tiny) the stem's map.
    const { image_size: vs, num_channels: vc } = config.vit;
    const vitFeed = { pixel_values: new ort.Tensor('float32', Float32Array.from({ length: vs * vs * vc }, (_, i) => Math.sin(i * 0.37) * 0.9), [1, vs, vs, vc]) };
    const yardstick = () => vit.run(vitFeed);
    const load0 = os.loadavg()[0];
    t0 = process.hrtime.bigint();
    const sc = await OnnxScorer.create(path.join(dir, 'model.onnx'), { threads });
    closers.push(() => sc.dispose());
    const sessionCreate = seconds(t0);
    const timings: Record<string, Timing> = {};
    const time = async (name: string, fn: () => Promise<unknown>) => {
      const t = await timeAgainst(runs, fn, yardstick);
      timings[name] = t;
      log(`${name.padEnd(28)} median ${t.median_s.toFixed(3)} s, fastest ${t.min_s.toFixed(3)} s, ${t.ratio_to_vit.toFixed(2)}× the ViT`);
      return t;
    };
    const bs1 = await time('forward_bs1', () => sc.run(x1, prompts(1)));
    const bs8 = await time('forward_bs8', () => sc.run(x8, prompts(8)));
    const vitAlone = await time('vit_bs1', yardstick);
    const figures: BenchOnnxFigures = {
      preset,
      threads,
      runs,
      onnxruntime: ortVersion(),
      tokens: visualTokenCount(config) + textTokens,
      forward_gflop: flops / 1e9,
      export_s: exportS,
      session_create_s: sessionCreate,
      forward_bs1_s: bs1.median_s,
      forward_bs8_s: bs8.median_s,
      forward_bs8_img_per_s: 8 / bs8.median_s,
      forward_bs1_gflops: flops / 1e9 / bs1.median_s,
      vit_bs1_s: vitAlone.median_s,
      timings,
      model_mb: dirSize(dir) / 2 ** 20,
      load_avg: [load0, 0],
    };
    if (withHeat) figures.forward_heatmaps_bs1_s = (await time('forward_heatmaps_bs1', () => sc.run(x1, prompts(1), { heatmaps: true }))).median_s;
    const ref = await sc.run(x8, prompts(8));
    if (withInt8) {
      const q = await OnnxScorer.create(path.join(dir, 'int8', 'model.onnx'), { threads });
      closers.push(() => q.dispose());
      const q1 = await time('int8_forward_bs1', () => q.run(x1, prompts(1)));
      const q8 = await time('int8_forward_bs8', () => q.run(x8, prompts(8)));
      const got = await q.run(x8, prompts(8));
      const diffs = SCORE_NAMES.flatMap((k) => Array.from(got.scores[k], (v, i) => Math.abs(v - ref.scores[k][i])));
      figures.int8 = {
        forward_bs1_s: q1.median_s,
        forward_bs8_img_per_s: 8 / q8.median_s,
        max_abs_score_diff: Math.max(...diffs),
        mean_abs_score_diff: diffs.reduce((a, b) => a + b, 0) / diffs.length,
      };
      log(`int8 scores vs fp32: max |Δ| ${figures.int8.max_abs_score_diff.toExponential(2)}, mean ${figures.int8.mean_abs_score_diff.toExponential(2)}`);
    }
    figures.load_avg[1] = os.loadavg()[0];
    return figures;
  } finally {
    for (const close of closers) await close().catch(() => undefined);
    if (!opts.dir) fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** onnxruntime-node version in use (for reports). */
export function ortVersion(): string {
  return ort.env.versions?.node ?? 'unknown';
}
