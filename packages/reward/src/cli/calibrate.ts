import * as fs from 'fs';
import * as path from 'path';
import { calibrateMarkBias, type MarkBiasCalibration } from '../eval/calibrate';
import { openEvalDataset, type EvalDataset } from '../eval/dataset';
import { RewardModel } from '../rahf/model';
import { writeFileAtomic } from '../util/atomic';
import { Progress } from '../util/progress';
import { UserError } from './errors';
import { checkPositiveInt, defaultEvalIO, type EvalIO } from './eval';

/** Held-out images calibrated on by default (~1.5 min for the tiny preset on 2 cores). */
export const CALIBRATION_SAMPLES = 400;

export interface CalibrateCliOptions {
  /** Local RAHF checkpoint directory; its config.json receives keyword_mark_bias. */
  checkpoint: string;
  /** Data folder with `<split>.tfrecord` or a RichHF `.tfrecord` file. */
  data: string;
  /** Split of a data folder (default "dev": held out from training, and not the test split). */
  split?: string;
  images?: string;
  captions?: string;
  /** Use only the first N usable records (default CALIBRATION_SAMPLES). */
  limit?: number;
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

/** Sets keyword_mark_bias in a checkpoint's config.json (temp file + rename; other keys untouched). */
export function writeMarkBias(checkpoint: string, bias: number): void {
  const file = path.join(checkpoint, 'config.json');
  const json = JSON.parse(fs.readFileSync(file, 'utf8'));
  json.keyword_mark_bias = bias;
  writeFileAtomic(file, JSON.stringify(json, null, 2) + '\n');
}

/**
 * Calibrates a local checkpoint on a dataset: loads it, scores every bias, and (unless `write` is false)
 * saves the best into its config.json. Shared by `rahf calibrate` and the end of `rahf train`.
 */
export async function calibrateCheckpoint(
  checkpoint: string,
  ds: EvalDataset,
  o: { biases?: number[]; progress?: boolean; write?: boolean } = {},
): Promise<MarkBiasCalibration> {
  const model = await RewardModel.load(checkpoint);
  try {
    const progress = new Progress(ds.size, 'calibrate', { enabled: o.progress ?? true, unit: 'img' });
    const c = await calibrateMarkBias(model, ds.samples(), { biases: o.biases, onBatch: (k) => progress.tick(k) });
    if (o.write !== false) writeMarkBias(checkpoint, c.best.bias);
    return c;
  } finally {
    model.dispose();
  }
}

/** F1 of the unbiased decoder (bias 0) when it was tried, for messages. */
export function unbiasedF1(c: MarkBiasCalibration): string {
  return c.rows.find((r) => r.bias === 0)?.f1.toFixed(3) ?? 'not tried';
}

/**
 * `rahf calibrate`: the keyword decoder's mark bias with the best keyword F1 on held-out data
 * (src/eval/calibrate.ts), written into the checkpoint's config.json. Returns the exit code.
 */
export async function runCalibrate(opts: CalibrateCliOptions, io: EvalIO = defaultEvalIO): Promise<number> {
  checkPositiveInt('limit', opts.limit);
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
