/**
 * The RAHF training loop: multi-task loss (loss.ts), AdamW (optimizer.ts) with warmup + rsqrt/cosine
 * (schedule.ts), the paper's augmentations (augment.ts) on in-memory data (data.ts), checkpoints and
 * metrics in the run folder (run-folder.ts). Batches are a pure function of (seed, step) (data.ts), so
 * `--resume` from step k continues with exactly the batches, weights and optimizer state an
 * uninterrupted run has at step k.
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
import { heatmapSize, SCORE_NAMES } from '../rahf/config';
import { T5_PREFIX, VIT_PREFIX } from '../rahf/init';
import { STEM_PREFIX } from '../rahf/stem';
import { WORD_GROUNDING } from '../rahf/word-grounding';
import { RewardModel } from '../rahf/model';
import { formatDuration } from '../util/progress';
import { augmentConfig } from './augment';
import { batchIndices, batchOptionsFor, disposeBatch, HostBatch, loadTrainSet, makeBatch, toTensors, TrainExample } from './data';
import { LOSS_PARTS, LossPart, multiTaskLoss } from './loss';
import { AdamW } from './optimizer';
import { OrtTrainEngine, ortUnsupported } from './ort-engine';
import { HostAdamW } from './host-adamw';
import { TrainOptions } from './options';
import { CKPT_DIR, LATEST, TrainerState, latestCheckpoint, readOptimizerState, readTrainerState, saveCheckpoint, saveFinal, truncateMetrics } from './run-folder';
import { cooldownFactor, cosineProgress, learningRate, runProgress } from './schedule';
import { ortUpdate, tfjsUpdate } from './update';

export { type TrainOptions, type TrainEngine, TRAIN_ENGINES, TRAIN_DEFAULTS } from './options';
export { type TrainerState, latestCheckpoint, readTrainerState } from './run-folder';

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
  const sums: Record<string, number> = {};
  let n = 0;
  for (let i = 0; i < set.length; i += o.batchSize) {
    const idx = [...Array(Math.min(o.batchSize, set.length - i)).keys()].map((k) => i + k);
    const hb = await makeBatch(set, idx, 0, batchOptionsFor(model.config, augmentConfig('none'), o.seed));
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

/** Where a run starts: fresh, or from its latest checkpoint with the saved options (only how long it goes on, how it ends and where gradients run may change). */
interface RunStart {
  o: TrainOptions;
  step: number;
  elapsed: number;
  resumeDir?: string;
  saved?: TrainerState;
}

function startRun(opts: TrainOptions, metricsFile: string): RunStart {
  if (opts.resume) {
    const resumeDir = latestCheckpoint(opts.out);
    if (!resumeDir) throw new Error(`${opts.out}: no checkpoint to resume from (expected ${path.join(opts.out, CKPT_DIR, LATEST)})`);
    const saved = readTrainerState(resumeDir);
    const o: TrainOptions = {
      ...saved.options,
      steps: opts.steps ?? saved.options.steps,
      minutes: opts.minutes ?? saved.options.minutes,
      cooldown: opts.cooldown ?? saved.options.cooldown,
      engine: opts.engine ?? saved.options.engine,
      resume: true,
      out: opts.out,
      progress: opts.progress,
    };
    truncateMetrics(metricsFile, saved.step);
    return { o, step: saved.step, elapsed: saved.elapsed, resumeDir, saved };
  }
  if (latestCheckpoint(opts.out)) throw new Error(`${opts.out}: already holds a training run; pass --resume to continue it or choose a new --out`);
  fs.rmSync(metricsFile, { force: true });
  return { o: opts, step: 0, elapsed: 0 };
}

/** 'ort' when asked for or (auto) when onnxruntime can run the model; a forced 'ort' it cannot run is an error. */
function pickEngine(model: RewardModel, o: TrainOptions, io: TrainIO): 'ort' | 'tfjs' {
  const want = o.engine ?? 'auto';
  const why = want === 'tfjs' ? undefined : ortUnsupported(model);
  if (want === 'ort' && why) throw new Error(`--engine ort: not available: ${why}`);
  const engine = want === 'tfjs' || why ? 'tfjs' : 'ort';
  io.log(
    engine === 'ort'
      ? `rahf: engine ort (onnxruntime-node, ${os.cpus().length} threads)`
      : `rahf: engine tfjs (${tf.getBackend()})${want === 'auto' && why ? `: ${why}` : ''}`,
  );
  return engine;
}

async function loadSets(o: TrainOptions, io: TrainIO): Promise<{ train: TrainExample[]; dev: TrainExample[] }> {
  const t0 = Date.now();
  const set = await loadTrainSet({ data: o.data, split: 'train', images: o.images, parquet: o.parquet, captions: o.captions, limit: o.limit });
  let dev: TrainExample[] = [];
  if (o.evalEvery > 0 && fs.existsSync(path.join(o.data, 'dev.tfrecord'))) {
    dev = (await loadTrainSet({ data: o.data, split: 'dev', images: o.images, parquet: o.parquet, captions: o.captions, limit: o.evalLimit })).examples;
  }
  io.log(
    `rahf: ${set.examples.length} training examples from ${set.source}` +
      (set.skipped ? ` (${set.skipped} skipped: no image or prompt)` : '') +
      (dev.length ? `, ${dev.length} dev` : '') +
      ` loaded in ${((Date.now() - t0) / 1000).toFixed(1)}s`,
  );
  return { train: set.examples, dev };
}

/**
 * Learning-rate factors by parameter: score heads learn at a fraction of the rate (at the full rate a
 * from-scratch tiny model's score MLPs collapse to a constant — dead ReLUs — long before the shared
 * features carry the defects they need); word grounding at its own.
 */
function lrScales(o: TrainOptions): ((name: string) => number) | undefined {
  const headScale = o.scoreHeadLrScale ?? 1;
  const groundScale = o.wordGroundingLrScale ?? 1;
  if (headScale === 1 && groundScale === 1) return undefined;
  return (name) => (name.startsWith('score_predictor.') ? headScale : name.startsWith(`${WORD_GROUNDING}.`) ? groundScale : 1);
}

/** The ORT engine's training graph, its texts padded to the training set's longest so one static-shape graph serves every step. */
async function ortEngine(model: RewardModel, o: TrainOptions, train: TrainExample[], trainNames: string[], io: TrainIO): Promise<OrtTrainEngine> {
  const c = model.config;
  const len = (texts: string[]) => texts.reduce((m, t) => Math.max(m, model.tokenizer.encodeBatch([t], { maxLength: c.maxTextTokens }).ids[0].length), 1);
  const t1 = Date.now();
  const textLen = len(train.map((e) => e.caption));
  const targetLen = len(train.map((e) => e.target));
  const ort = await OrtTrainEngine.create(model, { batch: o.batchSize, textLen, targetLen, weights: o.lossWeights, heatmapLoss: o.heatmapLoss, trainable: trainNames });
  io.log(`rahf: ORT training graph (captions ${textLen} tokens, targets ${targetLen}) ready in ${((Date.now() - t1) / 1000).toFixed(1)}s`);
  return ort;
}

/** Images per second over windows of ≥ 5 s, for the progress line. */
class Throughput {
  private imgs = 0;
  private start = Date.now();
  rate = 0;
  add(n: number, now: number): void {
    this.imgs += n;
    if (now - this.start > 5000) {
      this.rate = (this.imgs * 1000) / (now - this.start);
      this.imgs = 0;
      this.start = now;
    }
  }
}

/**
 * Train (or resume) a RAHF model. Errors for bad input are thrown as Errors with one-line messages
 * (the CLI layer turns them into UserErrors).
 */
export async function train(opts: TrainOptions, io: TrainIO): Promise<TrainResult> {
  fs.mkdirSync(opts.out, { recursive: true });
  const metricsFile = path.join(opts.out, 'metrics.jsonl');
  const { o, step: startStep, elapsed: elapsedBefore, resumeDir, saved } = startRun(opts, metricsFile);
  if (o.steps === undefined && o.minutes === undefined) throw new Error('give --steps or --minutes (or both)');

  const model = await buildModel(o, resumeDir);
  let engine: 'ort' | 'tfjs';
  try {
    engine = pickEngine(model, o, io);
  } catch (e) {
    model.dispose();
    throw e;
  }
  if (resumeDir) io.log(`rahf: resuming ${opts.out} from ${path.basename(resumeDir)} (step ${startStep}, ${formatDuration(elapsedBefore)} trained)`);
  const { train, dev } = await loadSets(o, io);
  if (!resumeDir && !o.init) calibrateScoreBias(model, train);
  const lrScale = lrScales(o);

  // ORT gradients arrive on the host: clip and update there (host-adamw.ts), then assign the variables.
  const opt = engine === 'ort' ? new HostAdamW({ weightDecay: o.weightDecay }) : new AdamW({ weightDecay: o.weightDecay });
  let ort: OrtTrainEngine | undefined;
  try {
    const c = model.config;
    const vars = model.params.tensors;
    const trainNames = [...vars.keys()].filter((k) => !o.freezeBackbone || !(k.startsWith(VIT_PREFIX) || k.startsWith(T5_PREFIX) || k.startsWith(STEM_PREFIX)));
    const varList = trainNames.map((k) => vars.get(k)!);
    const byVarName = new Map(trainNames.map((k) => [vars.get(k)!.name, k]));
    if (resumeDir) opt.load(readOptimizerState(resumeDir), saved!.optimizer.step, vars);
    const nTrain = varList.reduce((s, v) => s + v.size, 0);
    io.log(
      `rahf: ${resumeDir ? 'resumed' : o.init ? `init from ${o.init}` : `preset ${o.preset ?? 'tiny'}`} (${c.variant}), ` +
        `${(model.numParams / 1e6).toFixed(2)}M parameters, ${(nTrain / 1e6).toFixed(2)}M trained, image ${c.imageSize}, heatmap ${heatmapSize(c)}`,
    );
    const batchOpts = batchOptionsFor(c, augmentConfig(o.augment), o.seed);
    if (engine === 'ort') ort = await ortEngine(model, o, train, trainNames, io);
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
    const throughput = new Throughput();
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
      const r = ort
        ? await ortUpdate(ort, hb, model, opt as HostAdamW, o, lr, lrScale, queueNext)
        : await tfjsUpdate(model, hb, o, varList, byVarName, opt as AdamW, lr, lrScale, queueNext);
      if (!Number.isFinite(r.loss)) throw new Error(`training diverged at step ${step}: loss is ${r.loss} (lower --lr or raise --warmup)`);
      const { loss, partVals, gradNorm } = r;

      const now = Date.now();
      throughput.add(hb.size, now);
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
        const rate = throughput.rate || (hb.size * (step - startStep) * 1000) / (now - runStart);
        const stepsLeft = o.steps !== undefined ? ((o.steps - step) * o.batchSize) / Math.max(rate, 1e-9) : Infinity;
        const timeLeft = budget !== undefined ? budget - el : Infinity;
        const eta = Math.min(stepsLeft, timeLeft);
        const partsText = Object.entries(partVals)
          .map(([k, v]) => `${k} ${v.toFixed(4)}`)
          .join(' ');
        io.log(
          `train step ${step}${o.steps !== undefined ? `/${o.steps}` : ''} loss ${loss.toFixed(4)} (${partsText}) ` +
            `lr ${lr.toExponential(2)} ${rate.toFixed(2)} img/s elapsed ${formatDuration(el)} eta ${formatDuration(eta)}`,
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
