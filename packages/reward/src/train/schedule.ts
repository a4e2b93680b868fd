/**
 * Learning-rate schedules: linear warmup from 0, then
 * - `rsqrt`: reciprocal square-root decay, lr·sqrt(warmup / step) — the RichHF paper's schedule
 *   (the T5/ViT-finetuning default); it needs no known end, so it suits time-budgeted runs;
 * - `cosine`: half a cosine from lr down to `minLr` at `progress` 1 (the end of the run).
 * Steps count from 1 (the first update uses step 1).
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
