import { ConfigReader, commonToJson, readCommon, type CommonConfigJson, type SchedulerConfigJson } from './config';
import { spacedTimesteps } from './spacing';
import { sameLength, type Scheduler, type SchedulerCreateOptions, type StepOptions, type StepResult } from './scheduler';
import { SigmaSchedulerBase } from './sigma-scheduler';

/**
 * Euler ancestral sampling (k-diffusion's sample_euler_ancestral, Crowson), a port of diffusers'
 * `EulerAncestralDiscreteScheduler` (schedulers/scheduling_euler_ancestral_discrete.py): a deterministic Euler
 * step down to σ_down, then fresh noise of σ_up, with σ_down² + σ_up² = σ_next². The `sample` prediction type,
 * which diffusers leaves unimplemented here, takes the model output as x̂₀ like the other samplers.
 */

const f32 = Math.fround;

export type EulerAncestralConfig = CommonConfigJson;

export class EulerAncestralDiscreteScheduler extends SigmaSchedulerBase implements Scheduler {
  readonly name = 'euler-a' as const;
  readonly className = 'EulerAncestralDiscreteScheduler';
  readonly config: SchedulerConfigJson;

  constructor(config: EulerAncestralConfig = {}, opts: SchedulerCreateOptions = {}) {
    const r = new ConfigReader(config, opts.source);
    const common = readCommon(r, { timestepSpacing: 'linspace' });
    super(common, opts.seed);
    this.config = { ...config, ...commonToJson(common) };
  }

  static fromConfig(config: SchedulerConfigJson, opts: SchedulerCreateOptions = {}): EulerAncestralDiscreteScheduler {
    return new EulerAncestralDiscreteScheduler(config, opts);
  }

  setTimesteps(n: number): void {
    this.checkStepsArg(n);
    const c = this.common;
    this.timesteps = spacedTimesteps(c.timestepSpacing, n, c.numTrainTimesteps, c.stepsOffset, false).map(f32);
    this.sigmas = this.interpolatedSigmas(this.timesteps).map(f32).concat(0);
    this.numInferenceSteps = n;
    this.resetIndex();
  }

  step(modelOutput: Float32Array, t: number, sample: Float32Array, opts?: StepOptions): StepResult {
    sameLength('model output', modelOutput, sample);
    const i = this.currentIndex(t);
    const from = this.sigmas[i];
    const to = this.sigmas[i + 1];
    const from2 = f32(from * from);
    const to2 = f32(to * to);
    const up = f32(Math.sqrt(f32(f32(to2 * f32(from2 - to2)) / from2)));
    // σ_down² = σ_to² − σ_up² ≥ 0 in exact arithmetic; the clamp keeps a rounding residue from becoming NaN.
    const down = f32(Math.sqrt(Math.max(0, f32(to2 - f32(up * up)))));
    const dt = f32(down - from);
    const type = this.predictionType;
    const vIn = f32(-from / f32(Math.sqrt(f32(from2 + 1))));
    const vX = f32(from2 + 1);
    // Drawn at every step, the last included (σ_up = 0 there), so the stream advances as diffusers' does.
    const noise = this.noiseFor(sample.length, opts);
    const x0 = new Float32Array(sample.length);
    const prev = new Float32Array(sample.length);
    for (let k = 0; k < sample.length; k++) {
      const x = sample[k];
      const m = modelOutput[k];
      x0[k] = type === 'epsilon' ? f32(x - f32(from * m)) : type === 'sample' ? m : f32(f32(m * vIn) + f32(x / vX));
      prev[k] = f32(x + f32(f32(f32(x - x0[k]) / from) * dt)) + f32(noise[k] * up);
    }
    this.stepIdx = i + 1;
    return { prevSample: prev, predOriginalSample: x0 };
  }
}
