import sharp from 'sharp';
import { UserError } from '../errors';
import { barChart, histogramChart, lineChart, scatterChart } from './charts';
import { renderPng, renderSvg } from './vega';

/** The SVG's own width and height attributes. */
function svgSize(svg: string): [number, number] {
  const m = /<svg[^>]*\swidth="([\d.]+)"[^>]*\sheight="([\d.]+)"/.exec(svg);
  if (!m) throw new Error('no svg size');
  return [Number(m[1]), Number(m[2])];
}

describe('charts rendered headless', () => {
  const points = [0.1, 0.4, 0.5, 0.8, 0.9].flatMap((t, i) => [
    { x: t, y: t * 0.8 + 0.05 * i, panel: 'plausibility' },
    { x: t, y: 0.5 - t / 3, panel: 'alignment' },
  ]);

  it('scatter: the PNG decodes at the SVG size (× scale) and the SVG carries the axis titles and panels', async () => {
    const spec = scatterChart(points, { identity: true, xTitle: 'true score', yTitle: 'predicted score', title: 'Predicted vs true', width: 200, height: 150 });
    const svg = await renderSvg(spec);
    for (const s of ['true score', 'predicted score', 'Predicted vs true', 'plausibility', 'alignment']) expect(svg).toContain(s);
    const [w, h] = svgSize(svg);
    expect(w).toBeGreaterThan(2 * 200); // two panels side by side plus axes
    expect(h).toBeGreaterThan(150);
    const meta = await sharp(await renderPng(spec, { scale: 2 })).metadata();
    expect(meta.format).toBe('png');
    expect(meta.width).toBe(Math.round(2 * w));
    expect(meta.height).toBe(Math.round(2 * h));
  });

  it('bar: one error bar per bar that has lo/hi, grouped by series', async () => {
    const bars = [
      { label: 'PLCC', value: 0.6, lo: 0.5, hi: 0.7, series: 'RAHF' },
      { label: 'PLCC', value: 0.1, lo: 0.0, hi: 0.2, series: 'constant' },
      { label: 'SRCC', value: 0.55, series: 'RAHF' },
    ];
    const svg = await renderSvg(barChart(bars, { yTitle: 'correlation' }));
    expect(svg).toContain('correlation');
    expect(svg).toContain('constant'); // the legend
    const rules = /class="mark-rule role-mark[^"]*"[^>]*>(.*?)<\/g>/s.exec(svg);
    expect(rules).not.toBeNull();
    expect((rules![1].match(/<line/g) ?? []).length).toBe(2);
  });

  it('line on a log x scale and histogram render with their titles', async () => {
    const sweep = [1, 2, 4, 8].map((s) => ({ x: s, y: Math.log(s), lo: Math.log(s) - 0.1, hi: Math.log(s) + 0.1 }));
    const line = await renderSvg(lineChart(sweep, { xScale: 'log', xTitle: 'guidance scale', yTitle: 'reward' }));
    expect(line).toContain('guidance scale');
    expect(line).toContain('reward');
    const hist = await renderSvg(histogramChart([0.1, 0.2, 0.2, 0.7], { xTitle: 'overall score' }));
    expect(hist).toContain('overall score');
    expect(hist).toContain('count');
  });

  it('refuses data a chart cannot show, naming the item', () => {
    expect(() => scatterChart([{ x: 0, y: NaN }])).toThrow(new UserError('scatterChart: y of item 0 must be a finite number, got NaN'));
    expect(() => barChart([{ label: 'a', value: 1, lo: 0 }])).toThrow(/item 0 \(a\) has only one of lo\/hi/);
    expect(() => lineChart([{ x: 0, y: 1 }], { xScale: 'log' })).toThrow(/every x > 0/);
    expect(() => histogramChart([])).toThrow(/no values/);
  });
});
