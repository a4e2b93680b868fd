import * as fs from 'fs';
import * as path from 'path';
import { UserError } from '../errors';
import { DEFAULT_LIMITS, Limits, limitOptionName, setLimits } from '../io/limits';

/*
 * Option checks every `rahf` command runs before any work (no model loaded, no file written), so a typo
 * costs nothing: `--batch-size abc` reaches a handler as NaN and used to score nothing with exit 0, and an
 * `--out` naming a file failed after the first image with a raw EEXIST.
 */

/** `--name` must be an integer in [min, max] (unset passes). */
export function checkInt(name: string, v: number | undefined, min = 1, max = Number.MAX_SAFE_INTEGER): void {
  if (v === undefined) return;
  if (!(Number.isInteger(v) && v >= min && v <= max)) {
    const range = max === Number.MAX_SAFE_INTEGER ? `>= ${min}` : `in [${min}, ${max}]`;
    throw new UserError(`--${name} must be an integer ${range}, got ${String(v)}`);
  }
}

/** `--name` must be an integer in [lo, hi] (set). */
export function checkIntIn(name: string, v: number, lo: number, hi: number): void {
  if (!Number.isInteger(v) || v < lo || v > hi) throw new UserError(`--${name} must be an integer in [${lo}, ${hi}], got ${String(v)}`);
}

/** `--name` must be a finite number > 0 (≥ 0 with allowZero; unset passes). */
export function checkNumber(name: string, v: number | undefined, allowZero = false): void {
  if (v !== undefined && !(Number.isFinite(v) && (allowZero ? v >= 0 : v > 0))) {
    throw new UserError(`--${name} must be a number ${allowZero ? '>= 0' : '> 0'}, got ${String(v)}`);
  }
}

/** Every entry of an array option must be a finite number. */
export function checkNumbers(name: string, v: number[] | undefined): void {
  if (v?.some((x) => !Number.isFinite(x))) throw new UserError(`--${name} must be numbers, got ${v.join(' ')}`);
}

type PathKind = 'file' | 'dir' | 'any';

/** `--name` must exist (as a file, a directory, or either); unset passes. */
export function checkExists(name: string, p: string | undefined, kind: PathKind = 'any'): void {
  if (p === undefined) return;
  if (p === '') throw new UserError(`--${name} is empty`);
  let st: fs.Stats;
  try {
    st = fs.statSync(p);
  } catch {
    throw new UserError(`--${name} ${p}: no such ${kind === 'dir' ? 'directory' : kind === 'file' ? 'file' : 'file or directory'}`);
  }
  if (kind === 'dir' && !st.isDirectory()) throw new UserError(`--${name} ${p}: not a directory`);
  if (kind === 'file' && !st.isFile()) throw new UserError(`--${name} ${p}: not a regular file`);
}

/** `--name` is a folder to write into: absent (it is created) or a directory, never a file. */
export function checkOutDir(name: string, p: string | undefined): void {
  if (p === undefined) return;
  if (p === '') throw new UserError(`--${name} is empty`);
  if (fs.existsSync(p) && !fs.statSync(p).isDirectory()) throw new UserError(`--${name} ${p}: exists and is not a directory`);
  const parent = nearestExisting(path.dirname(path.resolve(p)));
  if (!fs.statSync(parent).isDirectory()) throw new UserError(`--${name} ${p}: ${parent} is not a directory`);
}

/** `--name` is a file to write: not a directory, and its folder exists or can be made (no file in the way). */
export function checkOutFile(name: string, p: string | undefined): void {
  if (p === undefined) return;
  if (p === '') throw new UserError(`--${name} is empty`);
  if (fs.existsSync(p) && fs.statSync(p).isDirectory()) throw new UserError(`--${name} ${p}: is a directory; it names a file to write`);
  const parent = nearestExisting(path.dirname(path.resolve(p)));
  if (!fs.statSync(parent).isDirectory()) throw new UserError(`--${name} ${p}: ${parent} is not a directory`);
}

function nearestExisting(dir: string): string {
  let d = dir;
  while (!fs.existsSync(d)) {
    const up = path.dirname(d);
    if (up === d) break;
    d = up;
  }
  return d;
}

const LIMIT_KEYS = Object.keys(DEFAULT_LIMITS) as (keyof Limits)[];

/** yargs options for the input limits (io/limits.ts), as `--max-image-pixels` etc. (main.ts declares them). */
export const LIMIT_OPTIONS: Record<string, { type: 'number'; describe: string; group: string }> = Object.fromEntries(
  LIMIT_KEYS.map((k) => [
    limitOptionName(k).slice(2),
    { type: 'number' as const, describe: `input limit ${k} (default ${DEFAULT_LIMITS[k]}; see io/limits.ts)`, group: 'Input limits:' },
  ]),
);

/** The `--max-*` options given on the command line, checked and put in force for the process. */
export function applyLimitOptions(argv: Record<string, unknown>): void {
  const changes: Partial<Limits> = {};
  for (const k of LIMIT_KEYS) {
    const name = limitOptionName(k).slice(2);
    const v = argv[name];
    if (v === undefined) continue;
    if (typeof v !== 'number' || !(Number.isSafeInteger(v) && v > 0)) throw new UserError(`--${name} must be a positive integer, got ${String(v)}`);
    changes[k] = v;
  }
  if (Object.keys(changes).length) setLimits(changes);
}
