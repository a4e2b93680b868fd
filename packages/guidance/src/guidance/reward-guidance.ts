import { UserError, type RewardGradient, type ScoreWeights } from '@richhf/reward';
import { type DifferentiableDecoder } from '../decoders/decoder';
import { type GuidanceHook, type GuidedStep, type StepContext, type StepEndCallback, type StepEndContext } from '../pipeline/hooks';
import { GaussianGenerator } from '../random';
import { modelOutputFromEpsilon, predictedEpsilon, predictedOriginal, type NoiseLevel, type Scheduler } from '../schedulers/scheduler';
import { gradWrtSample, rewardGradientAtX0, shapeGradient, type GuidanceParts, type Shape4 } from './core';
import { guideEpsilon } from './epsilon-adapter';
import {
  DEFAULT_WEIGHTS, checkDecodeDownscale, checkHeatmapPenalty, checkRecurrence, checkScaleSchedule, checkShaping, checkWindow, inWindow, parseWeights, scaleAt,
  type ScaleSchedule, type StepInfo, type StepWindow,
} from './options';
import { CLEAN, guideLatents } from './post-step-adapter';
import { renoise } from './recurrence';
import { guideDenoised, sigmaLevel } from './sigma-adapter';

/*
 * RAHF reward guidance as one object with an entry point per sampler family:
 *   hook / step()   (a) ε-prediction samplers, and any scheduler of this package through its noise level;
 *   denoised()      (b) σ-space denoisers (k-diffusion style loops);
 *   onStepEnd       (c) a post-step latent update (diffusers' callback_on_step_end).
 * All three share the core (core.ts), the options (options.ts) and the statistics below.
 */

/** The scale guidance uses unless told otherwise (with `normalize`: a correction of s·√(1−ᾱ)·|ε|; see README). */
export const DEFAULT_SCALE = 1;

export interface RewardGuidanceOptions {
  /** The reward-gradient contract (`openRewardGradient` from @richhf/reward). */
  reward: RewardGradient;
  /** A differentiable decoder whose latents are the sampler's (TAESD / AutoencoderKL via `loadDecoder`). */
  decoder: DifferentiableDecoder;
  /** Weight per score, or `"aesthetics=1,overall=1"` (default {@link DEFAULT_WEIGHTS}). */
  weights?: ScoreWeights | string;
  /**
   * λ ≥ 0 of the implausibility-heatmap penalty (default 0 = off, and the heatmap head is not run): the guided
   * objective becomes Σ w·score − λ·P, P the soft-max mean of the reward's implausibility map (in [0, 1]).
   */
  heatmapPenalty?: number;
  /** A number, one per step, or a function of the step (default {@link DEFAULT_SCALE}); 0 = unguided. */
  scale?: ScaleSchedule;
  /** Guided steps: a fraction of the loop or a σ range (default every step). */
  window?: StepWindow;
  /** Rescale each image's gradient to the norm of the model's ε prediction (default false). */
  normalize?: boolean;
  /** Cap each image's gradient at this root-mean-square (after `normalize`). */
  clip?: number;
  /** Universal Guidance's self-recurrence k (default 1 = none); needs the context's `predict`. */
  recurrence?: number;
  /** The reward's prompt: one for every image, or one per image (default: the generation prompts). */
  rewardPrompt?: string | readonly string[];
  /** Decode x̂₀ at 1/f of the resolution (latents average-pooled by f; default 1). */
  decodeDownscale?: number;
  /**
   * How d R / d x̂₀ reaches the sample. 'forward' (default): Universal Guidance's forward guidance — the model's ε
   * prediction held constant, ∂x̂₀/∂x_t = 1 / (√ᾱ · sampleScale). Or the model's own vector–Jacobian product, for
   * a differentiable model: given d R / d x̂₀ it returns d R / d x_t through the model (the scheduler's sample units).
   */
  jacobian?: 'forward' | ModelVjp;
  /** Seed of the recurrence's noise (default 0). */
  seed?: number;
  /** Where the one warning about non-finite gradients goes (default: a line on stderr). */
  warn?: (message: string) => void;
}

/** A model's vector–Jacobian product at a step: d R / d x̂₀ → d R / d sample, where x̂₀ is the model's prediction. */
export type ModelVjp = (at: { step: number; t: number; sample: Float32Array; shape: Shape4; noiseLevel: NoiseLevel; gradX0: Float32Array }) => Float32Array | Promise<Float32Array>;

/** The options besides the models, as {@link checkGuidanceSettings} returns them. */
export interface GuidanceSettings {
  weights: ScoreWeights;
  heatmapPenalty: number;
  scale: ScaleSchedule;
  window: StepWindow | undefined;
  normalize: boolean;
  clip: number | undefined;
  recurrence: number;
  rewardPrompt: string | readonly string[] | undefined;
  decodeDownscale: number;
}

/** Checks every option but the models (one-line UserError naming the option); callers may check before loading them. */
export function checkGuidanceSettings(opts: Omit<RewardGuidanceOptions, 'reward' | 'decoder'>): GuidanceSettings {
  const rp = opts.rewardPrompt;
  if (rp !== undefined && typeof rp !== 'string' && !(Array.isArray(rp) && rp.length > 0 && rp.every((p) => typeof p === 'string'))) {
    throw new UserError('rewardPrompt: expected a string or a non-empty list of strings');
  }
  const shaping = checkShaping({ normalize: opts.normalize, clip: opts.clip });
  return {
    weights: parseWeights(opts.weights ?? DEFAULT_WEIGHTS, 'weights'),
    heatmapPenalty: checkHeatmapPenalty(opts.heatmapPenalty, 'heatmapPenalty'),
    scale: checkScaleSchedule(opts.scale ?? DEFAULT_SCALE, 'scale'),
    window: checkWindow(opts.window, 'window'),
    normalize: shaping.normalize ?? false,
    clip: shaping.clip,
    recurrence: checkRecurrence(opts.recurrence, 'recurrence'),
    rewardPrompt: rp,
    decodeDownscale: checkDecodeDownscale(opts.decodeDownscale, 'decodeDownscale'),
  };
}

/** What guidance did so far (image-steps: one per image per guided step). */
export interface GuidanceStats {
  /** Image-steps that were guided. */
  guided: number;
  /** Image-steps skipped because the reward or its gradient came out NaN or infinite. */
  skipped: number;
  /** Reward-gradient evaluations (batches), recurrence rounds included. */
  evaluations: number;
  /** The weighted mean score of each image's decoded x̂₀ at its latest guided step. */
  lastReward?: Float32Array;
  /** With a heatmap penalty: P of each image's decoded x̂₀ at its latest guided step (before λ). */
  lastPenalty?: Float32Array;
}

/** What `step()` needs: the pipeline's StepContext has all of it; a hand-written loop passes these. */
export interface GuideContext {
  step: number;
  numSteps: number;
  t: number;
  /** x_t as the scheduler holds it, NCHW `shape`. */
  sample: Float32Array;
  shape: Shape4;
  /** The model output in the scheduler's prediction type. */
  modelOutput: Float32Array;
  scheduler: Scheduler;
  /** Generation prompts (used for the reward unless `rewardPrompt` is set). */
  prompts?: readonly string[];
  /** Default scheduler.noiseLevel(t). */
  noiseLevel?: NoiseLevel;
  /** Re-run the model at this step for another sample (self-recurrence). */
  predict?: (sample: Float32Array) => Promise<Float32Array>;
}

export interface DenoisedContext {
  step: number;
  numSteps: number;
  /** σ of this step; `t` for a step window or schedule that reads it (default σ). */
  sigma: number;
  t?: number;
  /** x = x₀ + σ·ε, NCHW `shape`. */
  sample: Float32Array;
  denoised: Float32Array;
  shape: Shape4;
  prompts?: readonly string[];
}

export class RewardGuidance {
  readonly reward: RewardGradient;
  readonly decoder: DifferentiableDecoder;
  readonly weights: ScoreWeights;
  readonly heatmapPenalty: number;
  readonly scale: ScaleSchedule;
  readonly window: StepWindow | undefined;
  readonly normalize: boolean;
  readonly clip: number | undefined;
  readonly recurrence: number;
  readonly rewardPrompt: string | readonly string[] | undefined;
  readonly decodeDownscale: number;
  readonly jacobian: 'forward' | ModelVjp;
  readonly stats: GuidanceStats = { guided: 0, skipped: 0, evaluations: 0 };
  private readonly parts: GuidanceParts;
  private readonly noise: GaussianGenerator;
  private readonly warn: (message: string) => void;
  private warned = false;

  /** Every option checked here: a bad one is a one-line UserError before any sampling. */
  constructor(opts: RewardGuidanceOptions) {
    if (!opts.reward || typeof opts.reward.scoreGrad !== 'function') throw new UserError('reward: expected a reward gradient (openRewardGradient from @richhf/reward)');
    if (!opts.decoder || typeof opts.decoder.decodeVjp !== 'function') throw new UserError('decoder: expected a differentiable decoder (loadDecoder: TAESD or AutoencoderKL), one with decodeVjp');
    this.reward = opts.reward;
    this.decoder = opts.decoder;
    const c = checkGuidanceSettings(opts);
    this.weights = c.weights;
    this.heatmapPenalty = c.heatmapPenalty;
    this.scale = c.scale;
    this.window = c.window;
    this.normalize = c.normalize;
    this.clip = c.clip;
    this.recurrence = c.recurrence;
    this.decodeDownscale = c.decodeDownscale;
    this.rewardPrompt = c.rewardPrompt;
    if (opts.jacobian !== undefined && opts.jacobian !== 'forward' && typeof opts.jacobian !== 'function') throw new UserError(`jacobian: expected 'forward' or a function (the model's vector–Jacobian product)`);
    this.jacobian = opts.jacobian ?? 'forward';
    this.parts = { reward: this.reward, decoder: this.decoder, weights: this.weights, heatmapPenalty: this.heatmapPenalty, decodeDownscale: this.decodeDownscale };
    this.noise = new GaussianGenerator(opts.seed ?? 0);
    this.warn = opts.warn ?? ((m) => process.stderr.write(`guidance: warning: ${m}\n`));
  }

  /** One-line UserError unless the decoder takes the sampler's latent channels (`label` names the sampler). */
  checkLatentChannels(channels: number, label = 'the sampler'): void {
    if (channels !== this.decoder.latentChannels) {
      throw new UserError(`guidance decoder: takes ${this.decoder.latentChannels}-channel latents but ${label} makes ${channels}`);
    }
  }

  /** The scale at a step, 0 outside the window. */
  scaleFor(at: StepInfo): number {
    return inWindow(this.window, at) ? scaleAt(this.scale, at, 'scale') : 0;
  }

  private promptsFor(ctxPrompts: readonly string[] | undefined, batch: number): string[] {
    const rp = this.rewardPrompt;
    if (typeof rp === 'string') return new Array<string>(batch).fill(rp);
    if (rp) {
      if (rp.length === 1) return new Array<string>(batch).fill(rp[0]);
      if (rp.length !== batch) throw new UserError(`rewardPrompt: ${rp.length} prompts for a batch of ${batch}`);
      return [...rp];
    }
    if (!ctxPrompts || ctxPrompts.length !== batch || ctxPrompts.some((p) => p === '')) {
      throw new UserError('reward guidance: no prompt for the reward (the loop passed none, or embeddings); set rewardPrompt');
    }
    return [...ctxPrompts];
  }

  /** g_v for x̂₀ (shaped), counting and warning about non-finite images. `at` enables a model Jacobian. */
  private async gradV(x0: Float32Array, eps: Float32Array, shape: Shape4, prompts: string[], level: NoiseLevel, step: number, at?: { t: number; sample: Float32Array }): Promise<{ g: Float32Array; finite: boolean[] }> {
    this.checkLatentChannels(shape[1]);
    const r = await rewardGradientAtX0(this.parts, x0, shape, prompts);
    let g: Float32Array;
    if (this.jacobian === 'forward' || !at) g = gradWrtSample(r.grad, level);
    else {
      // d R / d sample from the model, in the canonical unit d R / d v (v = sample / sampleScale).
      const gs = await this.jacobian({ step, t: at.t, sample: at.sample, shape, noiseLevel: level, gradX0: r.grad });
      if (gs.length !== x0.length) throw new RangeError(`jacobian returned ${gs.length} values for ${x0.length}`);
      g = gs.map((v) => v * level.sampleScale);
      const per = g.length / shape[0];
      r.finite.forEach((ok, i) => {
        for (let j = i * per; ok && j < (i + 1) * per; j++) ok = Number.isFinite(g[j]);
        if (!ok) g.fill(0, i * per, (i + 1) * per);
        r.finite[i] = ok;
      });
    }
    this.stats.evaluations++;
    const bad = r.finite.filter((f) => !f).length;
    this.stats.skipped += bad;
    this.stats.guided += shape[0] - bad;
    this.stats.lastReward = r.reward;
    if (r.penalty) this.stats.lastPenalty = r.penalty;
    if (bad > 0 && !this.warned) {
      this.warned = true;
      this.warn(`the reward gradient came out NaN or infinite for ${bad} image(s) at step ${step}; such steps are left unguided (counted in stats.skipped, not warned again)`);
    }
    return { g: shapeGradient(g, eps, shape[0], this), finite: r.finite };
  }

  /**
   * Adapter (a): the guided model output (same prediction type) for one step, and the sample to step from
   * (changed only by self-recurrence). Outside the window or at scale 0 the inputs come back untouched.
   */
  async step(ctx: GuideContext): Promise<{ modelOutput: Float32Array; sample: Float32Array }> {
    const level = ctx.noiseLevel ?? ctx.scheduler.noiseLevel(ctx.t);
    const s = this.scaleFor({ step: ctx.step, numSteps: ctx.numSteps, t: ctx.t, sigma: level.sigma });
    if (s === 0) return { modelOutput: ctx.modelOutput, sample: ctx.sample };
    const type = ctx.scheduler.predictionType;
    const prompts = this.promptsFor(ctx.prompts, ctx.shape[0]);
    if (this.recurrence > 1 && !ctx.predict) throw new UserError(`recurrence ${this.recurrence}: this loop cannot re-run its model (no predict in the step context)`);
    const next = nextLevel(ctx.scheduler, ctx.step);
    let sample = ctx.sample;
    let output = ctx.modelOutput;
    for (let round = 0; ; round++) {
      const eps = predictedEpsilon(output, sample, level, type);
      const x0 = predictedOriginal(output, sample, level, type);
      const { g } = await this.gradV(x0, eps, ctx.shape, prompts, level, ctx.step, { t: ctx.t, sample });
      const guidedEps = guideEpsilon(eps, g, s, level);
      const guided = modelOutputFromEpsilon(guidedEps, sample, level, type);
      if (round === this.recurrence - 1) return { modelOutput: guided, sample };
      const gx0 = predictedOriginal(guided, sample, level, type);
      sample = renoise(ctx.scheduler, ctx.t, gx0, guidedEps, this.noise.normal(sample.length), level, next);
      output = await ctx.predict!(sample);
    }
  }

  /** Adapter (a) as the pipeline's hook: `sd.generate({ …, hook: guide.hook })`. */
  readonly hook: GuidanceHook = async (ctx: StepContext): Promise<GuidedStep> => {
    const r = await this.step(ctx);
    return r.sample === ctx.sample ? { modelOutput: r.modelOutput } : r;
  };

  /** Adapter (b): denoised' = denoised + s·σ²·∇_x R for a σ-space denoiser. */
  async denoised(ctx: DenoisedContext): Promise<Float32Array> {
    const level = sigmaLevel(ctx.sigma);
    const s = this.scaleFor({ step: ctx.step, numSteps: ctx.numSteps, t: ctx.t ?? ctx.sigma, sigma: ctx.sigma });
    if (s === 0) return ctx.denoised;
    const eps = new Float32Array(ctx.sample.length);
    for (let i = 0; i < eps.length; i++) eps[i] = ctx.sigma > 0 ? (ctx.sample[i] - ctx.denoised[i]) / ctx.sigma : 0;
    const { g } = await this.gradV(ctx.denoised, eps, ctx.shape, this.promptsFor(ctx.prompts, ctx.shape[0]), level, ctx.step, { t: ctx.t ?? ctx.sigma, sample: ctx.sample });
    return guideDenoised(ctx.denoised, g, s, level);
  }

  /** Adapter (c): `sd.generate({ …, onStepEnd: guide.onStepEnd })`, moving the new latents along the reward. */
  readonly onStepEnd: StepEndCallback = async (ctx: StepEndContext): Promise<Float32Array | void> => {
    const level = ctx.noiseLevel;
    const s = this.scaleFor({ step: ctx.step, numSteps: ctx.numSteps, t: ctx.t, sigma: level.sigma });
    if (s === 0) return undefined;
    const eps = predictedEpsilon(ctx.modelOutput, ctx.sample, level, ctx.scheduler.predictionType);
    const { g } = await this.gradV(ctx.predOriginalSample, eps, ctx.shape, this.promptsFor(ctx.prompts, ctx.shape[0]), level, ctx.step, { t: ctx.t, sample: ctx.sample });
    return guideLatents(ctx.latents, g, s, level, nextLevel(ctx.scheduler, ctx.step));
  };
}

/** The noise level the step after `step` starts from (clean after the last). */
export function nextLevel(scheduler: Scheduler, step: number): NoiseLevel {
  const t = scheduler.timesteps[step + 1];
  return t === undefined ? CLEAN : scheduler.noiseLevel(t);
}

/** RAHF reward guidance for any sampler (see RewardGuidance); options are checked here. */
export function rewardGuidance(opts: RewardGuidanceOptions): RewardGuidance {
  return new RewardGuidance(opts);
}
