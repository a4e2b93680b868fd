import { HIST_BINS, promptStats, StatsAccumulator } from './stats';
import type { PromptRecord } from './journal';

const rec = (id: string, values: number[], accepted: number[], pair?: [number, number]): PromptRecord => ({
  id, key: id, h: '0', n: values.length, accepted, pair, values,
  scores: { plausibility: values, alignment: values.map(() => 0.5), aesthetics: values.map(() => 1), overall: values.map(() => -0.2) },
});

test('accept rates, pair count and fixed-bin histograms (out-of-range values land in the end bins)', () => {
  const acc = new StatsAccumulator();
  acc.add(rec('a', [0.9, 0.2, 0.55], [0], [0, 1]));
  acc.add(rec('b', [0.3, 0.1], []));
  acc.add(rec('c', [0.97, 0.96], [0, 1]));
  const s = acc.result();
  expect(s).toMatchObject({ prompts: 3, candidates: 7, accepted: 3, promptsAccepted: 2, pairs: 1 });
  expect(s.acceptRate).toBeCloseTo(2 / 3, 12);
  expect(s.sampleAcceptRate).toBeCloseTo(3 / 7, 12);
  expect(s.selection.all.counts).toHaveLength(HIST_BINS);
  expect(s.selection.all.counts[18]).toBe(1); // 0.9
  expect(s.selection.all.counts[19]).toBe(2); // 0.97, 0.96
  expect(s.selection.all.counts[11]).toBe(1); // 0.55
  expect(s.selection.best).toMatchObject({ n: 3, max: 0.97, min: 0.3 });
  expect(s.selection.accepted.n).toBe(3);
  expect(s.scores.aesthetics.all.counts[HIST_BINS - 1]).toBe(7); // 1.0 → last bin
  expect(s.scores.overall.all.counts[0]).toBe(7); // −0.2 → first bin
  expect(s.scores.plausibility.accepted.mean).toBeCloseTo((0.9 + 0.97 + 0.96) / 3, 12);
  expect(promptStats(rec('a', [0.9, 0.2, 0.55], [0], [0, 1]))).toMatchObject({ accepted: 1, best: 0.9, mean: 0.55, pair_margin: 0.7 });
});
