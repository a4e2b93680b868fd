/**
 * Heatmap metrics of the RichHF paper (artifact / misalignment heatmaps): MSE plus the saliency-benchmark
 * metrics CC, KLD, SIM, NSS and AUC-Judd. Definitions are ported from the MIT saliency benchmark's
 * MATLAB code (github.com/cvzoya/saliency, code_forMetrics/CC.m, KLdiv.m, similarity.m, NSS.m,
 * AUC_Judd.m; Bylinskii et al., "What do different evaluation metrics tell us about saliency models?",
 * arXiv:1604.03605). Maps are row-major, any numeric array type, computed in float64.
 *
 * Decisions (each also noted at its function):
 * - Resolution: metrics are computed at the ground truth's resolution; a prediction of another size is
 *   upsampled with `resizeBilinear` (see there for why).
 * - Empty ground truth (no pixel > 0, i.e. an image without marked regions): CC, KLD, SIM, NSS and
 *   AUC-Judd are undefined and return NaN; average them with `meanDefined`, which skips NaN and reports
 *   how many values it used. MSE is defined for every sample. (MATLAB gives KLD = 0 and SIM = 0 for an
 *   empty fixation map, which would let any prediction score perfectly on KLD; NaN keeps such samples
 *   out of the saliency averages, as RichHF reports them on non-empty heatmaps only.)
 * - Constant prediction with a usable ground truth: CC → 0, NSS → 0, SIM → 0 (min-max maps it to the
 *   zero map, which similarity.m keeps as zero), AUC-Judd → 0.5 (all pixels tied). MATLAB yields NaN
 *   for most of these; a defined chance-level value keeps a collapsed model from being silently dropped.
 * - Fixations: RichHF has no eye fixations; the binary fixation map for NSS and AUC-Judd is the ground
 *   truth heatmap thresholded at > 0 (`fixationsFromHeatmap`), as in RichHF's own evaluation code
 *   (youweiliang/RichHF metrics.py uses gt > 0).
 */

/** MATLAB's `eps` (2^-52), the regulariser in KLdiv.m. */
export const MATLAB_EPS = 2.220446049250313e-16;

/** A row-major single-channel map with its size. */
export interface Heatmap {
  data: ArrayLike<number>;
  width: number;
  height: number;
}

function fail(msg: string): never {
  throw new Error(`metrics/saliency: ${msg}`);
}

function checkSize(name: string, p: ArrayLike<unknown>, g: ArrayLike<unknown>): void {
  if (p.length !== g.length) {
    fail(`${name}: prediction has ${p.length} pixels but ground truth has ${g.length} (resize the prediction first with resizeBilinear)`);
  }
  if (p.length === 0) fail(`${name}: empty maps`);
}

interface Stats {
  mean: number;
  std: number; // sample std (N-1), MATLAB's std and torch's unbiased std
  min: number;
  max: number;
  sum: number;
  anyPositive: boolean;
}

function stats(x: ArrayLike<number>): Stats {
  const n = x.length;
  let sum = 0;
  let min = Infinity;
  let max = -Infinity;
  let anyPositive = false;
  for (let i = 0; i < n; i++) {
    const v = x[i];
    sum += v;
    if (v < min) min = v;
    if (v > max) max = v;
    if (v > 0) anyPositive = true;
  }
  const mean = sum / n;
  let ss = 0;
  for (let i = 0; i < n; i++) ss += (x[i] - mean) * (x[i] - mean);
  return { mean, std: n > 1 ? Math.sqrt(ss / (n - 1)) : 0, min, max, sum, anyPositive };
}

/** Mean squared error over pixels. Not scale-invariant: give both maps on the same scale (GT PNG / 255). */
export function mse(pred: ArrayLike<number>, gt: ArrayLike<number>): number {
  checkSize('mse', pred, gt);
  let s = 0;
  for (let i = 0; i < pred.length; i++) s += (pred[i] - gt[i]) * (pred[i] - gt[i]);
  return s / pred.length;
}

/**
 * Linear correlation coefficient (CC.m): Pearson correlation over pixels, i.e. the mean product of the
 * two maps standardised to zero mean and unit std. NaN for an empty or constant ground truth; 0 for a
 * constant prediction.
 */
export function cc(pred: ArrayLike<number>, gt: ArrayLike<number>): number {
  checkSize('cc', pred, gt);
  const g = stats(gt);
  if (!g.anyPositive || g.max === g.min) return NaN;
  const p = stats(pred);
  if (p.max === p.min) return 0;
  let sxy = 0;
  let sxx = 0;
  let syy = 0;
  for (let i = 0; i < pred.length; i++) {
    const dx = pred[i] - p.mean;
    const dy = gt[i] - g.mean;
    sxy += dx * dy;
    sxx += dx * dx;
    syy += dy * dy;
  }
  return Math.max(-1, Math.min(1, sxy / Math.sqrt(sxx * syy)));
}

/**
 * KL divergence of the prediction from the ground truth (KLdiv.m), both seen as distributions:
 * each map is divided by its sum (a zero map stays zero), then Σ G·log(eps + G/(P + eps)) with
 * eps = MATLAB_EPS. Lower is better; 0 for identical maps. NaN for an empty ground truth. Maps must be
 * non-negative.
 */
export function kld(pred: ArrayLike<number>, gt: ArrayLike<number>): number {
  checkSize('kld', pred, gt);
  const p = stats(pred);
  const g = stats(gt);
  if (p.min < 0 || g.min < 0) fail(`kld: maps must be non-negative (min pred ${p.min}, min gt ${g.min})`);
  if (!g.anyPositive) return NaN;
  const ps = p.sum > 0 ? p.sum : 1;
  let s = 0;
  for (let i = 0; i < gt.length; i++) {
    const gi = gt[i] / g.sum;
    if (gi === 0) continue; // 0·log(eps) = 0
    s += gi * Math.log(MATLAB_EPS + gi / (pred[i] / ps + MATLAB_EPS));
  }
  return s;
}

/**
 * Similarity / histogram intersection (similarity.m): each map min-max normalised to [0, 1], then
 * divided by its sum, then Σ min(P, G). 1 for identical maps, 0 for disjoint ones. NaN for an empty or
 * constant ground truth; a constant prediction normalises to the zero map and scores 0.
 */
export function sim(pred: ArrayLike<number>, gt: ArrayLike<number>): number {
  checkSize('sim', pred, gt);
  const g = stats(gt);
  if (!g.anyPositive || g.max === g.min) return NaN;
  const p = stats(pred);
  if (p.max === p.min) return 0;
  // Min-max then sum-normalise is (x - min) / Σ(x - min): the (max - min) factor cancels.
  const n = pred.length;
  let pScale = 0;
  let gScale = 0;
  for (let i = 0; i < n; i++) {
    pScale += pred[i] - p.min;
    gScale += gt[i] - g.min;
  }
  let s = 0;
  for (let i = 0; i < n; i++) s += Math.min((pred[i] - p.min) / pScale, (gt[i] - g.min) / gScale);
  return s;
}

/** Binary fixation map from a ground-truth heatmap: 1 where the heatmap is > threshold (default 0). */
export function fixationsFromHeatmap(gt: ArrayLike<number>, threshold = 0): Uint8Array {
  const out = new Uint8Array(gt.length);
  for (let i = 0; i < gt.length; i++) out[i] = gt[i] > threshold ? 1 : 0;
  return out;
}

/**
 * Normalized scanpath saliency (NSS.m): the prediction standardised (mean 0, sample std 1), averaged over
 * fixated pixels (nonzero / true entries of `fixations`). NaN without fixations; 0 for a constant
 * prediction.
 */
export function nss(pred: ArrayLike<number>, fixations: ArrayLike<number | boolean>): number {
  checkSize('nss', pred, fixations);
  const p = stats(pred);
  let n = 0;
  let s = 0;
  for (let i = 0; i < pred.length; i++) {
    if (fixations[i]) {
      n++;
      s += pred[i];
    }
  }
  if (n === 0) return NaN;
  if (p.max === p.min) return 0;
  return (s / n - p.mean) / p.std;
}

/** Small seeded PRNG (mulberry32) so jittered AUC-Judd is reproducible. */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface AucJuddOptions {
  /**
   * Add uniform noise in [0, 1e-7) to every pixel before ranking, as AUC_Judd.m does by default to
   * break ties. Default false: ties are instead handled exactly (see aucJudd), which is deterministic.
   */
  jitter?: boolean;
  /** Seed of the jitter noise (default 0). */
  seed?: number;
}

/**
 * AUC-Judd (AUC_Judd.m). The ROC curve is traced with one threshold per fixated pixel's saliency
 * value: at threshold t, TP rate = fixated pixels with S ≥ t / fixations and FP rate = non-fixated pixels
 * with S ≥ t / non-fixated pixels, from (0,0) to (1,1), integrated with the trapezoid rule. O(N log N):
 * all values and the fixated values are sorted once and swept together.
 *
 * Ties: with distinct values this is exactly Judd's curve. MATLAB counts the i-th threshold's TP as i
 * even when other fixations share its value (then FP counts them, and can exceed 1), relying on random
 * jitter to make ties vanish. Here tied fixations move together (TP counts every fixation ≥ t), so tied
 * values form one straight ROC segment — the result is deterministic and a constant map scores 0.5.
 * `{ jitter: true }` reproduces MATLAB's noise (seeded). The min-max normalisation of AUC_Judd.m is a
 * monotonic map and is skipped. NaN without fixations or when every pixel is fixated.
 */
export function aucJudd(pred: ArrayLike<number>, fixations: ArrayLike<number | boolean>, opts: AucJuddOptions = {}): number {
  checkSize('aucJudd', pred, fixations);
  const n = pred.length;
  const all = new Float64Array(n);
  const rand = opts.jitter ? mulberry32(opts.seed ?? 0) : null;
  let nf = 0;
  for (let i = 0; i < n; i++) {
    const v = pred[i];
    if (!Number.isFinite(v)) fail(`aucJudd: non-finite prediction ${v} at pixel ${i}`);
    all[i] = rand ? v + rand() / 1e7 : v;
    if (fixations[i]) nf++;
  }
  const nNeg = n - nf;
  if (nf === 0 || nNeg === 0) return NaN;
  const fix = new Float64Array(nf);
  for (let i = 0, k = 0; i < n; i++) if (fixations[i]) fix[k++] = all[i];
  all.sort(); // typed-array sort is numeric, ascending
  fix.sort();

  let area = 0;
  let prevTp = 0;
  let prevFp = 0;
  let q = n; // all[q..n) are the values ≥ the current threshold
  for (let j = nf - 1; j >= 0; ) {
    const t = fix[j];
    let k = j;
    while (k >= 0 && fix[k] === t) k--;
    const aboveFix = nf - 1 - k;
    while (q > 0 && all[q - 1] >= t) q--;
    const tp = aboveFix / nf;
    const fp = (n - q - aboveFix) / nNeg;
    area += ((fp - prevFp) * (tp + prevTp)) / 2;
    prevTp = tp;
    prevFp = fp;
    j = k;
  }
  return area + ((1 - prevFp) * (1 + prevTp)) / 2;
}

/** Taps of a 1-D triangle-filter resampling: for each output index, input indices and weights. */
function axisTaps(inSize: number, outSize: number): { idx: Int32Array; w: Float64Array }[] {
  const scale = inSize / outSize;
  const support = Math.max(scale, 1); // widen the triangle when shrinking (antialiasing)
  const taps: { idx: Int32Array; w: Float64Array }[] = [];
  for (let o = 0; o < outSize; o++) {
    const center = (o + 0.5) * scale; // half-pixel centres (align_corners = false)
    const lo = Math.max(Math.floor(center - support), 0);
    const hi = Math.min(Math.ceil(center + support), inSize);
    const idx: number[] = [];
    const w: number[] = [];
    let sum = 0;
    for (let i = lo; i < hi; i++) {
      const wi = Math.max(0, 1 - Math.abs((i + 0.5 - center) / support));
      if (wi > 0) {
        idx.push(i);
        w.push(wi);
        sum += wi;
      }
    }
    taps.push({ idx: Int32Array.from(idx), w: Float64Array.from(w, (v) => v / sum) }); // renormalise at borders
  }
  return taps;
}

/**
 * Bilinear resize of a row-major w×h map to W×H (float64). Pixel centres are aligned (half-pixel
 * convention, edges clamped), so upsampling equals PIL / OpenCV / torch (align_corners=False) bilinear;
 * downsampling widens the filter like PIL (antialiased) instead of aliasing.
 *
 * Resolution choice: predictions are upsampled to the ground truth's size, never the reverse. The MIT
 * code does the same (every metric imresize()s the saliency map to the fixation map's size); the binary
 * fixation map of NSS / AUC-Judd cannot be downsampled without inventing or losing fixations; and
 * evaluating at the release's 512×512 makes numbers comparable across models whose heatmap heads output
 * different sizes. (MATLAB's imresize defaults to bicubic; for smooth sigmoid heatmaps the difference
 * is small, and bilinear keeps maps non-negative, which KLD and SIM need.)
 */
export function resizeBilinear(map: ArrayLike<number>, w: number, h: number, W: number, H: number): Float64Array {
  if (map.length !== w * h) fail(`resizeBilinear: map has ${map.length} values, expected ${w}x${h} = ${w * h}`);
  if (!(W > 0 && H > 0 && Number.isInteger(W) && Number.isInteger(H))) fail(`resizeBilinear: bad target size ${W}x${H}`);
  if (w === W && h === H) return Float64Array.from(map);
  const tx = axisTaps(w, W);
  const ty = axisTaps(h, H);
  const rows = new Float64Array(h * W); // horizontal pass
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < W; x++) {
      const { idx, w: wt } = tx[x];
      let s = 0;
      for (let k = 0; k < idx.length; k++) s += wt[k] * map[y * w + idx[k]];
      rows[y * W + x] = s;
    }
  }
  const out = new Float64Array(H * W); // vertical pass
  for (let y = 0; y < H; y++) {
    const { idx, w: wt } = ty[y];
    for (let x = 0; x < W; x++) {
      let s = 0;
      for (let k = 0; k < idx.length; k++) s += wt[k] * rows[idx[k] * W + x];
      out[y * W + x] = s;
    }
  }
  return out;
}

export interface DefinedMean {
  /** Mean of the finite values; NaN only when there are none (count 0). */
  mean: number;
  /** How many values were finite and averaged. */
  count: number;
  /** How many values were given. */
  total: number;
}

/** Average of the defined (finite) values only — per-sample metrics that are NaN for empty maps are skipped. */
export function meanDefined(values: Iterable<number>): DefinedMean {
  let sum = 0;
  let count = 0;
  let total = 0;
  for (const v of values) {
    total++;
    if (Number.isFinite(v)) {
      sum += v;
      count++;
    }
  }
  return { mean: count > 0 ? sum / count : NaN, count, total };
}

export interface HeatmapMetrics {
  mse: number;
  cc: number;
  kld: number;
  sim: number;
  nss: number;
  aucJudd: number;
}

export interface HeatmapMetricOptions extends AucJuddOptions {
  /** GT values above this are fixations for NSS and AUC-Judd (default 0). */
  fixationThreshold?: number;
}

/**
 * All heatmap metrics for one sample at the ground truth's resolution (the prediction is upsampled with
 * `resizeBilinear` when sizes differ). Give both maps on one scale (e.g. GT PNG / 255 and a sigmoid
 * prediction) so MSE is meaningful; the other metrics are scale-invariant.
 */
export function heatmapMetrics(pred: Heatmap, gt: Heatmap, opts: HeatmapMetricOptions = {}): HeatmapMetrics {
  if (gt.data.length !== gt.width * gt.height) fail(`heatmapMetrics: ground truth has ${gt.data.length} values, expected ${gt.width}x${gt.height}`);
  const p =
    pred.width === gt.width && pred.height === gt.height
      ? pred.data
      : resizeBilinear(pred.data, pred.width, pred.height, gt.width, gt.height);
  const fix = fixationsFromHeatmap(gt.data, opts.fixationThreshold ?? 0);
  return {
    mse: mse(p, gt.data),
    cc: cc(p, gt.data),
    kld: kld(p, gt.data),
    sim: sim(p, gt.data),
    nss: nss(p, fix),
    aucJudd: aucJudd(p, fix, opts),
  };
}
