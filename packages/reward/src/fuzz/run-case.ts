import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import fc from 'fast-check';
import { UserError } from '../errors';
import { Files } from './encode';
import { applyMutation, Mutation, mutationArb } from './mutate';
import { Target } from './target';
import { annotationsTarget, parquetTarget, richhfTarget, tfrecordTarget } from './targets-data';
import { checkpointTarget, imageTarget, tokenizerTarget } from './targets-model';
import { safetensorsTarget, shardedTarget, torchTarget } from './targets-weights';

/** Every parser under fuzz, by name. */
export const TARGETS: Target<any, any>[] = [
  safetensorsTarget, shardedTarget, torchTarget, tfrecordTarget, richhfTarget, parquetTarget,
  tokenizerTarget, imageTarget, annotationsTarget, checkpointTarget,
];

export function targetByName(name: string): Target<any, any> {
  const t = TARGETS.find((x) => x.name === name || x.name.split(/[ ./]/)[0] === name);
  if (!t) throw new UserError(`unknown fuzz target "${name}" (${TARGETS.map((x) => x.name).join(', ')})`);
  return t;
}

/**
 * How one input ended:
 * - accepted: a result, consistent in itself (and equal to the valid input's for checksummed formats);
 * - refused: the package's UserError (or a subclass), one line, naming a file of the case;
 * - bad-error: anything else thrown (a raw TypeError/RangeError, an Error, a message naming no file);
 * - garbage: accepted, but inconsistent or different from what the checksums protect;
 * - valid-refused: the unmutated valid input was refused (a generator or parser bug).
 */
export type Verdict = 'accepted' | 'refused' | 'bad-error' | 'garbage' | 'valid-refused';

export interface CaseResult {
  target: string;
  seed: number;
  verdict: Verdict;
  ms: number;
  mutation: string;
  detail: string;
}

/** Where case folders go: RAM when there is /dev/shm (a fuzz run writes thousands). */
export function scratchRoot(): string {
  const base = fs.existsSync('/dev/shm') ? '/dev/shm' : os.tmpdir();
  return fs.mkdtempSync(path.join(base, 'rahf-fuzz-'));
}

function writeFiles(dir: string, files: Files): void {
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  for (const [name, bytes] of Object.entries(files)) fs.writeFileSync(path.join(dir, name), bytes);
}

/** The case of `seed`: a valid input's spec and a mutation of it (deterministic per seed). */
export function caseOf(target: Target<any, any>, seed: number): { spec: unknown; mutation: Mutation } {
  const [[spec, mutation]] = fc.sample(fc.tuple(target.spec, mutationArb({ json: target.json, files: 4 })), { seed, numRuns: 1 });
  return { spec, mutation };
}

function describeMutation(m: Mutation, changed: string): string {
  if (m.kind === 'none' || !changed) return 'none';
  if (m.kind === 'bytes') return `${changed}: ${m.ops.map((o) => o.op).join('+')}`;
  if (m.kind === 'json') return `${changed}: json ${m.remove ? 'remove' : `= ${JSON.stringify(m.value)?.slice(0, 40)}`}`;
  return `${changed}: deleted`;
}

/** Parse, then check what was accepted: both are the user's experience of the input. */
async function attempt<R>(
  target: Target<any, R>,
  dir: string,
  built: { main: string; context?: unknown },
): Promise<{ ok: true; result: R; bad?: string } | { ok: false; error: unknown }> {
  let result: R;
  try {
    result = await target.parse(dir, built.main, built.context);
  } catch (error) {
    return { ok: false, error };
  }
  try {
    return { ok: true, result, bad: target.check?.(result, dir, built.main) };
  } catch (error) {
    target.dispose?.(result);
    return { ok: false, error };
  }
}

function judgeError(e: unknown, dir: string): { verdict: Verdict; detail: string } {
  const name = e instanceof Error ? e.constructor.name : typeof e;
  const msg = e instanceof Error ? e.message : String(e);
  if (!(e instanceof UserError)) return { verdict: 'bad-error', detail: `${name}: ${msg.split('\n')[0].slice(0, 300)}` };
  if (msg.includes('\n')) return { verdict: 'bad-error', detail: `${name} of several lines: ${msg.slice(0, 300)}` };
  if (!msg.includes(dir)) return { verdict: 'bad-error', detail: `${name} naming no file: ${msg.slice(0, 300)}` };
  return { verdict: 'refused', detail: msg.slice(dir.length, dir.length + 200) };
}

/** Builds, mutates, writes and parses one case in `root`; judges how it ended. */
export async function runCase(target: Target<any, any>, seed: number, root: string): Promise<CaseResult> {
  const { spec, mutation } = caseOf(target, seed);
  const built = await target.build(spec);
  const { files, changed } = applyMutation(built.files, mutation);
  const dir = path.join(root, `${target.name.split(/[ ./]/)[0]}-${seed}`);
  const base = { target: target.name, seed, mutation: describeMutation(mutation, changed) };
  writeFiles(dir, files);
  const t0 = performance.now();
  const got = await attempt(target, dir, built);
  const ms = performance.now() - t0;
  try {
    if (!got.ok) {
      const j = judgeError(got.error, dir);
      if (!changed && j.verdict === 'refused') return { ...base, ms, verdict: 'valid-refused', detail: j.detail };
      return { ...base, ms, ...j };
    }
    if (got.bad) return { ...base, ms, verdict: 'garbage', detail: got.bad };
    if (changed && target.integrity) {
      writeFiles(dir, built.files);
      const valid = await attempt(target, dir, built);
      if (!valid.ok) return { ...base, ms, ...judgeError(valid.error, dir), verdict: 'valid-refused' };
      const same = target.sameContent ? target.sameContent(valid.result, got.result) : target.summary(valid.result) === target.summary(got.result);
      target.dispose?.(valid.result);
      if (!same) return { ...base, ms, verdict: 'garbage', detail: 'a checksummed file was accepted with different contents' };
    }
    return { ...base, ms, verdict: 'accepted', detail: '' };
  } finally {
    if (got.ok) target.dispose?.(got.result);
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
