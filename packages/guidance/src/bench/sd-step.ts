import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as ort from 'onnxruntime-node';
import { encodeModel, GraphBuilder } from '@richhf/reward/onnx';
import { DDIMScheduler } from '../schedulers';
import { GaussianGenerator } from '../random';
import { StableDiffusion } from '../pipeline/stable-diffusion';

/*
 * The pipeline's own cost per denoising step (a benchmark, never a test): everything generate() does besides
 * the UNet and text-encoder calls — the doubled batch, scale_model_input, classifier-free guidance, the
 * scheduler step, step noise, the loop's bookkeeping, the initial noise and setTimesteps spread over the steps.
 * `sd_tiny_step_overhead` is that share of a step of the sd_tiny fixture as its parity loop runs (latents
 * [1, 4, 8, 8], CFG on, DDIM, output 'latents'; its UNet is tiny, so the share is large). `sd_step_overhead_ms`
 * is the same work at SD 1.5's 512² latent shape [1, 4, 64, 64], timed around a UNet graph that does next to
 * nothing (the sd_tiny UNet's attention at 64×64 costs seconds and adds nothing to the pipeline's own work).
 *
 * The share that matters is against a real UNet: SD 1.5's costs ~0.8 TFLOP per step; at the fp32 MatMul rate
 * onnxruntime reaches here (timed below), that is `sd15_unet_step_est_s`, and the overhead over that plus
 * itself is `sd15_step_overhead_est`. Figures are medians over `runs` timed runs after one warm-up.
 */

export interface SdStepBenchOptions {
  /** A folder with text_encoder/model.onnx and unet/model.onnx (default: the sd_tiny fixture). */
  dir?: string;
  /** Latent side (default 64: 512² images with SD's VAE). */
  latent?: number;
  steps?: number;
  /** Timed runs (default 3). */
  runs?: number;
  threads?: number;
  /** FLOPs of one UNet step of the model the estimate is for (default 0.8e12, SD 1.5). */
  unetFlops?: number;
  log?: (line: string) => void;
}

export const DEFAULT_SD_DIR = path.resolve(__dirname, '../../test/fixtures/parity/diffusers/sd_tiny');

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** onnxruntime's fp32 MatMul rate on this machine, GFLOP/s (median): 8 independent [512×1280]·[1280×1280]·[1280×1280] pairs. */
export async function ortMatMulGflops(opts: { threads?: number; runs?: number } = {}): Promise<number> {
  const [m, k] = [512, 1280];
  const pairs = 8;
  const g = new GraphBuilder('matmul_rate');
  const x = g.input('x', 'float32', [m, k]);
  let sum: string | undefined;
  for (let r = 0; r < pairs; r++) {
    // Independent products of O(1) values (a chained product would drift into denormals and time the slow path).
    const w1 = g.init(`a${r}`, Float32Array.from({ length: k * k }, (_, i) => Math.sin(i * 0.7 + r) / Math.sqrt(k)), [k, k]);
    const w2 = g.init(`b${r}`, Float32Array.from({ length: k * k }, (_, i) => Math.cos(i * 0.3 + r) / Math.sqrt(k)), [k, k]);
    const y = g.matMul(g.matMul(x, w1), w2);
    sum = sum ? g.add(sum, y) : y;
  }
  g.output(sum!, 'y', 'float32', [m, k]);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'guide-matmul-'));
  try {
    const file = path.join(dir, 'matmul.onnx');
    fs.writeFileSync(file, encodeModel(g.model()));
    const options: ort.InferenceSession.SessionOptions = { interOpNumThreads: 1, graphOptimizationLevel: 'all' };
    if (opts.threads) options.intraOpNumThreads = opts.threads;
    const session = await ort.InferenceSession.create(file, options);
    try {
      const feed = { x: new ort.Tensor('float32', Float32Array.from({ length: m * k }, (_, i) => Math.sin(i * 0.37)), [m, k]) };
      await session.run(feed);
      const times: number[] = [];
      for (let i = 0; i < Math.max(3, opts.runs ?? 5); i++) {
        const t0 = performance.now();
        await session.run(feed);
        times.push((performance.now() - t0) / 1000);
      }
      return (pairs * 2 * 2 * m * k * k) / median(times) / 1e9;
    } finally {
      await session.release();
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * A UNet with the real interface and next to no work (out_sample = ½·sample + mean of the text embeddings): timing
 * the pipeline around it at SD's latent shape isolates the pipeline's own cost from any UNet's.
 */
function writeNullUNet(file: string, hidden: number): void {
  const g = new GraphBuilder('null_unet');
  const x = g.input('sample', 'float32', ['batch', 4, 'h', 'w']);
  g.input('timestep', 'int64', [1]);
  const ctx = g.input('encoder_hidden_states', 'float32', ['batch', 'seq', hidden]);
  const mean = g.reshape(g.op('ReduceMean', [ctx], { axes: [1, 2], keepdims: 1 }), [-1, 1, 1, 1]);
  g.output(g.add(g.mul(x, g.f32(0.5)), mean), 'out_sample', 'float32', ['batch', 4, 'h', 'w']);
  fs.writeFileSync(file, encodeModel(g.model()));
}

/** Median timings of `runs` generate() calls (after a warm-up) with fixed embeddings and latents, CFG on. */
async function timeLoop(pipe: StableDiffusion, latent: number, steps: number, runs: number): Promise<{ step: number; overhead: number }> {
  // Fixed ids (bos, a few tokens, eos, pad) within the fixture's 99-token vocabulary.
  const seq = pipe.textEncoder.sequenceLength ?? 16;
  const row = (ids: number[]) => [...ids, ...new Array<number>(seq - ids.length).fill(0)];
  const promptEmbeds = await pipe.textEncoder.encode([row([49, 5, 6, 7, 98])]);
  const negativePromptEmbeds = await pipe.textEncoder.encode([row([49, 98])]);
  const once = () =>
    pipe.generate({
      promptEmbeds,
      negativePromptEmbeds,
      latents: new GaussianGenerator(0).normal(4 * latent * latent),
      height: latent * pipe.vaeScaleFactor,
      width: latent * pipe.vaeScaleFactor,
      steps,
      guidanceScale: 7.5,
      output: 'latents',
    });
  await once();
  const step: number[] = [];
  const overhead: number[] = [];
  for (let r = 0; r < runs; r++) {
    const t = (await once()).timings;
    step.push(t.total / steps);
    overhead.push((t.total - t.unet - t.textEncoder - t.decode) / steps);
  }
  return { step: median(step), overhead: median(overhead) };
}

export async function benchSdStep(opts: SdStepBenchOptions = {}): Promise<Record<string, number>> {
  const log = opts.log ?? (() => undefined);
  const dir = opts.dir ?? DEFAULT_SD_DIR;
  const latent = opts.latent ?? 64;
  const steps = opts.steps ?? 20;
  const runs = Math.max(1, opts.runs ?? 3);
  const scheduler = () =>
    new DDIMScheduler({ beta_schedule: 'scaled_linear', beta_start: 0.00085, beta_end: 0.012, steps_offset: 1, clip_sample: false, set_alpha_to_one: false });

  // 1. sd_tiny as the parity loop runs it: latents [1, 4, 8, 8].
  const tiny = await StableDiffusion.fromPretrained(dir, { scheduler: scheduler(), threads: opts.threads });
  let small: { step: number; overhead: number };
  try {
    small = await timeLoop(tiny, 8, steps, runs);
  } finally {
    await tiny.dispose();
  }
  const pct = ((100 * small.overhead) / small.step).toFixed(1);
  log(`sd_tiny, latents [1, 4, 8, 8], CFG: ${(small.step * 1e3).toFixed(2)} ms/step, the pipeline's own ${(small.overhead * 1e3).toFixed(3)} ms (${pct} %)`);

  // 2. The pipeline's own work at SD 1.5's 512² latent shape, around a UNet that does next to nothing.
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'guide-bench-'));
  let big: { step: number; overhead: number };
  try {
    fs.mkdirSync(path.join(tmp, 'unet'));
    fs.mkdirSync(path.join(tmp, 'text_encoder'));
    fs.copyFileSync(path.join(dir, 'text_encoder', 'model.onnx'), path.join(tmp, 'text_encoder', 'model.onnx'));
    const probe = await StableDiffusion.fromPretrained(dir, { scheduler: scheduler() });
    const hidden = probe.textEncoder.hiddenSize ?? 32;
    await probe.dispose();
    writeNullUNet(path.join(tmp, 'unet', 'model.onnx'), hidden);
    const pipe = await StableDiffusion.fromPretrained(tmp, { scheduler: scheduler(), threads: opts.threads });
    try {
      big = await timeLoop(pipe, latent, steps, runs);
    } finally {
      await pipe.dispose();
    }
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  log(`pipeline's own work at latents [1, 4, ${latent}, ${latent}], CFG: ${(big.overhead * 1e3).toFixed(3)} ms/step`);

  // 3. Against a UNet of SD 1.5's cost at this machine's fp32 MatMul rate.
  const gflops = await ortMatMulGflops({ threads: opts.threads });
  const unetEst = (opts.unetFlops ?? 0.8e12) / (gflops * 1e9);
  const share = big.overhead / (unetEst + big.overhead);
  const tflop = ((opts.unetFlops ?? 0.8e12) / 1e12).toFixed(1);
  log(`onnxruntime fp32 MatMul ${gflops.toFixed(0)} GFLOP/s → a ${tflop} TFLOP UNet step ≈ ${unetEst.toFixed(2)} s; the pipeline's share ≈ ${(100 * share).toFixed(4)} %`);
  return {
    sd_tiny_step_s: small.step,
    sd_tiny_step_overhead: small.overhead / small.step,
    sd_step_overhead_ms: big.overhead * 1e3,
    ort_matmul_gflops: gflops,
    sd15_unet_step_est_s: unetEst,
    sd15_step_overhead_est: share,
  };
}

if (require.main === module) {
  void benchSdStep({ log: (s) => process.stderr.write(s + '\n') }).then((r) => process.stdout.write(JSON.stringify(r) + '\n'));
}
