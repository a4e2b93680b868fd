/**
 * `finetune generator eval`: what a scene generator makes, against the world on the same prompts — the
 * truth rates of rates.ts for its samples and for the world's own scenes, how many samples are exact copies
 * of a training scene (a lookup would copy; a generator composes), and its sampling speed.
 */
import { Rng, samplePrompt } from '@richhf/reward/data';
import { SynthModel } from './checkpoint';
import { cachedWorldSequences, sequenceAt } from './data';
import { SynthGenerator, type SynthSettings } from './generator';
import { exactCopies, splitIndices, truthRates, worldRates, type TruthRates } from './rates';
import { PROMPT_LEN } from './tokens';

export interface GeneratorEvalOptions {
  checkpoint?: string;
  /** Held-out prompts (the world's test split of world `seed`), one sample each (default 1000). */
  n?: number;
  seed?: number;
  decoding?: SynthSettings;
  /** The training scenes copies are looked up in: world `trainSeed`'s first `trainScenes` training-split scenes. */
  trainSeed?: number;
  trainScenes?: number;
  cacheDir: string;
}

export interface GeneratorEval {
  n: number;
  seed: number;
  generator: TruthRates;
  world: { planned: TruthRates; tokens: TruthRates };
  copies: { exact: number; of: number; training_scenes: number };
  scenes_per_s: number;
}

export async function evaluateGenerator(o: GeneratorEvalOptions): Promise<GeneratorEval> {
  const n = o.n ?? 1000;
  const seed = o.seed ?? 0;
  const indices = splitIndices('test', n);
  const model = await SynthModel.open(o.checkpoint);
  try {
    const gen = SynthGenerator.fromModel(model, o.decoding);
    const t0 = Date.now();
    const samples = (await Promise.all(indices.map((i) => gen.sample(samplePrompt(new Rng(seed, i, 'prompt')), [new Rng('generator-eval', seed, i).next32()])))).map((s) => s[0]);
    const secs = (Date.now() - t0) / 1000;
    const train = cachedWorldSequences(o.cacheDir, o.trainSeed ?? 0, o.trainScenes ?? 50000);
    const keys = new Set(Array.from({ length: train.rows }, (_, i) => Array.from(sequenceAt(train, i).subarray(PROMPT_LEN)).join(' ')));
    return {
      n,
      seed,
      generator: truthRates(samples.map((s) => s.truth)),
      world: worldRates(seed, indices),
      copies: { exact: exactCopies(samples.map((s) => s.tokens), keys), of: n, training_scenes: train.rows },
      scenes_per_s: n / secs,
    };
  } finally {
    await model.dispose();
  }
}
