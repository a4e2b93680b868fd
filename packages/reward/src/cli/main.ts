#!/usr/bin/env node
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { initBackend } from '../backend';
import { formatError, UserError } from './errors';
import { runScore } from './score';
import { runInit } from './init';
import { runConsolidate } from './consolidate';
import { runSynth } from './synth';
import { runEval } from './eval';
import { CALIBRATION_SAMPLES, runCalibrate } from './calibrate';
import { runExport } from './export';
import { runTrain } from './train';
import { runDemo } from './demo';

interface Common {
  verbose?: boolean;
  backend?: string;
}

/** Run a command body; user-facing failures become one line on stderr and a non-zero exit code. */
async function guarded(argv: Common, body: () => Promise<number | void>, needsModel = true): Promise<void> {
  try {
    if (needsModel) await initBackend(argv.backend);
    const code = await body();
    process.exitCode = typeof code === 'number' ? code : 0;
  } catch (e) {
    process.stderr.write(formatError(e, Boolean(argv.verbose)) + '\n');
    process.exitCode = e instanceof UserError ? e.exitCode : 1;
  }
}

export function cli(args: string[]) {
  return yargs(args)
    .scriptName('rahf')
    .usage('$0 <command> [options]')
    .option('verbose', { type: 'boolean', default: false, describe: 'print stack traces on errors' })
    .option('backend', { type: 'string', describe: 'tfjs backend: tensorflow | webgpu | wasm | cpu (default: best installed; env RAHF_BACKEND)' })
    .command(
      'score <paths..>',
      'score images (files or folders) with a RAHF checkpoint',
      (y) =>
        y
          .positional('paths', { type: 'string', array: true, demandOption: true })
          .option('prompt', { type: 'string', describe: 'prompt for every image' })
          .option('prompts', { type: 'string', describe: 'JSONL file of {"file", "prompt"} per image' })
          .option('checkpoint', { type: 'string', describe: 'RAHF checkpoint directory or HF hub id (default: bundled)' })
          .option('out', { type: 'string', describe: 'folder for heatmap PNGs and overlays' })
          .option('batch-size', { type: 'number', default: 8 })
          .option('keywords', { type: 'boolean', default: true, describe: 'decode misaligned prompt words' })
          .conflicts('prompt', 'prompts'),
      (argv) =>
        guarded(argv, () =>
          runScore({
            paths: argv.paths as string[],
            prompt: argv.prompt,
            prompts: argv.prompts,
            checkpoint: argv.checkpoint,
            out: argv.out,
            batchSize: argv['batch-size'],
            keywords: argv.keywords,
          }),
        ),
    )
    .command(
      'init',
      'write a RAHF checkpoint from a preset (random init, or ViT/T5 parts from HF checkpoints)',
      (y) =>
        y
          .option('preset', { type: 'string', choices: ['tiny', 'paper', 'large384'], default: 'tiny' })
          .option('out', { type: 'string', demandOption: true })
          .option('seed', { type: 'number', default: 0 })
          .option('vit', { type: 'string', describe: 'HF ViT checkpoint (dir or hub id) to initialise the image encoder' })
          .option('t5', { type: 'string', describe: 'HF T5 checkpoint (dir or hub id) to initialise the text encoder/decoder' }),
      (argv) => guarded(argv, () => runInit({ preset: argv.preset, out: argv.out, seed: argv.seed, vit: argv.vit, t5: argv.t5 })),
    )
    .command(
      'consolidate',
      'consolidate per-annotator raw annotations (JSONL) into RichHF TFRecords (docs/raw-annotations.md)',
      (y) =>
        y
          .option('input', { type: 'string', demandOption: true, describe: 'raw annotations: one JSON line per (image, annotator)' })
          .option('out', { type: 'string', demandOption: true, describe: 'RichHF TFRecord file to write' })
          .option('map-size', { type: 'number', default: 512, describe: 'heatmap side in pixels (RichHF-18K: 512)' })
          .option('captions', { type: 'string', describe: 'captions sidecar to write (default: <out stem>.captions.jsonl)' }),
      (argv) => guarded(argv, () => runConsolidate({ input: argv.input, out: argv.out, mapSize: argv['map-size'], captions: argv.captions }), false),
    )
    .command(
      'synth',
      'generate a synthetic RichHF world with known ground truth (docs/synthetic-world.md)',
      (y) =>
        y
          .option('out', { type: 'string', demandOption: true, describe: 'output folder' })
          .option('n', { type: 'number', default: 600, describe: 'number of examples (split 80/10/10)' })
          .option('seed', { type: 'number', default: 0 })
          .option('size', { type: 'number', default: 128, describe: 'image side in pixels' })
          .option('map-size', { type: 'number', describe: 'heatmap side in the records (default: --size)' })
          .option('noise', { type: 'number', default: 1, describe: 'annotator noise scale (0 = perfect annotators)' }),
      (argv) =>
        guarded(argv, () => runSynth({ out: argv.out, n: argv.n, seed: argv.seed, size: argv.size, mapSize: argv['map-size'], noise: argv.noise }), false),
    )
    .command(
      'eval',
      "evaluate a RAHF checkpoint with the paper's metrics (Tables 1-4) against baselines",
      (y) =>
        y
          .option('checkpoint', { type: 'string', describe: 'RAHF checkpoint directory or HF hub id (default: bundled)' })
          .option('data', { type: 'string', demandOption: true, describe: 'folder with <split>.tfrecord (rahf synth output, RichHF-18K folder) or a RichHF .tfrecord file' })
          .option('split', { type: 'string', default: 'test', describe: 'split of a data folder' })
          .option('images', { type: 'string', describe: 'folder of <uid>.<ext> images (optional <uid>.txt captions)' })
          .option('parquet', { type: 'string', array: true, describe: 'Pick-a-Pic parquet files with images and captions' })
          .option('captions', { type: 'string', describe: 'JSONL of {"uid", "caption"} (default: <data>/captions.jsonl)' })
          .option('train', { type: 'string', describe: 'train TFRecord for the constant baseline (default: <data>/train.tfrecord)' })
          .option('clip', { type: 'string', describe: 'HF CLIP checkpoint (dir or hub id) for the CLIP alignment baseline' })
          .option('json', { type: 'boolean', default: false, describe: 'print the metrics as JSON instead of tables' })
          .option('out', { type: 'string', describe: 'also write the JSON to this file' })
          .option('batch-size', { type: 'number', default: 8 })
          .option('limit', { type: 'number', describe: 'evaluate only the first N usable records' })
          .option('max-new-tokens', { type: 'number', default: 100, describe: 'cap on generated keyword tokens' }),
      (argv) =>
        guarded(argv, () =>
          runEval({
            checkpoint: argv.checkpoint,
            data: argv.data,
            split: argv.split,
            images: argv.images,
            parquet: argv.parquet as string[] | undefined,
            captions: argv.captions,
            train: argv.train,
            clip: argv.clip,
            json: argv.json,
            out: argv.out,
            batchSize: argv['batch-size'],
            limit: argv.limit,
            maxNewTokens: argv['max-new-tokens'],
          }),
        ),
    )
    .command(
      'calibrate',
      "set a checkpoint's keyword decision threshold (mark bias) to the best keyword F1 on held-out data",
      (y) =>
        y
          .option('checkpoint', { type: 'string', demandOption: true, describe: 'local RAHF checkpoint directory (its config.json is updated)' })
          .option('data', { type: 'string', demandOption: true, describe: 'folder with <split>.tfrecord or a RichHF .tfrecord file' })
          .option('split', { type: 'string', default: 'dev', describe: 'split of a data folder (not the test split)' })
          .option('images', { type: 'string', describe: 'folder of <uid>.<ext> images' })
          .option('captions', { type: 'string', describe: 'JSONL of {"uid", "caption"}' })
          .option('limit', { type: 'number', default: CALIBRATION_SAMPLES, describe: 'use only the first N usable records' })
          .option('biases', { type: 'number', array: true, describe: 'mark biases to try (default -2 … 6 by 0.5)' })
          .option('dry-run', { type: 'boolean', default: false, describe: 'print the table, leave config.json alone' }),
      (argv) =>
        guarded(argv, () =>
          runCalibrate({
            checkpoint: argv.checkpoint,
            data: argv.data,
            split: argv.split,
            images: argv.images,
            captions: argv.captions,
            limit: argv.limit,
            biases: argv.biases as number[] | undefined,
            dryRun: argv['dry-run'],
          }),
        ),
    )
    .command(
      'export',
      'export a RAHF checkpoint to ONNX for onnxruntime (scores graph, keyword decoder, optional heatmaps)',
      (y) =>
        y
          .option('checkpoint', { type: 'string', describe: 'RAHF checkpoint directory or HF hub id (default: bundled)' })
          .option('out', { type: 'string', demandOption: true, describe: 'output .onnx file; companion graphs, tokenizer and manifest go beside it' })
          .option('heatmaps', { type: 'boolean', default: false, describe: 'also write the scores + heatmaps graph' })
          .option('quantize', { type: 'string', choices: ['int8'], describe: 'dynamic int8 quantisation of MatMul weights' }),
      (argv) => guarded(argv, () => runExport({ checkpoint: argv.checkpoint, out: argv.out, heatmaps: argv.heatmaps, quantize: argv.quantize as 'int8' | undefined })),
    )
    .command(
      'train',
      'train RAHF (multi-task: heatmaps, scores, keywords) on RichHF-format data or a synthetic world',
      (y) =>
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
      (argv) =>
        guarded(argv, () =>
          runTrain({
            data: argv.data,
            images: argv.images,
            parquet: argv.parquet as string[] | undefined,
            captions: argv.captions,
            out: argv.out,
            preset: argv.preset,
            init: argv.init,
            variant: argv.variant,
            imageStem: argv['image-stem'],
            imageStemSkip: argv['image-stem-skip'],
            captionPool: argv['caption-pool'],
            wordGrounding: argv['word-grounding'],
            tokenizer: argv.tokenizer,
            initVit: argv['init-vit'],
            initT5: argv['init-t5'],
            steps: argv.steps,
            minutes: argv.minutes,
            batchSize: argv['batch-size'],
            lr: argv.lr,
            warmup: argv.warmup,
            schedule: argv.schedule,
            minLr: argv['min-lr'],
            cooldown: argv.cooldown,
            weightDecay: argv['weight-decay'],
            clipNorm: argv['clip-norm'],
            lossWeights: argv['loss-weights'],
            heatmapLoss: argv['heatmap-loss'],
            engine: argv.engine,
            scoreHeadLrScale: argv['score-head-lr-scale'],
            wordGroundingLrScale: argv['word-grounding-lr-scale'],
            calibrate: argv.calibrate,
            augment: argv.augment,
            freezeBackbone: argv['freeze-backbone'],
            checkpointEvery: argv['checkpoint-every'],
            keepCheckpoints: argv['keep-checkpoints'],
            evalEvery: argv['eval-every'],
            evalLimit: argv['eval-limit'],
            resume: argv.resume,
            seed: argv.seed,
            synthN: argv['synth-n'],
            synthSeed: argv['synth-seed'],
          }),
        ),
    )
    .command(
      'demo',
      'generate a small synthetic set, score it with the bundled checkpoint, write overlays, print the evaluation',
      (y) =>
        y
          .option('out', { type: 'string', default: 'demo-out', describe: 'output folder' })
          .option('n', { type: 'number', default: 200, describe: 'synthetic images to generate' })
          .option('seed', { type: 'number', default: 7 })
          .option('checkpoint', { type: 'string', describe: 'checkpoint (default: bundled)' })
          .option('overlays', { type: 'number', default: 4 }),
      (argv) => guarded(argv, () => runDemo({ out: argv.out, n: argv.n, seed: argv.seed, checkpoint: argv.checkpoint, overlays: argv.overlays })),
    )
    .demandCommand(1, 'name a command (rahf --help lists them)')
    .strict()
    .fail((msg, err, y) => {
      if (err) throw err;
      process.stderr.write(`rahf: ${msg}\n`);
      process.stderr.write(`(rahf --help for usage)\n`);
      process.exit(1);
    })
    .help();
}

if (require.main === module) {
  void cli(hideBin(process.argv)).parseAsync();
}
