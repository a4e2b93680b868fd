import { GaussianGenerator } from '../random';
import { alphasCumprod, makeBetas } from './betas';
import { type CommonConfig, type PredictionType, type SchedulerConfigJson } from './config';

/**
 * The scheduler contract, modelled on diffusers' (`set_timesteps`, `scale_model_input`, `step`, `add_noise`).
 * Tensors are host Float32Arrays in NCHW order, as the UNet graphs take them; a batch is simply a longer
 * array (every operation is elementwise, the same coefficients for the whole batch).
 *
 * Two parametrisations of the noisy sample meet here: DDIM/DDPM hold x = √ᾱ·x₀ + √(1−ᾱ)·ε (variance
 * preserving), the Euler samplers hold x = x₀ + σ·ε with σ = √((1−ᾱ)/ᾱ) and feed the model x / √(σ²+1).
 * {@link NoiseLevel} states both, so a guidance hook converts between ε, x̂₀ and σ with the helpers below
 * without knowing which scheduler it sits in.
 */

/** The noise level at a timestep. For every scheduler: `sample = sampleScale · (√ᾱ · x₀ + √(1−ᾱ) · ε)`. */
export interface NoiseLevel {
  /** ᾱ: the signal fraction (diffusers' alphas_cumprod at the timestep; 1 / (1 + σ²) for the Euler samplers). */
  alphaBar: number;
  /** σ = √((1 − ᾱ) / ᾱ), the k-diffusion noise level. */
  sigma: number;
  /** 1 for DDIM / DDPM; √(1 + σ²) for the Euler samplers, whose samples are x₀ + σ·ε. */
  sampleScale: number;
}

export interface StepOptions {
  /**
   * Standard normal noise for the stochastic part of the step (DDIM with eta > 0, DDPM, Euler ancestral), the
   * sample's length. Without it the `generator` (or the scheduler's own, seeded with `seed` at construction)
   * draws it; a list of generators splits the sample into equal batch items, one generator each (so an
   * image's noise does not depend on the other images of its batch).
   */
  noise?: Float32Array;
  generator?: GaussianGenerator | readonly GaussianGenerator[];
  /** DDIM only: η, the weight of the fresh noise (0 = deterministic DDIM, 1 = DDPM-like); default the scheduler's `eta`. */
  eta?: number;
}

export interface StepResult {
  /** x_{t−1}: the sample the next step (or the decoder, after the last) takes. */
  prevSample: Float32Array;
  /** x̂₀ as this step predicted it (after clipping where the config clips). */
  predOriginalSample: Float32Array;
}

export interface SchedulerCreateOptions {
  /** Names the configuration in errors (the scheduler_config.json path). */
  source?: string;
  /** Seed of the scheduler's own generator, used when a step needs noise and the caller gives none (default 0). */
  seed?: number;
}

export type SchedulerName = 'ddim' | 'euler' | 'euler-a' | 'ddpm';

export interface Scheduler {
  /** Short name (`ddim`, `euler`, `euler-a`, `ddpm`) and the diffusers class it ports. */
  readonly name: SchedulerName;
  readonly className: string;
  /** The parsed configuration as diffusers' `scheduler.config` would show it (snake_case). */
  readonly config: SchedulerConfigJson;
  readonly predictionType: PredictionType;
  /** Inference timesteps after `setTimesteps`, in sampling order (integers for DDIM/DDPM, float32 values for Euler). */
  readonly timesteps: readonly number[];
  readonly numInferenceSteps: number | undefined;
  /** The factor diffusers multiplies fresh noise by to make the first latents. */
  readonly initNoiseSigma: number;
  /** ᾱ of each training timestep (float32, diffusers' `alphas_cumprod`). */
  readonly alphasCumprod: Float32Array;
  setTimesteps(numInferenceSteps: number): void;
  /** The model's input at `t` (the sample itself for DDIM/DDPM, sample / √(σ²+1) for Euler). */
  scaleModelInput(sample: Float32Array, t: number): Float32Array;
  step(modelOutput: Float32Array, t: number, sample: Float32Array, opts?: StepOptions): StepResult;
  /** Forward diffusion: the sample at `t` for clean `x0` and `noise` (one `t`, or one per batch item). */
  addNoise(x0: Float32Array, noise: Float32Array, t: number | readonly number[]): Float32Array;
  noiseLevel(t: number): NoiseLevel;
}

/** Shared state of the ports: the training schedule and the noise source. */
export abstract class SchedulerBase {
  readonly alphasCumprod: Float32Array;
  readonly betas: Float32Array;
  /** Draws the step noise when the caller passes none. */
  generator: GaussianGenerator;

  protected constructor(readonly common: CommonConfig, seed = 0) {
    this.betas = makeBetas(common);
    this.alphasCumprod = alphasCumprod(this.betas);
    this.generator = new GaussianGenerator(seed);
  }

  get predictionType(): PredictionType {
    return this.common.predictionType;
  }

  /** The caller's noise, or `n` fresh numbers from the option's or the scheduler's generator. */
  protected noiseFor(n: number, opts: StepOptions | undefined): Float32Array {
    if (opts?.noise) {
      if (opts.noise.length !== n) throw new RangeError(`step noise has ${opts.noise.length} values, the sample ${n}`);
      return opts.noise;
    }
    const g = opts?.generator ?? this.generator;
    if (!Array.isArray(g)) return (g as GaussianGenerator).normal(n);
    if (g.length === 0 || n % g.length !== 0) throw new RangeError(`${g.length} generators do not divide a sample of ${n} values`);
    const out = new Float32Array(n);
    const item = n / g.length;
    g.forEach((gen, b) => gen.fill(out.subarray(b * item, (b + 1) * item)));
    return out;
  }

  protected checkStepsArg(n: number): void {
    if (!Number.isInteger(n) || n < 1) throw new RangeError(`steps ${n}: expected an integer ≥ 1`);
    if (n > this.common.numTrainTimesteps) {
      throw new RangeError(`steps ${n}: more than the ${this.common.numTrainTimesteps} training timesteps of this scheduler`);
    }
  }

  /** ᾱ at an integer training timestep (RangeError outside [0, N)). */
  protected alphaAt(t: number): number {
    if (!Number.isInteger(t) || t < 0 || t >= this.alphasCumprod.length) {
      throw new RangeError(`timestep ${t}: expected an integer in [0, ${this.alphasCumprod.length})`);
    }
    return this.alphasCumprod[t];
  }
}

export function sameLength(what: string, a: Float32Array, b: Float32Array): void {
  if (a.length !== b.length) throw new RangeError(`${what}: ${a.length} values against the sample's ${b.length}`);
}

/** One timestep per batch item for add_noise: `t` repeated, or the list (the batch size divides the length). */
export function perItem(t: number | readonly number[], length: number): { ts: readonly number[]; itemSize: number } {
  const ts = typeof t === 'number' ? [t] : t;
  if (ts.length === 0 || length % ts.length !== 0) throw new RangeError(`${ts.length} timesteps do not divide a sample of ${length} values`);
  return { ts, itemSize: length / ts.length };
}

const f32 = Math.fround;

/** diffusers' add_noise of the variance-preserving schedulers: √ᾱ·x₀ + √(1−ᾱ)·noise with float32 coefficients. */
export function vpAddNoise(x0: Float32Array, noise: Float32Array, t: number | readonly number[], alphaAt: (t: number) => number): Float32Array {
  sameLength('noise', noise, x0);
  const { ts, itemSize } = perItem(t, x0.length);
  const out = new Float32Array(x0.length);
  ts.forEach((tt, b) => {
    const a = alphaAt(tt);
    const ca = f32(Math.sqrt(a));
    const cb = f32(Math.sqrt(f32(1 - a)));
    for (let i = b * itemSize; i < (b + 1) * itemSize; i++) out[i] = f32(ca * x0[i]) + f32(cb * noise[i]);
  });
  return out;
}

export function vpNoiseLevel(alphaBar: number): NoiseLevel {
  return { alphaBar, sigma: Math.sqrt((1 - alphaBar) / alphaBar), sampleScale: 1 };
}

// Conversions a guidance hook needs, valid for every scheduler through its NoiseLevel.

/** x̂₀ from a model output of the given prediction type. */
export function predictedOriginal(modelOutput: Float32Array, sample: Float32Array, level: NoiseLevel, type: PredictionType): Float32Array {
  if (type === 'sample') return Float32Array.from(modelOutput);
  const a = Math.sqrt(level.alphaBar);
  const b = Math.sqrt(1 - level.alphaBar);
  const inv = 1 / level.sampleScale;
  const out = new Float32Array(sample.length);
  for (let i = 0; i < out.length; i++) {
    const x = sample[i] * inv;
    out[i] = type === 'epsilon' ? (x - b * modelOutput[i]) / a : a * x - b * modelOutput[i];
  }
  return out;
}

/** ε̂ from a model output of the given prediction type. */
export function predictedEpsilon(modelOutput: Float32Array, sample: Float32Array, level: NoiseLevel, type: PredictionType): Float32Array {
  if (type === 'epsilon') return Float32Array.from(modelOutput);
  const a = Math.sqrt(level.alphaBar);
  const b = Math.sqrt(1 - level.alphaBar);
  const inv = 1 / level.sampleScale;
  const out = new Float32Array(sample.length);
  for (let i = 0; i < out.length; i++) {
    const x = sample[i] * inv;
    out[i] = type === 'sample' ? (x - a * modelOutput[i]) / b : a * modelOutput[i] + b * x;
  }
  return out;
}

/** The model output of the given prediction type that corresponds to ε (the inverse of {@link predictedEpsilon}). */
export function modelOutputFromEpsilon(eps: Float32Array, sample: Float32Array, level: NoiseLevel, type: PredictionType): Float32Array {
  if (type === 'epsilon') return Float32Array.from(eps);
  const a = Math.sqrt(level.alphaBar);
  const b = Math.sqrt(1 - level.alphaBar);
  const inv = 1 / level.sampleScale;
  const out = new Float32Array(sample.length);
  for (let i = 0; i < out.length; i++) {
    const x = sample[i] * inv;
    // sample: x₀ = (x − b·ε) / a;  v = (ε − b·x) / a, from ε = a·v + b·x.
    out[i] = type === 'sample' ? (x - b * eps[i]) / a : (eps[i] - b * x) / a;
  }
  return out;
}
