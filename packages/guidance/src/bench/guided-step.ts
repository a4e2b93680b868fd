import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { BUNDLED_CHECKPOINT, OrtScoreGrad, RewardModel, openRewardGradient, type RewardGradient } from '@richhf/reward';
import { decodeWithVjp } from '../decoders/decoder';
import { loadDecoder, type VaeDecoder } from '../decoders/load';
import { rewardGuidance } from '../guidance/reward-guidance';
import { StableDiffusion } from '../pipeline/stable-diffusion';
import { DDIMScheduler } from '../schedulers';
import { DEFAULT_BENCH_VAE } from './decode-grad';
import { DEFAULT_SD_DIR } from './sd-step';

/*
 * One guided step's cost (a benchmark, never a test), batch 1, fp32, onnxruntime: what `guide.step()` adds to a
 * sampler step — x̂₀ from ε, the differentiable decode, the reward's weighted score gradient (resize to its input
 * inside), the decoder's VJP, the ε update. Medians of `runs` after a warm-up (which builds the sessions).
 *   guided_step_paper_s     TAESD (the parity fixture: TAESD's sizes, random weights) 32×32×4 → 256², resized to
 *                           224², the `paper` preset with random weights (ViT-B/16 + T5-base), weights
 *                           aesthetics = overall = 1;
 *   guided_step_tiny_s      the same with the reward package's bundled tiny checkpoint (128² input);
 *   guided_step_tiny_cpu_s  CPU seconds of the process (all threads) per tiny step: with `threads: 1`, what one
 *                           idle core takes, whatever else shares the machine;
 *   guided_step_tiny_{decode,reward,vjp}_s  the tiny step's parts timed alone (tinyParts);
 *   guided_step_paper_cpu_s the paper step's CPU seconds, as for tiny;
 *   guided_step_paper_mem_gb  peak resident memory (the kernel's high-water mark, reset before; RSS sampled every
 *                           2 ms where /proc has none) during the warm-up and timed guided paper steps
 *                           above the RSS of the unguided state — TAESD loaded and one plain decode run, before the
 *                           reward is opened — so it counts the reward's weights, its gradient session and the
 *                           step's activations (and whatever the session build left unreturned to the OS);
 *   guided_step_paper_first_mem_gb  the same peak over opening the reward and the first guided step (graph
 *                           export when `paperCheckpoint` has no cached export, gradient-graph build, sessions);
 *   guided_step_ratio       sd_tiny (the pipeline's parity UNet, 8×8 latents, CFG) with its vae_kl fixture as the
 *                           differentiable decoder and the tiny reward: a guided DDIM step over an unguided one.
 */

export interface GuidedStepBenchOptions {
  /** Timed runs per figure (default 3). */
  runs?: number;
  threads?: number;
  /** Skip the paper-preset figures (heavy: GBs while the graph is built, seconds per call). */
  skipPaper?: boolean;
  /**
   * A `paper` checkpoint (`pnpm rahf init --preset paper --out DIR`), opened as users open one (its ONNX export
   * cached by the reward package); default: the preset built in memory with random weights (seed 0).
   */
  paperCheckpoint?: string;
  log?: (line: string) => void;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** Median wall seconds of `runs` calls after a warm-up, and the median CPU seconds of the process (all threads). */
async function timedCpu(runs: number, fn: () => Promise<unknown>): Promise<{ wall: number; cpu: number }> {
  await fn();
  const t: number[] = [];
  const c: number[] = [];
  for (let i = 0; i < runs; i++) {
    const c0 = process.cpuUsage();
    const t0 = process.hrtime.bigint();
    await fn();
    t.push(Number(process.hrtime.bigint() - t0) / 1e9);
    const u = process.cpuUsage(c0);
    c.push((u.user + u.system) / 1e6);
  }
  return { wall: median(t), cpu: median(c) };
}

async function timed(runs: number, fn: () => Promise<unknown>): Promise<number> {
  return (await timedCpu(runs, fn)).wall;
}

/** The kernel's peak RSS of this process (VmHWM), reset first; undefined where /proc cannot do it (not Linux). */
function kernelPeak(reset: boolean): number | undefined {
  try {
    if (reset) fs.writeFileSync('/proc/self/clear_refs', '5');
    const m = /VmHWM:\s+(\d+) kB/.exec(fs.readFileSync('/proc/self/status', 'utf8'));
    return m ? Number(m[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Peak RSS (bytes) while `fn` runs: the kernel's high-water mark where it can be reset (Linux), which sees
 * inside onnxruntime's runs; elsewhere RSS sampled every 2 ms, which misses what a run allocates and frees while
 * it holds the event loop.
 */
async function peakRss<T>(fn: () => Promise<T>): Promise<{ peak: number; value: T }> {
  const exact = kernelPeak(true) !== undefined;
  let peak = process.memoryUsage.rss();
  const timer = exact ? undefined : setInterval(() => (peak = Math.max(peak, process.memoryUsage.rss())), 2);
  try {
    const value = await fn();
    return { peak: exact ? kernelPeak(false)! : Math.max(peak, process.memoryUsage.rss()), value };
  } finally {
    if (timer) clearInterval(timer);
  }
}

function gaussian(n: number, seed: number): Float32Array {
  let s = seed >>> 0;
  const u = () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return (s + 1) / 4294967297;
  };
  return Float32Array.from({ length: n }, () => Math.sqrt(-2 * Math.log(u())) * Math.cos(2 * Math.PI * u()));
}

/** A guided DDIM step of `guide` on latents [1, 4, h, w] (the UNet's ε replaced by fixed noise). */
function stepFn(reward: RewardGradient, decoder: VaeDecoder, h: number) {
  const scheduler = new DDIMScheduler({ beta_schedule: 'scaled_linear', beta_start: 0.00085, beta_end: 0.012 });
  scheduler.setTimesteps(20);
  const t = scheduler.timesteps[5];
  const shape: [number, number, number, number] = [1, 4, h, h];
  const sample = gaussian(4 * h * h, 1);
  const eps = gaussian(4 * h * h, 2);
  const guide = rewardGuidance({ reward, decoder, weights: { aesthetics: 1, overall: 1 }, scale: 1 });
  const prompts = ['a photo of a red cat sitting on a blue sofa next to two green apples'];
  return async () => {
    const g = await guide.step({ step: 5, numSteps: 20, t, sample, shape, modelOutput: eps, scheduler, prompts });
    return scheduler.step(g.modelOutput, t, g.sample).prevSample;
  };
}

export async function benchGuidedStep(opts: GuidedStepBenchOptions = {}): Promise<Record<string, number>> {
  const runs = Math.max(3, opts.runs ?? 3);
  const threads = opts.threads ?? os.cpus().length;
  const log = opts.log ?? (() => undefined);
  const out: Record<string, number> = {};
  const taesd = await loadDecoder(DEFAULT_BENCH_VAE, { threads, maxSessions: 2 });
  try {
    const tiny = await openRewardGradient(undefined, { engine: 'ort', threads });
    try {
      const step = await timedCpu(runs, stepFn(tiny, taesd, 32));
      out.guided_step_tiny_s = step.wall;
      out.guided_step_tiny_cpu_s = step.cpu;
      log(`guided step, TAESD 256² + bundled tiny reward: ${step.wall.toFixed(3)} s (${step.cpu.toFixed(3)} CPU-s)`);
      Object.assign(out, await tinyParts(tiny, taesd, runs));
      log(`  its parts: decode ${out.guided_step_tiny_decode_s.toFixed(3)} s, reward gradient ${out.guided_step_tiny_reward_s.toFixed(3)} s, decoder VJP ${out.guided_step_tiny_vjp_s.toFixed(3)} s`);
      out.guided_step_ratio = await sdTinyRatio(tiny, runs, threads);
      log(`sd_tiny guided / unguided step: ${out.guided_step_ratio.toFixed(1)}×`);
    } finally {
      await tiny.dispose();
    }
    if (!opts.skipPaper) Object.assign(out, await benchPaper(taesd, runs, threads, opts.paperCheckpoint, log));
  } finally {
    await taesd.dispose();
  }
  return out;
}

/**
 * The tiny step's parts, each timed alone on the step's own inputs (medians): the decode that keeps its forward
 * for the VJP, the reward's score gradient at 256², the decoder's VJP (its backward half). x̂₀ and the ε update
 * are the rest of guided_step_tiny_s.
 */
async function tinyParts(reward: RewardGradient, decoder: VaeDecoder, runs: number): Promise<Record<string, number>> {
  const shape: [number, number, number, number] = [1, 4, 32, 32];
  const x0 = gaussian(4 * 32 * 32, 1).map((v) => v * 0.5);
  const prompts = ['a photo of a red cat sitting on a blue sofa next to two green apples'];
  const weights = { aesthetics: 1, overall: 1 };
  const dec = await decodeWithVjp(decoder, x0, shape);
  const { grad } = await reward.scoreGrad(dec.pixels, prompts, weights, { size: [256, 256] });
  return {
    guided_step_tiny_decode_s: await timed(runs, () => decodeWithVjp(decoder, x0, shape)),
    guided_step_tiny_reward_s: await timed(runs, () => reward.scoreGrad(dec.pixels, prompts, weights, { size: [256, 256] })),
    guided_step_tiny_vjp_s: await timed(runs, () => dec.vjp(grad)),
  };
}

/** The paper preset's guided step: time and memory above the unguided state (see the file header). */
async function benchPaper(taesd: VaeDecoder, runs: number, threads: number, checkpoint: string | undefined, log: (l: string) => void): Promise<Record<string, number>> {
  await taesd.decode(gaussian(4 * 32 * 32, 3), [1, 4, 32, 32]);
  const base = process.memoryUsage.rss();
  let model: RewardModel | undefined;
  let paper: RewardGradient | undefined;
  try {
    const first = await peakRss(async () => {
      if (checkpoint) paper = await openRewardGradient(checkpoint, { engine: 'ort', threads, log });
      else {
        model = await RewardModel.fromPreset('paper', { tokenizer: path.join(BUNDLED_CHECKPOINT, 'tokenizer.json'), seed: 0 });
        paper = new OrtScoreGrad(model, { threads });
      }
      const step = stepFn(paper, taesd, 32);
      await step();
      // The preset built in memory was only the source of the exported graph: holding its tfjs weights (1.6 GB)
      // through the timed steps would measure the bench, not the step — a user opening a checkpoint never has them.
      model?.dispose();
      model = undefined;
      return step;
    });
    const steady = await peakRss(() => timedCpu(runs, first.value));
    const gb = (b: number) => (b - base) / 2 ** 30;
    const r = {
      guided_step_paper_s: steady.value.wall,
      guided_step_paper_cpu_s: steady.value.cpu,
      guided_step_paper_mem_gb: gb(steady.peak),
      guided_step_paper_first_mem_gb: gb(first.peak),
    };
    log(`guided step, TAESD 256² + paper preset: ${r.guided_step_paper_s.toFixed(3)} s (${r.guided_step_paper_cpu_s.toFixed(2)} CPU-s), +${r.guided_step_paper_mem_gb.toFixed(2)} GB peak (first step +${r.guided_step_paper_first_mem_gb.toFixed(2)} GB)`);
    return r;
  } finally {
    await paper?.dispose();
    model?.dispose();
  }
}

/** sd_tiny with CFG, DDIM 10 steps: per-step time guided (vae_kl + tiny reward) over unguided. */
async function sdTinyRatio(reward: RewardGradient, runs: number, threads: number): Promise<number> {
  const scheduler = new DDIMScheduler({ beta_schedule: 'scaled_linear', beta_start: 0.00085, beta_end: 0.012, steps_offset: 1, clip_sample: false, set_alpha_to_one: false });
  const pipe = await StableDiffusion.fromPretrained(DEFAULT_SD_DIR, { scheduler, vae: path.join(path.dirname(DEFAULT_SD_DIR), 'vae_kl'), threads });
  try {
    // Fixed ids within the fixture's 99-token vocabulary, as sd-step.ts (the fixture folder has no tokenizer).
    const seq = pipe.textEncoder.sequenceLength ?? 16;
    const row = (ids: number[]) => [...ids, ...new Array<number>(seq - ids.length).fill(0)];
    const promptEmbeds = await pipe.textEncoder.encode([row([49, 5, 6, 7, 98])]);
    const negativePromptEmbeds = await pipe.textEncoder.encode([row([49, 98])]);
    const guide = rewardGuidance({ reward, decoder: pipe.decoder as VaeDecoder, scale: 1, rewardPrompt: 'a red cat' });
    const base = { promptEmbeds, negativePromptEmbeds, height: 16, width: 16, steps: 10, seed: 1, output: 'latents' as const };
    const plain = await timed(runs, () => pipe.generate(base));
    const guided = await timed(runs, () => pipe.generate({ ...base, hook: guide.hook }));
    return guided / plain;
  } finally {
    await pipe.dispose();
  }
}
