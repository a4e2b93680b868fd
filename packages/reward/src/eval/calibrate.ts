/**
 * The keyword decoder's decision threshold. Greedy decoding marks a word (`yellow_0`) only when the mark
 * token's logit beats the next word's; a small model trained on few misaligned words marks rarely (the
 * bundled one: precision 0.75, recall 0.10). Adding a bias to the mark's logit moves that threshold; this
 * picks the bias with the best keyword F1 on held-out data — the usual threshold calibration of a
 * classifier, here per word. The chosen value lives in the checkpoint's config (keyword_mark_bias).
 */
import { keywordPRF, type PRF } from '../metrics/keywords';
import type { RewardModel } from '../rahf/model';
import { decodeSampleImage, groundTruthWords, type EvalSample } from './dataset';

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
