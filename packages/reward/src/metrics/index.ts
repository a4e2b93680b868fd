export { plcc, srcc, rankAverage, isConstant, correlations, rocAuc } from './correlation';
export type { CorrelationResult } from './correlation';
export {
  MATLAB_EPS,
  mse,
  cc,
  kld,
  sim,
  nss,
  aucJudd,
  fixationsFromHeatmap,
  resizeBilinear,
  meanDefined,
  heatmapMetrics,
} from './saliency';
export type { Heatmap, AucJuddOptions, DefinedMean, HeatmapMetrics, HeatmapMetricOptions } from './saliency';
export { keywordPRF, keywordPRFFromLabels } from './keywords';
export type { PRF } from './keywords';
