import { SCORE_NAMES } from '@richhf/reward';
import { renderPng, type VegaLiteSpec } from '@richhf/reward/viz';
import { HIST_BINS, Histogram, RunStats } from './stats';

/**
 * The run's score histograms as one Vega-Lite figure: a panel for the selection score and one per RAHF score,
 * each overlaying every candidate and the accepted ones. The stats hold fixed [0, 1] bins (constant memory over
 * any run), so the spec draws pre-binned bars rather than asking vega to bin raw values.
 */
export function scoreChartSpec(stats: RunStats, title = 'best-of-N scores'): VegaLiteSpec {
  const rows: Array<{ panel: string; series: string; lo: number; hi: number; count: number }> = [];
  const add = (panel: string, series: string, h: Histogram) =>
    h.counts.forEach((count, i) => rows.push({ panel, series, lo: i / HIST_BINS, hi: (i + 1) / HIST_BINS, count }));
  add('selection score', `all candidates (${stats.candidates})`, stats.selection.all);
  add('selection score', `accepted (${stats.accepted})`, stats.selection.accepted);
  for (const n of SCORE_NAMES) {
    add(n, `all candidates (${stats.candidates})`, stats.scores[n].all);
    add(n, `accepted (${stats.accepted})`, stats.scores[n].accepted);
  }
  const panels = ['selection score', ...SCORE_NAMES];
  const series = [...new Set(rows.map((r) => r.series))];
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    background: 'white',
    title: `${title}: ${stats.prompts} prompts, accept rate ${(100 * stats.acceptRate).toFixed(1)} %`,
    data: { values: rows },
    facet: { field: 'panel', type: 'nominal', sort: panels, title: null },
    columns: 3,
    spec: {
      width: 240,
      height: 150,
      mark: { type: 'bar', opacity: 0.6 },
      encoding: {
        x: { field: 'lo', type: 'quantitative', bin: { binned: true, step: 1 / HIST_BINS }, scale: { domain: [0, 1] }, title: 'score' },
        x2: { field: 'hi' },
        y: { field: 'count', type: 'quantitative', stack: null, title: 'images' },
        color: { field: 'series', type: 'nominal', scale: { domain: series }, title: null },
      },
    },
    resolve: { scale: { y: 'independent' } },
    config: { view: { stroke: '#ddd' }, font: 'DejaVu Sans, sans-serif', legend: { orient: 'top', labelLimit: 400 } },
  };
}

export function scoreChartPng(stats: RunStats): Promise<Buffer> {
  return renderPng(scoreChartSpec(stats));
}
