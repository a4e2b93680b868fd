import type { Heatmap } from '../heatmap-image';
import { HEATMAP_NAMES, HeatmapName, SCORE_NAMES, ScoreName } from './config';
import { misalignedWords } from './keywords';

/** Rich feedback for one image–prompt pair: what every scoring engine returns. */
export interface RichFeedback {
  scores: Record<ScoreName, number>;
  heatmaps?: Record<HeatmapName, Heatmap>;
  /** The decoder's output: the prompt words with `_0` on misaligned ones. */
  keywordSequence?: string;
  /** Words of `keywordSequence` marked `_0`. */
  misaligned?: string[];
}

/** One batch of raw outputs on the host, as both engines produce them. */
export interface FeedbackBatch {
  /** Per score type, [n] values. */
  scores: Record<ScoreName, ArrayLike<number>>;
  /** Per heatmap type, [n, height, width] row-major, with the maps' size. */
  heatmaps?: { maps: Record<HeatmapName, Float32Array>; height: number; width: number };
  /** Decoded keyword sequences, one per image. */
  sequences?: string[];
}

/** The batch's outputs as one RichFeedback per image. */
export function feedbackRows(batch: FeedbackBatch, n: number): RichFeedback[] {
  const rows: RichFeedback[] = [];
  const heat = batch.heatmaps;
  const per = heat ? heat.height * heat.width : 0;
  for (let i = 0; i < n; i++) {
    const fb: RichFeedback = { scores: Object.fromEntries(SCORE_NAMES.map((t) => [t, batch.scores[t][i]])) as Record<ScoreName, number> };
    if (heat) {
      fb.heatmaps = Object.fromEntries(
        HEATMAP_NAMES.map((t) => [t, { data: heat.maps[t].slice(i * per, (i + 1) * per), width: heat.width, height: heat.height }]),
      ) as Record<HeatmapName, Heatmap>;
    }
    if (batch.sequences) {
      fb.keywordSequence = batch.sequences[i];
      fb.misaligned = misalignedWords(batch.sequences[i]);
    }
    rows.push(fb);
  }
  return rows;
}
