import { ConfigReader, commonToJson, readCommon, type CommonConfigJson, type SchedulerConfigJson } from './config';
import { spacedTimesteps } from './spacing';
import {
  SchedulerBase,
  sameLength,
  vpAddNoise,
  vpNoiseLevel,
  type NoiseLevel,
  type Scheduler,
  type SchedulerCreateOptions,
  type StepOptions,
  type StepResult,
} from './scheduler';

/**
 * DDPM ancestral sampling (Ho et al., arXiv 2006.11239, eqs. 6–7), a port of diffusers' `DDPMScheduler`
 * (schedulers/scheduling_ddpm.py): the posterior mean from x̂₀ and x_t, plus noise of the chosen variance at
 * every step but the last (t = 0). Variance types fixed_small (default), fixed_small_log and fixed_large;
 * `learned` / `learned_range` need a model that predicts its variance (pixel-space models such as IF) and
 * diffusers' fixed_large_log takes the square root of a logarithm (NaN), so those are refused.
 */

const f32 = Math.fround;

export type DDPMVarianceType = 'fixed_small' | 'fixed_small_log' | 'fixed_large';

export interface DDPMConfig extends CommonConfigJson {
  variance_type?: DDPMVarianceType;
  clip_sample?: boolean;
  clip_sample_range?: number;
}

export class DDPMScheduler extends SchedulerBase implements Scheduler {
  readonly name = 'ddpm' as const;
  readonly className = 'DDPMScheduler';
  readonly initNoiseSigma = 1;
  readonly config: SchedulerConfigJson;
  readonly clipSample: boolean;
  readonly clipSampleRange: number;
  readonly varianceType: DDPMVarianceType;
  timesteps: number[] = [];
  numInferenceSteps: number | undefined;

  constructor(config: DDPMConfig = {}, opts: SchedulerCreateOptions = {}) {
    const r = new ConfigReader(config, opts.source);
    const common = readCommon(r, { timestepSpacing: 'leading' });
    r.refuse('thresholding', false, 'dynamic thresholding is for pixel-space models');
    super(common, opts.seed);
    this.varianceType = r.choice('variance_type', 'fixed_small', ['fixed_small', 'fixed_small_log', 'fixed_large'] as const);
    this.clipSample = r.bool('clip_sample', true);
    this.clipSampleRange = r.number('clip_sample_range', 1, (v) => v > 0, 'is not a positive number');
    this.config = { ...config, ...commonToJson(common), variance_type: this.varianceType, clip_sample: this.clipSample, clip_sample_range: this.clipSampleRange };
  }

  static fromConfig(config: SchedulerConfigJson, opts: SchedulerCreateOptions = {}): DDPMScheduler {
    return new DDPMScheduler(config as DDPMConfig, opts);
  }

  setTimesteps(n: number): void {
    this.checkStepsArg(n);
    const c = this.common;
    this.timesteps = spacedTimesteps(c.timestepSpacing, n, c.numTrainTimesteps, c.stepsOffset, true);
    this.numInferenceSteps = n;
  }

  scaleModelInput(sample: Float32Array): Float32Array {
    return sample;
  }

  /** The next timestep of the schedule after `t` (−1 after the last); t − 1 before setTimesteps, as diffusers. */
  previousTimestep(t: number): number {
    if (this.numInferenceSteps === undefined) return t - 1;
    const i = this.timesteps.indexOf(t);
    if (i < 0) throw new RangeError(`timestep ${t} is not in this schedule (${this.timesteps.length} steps)`);
    return i === this.timesteps.length - 1 ? -1 : this.timesteps[i + 1];
  }

  step(modelOutput: Float32Array, t: number, sample: Float32Array, opts?: StepOptions): StepResult {
    sameLength('model output', modelOutput, sample);
    const prevT = this.previousTimestep(t);
    const aT = this.alphaAt(t);
    const aPrev = prevT >= 0 ? this.alphasCumprod[prevT] : 1;
    const bT = f32(1 - aT);
    const bPrev = f32(1 - aPrev);
    const curAlpha = f32(aT / aPrev);
    const curBeta = f32(1 - curAlpha);
    const sqrtA = f32(Math.sqrt(aT));
    const sqrtB = f32(Math.sqrt(bT));
    // Posterior mean coefficients (eq. 7).
    const c0 = f32(f32(f32(Math.sqrt(aPrev)) * curBeta) / bT);
    const cx = f32(f32(f32(Math.sqrt(curAlpha)) * bPrev) / bT);
    const type = this.predictionType;
    const clip = this.clipSample ? this.clipSampleRange : Infinity;
    const x0 = new Float32Array(sample.length);
    const prev = new Float32Array(sample.length);
    for (let i = 0; i < sample.length; i++) {
      const x = sample[i];
      const m = modelOutput[i];
      const p0 = type === 'epsilon' ? f32(f32(x - f32(sqrtB * m)) / sqrtA) : type === 'sample' ? m : f32(f32(sqrtA * x) - f32(sqrtB * m));
      x0[i] = Math.min(clip, Math.max(-clip, p0));
      prev[i] = f32(c0 * x0[i]) + f32(cx * x);
    }
    if (t > 0) {
      const std = this.stdDev(aT, aPrev, curBeta);
      const noise = this.noiseFor(sample.length, opts);
      for (let i = 0; i < prev.length; i++) prev[i] += f32(std * noise[i]);
    }
    return { prevSample: prev, predOriginalSample: x0 };
  }

  /** Standard deviation of the step's noise for the variance type (diffusers' _get_variance, then its square root). */
  private stdDev(aT: number, aPrev: number, curBeta: number): number {
    if (this.varianceType === 'fixed_large') return f32(Math.sqrt(curBeta));
    const variance = Math.max(f32(f32(f32(1 - aPrev) / f32(1 - aT)) * curBeta), 1e-20);
    // fixed_small_log: exp(½ log v), which diffusers multiplies by the noise without a further square root.
    return this.varianceType === 'fixed_small_log' ? f32(Math.exp(f32(0.5 * f32(Math.log(variance))))) : f32(Math.sqrt(variance));
  }

  addNoise(x0: Float32Array, noise: Float32Array, t: number | readonly number[]): Float32Array {
    return vpAddNoise(x0, noise, t, (tt) => this.alphaAt(tt));
  }

  noiseLevel(t: number): NoiseLevel {
    return vpNoiseLevel(this.alphaAt(t));
  }
}
