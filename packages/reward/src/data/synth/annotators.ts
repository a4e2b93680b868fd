/**
 * Simulated RichHF annotators. Each has a persistent profile (score bias and noise, how often they miss
 * a region or a misaligned word, how far their clicks stray, how often they click where nothing is
 * wrong); an image is labelled by three of them, producing raw annotations in the JSONL format of
 * docs/raw-annotations.md, which then go through the same consolidation as real data.
 */
import type { RawAnnotation } from '../consolidate';
import type { Box } from './canvas';
import { Rng } from './rng';

export interface AnnotatorProfile {
  id: string;
  /** Added to every Likert score (in Likert units). */
  bias: number;
  /** Std of the per-score Likert noise. */
  sigma: number;
  /** Base probability of not marking a region at all. */
  missRate: number;
  /** Probability per map of one stray click where nothing is wrong. */
  falsePointRate: number;
  /** Std of click jitter, in disk radii. */
  jitter: number;
  /** Probability of not flagging a misaligned word / of flagging an aligned content word. */
  wordMiss: number;
  wordFalse: number;
}

/**
 * A pool of annotators for a world seed. `noise` scales every imperfection: 0 gives perfect annotators
 * (exact Likert rounding of the latent scores, every region marked with points inside it, exact words).
 */
export function annotatorPool(seed: number, noise = 1, size = 8): AnnotatorProfile[] {
  const rng = new Rng(seed, 'annotator-pool');
  return [...Array(size).keys()].map((i) => ({
    id: `ann${String(i).padStart(2, '0')}`,
    bias: noise * rng.normal(0, 0.3),
    sigma: noise * rng.uniform(0.3, 0.6),
    missRate: noise * rng.uniform(0.05, 0.2),
    falsePointRate: noise * rng.uniform(0.02, 0.08),
    jitter: noise * rng.uniform(0.2, 0.6),
    wordMiss: noise * rng.uniform(0.05, 0.2),
    wordFalse: noise * rng.uniform(0.01, 0.04),
  }));
}

export interface Latent {
  plausibility: number;
  alignment: number;
  aesthetics: number;
  overall: number;
}

export interface Region {
  box: Box;
  /** [0,1]; more severe regions are missed less often. Default 0.25. */
  severity?: number;
}

export interface AnnotationTask {
  uid: string;
  caption: string;
  width: number;
  height: number;
  latent: Latent;
  artifactRegions: Region[];
  misalignmentRegions: Region[];
  /** Indices of the truly misaligned prompt words. */
  misalignedWords: number[];
  /** Indices of words an annotator might wrongly flag (content words). */
  contentWords: number[];
}

function likert(rng: Rng, latent: number, a: AnnotatorProfile): number {
  const v = 1 + 4 * latent + a.bias + (a.sigma > 0 ? rng.normal(0, a.sigma) : 0);
  return Math.min(5, Math.max(1, Math.round(v)));
}

const clamp = (v: number, lo: number, hi: number) => Math.min(hi, Math.max(lo, v));
const round1 = (v: number) => Math.round(v * 10) / 10;

/** Clicks for one region: 1–3 spread along its longer side, jittered by the annotator's hand. */
function regionPoints(rng: Rng, region: Region, a: AnnotatorProfile, radius: number, W: number, H: number, noisy: boolean): Array<[number, number]> {
  const [x0, y0, x1, y1] = region.box;
  const w = x1 - x0;
  const h = y1 - y0;
  const n = clamp(Math.round((w * h) / (Math.PI * radius * radius) / 2), 1, 3);
  const out: Array<[number, number]> = [];
  for (let i = 0; i < n; i++) {
    const t = (i + 0.5) / n;
    let x = w >= h ? x0 + t * w : x0 + w / 2;
    let y = w >= h ? y0 + h / 2 : y0 + t * h;
    if (noisy) {
      // Somewhere inside the region, then the hand's jitter.
      x += rng.uniform(-0.3, 0.3) * (w >= h ? w / n : w);
      y += rng.uniform(-0.3, 0.3) * (w >= h ? h : h / n);
      x += rng.normal(0, a.jitter * radius);
      y += rng.normal(0, a.jitter * radius);
    }
    out.push([round1(clamp(x, 0, W)), round1(clamp(y, 0, H))]);
  }
  return out;
}

function mapPoints(rng: Rng, regions: Region[], a: AnnotatorProfile, W: number, H: number): Array<[number, number]> {
  const radius = H / 20;
  const noisy = a.jitter > 0 || a.missRate > 0;
  const pts: Array<[number, number]> = [];
  for (const r of regions) {
    const pMiss = clamp(a.missRate * (1.6 - 2.4 * (r.severity ?? 0.25)), 0, 0.7);
    if (rng.chance(pMiss)) continue;
    pts.push(...regionPoints(rng, r, a, radius, W, H, noisy));
  }
  if (rng.chance(a.falsePointRate)) pts.push([round1(rng.uniform(0, W)), round1(rng.uniform(0, H))]);
  return pts;
}

/** Raw annotations of one image by `k` distinct annotators drawn from the pool. */
export function annotate(rng: Rng, pool: ReadonlyArray<AnnotatorProfile>, task: AnnotationTask, k = 3): RawAnnotation[] {
  const chosen = rng.shuffle([...pool]).slice(0, k);
  const truth = new Set(task.misalignedWords);
  return chosen.map((a) => {
    const flagged: number[] = [];
    for (const i of task.misalignedWords) if (!rng.chance(a.wordMiss)) flagged.push(i);
    for (const i of task.contentWords) if (!truth.has(i) && rng.chance(a.wordFalse)) flagged.push(i);
    return {
      uid: task.uid,
      prompt: task.caption,
      annotator: a.id,
      width: task.width,
      height: task.height,
      artifact_points: mapPoints(rng, task.artifactRegions, a, task.width, task.height),
      misalignment_points: mapPoints(rng, task.misalignmentRegions, a, task.width, task.height),
      plausibility: likert(rng, task.latent.plausibility, a),
      alignment: likert(rng, task.latent.alignment, a),
      aesthetics: likert(rng, task.latent.aesthetics, a),
      overall: likert(rng, task.latent.overall, a),
      misaligned_words: flagged.sort((x, y) => x - y),
    };
  });
}
