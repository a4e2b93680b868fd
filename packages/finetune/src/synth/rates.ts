/**
 * What a scene generator makes, measured on exact truth: the share of images with at least one artifact
 * (the defect rate), with at least one misalignment, the mean true plausibility and alignment — for the
 * generator's samples and for the world's own scenes on the same prompts, so "rates near the world's" is a
 * comparison of like with like. The world's scenes are measured twice: with their planned truth, and after
 * the round trip through tokens (quantised, decoded, re-rendered, misalignments judged as a generated
 * scene's are), which is the best a generator of these tokens can match.
 */
import { sampleScene, splitOf, type SceneTruth } from '@richhf/reward/data';
import { renderScene } from '@richhf/reward/data';
import { renderTokens } from './scenes';
import { encodeScene } from './tokens';

export interface TruthRates {
  n: number;
  /** Share of images with ≥ 1 artifact. */
  defect_rate: number;
  /** Share of images with ≥ 1 misalignment. */
  misalignment_rate: number;
  /** Mean exact plausibility / alignment latents. */
  plausibility: number;
  alignment: number;
  artifacts_per_image: number;
  objects_per_image: number;
}

export function truthRates(truths: ReadonlyArray<Pick<SceneTruth, 'artifacts' | 'misalignments' | 'latent' | 'objects'>>): TruthRates {
  const n = truths.length;
  const mean = (f: (t: (typeof truths)[number]) => number) => (n === 0 ? NaN : truths.reduce((s, t) => s + f(t), 0) / n);
  return {
    n,
    defect_rate: mean((t) => (t.artifacts.length > 0 ? 1 : 0)),
    misalignment_rate: mean((t) => (t.misalignments.length > 0 ? 1 : 0)),
    plausibility: mean((t) => t.latent.plausibility),
    alignment: mean((t) => t.latent.alignment),
    artifacts_per_image: mean((t) => t.artifacts.length),
    objects_per_image: mean((t) => t.objects.length),
  };
}

/** World scene indices of a split, from 0 up: the first `n` of them. */
export function splitIndices(split: 'train' | 'dev' | 'test', n: number): number[] {
  const out: number[] = [];
  for (let i = 0; out.length < n; i++) if (splitOf(i) === split) out.push(i);
  return out;
}

/** The world's own truth rates on scenes `indices` of world `seed`: planned, and through the tokens. */
export function worldRates(seed: number, indices: ReadonlyArray<number>): { planned: TruthRates; tokens: TruthRates } {
  const planned: SceneTruth[] = [];
  const viaTokens: SceneTruth[] = [];
  for (const i of indices) {
    const { prompt, depiction, scene } = sampleScene({ seed }, i);
    planned.push(renderScene(scene, prompt, { edits: depiction.edits }).truth);
    const t = encodeScene(scene);
    if (t) viaTokens.push(renderTokens(Int32Array.from(t), prompt, scene.width).truth);
  }
  return { planned: truthRates(planned), tokens: truthRates(viaTokens) };
}

/** How many of `samples` (scene tokens) are exactly a sequence of `training` (scene tokens as text keys). */
export function exactCopies(samples: ReadonlyArray<ArrayLike<number>>, training: ReadonlySet<string>): number {
  return samples.reduce((n, s) => n + (training.has(Array.from(s).join(' ')) ? 1 : 0), 0);
}
