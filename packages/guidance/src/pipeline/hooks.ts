import { type NoiseLevel, type Scheduler } from '../schedulers/scheduler';
import { type Shape4 } from './unet';

/**
 * The two places a caller reaches into the denoising loop. Per step i at timestep t:
 *
 *   UNet(x_t) → classifier-free guidance → modelOutput → [hook] → scheduler.step → x_{t−1} → [onStepEnd]
 *
 * A {@link GuidanceHook} sees the guided model output before the scheduler does and may return a replacement
 * (reward guidance adjusts ε / v / x̂₀ here, as design.md's GuidanceHook; `noiseLevel` and the conversion helpers
 * of schedulers/scheduler.ts translate between ε, x̂₀ and σ for any scheduler). A {@link StepEndCallback} sees
 * the new latents and may return replacements, like diffusers' `callback_on_step_end` with its `latents` key.
 * Either may be async; returning nothing keeps the value.
 */

export interface StepContext {
  /** 0-based step number and the loop's length. */
  step: number;
  numSteps: number;
  /** The scheduler's timestep for this step. */
  t: number;
  /** ᾱ, σ and the sample's scale at `t` (scheduler.noiseLevel(t)). */
  noiseLevel: NoiseLevel;
  /** x_t: the latents the scheduler holds, NCHW `shape` (unscaled; Euler's include the σ scale). */
  sample: Float32Array;
  shape: Shape4;
  /** The guided model output in the scheduler's prediction type (`scheduler.predictionType`). */
  modelOutput: Float32Array;
  /** The unconditional and conditional halves before guidance (undefined without classifier-free guidance). */
  modelOutputUncond?: Float32Array;
  modelOutputCond?: Float32Array;
  guidanceScale: number;
  scheduler: Scheduler;
  /** The prompt of each image of the batch (empty strings when embeddings were passed). */
  prompts: readonly string[];
  /**
   * The guided model output at this step's timestep for another sample (the UNet and classifier-free guidance
   * again): what Universal Guidance's self-recurrence needs. Absent where a loop cannot re-run its model.
   */
  predict?: (sample: Float32Array) => Promise<Float32Array>;
}

/** A hook's replacement of both the model output and the sample the scheduler steps from (same lengths). */
export interface GuidedStep {
  modelOutput: Float32Array;
  sample?: Float32Array;
}

export interface StepEndContext extends StepContext {
  /** x_{t−1}, after the scheduler's step. */
  latents: Float32Array;
  /** The scheduler's x̂₀ prediction at this step. */
  predOriginalSample: Float32Array;
}

/** Before `scheduler.step`: return a replacement model output (same length), or it and a new sample, or nothing. */
export type GuidanceHook = (ctx: StepContext) => Float32Array | GuidedStep | void | Promise<Float32Array | GuidedStep | void>;

/** After `scheduler.step`: return replacement latents (same length), or nothing. */
export type StepEndCallback = (ctx: StepEndContext) => Float32Array | void | Promise<Float32Array | void>;
