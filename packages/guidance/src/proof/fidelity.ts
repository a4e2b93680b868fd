import { HEATMAP_PENALTY_TEMPERATURE, SCORE_NAMES, generateExample, heatmapPenaltyReduce, openScorer, type EngineChoice, type ScoreName, type ScoreWeights } from '@richhf/reward';
import { DEFAULT_WEIGHTS, parseWeights } from '../guidance/options';
import { SYNTH_LDM_DIR, loadSynthLdm } from './bundle';

/*
 * Does the reward still see, in decoded images, what the world's truth measures? Within each prompt's members,
 * the Pearson correlation of the reward's scores with the true scores, on the world's own renderings and on the
 * autoencoder's reconstructions of them. Guidance can only raise the truth as far as these correlations allow;
 * `guide proof --fidelity` prints them (README, "The synthetic world").
 */

export interface FidelityResult {
  members: number;
  /** Per score and for the weighted objective against the true overall: r on renderings and on decoded latents. */
  correlation: Record<ScoreName | 'objective', { rendered: number; decoded: number }>;
  /** Mean squared error of the decoded images against the renderings, pixels in [0, 1]. */
  mse: number;
  /**
   * What selecting by the reward could reach at most: the mean objective (on decoded images), true overall and
   * defect rate over all members, and over each prompt's member with the highest objective — the ceiling of any
   * guidance that only chooses among the set (the proof's samples always end at members).
   */
  selection: Record<'all' | 'best', { reward: number; truth_overall: number; defect_rate: number }>;
  /**
   * What the heatmap penalty has to work with: within-prompt r, on decoded members, of the implausibility map
   * reduced per image — its mean, and the penalty's soft-max mean at the default τ — with the true defect label
   * (1 = has an artifact) and the true plausibility.
   */
  heatmap: Record<'mean' | 'softmax', { defect: number; plausibility: number }>;
}

function withinPearson(a: number[], b: number[], groups: number[]): number {
  const centre = (v: number[]) => {
    const sum = new Map<number, [number, number]>();
    v.forEach((x, i) => {
      const s = sum.get(groups[i]) ?? [0, 0];
      sum.set(groups[i], [s[0] + x, s[1] + 1]);
    });
    return v.map((x, i) => x - sum.get(groups[i])![0] / sum.get(groups[i])![1]);
  };
  const [x, y] = [centre(a), centre(b)];
  let xy = 0;
  let xx = 0;
  let yy = 0;
  for (let i = 0; i < x.length; i++) [xy, xx, yy] = [xy + x[i] * y[i], xx + x[i] * x[i], yy + y[i] * y[i]];
  return xy / Math.sqrt(xx * yy);
}

export async function decoderFidelity(o: { bundle?: string; checkpoint?: string; engine?: EngineChoice; weights?: ScoreWeights | string; threads?: number } = {}): Promise<FidelityResult> {
  const weights = parseWeights(o.weights ?? DEFAULT_WEIGHTS, 'weights');
  const world = await loadSynthLdm(o.bundle ?? SYNTH_LDM_DIR, { threads: o.threads });
  const scorer = await openScorer(o.checkpoint, { engine: o.engine, threads: o.threads, batchSize: 16 });
  try {
    const { seed, size, prompts: K } = world.manifest.world;
    const n = world.members.length;
    const per = world.latents.length / n;
    const side = size / world.ae.factor;
    const rendered = new Float32Array(n * size * size * 3);
    const decoded = new Float32Array(n * size * size * 3);
    for (let i = 0; i < n; i++) {
      const rgb = generateExample({ seed, size, prompts: K }, i).rgb;
      for (let q = 0; q < rgb.length; q++) rendered[i * rgb.length + q] = rgb[q] / 255;
    }
    for (let i0 = 0; i0 < n; i0 += 32) {
      const b = Math.min(32, n - i0);
      decoded.set(await world.ae.decode(world.latents.subarray(i0 * per, (i0 + b) * per), [b, world.ae.latentChannels, side, side]), i0 * size * size * 3);
    }
    let mse = 0;
    for (let i = 0; i < rendered.length; i++) mse += (rendered[i] - decoded[i]) ** 2;
    const captions = world.members.map((m) => m.caption);
    const groups = world.members.map((m) => m.prompt);
    const [fr, fd] = [await scorer.score(rendered, captions, { size: [size, size] }), await scorer.score(decoded, captions, { size: [size, size], heatmaps: true })];
    const truth = (k: ScoreName) => world.members.map((m) => m.truth[k]);
    const entries = Object.entries(weights) as [ScoreName, number][];
    const objective = (fb: typeof fr) => fb.map((f) => entries.reduce((a, [k, w]) => a + w * f.scores[k], 0));
    const correlation = {} as FidelityResult['correlation'];
    for (const k of SCORE_NAMES) {
      correlation[k] = { rendered: withinPearson(fr.map((f) => f.scores[k]), truth(k), groups), decoded: withinPearson(fd.map((f) => f.scores[k]), truth(k), groups) };
    }
    correlation.objective = { rendered: withinPearson(objective(fr), truth('overall'), groups), decoded: withinPearson(objective(fd), truth('overall'), groups) };
    const norm = entries.reduce((a, [, w]) => a + Math.abs(w), 0);
    const reward = objective(fd).map((v) => v / norm);
    const best = new Map<number, number>();
    groups.forEach((g, i) => (best.get(g) === undefined || reward[i] > reward[best.get(g)!]) && best.set(g, i));
    const summary = (idx: number[]) => ({
      reward: idx.reduce((a, i) => a + reward[i], 0) / idx.length,
      truth_overall: idx.reduce((a, i) => a + world.members[i].truth.overall, 0) / idx.length,
      defect_rate: idx.reduce((a, i) => a + (world.members[i].artifacts.length ? 1 : 0), 0) / idx.length,
    });
    const selection = { all: summary(world.members.map((_, i) => i)), best: summary([...best.values()]) };
    const maps = fd.map((f) => f.heatmaps!.implausibility.data);
    const defect = world.members.map((m) => (m.artifacts.length ? 1 : 0));
    const against = (p: number[]) => ({ defect: withinPearson(p, defect, groups), plausibility: withinPearson(p, truth('plausibility'), groups) });
    const heatmap = {
      mean: against(maps.map((m) => m.reduce((a, v) => a + v, 0) / m.length)),
      softmax: against(maps.map((m) => heatmapPenaltyReduce(m, 1, HEATMAP_PENALTY_TEMPERATURE)[0])),
    };
    return { members: n, correlation, mse: mse / rendered.length, selection, heatmap };
  } finally {
    await scorer.dispose();
    await world.ae.dispose();
  }
}
