import { UserError } from '@richhf/reward';
import { formatMix, mixValue, parseSelect, Scores, selectCandidates, validateSelectOptions } from './selection';

const s = (plausibility: number, aesthetics = 0, alignment = 0, overall = 0): Scores => ({ plausibility, alignment, aesthetics, overall });
const cands = [s(0.5, 0.9), s(0.9, 0.1), s(0.7, 0.6), s(0.9, 0.2), s(0.2, 1)].map((scores, index) => ({ index, scores }));

test('--select: one score or a weighted mix; bad specs are one-line UserErrors', () => {
  expect(parseSelect('plausibility')).toEqual({ plausibility: 1 });
  const mix = parseSelect('plausibility=0.75, aesthetics=0.25');
  expect(mix).toEqual({ plausibility: 0.75, aesthetics: 0.25 });
  expect(formatMix(mix)).toBe('plausibility=0.75,aesthetics=0.25');
  expect(formatMix(parseSelect('overall'))).toBe('overall');
  expect(mixValue(s(0.8, 0.4), mix)).toBeCloseTo(0.7, 12);
  for (const [bad, re] of [
    ['', /empty/],
    ['beauty', /unknown score "beauty"/],
    ['plausibility=-1', /weight of plausibility/],
    ['plausibility=x', /weight of plausibility/],
    ['plausibility=0', /every weight is 0/],
    ['overall,overall=2', /overall given twice/],
  ] as const) {
    expect(() => parseSelect(bad)).toThrow(UserError);
    expect(() => parseSelect(bad)).toThrow(re);
  }
  expect(() => validateSelectOptions({ mix, top: 0 })).toThrow(/--top must be an integer ≥ 1/);
  expect(() => validateSelectOptions({ mix, min: NaN })).toThrow(/--min/);
});

test('best-of-N by one score: ties keep generation order; the minimum can reject every candidate', () => {
  const sel = selectCandidates(cands, { mix: { plausibility: 1 } });
  expect(sel.ranked.map((r) => r.candidate.index)).toEqual([1, 3, 2, 0, 4]);
  expect(sel.accepted.map((r) => r.candidate.index)).toEqual([1]);
  expect(sel.pair).toBeUndefined();
  expect(selectCandidates(cands, { mix: { plausibility: 1 }, min: 0.95 }).accepted).toEqual([]);
});

test('top-k with a minimum, a weighted mix, and best-vs-worst pairs above a margin', () => {
  const top = selectCandidates(cands, { mix: { plausibility: 1 }, top: 4, min: 0.6 });
  expect(top.accepted.map((r) => [r.candidate.index, r.rank])).toEqual([[1, 0], [3, 1], [2, 2]]);
  const mixed = selectCandidates(cands, { mix: { plausibility: 0.5, aesthetics: 0.5 }, pairs: true, margin: 0.05 });
  expect(mixed.accepted.map((r) => r.candidate.index)).toEqual([0]);
  expect(mixed.ranked.map((r) => r.candidate.index)).toEqual([0, 2, 4, 3, 1]);
  expect(mixed.pair!.chosen.candidate.index).toBe(0);
  expect(mixed.pair!.rejected.candidate.index).toBe(1);
  expect(mixed.pair!.margin).toBeCloseTo(0.2, 12);
  expect(selectCandidates(cands, { mix: { plausibility: 1 }, pairs: true, margin: 0.8 }).pair).toBeUndefined();
  expect(selectCandidates(cands.slice(0, 1), { mix: { plausibility: 1 }, pairs: true, margin: 0 }).pair).toBeUndefined();
});
