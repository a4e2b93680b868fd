import sharp from 'sharp';
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
    points.push({ x: r.scale, y: r.reward, series: 'reward (weighted RAHF score)' });
    if (r.truth_overall !== undefined) points.push({ x: r.scale, y: r.truth_overall, series: 'true overall' });
    if (r.truth_defect_rate !== undefined) points.push({ x: r.scale, y: r.truth_defect_rate, series: 'true defect rate' });
  }
  const spec = lineChart(points, { title: opts.title ?? 'Reward guidance: score against scale', xTitle: 'guidance scale (symlog)', yTitle: 'mean over seeds', seriesTitle: '', width: 420, height: 260 });
  // Sweeps span decades (0, 0.01 … 100) and include 0, so the x axis is symlog (log-like, 0 allowed), its linear
  // region as wide as the smallest positive scale; the encoding object is shared by the chart's layers.
  const positive = rows.map((r) => r.scale).filter((s) => s > 0);
  if (positive.length) {
    for (const layer of spec.layer as Array<{ encoding: { x: Record<string, unknown> } }>) {
      layer.encoding.x.scale = { type: 'symlog', constant: Math.min(...positive), nice: false };
      layer.encoding.x.axis = { values: [...new Set(rows.map((r) => r.scale))], labelExpr: "'' + datum.value" };
    }
  }
  spec.config = { ...(spec.config as object), legend: { labelLimit: 320 } };
  // A palette PNG: the chart has a handful of colours, and the README embeds it (tens of kB instead of ~60).
  return sharp(await renderPng(spec, { scale: 2 })).png({ palette: true, compressionLevel: 9 }).toBuffer();
}
