import { createHash } from 'crypto';
import type { Scorer } from '@richhf/reward';
import { sampleKey } from './ids';
import type { PromptRecord } from './journal';
import type { Group, ScoredCandidate } from './scoring';
import { selectCandidates, Selection, SelectOptions } from './selection';
import type { OutputPair, OutputSample, PromptOutputs } from './writers/output';

/** One prompt's outcome: every candidate ranked, which were kept, and the pair. */
export interface PromptResult {
  promptId: string;
  promptKey: string;
  prompt: string;
  ranked: Array<{ index: number; key: string; seed: number | null; rank: number; value: number; accepted: boolean; scores: ScoredCandidate['scores']; misaligned?: string[]; source: string }>;
  accepted: string[];
  pair?: { chosen: string; rejected: string; margin: number };
}

/** What one scored prompt becomes: the writers' input, the journal's record and the caller's result. */
export interface FinishedPrompt {
  outputs: PromptOutputs;
  record: PromptRecord;
  result: PromptResult;
}

export const promptHash = (p: string) => createHash('sha256').update(p, 'utf8').digest('hex').slice(0, 8);

/**
 * Selection for every prompt of a scored lot, the misaligned words of what was kept (one batched keyword
 * pass), and the three views of each prompt. Drops the candidates' pixels: they are not needed after this.
 */
export async function finishLot(lot: Group<ScoredCandidate>[], scorer: Scorer, sel: SelectOptions, keywords: boolean, batchSize: number): Promise<FinishedPrompt[]> {
  const selections = lot.map((g) => selectCandidates(g.candidates, sel));
  if (keywords) await decodeKeywords(scorer, lot, selections, batchSize);
  return lot.map((g, i) => {
    const s = selections[i];
    for (const c of g.candidates) c.pixels = undefined;
    return { outputs: toOutputs(g, s), record: toRecord(g, s), result: toResult(g, s) };
  });
}

/** Misaligned words of the accepted candidates (and pair sides) of a lot, in one batched keyword pass. */
async function decodeKeywords(scorer: Scorer, lot: Group<ScoredCandidate>[], sels: Selection<ScoredCandidate>[], batchSize: number): Promise<void> {
  const want: Array<{ c: ScoredCandidate & { misaligned?: string[] }; prompt: string }> = [];
  const seen = new Set<ScoredCandidate>();
  sels.forEach((s, i) => {
    const cs = [...s.accepted.map((r) => r.candidate), ...(s.pair ? [s.pair.chosen.candidate, s.pair.rejected.candidate] : [])];
    for (const c of cs) if (!seen.has(c)) seen.add(c), want.push({ c, prompt: lot[i].req.prompt });
  });
  if (want.length === 0) return;
  const fb = await scorer.score(want.map((w) => w.c.pixels!), want.map((w) => w.prompt), { keywords: true, batchSize });
  want.forEach((w, i) => (w.c.misaligned = fb[i].misaligned ?? []));
}

function toSample(g: Group<ScoredCandidate>, r: Selection<ScoredCandidate>['ranked'][number]): OutputSample {
  const c = r.candidate as ScoredCandidate & { misaligned?: string[] };
  return {
    key: sampleKey(g.req.promptKey, c.index),
    promptId: g.req.promptId,
    promptKey: g.req.promptKey,
    prompt: g.req.prompt,
    candidate: c.index,
    seed: c.seed,
    rank: r.rank,
    value: r.value,
    scores: c.scores,
    misaligned: c.misaligned,
    settings: c.settings,
    width: c.width,
    height: c.height,
    image: c.image,
  };
}

function toOutputs(g: Group<ScoredCandidate>, s: Selection<ScoredCandidate>): PromptOutputs {
  let pair: OutputPair | undefined;
  if (s.pair) pair = { promptId: g.req.promptId, promptKey: g.req.promptKey, prompt: g.req.prompt, margin: s.pair.margin, chosen: toSample(g, s.pair.chosen), rejected: toSample(g, s.pair.rejected) };
  return { promptId: g.req.promptId, promptKey: g.req.promptKey, accepted: s.accepted.map((r) => toSample(g, r)), pair };
}

const r4 = (v: number) => Math.round(v * 1e4) / 1e4;

function toRecord(g: Group<ScoredCandidate>, s: Selection<ScoredCandidate>): PromptRecord {
  const byIndex = [...g.candidates].sort((a, b) => a.index - b.index);
  const value = new Map(s.ranked.map((r) => [r.candidate, r.value]));
  return {
    id: g.req.promptId,
    key: g.req.promptKey,
    h: promptHash(g.req.prompt),
    n: byIndex.length,
    accepted: s.accepted.map((r) => r.candidate.index),
    pair: s.pair ? [s.pair.chosen.candidate.index, s.pair.rejected.candidate.index] : undefined,
    values: byIndex.map((c) => r4(value.get(c)!)),
    scores: Object.fromEntries(Object.keys(byIndex[0]?.scores ?? {}).map((k) => [k, byIndex.map((c) => r4(c.scores[k as keyof typeof c.scores]))])) as PromptRecord['scores'],
  };
}

function toResult(g: Group<ScoredCandidate>, s: Selection<ScoredCandidate>): PromptResult {
  return {
    promptId: g.req.promptId,
    promptKey: g.req.promptKey,
    prompt: g.req.prompt,
    ranked: s.ranked.map((r) => {
      const c = r.candidate as ScoredCandidate & { misaligned?: string[] };
      return { index: c.index, key: sampleKey(g.req.promptKey, c.index), seed: c.seed, rank: r.rank, value: r.value, accepted: r.accepted, scores: c.scores, misaligned: c.misaligned, source: c.source };
    }),
    accepted: s.accepted.map((r) => sampleKey(g.req.promptKey, r.candidate.index)),
    pair: s.pair ? { chosen: sampleKey(g.req.promptKey, s.pair.chosen.candidate.index), rejected: sampleKey(g.req.promptKey, s.pair.rejected.candidate.index), margin: s.pair.margin } : undefined,
  };
}
