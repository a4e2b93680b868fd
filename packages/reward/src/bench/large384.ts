#!/usr/bin/env node
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { initBackend } from '../backend';
import { BUNDLED_TOKENIZER } from '../bundled';
import { exportRahf } from '../onnx/export';
import { exportRahfGraph, rahfTextInputs } from '../onnx/export-rahf';
import { OnnxScorer } from '../onnx/onnx-scorer';
import { OrtScoreGrad } from '../onnx/ort-score-grad';
import { RewardModel } from '../rahf/model';
import { ScoreName } from '../rahf/config';
import { graphFlops } from './flops';
import { benchGemm } from './gemm';

/*
 * The `large384` preset — the sizes of the one public trained RAHF (youweiliang/RichHF: ViT-L/16 at 384 +
 * T5-base), random weights — on onnxruntime-node at batch 1: scores fp32 and int8, scores with both
 * heatmaps, and scoreGrad, each with the FLOPs its graph runs (bench/flops.ts, counted on the graph) and
 * the MatMul rate measured in the same process (bench/gemm.ts), so the time the machine cannot beat is
 * beside each figure. A benchmark, never a test.
 *
 * Two processes, so that each peak memory is its own: `export` (tfjs on its cpu backend loads the random
 * model, writes the fp32 and int8 exports and counts FLOPs) and `time` (every timing, one session at a
 * time, the peak resident memory of each phase read from /proc after resetting it).
 */

const PROMPT = 'a photo of a red cat sitting on a blue sofa next to two green apples';
const WEIGHTS: Partial<Record<ScoreName, number>> = { aesthetics: 1, overall: 1 };

const seconds = (t0: bigint) => Number(process.hrtime.bigint() - t0) / 1e9;
const median = (a: number[]) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];

/** Peak resident memory of this process since the last reset, MB (Linux; else the whole run's peak). */
function peakMb(): number {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(fs.readFileSync('/proc/self/status', 'utf8'));
    if (m) return Number(m[1]) / 1024;
  } catch {
    // not Linux
  }
  return process.resourceUsage().maxRSS / 1024;
}

/** Start a new peak (writing 5 to clear_refs resets VmHWM to the current RSS); false where it cannot. */
function resetPeak(): boolean {
  try {
    fs.writeFileSync('/proc/self/clear_refs', '5');
    return true;
  } catch {
    return false;
  }
}

async function exportPhase(dir: string, preset: string): Promise<Record<string, unknown>> {
  await initBackend('cpu', { quiet: true });
  const model = await RewardModel.fromPreset(preset, { tokenizer: BUNDLED_TOKENIZER, seed: 0 });
  const c = model.config;
  const s = c.imageSize;
  const len = model.tokenizer.encode(PROMPT).length;
  const text: Record<string, number[]> = {};
  for (const t of rahfTextInputs(c, 'heatmaps')) {
    text[t.ids] = [1, len];
    if (t.mask) text[t.mask] = [1, len];
  }
  const flops = {
    forward: graphFlops(exportRahfGraph(model, 'scores').build(), { pixel_values: [1, s, s, 3], ...text }).total,
    heatmaps: graphFlops(exportRahfGraph(model, 'heatmaps').build(), { pixel_values: [1, s, s, 3], ...text }).total,
    scoregrad: 0,
  };
  const grad = new OrtScoreGrad(model, { threads: 1 });
  const weighted = Object.keys(WEIGHTS) as ScoreName[];
  const gm = grad.buildModel(1, s, s, [len], weighted);
  const seeds = Object.fromEntries(weighted.map((t) => [`weight_${t}`, [1]]));
  flops.scoregrad = graphFlops(gm.graph, { pixels01: [1, s, s, 3], ...text, ...seeds }).total;
  await grad.dispose();
  let t0 = process.hrtime.bigint();
  // As the export cache writes them (export-worker.ts): every weight in a mapped `.data` file.
  exportRahf(model, path.join(dir, 'fp32', 'model.onnx'), { heatmaps: true, externalDataThreshold: 0 });
  const exportS = seconds(t0);
  t0 = process.hrtime.bigint();
  exportRahf(model, path.join(dir, 'int8', 'model.onnx'), { quantize: 'int8', externalDataThreshold: 0 });
  const int8S = seconds(t0);
  const params = model.params.variables().reduce((a, v) => a + v.size, 0);
  model.dispose();
  return { params, text_tokens: len, flops, export_s: exportS, int8_export_s: int8S, peak_rss_mb: peakMb() };
}

async function timePhase(dir: string, runs: number, threads: number): Promise<Record<string, unknown>> {
  const canReset = resetPeak();
  const log = (l: string) => process.stderr.write(`timing: ${l}\n`);
  const gemmBefore = await benchGemm({ threads, runs: 5 });
  const gemmInt8 = await benchGemm({ threads, runs: 5, int8: true });
  const out: Record<string, unknown> = { runs, threads, peak_reset: canReset, load_avg_before: os.loadavg()[0] };
  const phases: Record<string, { median_s: number; min_s: number; first_s: number; peak_rss_mb: number }> = {};
  const timed = async (name: string, open: () => Promise<{ fn: () => Promise<unknown>; close: () => Promise<void> }>) => {
    resetPeak();
    const { fn, close } = await open();
    try {
      let t0 = process.hrtime.bigint();
      await fn(); // warm-up (for scoreGrad also the gradient graph's build and session)
      const first = seconds(t0);
      const ts: number[] = [];
      for (let i = 0; i < runs; i++) {
        t0 = process.hrtime.bigint();
        await fn();
        ts.push(seconds(t0));
      }
      phases[name] = { median_s: median(ts), min_s: Math.min(...ts), first_s: first, peak_rss_mb: peakMb() };
      log(`${name}: median ${median(ts).toFixed(2)} s, fastest ${Math.min(...ts).toFixed(2)} s, first ${first.toFixed(1)} s, peak RSS ${phases[name].peak_rss_mb.toFixed(0)} MB`);
    } finally {
      await close();
    }
  };
  const scorer = (sub: string, heatmaps: boolean) => async () => {
    const sc = await OnnxScorer.create(path.join(dir, sub), { threads, heatmaps });
    const n = sc.config.imageSize ** 2 * 3;
    const x = Float32Array.from({ length: n }, (_, i) => Math.sin(i * 0.37) * 0.9);
    return { fn: () => sc.run(x, [PROMPT], { heatmaps }), close: () => sc.dispose() };
  };
  await timed('forward_bs1', scorer('fp32', false));
  await timed('forward_bs1_int8', scorer('int8', false));
  await timed('heatmaps_bs1', scorer('fp32', true));
  await timed('scoregrad_bs1', async () => {
    const g = OrtScoreGrad.fromExport(path.join(dir, 'fp32'), { threads, maxSessions: 1 });
    const s = g.config.imageSize;
    const x = Float32Array.from({ length: s * s * 3 }, (_, i) => 0.5 + 0.45 * Math.sin(i * 0.37));
    return { fn: () => g.scoreGrad(x, [PROMPT], WEIGHTS), close: () => g.dispose() };
  });
  const gemmAfter = await benchGemm({ threads, runs: 5 });
  out.gemm_gflops = (gemmBefore.gflops + gemmAfter.gflops) / 2;
  out.gemm_gflops_before_after = [gemmBefore.gflops, gemmAfter.gflops];
  out.gemm_int8_gops = gemmInt8.gflops;
  out.phases = phases;
  out.load_avg_after = os.loadavg()[0];
  return out;
}

export interface Large384Options {
  /** Preset (default large384; the keys are named after it). */
  preset?: string;
  runs?: number;
  threads?: number;
  /** Keep the exports here (default: a temporary folder, removed afterwards). */
  dir?: string;
  log?: (line: string) => void;
}

/** Both phases in child processes; the `large384_*` keys of `pnpm bench --json` and the details. */
export function benchLarge384(opts: Large384Options = {}): { keys: Record<string, number>; details: Record<string, unknown> } {
  const preset = opts.preset ?? 'large384';
  const runs = opts.runs ?? 3;
  const threads = opts.threads ?? os.cpus().length;
  const log = opts.log ?? ((l: string) => process.stderr.write(l + '\n'));
  const dir = opts.dir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'rahf-large384-'));
  const child = (args: string[]) => {
    const r = spawnSync(process.execPath, [__filename, ...args], { stdio: ['ignore', 'pipe', 'inherit'], encoding: 'utf8', maxBuffer: 16 << 20 });
    if (r.status !== 0) throw new Error(`large384 ${args[0]}: the process ended with ${r.signal ?? `exit code ${r.status}`}`);
    return JSON.parse(r.stdout) as Record<string, unknown>;
  };
  try {
    let exp: Record<string, unknown>;
    const flopsFile = path.join(dir, 'export.json');
    if (fs.existsSync(flopsFile)) exp = JSON.parse(fs.readFileSync(flopsFile, 'utf8'));
    else {
      log(`== ${preset} (random weights): export fp32 + int8`);
      exp = child(['export', dir, preset]);
      fs.writeFileSync(flopsFile, JSON.stringify(exp));
    }
    log(`== ${preset}: timings at batch 1`);
    const t = child(['time', dir, String(runs), String(threads)]);
    const flops = exp.flops as { forward: number; heatmaps: number; scoregrad: number };
    const phases = t.phases as Record<string, { median_s: number; peak_rss_mb: number }>;
    const gemm = t.gemm_gflops as number;
    const keys: Record<string, number> = { [`${preset}_gemm_gflops`]: gemm, [`${preset}_gemm_int8_gops`]: t.gemm_int8_gops as number };
    const figure = (key: string, phase: string, gflop: number) => {
      const s = phases[phase].median_s;
      keys[`${preset}_${key}_s`] = s;
      keys[`${preset}_${key}_gflop`] = gflop;
      // The time the graph's MatMul/conv FLOPs take at the measured fp32 MatMul rate, and its share of the measured time.
      keys[`${preset}_${key}_floor_s`] = gflop / gemm;
      keys[`${preset}_${key}_fraction_of_gemm`] = gflop / gemm / s;
    };
    figure('forward_bs1', 'forward_bs1', flops.forward / 1e9);
    figure('forward_bs1_int8', 'forward_bs1_int8', flops.forward / 1e9);
    keys[`${preset}_forward_bs1_int8_floor_int8_s`] = flops.forward / 1e9 / (t.gemm_int8_gops as number);
    figure('heatmaps_bs1', 'heatmaps_bs1', flops.heatmaps / 1e9);
    figure('scoregrad_bs1', 'scoregrad_bs1', flops.scoregrad / 1e9);
    keys[`${preset}_peak_rss_mb`] = Math.max(...Object.values(phases).map((p) => p.peak_rss_mb));
    keys[`${preset}_export_peak_rss_mb`] = exp.peak_rss_mb as number;
    return { keys, details: { export: exp, timing: t } };
  } finally {
    if (!opts.dir) fs.rmSync(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const [phase, dir, a, b] = process.argv.slice(2);
  let out: Record<string, unknown>;
  if (phase === 'export') out = await exportPhase(dir, a);
  else if (phase === 'time') out = await timePhase(dir, Number(a), Number(b));
  else throw new Error(`large384: unknown phase "${phase}" (export DIR PRESET | time DIR RUNS THREADS)`);
  process.stdout.write(JSON.stringify(out) + '\n');
}

if (require.main === module) {
  main().catch((e) => {
    process.stderr.write(`large384: ${(e as Error).stack ?? e}\n`);
    process.exitCode = 1;
  });
}
