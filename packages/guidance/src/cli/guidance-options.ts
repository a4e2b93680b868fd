import type { Argv } from 'yargs';
import { UserError, openRewardGradient, openScorer, type EngineChoice, type RewardGradient, type Scorer } from '@richhf/reward';
import { loadDecoder, type VaeDecoder, type VaeEngine } from '../decoders/load';
import { checkGuidanceSettings, DEFAULT_SCALE, type GuidanceSettings } from '../guidance/reward-guidance';
import { DEFAULT_WEIGHTS, checkDecodeDownscale, checkHeatmapPenalty, checkRecurrence, parseWeights, parseWindow } from '../guidance/options';

/*
 * The reward-guidance options `guide sample` and `guide sweep` share (--reward, --scale, --window, …), their
 * checks (all before any model loads) and the loading of the reward and the guidance decoder, with a
 * one-line error naming whichever cannot load.
 */

/** The flags as yargs hands them over. */
export interface GuidanceArgs {
  reward?: string;
  'heatmap-penalty'?: number;
  scale?: number;
  window?: string;
  recurrence?: number;
  normalize?: boolean;
  clip?: number;
  'reward-prompt'?: string;
  'reward-checkpoint'?: string;
  'reward-engine'?: string;
  'guide-vae'?: string;
  'decode-downscale'?: number;
}

/** The same, as the commands' option objects carry them. */
export interface GuidanceCliOptions {
  reward?: string;
  heatmapPenalty?: number;
  scale?: number;
  window?: string;
  recurrence?: number;
  normalize?: boolean;
  clip?: number;
  rewardPrompt?: string;
  rewardCheckpoint?: string;
  rewardEngine?: string;
  guideVae?: string;
  decodeDownscale?: number;
}

export function guidanceFromArgv(a: GuidanceArgs): GuidanceCliOptions {
  return {
    reward: a.reward,
    heatmapPenalty: a['heatmap-penalty'],
    scale: a.scale,
    window: a.window,
    recurrence: a.recurrence,
    normalize: a.normalize,
    clip: a.clip,
    rewardPrompt: a['reward-prompt'],
    rewardCheckpoint: a['reward-checkpoint'],
    rewardEngine: a['reward-engine'],
    guideVae: a['guide-vae'],
    decodeDownscale: a['decode-downscale'],
  };
}

export function guidanceOptions<T>(y: Argv<T>): Argv<T & GuidanceArgs> {
  return y
    .option('reward', { type: 'string', describe: `RAHF scores to raise, score=weight,… (e.g. ${Object.entries(DEFAULT_WEIGHTS).map(([k, v]) => `${k}=${v}`).join(',')}); turns reward guidance on` })
    .option('heatmap-penalty', { type: 'number', describe: "λ ≥ 0: also lower the reward's implausibility heatmap (objective Σ w·score − λ·P, P its soft-max mean; default 0 = off)" })
    .option('scale', { type: 'number', describe: `guidance scale s ≥ 0 (default ${DEFAULT_SCALE}; 0 = unguided)` })
    .option('window', { type: 'string', describe: 'guided steps: FROM:TO fractions of the steps (e.g. 0.2:0.8) or sigma=MIN:MAX' })
    .option('recurrence', { type: 'number', describe: "Universal Guidance's self-recurrence k (default 1)" })
    .option('normalize', { type: 'boolean', describe: "rescale the reward gradient to the norm of the model's ε prediction" })
    .option('clip', { type: 'number', describe: 'cap the gradient at this root-mean-square value' })
    .option('reward-prompt', { type: 'string', describe: 'prompt the reward reads (default: each image’s generation prompt)' })
    .option('reward-checkpoint', { type: 'string', describe: 'RAHF checkpoint folder or hub id (default: the bundled one)' })
    .option('reward-engine', { type: 'string', describe: 'auto (default), ort or tfjs' })
    .option('guide-vae', { type: 'string', describe: 'differentiable decoder for guidance (diffusers VAE folder or hub id, e.g. madebyollin/taesd; default --vae)' })
    .option('decode-downscale', { type: 'number', describe: 'decode x̂₀ at 1/f resolution for the reward (default 1)' }) as Argv<T & GuidanceArgs>;
}

/** The checked settings, or undefined when --reward is absent (and no other guidance option is given). */
export function guidanceSettings(a: GuidanceCliOptions): GuidanceSettings | undefined {
  const flags: Record<string, unknown> = { 'heatmap-penalty': a.heatmapPenalty, scale: a.scale, window: a.window, recurrence: a.recurrence, normalize: a.normalize, clip: a.clip, 'reward-prompt': a.rewardPrompt, 'reward-checkpoint': a.rewardCheckpoint, 'guide-vae': a.guideVae, 'decode-downscale': a.decodeDownscale };
  const given = Object.keys(flags).filter((k) => flags[k] !== undefined);
  if (a.reward === undefined) {
    if (given.length) throw new UserError(`--${given[0]}: reward guidance is off; add --reward (e.g. --reward aesthetics=1,overall=1)`);
    return undefined;
  }
  if (a.rewardEngine !== undefined && !['auto', 'ort', 'tfjs'].includes(a.rewardEngine)) throw new UserError(`--reward-engine ${a.rewardEngine}: expected auto, ort or tfjs`);
  if (a.clip !== undefined && !(a.clip > 0 && Number.isFinite(a.clip))) throw new UserError(`--clip ${a.clip}: expected a number > 0`);
  // Each option checked under its own flag name; the library check after them then cannot fail.
  return checkGuidanceSettings({
    weights: parseWeights(a.reward === '' ? DEFAULT_WEIGHTS : a.reward, '--reward'),
    heatmapPenalty: checkHeatmapPenalty(a.heatmapPenalty, '--heatmap-penalty'),
    scale: checkScale(a.scale),
    window: a.window === undefined ? undefined : parseWindow(a.window, '--window'),
    recurrence: checkRecurrence(a.recurrence, '--recurrence'),
    normalize: a.normalize,
    clip: a.clip,
    rewardPrompt: a.rewardPrompt,
    decodeDownscale: checkDecodeDownscale(a.decodeDownscale, '--decode-downscale'),
  });
}

function checkScale(s: number | undefined): number {
  const v = s ?? DEFAULT_SCALE;
  if (typeof v !== 'number' || Number.isNaN(v) || v < 0 || !Number.isFinite(v)) throw new UserError(`--scale ${String(s)}: expected a finite number ≥ 0`);
  return v;
}

/** The reward gradient (and a scorer for reporting), or a one-line UserError naming the checkpoint. */
export async function openReward(a: GuidanceCliOptions, threads: number | undefined, opts: { scorer?: boolean } = {}): Promise<{ reward: RewardGradient; scorer?: Scorer }> {
  const ref = a.rewardCheckpoint;
  const engine = (a.rewardEngine ?? 'auto') as EngineChoice;
  try {
    const reward = await openRewardGradient(ref, { engine, threads });
    const scorer = opts.scorer ? await openScorer(ref, { engine, threads }) : undefined;
    return { reward, scorer };
  } catch (e) {
    const msg = String((e as Error).message ?? e).split('\n')[0];
    throw new UserError(`--reward-checkpoint ${ref ?? '(bundled)'}: cannot load (${msg})`);
  }
}

/** The guidance decoder: --guide-vae, else --vae (both loaded with loadDecoder, which has the VJP). */
export async function openGuideDecoder(a: GuidanceCliOptions & { vae?: string; vaeEngine?: string }, threads: number | undefined, offline?: boolean): Promise<VaeDecoder> {
  const ref = a.guideVae ?? a.vae;
  if (ref === undefined) throw new UserError('--reward: guidance needs a differentiable decoder; pass --guide-vae (e.g. madebyollin/taesd) or --vae');
  return loadDecoder(ref, { engine: (a.vaeEngine ?? 'ort') as VaeEngine, threads, offline });
}
