/**
 * Learning-rate schedules: linear warmup from 0, then
 * - `rsqrt`: reciprocal square-root decay, lr·sqrt(warmup / step) — the RichHF paper's schedule
 *   (the T5/ViT-finetuning default); it needs no known end, so it suits time-budgeted runs;
 * - `cosine`: half a cosine from lr down to `minLr` at `progress` 1 (the end of the run).
 * Steps count from 1 (the first update uses step 1).
 * Either can end in a linear cooldown to 0 over the run's last fraction (`cooldownFactor`): rsqrt with a
 * linear cooldown is how Zhai et al. ("Scaling Vision Transformers", 2022) train ViTs without a known end.
 */
export type ScheduleName = 'rsqrt' | 'cosine';
export const SCHEDULES: readonly ScheduleName[] = ['rsqrt', 'cosine'];

export interface ScheduleOptions {
  name: ScheduleName;
  /** Peak learning rate. */
  lr: number;
  /** Warmup steps (linear from lr/warmup at step 1 to lr at step `warmup`); 0 = none. */
  warmup: number;
  /** Final learning rate of the cosine schedule (default 0). */
  minLr?: number;
}

/**
 * Learning rate of update `step` (1-based). `progress` in [0, 1] is how far the run is (step/total, or
 * elapsed/budget for a time-limited run); only the cosine schedule uses it.
 */
export function learningRate(s: ScheduleOptions, step: number, progress = 0): number {
  if (!(step >= 1)) throw new Error(`schedule: step must be >= 1, got ${step}`);
  if (s.warmup > 0 && step < s.warmup) return (s.lr * step) / s.warmup;
  if (s.name === 'rsqrt') return s.warmup > 0 ? s.lr * Math.sqrt(s.warmup / step) : s.lr / Math.sqrt(step);
  const minLr = s.minLr ?? 0;
  const p = Math.min(1, Math.max(0, progress));
  return minLr + 0.5 * (s.lr - minLr) * (1 + Math.cos(Math.PI * p));
}

/**
 * Progress of a cosine schedule after warmup: the fraction of post-warmup steps done, or, for a run
 * limited only by time, the fraction of the time budget used.
 */
export function cosineProgress(step: number, warmup: number, totalSteps?: number, elapsedSec?: number, budgetSec?: number): number {
  if (totalSteps !== undefined) return totalSteps <= warmup ? 1 : (step - warmup) / (totalSteps - warmup);
  if (budgetSec !== undefined && elapsedSec !== undefined && budgetSec > 0) return elapsedSec / budgetSec;
  return 0;
}

/**
 * How far a run is, in [0, 1]: the larger of step/totalSteps and elapsed/budget (a run stops at whichever
 * limit it reaches first); 0 when neither limit is known.
 */
export function runProgress(step: number, totalSteps?: number, elapsedSec?: number, budgetSec?: number): number {
  let p = 0;
  if (totalSteps !== undefined && totalSteps > 0) p = Math.max(p, step / totalSteps);
  if (budgetSec !== undefined && elapsedSec !== undefined && budgetSec > 0) p = Math.max(p, elapsedSec / budgetSec);
  return Math.min(1, p);
}

/**
 * Learning-rate factor of a linear cooldown over the last `fraction` of the run: 1 before it, then down
 * to 0 at `progress` 1. `fraction` 0 turns it off.
 */
export function cooldownFactor(progress: number, fraction: number): number {
  if (!(fraction >= 0 && fraction <= 1)) throw new Error(`schedule: cooldown must be in [0, 1], got ${fraction}`);
  if (fraction === 0 || progress <= 1 - fraction) return 1;
  return Math.max(0, (1 - progress) / fraction);
}
