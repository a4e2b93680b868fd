import { currentBackend, initBackend } from '../backend';
import { resolveCheckpoint } from '../bundled';
import { ClipBaseline, constantPredictor, clipPredictor, DataMeans, loadClipBaseline, meansOf, trainMeans } from '../eval/baselines';
import { DatasetOptions, openEvalDataset } from '../eval/dataset';
import { evaluateSamples, modelPredictor, Predictor } from '../eval/evaluate';
import { EvalReport, formatTables, reportJson, reportNotes } from '../eval/table';
import { writeFileAtomic } from '../util/atomic';
import { Progress } from '../util/progress';
import { UserError } from '../errors';
import { CliIO, checkInt, guarded, processIO, rahfCommand } from './command';
import { checkExists, checkOutFile } from './validate';
import { checkEngineOptions, EngineCliOptions, openCliScorer, withEngineOptions } from './engine';

/** `rahf eval` options: where the evaluation set is (eval/dataset.ts DatasetOptions) and what to run and print. */
export interface EvalCliOptions extends DatasetOptions, EngineCliOptions {
  /** RAHF checkpoint directory or hub id (default: the bundled one). */
  checkpoint?: string;
  /** HF CLIP checkpoint (directory or hub id) for the CLIP alignment baseline. */
  clip?: string;
  /** Print the JSON document instead of the tables. */
  json?: boolean;
  /** Also write the JSON document to this file. */
  out?: string;
  /** Samples per batch (default 8). */
  batchSize?: number;
  /** Cap on generated keyword tokens (default 100). */
  maxNewTokens?: number;
  /** Progress line on stderr (default: on). */
  progress?: boolean;
}

/**
 * `rahf eval`: the checkpoint and the baselines (constant = train means; CLIP cosine for alignment with
 * --clip) on one evaluation set, reported as the RichHF paper's Tables 1–4, or as JSON with --json
 * (src/eval/table.ts documents the shape). Returns the exit code.
 */
export async function runEval(opts: EvalCliOptions, io: CliIO = processIO): Promise<number> {
  checkInt('batch-size', opts.batchSize);
  checkInt('limit', opts.limit);
  checkInt('max-new-tokens', opts.maxNewTokens);
  checkEngineOptions(opts);
  checkExists('data', opts.data);
  checkExists('images', opts.images, 'dir');
  checkExists('captions', opts.captions, 'file');
  checkExists('train', opts.train, 'file');
  for (const f of opts.parquet ?? []) checkExists('parquet', f, 'file');
  checkOutFile('out', opts.out);
  const ds = await openEvalDataset(opts);
  if (ds.missingImages.length > 0) io.stderr(`rahf: ${ds.missingImages.length} of ${ds.totalRecords} records have no image (skipped)`);
  if (ds.missingCaptions.length > 0) io.stderr(`rahf: ${ds.missingCaptions.length} of ${ds.totalRecords} records have no prompt (skipped)`);

  let means: DataMeans;
  const fromEvalSet = ds.trainFile === undefined;
  if (ds.trainFile) {
    means = await trainMeans(ds.trainFile);
  } else {
    io.stderr('rahf: no train split (no train.tfrecord beside the data, no --train): the constant baseline uses the evaluated samples\' own means');
    means = await meansOf(
      (async function* () {
        for await (const s of ds.samples()) yield s.record;
      })(),
      ds.recordsFile,
    );
  }

  const checkpoint = resolveCheckpoint(opts.checkpoint);
  // Scores, both heatmaps and the keywords from one engine (onnxruntime on the CPU by default).
  const model = await openCliScorer(checkpoint, { ...opts, heatmaps: true, keywords: true, batchSize: opts.batchSize ?? 8 }, io);
  let clip: ClipBaseline | undefined;
  try {
    if (opts.clip) {
      try {
        if (!currentBackend()) await initBackend(opts.backend, { quiet: true }); // CLIP runs on tfjs
        clip = await loadClipBaseline(opts.clip);
      } catch (e) {
        throw new UserError(`--clip ${opts.clip}: ${(e as Error).message.split('\n')[0]}`);
      }
    }
    const predictors: Predictor[] = [
      modelPredictor(model, { maxNewTokens: opts.maxNewTokens }),
      constantPredictor(means),
      ...(clip ? [clipPredictor(clip)] : []),
    ];
    const progress = new Progress(ds.size, 'eval', { enabled: opts.progress ?? true, unit: 'img' });
    const run = await evaluateSamples(ds.samples(), predictors, { batchSize: opts.batchSize ?? 8, onBatch: (k) => progress.tick(k) });
    for (const w of ds.warnings.slice(0, 5)) io.stderr(`rahf: warning: ${w}`);
    if (ds.warnings.length > 5) io.stderr(`rahf: … and ${ds.warnings.length - 5} more warnings`);

    const report: EvalReport = {
      n: run.n,
      records: ds.recordsFile,
      checkpoint,
      model: run.results.model,
      baselines: { constant: run.results.constant, ...(clip ? { clip: run.results.clip } : {}) },
      constant: { source: means.source, count: means.count, fromEvalSet },
      clip: clip?.dir,
      totalRecords: ds.totalRecords,
      missingImages: ds.missingImages,
      missingCaptions: ds.missingCaptions,
    };
    const json = JSON.stringify(reportJson(report), null, 2);
    if (opts.out) writeFileAtomic(opts.out, json + '\n');
    if (opts.json) {
      io.stdout(json);
      // The JSON holds numbers only; what they mean (and why some are null) goes to stderr.
      for (const n of reportNotes(report)) io.stderr(`rahf: ${n}`);
    } else {
      io.stdout(formatTables(report));
    }
    return 0;
  } finally {
    await model.dispose();
    clip?.dispose();
  }
}

export const evalCommand = rahfCommand({
  command: 'eval',
  describe: "evaluate a RAHF checkpoint with the paper's metrics (Tables 1-4) against baselines",
  builder: (y) =>
    withEngineOptions(y)
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
  // The engine choice brings tfjs up only when it may run the model (or for --clip).
  handler: (argv) => guarded(argv, () => runEval(argv), false),
});
