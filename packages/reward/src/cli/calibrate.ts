import * as fs from 'fs';
import * as path from 'path';
import { CALIBRATION_SAMPLES, calibrateCheckpoint, unbiasedF1, type MarkBiasCalibration } from '../eval/calibrate';
import { DatasetOptions, openEvalDataset } from '../eval/dataset';
import { UserError } from '../errors';
import { CliIO, checkInt, guarded, processIO, rahfCommand } from './command';
import { checkExists } from './validate';

/** `rahf calibrate` options: the held-out set (DatasetOptions; split default "dev") and the checkpoint written to. */
export interface CalibrateCliOptions extends Pick<DatasetOptions, 'data' | 'split' | 'images' | 'captions' | 'limit'> {
  /** Local RAHF checkpoint directory; its config.json receives keyword_mark_bias. */
  checkpoint: string;
  /** Mark biases to try (default −2 … 6 by 0.5). */
  biases?: number[];
  /** Report only; leave config.json as it is. */
  dryRun?: boolean;
  progress?: boolean;
}

/** One line per bias: `bias  P  R  F1`, the chosen one starred. */
export function formatCalibration(c: MarkBiasCalibration): string {
  const f = (v: number) => v.toFixed(3);
  const lines = ['mark bias | precision | recall | F1', '--- | --- | --- | ---'];
  for (const r of c.rows) lines.push(`${r.bias === c.best.bias ? '*' : ''}${r.bias} | ${f(r.precision)} | ${f(r.recall)} | ${f(r.f1)}`);
  return lines.join('\n');
}

/**
 * `rahf calibrate`: the keyword decoder's mark bias with the best keyword F1 on held-out data
 * (src/eval/calibrate.ts), written into the checkpoint's config.json. Returns the exit code.
 */
export async function runCalibrate(opts: CalibrateCliOptions, io: CliIO = processIO): Promise<number> {
  checkInt('limit', opts.limit);
  checkExists('data', opts.data);
  checkExists('images', opts.images, 'dir');
  checkExists('captions', opts.captions, 'file');
  if (opts.biases?.some((b) => !Number.isFinite(b))) throw new UserError(`--biases must be numbers, got ${opts.biases.join(' ')}`);
  if (!fs.existsSync(path.join(opts.checkpoint, 'config.json'))) {
    throw new UserError(`--checkpoint ${opts.checkpoint}: no config.json there (calibrate writes into a local checkpoint directory)`);
  }
  const ds = await openEvalDataset({ data: opts.data, split: opts.split ?? 'dev', images: opts.images, captions: opts.captions, limit: opts.limit ?? CALIBRATION_SAMPLES });
  if (ds.size === 0) throw new UserError(`${ds.recordsFile}: no usable records (images and prompts) to calibrate on`);
  const c = await calibrateCheckpoint(opts.checkpoint, ds, { biases: opts.biases, progress: opts.progress, write: !opts.dryRun });
  io.stdout(formatCalibration(c));
  io.stderr(`rahf: ${c.n} samples of ${ds.recordsFile}: mark bias ${c.best.bias} (F1 ${c.best.f1.toFixed(3)}; unbiased ${unbiasedF1(c)})`);
  if (!opts.dryRun) io.stderr(`rahf: wrote keyword_mark_bias ${c.best.bias} to ${path.join(opts.checkpoint, 'config.json')}`);
  return 0;
}

export const calibrateCommand = rahfCommand({
  command: 'calibrate',
  describe: "set a checkpoint's keyword decision threshold (mark bias) to the best keyword F1 on held-out data",
  builder: (y) =>
    y
      .option('checkpoint', { type: 'string', demandOption: true, describe: 'local RAHF checkpoint directory (its config.json is updated)' })
      .option('data', { type: 'string', demandOption: true, describe: 'folder with <split>.tfrecord or a RichHF .tfrecord file' })
      .option('split', { type: 'string', default: 'dev', describe: 'split of a data folder (not the test split)' })
      .option('images', { type: 'string', describe: 'folder of <uid>.<ext> images' })
      .option('captions', { type: 'string', describe: 'JSONL of {"uid", "caption"}' })
      .option('limit', { type: 'number', default: CALIBRATION_SAMPLES, describe: 'use only the first N usable records' })
      .option('biases', { type: 'number', array: true, describe: 'mark biases to try (default -2 … 6 by 0.5)' })
      .option('dry-run', { type: 'boolean', default: false, describe: 'print the table, leave config.json alone' }),
  handler: (argv) => guarded(argv, () => runCalibrate(argv)),
});
