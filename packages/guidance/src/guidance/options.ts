import { SCORE_NAMES, UserError, type ScoreName, type ScoreWeights } from '@richhf/reward';

/*
 * The knobs of reward guidance and their checks. Everything here is validated when the guidance is built
 * (before a sampler takes its first step), so a typo is a one-line UserError naming the option, never a NaN
 * image half-way through a run.
 */

/** Where a step is: what a scale schedule and a step window look at. */
export interface StepInfo {
  /** 0-based step and the loop's length. */
  step: number;
  numSteps: number;
  /** The scheduler's timestep and σ = √((1 − ᾱ) / ᾱ) there. */
  t: number;
  sigma: number;
}

/** A guidance scale: one number, one per step (the loop's length), or a function of the step. */
export type ScaleSchedule = number | readonly number[] | ((at: StepInfo) => number);

/**
 * The steps that are guided: a fraction of the loop (`from` ≤ step / numSteps < `to`, both in [0, 1]) or a
 * σ range (`sigmaMin` ≤ σ ≤ `sigmaMax`), as Universal Guidance and diffusers' guided pipelines restrict
 * guidance to the early/middle steps.
 */
export type StepWindow = { from?: number; to?: number } | { sigmaMin?: number; sigmaMax?: number };

/** The weights guidance uses unless told otherwise (the issue's `--reward aesthetics=1,overall=1`). */
export const DEFAULT_WEIGHTS: Readonly<ScoreWeights> = Object.freeze({ aesthetics: 1, overall: 1 });

/**
 * Per-score weights from `aesthetics=1,overall=0.5` (or a record): known score names, finite weights, at
 * least one non-zero. `option` names the source in errors.
 */
export function parseWeights(spec: string | ScoreWeights, option = 'weights'): ScoreWeights {
  const pairs: [string, number][] = [];
  if (typeof spec === 'string') {
    for (const part of spec.split(',').map((s) => s.trim()).filter(Boolean)) {
      const m = /^([A-Za-z_]+)\s*(?:=\s*(.+))?$/.exec(part);
      if (!m) throw new UserError(`${option} "${part}": expected score=weight (e.g. aesthetics=1,overall=1)`);
      const w = m[2] === undefined ? 1 : Number(m[2]);
      pairs.push([m[1], w]);
    }
  } else pairs.push(...(Object.entries(spec).filter(([, w]) => w !== undefined) as [string, number][]));
  const out: ScoreWeights = {};
  for (const [name, w] of pairs) {
    if (!(SCORE_NAMES as readonly string[]).includes(name)) throw new UserError(`${option}: unknown score "${name}" (expected ${SCORE_NAMES.join(', ')})`);
    if (typeof w !== 'number' || !Number.isFinite(w)) throw new UserError(`${option}: the weight of "${name}" must be a finite number, got ${String(w)}`);
    if (out[name as ScoreName] !== undefined) throw new UserError(`${option}: "${name}" is given twice`);
    out[name as ScoreName] = w;
  }
  if (!Object.values(out).some((w) => w !== 0)) throw new UserError(`${option}: name at least one score with a non-zero weight (${SCORE_NAMES.join(', ')})`);
  return out;
}

function checkScale(v: unknown, what: string): number {
  if (typeof v !== 'number' || Number.isNaN(v) || v < 0 || !Number.isFinite(v)) throw new UserError(`${what} ${String(v)}: expected a finite number ≥ 0`);
  return v;
}

/** Checks a scale schedule (numbers ≥ 0; a function is checked at each step it is called). */
export function checkScaleSchedule(scale: ScaleSchedule, option = 'scale'): ScaleSchedule {
  if (typeof scale === 'function') return scale;
  if (typeof scale === 'number') return checkScale(scale, option);
  if (!Array.isArray(scale) || scale.length === 0) throw new UserError(`${option}: expected a number ≥ 0 or a non-empty list (one per step)`);
  scale.forEach((s, i) => checkScale(s, `${option}[${i}]`));
  return scale;
}

/** The scale at a step. */
export function scaleAt(scale: ScaleSchedule, at: StepInfo, option = 'scale'): number {
  if (typeof scale === 'number') return scale;
  if (typeof scale === 'function') return checkScale(scale(at), `${option} at step ${at.step}`);
  if (scale.length !== at.numSteps) throw new UserError(`${option}: ${scale.length} per-step values for a ${at.numSteps}-step loop`);
  return scale[at.step];
}

/** Checks a window: fractions in [0, 1] with from ≤ to, or σ bounds ≥ 0 with min ≤ max. */
export function checkWindow(w: StepWindow | undefined, option = 'window'): StepWindow | undefined {
  if (w === undefined) return undefined;
  const keys = Object.keys(w).filter((k) => (w as Record<string, unknown>)[k] !== undefined);
  const frac = keys.some((k) => k === 'from' || k === 'to');
  const sig = keys.some((k) => k === 'sigmaMin' || k === 'sigmaMax');
  const unknown = keys.filter((k) => !['from', 'to', 'sigmaMin', 'sigmaMax'].includes(k));
  if (unknown.length) throw new UserError(`${option}: unknown key "${unknown[0]}" (from/to or sigmaMin/sigmaMax)`);
  if (frac && sig) throw new UserError(`${option}: give a fraction of the steps (from/to) or a σ range (sigmaMin/sigmaMax), not both`);
  const num = (k: string, v: unknown) => {
    if (typeof v !== 'number' || !Number.isFinite(v)) throw new UserError(`${option}: ${k} ${String(v)} is not a number`);
    return v;
  };
  if (frac) {
    const { from = 0, to = 1 } = w as { from?: number; to?: number };
    for (const [k, v] of [['from', from], ['to', to]] as const) {
      if (num(k, v) < 0 || v > 1) throw new UserError(`${option}: ${k} ${v} is outside [0, 1] (a fraction of the steps)`);
    }
    if (from > to) throw new UserError(`${option}: from ${from} is after to ${to}`);
  } else {
    const { sigmaMin = 0, sigmaMax = Infinity } = w as { sigmaMin?: number; sigmaMax?: number };
    if (num('sigmaMin', sigmaMin) < 0) throw new UserError(`${option}: sigmaMin ${sigmaMin} is negative`);
    if (sigmaMax !== Infinity && num('sigmaMax', sigmaMax) < sigmaMin) throw new UserError(`${option}: sigmaMax ${sigmaMax} is below sigmaMin ${sigmaMin}`);
  }
  return w;
}

/** Whether a step is inside the window (no window: every step). */
export function inWindow(w: StepWindow | undefined, at: StepInfo): boolean {
  if (!w) return true;
  if ('sigmaMin' in w || 'sigmaMax' in w) {
    const { sigmaMin = 0, sigmaMax = Infinity } = w as { sigmaMin?: number; sigmaMax?: number };
    return at.sigma >= sigmaMin && at.sigma <= sigmaMax;
  }
  const { from = 0, to = 1 } = w as { from?: number; to?: number };
  const p = at.step / at.numSteps;
  // `to` = 1 takes the last step too; otherwise the window is half open so adjacent windows do not overlap.
  return p >= from && (p < to || to === 1);
}

/**
 * `0.2:0.8` (fractions of the steps) or `sigma=0.5:14` (a σ range; either side may be empty) as a window.
 */
export function parseWindow(spec: string, option = '--window'): StepWindow {
  const m = /^(sigma\s*=\s*)?([^:]*):([^:]*)$/.exec(spec.trim());
  if (!m) throw new UserError(`${option} "${spec}": expected FROM:TO (fractions of the steps, e.g. 0.2:0.8) or sigma=MIN:MAX`);
  const side = (s: string, dflt: number | undefined) => {
    if (s.trim() === '') return dflt;
    const v = Number(s);
    if (!Number.isFinite(v)) throw new UserError(`${option} "${spec}": "${s}" is not a number`);
    return v;
  };
  const w: StepWindow = m[1] ? { sigmaMin: side(m[2], undefined), sigmaMax: side(m[3], undefined) } : { from: side(m[2], 0), to: side(m[3], 1) };
  return checkWindow(w, option)!;
}

/** A list of scales from `0,1,2,4,8` (each ≥ 0). */
export function parseScales(spec: string, option = '--scales'): number[] {
  const parts = spec.split(',').map((s) => s.trim()).filter(Boolean);
  if (parts.length === 0) throw new UserError(`${option} "${spec}": expected a comma-separated list of scales, e.g. 0,1,2,4,8`);
  return parts.map((p) => checkScale(Number(p), `${option} ${p}:`));
}

/** Gradient post-processing, per image. */
export interface GradientShaping {
  /** Rescale the gradient to the norm of the model's ε prediction (scale is then relative to ε). */
  normalize?: boolean;
  /** Then shrink it to at most this root-mean-square value (> 0). */
  clip?: number;
}

export function checkShaping(s: GradientShaping): GradientShaping {
  if (s.clip !== undefined && !(typeof s.clip === 'number' && s.clip > 0 && Number.isFinite(s.clip))) throw new UserError(`clip ${String(s.clip)}: expected a number > 0 (the largest root-mean-square gradient)`);
  if (s.normalize !== undefined && typeof s.normalize !== 'boolean') throw new UserError(`normalize ${String(s.normalize)}: expected true or false`);
  return s;
}

export function checkRecurrence(k: number | undefined, option = 'recurrence'): number {
  const v = k ?? 1;
  if (!Number.isInteger(v) || v < 1 || v > 100) throw new UserError(`${option} ${String(k)}: expected an integer from 1 to 100 (Universal Guidance's self-recurrence steps)`);
  return v;
}

/**
 * λ of the implausibility-heatmap penalty (a finite number ≥ 0; 0 = off): the guided objective becomes
 * Σ w·score − λ·P, P the soft-max mean of the reward's implausibility map (@richhf/reward's ScoreGradOptions).
 */
export function checkHeatmapPenalty(l: number | undefined, option = 'heatmapPenalty'): number {
  const v = l ?? 0;
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) throw new UserError(`${option} ${String(l)}: expected a finite number ≥ 0 (0 = no heatmap penalty)`);
  return v;
}

/** Decode x̂₀ at 1/factor of the resolution (latents average-pooled by `factor`, an integer ≥ 1). */
export function checkDecodeDownscale(f: number | undefined, option = 'decodeDownscale'): number {
  const v = f ?? 1;
  if (!Number.isInteger(v) || v < 1) throw new UserError(`${option} ${String(f)}: expected an integer ≥ 1 (1 = full resolution)`);
  return v;
}
