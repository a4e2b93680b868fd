import { SCORE_NAMES, UserError } from '@richhf/reward';

export type ScoreName = (typeof SCORE_NAMES)[number];
export type Scores = Record<ScoreName, number>;
/** Weights per score; the selection value of a candidate is Σ w·score / Σ w. */
export type ScoreMix = Partial<Record<ScoreName, number>>;

/**
 * `--select`: one score name (`plausibility`, the paper's choice) or a weighted mix
 * (`plausibility=0.7,aesthetics=0.3`; weights ≥ 0, at least one > 0).
 */
export function parseSelect(spec: string): ScoreMix {
  const mix: ScoreMix = {};
  const parts = spec.split(',').map((s) => s.trim()).filter(Boolean);
  if (parts.length === 0) throw new UserError(`--select: empty; give a score (${SCORE_NAMES.join(', ')}) or a mix like plausibility=0.7,aesthetics=0.3`);
  for (const part of parts) {
    const [name, w, extra] = part.split('=').map((s) => s.trim());
    if (extra !== undefined) throw new UserError(`--select ${spec}: cannot read "${part}"`);
    if (!(SCORE_NAMES as readonly string[]).includes(name)) throw new UserError(`--select ${spec}: unknown score "${name}" (one of ${SCORE_NAMES.join(', ')})`);
    const weight = w === undefined ? 1 : Number(w);
    if (!(Number.isFinite(weight) && weight >= 0)) throw new UserError(`--select ${spec}: weight of ${name} must be a number ≥ 0`);
    if (mix[name as ScoreName] !== undefined) throw new UserError(`--select ${spec}: ${name} given twice`);
    mix[name as ScoreName] = weight;
  }
  if (!Object.values(mix).some((w) => w! > 0)) throw new UserError(`--select ${spec}: every weight is 0`);
  return mix;
}

export function formatMix(mix: ScoreMix): string {
  const entries = Object.entries(mix) as [ScoreName, number][];
  return entries.length === 1 && entries[0][1] > 0 ? entries[0][0] : entries.map(([k, w]) => `${k}=${w}`).join(',');
}

export function mixValue(scores: Scores, mix: ScoreMix): number {
  let num = 0;
  let den = 0;
  for (const [name, w] of Object.entries(mix) as [ScoreName, number][]) {
    num += w * scores[name];
    den += w;
  }
  return num / den;
}

export interface SelectOptions {
  mix: ScoreMix;
  /** Keep only candidates whose selection value is ≥ min (the paper: a plausibility threshold). */
  min?: number;
  /** Keep the best `top` candidates that pass `min` (default 1: best-of-N). */
  top?: number;
  /** Also form a preference pair (best vs worst) for DPO when their values differ by at least `margin`. */
  pairs?: boolean;
  /** Minimum best − worst difference of a pair (default 0.1). */
  margin?: number;
}

export interface Rankable {
  index: number;
  scores: Scores;
}

export interface Ranked<C extends Rankable = Rankable> {
  candidate: C;
  /** The selection value (see mixValue). */
  value: number;
  /** 0 = best. Ties keep generation order, so the choice is deterministic. */
  rank: number;
  accepted: boolean;
}

export interface Selection<C extends Rankable = Rankable> {
  /** Every candidate, best first. */
  ranked: Ranked<C>[];
  accepted: Ranked<C>[];
  /**
   * Best vs worst of the prompt when asked and far enough apart. Not subject to `min`: a preference needs
   * only an order, and DPO learns as much from "bad vs worse" as from "good vs bad".
   */
  pair?: { chosen: Ranked<C>; rejected: Ranked<C>; margin: number };
}

export function validateSelectOptions(o: SelectOptions): void {
  if (o.min !== undefined && !Number.isFinite(o.min)) throw new UserError(`--min must be a number, got ${o.min}`);
  if (o.top !== undefined && !(Number.isInteger(o.top) && o.top >= 1)) throw new UserError(`--top must be an integer ≥ 1, got ${o.top}`);
  if (o.margin !== undefined && !(Number.isFinite(o.margin) && o.margin >= 0)) throw new UserError(`--margin must be a number ≥ 0, got ${o.margin}`);
}

/** Best-of-N for one prompt: rank by the mix, accept the top k above the minimum, pair best with worst. */
export function selectCandidates<C extends Rankable>(candidates: C[], o: SelectOptions): Selection<C> {
  const top = o.top ?? 1;
  const min = o.min ?? -Infinity;
  const valued = candidates.map((candidate, order) => ({ candidate, value: mixValue(candidate.scores, o.mix), order }));
  for (const v of valued) {
    if (!Number.isFinite(v.value)) throw new Error(`candidate ${v.candidate.index}: selection value is ${v.value} (scores ${JSON.stringify(v.candidate.scores)})`);
  }
  valued.sort((a, b) => b.value - a.value || a.order - b.order);
  const ranked: Ranked<C>[] = valued.map((v, rank) => ({ candidate: v.candidate, value: v.value, rank, accepted: rank < top && v.value >= min }));
  const sel: Selection<C> = { ranked, accepted: ranked.filter((r) => r.accepted) };
  if (o.pairs && ranked.length >= 2) {
    const chosen = ranked[0];
    const rejected = ranked[ranked.length - 1];
    const margin = chosen.value - rejected.value;
    if (margin >= (o.margin ?? 0.1) && margin > 0) sel.pair = { chosen, rejected, margin };
  }
  return sel;
}
