import sharp from 'sharp';
import { scoreChartPng, scoreChartSpec } from './chart';
import type { PromptRecord } from './journal';
import { HIST_BINS, StatsAccumulator } from './stats';

test('the score chart: five panels of pre-binned bars, all candidates vs accepted, rendered to PNG', async () => {
  const acc = new StatsAccumulator();
  for (let p = 0; p < 30; p++) {
    const values = Array.from({ length: 8 }, (_, k) => ((p * 7 + k * 13) % 100) / 100);
    const best = values.indexOf(Math.max(...values));
    const rec: PromptRecord = { id: `p${p}`, key: `p${p}`, h: '0', n: 8, accepted: values[best] >= 0.5 ? [best] : [], values, scores: { plausibility: values, alignment: values.map((v) => 1 - v), aesthetics: values, overall: values } };
    acc.add(rec);
  }
  const stats = acc.result();
  const spec = scoreChartSpec(stats) as { data: { values: Array<{ panel: string; series: string; count: number }> }; title: string };
  expect(spec.data.values).toHaveLength(5 * 2 * HIST_BINS);
  expect(new Set(spec.data.values.map((r) => r.panel))).toEqual(new Set(['selection score', 'plausibility', 'alignment', 'aesthetics', 'overall']));
  const all = spec.data.values.filter((r) => r.panel === 'selection score' && r.series.startsWith('all'));
  expect(all.reduce((a, r) => a + r.count, 0)).toBe(240);
  expect(spec.title).toMatch(/30 prompts, accept rate \d+\.\d %/);
  const png = await scoreChartPng(stats);
  const meta = await sharp(png).metadata();
  expect(meta.format).toBe('png');
  expect(meta.width).toBeGreaterThan(600);
  // Not blank: the bars put colour in the image.
  const { channels } = await sharp(png).stats();
  expect(Math.min(...channels.map((c) => c.min))).toBeLessThan(200);
});
