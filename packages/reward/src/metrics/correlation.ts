/**
 * Score-prediction metrics of the RichHF paper: Pearson (PLCC) and Spearman (SRCC) correlation, plus a
 * binary ROC AUC. Definitions follow scipy.stats.pearsonr / spearmanr and sklearn's roc_auc_score so
 * numbers are comparable with Python evaluations (checked to 1e-9 by src/parity/metrics.parity.test.ts).
 *
 * Constant input: scipy returns nan (with a ConstantInputWarning) because the correlation is 0/0.
 * `plcc`/`srcc` do the same — they are the faithful ports. Evaluation code should call `correlations`,
 * which never yields NaN: a constant prediction (or ground truth) scores 0, the correlation of a
 * predictor carrying no ranking information, and sets `constant` so a results table can mark the row.
 * Excluding such cases instead would reward a collapsed model, so 0 is the conservative choice.
 */

function fail(msg: string): never {
  throw new Error(`metrics/correlation: ${msg}`);
}

function checkPair(name: string, a: ArrayLike<number>, b: ArrayLike<number>, min: number): void {
  if (a.length !== b.length) fail(`${name}: pred has ${a.length} values but gt has ${b.length}`);
  if (a.length < min) fail(`${name}: needs at least ${min} values, got ${a.length}`);
}

/** Mean with Neumaier-compensated summation (numpy's pairwise sum is likewise far better than naive). */
function mean(x: ArrayLike<number>): number {
  let s = 0;
  let c = 0;
  for (let i = 0; i < x.length; i++) {
    const v = x[i];
    const t = s + v;
    c += Math.abs(s) >= Math.abs(v) ? s - t + v : v - t + s;
    s = t;
  }
  return (s + c) / x.length;
}

/** True when every value equals the first (scipy's constant-input test); NaN never counts as constant. */
export function isConstant(x: ArrayLike<number>): boolean {
  for (let i = 1; i < x.length; i++) if (x[i] !== x[0]) return false;
  return x.length > 0 && !Number.isNaN(x[0]);
}

/**
 * Pearson correlation of two equal-length samples without the constant check: two passes (centre,
 * then scale by the largest deviation so squares cannot overflow), clamped to [-1, 1]. NaN when either
 * side has zero variance.
 */
function pearson(x: ArrayLike<number>, y: ArrayLike<number>): number {
  const n = x.length;
  const mx = mean(x);
  const my = mean(y);
  let ax = 0;
  let ay = 0;
  for (let i = 0; i < n; i++) {
    ax = Math.max(ax, Math.abs(x[i] - mx));
    ay = Math.max(ay, Math.abs(y[i] - my));
  }
  let sxy = 0;
  let sxx = 0;
  let syy = 0;
  for (let i = 0; i < n; i++) {
    const dx = (x[i] - mx) / ax;
    const dy = (y[i] - my) / ay;
    sxy += dx * dy;
    sxx += dx * dx;
    syy += dy * dy;
  }
  const r = sxy / (Math.sqrt(sxx) * Math.sqrt(syy));
  return Number.isNaN(r) ? NaN : Math.max(-1, Math.min(1, r));
}

/** Pearson linear correlation (PLCC), as scipy.stats.pearsonr's statistic. NaN for constant input. */
export function plcc(pred: ArrayLike<number>, gt: ArrayLike<number>): number {
  checkPair('plcc', pred, gt, 2);
  if (isConstant(pred) || isConstant(gt)) return NaN;
  return pearson(pred, gt);
}

/**
 * 1-based ranks with ties given their average rank (scipy.stats.rankdata(method='average')):
 * [10, 20, 20, 5] → [2, 3.5, 3.5, 1]. Throws on NaN, which has no place in an order.
 */
export function rankAverage(x: ArrayLike<number>): Float64Array {
  const n = x.length;
  const order = new Array<number>(n);
  for (let i = 0; i < n; i++) {
    if (Number.isNaN(x[i])) fail(`rankAverage: NaN at index ${i}`);
    order[i] = i;
  }
  order.sort((a, b) => x[a] - x[b] || a - b);
  const ranks = new Float64Array(n);
  for (let i = 0; i < n; ) {
    let j = i + 1;
    while (j < n && x[order[j]] === x[order[i]]) j++;
    const r = (i + 1 + j) / 2; // average of ranks i+1 .. j
    for (let k = i; k < j; k++) ranks[order[k]] = r;
    i = j;
  }
  return ranks;
}

function hasNaN(x: ArrayLike<number>): boolean {
  for (let i = 0; i < x.length; i++) if (Number.isNaN(x[i])) return true;
  return false;
}

/** Spearman rank correlation (SRCC): Pearson of average ranks, as scipy.stats.spearmanr. NaN for constant or NaN input. */
export function srcc(pred: ArrayLike<number>, gt: ArrayLike<number>): number {
  checkPair('srcc', pred, gt, 2);
  if (hasNaN(pred) || hasNaN(gt) || isConstant(pred) || isConstant(gt)) return NaN;
  return pearson(rankAverage(pred), rankAverage(gt));
}

export interface CorrelationResult {
  plcc: number;
  srcc: number;
  /** Either input was constant; both correlations were set to 0 instead of scipy's NaN. */
  constant: boolean;
}

/** PLCC and SRCC for an evaluation table: never NaN for finite input (constant input → 0, flagged). */
export function correlations(pred: ArrayLike<number>, gt: ArrayLike<number>): CorrelationResult {
  checkPair('correlations', pred, gt, 2);
  if (isConstant(pred) || isConstant(gt)) return { plcc: 0, srcc: 0, constant: true };
  return { plcc: plcc(pred, gt), srcc: srcc(pred, gt), constant: false };
}

/**
 * Binary ROC AUC as sklearn.metrics.roc_auc_score: the probability that a random positive outscores a
 * random negative, ties counting one half (the trapezoid over sklearn's ROC curve, whose tied scores
 * form diagonal segments, equals this Mann–Whitney form). Labels: truthy / nonzero = positive.
 * NaN when only one class is present (sklearn raises there).
 */
export function rocAuc(scores: ArrayLike<number>, labels: ArrayLike<number | boolean>): number {
  if (scores.length !== labels.length) fail(`rocAuc: ${scores.length} scores but ${labels.length} labels`);
  const ranks = rankAverage(scores);
  let nPos = 0;
  let rankSum = 0;
  for (let i = 0; i < ranks.length; i++) {
    if (labels[i]) {
      nPos++;
      rankSum += ranks[i];
    }
  }
  const nNeg = ranks.length - nPos;
  if (nPos === 0 || nNeg === 0) return NaN;
  // Ranks are multiples of 1/2, so this sum is exact in float64 for any realistic n.
  return (rankSum - (nPos * (nPos + 1)) / 2) / (nPos * nNeg);
}
