/**
 * Chart specs for what the notebooks and CLIs plot: predicted vs true scores, metrics with error bars,
 * scale sweeps, score distributions. Each builder returns a Vega-Lite spec; render it with `renderSvg` /
 * `renderPng` (vega.ts). Drawing is vega's — these functions only shape data and pick encodings.
 */
import { UserError } from '../errors';
import type { VegaLiteSpec } from './vega';

export interface ChartOptions {
  title?: string;
  xTitle?: string;
  yTitle?: string;
  /** Plot area in pixels (per panel when faceted; default 320 × 240). */
  width?: number;
  height?: number;
  /** Legend title of the `series` colours (default 'series'). */
  seriesTitle?: string;
}

const SCHEMA = 'https://vega.github.io/schema/vega-lite/v6.json';

function checkFinite(what: string, rows: ReadonlyArray<Record<string, unknown>>, keys: string[]): void {
  rows.forEach((r, i) => {
    for (const k of keys) {
      const v = r[k];
      if (v !== undefined && !(typeof v === 'number' && Number.isFinite(v))) {
        throw new UserError(`${what}: ${k} of item ${i} must be a finite number, got ${String(v)}`);
      }
    }
  });
}

function base(opts: ChartOptions): VegaLiteSpec {
  const spec: VegaLiteSpec = { $schema: SCHEMA, background: 'white', config: { view: { stroke: '#ddd' }, font: 'DejaVu Sans, sans-serif' } };
  if (opts.title) spec.title = opts.title;
  return spec;
}

function size(opts: ChartOptions): { width: number; height: number } {
  return { width: opts.width ?? 320, height: opts.height ?? 240 };
}

/** Distinct values in order of first appearance (vega would sort them alphabetically). */
function order(values: Array<string | undefined>): string[] {
  return [...new Set(values.filter((v): v is string => v !== undefined))];
}

function colour(rows: ReadonlyArray<{ series?: string }>, opts: ChartOptions): VegaLiteSpec | undefined {
  const domain = order(rows.map((r) => r.series));
  return domain.length > 0 ? { field: 'series', type: 'nominal', title: opts.seriesTitle ?? 'series', scale: { domain }, sort: domain } : undefined;
}

export interface ScatterPoint {
  x: number;
  y: number;
  /** Colour group. */
  series?: string;
  /** Small-multiple panel (one chart per distinct value). */
  panel?: string;
}

export interface ScatterOptions extends ChartOptions {
  /** Draw y = x over each panel's data range (predicted vs true). */
  identity?: boolean;
  /** Panels per row when points have `panel` (default 4). */
  columns?: number;
}

/** Scatter plot, optionally one panel per `panel` value with independent axes. */
export function scatterChart(points: ScatterPoint[], opts: ScatterOptions = {}): VegaLiteSpec {
  if (points.length === 0) throw new UserError('scatterChart: no points');
  checkFinite('scatterChart', points as unknown as Record<string, unknown>[], ['x', 'y']);
  const rows: Array<Record<string, unknown>> = points.map((p) => ({ ...p, layer: 'point' }));
  if (opts.identity) {
    // The diagonal spans the panel's range on both axes, so "perfect prediction" is visible at a glance.
    const byPanel = new Map<string | undefined, number[]>();
    for (const p of points) {
      const r = byPanel.get(p.panel) ?? [Infinity, -Infinity];
      byPanel.set(p.panel, [Math.min(r[0], p.x, p.y), Math.max(r[1], p.x, p.y)]);
    }
    for (const [panel, [lo, hi]] of byPanel) for (const v of [lo, hi]) rows.push({ x: v, y: v, panel, layer: 'identity' });
  }
  const x = { field: 'x', type: 'quantitative', title: opts.xTitle ?? 'x', scale: { zero: false } };
  const y = { field: 'y', type: 'quantitative', title: opts.yTitle ?? 'y', scale: { zero: false } };
  const layers: VegaLiteSpec[] = [
    {
      transform: [{ filter: "datum.layer === 'point'" }],
      mark: { type: 'point', filled: true, opacity: 0.6, size: 30 },
      encoding: { x, y, ...(colour(points, opts) ? { color: colour(points, opts) } : {}) },
    },
  ];
  if (opts.identity) {
    layers.push({
      transform: [{ filter: "datum.layer === 'identity'" }],
      mark: { type: 'line', color: '#888', strokeDash: [4, 4] },
      encoding: { x, y },
    });
  }
  const inner = { ...size(opts), layer: layers };
  const spec = base(opts);
  spec.data = { values: rows };
  if (points.some((p) => p.panel !== undefined)) {
    const facet = { field: 'panel', type: 'nominal', title: null, sort: order(points.map((p) => p.panel)) };
    return { ...spec, facet, columns: opts.columns ?? 4, spec: inner, resolve: { scale: { x: 'independent', y: 'independent' } } };
  }
  return { ...spec, ...inner };
}

export interface BarDatum {
  label: string;
  value: number;
  /** Error bar ends (both or neither). */
  lo?: number;
  hi?: number;
  /** Bars of the same label side by side, one colour per series. */
  series?: string;
}

/** Bar chart with optional error bars and grouped series. */
export function barChart(bars: BarDatum[], opts: ChartOptions = {}): VegaLiteSpec {
  if (bars.length === 0) throw new UserError('barChart: no bars');
  checkFinite('barChart', bars as unknown as Record<string, unknown>[], ['value', 'lo', 'hi']);
  bars.forEach((b, i) => {
    if ((b.lo === undefined) !== (b.hi === undefined)) throw new UserError(`barChart: item ${i} (${b.label}) has only one of lo/hi`);
  });
  const grouped = bars.some((b) => b.series !== undefined);
  // Long labels slant rather than overlap.
  const slant = Math.max(...bars.map((b) => b.label.length)) > 8 ? -30 : 0;
  const x = { field: 'label', type: 'nominal', title: opts.xTitle ?? null, sort: null, axis: { labelAngle: slant, labelLimit: 400 } };
  const offset = grouped ? { xOffset: { field: 'series', type: 'nominal', sort: order(bars.map((b) => b.series)) } } : {};
  const layers: VegaLiteSpec[] = [
    {
      mark: 'bar',
      encoding: { x, y: { field: 'value', type: 'quantitative', title: opts.yTitle ?? 'value' }, ...offset, ...(grouped ? { color: colour(bars, opts) } : {}) },
    },
  ];
  if (bars.some((b) => b.lo !== undefined)) {
    layers.push({
      transform: [{ filter: 'isValid(datum.lo)' }],
      mark: { type: 'rule', color: 'black' },
      encoding: { x, ...offset, y: { field: 'lo', type: 'quantitative' }, y2: { field: 'hi' } },
    });
  }
  return { ...base(opts), ...size(opts), data: { values: bars }, layer: layers };
}

export interface LinePoint {
  x: number;
  y: number;
  series?: string;
  /** Band around the line (both or neither), e.g. a confidence interval over seeds. */
  lo?: number;
  hi?: number;
}

export interface LineOptions extends ChartOptions {
  /** 'log' for scale sweeps spanning decades (x must be > 0). */
  xScale?: 'linear' | 'log';
}

/** Line chart with points, one line per series, optional error band. */
export function lineChart(points: LinePoint[], opts: LineOptions = {}): VegaLiteSpec {
  if (points.length === 0) throw new UserError('lineChart: no points');
  checkFinite('lineChart', points as unknown as Record<string, unknown>[], ['x', 'y', 'lo', 'hi']);
  if (opts.xScale === 'log' && points.some((p) => p.x <= 0)) throw new UserError('lineChart: a log x scale needs every x > 0');
  const log = opts.xScale === 'log';
  const x = { field: 'x', type: 'quantitative', title: opts.xTitle ?? 'x', scale: log ? { type: 'log', nice: false } : { zero: false } };
  const c = colour(points, opts);
  const layers: VegaLiteSpec[] = [];
  if (points.some((p) => p.lo !== undefined)) {
    layers.push({
      transform: [{ filter: 'isValid(datum.lo)' }],
      mark: { type: 'area', opacity: 0.2 },
      encoding: { x, y: { field: 'lo', type: 'quantitative' }, y2: { field: 'hi' }, ...(c ? { color: c } : {}) },
    });
  }
  layers.push({
    mark: { type: 'line', point: true },
    encoding: { x, y: { field: 'y', type: 'quantitative', title: opts.yTitle ?? 'y', scale: { zero: false } }, ...(c ? { color: c } : {}) },
  });
  return { ...base(opts), ...size(opts), data: { values: points }, layer: layers };
}

export interface HistogramOptions extends ChartOptions {
  /** Most bins vega may use (default 20). */
  maxBins?: number;
}

/** Histogram of values; with `series`, overlaid translucent histograms on shared bins. */
export function histogramChart(values: Array<number | { value: number; series?: string }>, opts: HistogramOptions = {}): VegaLiteSpec {
  if (values.length === 0) throw new UserError('histogramChart: no values');
  const rows = values.map((v) => (typeof v === 'number' ? { value: v } : v));
  checkFinite('histogramChart', rows as unknown as Record<string, unknown>[], ['value']);
  const c = colour(rows, opts);
  return {
    ...base(opts),
    ...size(opts),
    data: { values: rows },
    mark: { type: 'bar', opacity: c ? 0.55 : 1 },
    encoding: {
      x: { field: 'value', type: 'quantitative', bin: { maxbins: opts.maxBins ?? 20 }, title: opts.xTitle ?? 'value' },
      y: { aggregate: 'count', type: 'quantitative', title: opts.yTitle ?? 'count', stack: null },
      ...(c ? { color: c } : {}),
    },
  };
}
