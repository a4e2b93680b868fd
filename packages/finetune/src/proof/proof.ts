/**
 * The paper's finetuning result (RichHF §5.1, Table 5: Muse finetuned on its best-of-8 by RAHF
 * plausibility makes fewer artifacts), measured on exact truth in the synthetic world:
 *
 *  1. best-of-N sets with the part-1 builder and `--generator synth` on training-split prompts: kept by the
 *     reward's plausibility, by its overall score, and a control keeping a random one of the N;
 *  2. the generator finetuned on each set (its tokens ride beside each kept image);
 *  3. the original and the three finetuned generators sampled on held-out prompts at equal seeds, each
 *     sample's truth read off its scene, and the reward's plausibility of its pixels.
 *
 * Every stage resumes inside the work folder (the builder's journal, the trainer's state), and the sets and
 * finetuned models do not depend on `seed`, which picks only the held-out prompts and sample seeds: a
 * second seed costs one evaluation.
 */
import * as fs from 'fs';
import * as path from 'path';
import { UserError, type Scorer } from '@richhf/reward';
import { Rng, samplePrompt, type PromptSpec } from '@richhf/reward/data';
import { Progress, writeFileAtomic } from '@richhf/reward/util';
import { buildAll, openScorerSpec, type ScorerSpec } from '../builder';
import type { Candidate, GenerateRequest, Generator } from '../generator';
import { candidateSeeds } from '../ids';
import { SynthModel } from '../synth/checkpoint';
import { cachedWorldSequences, defaultCacheDir, keptSequences, sequenceAt, type Sequences } from '../synth/data';
import { SynthGenerator, rgbImageOf, type SynthSettings } from '../synth/generator';
import { splitIndices, truthRates } from '../synth/rates';
import { renderTokens, synthPrompt } from '../synth/scenes';
import { PROMPT_LEN } from '../synth/tokens';
import { trainGenerator } from '../synth/train';
import { bootstrapMean, pairedDifference, type Interval } from './bootstrap';
import { CachingScorer } from './score-cache';

export interface ProofOptions {
  /** Work folder: prompts, the three best-of-N sets, the finetuned generators, the results. */
  work: string;
  /** Picks the held-out prompts and sample seeds (default 0). */
  seed?: number;
  /** Training-split prompts for the best-of-N sets (default 1000). */
  prompts?: number;
  /** Candidates per prompt (default 8, the paper's). */
  n?: number;
  /** Held-out samples per generator (default 1000; at least 500 for the proof's claim). */
  samples?: number;
  /** Finetuning steps per set (default 300), learning rate (3e-4), batch (64). */
  steps?: number;
  lr?: number;
  batch?: number;
  /**
   * Replay (default 0: none): world training scenes per kept sample in every finetuning batch, the same for
   * all three finetunes so the control stays a control (encoded once into `defaultCacheDir()`).
   */
  replay?: number;
  /** Finetune only the generator's parameters whose names match this regular expression (default: all). */
  trainable?: string;
  /** With `trainable`: the learning-rate factor of the other parameters (default 0: frozen). */
  restLr?: number;
  /** The generator to finetune (a checkpoint folder; default the bundled one). */
  generator?: string;
  decoding?: SynthSettings;
  scorer?: Scorer | ScorerSpec;
  progress?: boolean;
  log?: (line: string) => void;
}

export interface GeneratorStats {
  defect_rate: Interval;
  plausibility: Interval;
  alignment: Interval;
  reward_plausibility: Interval;
}
export interface Delta {
  defect_rate: Interval;
  plausibility: Interval;
  alignment: Interval;
}
/** `finetune proof --json`. */
export interface ProofResult {
  n: number;
  original: GeneratorStats;
  finetuned: GeneratorStats;
  control: GeneratorStats;
  by_overall: GeneratorStats;
  delta: Delta;
  control_delta: Delta;
  by_overall_delta: Delta;
}

/** Per held-out sample: truth and the reward's plausibility. */
export interface EvalRow {
  defect: number;
  plausibility: number;
  alignment: number;
  reward_plausibility: number;
}

export const SETS = ['plausibility', 'overall', 'random'] as const;
export type SetName = (typeof SETS)[number];

/** Held-out prompts and seeds: the test split of world `seed` (never trained on), one seed per prompt. */
export function heldOutItems(seed: number, n: number): Array<{ prompt: PromptSpec; seed: number }> {
  return splitIndices('test', n).map((i) => ({ prompt: samplePrompt(new Rng(seed, i, 'prompt')), seed: new Rng('proof-eval', seed, i).next32() }));
}

/** Samples `gen` on the items, reads each sample's truth and scores its pixels. */
export async function evaluateOn(gen: SynthGenerator, items: ReadonlyArray<{ prompt: PromptSpec; seed: number }>, scorer: Scorer, progress?: Progress): Promise<EvalRow[]> {
  const rows: EvalRow[] = [];
  const chunk = 128;
  for (let i = 0; i < items.length; i += chunk) {
    const part = items.slice(i, i + chunk);
    const samples = (await Promise.all(part.map((it) => gen.sample(it.prompt, [it.seed])))).map((s) => s[0]);
    const fb = await scorer.score(samples.map(rgbImageOf), samples.map((s) => s.prompt.caption), { batchSize: 16 });
    samples.forEach((s, k) => rows.push({ defect: s.truth.artifacts.length > 0 ? 1 : 0, plausibility: s.truth.latent.plausibility, alignment: s.truth.latent.alignment, reward_plausibility: fb[k].scores.plausibility }));
    progress?.tick(part.length);
  }
  return rows;
}

export function generatorStats(rows: ReadonlyArray<EvalRow>, seed: number | string): GeneratorStats {
  const col = (k: keyof EvalRow) => rows.map((r) => r[k]);
  return {
    defect_rate: bootstrapMean(col('defect'), { seed: `${seed}defect` }),
    plausibility: bootstrapMean(col('plausibility'), { seed: `${seed}plaus` }),
    alignment: bootstrapMean(col('alignment'), { seed: `${seed}align` }),
    reward_plausibility: bootstrapMean(col('reward_plausibility'), { seed: `${seed}reward` }),
  };
}

export function delta(a: ReadonlyArray<EvalRow>, b: ReadonlyArray<EvalRow>, seed: number | string): Delta {
  const d = (k: keyof EvalRow) => pairedDifference(a.map((r) => r[k]), b.map((r) => r[k]), { seed: `${seed}${k}` });
  return { defect_rate: d('defect'), plausibility: d('plausibility'), alignment: d('alignment') };
}

/**
 * The control's generator: of the N candidates the builder would see (same seeds), one at random (by the
 * prompt id), so the control set has the plausibility set's size and the generator's own distribution.
 */
export class RandomOneOf implements Generator {
  readonly kind = 'synth-random-one';
  readonly describe: Record<string, unknown>;
  constructor(private readonly inner: SynthGenerator, private readonly n: number, private readonly runSeed: number) {
    this.describe = { ...inner.describe, kind: this.kind, of: n };
  }
  async generate(req: GenerateRequest): Promise<Candidate[]> {
    const seeds = candidateSeeds(this.runSeed, req.promptId, this.n);
    const k = new Rng('random-one', req.promptId).int(0, this.n - 1);
    const [c] = await this.inner.generate({ ...req, n: 1, seeds: [seeds[k]] });
    return [{ ...c, settings: { ...c.settings, candidate_of_n: k } }];
  }
  async close(): Promise<void> {}
}

/** Writes the training-split prompts of world 0 the sets are built from (`w0-<index>` ids). */
export function writeTrainingPrompts(file: string, count: number): void {
  const lines = splitIndices('train', count).map((i) => JSON.stringify({ id: `w0-${i}`, prompt: samplePrompt(new Rng(0, i, 'prompt')).caption }));
  writeFileAtomic(file, lines.join('\n') + '\n');
}

/** Runs (or resumes) the whole proof; see the file comment. */
export async function runProof(o: ProofOptions): Promise<{ result: ProofResult; file: string; sets: Record<SetName, ReturnType<typeof truthRates>> }> {
  const log = o.log ?? ((l: string) => process.stderr.write(l + '\n'));
  const seed = o.seed ?? 0;
  const P = o.prompts ?? 1000;
  const n = o.n ?? 8;
  const samples = o.samples ?? 1000;
  const steps = o.steps ?? 300;
  const replay = o.replay ?? 0;
  for (const [k, v, min] of [['--prompts', P, 1], ['--n', n, 2], ['--samples', samples, 1], ['--steps', steps, 1], ['--seed', seed, 0]] as const) {
    if (!(Number.isInteger(v) && v >= min)) throw new UserError(`${k} must be an integer ≥ ${min}, got ${v}`);
  }
  if (!(Number.isFinite(replay) && replay >= 0)) throw new UserError(`--replay must be a number ≥ 0, got ${replay}`);
  fs.mkdirSync(o.work, { recursive: true });
  const promptsFile = path.join(o.work, 'prompts.jsonl');
  if (!fs.existsSync(promptsFile)) writeTrainingPrompts(promptsFile, P);
  const lines = fs.readFileSync(promptsFile, 'utf8').trim().split('\n').length;
  if (lines !== P) throw new UserError(`--work ${o.work}: its prompts.jsonl has ${lines} prompts, --prompts says ${P}; choose another --work`);

  const ownScorer = !(o.scorer && 'score' in o.scorer);
  const inner = o.scorer && 'score' in o.scorer ? o.scorer : await openScorerSpec(o.scorer as ScorerSpec | undefined, log);
  const scorer = new CachingScorer(inner);
  const base = await SynthModel.open(o.generator);
  try {
    const gen = SynthGenerator.fromModel(base, o.decoding, o.generator ?? 'bundled');
    const setDir = (s: SetName) => path.join(o.work, 'sets', s);
    const modelDir = (s: SetName) => path.join(o.work, 'models', s);
    for (const s of SETS) {
      log(`best-of-${n} set by ${s === 'random' ? 'a random candidate (control)' : `RAHF ${s}`}: ${setDir(s)}`);
      await buildAll({
        prompts: promptsFile, generator: s === 'random' ? new RandomOneOf(gen, n, 0) : gen, n: s === 'random' ? 1 : n, seed: 0,
        select: s === 'random' ? 'plausibility' : s, formats: ['imagefolder'], out: setDir(s), keywords: false, scorer, progress: o.progress, log,
        // Eight prompts in flight fill the generator's batches (64 rows); the tiny reward scores 16 at a time.
        concurrency: 8, batchSize: 16,
      });
    }
    const sets = {} as Record<SetName, ReturnType<typeof truthRates>>;
    // The generator's own training data (world 0's training split), replayed beside each kept set.
    let world: Sequences | undefined;
    const recipe = { steps, lr: o.lr ?? 3e-4, replay, trainable: o.trainable ?? 'all', ...(o.trainable ? { rest_lr: o.restLr ?? 0 } : {}) };
    for (const s of SETS) {
      const data = await keptSequences([setDir(s)]);
      sets[s] = truthRates(Array.from({ length: data.rows }, (_, i) => {
        const seq = sequenceAt(data, i);
        return renderTokens(seq.slice(PROMPT_LEN), synthPrompt(data.captions![i])).truth;
      }));
      const done = path.join(modelDir(s), 'done.json');
      if (fs.existsSync(done)) {
        const d = JSON.parse(fs.readFileSync(done, 'utf8'));
        // Work folders from before --replay recorded only the steps (lr and replay were the defaults then).
        const was = { steps: d.steps, lr: d.lr ?? 3e-4, replay: d.replay ?? 0, trainable: d.trainable ?? 'all', ...(d.trainable ? { rest_lr: d.rest_lr } : {}) };
        if (JSON.stringify(was) === JSON.stringify(recipe)) continue;
        throw new UserError(`--work ${o.work}: ${modelDir(s)} was finetuned with ${JSON.stringify(was)}, not ${JSON.stringify(recipe)}; choose another --work`);
      }
      if (replay > 0) world ??= cachedWorldSequences(defaultCacheDir(), 0, 50_000);
      log(`finetuning on the ${s} set (${data.rows} samples, ${steps} steps${replay > 0 ? `, replay ${replay}` : ''}): ${modelDir(s)}`);
      await trainGenerator({ out: modelDir(s), data, init: o.generator ?? 'bundled', steps, lr: recipe.lr, batch: o.batch ?? 64, warmup: Math.min(20, steps), resume: true, progress: o.progress, log, replay: world ? { data: world, ratio: replay } : undefined, trainable: o.trainable, restLrScale: o.restLr });
      writeFileAtomic(done, JSON.stringify(recipe) + '\n');
    }

    const items = heldOutItems(seed, samples);
    const progress = new Progress(4 * samples, 'evaluate', { enabled: o.progress ?? true, unit: 'samples' });
    const rows: Record<string, EvalRow[]> = { original: await evaluateOn(gen, items, scorer, progress) };
    for (const [name, s] of [['finetuned', 'plausibility'], ['control', 'random'], ['by_overall', 'overall']] as const) {
      const m = await SynthModel.open(modelDir(s));
      try {
        rows[name] = await evaluateOn(SynthGenerator.fromModel(m, o.decoding, modelDir(s)), items, scorer, progress);
      } finally {
        await m.dispose();
      }
    }
    const result: ProofResult = {
      n: samples,
      original: generatorStats(rows.original, seed),
      finetuned: generatorStats(rows.finetuned, seed),
      control: generatorStats(rows.control, seed),
      by_overall: generatorStats(rows.by_overall, seed),
      delta: delta(rows.original, rows.finetuned, seed),
      control_delta: delta(rows.original, rows.control, seed),
      by_overall_delta: delta(rows.original, rows.by_overall, seed),
    };
    const file = path.join(o.work, `proof-seed${seed}.json`);
    writeFileAtomic(file, JSON.stringify({ ...result, sets, settings: { seed, prompts: P, n, samples, ...recipe } }, null, 1) + '\n');
    return { result, file, sets };
  } finally {
    await base.dispose();
    if (ownScorer) await inner.dispose();
  }
}
