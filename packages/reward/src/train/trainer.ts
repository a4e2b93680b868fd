/**
 * The RAHF training loop: multi-task loss (loss.ts), AdamW (optimizer.ts) with warmup + rsqrt/cosine
 * (schedule.ts), the paper's augmentations (augment.ts) on in-memory data (data.ts).
 *
 * Run folder layout:
 *   RUN/metrics.jsonl                  one JSON line per step ({step, lr, loss, heatmap, score, keywords,
 *                                      grad_norm, elapsed, img_per_s}) and per dev evaluation ({split: "dev", …})
 *   RUN/checkpoints/step-000500/       config.json, model.safetensors, tokenizer files (a loadable RAHF
 *                                      checkpoint), optimizer.safetensors (AdamW moments), trainer_state.json
 *   RUN/checkpoints/latest             name of the newest complete checkpoint
 *   RUN/model/                         the final model (what `rahf eval --checkpoint RUN/model` reads)
 * Checkpoints are written into a temporary folder and renamed into place, so a crash never leaves a
 * half-written one. Batches are a pure function of (seed, step) (data.ts), so `--resume` from step k
 * continues with exactly the batches, weights and optimizer state an uninterrupted run has at step k.
 *
 * Engines: 'tfjs' differentiates multiTaskLoss with tf.variableGrads; 'ort' runs forward and backward
 * of the same loss in onnxruntime-node (ort-engine.ts: every core instead of tfjs-wasm's one thread),
 * fed the tfjs variables' values each step; its host gradients are clipped and applied on the host by
 * the same AdamW arithmetic (host-adamw.ts, same checkpoint format) and assigned back to the variables.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { readSafetensors, writeSafetensors } from '../io/safetensors';
import { heatmapSize, RahfVariant, SCORE_NAMES } from '../rahf/config';
import { T5_PREFIX, VIT_PREFIX } from '../rahf/init';
import { STEM_PREFIX } from '../rahf/stem';
import { WORD_GROUNDING } from '../rahf/word-grounding';
import { RewardModel } from '../rahf/model';
import { writeFileAtomic } from '../util/atomic';
import { formatDuration } from '../util/progress';
import { AugmentMode, augmentConfig } from './augment';
import { batchIndices, disposeBatch, HostBatch, loadTrainSet, makeBatch, toTensors, TrainExample } from './data';
import { HeatmapLoss, LOSS_PARTS, LossPart, LossWeights, multiTaskLoss } from './loss';
import { AdamW, clipGlobalNorm } from './optimizer';
import { OrtTrainEngine, ortUnsupported } from './ort-engine';
import { clipGlobalNormHost, HostAdamW } from './host-adamw';
import { cooldownFactor, cosineProgress, learningRate, runProgress, ScheduleName } from './schedule';

export interface TrainOptions {
  /** Data folder with train.tfrecord (+ images/, captions.jsonl), as `rahf eval --data` takes. */
  data: string;
  /** Image folder / parquet files / captions for RichHF-18K records (see eval/dataset.ts). */
  images?: string;
  parquet?: string[];
  captions?: string;
  /** Run folder (metrics, checkpoints, final model). */
  out: string;
  /** Start from a preset's random init (default "tiny") … */
  preset?: string;
  /** … or from an existing RAHF checkpoint (fine-tuning). */
  init?: string;
  variant?: RahfVariant;
  /** Conv stem widths in front of a preset's ViT (rahf/stem.ts). */
  imageStem?: number[];
  imageStemSkip?: boolean;
  /** Caption pooling into the heads' feature map (rahf/caption-pool.ts). */
  captionPool?: boolean;
  /** Word grounding of the caption states (rahf/word-grounding.ts). */
  wordGrounding?: boolean;
  /** tokenizer.json for a preset without a T5 checkpoint. */
  tokenizer?: string;
  /** HF ViT / T5 checkpoints (dir or hub id) for the towers of a preset. */
  initVit?: string;
  initT5?: string;
  /** Stop after this many updates and/or this many minutes of training (whichever comes first). */
  steps?: number;
  minutes?: number;
  batchSize: number;
  lr: number;
  warmup: number;
  schedule: ScheduleName;
  minLr?: number;
  /**
   * Fraction of the run (by steps or minutes, whichever ends it) over which the rate falls linearly to 0
   * (schedule.ts cooldownFactor); 0 or absent = none. A resume may change it, as it may the run's length.
   */
  cooldown?: number;
  weightDecay: number;
  /** Global gradient-norm clip (0 = off). */
  clipNorm: number;
  lossWeights: LossWeights;
  /** Pixel-wise heatmap loss: the paper's MSE or cross-entropy (see loss.ts). */
  heatmapLoss: HeatmapLoss;
  augment: AugmentMode;
  /** Train only the projection and the heads (ViT and T5 frozen). */
  freezeBackbone: boolean;
  checkpointEvery: number;
  /** Checkpoints kept (older ones are deleted). */
  keepCheckpoints: number;
  /** Dev-split evaluation (teacher-forced losses on up to evalLimit examples) every N steps; 0 = off. */
  evalEvery: number;
  evalLimit: number;
  /** Continue from RUN/checkpoints/latest. */
  resume: boolean;
  seed: number;
  /** Progress line on stderr (default true). */
  progress?: boolean;
  /** Limit of training examples loaded (tests). */
  limit?: number;
  /** Where gradients are computed: onnxruntime-node, tfjs, or auto (ORT when it can run the model). */
  engine?: TrainEngine;
  /** Learning-rate factor of the score heads (default 1). */
  scoreHeadLrScale?: number;
  /**
   * Learning-rate factor of the word grounding layers (rahf/word-grounding.ts; default 1). Grounding added to a
   * trained run (scripts/grow-checkpoint.js) starts at the run's decayed rate, where it was not taken up.
   */
  wordGroundingLrScale?: number;
}

export type TrainEngine = 'ort' | 'tfjs' | 'auto';
export const TRAIN_ENGINES: readonly TrainEngine[] = ['ort', 'tfjs', 'auto'];

export interface TrainIO {
  /** One progress / status line (stderr in the CLI). */
  log: (line: string) => void;
  /** Polled between steps; true stops the run after a final checkpoint (SIGINT in the CLI). */
  shouldStop?: () => boolean;
}

export interface TrainResult {
  /** Updates done in total (including those before a resume). */
  step: number;
  /** Training seconds in total (including those before a resume). */
  seconds: number;
  /** The final model folder. */
  modelDir: string;
  /** Last logged losses. */
  last: Partial<Record<LossPart | 'loss', number>>;
  stoppedBy: 'steps' | 'minutes' | 'signal';
  /** The options the run used (a resumed run's are its first start's, with the new length). */
  options: TrainOptions;
}

export interface TrainerState {
  step: number;
  elapsed: number;
  seed: number;
  /** The run's options (a resumed run keeps them; only steps, minutes, cooldown and engine may change). */
  options: TrainOptions;
  /** Batches and augmentations are keyed by (seed, step): this is the whole RNG state. */
  rng: { seed: number; next_step: number };
  optimizer: { step: number; beta1: number; beta2: number; eps: number; weight_decay: number };
}

const CKPT_DIR = 'checkpoints';
const LATEST = 'latest';
const STATE_FILE = 'trainer_state.json';
const OPT_FILE = 'optimizer.safetensors';

function ckptName(step: number): string {
  return `step-${String(step).padStart(6, '0')}`;
}

/** The newest complete checkpoint of a run folder, if any. */
export function latestCheckpoint(run: string): string | undefined {
  const f = path.join(run, CKPT_DIR, LATEST);
  if (!fs.existsSync(f)) return undefined;
  const dir = path.join(run, CKPT_DIR, fs.readFileSync(f, 'utf8').trim());
  return fs.existsSync(path.join(dir, STATE_FILE)) ? dir : undefined;
}

export function readTrainerState(ckpt: string): TrainerState {
  const file = path.join(ckpt, STATE_FILE);
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as TrainerState;
  } catch (e) {
    throw new Error(`${file}: cannot read trainer state (${(e as Error).message.split('\n')[0]})`);
  }
}

/** Write model + optimizer + state into a temp folder, rename it into place, point `latest` at it, prune. */
async function saveCheckpoint(run: string, model: RewardModel, opt: AdamW | HostAdamW, state: TrainerState, keep: number): Promise<string> {
  const root = path.join(run, CKPT_DIR);
  const name = ckptName(state.step);
  const dir = path.join(root, name);
  const tmp = path.join(root, `.tmp-${name}-${process.pid}`);
  fs.rmSync(tmp, { recursive: true, force: true });
  await model.save(tmp);
  writeSafetensors(path.join(tmp, OPT_FILE), await opt.state(), { format: 'pt' });
  writeFileAtomic(path.join(tmp, STATE_FILE), JSON.stringify(state, null, 2) + '\n');
  fs.rmSync(dir, { recursive: true, force: true });
  fs.renameSync(tmp, dir);
  writeFileAtomic(path.join(root, LATEST), name + '\n');
  const all = fs
    .readdirSync(root)
    .filter((f) => /^step-\d+$/.test(f))
    .sort();
  for (const old of all.slice(0, Math.max(0, all.length - keep))) fs.rmSync(path.join(root, old), { recursive: true, force: true });
  return dir;
}

/** Save the model alone to RUN/model (temp folder + rename). */
async function saveFinal(run: string, model: RewardModel): Promise<string> {
  const dir = path.join(run, 'model');
  const tmp = path.join(run, `.tmp-model-${process.pid}`);
  fs.rmSync(tmp, { recursive: true, force: true });
  await model.save(tmp);
  fs.rmSync(dir, { recursive: true, force: true });
  fs.renameSync(tmp, dir);
  return dir;
}

/** Keep the metrics log consistent with a resumed step: drop lines logged after it. */
function truncateMetrics(file: string, step: number): void {
  if (!fs.existsSync(file)) return;
  const keep = fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => {
      if (!l.trim()) return false;
      try {
        return (JSON.parse(l) as { step: number }).step <= step;
      } catch {
        return false;
      }
    });
  writeFileAtomic(file, keep.map((l) => l + '\n').join(''));
}

async function buildModel(o: TrainOptions, resumeDir?: string): Promise<RewardModel> {
  if (resumeDir) return RewardModel.load(resumeDir, { trainable: true });
  if (o.init) return RewardModel.load(o.init, { trainable: true, tokenizer: o.tokenizer });
  return RewardModel.fromPreset(o.preset ?? 'tiny', {
    seed: o.seed,
    vit: o.initVit,
    t5: o.initT5,
    tokenizer: o.tokenizer,
    variant: o.variant,
    imageStem: o.imageStem,
    imageStemSkip: o.imageStemSkip,
    captionPool: o.captionPool,
    wordGrounding: o.wordGrounding,
    trainable: true,
  });
}

/**
 * A fresh model's score heads start out predicting the training mean: the last dense layer's bias is set to
 * logit(mean score of its type). Without it the first hundreds of updates all push one way (towards the
 * mean), and with Adam's sign-like steps on a 1024-wide, all-positive (post-ReLU) input that drift drives the
 * score MLP's ReLUs dead — measured on the tiny preset: 90% of the first dense layer inactive and the
 * prediction constant to 1e-4 after 1000 steps, so the scores never learned.
 */
export function calibrateScoreBias(model: RewardModel, examples: TrainExample[]): void {
  if (examples.length === 0) return;
  const c = model.config;
  const last = `linear_layers.${2 * c.scoreLinear.length}.bias`;
  const mean = (k: number) => examples.reduce((s, e) => s + e.scores[k], 0) / examples.length;
  const logit = (m: number) => {
    const q = Math.min(Math.max(m, 0.02), 0.98);
    return Math.log(q / (1 - q));
  };
  const vars = model.params.tensors;
  if (c.variant === 'multi_head') {
    SCORE_NAMES.forEach((t, k) => {
      const v = vars.get(`score_predictor.${t}.${last}`);
      if (v) (v as tf.Variable).assign(tf.fill(v.shape, logit(mean(k))));
    });
  } else {
    const v = vars.get(`score_predictor.${last}`);
    if (v) (v as tf.Variable).assign(tf.fill(v.shape, logit(SCORE_NAMES.reduce((s, _, k) => s + mean(k), 0) / SCORE_NAMES.length)));
  }
}

/** Teacher-forced dev losses (no augmentation), averaged over batches. */
async function devLosses(model: RewardModel, set: TrainExample[], o: TrainOptions): Promise<Record<string, number>> {
  const c = model.config;
  const sums: Record<string, number> = {};
  let n = 0;
  for (let i = 0; i < set.length; i += o.batchSize) {
    const idx = [...Array(Math.min(o.batchSize, set.length - i)).keys()].map((k) => i + k);
    const hb = await makeBatch(set, idx, 0, {
      imageSize: c.imageSize,
      heatmapSize: heatmapSize(c),
      mean: c.imageMean,
      std: c.imageStd,
      augment: augmentConfig('none'),
      seed: o.seed,
    });
    const tb = toTensors(hb);
    const vals = tf.tidy(() => {
      const out = multiTaskLoss(model, tb, o.lossWeights, { heatmapLoss: o.heatmapLoss });
      return [out.total, ...LOSS_PARTS.map((p) => out.parts[p] ?? tf.scalar(NaN))];
    });
    const nums = vals.map((v) => v.dataSync()[0]);
    tf.dispose(vals);
    disposeBatch(tb);
    ['loss', ...LOSS_PARTS].forEach((k, j) => {
      if (Number.isFinite(nums[j])) sums[k] = (sums[k] ?? 0) + nums[j] * idx.length;
    });
    n += idx.length;
  }
  for (const k of Object.keys(sums)) sums[k] /= n;
  return sums;
}

const round = (v: number, d = 5) => Number(v.toPrecision(d));

/**
 * Train (or resume) a RAHF model. Errors for bad input are thrown as Errors with one-line messages
 * (the CLI layer turns them into UserErrors).
 */
export async function train(opts: TrainOptions, io: TrainIO): Promise<TrainResult> {
  fs.mkdirSync(opts.out, { recursive: true });
  const metricsFile = path.join(opts.out, 'metrics.jsonl');
  let o = opts;
  let startStep = 0;
  let elapsedBefore = 0;
  let resumeDir: string | undefined;
  let saved: TrainerState | undefined;
  if (opts.resume) {
    resumeDir = latestCheckpoint(opts.out);
    if (!resumeDir) throw new Error(`${opts.out}: no checkpoint to resume from (expected ${path.join(opts.out, CKPT_DIR, LATEST)})`);
    saved = readTrainerState(resumeDir);
    // The run's own options, except how long to go on, how it ends and where gradients run.
    o = {
      ...saved.options,
      steps: opts.steps ?? saved.options.steps,
      minutes: opts.minutes ?? saved.options.minutes,
      cooldown: opts.cooldown ?? saved.options.cooldown,
      engine: opts.engine ?? saved.options.engine,
      resume: true,
      out: opts.out,
      progress: opts.progress,
    };
    startStep = saved.step;
    elapsedBefore = saved.elapsed;
    truncateMetrics(metricsFile, startStep);
  } else if (latestCheckpoint(opts.out)) {
    throw new Error(`${opts.out}: already holds a training run; pass --resume to continue it or choose a new --out`);
  } else {
    fs.rmSync(metricsFile, { force: true });
  }
  if (o.steps === undefined && o.minutes === undefined) throw new Error('give --steps or --minutes (or both)');

  const model = await buildModel(o, resumeDir);
  let engine: 'ort' | 'tfjs' = 'tfjs';
  {
    const want = o.engine ?? 'auto';
    const why = want === 'tfjs' ? undefined : ortUnsupported(model);
    if (want === 'ort' && why) {
      model.dispose();
      throw new Error(`--engine ort: not available: ${why}`);
    }
    engine = want === 'tfjs' || why ? 'tfjs' : 'ort';
    io.log(
      engine === 'ort'
        ? `rahf: engine ort (onnxruntime-node, ${os.cpus().length} threads)`
        : `rahf: engine tfjs (${tf.getBackend()})${want === 'auto' && why ? `: ${why}` : ''}`,
    );
  }
  if (resumeDir) io.log(`rahf: resuming ${opts.out} from ${path.basename(resumeDir)} (step ${startStep}, ${formatDuration(elapsedBefore)} trained)`);

  const t0 = Date.now();
  const set = await loadTrainSet({ data: o.data, split: 'train', images: o.images, parquet: o.parquet, captions: o.captions, limit: o.limit });
  const train = set.examples;
  let dev: TrainExample[] = [];
  if (o.evalEvery > 0 && fs.existsSync(path.join(o.data, 'dev.tfrecord'))) {
    dev = (await loadTrainSet({ data: o.data, split: 'dev', images: o.images, parquet: o.parquet, captions: o.captions, limit: o.evalLimit })).examples;
  }
  io.log(
    `rahf: ${train.length} training examples from ${set.source}` +
      (set.skipped ? ` (${set.skipped} skipped: no image or prompt)` : '') +
      (dev.length ? `, ${dev.length} dev` : '') +
      ` loaded in ${((Date.now() - t0) / 1000).toFixed(1)}s`,
  );

  if (!resumeDir && !o.init) calibrateScoreBias(model, train);
  // Score heads learn at a fraction of the rate: at the full rate a from-scratch tiny model's score MLPs
  // collapse to a constant (dead ReLUs) long before the shared features carry the defects they need.
  const headScale = o.scoreHeadLrScale ?? 1;
  const groundScale = o.wordGroundingLrScale ?? 1;
  const lrScale =
    headScale === 1 && groundScale === 1
      ? undefined
      : (name: string) => (name.startsWith('score_predictor.') ? headScale : name.startsWith(`${WORD_GROUNDING}.`) ? groundScale : 1);

  // ORT gradients arrive on the host: clip and update there (host-adamw.ts), then assign the variables.
  const opt = engine === 'ort' ? new HostAdamW({ weightDecay: o.weightDecay }) : new AdamW({ weightDecay: o.weightDecay });
  let ort: OrtTrainEngine | undefined;
  try {
    const c = model.config;
    const vars = model.params.tensors;
    const trainNames = [...vars.keys()].filter((k) => !o.freezeBackbone || !(k.startsWith(VIT_PREFIX) || k.startsWith(T5_PREFIX) || k.startsWith(STEM_PREFIX)));
    const varList = trainNames.map((k) => vars.get(k)!);
    const byVarName = new Map(trainNames.map((k) => [vars.get(k)!.name, k]));
    if (resumeDir) opt.load(readSafetensors(path.join(resumeDir, OPT_FILE)), saved!.optimizer.step, vars);
    const nTrain = varList.reduce((s, v) => s + v.size, 0);
    io.log(
      `rahf: ${resumeDir ? 'resumed' : o.init ? `init from ${o.init}` : `preset ${o.preset ?? 'tiny'}`} (${c.variant}), ` +
        `${(model.numParams / 1e6).toFixed(2)}M parameters, ${(nTrain / 1e6).toFixed(2)}M trained, image ${c.imageSize}, heatmap ${heatmapSize(c)}`,
    );
    const batchOpts = {
      imageSize: c.imageSize,
      heatmapSize: heatmapSize(c),
      mean: c.imageMean,
      std: c.imageStd,
      augment: augmentConfig(o.augment),
      seed: o.seed,
    };
    if (engine === 'ort') {
      // Texts padded to the training set's longest, so one graph (static shapes) serves every step.
      const len = (texts: string[]) => texts.reduce((m, t) => Math.max(m, model.tokenizer.encodeBatch([t], { maxLength: c.maxTextTokens }).ids[0].length), 1);
      const t1 = Date.now();
      const textLen = len(train.map((e) => e.caption));
      const targetLen = len(train.map((e) => e.target));
      ort = await OrtTrainEngine.create(model, {
        batch: o.batchSize,
        textLen,
        targetLen,
        weights: o.lossWeights,
        heatmapLoss: o.heatmapLoss,
        trainable: trainNames,
      });
      io.log(`rahf: ORT training graph (captions ${textLen} tokens, targets ${targetLen}) ready in ${((Date.now() - t1) / 1000).toFixed(1)}s`);
    }
    const budget = o.minutes !== undefined ? o.minutes * 60 : undefined;
    const state = (step: number, elapsed: number): TrainerState => ({
      step,
      elapsed,
      seed: o.seed,
      options: o,
      rng: { seed: o.seed, next_step: step + 1 },
      optimizer: { step: opt.step, beta1: opt.beta1, beta2: opt.beta2, eps: opt.eps, weight_decay: opt.weightDecay },
    });
    const log = (rec: Record<string, unknown>) => fs.appendFileSync(metricsFile, JSON.stringify(rec) + '\n');

    let step = startStep;
    let last: TrainResult['last'] = {};
    let stoppedBy: TrainResult['stoppedBy'] = 'steps';
    const runStart = Date.now();
    const elapsed = () => elapsedBefore + (Date.now() - runStart) / 1000;
    let lastPrint = 0;
    let windowImgs = 0;
    let windowStart = Date.now();
    let rate = 0;
    let lastCkptStep = startStep;
    // The next batch is prepared while the current step runs (JPEG re-encoding runs on libuv threads).
    let next: Promise<HostBatch> | undefined;
    const prepare = (s: number) => makeBatch(train, batchIndices(train.length, o.batchSize, o.seed, s), s, batchOpts);

    for (;;) {
      if (o.steps !== undefined && step >= o.steps) {
        stoppedBy = 'steps';
        break;
      }
      if (budget !== undefined && elapsed() >= budget) {
        stoppedBy = 'minutes';
        break;
      }
      if (io.shouldStop?.()) {
        stoppedBy = 'signal';
        break;
      }
      step++;
      const progress = o.schedule === 'cosine' ? cosineProgress(step, o.warmup, o.steps, elapsed(), budget) : 0;
      const lr =
        learningRate({ name: o.schedule, lr: o.lr, warmup: o.warmup, minLr: o.minLr }, step, progress) *
        cooldownFactor(runProgress(step, o.steps, elapsed(), budget), o.cooldown ?? 0);
      const hb = await (next ?? prepare(step));
      next = undefined;
      // Start the next batch's host work before waiting on this step's numbers.
      const willContinue = !(o.steps !== undefined && step >= o.steps);
      const queueNext = () => {
        if (willContinue) next = prepare(step + 1);
      };
      const diverged = (loss: number) => new Error(`training diverged at step ${step}: loss is ${loss} (lower --lr or raise --warmup)`);
      let loss: number;
      let partVals: Partial<Record<LossPart, number>>;
      let gradNorm: number;
      if (ort) {
        const run = ort.step(hb);
        queueNext();
        const r = await run;
        ({ loss, parts: partVals } = r);
        if (!Number.isFinite(loss)) throw diverged(loss);
        gradNorm = clipGlobalNormHost(r.grads, o.clipNorm);
        const params = new Map([...r.grads.keys()].map((k) => [k, { data: (vars.get(k)!.dataSync() as Float32Array).slice(), shape: vars.get(k)!.shape }]));
        (opt as HostAdamW).apply(params, r.grads, lr, lrScale);
        for (const [k, p] of params) {
          const t = tf.tensor(p.data, p.shape, 'float32');
          vars.get(k)!.assign(t);
          t.dispose();
        }
      } else {
        const r = await tfjsStep(model, hb, o, varList, byVarName, queueNext);
        ({ loss, partVals } = r);
        if (!Number.isFinite(loss)) {
          tf.dispose([...r.gradMap.values()]);
          throw diverged(loss);
        }
        gradNorm = await clipGlobalNorm(r.gradMap, o.clipNorm);
        (opt as AdamW).apply(vars, r.gradMap, lr, lrScale);
        tf.dispose([...r.gradMap.values()]);
      }

      windowImgs += hb.size;
      const now = Date.now();
      if (now - windowStart > 5000) {
        rate = (windowImgs * 1000) / (now - windowStart);
        windowImgs = 0;
        windowStart = now;
      }
      const el = elapsed();
      last = { loss, ...partVals };
      log({
        step,
        lr: round(lr),
        loss: round(loss),
        ...Object.fromEntries(Object.entries(partVals).map(([k, v]) => [k, round(v)])),
        grad_norm: round(gradNorm, 4),
        elapsed: Math.round(el * 10) / 10,
      });
      if (o.progress !== false && (now - lastPrint > 10000 || step === startStep + 1)) {
        lastPrint = now;
        const r = rate || (hb.size * (step - startStep) * 1000) / (now - runStart);
        const stepsLeft = o.steps !== undefined ? ((o.steps - step) * o.batchSize) / Math.max(r, 1e-9) : Infinity;
        const timeLeft = budget !== undefined ? budget - el : Infinity;
        const eta = Math.min(stepsLeft, timeLeft);
        const partsText = Object.entries(partVals)
          .map(([k, v]) => `${k} ${v.toFixed(4)}`)
          .join(' ');
        io.log(
          `train step ${step}${o.steps !== undefined ? `/${o.steps}` : ''} loss ${loss.toFixed(4)} (${partsText}) ` +
            `lr ${lr.toExponential(2)} ${r.toFixed(2)} img/s elapsed ${formatDuration(el)} eta ${formatDuration(eta)}`,
        );
      }
      if (o.evalEvery > 0 && dev.length > 0 && step % o.evalEvery === 0) {
        const d = await devLosses(model, dev, o);
        log({ step, split: 'dev', ...Object.fromEntries(Object.entries(d).map(([k, v]) => [k, round(v)])), elapsed: Math.round(el * 10) / 10 });
        io.log(`dev step ${step}: ${Object.entries(d).map(([k, v]) => `${k} ${v.toFixed(4)}`).join(' ')}`);
      }
      if (o.checkpointEvery > 0 && step % o.checkpointEvery === 0) {
        await saveCheckpoint(o.out, model, opt, state(step, elapsed()), o.keepCheckpoints);
        lastCkptStep = step;
      }
    }
    await next?.catch(() => undefined);
    const total = elapsed();
    if (step !== lastCkptStep || !latestCheckpoint(o.out)) await saveCheckpoint(o.out, model, opt, state(step, total), o.keepCheckpoints);
    const modelDir = await saveFinal(o.out, model);
    io.log(`rahf: ${stoppedBy === 'signal' ? 'stopped' : 'done'} at step ${step} after ${formatDuration(total)}; model in ${modelDir}`);
    return { step, seconds: total, modelDir, last, stoppedBy, options: o };
  } finally {
    await ort?.release();
    opt.dispose();
    model.dispose();
  }
}

interface StepOutput {
  loss: number;
  partVals: Partial<Record<LossPart, number>>;
  /** Gradients by parameter name (caller disposes). */
  gradMap: Map<string, tf.Tensor>;
}

/** Loss and gradients with tf.variableGrads; `started` runs once the step's work is queued. */
async function tfjsStep(
  model: RewardModel,
  hb: HostBatch,
  o: TrainOptions,
  varList: tf.Variable[],
  byVarName: Map<string, string>,
  started: () => void,
): Promise<StepOutput> {
  const tb = toTensors(hb);
  const parts: Partial<Record<LossPart, tf.Scalar>> = {};
  const { value, grads } = tf.variableGrads(() => {
    const out = multiTaskLoss(model, tb, o.lossWeights, { heatmapLoss: o.heatmapLoss });
    for (const p of LOSS_PARTS) if (out.parts[p]) parts[p] = tf.keep(out.parts[p]!);
    return out.total;
  }, varList);
  started();
  const gradMap = new Map<string, tf.Tensor>();
  for (const [vn, g] of Object.entries(grads)) gradMap.set(byVarName.get(vn)!, g);
  const loss = (await value.data())[0];
  const partVals: Partial<Record<LossPart, number>> = {};
  for (const p of LOSS_PARTS) if (parts[p]) partVals[p] = (await parts[p]!.data())[0];
  tf.dispose([value, ...Object.values(parts)]);
  disposeBatch(tb);
  return { loss, partVals, gradMap };
}

