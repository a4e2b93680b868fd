import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as ort from 'onnxruntime-node';
import * as tf from '@tensorflow/tfjs';
import { exportRahfGraph } from '../onnx/export-rahf';
import { writeModel } from '../onnx/proto';
import { RewardModel } from '../rahf/model';
import { OrtScoreGrad } from '../onnx/ort-score-grad';
import { BUNDLED_TOKENIZER } from '../bundled';
import { ScoreName } from '../rahf/config';

/*
 * RewardModel.scoreGrad through onnxruntime-node (OrtScoreGrad: the scores graph plus its generated
 * backward pass in one session) for a preset with random weights, at batch 1: time to build the
 * gradient model and create the session, then the median and fastest of `runs` calls after a warm-up,
 * for each graph optimisation level asked for. Each timed call follows one run of the plain scores
 * graph (forward only, same level and threads), so `ratio_to_forward` — robust to other work on a shared
 * machine — times the forward figure measured idle estimates the idle scoreGrad time. `check` also runs
 * tfjs RewardModel.scoreGrad once (slow on wasm) and reports the relative difference of the gradients
 * (max |Δ| / max |tfjs|).
 */

export interface BenchScoreGradOptions {
  preset?: string;
  runs?: number;
  threads?: number;
  levels?: ('basic' | 'extended' | 'all')[];
  check?: boolean;
  tokenizer?: string;
  log?: (line: string) => void;
}

export interface ScoreGradTiming {
  /** Build of the gradient model + session creation, seconds (first call, minus one run). */
  build_s: number;
  median_s: number;
  min_s: number;
  /** The forward-only scores graph in the same moments. */
  forward_median_s: number;
  /** Median over runs of scoreGrad / the forward run just before it. */
  ratio_to_forward: number;
}

export interface BenchScoreGradFigures {
  preset: string;
  threads: number;
  runs: number;
  weights: Partial<Record<ScoreName, number>>;
  /** Per graph optimisation level. */
  levels: Record<string, ScoreGradTiming>;
  /** The fastest level's median. */
  scoregrad_bs1_s: number;
  best_level: string;
  /**
   * max |ORT − tfjs| / max |tfjs| of the pixel gradient and the cosine of the two (with `check`). The random
   * paper model's gradient is ill-conditioned (RAHF's channel RMS norms, see src/bench/gpu-check/paper-parity.ts): two
   * optimisation levels of the same ORT graph already differ by ~2e-2 at the worst pixel (cosine 0.99998).
   */
  rel_err_vs_tfjs?: number;
  cosine_vs_tfjs?: number;
}

const seconds = (t0: bigint) => Number(process.hrtime.bigint() - t0) / 1e9;

export async function benchScoreGrad(opts: BenchScoreGradOptions = {}): Promise<BenchScoreGradFigures> {
  const preset = opts.preset ?? 'paper';
  const runs = opts.runs ?? 5;
  const threads = opts.threads ?? os.cpus().length;
  const levels = opts.levels ?? ['all'];
  const log = opts.log ?? ((s: string) => process.stderr.write(s + '\n'));
  // The same prompt and weights as the tfjs path of `pnpm bench`.
  const prompt = 'a photo of a red cat sitting on a blue sofa next to two green apples';
  const weights: Partial<Record<ScoreName, number>> = { aesthetics: 1, overall: 1 };
  const model = await RewardModel.fromPreset(preset, { tokenizer: opts.tokenizer ?? BUNDLED_TOKENIZER, seed: 0 });
  try {
    const s = model.config.imageSize;
    const x = Float32Array.from({ length: s * s * 3 }, (_, i) => 0.5 + 0.45 * Math.sin(i * 0.37));
    const out: Record<string, ScoreGradTiming> = {};
    let grad: Float32Array | undefined;
    // The forward yardstick: the plain scores graph on normalised pixels.
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rahf-scoregrad-bench-'));
    const fwdFile = path.join(dir, 'scores.onnx');
    writeModel(exportRahfGraph(model, 'scores').model(), fwdFile);
    const enc = model.tokenizer.encodeBatch([prompt], { maxLength: model.config.maxTextTokens });
    const ids = (rows: number[][]) => new ort.Tensor('int64', BigInt64Array.from(rows[0].map(BigInt)), [1, rows[0].length]);
    const { imageMean: mean, imageStd: std } = model.config;
    const fwdFeeds: Record<string, ort.Tensor> = { pixel_values: new ort.Tensor('float32', x.map((v, i) => (v - mean[i % 3]) / std[i % 3]), [1, s, s, 3]) };
    const med = (a: number[]) => [...a].sort((p, q) => p - q)[Math.floor(a.length / 2)];
    try {
      for (const level of levels) {
        const g = new OrtScoreGrad(model, { threads, graphOptimizationLevel: level, maxSessions: 1 });
        const fwd = await ort.InferenceSession.create(fwdFile, { intraOpNumThreads: threads, interOpNumThreads: 1, graphOptimizationLevel: level });
        for (const name of fwd.inputNames) if (name !== 'pixel_values') fwdFeeds[name] = ids(name.startsWith('attention_mask') ? enc.mask : enc.ids);
        try {
          let t0 = process.hrtime.bigint();
          const first = await g.scoreGrad(x, [prompt], weights);
          const firstS = seconds(t0);
          grad ??= first.grad;
          await fwd.run(fwdFeeds);
          const ts: number[] = [];
          const fs_: number[] = [];
          const ratios: number[] = [];
          for (let i = 0; i < runs; i++) {
            t0 = process.hrtime.bigint();
            await fwd.run(fwdFeeds);
            fs_.push(seconds(t0));
            t0 = process.hrtime.bigint();
            await g.scoreGrad(x, [prompt], weights);
            ts.push(seconds(t0));
            ratios.push(ts[i] / fs_[i]);
          }
          const t: ScoreGradTiming = {
            build_s: firstS - Math.min(...ts),
            median_s: med(ts),
            min_s: Math.min(...ts),
            forward_median_s: med(fs_),
            ratio_to_forward: med(ratios),
          };
          out[level] = t;
          log(
            `ORT scoreGrad bs1 (${level}): median ${t.median_s.toFixed(3)} s, fastest ${t.min_s.toFixed(3)} s, ` +
              `${t.ratio_to_forward.toFixed(2)}× the forward (${t.forward_median_s.toFixed(3)} s); build + session ${t.build_s.toFixed(1)} s`,
          );
        } finally {
          await g.dispose();
          await fwd.release();
        }
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
    const best = Object.entries(out).sort((a, b) => a[1].median_s - b[1].median_s)[0];
    const fig: BenchScoreGradFigures = { preset, threads, runs, weights, levels: out, scoregrad_bs1_s: best[1].median_s, best_level: best[0] };
    if (opts.check && grad) {
      const xt = tf.tensor4d(x, [1, s, s, 3]);
      const ref = await model.scoreGrad(xt, [prompt], weights);
      const r = (await ref.grad.data()) as Float32Array;
      tf.dispose([xt, ref.grad]);
      let d = 0;
      let m = 0;
      let dot = 0;
      let n1 = 0;
      let n2 = 0;
      for (let i = 0; i < r.length; i++) {
        d = Math.max(d, Math.abs(grad[i] - r[i]));
        m = Math.max(m, Math.abs(r[i]));
        dot += grad[i] * r[i];
        n1 += grad[i] * grad[i];
        n2 += r[i] * r[i];
      }
      fig.rel_err_vs_tfjs = d / m;
      fig.cosine_vs_tfjs = dot / Math.sqrt(n1 * n2);
      log(`ORT vs tfjs scoreGrad: max |Δ| / max |tfjs| = ${fig.rel_err_vs_tfjs.toExponential(2)}, cosine ${fig.cosine_vs_tfjs.toFixed(6)}`);
    }
    return fig;
  } finally {
    model.dispose();
  }
}
