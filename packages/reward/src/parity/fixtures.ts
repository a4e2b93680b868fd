import * as fs from 'fs';
import * as path from 'path';

/** Root of the parity fixtures: `RAHF_PARITY_DIR`, else the copy shipped in test/fixtures/parity. */
export function parityDir(): string {
  return process.env.RAHF_PARITY_DIR ?? path.resolve(__dirname, '../../test/fixtures/parity');
}

/** Sub-directories of `<parity>/<group>` (sorted); empty when the group is absent. */
export function caseDirs(group: string): string[] {
  const dir = path.join(parityDir(), group);
  if (!fs.existsSync(dir)) return [];
  return fs
    .readdirSync(dir, { withFileTypes: true })
    .filter((d) => d.isDirectory())
    .map((d) => path.join(dir, d.name))
    .sort();
}

export interface Mismatch {
  maxErr: number; // worst |a-e| / max(1, |e|)
  index: number;
}

/**
 * Worst error of `actual` against `expected`, absolute for |e| ≤ 1 and relative above — the parity
 * criterion (1e-4 abs, 1e-4 relative for large values).
 */
export function compare(actual: ArrayLike<number>, expected: ArrayLike<number>): Mismatch {
  if (actual.length !== expected.length) {
    throw new Error(`length ${actual.length} != expected ${expected.length}`);
  }
  let maxErr = 0;
  let index = -1;
  for (let i = 0; i < expected.length; i++) {
    const e = expected[i];
    const err = Math.abs(actual[i] - e) / Math.max(1, Math.abs(e));
    if (!(err <= maxErr)) {
      maxErr = Number.isNaN(err) ? Infinity : err;
      index = i;
    }
  }
  return { maxErr, index };
}

/** Jest assertion with a message naming the output key and the worst element. */
export function expectClose(key: string, actual: ArrayLike<number>, expected: ArrayLike<number>, tol = 1e-4): void {
  const m = compare(actual, expected);
  if (m.maxErr > tol) {
    throw new Error(
      `${key}: max error ${m.maxErr.toExponential(3)} > ${tol} at ${m.index} (got ${actual[m.index]}, want ${expected[m.index]})`,
    );
  }
}

/** max |a − b| / max |b| (the reference's scale): the relative error of gradients; Infinity on NaN or a length mismatch. */
export function relErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) return Infinity;
  let d = 0;
  let m = 0;
  for (let i = 0; i < b.length; i++) {
    const e = Math.abs(a[i] - b[i]);
    if (!(e <= d)) d = Number.isNaN(e) ? Infinity : e;
    m = Math.max(m, Math.abs(b[i]));
  }
  return d === 0 ? 0 : d / Math.max(m, 1e-30);
}
