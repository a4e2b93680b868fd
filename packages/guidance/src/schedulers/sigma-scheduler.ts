import { type CommonConfig } from './config';
import { interpUnitGrid } from './spacing';
import { SchedulerBase, perItem, sameLength, type NoiseLevel } from './scheduler';
import { trainSigmas } from './betas';

/**
 * What diffusers' σ-space samplers (EulerDiscrete, EulerAncestralDiscrete) share: samples x = x₀ + σ·ε, the
 * model fed x / √(σ²+1), a σ per inference step plus a final σ (0 by default), and the step index they keep —
 * set from the first timestep they see (the second of two equal timesteps, as diffusers does for img2img) or
 * from `setBeginIndex`, and advanced by each `step`.
 */

const f32 = Math.fround;

export abstract class SigmaSchedulerBase extends SchedulerBase {
  /** σ of each inference step, plus the final one (float32 values). */
  sigmas: number[] = [];
  timesteps: number[] = [];
  numInferenceSteps: number | undefined;
  /** σ of every training timestep (float32), the grid inference sigmas are interpolated on. */
  readonly trainSigmas: Float32Array;
  protected stepIdx: number | undefined;
  protected beginIdx: number | undefined;

  protected constructor(common: CommonConfig, seed?: number) {
    super(common, seed);
    // Zero terminal SNR would make the last σ infinite; diffusers pins ᾱ there to 2^-24.
    if (common.rescaleBetasZeroSnr) this.alphasCumprod[this.alphasCumprod.length - 1] = 2 ** -24;
    this.trainSigmas = trainSigmas(this.alphasCumprod);
    // Before setTimesteps: every training timestep, as diffusers' constructors leave them.
    const n = this.trainSigmas.length;
    this.timesteps = Array.from({ length: n }, (_, i) => n - 1 - i);
    this.sigmas = [...this.trainSigmas].reverse().concat(0);
  }

  /** The step the next `step` call performs (undefined until the first scaleModelInput / step). */
  get stepIndex(): number | undefined {
    return this.stepIdx;
  }

  /** Start sampling at this step index (img2img / inpainting start part-way), as diffusers' set_begin_index. */
  setBeginIndex(i: number): void {
    this.beginIdx = i;
  }

  get initNoiseSigma(): number {
    const max = this.sigmas.reduce((m, s) => Math.max(m, s), 0);
    return this.common.timestepSpacing === 'leading' ? f32(Math.sqrt(f32(f32(max * max) + 1))) : max;
  }

  protected resetIndex(): void {
    this.stepIdx = undefined;
    this.beginIdx = undefined;
  }

  /** Index of `t` in the schedule: the second occurrence when it appears twice (diffusers' index_for_timestep). */
  indexForTimestep(t: number): number {
    const hits: number[] = [];
    this.timesteps.forEach((v, i) => v === t && hits.push(i));
    if (hits.length === 0) throw new RangeError(`timestep ${t} is not in this schedule (${this.timesteps.length} steps)`);
    return hits.length > 1 ? hits[1] : hits[0];
  }

  protected currentIndex(t: number): number {
    if (this.stepIdx === undefined) this.stepIdx = this.beginIdx ?? this.indexForTimestep(t);
    return this.stepIdx;
  }

  scaleModelInput(sample: Float32Array, t: number): Float32Array {
    const sigma = this.sigmas[this.currentIndex(t)];
    const div = f32(Math.sqrt(f32(f32(sigma * sigma) + 1)));
    const out = new Float32Array(sample.length);
    for (let i = 0; i < out.length; i++) out[i] = sample[i] / div;
    return out;
  }

  /** x₀ + σ·noise with σ of each item's timestep (diffusers' index rules for add_noise). */
  addNoise(x0: Float32Array, noise: Float32Array, t: number | readonly number[]): Float32Array {
    sameLength('noise', noise, x0);
    const { ts, itemSize } = perItem(t, x0.length);
    const out = new Float32Array(x0.length);
    ts.forEach((tt, b) => {
      const idx = this.beginIdx === undefined ? this.indexForTimestep(tt) : this.stepIdx ?? this.beginIdx;
      const sigma = this.sigmas[idx];
      for (let i = b * itemSize; i < (b + 1) * itemSize; i++) out[i] = x0[i] + f32(noise[i] * sigma);
    });
    return out;
  }

  /**
   * σ at `t`: the schedule's own σ when `t` is one of its timesteps (the current step's first), else σ
   * interpolated on the training grid (any t in [0, N − 1]).
   */
  noiseLevel(t: number): NoiseLevel {
    let sigma: number;
    if (this.stepIdx !== undefined && this.timesteps[this.stepIdx] === t) sigma = this.sigmas[this.stepIdx];
    else if (this.timesteps.includes(t)) sigma = this.sigmas[this.indexForTimestep(t)];
    else if (t >= 0 && t <= this.trainSigmas.length - 1) sigma = interpUnitGrid(t, this.trainSigmas);
    else throw new RangeError(`timestep ${t}: outside [0, ${this.trainSigmas.length - 1}]`);
    const alphaBar = 1 / (1 + sigma * sigma);
    return { alphaBar, sigma, sampleScale: Math.sqrt(1 + sigma * sigma) };
  }

  /** σ at each of `timesteps`, linearly interpolated on the training grid in float64 (numpy.interp). */
  protected interpolatedSigmas(timesteps: readonly number[]): number[] {
    return timesteps.map((t) => interpUnitGrid(t, this.trainSigmas));
  }
}
