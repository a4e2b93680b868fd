import { UserError } from '@richhf/reward';
import { ConfigReader, commonToJson, readCommon, type CommonConfigJson, type SchedulerConfigJson } from './config';
import { torchLinspaceF32 } from './betas';
import { npLinspace, spacedTimesteps } from './spacing';
import { sameLength, type Scheduler, type SchedulerCreateOptions, type StepOptions, type StepResult } from './scheduler';
import { SigmaSchedulerBase } from './sigma-scheduler';

/**
 * Euler's method on the probability-flow ODE in σ (Karras et al., arXiv 2206.00364, Algorithm 2 without churn),
 * a port of diffusers' `EulerDiscreteScheduler` (schedulers/scheduling_euler_discrete.py): σ interpolated at the
 * spaced timesteps (linear, or log_linear), optional Karras / exponential σ, a final σ of 0 (or σ_min), and
 * timesteps as float32 values; float32 arithmetic operation by operation, as diffusers (bit-identical chains in
 * schedulers.parity.test.ts). Stochastic churn (s_churn) is not ported: diffusers' pipelines never pass it.
 */

const f32 = Math.fround;

export interface EulerDiscreteConfig extends CommonConfigJson {
  interpolation_type?: 'linear' | 'log_linear';
  use_karras_sigmas?: boolean;
  use_exponential_sigmas?: boolean;
  sigma_min?: number | null;
  sigma_max?: number | null;
  timestep_type?: 'discrete' | 'continuous';
  final_sigmas_type?: 'zero' | 'sigma_min';
}

export class EulerDiscreteScheduler extends SigmaSchedulerBase implements Scheduler {
  readonly name = 'euler' as const;
  readonly className = 'EulerDiscreteScheduler';
  readonly config: SchedulerConfigJson;
  private readonly o: {
    interpolation_type: 'linear' | 'log_linear';
    use_karras_sigmas: boolean;
    use_exponential_sigmas: boolean;
    sigma_min?: number;
    sigma_max?: number;
    timestep_type: 'discrete' | 'continuous';
    final_sigmas_type: 'zero' | 'sigma_min';
  };

  constructor(config: EulerDiscreteConfig = {}, opts: SchedulerCreateOptions = {}) {
    const r = new ConfigReader(config, opts.source);
    const common = readCommon(r, { timestepSpacing: 'linspace' });
    r.refuse('use_beta_sigmas', false, 'beta sigmas need the beta distribution quantile; use Karras or exponential sigmas');
    super(common, opts.seed);
    const positive = (v: number) => v > 0;
    this.o = {
      interpolation_type: r.choice('interpolation_type', 'linear', ['linear', 'log_linear'] as const),
      use_karras_sigmas: r.bool('use_karras_sigmas', false),
      use_exponential_sigmas: r.bool('use_exponential_sigmas', false),
      sigma_min: config.sigma_min == null ? undefined : r.number('sigma_min', 0, positive, 'is not a positive number'),
      sigma_max: config.sigma_max == null ? undefined : r.number('sigma_max', 0, positive, 'is not a positive number'),
      timestep_type: r.choice('timestep_type', 'discrete', ['discrete', 'continuous'] as const),
      final_sigmas_type: r.choice('final_sigmas_type', 'zero', ['zero', 'sigma_min'] as const),
    };
    if (this.o.use_karras_sigmas && this.o.use_exponential_sigmas) {
      throw new UserError(`${opts.source ?? 'scheduler config'}: use_karras_sigmas and use_exponential_sigmas are both set; choose one`);
    }
    this.config = { ...config, ...commonToJson(common), ...this.o };
  }

  static fromConfig(config: SchedulerConfigJson, opts: SchedulerCreateOptions = {}): EulerDiscreteScheduler {
    return new EulerDiscreteScheduler(config as EulerDiscreteConfig, opts);
  }

  setTimesteps(n: number): void {
    this.checkStepsArg(n);
    const c = this.common;
    let timesteps = spacedTimesteps(c.timestepSpacing, n, c.numTrainTimesteps, c.stepsOffset, false).map(f32);
    let sigmas: number[];
    if (this.o.interpolation_type === 'linear') sigmas = this.interpolatedSigmas(timesteps);
    else {
      const s = this.trainSigmas;
      sigmas = [...torchLinspaceF32(f32(Math.log(s[s.length - 1])), f32(Math.log(s[0])), n + 1)].map((v) => f32(Math.exp(v)));
    }
    if (this.o.use_karras_sigmas || this.o.use_exponential_sigmas) {
      const lo = this.o.sigma_min ?? sigmas[sigmas.length - 1];
      const hi = this.o.sigma_max ?? sigmas[0];
      sigmas = this.o.use_karras_sigmas ? karrasSigmas(lo, hi, n) : [...npLinspace(Math.log(hi), Math.log(lo), n)].map(Math.exp);
      const logSigmas = [...this.trainSigmas].map((v) => f32(Math.log(v)));
      timesteps = sigmas.map((v) => f32(sigmaToT(v, logSigmas)));
    }
    const a0 = this.alphasCumprod[0];
    const last = this.o.final_sigmas_type === 'zero' ? 0 : f32(Math.sqrt(f32(f32(1 - a0) / a0)));
    this.sigmas = sigmas.map(f32).concat(last);
    this.timesteps =
      this.o.timestep_type === 'continuous' && c.predictionType === 'v_prediction'
        ? this.sigmas.slice(0, -1).map((s) => f32(0.25 * f32(Math.log(s))))
        : timesteps;
    this.numInferenceSteps = n;
    this.resetIndex();
  }

  step(modelOutput: Float32Array, t: number, sample: Float32Array, _opts?: StepOptions): StepResult {
    sameLength('model output', modelOutput, sample);
    const i = this.currentIndex(t);
    const sigma = this.sigmas[i];
    const dt = f32(this.sigmas[i + 1] - sigma);
    const type = this.predictionType;
    const vIn = f32(-sigma / f32(Math.sqrt(f32(f32(sigma * sigma) + 1))));
    const vX = f32(f32(sigma * sigma) + 1);
    const x0 = new Float32Array(sample.length);
    const prev = new Float32Array(sample.length);
    for (let k = 0; k < sample.length; k++) {
      const x = sample[k];
      const m = modelOutput[k];
      x0[k] = type === 'epsilon' ? f32(x - f32(sigma * m)) : type === 'sample' ? m : f32(f32(m * vIn) + f32(x / vX));
      // dx/dσ = (x − x̂₀) / σ; one Euler step to the next σ (float32 operation by operation, as diffusers).
      prev[k] = x + f32(f32(f32(x - x0[k]) / sigma) * dt);
    }
    this.stepIdx = i + 1;
    return { prevSample: prev, predOriginalSample: x0 };
  }
}

/** Karras et al. (2022) eq. 5 with ρ = 7, as diffusers' _convert_to_karras (float64). */
export function karrasSigmas(sigmaMin: number, sigmaMax: number, n: number): number[] {
  const rho = 7;
  const minInv = sigmaMin ** (1 / rho);
  const maxInv = sigmaMax ** (1 / rho);
  return [...npLinspace(0, 1, n)].map((r) => (maxInv + r * (minInv - maxInv)) ** rho);
}

/** The fractional training timestep of σ by interpolating log σ (diffusers' _sigma_to_t); `logSigmas` ascending. */
export function sigmaToT(sigma: number, logSigmas: readonly number[]): number {
  const logSigma = Math.log(Math.max(sigma, 1e-10));
  let low = 0;
  for (let i = 0; i < logSigmas.length; i++) if (logSigma - logSigmas[i] >= 0) low = i;
  low = Math.min(low, logSigmas.length - 2);
  const lo = logSigmas[low];
  const hi = logSigmas[low + 1];
  const w = Math.min(1, Math.max(0, (lo - logSigma) / (lo - hi)));
  return (1 - w) * low + w * (low + 1);
}
