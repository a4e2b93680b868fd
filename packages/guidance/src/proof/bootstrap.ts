/**
 * Paired bootstrap: the mean of per-seed differences (guided − unguided at the same seed) and its 95 %
 * percentile interval over `rounds` resamples of the seeds (with replacement), from a seeded generator so
 * a rerun prints the same interval.
 */
export interface Interval {
  value: number;
  lo: number;
  hi: number;
}

export function pairedBootstrap(a: readonly number[], b: readonly number[], opts: { rounds?: number; seed?: number; level?: number } = {}): Interval {
  if (a.length !== b.length || a.length === 0) throw new RangeError(`pairedBootstrap: ${a.length} and ${b.length} values`);
  const d = a.map((x, i) => x - b[i]);
  const n = d.length;
  const mean = d.reduce((s, x) => s + x, 0) / n;
  const rounds = opts.rounds ?? 4000;
  let s = (opts.seed ?? 1) >>> 0 || 1;
  const next = () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s / 4294967296;
  };
  const means = new Float64Array(rounds);
  for (let r = 0; r < rounds; r++) {
    let sum = 0;
    for (let i = 0; i < n; i++) sum += d[Math.floor(next() * n)];
    means[r] = sum / n;
  }
  means.sort();
  const tail = (1 - (opts.level ?? 0.95)) / 2;
  const at = (q: number) => means[Math.min(rounds - 1, Math.max(0, Math.round(q * (rounds - 1))))];
  return { value: mean, lo: at(tail), hi: at(1 - tail) };
}
