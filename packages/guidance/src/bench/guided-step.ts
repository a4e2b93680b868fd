import * as os from 'os';
import * as path from 'path';
import { BUNDLED_CHECKPOINT, OrtScoreGrad, RewardModel, openRewardGradient, type RewardGradient } from '@richhf/reward';
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
 *   guided_step_paper_mem_gb  peak resident memory (RSS, sampled every 2 ms) during the timed guided paper steps
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

async function timed(runs: number, fn: () => Promise<unknown>): Promise<number> {
  await fn();
  const t: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = process.hrtime.bigint();
    await fn();
    t.push(Number(process.hrtime.bigint() - t0) / 1e9);
  }
  return median(t);
}

/** Peak RSS (bytes) while `fn` runs, sampled every 2 ms. */
async function peakRss<T>(fn: () => Promise<T>): Promise<{ peak: number; value: T }> {
  let peak = process.memoryUsage.rss();
  const timer = setInterval(() => (peak = Math.max(peak, process.memoryUsage.rss())), 2);
  try {
    const value = await fn();
    return { peak: Math.max(peak, process.memoryUsage.rss()), value };
  } finally {
    clearInterval(timer);
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
      out.guided_step_tiny_s = await timed(runs, stepFn(tiny, taesd, 32));
      log(`guided step, TAESD 256² + bundled tiny reward: ${out.guided_step_tiny_s.toFixed(3)} s`);
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
      return step;
    });
    const steady = await peakRss(() => timed(runs, first.value));
    const gb = (b: number) => (b - base) / 2 ** 30;
    const r = { guided_step_paper_s: steady.value, guided_step_paper_mem_gb: gb(steady.peak), guided_step_paper_first_mem_gb: gb(first.peak) };
    log(`guided step, TAESD 256² + paper preset: ${r.guided_step_paper_s.toFixed(3)} s, +${r.guided_step_paper_mem_gb.toFixed(2)} GB peak (first step +${r.guided_step_paper_first_mem_gb.toFixed(2)} GB)`);
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
