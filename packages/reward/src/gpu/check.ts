/**
 * GPU check of the differentiable RAHF model on tfjs-backend-webgpu (Dawn in Node). A dev tool for the
 * lent GPU machine, not a test: scripts/build-gpu-check.sh bundles it into .gpu-carry/app/gpu-check.js,
 * which runs there as `bash .gpu-carry/run.sh .gpu-carry/app/gpu-check.js [fixturesDir]` from the repo
 * root (the parity fixtures travel with the repo copy). In order:
 *
 *   a. initialise webgpu through src/backend.ts (exit 2 with its one-line error without an adapter);
 *   b. the RAHF parity fixtures on cpu (profiled: the kernels RAHF dispatches) and on the target:
 *      scores / heatmaps / keyword ids / sequence loss vs the PyTorch reference, scoreGrad and (for the
 *      multi-head case, one image) every parameter's gradient of a multi-task loss vs cpu; then every
 *      kernel used (plus an Adam step's) must be registered on the target;
 *   c. timings on the target (median of GPU_CHECK_RUNS ≥ 5 after a warm-up): a tiny-preset training
 *      step (batch 4); on webgpu a settings sweep on the paper preset (src/gpu/sweep.ts: matMul and
 *      conv programs, weight transposes, fused norm / GELU / softmax kernels, tfjs-backend-webgpu
 *      flags; each setting's outputs checked
 *      against the previous defaults'), whose winner stays applied for the rest; the paper preset
 *      (random weights): scores-only forward at batch 1 and 32, forward with heatmaps at batch 1,
 *      scoreGrad at batch 1; then GPU time per kernel of one batch-32 forward (tf.profile);
 *   d. paper-size numerics: batch-4 vs batch-1 consistency of the full model on the target, and
 *      target vs cpu on the paper preset's widths with 2 layers at 16 px (cpu is far too slow for
 *      the full model: minutes per forward) — scores, heatmaps, scoreGrad; the full model's scores
 *      vs cpu only when the budget leaves room;
 *   e. one JSON line on stdout at the end, also written to $OUT/gpu-check.json after every part; an
 *      overall budget (GPU_CHECK_BUDGET_S, default 420 s): parts that no longer fit are skipped with a
 *      note. A part that throws is recorded as a failure and the next part runs. Exit code 0 when
 *      every check passed, 1 otherwise, 2 without webgpu, 3 when the budget watchdog fired.
 *
 * Environment: GPU_CHECK_BACKEND (default webgpu; `cpu` is the dry run for machines without a GPU:
 * every step runs with cpu as the target, the paper-sized parts only with GPU_CHECK_PAPER=1),
 * GPU_CHECK_BUDGET_S, GPU_CHECK_RUNS (timed runs, default 5), GPU_CHECK_SWEEP (0: no settings sweep),
 * GPU_CHECK_PARTS (a comma-separated
 * subset of fixtures,train,timings,parity; paper = timings,parity), GPU_CHECK_PARITY_SIZE and
 * GPU_CHECK_PARITY_LAYERS (input side and depth of the paper-width parity model, default 16 px, 2
 * layers), GPU_CHECK_TRAIN_BATCH (default 4), GPU_CHECK_PRESET (the large model, default paper),
 * RAHF_DAWN_OPTIONS (Dawn toggles; `backend=null` runs the webgpu code path without a GPU, computing
 * garbage, with 512 MB of device memory: use GPU_CHECK_PRESET=tiny GPU_CHECK_TRAIN_BATCH=1), OUT.
 *
 * Reads results with `await t.data()` only: dataSync() of a webgpu tensor needs OffscreenCanvas,
 * which Node lacks.
 */
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../backend';
import { webgpuAdapterDescription } from '../backend-webgpu';
import { readSafetensors } from '../io/safetensors';
import { HostTensor } from '../io/tensors';
import { Params } from '../nn/params';
import { compare } from '../parity/fixtures';
import { t5ConfigFromHF } from '../models/t5';
import { vitConfigFromHF } from '../models/vit';
import { HEATMAP_NAMES, RahfConfig, SCORE_NAMES, ScoreName, heatmapSize, validateRahfConfig } from '../rahf/config';
import { initRahfParams } from '../rahf/init';
import { RewardModel } from '../rahf/model';
import { getPreset } from '../rahf/presets';
import { Tokenizer } from '../tokenizer';
import { disposeBatch } from '../train/data';
import { LossWeights, TensorBatch, multiTaskLoss as trainLoss } from '../train/loss';
import { AdamW, clipGlobalNorm } from '../train/optimizer';
import { convModeNow, matMulMode } from './matmul';
import { fusedOpsEnabled } from './norm';
import { fusedSoftmaxEnabled } from './softmax';
import { Setting, SweepRow, relErr as sweepRelErr, sweepSettings } from './sweep';

type Json = Record<string, unknown>;

const T_START = Date.now();
const BUDGET_S = Number(process.env.GPU_CHECK_BUDGET_S ?? 420);
const RUNS = Math.max(1, Number(process.env.GPU_CHECK_RUNS ?? 5));
const TARGET = (process.env.GPU_CHECK_BACKEND ?? 'webgpu').trim();
const DRY = TARGET === 'cpu';
const PAPER = !DRY || process.env.GPU_CHECK_PAPER === '1';
/** The large model of the timings and the second parity check (another preset only for dry runs). */
const PAPER_PRESET = process.env.GPU_CHECK_PRESET ?? 'paper';
/** Parts to run: a comma-separated subset of fixtures,train,timings,parity (paper = timings,parity). */
const PARTS = new Set(
  (process.env.GPU_CHECK_PARTS ?? 'fixtures,train,timings,parity')
    .split(',')
    .flatMap((p) => (p.trim() === 'paper' ? ['timings', 'parity'] : [p.trim()])),
);
/**
 * GPU_CHECK_SWEEP=0 skips the settings sweep: timings and parity then run with the settings of the
 * environment (e.g. RAHF_WEBGPU_FUSED=on checks the fused kernels against cpu on the paper widths).
 */
const SWEEP = process.env.GPU_CHECK_SWEEP !== '0';
/** Batch of the timed training step; 1 in the cpu dry run (tfjs-backend-cpu's Slice makes conv filter gradients slow). */
const TRAIN_BATCH = Number(process.env.GPU_CHECK_TRAIN_BATCH ?? (DRY ? 1 : 4));
/** Tolerances: fixtures vs PyTorch (cpu is held to the project's 1e-4; GPUs sum in other orders). */
const TOL_REF = TARGET === 'cpu' ? 1e-4 : 1e-3;
const TOL_GRAD = 1e-3;
const ALL_SCORES: Record<ScoreName, number> = { plausibility: 1, alignment: 1, aesthetics: 1, overall: 1 };

/** The parts of a tfjs-backend-webgpu device the check listens to. */
interface GpuDeviceLike {
  limits?: Record<string, number>;
  onuncapturederror: ((ev: { error?: { message?: string } }) => void) | null;
  lost?: Promise<{ reason?: string; message?: string }>;
}

const result: Json = {
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
const notes = result.notes as string[];
/** WebGPU validation / OOM errors and device loss, as Dawn reports them. */
const gpuErrors: string[] = [];
let gpuErrorCount = 0;
result.gpu_errors = gpuErrors;

const failures: string[] = [];

const elapsed = () => (Date.now() - T_START) / 1000;
const left = () => BUDGET_S - elapsed();
function log(msg: string): void {
  process.stderr.write(`[gpu-check ${elapsed().toFixed(1).padStart(6)}s] ${msg}\n`);
}
function note(msg: string): void {
  notes.push(msg);
  log(`note: ${msg}`);
}
function save(): void {
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
const r3 = (x: number) => (Number.isFinite(x) ? Number(x.toPrecision(3)) : String(x));

// ------------------------------------------------------------------------------------------------
// Numbers

/** sweep.ts's relErr, but a length mismatch is a bug in the check, not a measurement. */
function relErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} != ${b.length}`);
  return sweepRelErr(a, b);
}

/** Deterministic pixels in [0,1) (xorshift), the same on every backend. */
function hostPixels(n: number, seed: number): Float32Array {
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

function nchwToNhwc(t: HostTensor): { data: Float32Array; shape: [number, number, number, number] } {
  const [b, c, h, w] = t.shape;
  const src = t.data as Float32Array;
  const out = new Float32Array(src.length);
  for (let n = 0; n < b; n++)
    for (let y = 0; y < h; y++)
      for (let x = 0; x < w; x++)
        for (let k = 0; k < c; k++) out[((n * h + y) * w + x) * c + k] = src[((n * c + k) * h + y) * w + x];
  return { data: out, shape: [b, h, w, c] };
}

/** The webgpu knobs in effect (code defaults at start; the sweep's choice after it). */
function webgpuSettings(): Json {
  const flags: Json = {};
  for (const k of ['WEBGPU_DEFERRED_SUBMIT_BATCH_SIZE', 'WEBGPU_USE_NAIVE_CONV2D_TRANSPOSE', 'WEBGPU_CONV_SEPARATE_IM2COL_SHADER', 'WEBGPU_CPU_FORWARD']) {
    flags[k] = tf.env().get(k);
  }
  return { matmul: matMulMode(), conv: convModeNow(), linear: process.env.RAHF_LINEAR_TRANSPOSE === 'explicit' ? 'explicit' : 'flag', fused: !fusedOpsEnabled() ? 'none' : fusedSoftmaxEnabled() ? 'all' : 'norms', flags };
}

async function setBackend(name: string): Promise<void> {
  if (tf.getBackend() === name) return;
  if (!(await tf.setBackend(name))) throw new Error(`cannot switch to tfjs backend ${name}`);
  await tf.ready();
}

// ------------------------------------------------------------------------------------------------
// Model copies: each backend gets its own variables (moving a webgpu tensor to cpu would read it
// synchronously, which Node cannot do).

type HostParams = Map<string, { shape: number[]; data: Float32Array }>;

interface HostModel {
  config: RahfConfig;
  tokenizer: Tokenizer;
  host: HostParams;
}

/** A model's variables (internal layout) on the host, to rebuild it on another backend. */
async function hostModel(m: RewardModel): Promise<HostModel> {
  const host: HostParams = new Map();
  for (const [k, v] of m.params.tensors) host.set(k, { shape: [...v.shape], data: (await v.data()) as Float32Array });
  return { config: m.config, tokenizer: m.tokenizer, host };
}

/** The model on the current backend. */
function modelFromHost(h: HostModel, trainable: boolean): RewardModel {
  const vars = new Map<string, tf.Variable>();
  for (const [k, p] of h.host) {
    const t = tf.tensor(p.data, p.shape, 'float32');
    vars.set(k, tf.variable(t, trainable, undefined, 'float32'));
    t.dispose();
  }
  return RewardModel.fromParts(h.config, h.tokenizer, new Params(vars));
}

// ------------------------------------------------------------------------------------------------
// What one backend computes for a case; everything comes back as host arrays.

interface Outputs {
  scores: Record<string, Float32Array>;
  heatmaps?: Record<string, Float32Array>;
  gradScores?: Record<string, Float32Array>;
  grad?: Float32Array;
  keywordIds?: number[][];
  seqLoss?: number;
  paramGrads?: Map<string, Float32Array>;
}

interface CaseInput {
  pixels01: Float32Array; // NHWC in [0,1]
  shape: [number, number, number, number];
  prompts: string[];
  targets?: string[]; // keyword sequences for the sequence loss
  keywordTokens?: number;
}

/** Scores + heatmaps (MSE to 0.5), the sequence loss: a multi-task loss touching every head. */
function fixtureLoss(m: RewardModel, x: tf.Tensor4D, prompts: string[], targets: string[]): tf.Scalar {
  const out = m.forward(x, prompts, { heatmaps: true });
  let loss: tf.Tensor = m.sequenceLoss(x, prompts, targets);
  for (const t of SCORE_NAMES) loss = tf.add(loss, tf.mean(tf.square(tf.sub(out.scores[t], 0.5))));
  for (const t of HEATMAP_NAMES) loss = tf.add(loss, tf.mean(tf.square(tf.sub(out.heatmaps![t], 0.5))));
  return loss as tf.Scalar;
}

interface Parts {
  heatmaps: boolean;
  grad: boolean;
  keywords: boolean;
  seqLoss: boolean;
  /** Gradients of the multi-task loss for every parameter, on the first `paramGradBatch` images. */
  paramGrads: boolean;
  paramGradBatch?: number;
  /** Skip the plain forward (scoreGrad returns the scores too). */
  noForward?: boolean;
  /** Score weights of scoreGrad (default: all four). */
  gradWeights?: Partial<Record<ScoreName, number>>;
}

async function runCase(m: RewardModel, inp: CaseInput, parts: Parts): Promise<Outputs> {
  const x01 = tf.tensor4d(inp.pixels01, inp.shape);
  const x = m.preprocess(x01);
  try {
    const out: Outputs = { scores: {} };
    if (!(parts.noForward && parts.grad)) {
      const fwd = m.forward(x, inp.prompts, { heatmaps: parts.heatmaps });
      for (const t of SCORE_NAMES) out.scores[t] = (await fwd.scores[t].data()) as Float32Array;
      if (fwd.heatmaps) {
        out.heatmaps = {};
        for (const t of HEATMAP_NAMES) out.heatmaps[t] = (await fwd.heatmaps[t].data()) as Float32Array;
      }
      tf.dispose(fwd as unknown as tf.TensorContainer);
    }
    if (parts.grad) {
      const g = await m.scoreGrad(x01, inp.prompts, parts.gradWeights ?? ALL_SCORES);
      out.gradScores = g.scores;
      if (parts.noForward) out.scores = g.scores;
      out.grad = (await g.grad.data()) as Float32Array;
      g.grad.dispose();
    }
    if (parts.keywords) out.keywordIds = await m.generateKeywordIds(x, inp.prompts, inp.keywordTokens ?? 8);
    if (parts.seqLoss && inp.targets) {
      const l = m.sequenceLoss(x, inp.prompts, inp.targets);
      out.seqLoss = (await l.data())[0];
      l.dispose();
    }
    if (parts.paramGrads && inp.targets) {
      const vars = m.params.variables();
      const n = Math.min(parts.paramGradBatch ?? inp.shape[0], inp.shape[0]);
      const xb = n < inp.shape[0] ? tf.slice(x, [0, 0, 0, 0], [n, -1, -1, -1]) : x;
      const { value, grads } = tf.variableGrads(() => fixtureLoss(m, xb, inp.prompts.slice(0, n), inp.targets!.slice(0, n)), vars);
      value.dispose();
      if (xb !== x) xb.dispose();
      out.paramGrads = new Map();
      const names = new Map(vars.map((v) => [v.name, v]));
      const byVar = new Map([...m.params.tensors].map(([k, v]) => [v.name, k]));
      for (const [vn, g] of Object.entries(grads)) {
        if (names.has(vn)) out.paramGrads.set(byVar.get(vn) ?? vn, (await g.data()) as Float32Array);
      }
      tf.dispose(grads);
    }
    return out;
  } finally {
    tf.dispose([x01, x]);
  }
}

/** Worst relative error over all parameter gradients (each against its own scale). */
function paramGradErr(a: Map<string, Float32Array>, b: Map<string, Float32Array>): { err: number; worst: string } {
  let globalMax = 0;
  for (const g of b.values()) for (const v of g) globalMax = Math.max(globalMax, Math.abs(v));
  let err = 0;
  let worst = '';
  for (const [k, gb] of b) {
    const ga = a.get(k);
    if (!ga) return { err: Infinity, worst: `${k} (missing)` };
    let d = 0;
    let m = 0;
    for (let i = 0; i < gb.length; i++) {
      d = Math.max(d, Number.isNaN(ga[i]) ? Infinity : Math.abs(ga[i] - gb[i]));
      m = Math.max(m, Math.abs(gb[i]));
    }
    // Parameters whose gradient is ~0 everywhere (unused relative-position buckets) are judged on the global scale.
    const e = d === 0 ? 0 : d / Math.max(m, 1e-3 * globalMax, 1e-30);
    if (!(e <= err)) {
      err = e;
      worst = k;
    }
  }
  return { err, worst };
}

function concatScores(s: Record<string, Float32Array>): Float32Array {
  return Float32Array.from(SCORE_NAMES.flatMap((t) => [...s[t]]));
}
function concatHeat(h: Record<string, Float32Array>): Float32Array {
  return Float32Array.from(HEATMAP_NAMES.flatMap((t) => [...h[t]]));
}

/** Record an error under `key` (its last word in `into`) and fail the check above `tol`. */
function check(key: string, err: number, tol: number, into: Json): void {
  into[key.split(' ').pop()!] = r3(err);
  if (!(err <= tol)) failures.push(`${key} ${r3(err)} > ${tol}`);
}

// ------------------------------------------------------------------------------------------------
// b. kernels and fixture parity

function fixturesRoot(): string {
  const arg = process.argv.slice(2).find((a) => !a.startsWith('-'));
  const candidates = [
    arg,
    process.env.RAHF_PARITY_DIR,
    path.resolve('packages/reward/test/fixtures/parity'),
    path.resolve('test/fixtures/parity'),
  ].filter((c): c is string => Boolean(c));
  const found = candidates.find((c) => fs.existsSync(path.join(c, 'rahf')));
  if (!found) throw new Error(`gpu-check: no parity fixtures (looked in ${candidates.join(', ')}); run from the repo root or pass the fixtures directory`);
  return found;
}

interface FixtureCase {
  name: string;
  dir: string;
  input: CaseInput;
  io: Map<string, HostTensor>;
}

function fixtureCases(root: string): FixtureCase[] {
  const rahf = path.join(root, 'rahf');
  return fs
    .readdirSync(rahf, { withFileTypes: true })
    .filter((d) => d.isDirectory() && fs.existsSync(path.join(rahf, d.name, 'io.safetensors')))
    .map((d) => d.name)
    .sort()
    .map((name) => {
      const dir = path.join(rahf, name);
      const cfg = JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8'));
      const io = readSafetensors(path.join(dir, 'io.safetensors'));
      const px = nchwToNhwc(io.get('pixel_values_nchw')!);
      const mean = cfg.image_mean ?? 0.5;
      const std = cfg.image_std ?? 0.5;
      // The fixture pixels are normalised; the model's preprocess maps [0,1] back to exactly them.
      const pixels01 = px.data.map((v) => v * std + mean);
      const gen = io.get('generated_ids');
      return {
        name,
        dir,
        io,
        input: {
          pixels01,
          shape: px.shape,
          prompts: cfg.captions as string[],
          targets: cfg.target_text_for_loss as string[],
          keywordTokens: gen ? gen.shape[1] - 1 : 8,
        },
      };
    });
}

/** Kernels dispatched by the cpu runs of the fixtures (op and customGrad scope names filtered out later). */
const usedKernels = new Set<string>();

/** Kernels RAHF dispatches (recorded on cpu, plus clipping and an AdamW step) that the target lacks. */
async function kernelCoverage(): Promise<void> {
  await setBackend('cpu');
  const opt = new AdamW();
  const vars = new Map([
    ['a', tf.variable(tf.ones([3, 2]), true)],
    ['b', tf.variable(tf.ones([2]), true)],
  ]);
  const prof = await tf.profile(async () => {
    const { value, grads } = tf.variableGrads(() => tf.sum(tf.square(tf.add(vars.get('a')!, vars.get('b')!))) as tf.Scalar, [...vars.values()]);
    const byName = new Map([...vars].map(([k, v]) => [v.name, k]));
    const gm = new Map(Object.entries(grads).map(([n, g]) => [byName.get(n)!, g]));
    await clipGlobalNorm(gm, 1.0);
    opt.apply(vars, gm, 1e-3);
    tf.dispose([value, ...gm.values()]);
    return tf.scalar(0);
  });
  prof.kernelNames.forEach((n) => usedKernels.add(n));
  tf.dispose([...vars.values()]);
  opt.dispose();
  // Profiles also list op / customGrad scopes; real kernels are those the cpu backend has.
  const used = [...usedKernels].filter((n) => tf.getKernel(n, 'cpu')).sort();
  const missing = used.filter((n) => !tf.getKernel(n, TARGET));
  result.kernels = { used, missing_on_target: missing };
  log(`kernels used by RAHF: ${used.length}; missing on ${TARGET}: ${missing.length ? missing.join(', ') : 'none'}`);
  if (missing.length) failures.push(`kernels missing on ${TARGET}: ${missing.join(', ')}`);
}

/**
 * One fixture case on cpu (profiled: the kernels it dispatches) and on the target. Parameter gradients
 * only on the first image when asked: tfjs-backend-cpu's 4-D Slice is slow (the heatmap heads' filter
 * gradients take most of a minute per image here), and one image already runs every kernel.
 */
async function fixtureParity(c: FixtureCase, paramGrads: boolean): Promise<void> {
  const rec: Json = {};
  (result.parity as Json)[c.name] = rec;
  const parts: Parts = { heatmaps: true, grad: true, keywords: true, seqLoss: true, paramGrads, paramGradBatch: 1 };
  const outs: Record<string, Outputs> = {};
  for (const b of ['cpu', TARGET]) {
    if (outs[b]) continue;
    await setBackend(b);
    const t0 = Date.now();
    const m = await RewardModel.load(c.dir, { trainable: true });
    try {
      if (b === 'cpu') {
        const prof = await tf.profile(async () => {
          outs[b] = await runCase(m, c.input, parts);
          return tf.scalar(0);
        });
        prof.kernelNames.forEach((n) => usedKernels.add(n));
      } else {
        outs[b] = await runCase(m, c.input, parts);
      }
    } finally {
      m.dispose();
    }
    rec[`${b}_s`] = r3((Date.now() - t0) / 1000);
    log(`${c.name}: ${b} done in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  }
  const cpu = outs.cpu;
  const tgt = outs[TARGET];
  const exp = (k: string) => c.io.get(k)!.data as Float32Array;
  const expScores = Float32Array.from(SCORE_NAMES.flatMap((t) => [...exp(`score_${t}`)]));
  const expHeat = Float32Array.from(HEATMAP_NAMES.flatMap((t) => [...exp(`heatmap_${t}`)]));
  check(`${c.name} cpu_scores_vs_reference`, compare(concatScores(cpu.scores), expScores).maxErr, 1e-4, rec);
  check(`${c.name} cpu_heatmaps_vs_reference`, compare(concatHeat(cpu.heatmaps!), expHeat).maxErr, 1e-4, rec);
  check(`${c.name} scores_vs_reference`, compare(concatScores(tgt.scores), expScores).maxErr, TOL_REF, rec);
  check(`${c.name} heatmaps_vs_reference`, compare(concatHeat(tgt.heatmaps!), expHeat).maxErr, TOL_REF, rec);
  check(`${c.name} scores_vs_cpu`, compare(concatScores(tgt.scores), concatScores(cpu.scores)).maxErr, TOL_REF, rec);
  check(`${c.name} heatmaps_vs_cpu`, compare(concatHeat(tgt.heatmaps!), concatHeat(cpu.heatmaps!)).maxErr, TOL_REF, rec);
  check(`${c.name} scoreGrad_scores_vs_reference`, compare(concatScores(tgt.gradScores!), expScores).maxErr, TOL_REF, rec);
  check(`${c.name} scoreGrad_rel_vs_cpu`, relErr(tgt.grad!, cpu.grad!), TOL_GRAD, rec);
  if (paramGrads) {
    const pg = paramGradErr(tgt.paramGrads!, cpu.paramGrads!);
    check(`${c.name} param_grads_rel_vs_cpu`, pg.err, TOL_GRAD, rec);
    rec.param_grads_worst = pg.worst;
    rec.param_grads_count = cpu.paramGrads!.size;
  }
  const loss = c.io.get('teacher_forced_seq_loss');
  if (loss && tgt.seqLoss !== undefined) {
    check(`${c.name} seq_loss_vs_reference`, compare([tgt.seqLoss], loss.data as Float32Array).maxErr, TOL_REF, rec);
  }
  const gen = c.io.get('generated_ids');
  if (gen && tgt.keywordIds) {
    const want = Array.from(gen.data as Int32Array);
    const got = tgt.keywordIds.flat();
    const same = got.length === want.length && got.every((v, i) => v === want[i]);
    rec.keyword_ids_match_reference = same;
    rec.keyword_ids_match_cpu = JSON.stringify(tgt.keywordIds) === JSON.stringify(cpu.keywordIds);
    if (!same) failures.push(`${c.name}: keyword ids differ from the reference`);
  }
  log(`${c.name}: ${JSON.stringify(rec)}`);
}

// ------------------------------------------------------------------------------------------------
// c. timings

interface Timing {
  median_s: number;
  min_s: number;
  warmup_s: number;
  runs: number;
  [k: string]: unknown;
}

/**
 * Warm-up once, then up to RUNS timed runs as the budget allows (keeping `reserveS` for what follows).
 * `estimateS` is a guess of the warm-up's length; the part is skipped when even that does not fit.
 */
async function timeIt(name: string, fn: () => Promise<void>, estimateS: number, reserveS = 0): Promise<Timing | undefined> {
  const timings = result.timings as Json;
  if (left() - reserveS < estimateS) {
    note(`skipped timing "${name}": ${left().toFixed(0)} s left, needs ~${estimateS} s`);
    timings[name] = 'skipped (budget)';
    return undefined;
  }
  let t0 = Date.now();
  await fn();
  const warmup = (Date.now() - t0) / 1000;
  const ts: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const last = ts.length ? ts[ts.length - 1] : warmup;
    if (ts.length > 0 && left() - reserveS < last * 1.2) {
      note(`timing "${name}": ${ts.length} of ${RUNS} runs (budget)`);
      break;
    }
    t0 = Date.now();
    await fn();
    ts.push((Date.now() - t0) / 1000);
  }
  ts.sort((a, b) => a - b);
  const t: Timing = { median_s: r3(ts[Math.floor(ts.length / 2)]) as number, min_s: r3(ts[0]) as number, warmup_s: r3(warmup) as number, runs: ts.length };
  timings[name] = t;
  log(`${name}: median ${t.median_s} s (min ${t.min_s}, warm-up ${t.warmup_s}, ${t.runs} runs)`);
  save();
  return t;
}

const PROMPTS = [
  'a photo of a red cat sitting on a blue sofa next to two green apples',
  'two astronauts riding a horse on the moon',
  'a man jumping into the river at night',
  'a bowl of soup with a spoon on a wooden table',
];
const prompts = (n: number) => Array.from({ length: n }, (_, i) => PROMPTS[i % PROMPTS.length]);

function trainInput(m: RewardModel, b: number): CaseInput {
  const s = m.config.imageSize;
  return {
    pixels01: hostPixels(b * s * s * 3, 7 + b),
    shape: [b, s, s, 3],
    prompts: prompts(b),
    targets: prompts(b).map((p) => p.replace(/\b(cat|horse|river|soup)\b/, '$1_0')),
  };
}

/** The GPU issue's targets for the paper preset on one H200. */
const TARGET_IMAGES_PER_S = 150;
const TARGET_SCORE_GRAD_S = 0.6;

/**
 * Stage 1: the previous defaults (tfjs's matMul, explicit weight transposes, composed norms, tfjs's
 * flags) first — the reference every other setting's outputs are compared with — then the last
 * run's chosen settings with composed ops, with fused norms / GELU (src/gpu/norm.ts, gelu.ts) and with
 * the fused attention softmax too (src/gpu/softmax.ts), all timed on the same machine. Stage 2: single flag changes on the best.
 */
const SUBMIT_64 = { WEBGPU_DEFERRED_SUBMIT_BATCH_SIZE: 64 };
const SWEEP_STAGE1: Setting[] = [
  { name: 'previous: tfjs matMul+conv, explicit Wt', matmul: 'tfjs', conv: 'tfjs', linear: 'explicit', fused: 'none', flags: {} },
  { name: 'tiled matMul+conv, Wt by flag, submit 64', matmul: 'tiled', conv: 'tiled', linear: 'flag', fused: 'none', flags: SUBMIT_64 },
  { name: 'tiled, flag, submit 64, fused norms+GELU', matmul: 'tiled', conv: 'tiled', linear: 'flag', fused: 'norms', flags: SUBMIT_64 },
  { name: 'tiled, flag, submit 64, fused all', matmul: 'tiled', conv: 'tiled', linear: 'flag', fused: 'all', flags: SUBMIT_64 },
];
const SWEEP_STAGE2: Setting['flags'][] = [{ WEBGPU_DEFERRED_SUBMIT_BATCH_SIZE: 128 }, { WEBGPU_DEFERRED_SUBMIT_BATCH_SIZE: 32 }];

async function settingsSweep(m: RewardModel): Promise<void> {
  const rec: Json = { targets: { images_per_s_b32: TARGET_IMAGES_PER_S, scoreGrad_b1_s: TARGET_SCORE_GRAD_S } };
  result.settings_sweep = rec;
  const { rows, best } = await sweepSettings(m, SWEEP_STAGE1, SWEEP_STAGE2, {
    targetImagesPerS: TARGET_IMAGES_PER_S,
    targetScoreGradS: TARGET_SCORE_GRAD_S,
    tol: TOL_GRAD,
    forwardRuns: 4,
    gradRuns: 5,
    left,
    reserveS: 150,
    log,
    onRow: (r: SweepRow[]) => {
      rec.rows = r;
      save();
    },
    prompts,
    pixels: hostPixels,
  });
  rec.rows = rows;
  rec.chosen = best ?? null;
  if (!best) failures.push('settings sweep: no eligible setting');
  log(`sweep: chosen ${best ? JSON.stringify(best) : 'none'}`);
}

/**
 * GPU time per kernel of one scores-only forward at batch 32 (tf.profile; on webgpu every kernel is
 * then submitted alone with timestamp queries, so the wall time here is no timing). Shows whether the
 * forward is bound by GPU work or by per-dispatch CPU cost, and which kernels dominate.
 */
async function profileForward(m: RewardModel, b: number): Promise<void> {
  const s = m.config.imageSize;
  const x = tf.tidy(() => m.preprocess(tf.tensor4d(hostPixels(b * s * s * 3, b), [b, s, s, 3])));
  try {
    const prof = await tf.profile(async () => {
      const out = m.forward(x, prompts(b), { heatmaps: false });
      await Promise.all(Object.values(out.scores).map((t) => t.data()));
      tf.dispose(out as unknown as tf.TensorContainer);
      return tf.scalar(0);
    });
    const by = new Map<string, { n: number; ms: number }>();
    let total = 0;
    for (const k of prof.kernels) {
      const ms = Number((k as unknown as { kernelTimeMs: number }).kernelTimeMs) || 0;
      total += ms;
      const e = by.get(k.name) ?? { n: 0, ms: 0 };
      e.n++;
      e.ms += ms;
      by.set(k.name, e);
    }
    const top = [...by].sort((a, b2) => b2[1].ms - a[1].ms).slice(0, 12).map(([name, e]) => ({ name, count: e.n, gpu_ms: r3(e.ms) }));
    (result.timings as Json)[`${PAPER_PRESET}_forward_scores_b${b}_profile`] = { kernels: prof.kernels.length, gpu_ms_total: r3(total), top };
    log(`profile b${b}: ${prof.kernels.length} kernels, ${total.toFixed(1)} ms GPU; top ${JSON.stringify(top.slice(0, 6))}`);
  } finally {
    x.dispose();
  }
}

async function paperTimings(m: RewardModel): Promise<void> {
  const s = m.config.imageSize;
  const timings = result.timings as Json;
  const xs = new Map<number, tf.Tensor4D>();
  const pixels = (b: number) => {
    if (!xs.has(b)) xs.set(b, tf.tidy(() => m.preprocess(tf.tensor4d(hostPixels(b * s * s * 3, b), [b, s, s, 3]))));
    return xs.get(b)!;
  };
  const forward = (b: number, heatmaps: boolean) => async () => {
    const out = m.forward(pixels(b), prompts(b), { heatmaps });
    await Promise.all([...Object.values(out.scores), ...Object.values(out.heatmaps ?? {})].map((t) => t.data()));
    tf.dispose(out as unknown as tf.TensorContainer);
  };
  try {
    const f1 = await timeIt(`${PAPER_PRESET}_forward_scores_b1`, forward(1, false), DRY ? 60 : 30, 120);
    if (f1) f1.images_per_s = r3(1 / f1.median_s);
    const f32 = await timeIt(`${PAPER_PRESET}_forward_scores_b32`, forward(32, false), DRY ? 600 : 40, 100);
    if (f32) f32.images_per_s = r3(32 / f32.median_s);
    if (xs.has(32)) {
      xs.get(32)!.dispose();
      xs.delete(32);
    }
    await timeIt(`${PAPER_PRESET}_forward_heatmaps_b1`, forward(1, true), DRY ? 120 : 30, 80);
    const x01 = tf.tensor4d(hostPixels(s * s * 3, 1), [1, s, s, 3]);
    try {
      await timeIt(
        `${PAPER_PRESET}_scoreGrad_b1`,
        async () => {
          const g = await m.scoreGrad(x01, prompts(1), ALL_SCORES);
          await g.grad.data();
          g.grad.dispose();
        },
        DRY ? 120 : 40,
        60,
      );
    } finally {
      x01.dispose();
    }
  } finally {
    for (const x of xs.values()) x.dispose();
  }
  const mem = tf.memory() as tf.MemoryInfo & { numBytesInGPU?: number; numBytesInGPUAllocated?: number };
  timings.memory_after_paper = { numTensors: mem.numTensors, numBytes: mem.numBytes, numBytesInGPU: mem.numBytesInGPU, numBytesInGPUAllocated: mem.numBytesInGPUAllocated };
}

/**
 * The training step of src/train/trainer.ts on the tiny preset: tf.variableGrads of the multi-task
 * loss (scores MSE, heatmaps MSE, keyword sequence cross-entropy) through every parameter, global-norm
 * clipping and the AdamW update. clipGlobalNorm reads its norm with dataSync(), which webgpu in Node
 * cannot do (OffscreenCanvas): if it throws, that is recorded as a failure and the step is timed
 * without clipping.
 */
async function trainTiming(m: RewardModel): Promise<void> {
  const inp = trainInput(m, TRAIN_BATCH);
  const b = TRAIN_BATCH;
  const h = heatmapSize(m.config);
  const batch: TensorBatch = {
    pixels: m.preprocess(tf.tensor4d(inp.pixels01, inp.shape)),
    prompts: inp.prompts,
    targets: inp.targets!,
    scores: Object.fromEntries(SCORE_NAMES.map((t, k) => [t, tf.tensor1d(hostPixels(b, 31 + k))])) as TensorBatch['scores'],
    heatmaps: Object.fromEntries(HEATMAP_NAMES.map((t, k) => [t, tf.tensor3d(hostPixels(b * h * h, 41 + k), [b, h, h])])) as TensorBatch['heatmaps'],
  };
  const weights: LossWeights = { heatmap: 1, score: 1, keywords: 1 };
  const vars = new Map(m.params.tensors);
  const byVarName = new Map([...vars].map(([k, v]) => [v.name, k]));
  const smallest = [...vars.values()].reduce((a, v) => (v.size < a.size ? v : a));
  const opt = new AdamW({ weightDecay: 0.01 });
  let clip = true;
  const step = async () => {
    const { value, grads } = tf.variableGrads(() => trainLoss(m, batch, weights).total, [...vars.values()]);
    const gradMap = new Map<string, tf.Tensor>();
    for (const [vn, g] of Object.entries(grads)) gradMap.set(byVarName.get(vn) ?? vn, g);
    await value.data();
    if (clip) {
      try {
        await clipGlobalNorm(gradMap, 1.0);
      } catch (e) {
        clip = false;
        failures.push(`train: clipGlobalNorm on ${TARGET}: ${(e as Error).message.split('\n')[0]}`);
        note(`clipGlobalNorm failed on ${TARGET} (${(e as Error).message.split('\n')[0]}); timing the step without clipping`);
      }
    }
    opt.apply(vars, gradMap, 1e-4);
    tf.dispose([value, ...gradMap.values()]);
    await smallest.data(); // the update has run
  };
  try {
    const t = await timeIt(`tiny_train_step_b${TRAIN_BATCH}`, step, 20, 30);
    if (t) {
      t.images_per_s = r3(TRAIN_BATCH / t.median_s);
      t.what = `src/train step: variableGrads of multiTaskLoss (heatmap, score, keywords) + ${clip ? 'clipGlobalNorm + ' : ''}AdamW, all ${vars.size} parameters`;
    }
  } finally {
    disposeBatch(batch);
    opt.dispose();
  }
}

// ------------------------------------------------------------------------------------------------
// Paper-preset parity (cpu is single-threaded and slow: last, and each piece only if it fits)

/**
 * A preset's layer widths (hidden sizes, heads, head channels) with fewer layers on a smaller input.
 * tfjs-backend-cpu is single-threaded and slow (~0.1–0.2 GFLOP/s here on 768-wide matMuls, even
 * less on convs): the paper model's forward at 224 px takes minutes, its scoreGrad about eight times
 * that. At 16 px (one patch, 16×16 heatmaps) with 2 ViT and 2 T5 layers every kernel still runs on
 * the same matrix and channel widths, in seconds. Built as fromPreset does.
 */
function presetReduced(name: string, size: number, layers: number, tokenizerFile: string, seed: number): RewardModel {
  const preset = getPreset(name);
  preset.imageSize = size;
  preset.vitJson.image_size = size;
  preset.vitJson.num_hidden_layers = layers;
  preset.t5Json.num_layers = layers;
  preset.t5Json.num_decoder_layers = layers;
  const tokenizer = Tokenizer.fromFile(tokenizerFile);
  preset.t5Json.vocab_size = Math.ceil(tokenizer.vocabSize / 128) * 128;
  const config = validateRahfConfig({ ...preset, vit: vitConfigFromHF(preset.vitJson), t5: t5ConfigFromHF(preset.t5Json) });
  return RewardModel.fromParts(config, tokenizer, new Params(initRahfParams(config, seed)));
}

/**
 * A check of the full-size model that needs no cpu reference (its forward takes minutes there): a
 * batch of 4 gives row 0 the scores of the same image alone (prompts are masked, rows independent).
 * No finite-difference check of scoreGrad here: RAHF's channel RMS norms (eps 1e-8) after ReLUs make
 * the scores of a randomly initialised model nearly discontinuous (pixel steps of 1e-3 along the
 * gradient change S 50× more than the gradient predicts; single pixels agree at steps ≤ 3e-3), so
 * the gradient is compared with cpu on the reduced model instead.
 */
async function selfChecks(m: RewardModel): Promise<void> {
  const rec: Json = {};
  (result.paper_parity as Json)[`${PAPER_PRESET}@${m.config.imageSize}px self-checks`] = rec;
  const s = m.config.imageSize;
  const n = s * s * 3;
  const px = hostPixels(4 * n, 21);
  const p1 = prompts(1);
  const scoresOf = async (data: Float32Array, b: number, pr: string[]) => {
    const x = tf.tidy(() => m.preprocess(tf.tensor4d(data, [b, s, s, 3])));
    const out = m.forward(x, pr, { heatmaps: false });
    const vals = await Promise.all(SCORE_NAMES.map((t) => out.scores[t].data()));
    tf.dispose([x, out as unknown as tf.TensorContainer]);
    return vals as Float32Array[];
  };
  const one = await scoresOf(px.subarray(0, n), 1, p1);
  const four = await scoresOf(px, 4, Array(4).fill(p1[0]));
  // Row mix-ups give O(1) errors; other matMul tilings for other batch sizes give ~1e-6.
  check(`${PAPER_PRESET} batch4_row0_vs_batch1`, relErr(Float32Array.from(four.map((v) => v[0])), Float32Array.from(one.map((v) => v[0]))), 1e-3, rec);
  log(`${PAPER_PRESET} self-checks: ${JSON.stringify(rec)}`);
}

type Piece = [name: string, parts: Pick<Parts, 'heatmaps' | 'grad' | 'gradWeights' | 'noForward'>, costVsForward: number];

/**
 * Target vs cpu on one image, piece by piece, each only if the cpu side fits in the budget. The cpu
 * scores-only forward goes first; its time scales the estimates of the slower pieces.
 */
async function paperParity(label: string, cpuModel: RewardModel, tgtModel: RewardModel, pieces: Piece[], guessS: number): Promise<void> {
  const rec: Json = {};
  (result.paper_parity as Json)[label] = rec;
  const s = cpuModel.config.imageSize;
  const inp: CaseInput = { pixels01: hostPixels(s * s * 3, 11), shape: [1, s, s, 3], prompts: prompts(1) };
  let cpuForwardS = guessS;
  for (const [name, p, factor] of pieces) {
    const est = cpuForwardS * factor * 1.3 + 5;
    if (left() < est) {
      note(`skipped ${label} parity "${name}": ${left().toFixed(0)} s left, cpu needs ~${est.toFixed(0)} s`);
      rec[name] = 'skipped (budget)';
      continue;
    }
    const parts = { ...p, keywords: false, seqLoss: false, paramGrads: false };
    await setBackend('cpu');
    const t0 = Date.now();
    const cpu = await runCase(cpuModel, inp, parts);
    const cpuS = (Date.now() - t0) / 1000;
    if (name === 'scores') cpuForwardS = cpuS;
    await setBackend(TARGET);
    const tgt = tgtModel === cpuModel ? cpu : await runCase(tgtModel, inp, parts);
    rec[`${name}_cpu_s`] = r3(cpuS);
    check(`${label} ${name}_scores_rel_vs_cpu`, relErr(concatScores(tgt.scores), concatScores(cpu.scores)), TOL_GRAD, rec);
    if (p.heatmaps) check(`${label} heatmaps_rel_vs_cpu`, relErr(concatHeat(tgt.heatmaps!), concatHeat(cpu.heatmaps!)), TOL_GRAD, rec);
    if (p.grad) check(`${label} scoreGrad_rel_vs_cpu`, relErr(tgt.grad!, cpu.grad!), TOL_GRAD, rec);
    log(`${label} parity ${name}: cpu ${cpuS.toFixed(1)} s; ${JSON.stringify(rec)}`);
    save();
  }
}

// ------------------------------------------------------------------------------------------------

/** Run one part; a failure is recorded and the check goes on with the next part. */
async function part(name: string, fn: () => Promise<void>): Promise<void> {
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

async function main(): Promise<void> {
  // Last resort if one step overruns: keep what was measured. (Cannot interrupt synchronous cpu work.)
  setTimeout(() => {
    note(`aborted: over budget by 45 s`);
    result.failures = failures;
    save();
    process.stdout.write(JSON.stringify(result) + '\n');
    process.exit(3);
  }, (BUDGET_S + 45) * 1000).unref();
  log(`target ${TARGET}, budget ${BUDGET_S} s, ${RUNS} timed runs${DRY ? ' (cpu dry run)' : ''}`);
  const root = fixturesRoot();
  const tokenizer = path.join(root, 'rahf', 't5', 'tokenizer.json');

  // a. the target backend, through the project's own selection code.
  try {
    await initBackend(TARGET, { quiet: true });
  } catch (e) {
    result.error = (e as Error).message;
    save();
    process.stderr.write(`gpu-check: ${(e as Error).message}\n`);
    process.stdout.write(JSON.stringify(result) + '\n');
    process.exit(2);
  }
  result.backend = tf.getBackend();
  result.adapter = webgpuAdapterDescription() ?? null;
  if (TARGET === 'webgpu') {
    const be = tf.backend() as unknown as { device?: GpuDeviceLike };
    const dev = be.device;
    // Validation / out-of-memory errors and device loss surface as bare OperationErrors in tfjs.
    if (dev) {
      dev.onuncapturederror = (ev) => {
        // One bad allocation cascades into many invalid-object errors: keep the first few.
        const msg = (ev.error?.message ?? String(ev)).split('\n').slice(0, 3).join(' | ');
        gpuErrorCount++;
        if (gpuErrors.length < 8) {
          gpuErrors.push(msg);
          log(`webgpu error: ${msg}`);
        }
        result.gpu_error_count = gpuErrorCount;
      };
      dev.lost?.then((info) => {
        gpuErrors.push(`device lost: ${info.reason ?? ''} ${info.message ?? ''}`);
        log(`webgpu device lost: ${info.reason ?? ''} ${info.message ?? ''}`);
      });
    }
    const feats = (dev as unknown as { features?: Iterable<string> })?.features;
    if (feats) result.device_features = [...feats].sort();
    const l = dev?.limits;
    if (l) result.device_limits = { maxBufferSize: l.maxBufferSize, maxStorageBufferBindingSize: l.maxStorageBufferBindingSize };
    result.webgpu_settings_initial = webgpuSettings();
  }
  log(`backend ${result.backend}${result.adapter ? ` on ${result.adapter}` : ''}`);
  save();

  // b. fixtures (tiny models) on cpu and the target, and the kernels they dispatch.
  const cases = fixtureCases(root);
  if (cases.length === 0) throw new Error(`gpu-check: no RAHF fixture cases under ${path.join(root, 'rahf')}`);
  if (PARTS.has('fixtures')) {
    for (const c of cases) {
      // All parameter gradients for the multi-head case (the public checkpoint's layout) only.
      await part(`parity ${c.name}`, () => fixtureParity(c, c.name.includes('multi') || cases.length === 1));
    }
    await part('kernel coverage', kernelCoverage);
  }

  // c. timings on the target: a training step of the tiny preset, then the paper preset.
  if (PARTS.has('train')) await part('tiny train step', async () => {
    await setBackend(TARGET);
    const tiny = await RewardModel.fromPreset('tiny', { seed: 0, tokenizer, trainable: true });
    try {
      await trainTiming(tiny);
    } finally {
      tiny.dispose();
    }
  });

  if (!PARTS.has('timings') && !PARTS.has('parity')) {
    note('paper preset not asked for (GPU_CHECK_PARTS)');
  } else if (!PAPER) {
    note('paper preset skipped in the cpu dry run (GPU_CHECK_PAPER=1 runs it)');
  } else if (left() < 60) {
    note(`paper preset skipped: ${left().toFixed(0)} s left`);
  } else {
    const small = Number(process.env.GPU_CHECK_PARITY_SIZE ?? 16);
    const layers = Number(process.env.GPU_CHECK_PARITY_LAYERS ?? 2);
    await part('paper preset', async () => {
      // Built on cpu (seeded random weights), then the same variables on the target.
      await setBackend('cpu');
      const t0 = Date.now();
      const paperCpu = await RewardModel.fromPreset(PAPER_PRESET, { seed: 0, tokenizer });
      let paperTgt: RewardModel | undefined;
      try {
        const initS = (Date.now() - t0) / 1000;
        result.paper = { preset: PAPER_PRESET, params_m: r3(paperCpu.numParams / 1e6), image_size: paperCpu.config.imageSize, init_s: r3(initS) };
        log(`${PAPER_PRESET} preset: ${(paperCpu.numParams / 1e6).toFixed(1)} M parameters, initialised in ${initS.toFixed(1)} s`);
        await setBackend(TARGET);
        paperTgt = DRY ? paperCpu : modelFromHost(await hostModel(paperCpu), false);
        if (PARTS.has('timings') && TARGET === 'webgpu' && SWEEP) await part('settings sweep', () => settingsSweep(paperTgt!));
        if (PARTS.has('timings')) await part('paper timings', () => paperTimings(paperTgt!));
        if (PARTS.has('timings') && TARGET === 'webgpu' && left() > 120) {
          // Diagnostics only: a profiler problem is a note, not a failed check.
          await profileForward(paperTgt!, 32).catch((e) => note(`profile failed: ${(e as Error).message?.split('\n')[0]}`));
          save();
        }
        result.webgpu_settings_final = TARGET === 'webgpu' ? webgpuSettings() : null;
        if (!PARTS.has('parity')) return;
        if (!DRY || PAPER_PRESET !== 'paper') await part('paper self-checks', () => selfChecks(paperTgt!));
        // Parity on the preset's widths at a small input first (affordable on cpu); the full model's
        // scores only when a large budget leaves room for minutes of cpu.
        const label = `${PAPER_PRESET}-widths@${small}px/${layers}layers`;
        await part(`parity ${label}`, async () => {
          await setBackend('cpu');
          const smallCpu = presetReduced(PAPER_PRESET, small, layers, tokenizer, 0);
          await setBackend(TARGET);
          const smallTgt = DRY ? smallCpu : modelFromHost(await hostModel(smallCpu), false);
          try {
            const pieces: Piece[] = [
              ['scores', { heatmaps: false, grad: false }, 1],
              ['heatmaps', { heatmaps: true, grad: false }, 2],
              // One score's head in the backward pass: cpu's conv input-gradient (Reverse of 768-wide
              // filters) is what makes four heads slow; the trunk's backward is shared by all.
              ['scoreGrad', { heatmaps: false, grad: true, gradWeights: { overall: 1 }, noForward: true }, 4],
            ];
            await paperParity(label, smallCpu, smallTgt, pieces, 10);
          } finally {
            if (smallTgt !== smallCpu) smallTgt.dispose();
            smallCpu.dispose();
          }
        });
        const full = `${PAPER_PRESET}@${paperCpu.config.imageSize}px`;
        await part(`parity ${full}`, () => paperParity(full, paperCpu, paperTgt!, [['scores', { heatmaps: false, grad: false }, 1]], 300));
      } finally {
        if (paperTgt && paperTgt !== paperCpu) paperTgt.dispose();
        paperCpu.dispose();
      }
    });
  }

  result.failures = failures;
  result.ok = failures.length === 0;
  save();
  log(result.ok ? 'all checks passed' : `FAILED: ${failures.join('; ')}`);
  process.stdout.write(JSON.stringify(result) + '\n');
  process.exitCode = result.ok ? 0 : 1;
}

main().catch((e) => {
  result.error = (e as Error).stack?.split('\n').slice(0, 4).join(' | ') ?? String(e);
  result.failures = failures;
  save();
  process.stderr.write(`gpu-check: ${(e as Error).message}\n`);
  process.stdout.write(JSON.stringify(result) + '\n');
  process.exit(1);
});
