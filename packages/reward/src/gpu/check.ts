/**
 * GPU check of the differentiable RAHF model on tfjs-backend-webgpu (Dawn in Node). A dev tool for the
 * lent GPU machine, not a test: scripts/build-gpu-check.sh bundles it into .gpu-carry/app/gpu-check.js,
 * which runs there as `bash .gpu-carry/run.sh .gpu-carry/app/gpu-check.js [fixturesDir]` from the repo
 * root (the parity fixtures travel with the repo copy).
 *
 *   a. initialise webgpu (exit 2 with one line when there is no adapter);
 *   b. kernels: every kernel RAHF dispatches (forward, keyword decoding, losses, gradients, Adam),
 *      recorded on cpu, must be registered on the target backend; then numerics, target vs cpu:
 *      the RAHF parity fixtures (scores / heatmaps / keyword ids / sequence loss vs the PyTorch
 *      reference, scoreGrad and all parameter gradients vs cpu) and the paper preset with random
 *      weights at batch 1 (scores, heatmaps, scoreGrad vs cpu; cpu is slow, so these come last);
 *   c. timings on the target backend (median of ≥ 5 runs after a warm-up);
 *   d. one final JSON line on stdout, also written to $OUT/gpu-check.json after every part;
 *   e. an overall budget (GPU_CHECK_BUDGET_S, default 420 s): parts that no longer fit are skipped
 *      with a note.
 *
 * Environment: GPU_CHECK_BACKEND (default webgpu; `cpu` is the dry run for machines without a GPU:
 * every step runs with cpu as the target, the paper-sized parts only with GPU_CHECK_PAPER=1),
 * GPU_CHECK_BUDGET_S, GPU_CHECK_RUNS (timed runs, default 5), GPU_CHECK_PARTS (a comma-separated
 * subset of fixtures,train,timings,parity; paper = timings,parity), GPU_CHECK_PARITY_SIZE (input side
 * of the paper-width parity model, default 64), GPU_CHECK_TRAIN_BATCH (default 4), GPU_CHECK_PRESET (the large model,
 * default paper), RAHF_DAWN_OPTIONS (Dawn toggles; `backend=null` runs the webgpu code path without a
 * GPU, computing garbage, with 512 MB of device memory: use GPU_CHECK_PRESET=tiny there), OUT.
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
import { HEATMAP_NAMES, RahfConfig, SCORE_NAMES, ScoreName, validateRahfConfig } from '../rahf/config';
import { initRahfParams } from '../rahf/init';
import { RewardModel } from '../rahf/model';
import { getPreset } from '../rahf/presets';
import { Tokenizer } from '../tokenizer';

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

/** max |a − b| / max |b| (the reference's scale); Infinity on NaN. */
function relErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} != ${b.length}`);
  let d = 0;
  let m = 0;
  for (let i = 0; i < b.length; i++) {
    const e = Math.abs(a[i] - b[i]);
    if (!(e <= d)) d = Number.isNaN(e) ? Infinity : e;
    m = Math.max(m, Math.abs(b[i]));
  }
  return d === 0 ? 0 : d / Math.max(m, 1e-30);
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
function multiTaskLoss(m: RewardModel, x: tf.Tensor4D, prompts: string[], targets: string[]): tf.Scalar {
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
}

async function runCase(m: RewardModel, inp: CaseInput, parts: Parts): Promise<Outputs> {
  const x01 = tf.tensor4d(inp.pixels01, inp.shape);
  const x = m.preprocess(x01);
  try {
    const fwd = m.forward(x, inp.prompts, { heatmaps: parts.heatmaps });
    const out: Outputs = { scores: {} };
    for (const t of SCORE_NAMES) out.scores[t] = (await fwd.scores[t].data()) as Float32Array;
    if (fwd.heatmaps) {
      out.heatmaps = {};
      for (const t of HEATMAP_NAMES) out.heatmaps[t] = (await fwd.heatmaps[t].data()) as Float32Array;
    }
    tf.dispose(fwd as unknown as tf.TensorContainer);
    if (parts.grad) {
      const g = await m.scoreGrad(x01, inp.prompts, ALL_SCORES);
      out.gradScores = g.scores;
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
      const { value, grads } = tf.variableGrads(() => multiTaskLoss(m, xb, inp.prompts.slice(0, n), inp.targets!.slice(0, n)), vars);
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

/** Kernels RAHF dispatches (recorded on cpu, plus an Adam step) that the target has not registered. */
async function kernelCoverage(): Promise<void> {
  await setBackend('cpu');
  const opt = tf.train.adam(1e-3);
  const a = tf.variable(tf.ones([3, 2]), true);
  const b = tf.variable(tf.ones([2]), true);
  const prof = await tf.profile(() => {
    opt.minimize(() => tf.sum(tf.square(tf.add(a, b))) as tf.Scalar, false, [a, b]);
    return tf.scalar(0);
  });
  prof.kernelNames.forEach((n) => usedKernels.add(n));
  tf.dispose([a, b]);
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

async function trainTiming(tiny: RewardModel): Promise<void> {
  // No train step in src/rahf yet: forward + backward through all variables (multi-task loss:
  // scores, heatmaps, keyword sequence) and a tf.train.adam update, which is what a step does.
  const m = tiny;
  const opt = tf.train.adam(1e-4);
  const inp = trainInput(m, TRAIN_BATCH);
  const x = m.preprocess(tf.tensor4d(inp.pixels01, inp.shape));
  const vars = m.params.variables();
  try {
    const t = await timeIt(
      `tiny_train_step_b${TRAIN_BATCH}`,
      async () => {
        const loss = opt.minimize(() => multiTaskLoss(m, x, inp.prompts, inp.targets!), true, vars)!;
        await loss.data();
        loss.dispose();
      },
      20,
      30,
    );
    if (t) {
      t.images_per_s = r3(TRAIN_BATCH / t.median_s);
      t.what = 'adam step on scores+heatmaps MSE + keyword sequence loss, all parameters trainable';
    }
  } finally {
    tf.dispose([x]);
    opt.dispose();
  }
}

// ------------------------------------------------------------------------------------------------
// Paper-preset parity (cpu is single-threaded and slow: last, and each piece only if it fits)

/**
 * A preset's layers (widths, depths, heads) on a smaller input: the cpu reference of the paper model
 * at 224 px takes minutes per forward (tfjs-backend-cpu is single-threaded), at 64 px (4×4 patches,
 * 64×64 heatmaps) seconds, with the same kernels on the same matrix widths. Built as fromPreset does.
 */
function presetAtSize(name: string, size: number, tokenizerFile: string, seed: number): RewardModel {
  const preset = getPreset(name);
  preset.imageSize = size;
  preset.vitJson.image_size = size;
  const tokenizer = Tokenizer.fromFile(tokenizerFile);
  preset.t5Json.vocab_size = Math.ceil(tokenizer.vocabSize / 128) * 128;
  const config = validateRahfConfig({ ...preset, vit: vitConfigFromHF(preset.vitJson), t5: t5ConfigFromHF(preset.t5Json) });
  return RewardModel.fromParts(config, tokenizer, new Params(initRahfParams(config, seed)));
}

type Piece = [name: string, parts: { heatmaps: boolean; grad: boolean }, costVsForward: number];

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
    const tgt = await runCase(tgtModel, inp, parts);
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
    const l = dev?.limits;
    if (l) result.device_limits = { maxBufferSize: l.maxBufferSize, maxStorageBufferBindingSize: l.maxStorageBufferBindingSize };
    result.tfjs_flags = { WEBGPU_CPU_FORWARD: tf.env().get('WEBGPU_CPU_FORWARD'), WEBGPU_DEFERRED_SUBMIT_BATCH_SIZE: tf.env().get('WEBGPU_DEFERRED_SUBMIT_BATCH_SIZE') };
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
    const paperSmall = Number(process.env.GPU_CHECK_PARITY_SIZE ?? 64);
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
        if (PARTS.has('timings')) await part('paper timings', () => paperTimings(paperTgt!));
        if (!PARTS.has('parity')) return;
        // Parity at a small input first (affordable on cpu), at the full size only if time is left.
        await part(`paper parity ${paperSmall}px`, async () => {
          await setBackend('cpu');
          const smallCpu = presetAtSize(PAPER_PRESET, paperSmall, tokenizer, 0);
          await setBackend(TARGET);
          const smallTgt = DRY ? smallCpu : modelFromHost(await hostModel(smallCpu), false);
          try {
            await paperParity(`${PAPER_PRESET}@${paperSmall}`, smallCpu, smallTgt, [
              ['scores', { heatmaps: false, grad: false }, 1],
              ['scoreGrad', { heatmaps: false, grad: true }, 3],
              ['heatmaps', { heatmaps: true, grad: false }, 4],
            ], DRY ? 10 : 15);
          } finally {
            if (smallTgt !== smallCpu) smallTgt.dispose();
            smallCpu.dispose();
          }
        });
        await part(`paper parity ${paperCpu.config.imageSize}px`, () =>
          paperParity(`${PAPER_PRESET}@${paperCpu.config.imageSize}`, paperCpu, paperTgt!, [['scores', { heatmaps: false, grad: false }, 1]], 150),
        );
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
