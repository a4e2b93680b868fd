/**
 * The keyword decoder's decision threshold. Greedy decoding marks a word (`yellow_0`) only when the mark
 * token's logit beats the next word's; a small model trained on few misaligned words marks rarely (the
 * bundled one: precision 0.75, recall 0.10). Adding a bias to the mark's logit moves that threshold; this
 * picks the bias with the best keyword F1 on held-out data — the usual threshold calibration of a
 * classifier, here per word. The chosen value lives in the checkpoint's config (keyword_mark_bias).
 */
import * as fs from 'fs';
import * as path from 'path';
import { keywordPRF, type PRF } from '../metrics/keywords';
import { RewardModel } from '../rahf/model';
import { writeFileAtomic } from '../util/atomic';
import { Progress } from '../util/progress';
import { decodeSampleImage, groundTruthWords, type EvalDataset, type EvalSample } from './dataset';

/** Held-out images calibrated on by default (~1.5 min for the tiny preset on 2 cores). */
export const CALIBRATION_SAMPLES = 400;

/** Default grid: −2 … 6 in steps of 0.5 (0 = plain greedy decoding). */
export const DEFAULT_MARK_BIASES = Array.from({ length: 17 }, (_, i) => -2 + 0.5 * i);

export interface MarkBiasRow extends PRF {
  bias: number;
}

export interface MarkBiasCalibration {
  /** The bias with the highest F1 (ties: the one nearest 0). */
  best: MarkBiasRow;
  /** Every bias tried, in the order given. */
  rows: MarkBiasRow[];
  /** Samples used. */
  n: number;
}

export interface CalibrateOptions {
  biases?: number[];
  /** Samples decoded at once (default 16). */
  batchSize?: number;
  maxNewTokens?: number;
  onBatch?: (done: number) => void;
}

/** Keyword precision/recall/F1 of `model` on `samples` for each mark bias, and the best one. */
export async function calibrateMarkBias(model: RewardModel, samples: AsyncIterable<EvalSample>, opts: CalibrateOptions = {}): Promise<MarkBiasCalibration> {
  const biases = opts.biases ?? DEFAULT_MARK_BIASES;
  if (biases.length === 0 || biases.some((b) => !Number.isFinite(b))) throw new Error(`calibrate: biases must be finite numbers, got ${JSON.stringify(biases)}`);
  const batchSize = opts.batchSize ?? 16;
  const pred: string[][][] = biases.map(() => []);
  const gt: string[][] = [];
  let batch: EvalSample[] = [];
  const flush = async () => {
    const images = await Promise.all(batch.map(decodeSampleImage));
    const words = await model.misalignedWordsPerBias(images, batch.map((s) => s.caption), biases, opts.maxNewTokens);
    words.forEach((w, k) => pred[k].push(...w));
    for (const s of batch) gt.push(groundTruthWords(s.caption, s.record.promptMisalignmentLabel));
    opts.onBatch?.(batch.length);
    batch = [];
  };
  for await (const s of samples) {
    batch.push(s);
    if (batch.length === batchSize) await flush();
  }
  if (batch.length > 0) await flush();
  if (gt.length === 0) throw new Error('calibrate: no samples');
  const rows = biases.map((bias, k) => ({ bias, ...keywordPRF(pred[k], gt) }));
  const best = rows.reduce((a, r) => (r.f1 > a.f1 || (r.f1 === a.f1 && Math.abs(r.bias) < Math.abs(a.bias)) ? r : a));
  return { best, rows, n: gt.length };
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
