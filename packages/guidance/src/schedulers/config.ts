import * as fs from 'fs';
import { UserError } from '@richhf/reward';
import { BETA_SCHEDULES, type BetaSchedule } from './betas';
import { TIMESTEP_SPACINGS, type TimestepSpacing } from './spacing';

/**
 * Reading a diffusers `scheduler_config.json`. diffusers' `from_config` takes the keys a class knows and the
 * class's own defaults for the rest (so a PNDM config can build a DDIM scheduler); each scheduler here does the
 * same through {@link ConfigReader}, which also names the file and key in every refusal.
 */

/** The JSON object of a scheduler_config.json (snake_case keys as diffusers writes them). */
export type SchedulerConfigJson = Record<string, unknown>;

export type PredictionType = 'epsilon' | 'v_prediction' | 'sample';
export const PREDICTION_TYPES: readonly PredictionType[] = ['epsilon', 'v_prediction', 'sample'];

/** Read a scheduler_config.json file (one-line UserError naming the file when it is missing or not JSON). */
export function readSchedulerConfig(file: string): SchedulerConfigJson {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new UserError(code === 'ENOENT' ? `${file}: no such file` : `${file}: cannot read (${code ?? e})`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new UserError(`${file}: not JSON (${(e as Error).message.split('\n')[0]})`);
  }
  if (json === null || typeof json !== 'object' || Array.isArray(json)) throw new UserError(`${file}: not a scheduler config (expected a JSON object)`);
  return json as SchedulerConfigJson;
}

/** Typed access to config keys with defaults; `source` (a file name, or "scheduler config") prefixes errors. */
export class ConfigReader {
  constructor(
    readonly json: SchedulerConfigJson,
    readonly source = 'scheduler config',
  ) {}

  private bad(key: string, what: string): UserError {
    return new UserError(`${this.source}: ${key} ${JSON.stringify(this.json[key])} ${what}`);
  }

  private present(key: string): boolean {
    return this.json[key] !== undefined && this.json[key] !== null;
  }

  number(key: string, dflt: number, check: (v: number) => boolean = Number.isFinite, what = 'is not a finite number'): number {
    if (!this.present(key)) return dflt;
    const v = this.json[key];
    if (typeof v !== 'number' || !check(v)) throw this.bad(key, what);
    return v;
  }

  integer(key: string, dflt: number, min: number): number {
    return this.number(key, dflt, (v) => Number.isInteger(v) && v >= min, `is not an integer ≥ ${min}`);
  }

  bool(key: string, dflt: boolean): boolean {
    if (!this.present(key)) return dflt;
    const v = this.json[key];
    if (typeof v !== 'boolean') throw this.bad(key, 'is not true or false');
    return v;
  }

  choice<T extends string>(key: string, dflt: T, choices: readonly T[]): T {
    if (!this.present(key)) return dflt;
    const v = this.json[key];
    if (typeof v !== 'string' || !choices.includes(v as T)) throw this.bad(key, `is not one of ${choices.join(', ')}`);
    return v as T;
  }

  numbers(key: string): number[] | undefined {
    if (!this.present(key)) return undefined;
    const v = this.json[key];
    if (!Array.isArray(v) || v.length === 0 || !v.every((x) => typeof x === 'number' && Number.isFinite(x))) {
      throw this.bad(key, 'is not a list of numbers');
    }
    return v as number[];
  }

  /** A key this port does not implement: refuse it when set to anything but its harmless value. */
  refuse(key: string, harmless: unknown, why: string): void {
    if (this.present(key) && this.json[key] !== harmless) throw this.bad(key, `is not supported (${why})`);
  }
}

/** What every scheduler here shares: the training noise schedule, how inference timesteps are spaced, the target. */
export interface CommonConfig {
  numTrainTimesteps: number;
  betaStart: number;
  betaEnd: number;
  betaSchedule: BetaSchedule;
  trainedBetas?: number[];
  predictionType: PredictionType;
  timestepSpacing: TimestepSpacing;
  stepsOffset: number;
  rescaleBetasZeroSnr: boolean;
}

/** Class defaults that differ between diffusers schedulers. */
export interface CommonDefaults {
  timestepSpacing: TimestepSpacing;
}

export function readCommon(r: ConfigReader, d: CommonDefaults): CommonConfig {
  const trainedBetas = r.numbers('trained_betas');
  const numTrainTimesteps = trainedBetas ? trainedBetas.length : r.integer('num_train_timesteps', 1000, 1);
  if (trainedBetas && r.json.num_train_timesteps !== undefined && r.json.num_train_timesteps !== trainedBetas.length) {
    throw new UserError(`${r.source}: trained_betas has ${trainedBetas.length} entries but num_train_timesteps is ${JSON.stringify(r.json.num_train_timesteps)}`);
  }
  const betaStart = r.number('beta_start', 0.0001, (v) => v > 0 && v < 1, 'is not in (0, 1)');
  const betaEnd = r.number('beta_end', 0.02, (v) => v > 0 && v < 1, 'is not in (0, 1)');
  return {
    numTrainTimesteps,
    betaStart,
    betaEnd,
    betaSchedule: r.choice('beta_schedule', 'linear', BETA_SCHEDULES),
    trainedBetas,
    predictionType: r.choice('prediction_type', 'epsilon', PREDICTION_TYPES),
    timestepSpacing: r.choice('timestep_spacing', d.timestepSpacing, TIMESTEP_SPACINGS),
    stepsOffset: r.integer('steps_offset', 0, 0),
    rescaleBetasZeroSnr: r.bool('rescale_betas_zero_snr', false),
  };
}

/** The keys every scheduler here reads, as diffusers spells them (each class adds its own). */
export interface CommonConfigJson {
  num_train_timesteps?: number;
  beta_start?: number;
  beta_end?: number;
  beta_schedule?: BetaSchedule;
  trained_betas?: number[] | null;
  prediction_type?: PredictionType;
  timestep_spacing?: TimestepSpacing;
  steps_offset?: number;
  rescale_betas_zero_snr?: boolean;
  [key: string]: unknown;
}

/** The parsed common options under diffusers' key names (what `scheduler.config` shows). */
export function commonToJson(c: CommonConfig): SchedulerConfigJson {
  return {
    num_train_timesteps: c.numTrainTimesteps,
    beta_start: c.betaStart,
    beta_end: c.betaEnd,
    beta_schedule: c.betaSchedule,
    trained_betas: c.trainedBetas ?? null,
    prediction_type: c.predictionType,
    timestep_spacing: c.timestepSpacing,
    steps_offset: c.stepsOffset,
    rescale_betas_zero_snr: c.rescaleBetasZeroSnr,
  };
}
