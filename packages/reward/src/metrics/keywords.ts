/**
 * Misaligned-keyword metrics (RichHF paper, text-misalignment prediction: precision / recall / F1 of
 * the misaligned prompt words).
 *
 * Both variants are micro-averaged: true positives, false positives and false negatives are summed over
 * all samples before dividing, so every word counts once however samples are sized. Zero division
 * (no predicted words at all → precision; no ground-truth words → recall; both → F1) gives 0, the value
 * sklearn's classification_report(zero_division=0) gives in RichHF's own evaluation code
 * (youweiliang/RichHF metrics.py). Counts are returned too, so such a row can be told apart from a
 * genuinely bad one. (That reference averages per-sample scores — a macro over samples; the micro
 * average here weighs words, not prompts.)
 */

export interface PRF {
  precision: number;
  recall: number;
  f1: number;
  tp: number;
  fp: number;
  fn: number;
}

function fail(msg: string): never {
  throw new Error(`metrics/keywords: ${msg}`);
}

function prf(tp: number, fp: number, fn: number): PRF {
  return {
    precision: tp + fp > 0 ? tp / (tp + fp) : 0,
    recall: tp + fn > 0 ? tp / (tp + fn) : 0,
    f1: tp > 0 ? (2 * tp) / (2 * tp + fp + fn) : 0, // = 2PR/(P+R) whenever that is defined
    tp,
    fp,
    fn,
  };
}

/**
 * Word-level P/R/F1 of predicted misaligned words against the ground truth, one list per sample.
 * Within a sample words are multisets ("a cat and a cat" with both "cat"s marked counts two), matched
 * exactly (case-sensitive: both sides come from the same prompt's words, see rahf/keywords.ts
 * misalignedWords). TP per sample = Σ_w min(#pred w, #gt w).
 */
export function keywordPRF(pred: readonly (readonly string[])[], gt: readonly (readonly string[])[]): PRF {
  if (pred.length !== gt.length) fail(`keywordPRF: ${pred.length} predicted samples but ${gt.length} ground-truth samples`);
  let tp = 0;
  let fp = 0;
  let fn = 0;
  for (let s = 0; s < pred.length; s++) {
    const want = new Map<string, number>();
    for (const w of gt[s]) want.set(w, (want.get(w) ?? 0) + 1);
    let hit = 0;
    for (const w of pred[s]) {
      const c = want.get(w) ?? 0;
      if (c > 0) {
        want.set(w, c - 1);
        hit++;
      }
    }
    tp += hit;
    fp += pred[s].length - hit;
    fn += gt[s].length - hit;
  }
  return prf(tp, fp, fn);
}

/**
 * Position-level P/R/F1 from per-word labels (RichHF-18K's token labels: 0 = misaligned, the positive
 * class; any other value = aligned). Each sample's predicted and ground-truth labels must cover the same
 * prompt words (rahf/keywords.ts sequenceToLabels gives one label per prompt word).
 */
export function keywordPRFFromLabels(predLabels: readonly ArrayLike<number>[], gtLabels: readonly ArrayLike<number>[]): PRF {
  if (predLabels.length !== gtLabels.length) {
    fail(`keywordPRFFromLabels: ${predLabels.length} predicted samples but ${gtLabels.length} ground-truth samples`);
  }
  let tp = 0;
  let fp = 0;
  let fn = 0;
  for (let s = 0; s < predLabels.length; s++) {
    const p = predLabels[s];
    const g = gtLabels[s];
    if (p.length !== g.length) fail(`keywordPRFFromLabels: sample ${s} has ${p.length} predicted labels but ${g.length} ground-truth labels`);
    for (let i = 0; i < p.length; i++) {
      const pm = p[i] === 0;
      const gm = g[i] === 0;
      if (pm && gm) tp++;
      else if (pm) fp++;
      else if (gm) fn++;
    }
  }
  return prf(tp, fp, fn);
}
