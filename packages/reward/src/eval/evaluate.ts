/**
 * Evaluation of rich-feedback predictions with the RichHF paper's metrics (Tables 1–4):
 * - scores: PLCC and SRCC per score over all samples (`correlations`: constant input scores 0, flagged);
 * - heatmaps: ground-truth maps / 255; the prediction is upsampled to the ground truth's resolution
 *   (`heatmapMetrics`, see src/metrics/saliency.ts); MSE averaged over all samples and over the samples
 *   whose ground truth is empty (no pixel > 0); CC, KLD, SIM, NSS and AUC-Judd averaged over the
 *   non-empty ones only (`meanDefined`);
 * - keywords: micro-averaged precision / recall / F1 of the predicted misaligned words against the
 *   ground-truth words (prompt words labelled 0), over all samples.
 * A metric without samples to average (e.g. MSE-empty when every map has regions) is NaN here and null
 * in JSON.
 *
 * Predictions come from `Predictor`s (the RAHF model, the baselines, or a test's oracle), all run on the
 * same batches so a single pass over the data evaluates every method.
 */
import { correlations, heatmapMetrics, keywordPRF, meanDefined, PRF } from '../metrics';
import type { Heatmap } from '../metrics';
import { RgbImage } from '../image';
import { HEATMAP_NAMES, HeatmapName, SCORE_NAMES, ScoreName } from '../rahf/config';
import type { Scorer } from '../rahf/scorer';
import type { RichHFRecord } from '../data/record';
import { decodeSampleImage, EvalSample, groundTruthWords } from './dataset';

/** Record fields behind each predicted output. */
export const SCORE_FIELDS: Record<ScoreName, 'artifactScore' | 'misalignmentScore' | 'aestheticsScore' | 'overallScore'> = {
  plausibility: 'artifactScore',
  alignment: 'misalignmentScore',
  aesthetics: 'aestheticsScore',
  overall: 'overallScore',
};
export const MAP_FIELDS: Record<HeatmapName, 'artifactMap' | 'misalignmentMap'> = {
  implausibility: 'artifactMap',
  misalignment: 'misalignmentMap',
};

/** Ground truth of one sample, on the prediction's scale (maps in [0, 1]). */
export interface GroundTruth {
  uid: string;
  caption: string;
  scores: Record<ScoreName, number>;
  maps: Record<HeatmapName, Heatmap>;
  /** Misaligned prompt words (labels 0). */
  words: string[];
}

/** What a method predicts for one sample; a method may predict only some outputs. */
export interface Prediction {
  scores?: Partial<Record<ScoreName, number>>;
  heatmaps?: Partial<Record<HeatmapName, Heatmap>>;
  /** Predicted misaligned words; undefined when the method does not predict keywords. */
  misaligned?: string[];
}

/** A decoded sample as predictors see it. */
export interface EvalItem {
  uid: string;
  caption: string;
  image: RgbImage;
  gt: GroundTruth;
}

export interface Predictor {
  /** Key of the method (e.g. "model", "constant", "clip"). */
  name: string;
  /** One prediction per item, in order. */
  predict(items: EvalItem[]): Promise<Prediction[]>;
}

export interface ScoreMetrics {
  plcc: number;
  srcc: number;
  /** Prediction or ground truth was constant: both correlations are 0 by convention (scipy: nan). */
  constant: boolean;
}

export interface HeatmapSummary {
  mse_all: number;
  mse_empty: number;
  cc: number;
  kld: number;
  sim: number;
  nss: number;
  auc_judd: number;
  /** Samples averaged: all, with an empty ground truth, and with a non-empty one. */
  counts: { all: number; empty: number; nonEmpty: number };
}

/** Metrics of one method; outputs it does not predict are absent. */
export interface MethodResult {
  scores: Partial<Record<ScoreName, ScoreMetrics>>;
  heatmaps: Partial<Record<HeatmapName, HeatmapSummary>>;
  keywords?: PRF;
}

/** Ground truth of a decoded record (maps / 255 in float64). */
export function groundTruthOf(record: RichHFRecord, uid: string, caption: string): GroundTruth {
  const scores = {} as Record<ScoreName, number>;
  for (const s of SCORE_NAMES) scores[s] = record[SCORE_FIELDS[s]];
  const maps = {} as Record<HeatmapName, Heatmap>;
  for (const h of HEATMAP_NAMES) {
    const m = record[MAP_FIELDS[h]];
    const data = new Float64Array(m.data.length); // float64: /255 exactly as a float64 reference computes it
    for (let i = 0; i < data.length; i++) data[i] = m.data[i] / 255;
    maps[h] = { data, width: m.width, height: m.height };
  }
  return { uid, caption, scores, maps, words: groundTruthWords(caption, record.promptMisalignmentLabel) };
}

function isEmptyMap(m: Heatmap): boolean {
  for (let i = 0; i < m.data.length; i++) if (m.data[i] > 0) return false;
  return true;
}

/**
 * Collects ground truth and one method's predictions sample by sample; `result()` computes the metrics.
 * Heatmap metrics are computed per sample as samples arrive (so maps are not kept); score and keyword
 * inputs are kept (a few numbers and words per sample).
 */
export class MetricAccumulator {
  private readonly predScores = new Map<ScoreName, number[]>();
  private readonly gtScores = new Map<ScoreName, number[]>();
  private readonly perMap = new Map<HeatmapName, { mse: number[]; mseEmpty: number[]; cc: number[]; kld: number[]; sim: number[]; nss: number[]; auc: number[] }>();
  private readonly predWords: string[][] = [];
  private readonly gtWords: string[][] = [];
  private samples = 0;

  /** Adds one sample. Every sample must carry the same set of outputs (checked). */
  add(gt: GroundTruth, pred: Prediction): void {
    const where = `sample ${gt.uid}`;
    for (const s of SCORE_NAMES) {
      const v = pred.scores?.[s];
      const seen = this.predScores.has(s);
      if (v === undefined) {
        if (seen) throw new Error(`${where}: no ${s} score predicted, but earlier samples had one`);
        continue;
      }
      if (!seen && this.samples > 0) throw new Error(`${where}: ${s} score predicted, but earlier samples had none`);
      if (!Number.isFinite(v)) throw new Error(`${where}: predicted ${s} score is ${v}`);
      if (!seen) {
        this.predScores.set(s, []);
        this.gtScores.set(s, []);
      }
      this.predScores.get(s)!.push(v);
      this.gtScores.get(s)!.push(gt.scores[s]);
    }
    for (const h of HEATMAP_NAMES) {
      const p = pred.heatmaps?.[h];
      const seen = this.perMap.has(h);
      if (p === undefined) {
        if (seen) throw new Error(`${where}: no ${h} heatmap predicted, but earlier samples had one`);
        continue;
      }
      if (!seen && this.samples > 0) throw new Error(`${where}: ${h} heatmap predicted, but earlier samples had none`);
      if (!seen) this.perMap.set(h, { mse: [], mseEmpty: [], cc: [], kld: [], sim: [], nss: [], auc: [] });
      const acc = this.perMap.get(h)!;
      const g = gt.maps[h];
      const m = heatmapMetrics(p, g);
      acc.mse.push(m.mse);
      if (isEmptyMap(g)) acc.mseEmpty.push(m.mse);
      acc.cc.push(m.cc);
      acc.kld.push(m.kld);
      acc.sim.push(m.sim);
      acc.nss.push(m.nss);
      acc.auc.push(m.aucJudd);
    }
    const hasKw = pred.misaligned !== undefined;
    if (this.samples > 0 && hasKw !== (this.predWords.length > 0)) {
      throw new Error(`${where}: keywords ${hasKw ? '' : 'not '}predicted, unlike earlier samples`);
    }
    if (hasKw) {
      this.predWords.push(pred.misaligned!);
      this.gtWords.push(gt.words);
    }
    this.samples++;
  }

  get count(): number {
    return this.samples;
  }

  result(): MethodResult {
    const scores: MethodResult['scores'] = {};
    for (const [s, pred] of this.predScores) {
      const gt = this.gtScores.get(s)!;
      // Fewer than two samples: no correlation exists.
      scores[s] = pred.length < 2 ? { plcc: NaN, srcc: NaN, constant: false } : correlations(pred, gt);
    }
    const heatmaps: MethodResult['heatmaps'] = {};
    for (const [h, a] of this.perMap) {
      const cc = meanDefined(a.cc);
      heatmaps[h] = {
        mse_all: meanDefined(a.mse).mean,
        mse_empty: meanDefined(a.mseEmpty).mean,
        cc: cc.mean,
        kld: meanDefined(a.kld).mean,
        sim: meanDefined(a.sim).mean,
        nss: meanDefined(a.nss).mean,
        auc_judd: meanDefined(a.auc).mean,
        counts: { all: a.mse.length, empty: a.mseEmpty.length, nonEmpty: a.mse.length - a.mseEmpty.length },
      };
    }
    const out: MethodResult = { scores, heatmaps };
    if (this.predWords.length > 0) out.keywords = keywordPRF(this.predWords, this.gtWords);
    return out;
  }
}

export interface EvaluateOptions {
  /** Samples decoded and predicted at once (default 8). */
  batchSize?: number;
  /** Called after each batch with the number of samples done in it. */
  onBatch?: (done: number) => void;
}

export interface EvaluationRun {
  n: number;
  results: Record<string, MethodResult>;
}

/**
 * Runs every predictor on the same batches of `samples` and computes each method's metrics. Images are
 * decoded per batch, so memory holds one batch of images and maps.
 */
export async function evaluateSamples(
  samples: AsyncIterable<EvalSample>,
  predictors: Predictor[],
  opts: EvaluateOptions = {},
): Promise<EvaluationRun> {
  const batchSize = opts.batchSize ?? 8;
  if (!(Number.isInteger(batchSize) && batchSize > 0)) throw new Error(`batch size must be a positive integer, got ${batchSize}`);
  const names = new Set<string>();
  for (const p of predictors) {
    if (names.has(p.name)) throw new Error(`two predictors named "${p.name}"`);
    names.add(p.name);
  }
  const acc = new Map(predictors.map((p) => [p.name, new MetricAccumulator()]));
  let n = 0;
  const flush = async (batch: EvalSample[]) => {
    const items: EvalItem[] = await Promise.all(
      batch.map(async (s) => ({
        uid: s.uid,
        caption: s.caption,
        image: await decodeSampleImage(s),
        gt: groundTruthOf(s.record, s.uid, s.caption),
      })),
    );
    for (const p of predictors) {
      const preds = await p.predict(items);
      if (preds.length !== items.length) throw new Error(`predictor ${p.name}: ${preds.length} predictions for ${items.length} samples`);
      const a = acc.get(p.name)!;
      items.forEach((it, i) => a.add(it.gt, preds[i]));
    }
    n += items.length;
    opts.onBatch?.(items.length);
  };
  let batch: EvalSample[] = [];
  for await (const s of samples) {
    batch.push(s);
    if (batch.length === batchSize) {
      await flush(batch);
      batch = [];
    }
  }
  if (batch.length > 0) await flush(batch);
  const results: Record<string, MethodResult> = {};
  for (const [name, a] of acc) results[name] = a.result();
  return { n, results };
}

export interface ModelPredictorOptions {
  /** Images per forward pass inside the model (default: the whole evaluation batch). */
  batchSize?: number;
  /** Cap on generated keyword tokens (default: the model's, 100). */
  maxNewTokens?: number;
}

/** A RAHF scorer (either engine) as a predictor: all four scores, both heatmaps, misaligned words. */
export function modelPredictor(model: Scorer, opts: ModelPredictorOptions = {}): Predictor {
  return {
    name: 'model',
    async predict(items) {
      const out = await model.score(
        items.map((i) => i.image),
        items.map((i) => i.caption),
        { heatmaps: true, keywords: true, batchSize: opts.batchSize ?? items.length, maxNewTokens: opts.maxNewTokens },
      );
      return out.map((r) => ({ scores: r.scores, heatmaps: r.heatmaps, misaligned: r.misaligned ?? [] }));
    },
  };
}
