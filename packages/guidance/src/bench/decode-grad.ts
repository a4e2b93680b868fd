import * as os from 'os';
import * as path from 'path';
import { initBackend } from '@richhf/reward';
import { TfAutoencoder } from '../decoders/autoencoder';
import { VaeCheckpoint, readVaeCheckpoint } from '../decoders/checkpoint';
import { ConvSpec, NetOps, ShapeOps, ShapeT } from '../decoders/net';
import { OrtDecoder } from '../decoders/ort-decoder';

/*
 * Decode-and-backprop speed of TAESD (a benchmark, never a test): latents [1, 4, s/8, s/8] → pixels s² in
 * [0, 1] plus d objective / d latents for a given d objective / d pixels — what reward guidance runs once per
 * guided step. The folder defaults to the package's TAESD parity fixture, which has TAESD's real sizes
 * (random weights: speed does not depend on their values). Each figure is the median of `runs` timed calls
 * after one warm-up call (which also builds the gradient graph and its session).
 * FLOPs are the convolutions' (2 · MACs), counted by walking the architecture; the latent gradient costs
 * each convolution once more (its input gradient), so decode + gradient ≈ 2 × the forward's.
 */

export interface DecodeGradBenchOptions {
  /** A diffusers AutoencoderTiny / AutoencoderKL folder (default: the TAESD parity fixture). */
  dir?: string;
  /** Image sides to time (default [256, 512]). */
  sizes?: number[];
  /** Timed runs per figure (default 5, at least 3). */
  runs?: number;
  /** onnxruntime intra-op threads (default: the number of CPUs). */
  threads?: number;
  /** Also time the tfjs path at the first size (3 runs; slow on tfjs-wasm; default false). */
  tfjs?: boolean;
  log?: (line: string) => void;
}

export const DEFAULT_BENCH_VAE = path.resolve(__dirname, '../../test/fixtures/parity/diffusers/taesd');

/**
 * Convolution FLOPs (2 · multiply–adds) of the forward decoder for latents [1, C, h, w]: `model` as the
 * architecture defines them, `executed` as the onnxruntime graph runs them (its sub-pixel upsample convs do
 * 16 instead of 36 multiply–adds per input pixel and channel pair, onnx-ops.ts).
 */
export function decoderConvFlops(ckpt: VaeCheckpoint, h: number, w: number): { model: number; executed: number } {
  let model = 0;
  let saved = 0;
  class Count extends ShapeOps {
    override conv(x: ShapeT, name: string, s: ConvSpec): ShapeT {
      const y = super.conv(x, name, s);
      model += 2 * y[0] * y[1] * y[2] * x[0] * s.k * s.k;
      return y;
    }
    override upsampleConv(x: ShapeT, f: number, name: string, s: ConvSpec): ShapeT {
      const y = super.upsampleConv(x, f, name, s);
      if (f === 2 && s.k === 3 && (s.stride ?? 1) === 1 && !s.pad) saved += 2 * y[0] * x[0] * x[1] * x[2] * (36 - 16);
      return y;
    }
  }
  const ops: NetOps<ShapeT> = new Count(ckpt.tensors, ckpt.weightsFile);
  ckpt.arch.decode(ops, [ckpt.arch.latentChannels, h, w]);
  return { model, executed: model - saved };
}

/** Deterministic values of unit scale (a splitmix-style hash → uniform → Box–Muller). */
function gaussian(n: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  let s = seed >>> 0;
  const next = () => {
    s = (s + 0x9e3779b9) >>> 0;
    let z = s;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return ((z ^ (z >>> 16)) >>> 0) / 2 ** 32 + 2 ** -33;
  };
  for (let i = 0; i < n; i++) out[i] = Math.sqrt(-2 * Math.log(next())) * Math.cos(2 * Math.PI * next());
  return out;
}

/** One warm-up call, then `runs` timed ones: median wall seconds, and median CPU seconds of the process (all threads). */
async function median(runs: number, fn: () => Promise<unknown>): Promise<{ wall: number; cpu: number }> {
  await fn();
  const wall: number[] = [];
  const cpu: number[] = [];
  for (let i = 0; i < runs; i++) {
    const c0 = process.cpuUsage();
    const t0 = process.hrtime.bigint();
    await fn();
    wall.push(Number(process.hrtime.bigint() - t0) / 1e9);
    const c = process.cpuUsage(c0);
    cpu.push((c.user + c.system) / 1e6);
  }
  const mid = (a: number[]) => a.sort((x, y) => x - y)[Math.floor(a.length / 2)];
  return { wall: mid(wall), cpu: mid(cpu) };
}

/**
 * Keys: `taesd_decode_grad_<s>_s` (onnxruntime, seconds), `…_cpu_s` (CPU seconds per call over all threads:
 * on a machine shared with other jobs, `threads: 1` makes this the time one idle core would take),
 * `taesd_decode_grad_<s>_gflop` (convolution work as the architecture defines it), `…_executed_gflop` (as
 * the graph runs it), `…_gflops` (executed / time), `taesd_decode_<s>_s` (forward only) and, with `tfjs`,
 * `taesd_decode_grad_<s>_tfjs_s`. The prefix is `vae_kl` when `dir` is an AutoencoderKL.
 */
export async function benchDecodeGrad(opts: DecodeGradBenchOptions = {}): Promise<Record<string, number>> {
  const log = opts.log ?? (() => undefined);
  const runs = Math.max(3, opts.runs ?? 5);
  const threads = opts.threads ?? os.cpus().length;
  const ckpt = await readVaeCheckpoint(opts.dir ?? DEFAULT_BENCH_VAE);
  const prefix = ckpt.arch.kind === 'AutoencoderTiny' ? 'taesd' : 'vae_kl';
  const out: Record<string, number> = {};
  const ort = new OrtDecoder(ckpt, { threads, maxSessions: 2 });
  try {
    const sizes = opts.sizes ?? [256, 512];
    for (const size of sizes) {
      const h = size / ckpt.arch.upscale;
      const shape: [number, number, number, number] = [1, ckpt.arch.latentChannels, h, h];
      const latents = gaussian(shape[1] * h * h, 1);
      const gradPixels = gaussian(size * size * ckpt.arch.imageChannels, 2).map((v) => v * 1e-3);
      const flops = decoderConvFlops(ckpt, h, h);
      const gflop = (2 * flops.model) / 1e9;
      const executed = (2 * flops.executed) / 1e9;
      const fwd = (await median(runs, () => ort.decode(latents, shape))).wall;
      const timed = await median(runs, () => ort.decodeVjp(latents, shape, gradPixels));
      const t = timed.wall;
      out[`${prefix}_decode_${size}_s`] = fwd;
      out[`${prefix}_decode_grad_${size}_s`] = t;
      out[`${prefix}_decode_grad_${size}_cpu_s`] = timed.cpu;
      out[`${prefix}_decode_grad_${size}_gflop`] = gflop;
      out[`${prefix}_decode_grad_${size}_executed_gflop`] = executed;
      out[`${prefix}_decode_grad_${size}_gflops`] = executed / t;
      log(
        `${prefix} ${size}²: decode ${fwd.toFixed(3)} s, decode + latent gradient ${t.toFixed(3)} s — ${gflop.toFixed(1)} GFLOP of convolutions ` +
          `as defined, ${executed.toFixed(1)} as run (sub-pixel upsampling convs): ${(executed / t).toFixed(0)} GFLOP/s achieved, ` +
          `onnxruntime ${threads} threads, ${timed.cpu.toFixed(3)} CPU-s per call`,
      );
      if (opts.tfjs && size === sizes[0]) {
        await initBackend(); // RAHF_BACKEND or the best installed (tfjs-wasm here)
        const tfv = TfAutoencoder.fromCheckpoint(ckpt);
        try {
          const tt = (await median(3, () => tfv.decodeVjp(latents, shape, gradPixels))).wall;
          out[`${prefix}_decode_grad_${size}_tfjs_s`] = tt;
          log(`${prefix} ${size}²: tfjs decode + latent gradient ${tt.toFixed(3)} s (${(gflop / tt).toFixed(0)} GFLOP/s)`);
        } finally {
          await tfv.dispose();
        }
      }
    }
  } finally {
    await ort.dispose();
  }
  return out;
}

// `node dist/bench/decode-grad.js [--tfjs] [--threads N] [--sizes 256 512] [--runs 5]`: the figures as one JSON
// line on stdout, progress on stderr.
if (require.main === module) {
  void (async () => {
    const { default: yargs } = await import('yargs');
    const argv = await yargs(process.argv.slice(2))
      .option('tfjs', { type: 'boolean', default: false, describe: 'also time the tfjs path at the first size' })
      .option('threads', { type: 'number', describe: 'onnxruntime intra-op threads (default: the number of CPUs)' })
      .option('sizes', { type: 'array', number: true, default: [256, 512], describe: 'image sides' })
      .option('runs', { type: 'number', default: 5 })
      .option('dir', { type: 'string', describe: 'a diffusers VAE folder (default: the TAESD parity fixture)' })
      .strict()
      .parseAsync();
    const r = await benchDecodeGrad({ ...argv, sizes: argv.sizes as number[], log: (line) => process.stderr.write(line + '\n') });
    process.stdout.write(JSON.stringify(r) + '\n');
  })().catch((e: unknown) => {
    process.stderr.write(`decode-grad bench: ${(e as Error).stack ?? e}\n`);
    process.exitCode = 1;
  });
}
