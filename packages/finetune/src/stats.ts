import { SCORE_NAMES } from '@richhf/reward';
import type { PromptRecord } from './journal';
import type { ScoreName } from './selection';

/** Score histograms use fixed bins over [0, 1] (RAHF's score range), values outside land in the end bins. */
export const HIST_BINS = 20;

export interface Histogram {
  /** Bin i counts values in [i/bins, (i+1)/bins) (the last bin includes 1). */
  counts: number[];
  n: number;
  mean: number;
  min: number;
  max: number;
}

export interface RunStats {
  prompts: number;
  candidates: number;
  /** Accepted samples, and prompts with at least one. */
  accepted: number;
  promptsAccepted: number;
  /** promptsAccepted / prompts: the share of prompts that made it into the dataset. */
  acceptRate: number;
  /** accepted / candidates. */
  sampleAcceptRate: number;
  pairs: number;
  /** The selection value of every candidate, of the best candidate per prompt, and of accepted ones. */
  selection: { all: Histogram; best: Histogram; accepted: Histogram };
  /** Each RAHF score over every candidate and over accepted ones. */
  scores: Record<ScoreName, { all: Histogram; accepted: Histogram }>;
}

class HistAcc {
  counts = new Array<number>(HIST_BINS).fill(0);
  n = 0;
  sum = 0;
  min = Infinity;
  max = -Infinity;
  add(v: number): void {
    const bin = Math.min(HIST_BINS - 1, Math.max(0, Math.floor(v * HIST_BINS)));
    this.counts[bin]++;
    this.n++;
    this.sum += v;
    if (v < this.min) this.min = v;
    if (v > this.max) this.max = v;
  }
  done(): Histogram {
    return { counts: this.counts, n: this.n, mean: this.n ? this.sum / this.n : NaN, min: this.n ? this.min : NaN, max: this.n ? this.max : NaN };
  }
}

/** Per-prompt figures, as `prompts.jsonl` lists them. */
export function promptStats(p: PromptRecord): Record<string, unknown> {
  const best = p.values.length ? Math.max(...p.values) : null;
  const mean = p.values.length ? p.values.reduce((a, b) => a + b, 0) / p.values.length : null;
  return {
    id: p.id,
    key: p.key,
    candidates: p.n,
    accepted: p.accepted.length,
    accepted_candidates: p.accepted,
    best: best === null ? null : round4(best),
    mean: mean === null ? null : round4(mean),
    pair: p.pair ?? null,
    pair_margin: p.pair ? round4(p.values[p.pair[0]] - p.values[p.pair[1]]) : null,
  };
}

const round4 = (v: number) => Math.round(v * 1e4) / 1e4;

/** Streams prompt records into run statistics in constant memory. */
export class StatsAccumulator {
  private prompts = 0;
  private candidates = 0;
  private accepted = 0;
  private promptsAccepted = 0;
  private pairs = 0;
  private readonly sel = { all: new HistAcc(), best: new HistAcc(), accepted: new HistAcc() };
  private readonly sc = Object.fromEntries(SCORE_NAMES.map((n) => [n, { all: new HistAcc(), accepted: new HistAcc() }])) as Record<ScoreName, { all: HistAcc; accepted: HistAcc }>;

  add(p: PromptRecord): void {
    this.prompts++;
    this.candidates += p.n;
    this.accepted += p.accepted.length;
    if (p.accepted.length) this.promptsAccepted++;
    if (p.pair) this.pairs++;
    p.values.forEach((v) => this.sel.all.add(v));
    if (p.values.length) this.sel.best.add(Math.max(...p.values));
    for (const k of p.accepted) this.sel.accepted.add(p.values[k]);
    for (const n of SCORE_NAMES) {
      const vals = p.scores[n] ?? [];
      vals.forEach((v) => this.sc[n].all.add(v));
      for (const k of p.accepted) if (vals[k] !== undefined) this.sc[n].accepted.add(vals[k]);
    }
  }

  result(): RunStats {
    return {
      prompts: this.prompts,
      candidates: this.candidates,
      accepted: this.accepted,
      promptsAccepted: this.promptsAccepted,
      acceptRate: this.prompts ? this.promptsAccepted / this.prompts : 0,
      sampleAcceptRate: this.candidates ? this.accepted / this.candidates : 0,
      pairs: this.pairs,
      selection: { all: this.sel.all.done(), best: this.sel.best.done(), accepted: this.sel.accepted.done() },
      scores: Object.fromEntries(SCORE_NAMES.map((n) => [n, { all: this.sc[n].all.done(), accepted: this.sc[n].accepted.done() }])) as RunStats['scores'],
    };
  }
}
