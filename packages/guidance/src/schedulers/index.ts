import { UserError } from '@richhf/reward';
import { readSchedulerConfig, type SchedulerConfigJson } from './config';
import { DDIMScheduler } from './ddim';
import { DDPMScheduler } from './ddpm';
import { EulerAncestralDiscreteScheduler } from './euler-ancestral';
import { EulerDiscreteScheduler } from './euler-discrete';
import { type Scheduler, type SchedulerCreateOptions, type SchedulerName } from './scheduler';

export {
  type Scheduler,
  type SchedulerName,
  type SchedulerCreateOptions,
  type NoiseLevel,
  type StepOptions,
  type StepResult,
  predictedOriginal,
  predictedEpsilon,
  modelOutputFromEpsilon,
} from './scheduler';
export { DDIMScheduler, type DDIMConfig } from './ddim';
export { DDPMScheduler, type DDPMConfig, type DDPMVarianceType } from './ddpm';
export { EulerDiscreteScheduler, type EulerDiscreteConfig, karrasSigmas } from './euler-discrete';
export { EulerAncestralDiscreteScheduler, type EulerAncestralConfig } from './euler-ancestral';
export { readSchedulerConfig, type SchedulerConfigJson, type CommonConfigJson, type PredictionType, PREDICTION_TYPES } from './config';
export { type BetaSchedule, BETA_SCHEDULES } from './betas';
export { type TimestepSpacing, TIMESTEP_SPACINGS } from './spacing';

export const SCHEDULER_NAMES: readonly SchedulerName[] = ['ddim', 'euler', 'euler-a', 'ddpm'];

/** The diffusers class each name ports. */
export const SCHEDULER_CLASSES: Readonly<Record<SchedulerName, string>> = {
  ddim: 'DDIMScheduler',
  euler: 'EulerDiscreteScheduler',
  'euler-a': 'EulerAncestralDiscreteScheduler',
  ddpm: 'DDPMScheduler',
};

/** `name` (ddim | euler | euler-a | ddpm), or UserError naming `option` (default "scheduler") and the choices. */
export function parseSchedulerName(name: string, option = 'scheduler'): SchedulerName {
  if (!(SCHEDULER_NAMES as readonly string[]).includes(name)) {
    throw new UserError(`${option} '${name}': unknown scheduler; expected one of ${SCHEDULER_NAMES.join(', ')}`);
  }
  return name as SchedulerName;
}

/**
 * A scheduler by name, configured from a diffusers scheduler config of any class (its known keys are taken,
 * the class defaults fill the rest), like `DDIMScheduler.from_config(pipe.scheduler.config)`.
 */
export function createScheduler(name: string, config: SchedulerConfigJson = {}, opts: SchedulerCreateOptions = {}): Scheduler {
  switch (parseSchedulerName(name)) {
    case 'ddim':
      return DDIMScheduler.fromConfig(config, opts);
    case 'euler':
      return EulerDiscreteScheduler.fromConfig(config, opts);
    case 'euler-a':
      return EulerAncestralDiscreteScheduler.fromConfig(config, opts);
    case 'ddpm':
      return DDPMScheduler.fromConfig(config, opts);
  }
}

/** The short name of the port of a diffusers class name, if there is one. */
export function schedulerNameOfClass(className: unknown): SchedulerName | undefined {
  return SCHEDULER_NAMES.find((n) => SCHEDULER_CLASSES[n] === className);
}

/**
 * The scheduler a config's `_class_name` names. Other classes (PNDM, LMS, DPM-Solver, …) are built as
 * `fallback` from the same keys when one is given, else refused with a one-line UserError.
 */
export function schedulerFromConfig(config: SchedulerConfigJson, opts: SchedulerCreateOptions & { fallback?: SchedulerName } = {}): Scheduler {
  const name = schedulerNameOfClass(config._class_name) ?? opts.fallback;
  if (!name) {
    throw new UserError(
      `${opts.source ?? 'scheduler config'}: _class_name ${JSON.stringify(config._class_name)} has no port here ` +
        `(${Object.values(SCHEDULER_CLASSES).join(', ')}); choose one by name`,
    );
  }
  return createScheduler(name, config, opts);
}

/** {@link schedulerFromConfig} of a scheduler_config.json file. */
export function loadScheduler(file: string, opts: SchedulerCreateOptions & { fallback?: SchedulerName } = {}): Scheduler {
  return schedulerFromConfig(readSchedulerConfig(file), { source: file, ...opts });
}
