import { type Member } from './bundle';

/*
 * True quality in the synthetic world, defined as the world defines its labels (reward's
 * data/synth/world.ts, docs/synthetic-world.md): a sample is the set member it converged to, and inherits
 * that member's exact latent scores —
 *   plausibility = max(0, 1 − Σ artifact severity), alignment = max(0, 1 − Σ misalignment weight),
 *   aesthetics (the world's stretched mix of grade, background, contrast, harmony, balance, coverage, minus
 *   artifacts), overall = 0.4·plausibility + 0.35·alignment + 0.25·aesthetics;
 * and it is *defective* when it carries an implausibility artifact (duplicate, slice, smear, warp, blotch) —
 * the world's ground truth for the implausibility heatmap, i.e. plausibility < 1.
 */
export interface TrueQuality {
  plausibility: number;
  alignment: number;
  aesthetics: number;
  overall: number;
  /** 1 when the image has at least one artifact, else 0. */
  defect: number;
}

export function trueQuality(m: Member): TrueQuality {
  return { ...m.truth, defect: m.artifacts.length > 0 ? 1 : 0 };
}

export const mean = (xs: readonly number[]): number => (xs.length ? xs.reduce((s, x) => s + x, 0) / xs.length : NaN);
