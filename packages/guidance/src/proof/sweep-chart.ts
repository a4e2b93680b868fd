import { lineChart, renderPng, type LinePoint } from '@richhf/reward/viz';

/**
 * The sweep as a PNG line chart (Vega-Lite through @richhf/reward/viz): the reward of the final images against
 * the guidance scale and, in the synthetic world, their true overall score and defect rate, so the scale where
 * the reward keeps rising while the truth falls (reward hacking) is visible.
 */
export interface SweepRow {
  scale: number;
  reward: number;
  truth_overall?: number;
  truth_defect_rate?: number;
}

export async function sweepChartPng(rows: readonly SweepRow[], opts: { title?: string } = {}): Promise<Buffer> {
  const points: LinePoint[] = [];
  for (const r of rows) {
    points.push({ x: r.scale, y: r.reward, series: 'reward (RAHF, weighted mean score)' });
    if (r.truth_overall !== undefined) points.push({ x: r.scale, y: r.truth_overall, series: 'true overall' });
    if (r.truth_defect_rate !== undefined) points.push({ x: r.scale, y: r.truth_defect_rate, series: 'true defect rate' });
  }
  const spec = lineChart(points, { title: opts.title ?? 'Reward guidance: score against scale', xTitle: 'guidance scale', yTitle: 'mean over seeds', seriesTitle: '', width: 420, height: 260 });
  return renderPng(spec, { scale: 2 });
}
