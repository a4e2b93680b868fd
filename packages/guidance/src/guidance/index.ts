// RAHF reward guidance: the core (x̂₀ → decode → reward → d/dx_t), one adapter per sampler family, options.
export { RewardGuidance, rewardGuidance, checkGuidanceSettings, nextLevel, DEFAULT_SCALE, type RewardGuidanceOptions, type GuidanceSettings, type ModelVjp, type GuidanceStats, type GuideContext, type DenoisedContext } from './reward-guidance';
export { rewardGradientAtX0, gradWrtSample, shapeGradient, avgPool, avgPoolAdjoint, type GuidanceParts, type X0Gradient } from './core';
export { guideEpsilon } from './epsilon-adapter';
export { guideDenoised, sigmaLevel } from './sigma-adapter';
export { guideLatents, CLEAN } from './post-step-adapter';
export { renoise } from './recurrence';
export {
  DEFAULT_WEIGHTS, parseWeights, parseWindow, parseScales, checkWindow, inWindow, checkScaleSchedule, scaleAt, checkHeatmapPenalty,
  type ScaleSchedule, type StepWindow, type StepInfo, type GradientShaping,
} from './options';
