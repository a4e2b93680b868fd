/**
 * 95 % percentile-bootstrap intervals (Efron): of a mean, and of a paired mean difference — the proof
 * compares generators on the same prompts and seeds, so item i of one is paired with item i of the other
 * and the resampling draws items, not the two sides apart. The resampling stream is seeded: the same data
 * give the same interval.
 */
import { Rng } from '@richhf/reward/data';

export interface Interval {
  value: number;
  lo: number;
  hi: number;
}

/** `0.123 [0.100, 0.150]`: an estimate with its interval, as the CLIs print them. */
export function formatInterval(x: Interval, digits = 3): string {
  return `${x.value.toFixed(digits)} [${x.lo.toFixed(digits)}, ${x.hi.toFixed(digits)}]`;
}

const round = (v: number) => Math.round(v * 1e6) / 1e6;

function percentile(sorted: Float64Array, q: number): number {
  const x = q * (sorted.length - 1);
  const i = Math.floor(x);
  return i + 1 < sorted.length ? sorted[i] + (sorted[i + 1] - sorted[i]) * (x - i) : sorted[i];
}

/** Mean of `values` with its 95 % bootstrap interval (`iters` resamples, default 2000). */
export function bootstrapMean(values: ArrayLike<number>, opts: { iters?: number; seed?: number | string } = {}): Interval {
  const n = values.length;
  if (n === 0) return { value: NaN, lo: NaN, hi: NaN };
  const iters = opts.iters ?? 2000;
  const rng = new Rng('bootstrap', opts.seed ?? 0, n);
  const means = new Float64Array(iters);
  let mean = 0;
  for (let i = 0; i < n; i++) mean += values[i];
  mean /= n;
  for (let b = 0; b < iters; b++) {
    let s = 0;
    for (let i = 0; i < n; i++) s += values[Math.floor(rng.next() * n)];
    means[b] = s / n;
  }
  means.sort();
  return { value: round(mean), lo: round(percentile(means, 0.025)), hi: round(percentile(means, 0.975)) };
}

/** Mean of b[i] − a[i] over paired items, with its 95 % bootstrap interval. */
export function pairedDifference(a: ArrayLike<number>, b: ArrayLike<number>, opts: { iters?: number; seed?: number | string } = {}): Interval {
  if (a.length !== b.length) throw new Error(`pairedDifference: ${a.length} against ${b.length} items`);
  return bootstrapMean(Float64Array.from({ length: a.length }, (_, i) => b[i] - a[i]), opts);
}

/** Whether an interval lies wholly on one side of 0. */
export const excludesZero = (iv: Interval): boolean => iv.lo > 0 || iv.hi < 0;
