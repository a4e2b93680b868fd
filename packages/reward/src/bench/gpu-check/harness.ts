import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { ScoreName } from '../../rahf/config';
import { relErr as sweepRelErr } from './sweep';

/*
 * What every part of the GPU check (main.ts) shares: its settings from the environment, the result
 * document and its failures, the budget clock, logging, and the check/part helpers.
 */

export type Json = Record<string, unknown>;

export const T_START = Date.now();
export const BUDGET_S = Number(process.env.GPU_CHECK_BUDGET_S ?? 420);
export const RUNS = Math.max(1, Number(process.env.GPU_CHECK_RUNS ?? 5));
export const TARGET = (process.env.GPU_CHECK_BACKEND ?? 'webgpu').trim();
export const DRY = TARGET === 'cpu';
export const PAPER = !DRY || process.env.GPU_CHECK_PAPER === '1';
/** The large model of the timings and the second parity check (another preset only for dry runs). */
export const PAPER_PRESET = process.env.GPU_CHECK_PRESET ?? 'paper';
/** Parts to run: a comma-separated subset of fixtures,train,timings,parity (paper = timings,parity). */
export const PARTS = new Set(
  (process.env.GPU_CHECK_PARTS ?? 'fixtures,train,timings,parity')
    .split(',')
    .flatMap((p) => (p.trim() === 'paper' ? ['timings', 'parity'] : [p.trim()])),
);
/**
 * GPU_CHECK_SWEEP=0 skips the settings sweep: timings and parity then run with the settings of the
 * environment (e.g. RAHF_WEBGPU_FUSED=on checks the fused kernels against cpu on the paper widths).
 */
export const SWEEP = process.env.GPU_CHECK_SWEEP !== '0';
/** Batch of the timed training step; 1 in the cpu dry run (tfjs-backend-cpu's Slice makes conv filter gradients slow). */
export const TRAIN_BATCH = Number(process.env.GPU_CHECK_TRAIN_BATCH ?? (DRY ? 1 : 4));
/** Tolerances: fixtures vs PyTorch (cpu is held to the project's 1e-4; GPUs sum in other orders). */
export const TOL_REF = TARGET === 'cpu' ? 1e-4 : 1e-3;
export const TOL_GRAD = 1e-3;
export const ALL_SCORES: Record<ScoreName, number> = { plausibility: 1, alignment: 1, aesthetics: 1, overall: 1 };

export const result: Json = {
  check: 'rahf-gpu',
  target: TARGET,
  budget_s: BUDGET_S,
  ok: false,
  notes: [] as string[],
  kernels: {},
  parity: {},
  paper_parity: {},
  timings: {},
};
export const notes = result.notes as string[];
/** WebGPU validation / OOM errors and device loss, as Dawn reports them. */
export const gpuErrors: string[] = [];
export let gpuErrorCount = 0;
result.gpu_errors = gpuErrors;

export const failures: string[] = [];

export const elapsed = () => (Date.now() - T_START) / 1000;
export const left = () => BUDGET_S - elapsed();
export function log(msg: string): void {
  process.stderr.write(`[gpu-check ${elapsed().toFixed(1).padStart(6)}s] ${msg}\n`);
}
export function note(msg: string): void {
  notes.push(msg);
  log(`note: ${msg}`);
}
export function save(): void {
  result.elapsed_s = Number(elapsed().toFixed(1));
  const out = process.env.OUT;
  if (!out) return;
  try {
    fs.mkdirSync(out, { recursive: true });
    fs.writeFileSync(path.join(out, 'gpu-check.json'), JSON.stringify(result, null, 2) + '\n');
  } catch (e) {
    log(`cannot write $OUT/gpu-check.json: ${(e as Error).message}`);
  }
}
export const r3 = (x: number) => (Number.isFinite(x) ? Number(x.toPrecision(3)) : String(x));

/** sweep.ts's relErr, but a length mismatch is a bug in the check, not a measurement. */
export function relErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} != ${b.length}`);
  return sweepRelErr(a, b);
}

/** Deterministic pixels in [0,1) (xorshift), the same on every backend. */
export function hostPixels(n: number, seed: number): Float32Array {
  let s = seed >>> 0 || 1;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    out[i] = s / 2 ** 32;
  }
  return out;
}

/** Record an error under `key` (its last word in `into`) and fail the check above `tol`. */
export function check(key: string, err: number, tol: number, into: Json): void {
  into[key.split(' ').pop()!] = r3(err);
  if (!(err <= tol)) failures.push(`${key} ${r3(err)} > ${tol}`);
}

/** Run one part; a failure is recorded and the check goes on with the next part. */
export async function part(name: string, fn: () => Promise<void>): Promise<void> {
  try {
    await fn();
  } catch (e) {
    // WebGPU errors arrive as DOMExceptions whose message may be empty; Dawn prints details on stderr.
    const msg = `${(e as Error).name ?? 'Error'}: ${(e as Error).message?.split('\n')[0] ?? String(e)}`;
    failures.push(`${name}: ${msg}`);
    log(`${name} failed: ${(e as Error).stack ?? msg}`);
  }
  save();
}

export async function setBackend(name: string): Promise<void> {
  if (tf.getBackend() === name) return;
  if (!(await tf.setBackend(name))) throw new Error(`cannot switch to tfjs backend ${name}`);
  await tf.ready();
}

export const PROMPTS = [
  'a photo of a red cat sitting on a blue sofa next to two green apples',
  'two astronauts riding a horse on the moon',
  'a man jumping into the river at night',
  'a bowl of soup with a spoon on a wooden table',
];
export const prompts = (n: number) => Array.from({ length: n }, (_, i) => PROMPTS[i % PROMPTS.length]);
