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
 * DDIM (Song et al., arXiv 2010.02502, eqs. 12 and 16), a port of diffusers' `DDIMScheduler`
 * (schedulers/scheduling_ddim.py): timestep spacings leading / trailing / linspace, steps_offset,
 * set_alpha_to_one, clip_sample, prediction types epsilon / v_prediction / sample, and η > 0 with the caller's
 * noise. Arithmetic is diffusers' float32, operation by operation (schedulers.parity.test.ts).
 */

const f32 = Math.fround;

export interface DDIMConfig extends CommonConfigJson {
  clip_sample?: boolean;
  clip_sample_range?: number;
  set_alpha_to_one?: boolean;
}

export class DDIMScheduler extends SchedulerBase implements Scheduler {
  readonly name = 'ddim' as const;
  readonly className = 'DDIMScheduler';
  readonly initNoiseSigma = 1;
  readonly config: SchedulerConfigJson;
  readonly clipSample: boolean;
  readonly clipSampleRange: number;
  readonly finalAlphaCumprod: number;
  /** η used when a step's options give none (diffusers' pipeline argument `eta`). */
  eta = 0;
  timesteps: number[] = [];
  numInferenceSteps: number | undefined;

  constructor(config: DDIMConfig = {}, opts: SchedulerCreateOptions = {}) {
    const r = new ConfigReader(config, opts.source);
    const common = readCommon(r, { timestepSpacing: 'leading' });
    r.refuse('thresholding', false, 'dynamic thresholding is for pixel-space models');
    super(common, opts.seed);
    this.clipSample = r.bool('clip_sample', true);
    this.clipSampleRange = r.number('clip_sample_range', 1, (v) => v > 0, 'is not a positive number');
    const setAlphaToOne = r.bool('set_alpha_to_one', true);
    this.finalAlphaCumprod = setAlphaToOne ? 1 : this.alphasCumprod[0];
    this.config = { ...config, ...commonToJson(common), clip_sample: this.clipSample, clip_sample_range: this.clipSampleRange, set_alpha_to_one: setAlphaToOne };
  }

  static fromConfig(config: SchedulerConfigJson, opts: SchedulerCreateOptions = {}): DDIMScheduler {
    return new DDIMScheduler(config as DDIMConfig, opts);
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

  /** The previous timestep as diffusers' DDIM computes it: t − N // n, whatever the spacing. */
  previousTimestep(t: number): number {
    if (this.numInferenceSteps === undefined) throw new Error('DDIMScheduler: call setTimesteps before step');
    return t - Math.floor(this.common.numTrainTimesteps / this.numInferenceSteps);
  }

  step(modelOutput: Float32Array, t: number, sample: Float32Array, opts?: StepOptions): StepResult {
    sameLength('model output', modelOutput, sample);
    const prevT = this.previousTimestep(t);
    const aT = this.alphaAt(t);
    const aPrev = prevT >= 0 ? this.alphasCumprod[prevT] : this.finalAlphaCumprod;
    const bT = f32(1 - aT);
    const sqrtA = f32(Math.sqrt(aT));
    const sqrtB = f32(Math.sqrt(bT));
    const eta = opts?.eta ?? this.eta;
    // σ_t(η) of eq. 16: η · √((1 − ᾱ_prev) / (1 − ᾱ_t) · (1 − ᾱ_t / ᾱ_prev)).
    const variance = f32(f32(f32(1 - aPrev) / bT) * f32(1 - f32(aT / aPrev)));
    const std = f32(eta * f32(Math.sqrt(variance)));
    const dirCoef = f32(Math.sqrt(f32(f32(1 - aPrev) - f32(std * std))));
    const prevCoef = f32(Math.sqrt(aPrev));
    const type = this.predictionType;
    const clip = this.clipSample ? this.clipSampleRange : Infinity;
    const x0 = new Float32Array(sample.length);
    const prev = new Float32Array(sample.length);
    // Each operation rounded to float32 in diffusers' order: its torch arithmetic, reproduced (measured: float64
    // arithmetic drifts by up to 2.4e-5 element-wise at t = 981, where x̂₀ divides by √ᾱ ≈ 0.07).
    for (let i = 0; i < sample.length; i++) {
      const x = sample[i];
      const m = modelOutput[i];
      let p0: number;
      let eps: number;
      if (type === 'epsilon') {
        p0 = f32(f32(x - f32(sqrtB * m)) / sqrtA);
        eps = m;
      } else if (type === 'sample') {
        p0 = m;
        eps = f32(f32(x - f32(sqrtA * m)) / sqrtB);
      } else {
        p0 = f32(f32(sqrtA * x) - f32(sqrtB * m));
        eps = f32(f32(sqrtA * m) + f32(sqrtB * x));
      }
      x0[i] = Math.min(clip, Math.max(-clip, p0));
      prev[i] = f32(prevCoef * x0[i]) + f32(dirCoef * eps);
    }
    if (eta > 0) {
      const noise = this.noiseFor(sample.length, opts);
      for (let i = 0; i < prev.length; i++) prev[i] += f32(std * noise[i]);
    }
    return { prevSample: prev, predOriginalSample: x0 };
  }

  addNoise(x0: Float32Array, noise: Float32Array, t: number | readonly number[]): Float32Array {
    return vpAddNoise(x0, noise, t, (tt) => this.alphaAt(tt));
  }

  noiseLevel(t: number): NoiseLevel {
    return vpNoiseLevel(this.alphaAt(t));
  }
}
