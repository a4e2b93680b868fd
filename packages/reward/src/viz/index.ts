// `@richhf/reward/viz`: pictures for people — charts (Vega-Lite specs rendered headless to SVG/PNG),
// heatmap figures with legend and flagged prompt words, and HTML fragments for notebooks.
export { type VegaLiteSpec, type PngOptions, renderSvg, renderPng, svgToPng, colourScheme } from './vega';
export {
  type ChartOptions,
  type ScatterPoint,
  type ScatterOptions,
  type BarDatum,
  type LinePoint,
  type LineOptions,
  type HistogramOptions,
  scatterChart,
  barChart,
  lineChart,
  histogramChart,
} from './charts';
export { type TableOptions, type Flagged, type GalleryItem, escapeXml, htmlTable, flaggedOf, flaggedWordIndices, promptHtml, galleryHtml } from './html';
export { type HeatmapFigureOptions, heatmapFigurePng, rgbPng, displayFactor } from './heatmap-figure';
