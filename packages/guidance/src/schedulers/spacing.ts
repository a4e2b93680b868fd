/**
 * Timestep spacings of diffusers' `set_timesteps` ("linspace", "leading", "trailing": Table 2 of Lin et al.,
 * arXiv 2305.08891) and the numpy helpers they lean on, with numpy's exact arithmetic (round half to even,
 * linspace as i·step + start with the end point pinned, interp's formula) so timesteps and interpolated
 * sigmas equal diffusers' bit for bit.
 */

export type TimestepSpacing = 'linspace' | 'leading' | 'trailing';
export const TIMESTEP_SPACINGS: readonly TimestepSpacing[] = ['linspace', 'leading', 'trailing'];

/** numpy.round / numpy.rint: halves go to the even neighbour. */
export function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** numpy.linspace(start, stop, num) in float64. */
export function npLinspace(start: number, stop: number, num: number): Float64Array {
  const out = new Float64Array(num);
  const div = num - 1;
  const step = div > 0 ? (stop - start) / div : 0;
  for (let i = 0; i < num; i++) out[i] = i * step + start;
  if (num > 1) out[num - 1] = stop;
  return out;
}

/** numpy.interp(x, [0, 1, …, fp.length − 1], fp) in float64 (numpy's slope·(x − xⱼ) + fⱼ). */
export function interpUnitGrid(x: number, fp: ArrayLike<number>): number {
  const last = fp.length - 1;
  if (!(x > 0)) return fp[0];
  if (x >= last) return fp[last];
  const j = Math.floor(x);
  if (j === x) return fp[j];
  const slope = fp[j + 1] - fp[j];
  return slope * (x - j) + fp[j];
}

/**
 * Inference timesteps, descending, as float64 values before any dtype cast: DDIM/DDPM cast them to int64
 * (`integer: true`), the Euler schedulers to float32.
 *  - linspace: numpy.linspace(0, N − 1, n) (rounded for integer schedulers)
 *  - leading:  (arange(n) · (N // n)) + steps_offset
 *  - trailing: round(arange(N, 0, −N / n)) − 1
 */
export function spacedTimesteps(
  spacing: TimestepSpacing,
  n: number,
  numTrainTimesteps: number,
  stepsOffset: number,
  integer: boolean,
): number[] {
  const N = numTrainTimesteps;
  let ts: number[];
  if (spacing === 'linspace') {
    ts = [...npLinspace(0, N - 1, n)].map((t) => (integer ? roundHalfEven(t) : Math.fround(t))).reverse();
  } else if (spacing === 'leading') {
    const ratio = Math.floor(N / n);
    ts = Array.from({ length: n }, (_, i) => i * ratio + stepsOffset).reverse();
  } else {
    const ratio = N / n;
    // numpy.arange(N, 0, −ratio): ceil(N / ratio) elements start + i·delta, where numpy takes delta as the
    // difference of its first two values.
    const count = Math.ceil((0 - N) / -ratio);
    const delta = N - ratio - N;
    ts = Array.from({ length: count }, (_, i) => roundHalfEven(N + i * delta) - 1);
  }
  return ts;
}
