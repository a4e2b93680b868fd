import * as fs from 'fs';
import * as path from 'path';
import { WORLD_MANIFEST, writeSynthWorld } from '../data/synth/world';
import { presetNames } from '../rahf/presets';
import { AUGMENT_MODES, AugmentMode } from '../train/augment';
import { HEATMAP_LOSSES, HeatmapLoss, parseLossWeights } from '../train/loss';
import { SCHEDULES, ScheduleName } from '../train/schedule';
import { synthTokenizerFile } from '../train/tokenizer-build';
import { train, TrainResult } from '../train/trainer';
import { TRAIN_DEFAULTS, TRAIN_ENGINES, TrainEngine, TrainOptions } from '../train/options';
import { openEvalDataset } from '../eval/dataset';
import { CALIBRATION_SAMPLES, calibrateCheckpoint, unbiasedF1 } from '../eval/calibrate';
import { UserError } from '../errors';
import { checkInt, checkNumber, guarded, rahfCommand } from './command';
import { checkOutDir } from './validate';

/** TrainOptions that the CLI takes as text and parses (`--image-stem 16,32,64`, `--loss-weights heatmap=1,…`, names). */
type TextOptions = 'imageStem' | 'lossWeights' | 'variant' | 'schedule' | 'heatmapLoss' | 'augment' | 'engine';

/**
 * `rahf train` options as the CLI gives them: TrainOptions' fields, each optional (TRAIN_DEFAULTS fill
 * them), the parsed ones as their text; plus the synthetic world generated when `data` is absent and the
 * keyword calibration after training (default on).
 */
export type TrainCliOptions = Partial<Omit<TrainOptions, 'out' | TextOptions>> & { [K in TextOptions]?: string } & {
  out: string;
  synthN?: number;
  synthSeed?: number;
  calibrate?: boolean;
};

export interface TrainCliIO {
  stderr: (line: string) => void;
  shouldStop?: () => boolean;
}

/** Validate and complete the options (pure apart from file-existence checks). */
export function resolveTrainOptions(o: TrainCliOptions, data: string): TrainOptions {
  checkInt('steps', o.steps);
  checkNumber('minutes', o.minutes);
  checkInt('batch-size', o.batchSize);
  checkNumber('lr', o.lr);
  checkNumber('score-head-lr-scale', o.scoreHeadLrScale);
  checkNumber('word-grounding-lr-scale', o.wordGroundingLrScale);
  checkInt('warmup', o.warmup, 0);
  checkNumber('min-lr', o.minLr, true);
  if (o.cooldown !== undefined && !(o.cooldown >= 0 && o.cooldown <= 1)) throw new UserError(`--cooldown must be a fraction of the run in [0, 1], got ${o.cooldown}`);
  checkNumber('weight-decay', o.weightDecay, true);
  checkNumber('clip-norm', o.clipNorm, true);
  checkInt('checkpoint-every', o.checkpointEvery, 0);
  checkInt('keep-checkpoints', o.keepCheckpoints);
  checkInt('eval-every', o.evalEvery, 0);
  checkInt('eval-limit', o.evalLimit);
  checkInt('seed', o.seed, 0);
  checkInt('limit', o.limit);
  if (o.schedule !== undefined && !(SCHEDULES as readonly string[]).includes(o.schedule)) {
    throw new UserError(`--schedule must be one of ${SCHEDULES.join(', ')}, got "${o.schedule}"`);
  }
  if (o.heatmapLoss !== undefined && !(HEATMAP_LOSSES as readonly string[]).includes(o.heatmapLoss)) {
    throw new UserError(`--heatmap-loss must be one of ${HEATMAP_LOSSES.join(', ')}, got "${o.heatmapLoss}"`);
  }
  if (o.engine !== undefined && !(TRAIN_ENGINES as readonly string[]).includes(o.engine)) {
    throw new UserError(`--engine must be one of ${TRAIN_ENGINES.join(', ')}, got "${o.engine}"`);
  }
  if (o.augment !== undefined && !(AUGMENT_MODES as readonly string[]).includes(o.augment)) {
    throw new UserError(`--augment must be one of ${AUGMENT_MODES.join(', ')}, got "${o.augment}"`);
  }
  if (o.variant !== undefined && o.variant !== 'multi_head' && o.variant !== 'augmented_prompt') {
    throw new UserError(`--variant must be multi_head or augmented_prompt, got "${o.variant}"`);
  }
  if (o.preset !== undefined && o.init !== undefined) throw new UserError('give --preset or --init, not both');
  if (o.init !== undefined && (o.initVit !== undefined || o.initT5 !== undefined)) {
    throw new UserError('--init-vit / --init-t5 build a preset; they cannot be combined with --init');
  }
  if (o.preset !== undefined && !(presetNames() as string[]).includes(o.preset)) {
    throw new UserError(`--preset must be one of ${presetNames().join(', ')}, got "${o.preset}"`);
  }
  if (o.init !== undefined && !fs.existsSync(o.init)) throw new UserError(`--init ${o.init}: no such checkpoint directory`);
  if (o.tokenizer !== undefined && !fs.existsSync(o.tokenizer)) throw new UserError(`--tokenizer ${o.tokenizer}: no such file`);
  if (o.steps === undefined && o.minutes === undefined && !o.resume) throw new UserError('give --steps N or --minutes M (or both)');
  let lossWeights = TRAIN_DEFAULTS.lossWeights;
  if (o.lossWeights !== undefined) {
    try {
      lossWeights = parseLossWeights(o.lossWeights, TRAIN_DEFAULTS.lossWeights);
    } catch (e) {
      throw new UserError((e as Error).message);
    }
  }
  let imageStem: number[] | undefined;
  if (o.imageStem !== undefined) {
    imageStem = o.imageStem.trim() === 'none' ? [] : o.imageStem.split(',').map((x) => Number(x.trim()));
    if (imageStem.some((w) => !(Number.isInteger(w) && w > 0))) {
      throw new UserError(`--image-stem must be comma-separated positive integers (e.g. 16,32,64) or none, got "${o.imageStem}"`);
    }
    if (o.init !== undefined) throw new UserError('--image-stem builds a new image tower; it cannot be combined with --init');
    if (o.initVit !== undefined && imageStem.length) throw new UserError('--image-stem: a pretrained ViT (--init-vit) embeds the pixels itself; use --image-stem none or leave it out');
  }
  if (o.imageStemSkip !== undefined && o.init !== undefined) throw new UserError('--image-stem-skip changes the model; it cannot be combined with --init');
  if (o.imageStemSkip && imageStem !== undefined && !imageStem.length) throw new UserError('--image-stem-skip needs a stem; it cannot be combined with --image-stem none');
  if (o.captionPool !== undefined && o.init !== undefined) throw new UserError('--caption-pool changes the model; it cannot be combined with --init');
  if (o.wordGrounding !== undefined && o.init !== undefined) throw new UserError('--word-grounding changes the model; it cannot be combined with --init');
  const preset = o.init === undefined ? o.preset ?? TRAIN_DEFAULTS.preset : undefined;
  // A preset without a T5 checkpoint needs a tokenizer: the bundled synthetic-world one.
  const tokenizer = o.tokenizer ?? (preset !== undefined && o.initT5 === undefined ? synthTokenizerFile() : undefined);
  return {
    data,
    images: o.images,
    parquet: o.parquet,
    captions: o.captions,
    out: o.out,
    preset,
    init: o.init,
    variant: o.variant as TrainOptions['variant'],
    imageStem,
    imageStemSkip: o.imageStemSkip,
    captionPool: o.captionPool,
    wordGrounding: o.wordGrounding,
    tokenizer,
    initVit: o.initVit,
    initT5: o.initT5,
    steps: o.steps,
    minutes: o.minutes,
    batchSize: o.batchSize ?? TRAIN_DEFAULTS.batchSize,
    lr: o.lr ?? TRAIN_DEFAULTS.lr,
    warmup: o.warmup ?? TRAIN_DEFAULTS.warmup,
    schedule: (o.schedule as ScheduleName | undefined) ?? TRAIN_DEFAULTS.schedule,
    minLr: o.minLr,
    cooldown: o.cooldown,
    weightDecay: o.weightDecay ?? TRAIN_DEFAULTS.weightDecay,
    clipNorm: o.clipNorm ?? TRAIN_DEFAULTS.clipNorm,
    lossWeights,
    heatmapLoss: (o.heatmapLoss as HeatmapLoss | undefined) ?? TRAIN_DEFAULTS.heatmapLoss,
    augment: (o.augment as AugmentMode | undefined) ?? TRAIN_DEFAULTS.augment,
    freezeBackbone: o.freezeBackbone ?? false,
    checkpointEvery: o.checkpointEvery ?? TRAIN_DEFAULTS.checkpointEvery,
    keepCheckpoints: o.keepCheckpoints ?? TRAIN_DEFAULTS.keepCheckpoints,
    evalEvery: o.evalEvery ?? TRAIN_DEFAULTS.evalEvery,
    evalLimit: o.evalLimit ?? TRAIN_DEFAULTS.evalLimit,
    resume: o.resume ?? false,
    seed: o.seed ?? TRAIN_DEFAULTS.seed,
    progress: o.progress,
    limit: o.limit,
    engine: o.engine as TrainEngine | undefined,
    scoreHeadLrScale: o.scoreHeadLrScale ?? TRAIN_DEFAULTS.scoreHeadLrScale,
    wordGroundingLrScale: o.wordGroundingLrScale,
  };
}

/** The data folder: --data as given (checked), or a synthetic world generated into OUT/data once. */
async function ensureData(o: TrainCliOptions, io: TrainCliIO): Promise<string> {
  if (o.data !== undefined) {
    if (!fs.existsSync(o.data)) throw new UserError(`--data ${o.data}: no such file or directory`);
    if (fs.statSync(o.data).isDirectory() && !fs.existsSync(path.join(o.data, 'train.tfrecord'))) {
      throw new UserError(`--data ${o.data}: no train.tfrecord (a data folder from rahf synth or the RichHF-18K release)`);
    }
    return o.data;
  }
  const dir = path.join(o.out, 'data');
  if (fs.existsSync(path.join(dir, WORLD_MANIFEST))) return dir;
  if (o.resume) throw new UserError(`${o.out}: no data folder to resume with; pass --data`);
  const n = o.synthN ?? TRAIN_DEFAULTS.synthN;
  const seed = o.synthSeed ?? TRAIN_DEFAULTS.synthSeed;
  checkInt('synth-n', n, 10);
  io.stderr(`rahf: no --data; generating a synthetic world (n ${n}, seed ${seed}) into ${dir}`);
  const s = await writeSynthWorld({ out: dir, n, seed, progress: o.progress !== false });
  io.stderr(`rahf: synthetic world ready in ${s.seconds.toFixed(1)}s`);
  return dir;
}

const defaultIO: TrainCliIO = { stderr: (l) => process.stderr.write(l + '\n') };

/**
 * `rahf train`: train a RAHF model (multi-task loss, AdamW, warmup + rsqrt/cosine, the paper's
 * augmentations) with checkpoints, --resume, a progress line and RUN/metrics.jsonl. Returns the exit code.
 */
export async function runTrain(opts: TrainCliOptions, io: TrainCliIO = defaultIO): Promise<number> {
  // Ctrl-C: finish the current step, write a checkpoint and the model, exit; a second Ctrl-C aborts.
  let stop = false;
  const onSigint = () => {
    if (stop) process.exit(130);
    stop = true;
    io.stderr('rahf: stopping after this step (checkpoint follows; Ctrl-C again to abort)');
  };
  const shouldStop = io.shouldStop ?? (() => stop);
  if (!io.shouldStop) process.on('SIGINT', onSigint);
  try {
    await runTrainResult(opts, { ...io, shouldStop });
  } finally {
    process.off('SIGINT', onSigint);
  }
  return 0;
}

/** As runTrain, returning the result (tests, the demo). */
export async function runTrainResult(opts: TrainCliOptions, io: TrainCliIO = defaultIO): Promise<TrainResult> {
  if (!opts.out) throw new UserError('--out is required (the run folder)');
  checkOutDir('out', opts.out);
  if (fs.existsSync(opts.out) && !fs.statSync(opts.out).isDirectory()) throw new UserError(`--out ${opts.out}: exists and is not a directory`);
  if (opts.resume && opts.data === undefined && !fs.existsSync(path.join(opts.out, 'checkpoints'))) {
    throw new UserError(`${opts.out}: no checkpoint to resume from`);
  }
  // Bad options fail before a synthetic world is generated for them.
  resolveTrainOptions(opts, '');
  // A resumed run reads its data folder from the checkpoint; --data here would only be checked.
  const data = opts.resume && opts.data === undefined ? '' : await ensureData(opts, io);
  const resolved = resolveTrainOptions(opts, data);
  let result: TrainResult;
  try {
    result = await train(resolved, { log: io.stderr, shouldStop: io.shouldStop });
  } catch (e) {
    if (e instanceof UserError) throw e;
    const msg = (e as Error).message ?? String(e);
    // Input problems (missing files, bad records, a run folder in use) are the user's; keep bugs as they are.
    if (/no such|already holds|no checkpoint|not a |no train|no records|none of its|diverged|give --|cannot read|not available/.test(msg)) {
      throw new UserError(msg.split('\n')[0]);
    }
    throw e;
  }
  if (opts.calibrate !== false && result.stoppedBy !== 'signal') await calibrateKeywords(result, io);
  return result;
}

/**
 * After training: the keyword decision threshold (mark bias) with the best F1 on the data's dev split,
 * written into the final model's config.json (src/eval/calibrate.ts). Skipped without a dev split or
 * when the keyword loss was off.
 */
async function calibrateKeywords(r: TrainResult, io: TrainCliIO): Promise<void> {
  const o = r.options;
  if (!(o.lossWeights.keywords > 0) || !fs.existsSync(path.join(o.data, 'dev.tfrecord'))) return;
  const ds = await openEvalDataset({ data: o.data, split: 'dev', images: o.images, parquet: o.parquet, captions: o.captions, limit: CALIBRATION_SAMPLES });
  if (ds.size === 0) return;
  const c = await calibrateCheckpoint(r.modelDir, ds, { progress: o.progress !== false });
  io.stderr(
    `rahf: keyword mark bias ${c.best.bias} (dev keyword F1 ${c.best.f1.toFixed(3)}, unbiased ${unbiasedF1(c)}; ${c.n} samples) ` +
      `written to ${path.join(r.modelDir, 'config.json')}`,
  );
}

export const trainCommand = rahfCommand({
  command: 'train',
  describe: 'train RAHF (multi-task: heatmaps, scores, keywords) on RichHF-format data or a synthetic world',
  builder: (y) =>
    y
      .option('data', { type: 'string', describe: 'data folder (<split>.tfrecord + images); default: a synthetic world generated into OUT/data' })
      .option('images', { type: 'string', describe: 'folder of <uid>.<ext> images for a RichHF .tfrecord' })
      .option('parquet', { type: 'string', array: true, describe: 'Pick-a-Pic parquet files with images and captions' })
      .option('captions', { type: 'string', describe: 'JSONL of {"uid", "caption"}' })
      .option('out', { type: 'string', demandOption: true, describe: 'run folder: checkpoints/, model/, metrics.jsonl' })
      .option('preset', { type: 'string', describe: 'model preset (default tiny)' })
      .option('init', { type: 'string', describe: 'start from this RAHF checkpoint instead of a preset' })
      .option('variant', { type: 'string', choices: ['multi_head', 'augmented_prompt'] })
      .option('image-stem', { type: 'string', describe: "conv stem widths in front of a preset's ViT, e.g. 16,32,64 (3×3 stride-2 stages), or none (default: the preset's; tiny has 16,32,64)" })
      .option('image-stem-skip', { type: 'boolean', describe: "also add the stem's map, projected, to the heads' input (default: the preset's; tiny has it, --no-image-stem-skip leaves it out)" })
      .option('caption-pool', { type: 'boolean', describe: "also add the caption's mean encoder output, projected, to the heads' input (default: the preset's; tiny has it, --no-caption-pool leaves it out)" })
      .option('word-grounding', { type: 'boolean', describe: "let each caption position attend to the image positions before the keyword decoder and the caption pooling read it (default: the preset's; none has it)" })
      .option('tokenizer', { type: 'string', describe: 'tokenizer.json (default: the bundled synthetic-world tokenizer)' })
      .option('init-vit', { type: 'string', describe: 'HF ViT checkpoint (dir or hub id) for the image tower' })
      .option('init-t5', { type: 'string', describe: 'HF T5 checkpoint (dir or hub id) for the text tower' })
      .option('steps', { type: 'number' })
      .option('minutes', { type: 'number', describe: 'stop after this much wall time' })
      .option('batch-size', { type: 'number' })
      .option('lr', { type: 'number' })
      .option('warmup', { type: 'number' })
      .option('schedule', { type: 'string', choices: ['rsqrt', 'cosine'] })
      .option('min-lr', { type: 'number' })
      .option('cooldown', { type: 'number', describe: 'fraction of the run (0-1) over which the learning rate falls linearly to 0 at the end (default 0; may change on --resume)' })
      .option('weight-decay', { type: 'number' })
      .option('clip-norm', { type: 'number' })
      .option('loss-weights', { type: 'string', describe: 'e.g. heatmap=1,score=1,keywords=0.5' })
      .option('heatmap-loss', { type: 'string', choices: ['mse', 'bce'] })
      .option('score-head-lr-scale', { type: 'number', describe: 'learning-rate factor of the score heads (default 0.1)' })
      .option('word-grounding-lr-scale', { type: 'number', describe: 'learning-rate factor of the word grounding layers (default 1; for grounding added to a trained run)' })
      .option('engine', { type: 'string', choices: ['ort', 'tfjs', 'auto'], describe: 'gradients by onnxruntime-node (all cores) or tfjs; auto: ort when available' })
      .option('augment', { type: 'string', describe: 'augmentations: paper | crop | none' })
      .option('freeze-backbone', { type: 'boolean', describe: 'train only the heads (ViT and T5 frozen)' })
      .option('checkpoint-every', { type: 'number' })
      .option('keep-checkpoints', { type: 'number' })
      .option('eval-every', { type: 'number' })
      .option('eval-limit', { type: 'number' })
      .option('resume', { type: 'boolean', default: false, describe: 'continue from the latest checkpoint in --out' })
      .option('calibrate', { type: 'boolean', default: true, describe: 'after training, set the keyword mark bias on the dev split (--no-calibrate: leave it 0)' })
      .option('seed', { type: 'number' })
      .option('synth-n', { type: 'number' })
      .option('synth-seed', { type: 'number' }),
  // yargs hands every option under its camel-case name too: those are TrainCliOptions' fields.
  handler: (argv) => guarded(argv, () => runTrain(argv)),
});

