import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as ort from 'onnxruntime-node';
import { GraphBuilder } from '../onnx/graph';
import { writeModel } from '../onnx/proto';
import { quantizeDynamic } from '../onnx/quantize';
import { timeRuns } from './timing';

/*
 * The machine's yardstick for every other figure: how fast onnxruntime's own fp32 MatMul runs here on the
 * shapes that dominate the paper preset's forward (tokens × 768 × 3072 and back, as in every ViT / T5 FFN).
 * About 85 % of the scores-only forward's FLOPs are such MatMuls, so forward FLOPs / this rate is the time
 * the forward cannot beat in fp32 on this machine with this library; the 0.4 s target assumes
 * ~300 GFLOP/s. Inputs are independent (each pair of MatMuls reads the graph input) so values stay O(1):
 * a chained product drifts into denormals and runs 30× slower, which would measure the FPU's slow path.
 */

export interface GemmFigures {
  /** Shape of one MatMul pair: [tokens, 768] × [768, 3072] then × [3072, 768]. */
  m: number;
  k: number;
  n: number;
  threads: number;
  /** Median and best achieved GFLOP/s over the timed runs. */
  gflops: number;
  gflops_best: number;
}

/**
 * `int8`: the same MatMuls through the dynamic int8 pattern the int8 exports use (quantize.ts:
 * DynamicQuantizeLinear + MatMulInteger, VNNI where the CPU has it) — the yardstick of int8 figures.
 */
export async function benchGemm(opts: { m?: number; k?: number; n?: number; threads?: number; runs?: number; pairs?: number; int8?: boolean } = {}): Promise<GemmFigures> {
  const m = opts.m ?? 230;
  const k = opts.k ?? 768;
  const n = opts.n ?? 3072;
  const pairs = opts.pairs ?? 8;
  const runs = opts.runs ?? 7;
  const threads = opts.threads ?? os.cpus().length;
  const g = new GraphBuilder('gemm');
  const x = g.input('x', 'float32', [1, m, k]);
  let sum: string | undefined;
  for (let r = 0; r < pairs; r++) {
    // Deterministic weights of variance 1/fan-in.
    const w1 = g.init(`w${r}`, Float32Array.from({ length: k * n }, (_, i) => Math.sin(i * 0.7 + r) * Math.sqrt(2 / k)), [k, n]);
    const w2 = g.init(`v${r}`, Float32Array.from({ length: n * k }, (_, i) => Math.cos(i * 0.7 + r) * Math.sqrt(2 / n)), [n, k]);
    const y = g.matMul(g.matMul(x, w1), w2);
    sum = sum ? g.add(sum, y) : y;
  }
  g.output(sum!, 'y', 'float32', [1, m, k]);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rahf-gemm-'));
  try {
    const file = path.join(dir, 'gemm.onnx');
    writeModel(opts.int8 ? quantizeDynamic(g.model()) : g.model(), file);
    const session = await ort.InferenceSession.create(file, { intraOpNumThreads: threads, interOpNumThreads: 1, graphOptimizationLevel: 'all' });
    try {
      const feed = { x: new ort.Tensor('float32', Float32Array.from({ length: m * k }, (_, i) => Math.sin(i * 0.37)), [1, m, k]) };
      const t = await timeRuns(runs, () => session.run(feed));
      const flops = pairs * 2 * 2 * m * k * n;
      return { m, k, n, threads, gflops: flops / t.median_s / 1e9, gflops_best: flops / t.min_s / 1e9 };
    } finally {
      await session.release();
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
