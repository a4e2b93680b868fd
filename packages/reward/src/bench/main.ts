#!/usr/bin/env node
import * as tf from '@tensorflow/tfjs';
import * as os from 'os';
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { initBackend } from '../backend';
import { RewardModel } from '../rahf/model';
import { benchOnnx } from './onnx';
import { benchTrainStep } from './train-step';
import { benchScoreGrad } from './scoregrad';
import { benchGemm } from './gemm';
import { benchTorch } from './torch';
import { timeRuns } from './timing';
import { benchLarge384 } from './large384';
import { benchScoreCli } from './score-cli';

// `pnpm bench`: timings of the reward model on this machine (a benchmark, never a test). Each figure is
// the median of the timed runs after one warm-up run. Paths: onnxruntime-node (scoring), onnxruntime-node
// with generated backward graphs (scoreGrad, src/onnx/grad-scorer.ts) and tfjs on the selected backend
// (differentiable: forward, scoreGrad). `scoregrad_bs1_s` is the fastest scoreGrad path.

async function main(): Promise<void> {
  const argv = await yargs(hideBin(process.argv))
    .option('preset', { type: 'string', default: 'paper', choices: ['tiny', 'paper', 'large384'] })
    .option('backend', { type: 'string', describe: 'tfjs backend for the differentiable path' })
    .option('runs', { type: 'number', default: 5 })
    .option('tfjs-runs', { type: 'number', default: 1, describe: 'timed runs on the tfjs path (slow without tfjs-node or a GPU)' })
    .option('skip-onnx', { type: 'boolean', default: false })
    .option('skip-tfjs', { type: 'boolean', default: false })
    .option('skip-ort-grad', { type: 'boolean', default: false })
    .option('threads', { type: 'number', describe: 'onnxruntime intra-op threads (default: number of CPUs)' })
    .option('ort-grad-levels', { type: 'array', string: true, default: ['all'], choices: ['basic', 'extended', 'all'], describe: 'graph optimisation levels to time for the ORT scoreGrad' })
    .option('ort-grad-check', { type: 'boolean', default: false, describe: 'compare the ORT scoreGrad with one tfjs scoreGrad' })
    .option('skip-train', { type: 'boolean', default: false, describe: 'skip the tiny-preset training-step figure' })
    .option('skip-torch', { type: 'boolean', default: false, describe: 'skip the same-machine PyTorch reference (scripts/torch-reference.py)' })
    .option('skip-gemm', { type: 'boolean', default: false, describe: 'skip the onnxruntime MatMul yardstick' })
    .option('skip-large384', { type: 'boolean', default: false, describe: 'skip the large384 preset (the public checkpoint\'s sizes; ~10 GB during its export, minutes per figure)' })
    .option('large384-runs', { type: 'number', default: 3, describe: 'timed runs per large384 figure' })
    .option('large384-dir', { type: 'string', describe: 'keep the large384 exports here (reused when present)' })
    .option('skip-score-cli', { type: 'boolean', default: false, describe: 'skip the end-to-end `rahf score` figures' })
    .option('score-cli-paper', { type: 'boolean', default: true, describe: 'include the paper preset in the `rahf score` figures (--no-score-cli-paper: tiny only)' })
    .option('paper-checkpoint', { type: 'string', describe: 'paper-preset checkpoint for the `rahf score` figures (default: rahf init into a temporary folder)' })
    .option('json', { type: 'boolean', default: false, describe: 'print the figures as one JSON object on stdout' })
    .strict()
    .parseAsync();
  const log = (s: string) => process.stderr.write(s + '\n');
  const backend = await initBackend(argv.backend);
  const out: Record<string, unknown> = { preset: argv.preset, date: new Date().toISOString(), paths: {} };
  const paths = out.paths as Record<string, Record<string, unknown>>;

  if (!argv['skip-onnx']) {
    log(`== onnxruntime-node, preset ${argv.preset}`);
    const f = await benchOnnx({ preset: argv.preset, runs: argv.runs, threads: argv.threads, log });
    paths.onnxruntime = f as unknown as Record<string, unknown>;
    out.forward_bs1_s = f.forward_bs1_s;
    out.forward_bs8_img_per_s = f.forward_bs8_img_per_s;
    out.forward_heatmaps_bs1_s = f.forward_heatmaps_bs1_s;
    // The same forward through the dynamically int8-quantised export (VNNI), reported beside, never instead.
    if (f.int8) {
      out.forward_bs1_int8_s = f.int8.forward_bs1_s;
      out.forward_bs8_int8_img_per_s = f.int8.forward_bs8_img_per_s;
    }
    log(`forward scores bs1 ${f.forward_bs1_s.toFixed(3)} s (${f.forward_bs1_gflops.toFixed(0)} GFLOP/s of ${f.forward_gflop.toFixed(1)} GFLOP), ` +
      `bs8 ${f.forward_bs8_img_per_s.toFixed(2)} img/s, with heatmaps bs1 ${f.forward_heatmaps_bs1_s?.toFixed(3)} s`);
  }

  if (!argv['skip-gemm']) {
    // What fp32 MatMul reaches on this machine: the ceiling every forward figure above is measured against.
    const g = await benchGemm({ threads: argv.threads, runs: Math.max(argv.runs, 5) });
    out.gemm_gflops = g.gflops;
    const on = paths.onnxruntime as { forward_gflop?: number; forward_bs1_s?: number } | undefined;
    if (on?.forward_gflop && on.forward_bs1_s) {
      out.forward_bs1_floor_s = on.forward_gflop / g.gflops;
      out.forward_bs1_fraction_of_gemm = out.forward_bs1_floor_s as number / on.forward_bs1_s;
    }
    log(`onnxruntime MatMul [${g.m}×${g.k}]·[${g.k}×${g.n}] on ${g.threads} threads: ${g.gflops.toFixed(0)} GFLOP/s median, ${g.gflops_best.toFixed(0)} best` +
      (out.forward_bs1_floor_s ? `; forward bs1 at that rate: ${(out.forward_bs1_floor_s as number).toFixed(3)} s (${(100 * (out.forward_bs1_fraction_of_gemm as number)).toFixed(0)} % of it reached)` : ''));
    paths.gemm = g as unknown as Record<string, unknown>;
  }

  if (!argv['skip-torch'] && argv.preset === 'paper') {
    log('== PyTorch reference (same FLOPs as the paper preset, scripts/torch-reference.py)');
    const t = benchTorch({ threads: argv.threads ?? os.cpus().length, runs: argv.runs, tokens: 230, grad: !argv['skip-ort-grad'], log });
    paths.pytorch = t as unknown as Record<string, unknown>;
    if ('skipped' in t) log(`PyTorch reference skipped: ${t.skipped}`);
    else log(`PyTorch ${t.torch} (${t.threads} threads, BLAS ${t.blas}): forward bs1 ${t.forward_bs1_s.toFixed(3)} s, bs8 ${t.forward_bs8_img_per_s.toFixed(2)} img/s, ViT-B/16 ${t.vit_bs1_s.toFixed(3)} s` +
      (t.scoregrad_bs1_s ? `, scoreGrad bs1 ${t.scoregrad_bs1_s.toFixed(3)} s` : ''));
  }

  const gradPaths: number[] = [];
  if (!argv['skip-ort-grad']) {
    log(`== onnxruntime-node scoreGrad (generated backward graph), preset ${argv.preset}`);
    const f = await benchScoreGrad({
      preset: argv.preset,
      runs: argv.runs,
      threads: argv.threads,
      levels: argv['ort-grad-levels'] as ('basic' | 'extended' | 'all')[],
      check: argv['ort-grad-check'],
      log,
    });
    paths['onnxruntime-grad'] = f as unknown as Record<string, unknown>;
    gradPaths.push(f.scoregrad_bs1_s);
  }

  if (!argv['skip-tfjs']) {
    log(`== tfjs ${backend}, preset ${argv.preset}`);
    const model = await RewardModel.fromPreset(argv.preset, { seed: 0 });
    const s = model.config.imageSize;
    const prompt = 'a photo of a red cat sitting on a blue sofa next to two green apples';
    const x1 = tf.randomUniform([1, s, s, 3], 0, 1, 'float32', 1) as tf.Tensor4D;
    const runs = argv['tfjs-runs'];
    const { median_s: fwd } = await timeRuns(runs, async () => {
      const r = model.forward(model.preprocess(x1), [prompt], { heatmaps: false });
      await Promise.all(Object.values(r.scores).map((t) => t.data()));
      tf.dispose(r as unknown as tf.TensorContainer);
    });
    log(`forward scores bs1 ${fwd.toFixed(3)} s`);
    const { median_s: grad } = await timeRuns(runs, async () => {
      const { grad } = await model.scoreGrad(x1, [prompt], { aesthetics: 1, overall: 1 });
      await grad.data();
      grad.dispose();
    });
    log(`scoreGrad (aesthetics + overall) bs1 ${grad.toFixed(3)} s`);
    paths[`tfjs-${backend}`] = { forward_bs1_s: fwd, scoregrad_bs1_s: grad, runs };
    gradPaths.push(grad);
    model.dispose();
  }
  if (gradPaths.length) out.scoregrad_bs1_s = Math.min(...gradPaths);

  if (!argv['skip-train']) {
    // The data/training issue's figure: one tiny-preset optimizer step at batch 4, as `rahf train` runs it.
    log('== training step, tiny preset, batch 4');
    const engines = argv['skip-tfjs'] ? ['ort'] : ['ort', 'tfjs'];
    const r = await benchTrainStep({ preset: 'tiny', batch: 4, steps: argv.runs, engines, threads: argv.threads, log });
    paths['train-step-tiny-bs4'] = r;
    out.train_step_tiny_bs4_s = Math.min(...Object.values(r).map((v) => v.wall));
  }
  // maxRSS is in kilobytes on Linux (this process only: the sections below run in processes of their own).
  out.peak_rss_mb = process.resourceUsage().maxRSS / 1024;

  if (!argv['skip-score-cli']) {
    const r = await benchScoreCli({ runs: Math.min(argv.runs, 3), threads: argv.threads, paperCheckpoint: argv['paper-checkpoint'], skipPaper: !argv['score-cli-paper'], log });
    Object.assign(out, r.keys);
    paths['score-cli'] = r.details;
  }
  if (!argv['skip-large384']) {
    const r = benchLarge384({ runs: argv['large384-runs'], threads: argv.threads, dir: argv['large384-dir'], log });
    Object.assign(out, r.keys);
    paths.large384 = r.details;
    const k = r.keys;
    log(
      `large384: forward bs1 ${k.large384_forward_bs1_s.toFixed(2)} s fp32 (${(100 * k.large384_forward_bs1_fraction_of_gemm).toFixed(0)} % of the MatMul rate; floor ${k.large384_forward_bs1_floor_s.toFixed(2)} s), ` +
        `${k.large384_forward_bs1_int8_s.toFixed(2)} s int8; heatmaps ${k.large384_heatmaps_bs1_s.toFixed(1)} s; scoreGrad ${k.large384_scoregrad_bs1_s.toFixed(1)} s; peak RSS ${k.large384_peak_rss_mb.toFixed(0)} MB`,
    );
  }
  log(`peak RSS of the bench process ${(out.peak_rss_mb as number).toFixed(0)} MB`);
  if (argv.json) process.stdout.write(JSON.stringify(out) + '\n');
}

main().catch((e) => {
  process.stderr.write(`bench: ${(e as Error).message}\n`);
  process.exitCode = 1;
});
