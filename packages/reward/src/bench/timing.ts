/** One warm-up call of `fn` (kernel set-up, weight uploads), then `runs` timed calls: median and fastest, seconds. */
export async function timeRuns(runs: number, fn: () => Promise<unknown>): Promise<{ median_s: number; min_s: number }> {
  await fn();
  const ts: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = process.hrtime.bigint();
    await fn();
    ts.push(Number(process.hrtime.bigint() - t0) / 1e9);
  }
  ts.sort((a, b) => a - b);
  return { median_s: ts[Math.floor(ts.length / 2)], min_s: ts[0] };
}
